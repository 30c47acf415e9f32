// Property tests of the device machine, driven purely with xstate's transition() (test/support/drive.ts):
// every bad answer a step can get ends exactly where its rule says, identifiers are judged as
// spec/user-identifier.ts judges them, random event sequences never break the machine's invariants,
// and ongoing authorization (ONGOING-2 … ONGOING-5) takes the documented paths.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  activeInvokes,
  answer,
  answerFor,
  asWeb,
  deviceDone,
  deviceError,
  deviceInput,
  deviceSend,
  deviceStart,
  driveDevice,
  happyAnswers,
  oauth2,
  profileBody,
  type DeviceSnapshot,
} from "../support/drive.ts";
import type { DeviceInput, HttpAnswer, PendingMdmRequest, WebAuthOutcome } from "../../machines/index.ts";
import { formatChallenge, parseChallenge, type Challenge } from "../../spec/challenge.ts";
import { splitUserIdentifier } from "../../spec/user-identifier.ts";
import { buildPlist, parsePlist, type PlistValue } from "../../spec/plist.ts";
import { isRuleId, type RuleId } from "../../spec/rules.ts";
import { findMdmPayload, isManagedAppleID } from "../../spec/enrollment-profile.ts";
import type { EnrollmentVersion } from "../../spec/service-discovery.ts";

const RUNS = 200;
const json = { "content-type": "application/json" };
const aspen = { "content-type": "application/x-apple-aspen-config" };
const callbackBase = "apple-remotemanagement-user-login";
const goodBaseUrl = "https://mdm.example.com/enroll/mdm-byod";

// ---------------------------------------------------------------------------------------------
// Driving helpers

/** The snapshot in which the machine waits for `invokeId`, reached over the happy answers (and `overrides`). */
function waitingFor(
  invokeId: string,
  options: { readonly challenge?: Challenge; readonly input?: DeviceInput; readonly overrides?: Record<string, unknown> } = {},
): DeviceSnapshot {
  const answers = { ...happyAnswers(options.challenge), ...options.overrides };
  let snapshot = deviceSend(deviceStart(options.input), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
  for (let i = 0; i < 40 && snapshot.status === "active"; i++) {
    const [id] = activeInvokes(snapshot);
    if (id === undefined) break;
    if (id === invokeId) return snapshot;
    const output = answerFor(snapshot, id, answers);
    snapshot = output instanceof Error ? deviceError(snapshot, id, output) : deviceDone(snapshot, id, output);
  }
  throw new Error(`the machine never waited for ${invokeId} (ended in ${JSON.stringify(snapshot.value)})`);
}

/** Snapshots are immutable: compute each starting point once and branch from it in every run. */
function cached<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

const atDiscovery = cached(() => waitingFor("discovery"));
const atFirstEnroll = cached(() => waitingFor("firstEnroll"));
const atOAuthCreatingState = cached(() => waitingFor("creatingState", { challenge: oauth2 }));
const atExchanging = cached(() => waitingFor("exchanging", { challenge: oauth2 }));
const atSimple = cached(() => waitingFor("simple"));
const atSecondEnrollByod = cached(() => waitingFor("secondEnroll"));
const addeDiscovery = answer(200, { headers: json, body: { Servers: [{ Version: "mdm-adde", BaseURL: "https://mdm.example.com/enroll/mdm-adde" }] } });
const atSecondEnrollAdde = cached(() => waitingFor("secondEnroll", { overrides: { discovery: addeDiscovery } }));
const atSecondEnrollAddeLenient = cached(() =>
  waitingFor("secondEnroll", { overrides: { discovery: addeDiscovery }, input: { ...deviceInput, requireModeMatchesVersion: false } }),
);

function expectCancelled(snapshot: DeviceSnapshot, rule: RuleId): void {
  expect(snapshot.value).toBe("cancelled");
  expect(snapshot.status).toBe("done");
  expect(snapshot.context.cancelReason).toBe(rule);
  expect(activeInvokes(snapshot)).toEqual([]);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function tryJson(text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

// ---------------------------------------------------------------------------------------------
// Profiles edited in their plist form

type Dict = { [key: string]: PlistValue };
const isDict = (v: PlistValue | undefined): v is Dict => typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
const baseProfiles = new Map<string, Dict>();
/** The harness profile as a plist dict, its com.apple.mdm payload edited, written back as bytes. */
function editedProfile(options: { readonly mode?: "BYOD" | "ADDE"; readonly accessRights?: number }, edit: (mdm: Dict) => void): HttpAnswer {
  const key = `${options.mode ?? "BYOD"}/${options.accessRights ?? ""}`;
  let base = baseProfiles.get(key);
  if (base === undefined) {
    const parsed = parsePlist(profileBody(options));
    if (!parsed.ok || !isDict(parsed.value)) throw new Error("the harness profile must parse");
    base = parsed.value;
    baseProfiles.set(key, base);
  }
  const profile = structuredClone(base);
  const payloads = profile["PayloadContent"];
  const mdm = Array.isArray(payloads) ? payloads.find((p) => isDict(p) && p["PayloadType"] === "com.apple.mdm") : undefined;
  if (!isDict(mdm)) throw new Error("the harness profile has a com.apple.mdm payload");
  edit(mdm);
  return answer(200, { headers: aspen, body: buildPlist(profile) });
}

// ---------------------------------------------------------------------------------------------
// Generators shared by several properties

const nonOkStatus = fc.integer({ min: 100, max: 599 }).filter((s) => s !== 200);
const anyHeaders = fc.dictionary(fc.constantFrom("content-type", "x-extra", "location", "www-authenticate"), fc.string({ maxLength: 30 }), { maxKeys: 3 });
const anyBody = fc.oneof(
  fc.constant<string | object | Uint8Array>(""),
  fc.string({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 20 }),
);
/** A query-safe token: what a server could put in a callback value without surprising any reader. */
const token = fc.stringMatching(/^[A-Za-z0-9._~-]{1,16}$/);

describe("device machine: every bad answer ends where its rule says", () => {
  // --- Steps 2–3: discovery -----------------------------------------------------------------

  /** A com.apple.well-known.failed body by construction (extra keys are tolerated), and the message the person sees. */
  const wellKnownFailedBody = fc
    .record({
      message: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      description: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      extra: fc.dictionary(fc.constantFrom("x", "detail", "locale"), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
    })
    .map(({ message, description, extra }) => ({
      body: { ...extra, code: "com.apple.well-known.failed", ...(message === undefined ? {} : { message }), ...(description === undefined ? {} : { description }) },
      shown: message ?? description ?? "",
    }));
  /** Bodies that are not a com.apple.well-known.failed document. */
  const notWellKnownFailedBody = fc.oneof(
    fc.string({ maxLength: 30 }).filter((c) => c !== "com.apple.well-known.failed").map((code) => ({ code, message: "no" })),
    fc.record({ code: fc.constant("com.apple.well-known.failed"), message: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)) }),
    fc.record({ code: fc.constant("com.apple.well-known.failed"), description: fc.array(fc.string(), { maxLength: 2 }) }),
    fc.constant("not json at all"),
    fc.constant(["com.apple.well-known.failed"]),
    fc.constant(""),
    fc.constant({ code: "com.apple.unrecognized.device" }),
  );

  it("DISCOVERY-3 any status other than 200 cancels, DISCOVERY-9 when a 403 carries com.apple.well-known.failed", () => {
    const seen = new Set<RuleId>();
    fc.assert(
      fc.property(
        nonOkStatus,
        fc.oneof(fc.constant(403), nonOkStatus),
        fc.oneof(wellKnownFailedBody.map((b) => ({ ...b, valid: true as const })), notWellKnownFailedBody.map((body) => ({ body, valid: false as const, shown: "" }))),
        fc.boolean(),
        (someStatus, status403ish, body, pick403) => {
          const status = pick403 ? status403ish : someStatus;
          const next = deviceDone(atDiscovery(), "discovery", answer(status, { headers: json, body: body.body }));
          const expected: RuleId = status === 403 && body.valid ? "DISCOVERY-9" : "DISCOVERY-3";
          seen.add(expected);
          expectCancelled(next, expected);
          if (expected === "DISCOVERY-9") expect(next.context.failureMessage).toBe(body.shown);
        },
      ),
      { numRuns: RUNS },
    );
    expect([...seen].sort()).toEqual(["DISCOVERY-3", "DISCOVERY-9"]);
  });

  it("DISCOVERY-3 a transport failure of the well-known request cancels", () => {
    expectCancelled(deviceError(atDiscovery(), "discovery", new Error("ECONNRESET")), "DISCOVERY-3");
  });

  const goodDocument = { Servers: [{ Version: "mdm-byod", BaseURL: goodBaseUrl }] };
  /** Media types that are not JSON, by construction: another top-level type, or an application subtype that is neither json nor *+json. */
  const nonJsonMediaType = fc.oneof(
    fc.constantFrom("text/html", "text/plain", "text/json", "application/xml", "application/jsonp", "application/json-seq", "application/x-json", "json", "application/", "*/*", ""),
    fc
      .tuple(fc.constantFrom("text", "image", "multipart", "application", "audio"), fc.stringMatching(/^[a-z0-9.-]{1,12}$/), fc.constantFrom("", "; charset=utf-8", ";q=1"))
      .filter(([type, sub]) => !(type === "application" && sub === "json"))
      .map(([type, sub, params]) => `${type}/${sub}${params}`),
  );

  it("DISCOVERY-4 a 200 without a JSON media type cancels, whatever the body", () => {
    fc.assert(
      fc.property(fc.option(nonJsonMediaType, { nil: undefined }), (contentType) => {
        const headers: Record<string, string> = contentType === undefined ? {} : { "content-type": contentType };
        expectCancelled(deviceDone(atDiscovery(), "discovery", answer(200, { headers, body: goodDocument })), "DISCOVERY-4");
      }),
      { numRuns: RUNS },
    );
  });

  it("DISCOVERY-4 any JSON media type (any case, parameters, +json) is accepted", () => {
    const jsonType = fc
      .tuple(
        fc.constantFrom("application/json", "application/vnd.apple.remotemanagement+json", "application/problem+json"),
        fc.boolean(),
        fc.constantFrom("", "; charset=utf-8", ";charset=UTF-8", " ; foo=bar"),
      )
      .map(([type, upper, params]) => `${upper ? type.toUpperCase() : type}${params}`);
    fc.assert(
      fc.property(jsonType, (contentType) => {
        const next = deviceDone(atDiscovery(), "discovery", answer(200, { headers: { "content-type": contentType }, body: goodDocument }));
        expect(next.value).toBe("firstEnroll");
        expect(next.context.server).toEqual({ version: "mdm-byod", baseUrl: goodBaseUrl });
      }),
      { numRuns: 50 },
    );
  });

  /** The DISCOVERY-5 shape, checked here by hand (not by the spec's schema). */
  const wellShaped = (v: unknown): boolean =>
    isPlainObject(v) && Array.isArray(v["Servers"]) && v["Servers"].every((s) => isPlainObject(s) && typeof s["Version"] === "string" && typeof s["BaseURL"] === "string");
  const badItem = fc.oneof(
    fc.record({ Version: fc.oneof(fc.integer(), fc.constant(null), fc.boolean()), BaseURL: fc.constant(goodBaseUrl) }),
    fc.record({ Version: fc.constant("mdm-byod"), BaseURL: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 1 })) }),
    fc.record({ BaseURL: fc.constant(goodBaseUrl) }),
    fc.record({ Version: fc.constant("mdm-byod") }),
    fc.jsonValue({ maxDepth: 1 }).filter((v) => !isPlainObject(v)),
  );
  const malformedBody = fc.oneof(
    // Not JSON text.
    fc.string({ maxLength: 40 }).filter((s) => !tryJson(s).ok),
    // Not UTF-8.
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Uint8Array.from([0xff, ...b])),
    // JSON of the wrong shape.
    fc.jsonValue({ maxDepth: 3 }).filter((v) => !wellShaped(v)).map((v) => JSON.stringify(v)),
    fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }))).filter((s) => !wellShaped({ Servers: s })).map((s) => JSON.stringify({ Servers: s })),
    fc
      .tuple(fc.array(fc.constant(goodDocument.Servers[0]), { maxLength: 2 }), badItem, fc.array(fc.constant(goodDocument.Servers[0]), { maxLength: 2 }))
      .map(([before, bad, after]) => JSON.stringify({ Servers: [...before, bad, ...after] })),
  );

  it("DISCOVERY-5 malformed JSON, bytes that are not UTF-8, or a document of the wrong shape cancels", () => {
    fc.assert(
      fc.property(malformedBody, (body) => {
        expectCancelled(deviceDone(atDiscovery(), "discovery", answer(200, { headers: json, body })), "DISCOVERY-5");
      }),
      { numRuns: RUNS },
    );
  });

  it("DISCOVERY-6 an empty Servers array cancels, whatever else the document holds", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== "Servers" && k !== "__proto__"), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }), (extra) => {
        expectCancelled(deviceDone(atDiscovery(), "discovery", answer(200, { headers: json, body: { ...extra, Servers: [] } })), "DISCOVERY-6");
      }),
      { numRuns: RUNS },
    );
  });

  const versions: readonly EnrollmentVersion[] = ["mdm-byod", "mdm-adde"];
  const supportedSet = fc.subarray([...versions], { minLength: 1 });
  const atDiscoveryFor = new Map<string, DeviceSnapshot>();
  const discoveryFor = (supported: readonly EnrollmentVersion[]): DeviceSnapshot => {
    const key = supported.join(",");
    let s = atDiscoveryFor.get(key);
    if (s === undefined) {
      s = waitingFor("discovery", { input: { ...deviceInput, supportedVersions: supported } });
      atDiscoveryFor.set(key, s);
    }
    return s;
  };

  it("DISCOVERY-7 only unsupported Versions cancels", () => {
    fc.assert(
      fc.property(
        supportedSet,
        fc.array(fc.tuple(fc.oneof(fc.constantFrom<string>(...versions), fc.string({ maxLength: 12 })), fc.constantFrom(goodBaseUrl, "http://mdm.example.com/e")), { minLength: 1, maxLength: 4 }),
        (supported, items) => {
          const unsupported = items.filter(([v]) => !(supported as readonly string[]).includes(v));
          fc.pre(unsupported.length > 0);
          const body = { Servers: unsupported.map(([Version, BaseURL]) => ({ Version, BaseURL })) };
          expectCancelled(deviceDone(discoveryFor(supported), "discovery", answer(200, { headers: json, body })), "DISCOVERY-7");
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("DISCOVERY-7 the first item with a supported Version and an http(s) BaseURL is taken", () => {
    const item = fc.record({
      Version: fc.oneof(fc.constantFrom<string>(...versions), fc.string({ maxLength: 8 })),
      BaseURL: fc.constantFrom(goodBaseUrl, "http://mdm.example.com/e", "ftp://mdm.example.com/e", "not a url", "/relative"),
    });
    fc.assert(
      fc.property(supportedSet, fc.array(item, { minLength: 1, maxLength: 5 }), (supported, servers) => {
        const next = deviceDone(discoveryFor(supported), "discovery", answer(200, { headers: json, body: { Servers: servers } }));
        const first = servers.find((s) => (supported as readonly string[]).includes(s.Version) && /^https?:\/\//.test(s.BaseURL));
        if (first === undefined) {
          expectCancelled(next, "DISCOVERY-7");
        } else {
          expect(next.value).toBe("firstEnroll");
          expect(next.context.server).toEqual({ version: first.Version, baseUrl: new URL(first.BaseURL).toString() });
        }
      }),
      { numRuns: RUNS },
    );
  });

  // --- Steps 4–5: the first enroll answer and its challenge ------------------------------------

  it("ENROLL-6 a 200 to the first enroll request cancels, whatever it carries", () => {
    fc.assert(
      fc.property(anyHeaders, anyBody, (headers, body) => {
        expectCancelled(deviceDone(atFirstEnroll(), "firstEnroll", answer(200, { headers, body })), "ENROLL-6");
      }),
      { numRuns: RUNS },
    );
  });

  it("ENROLL-7 any status other than 200 and 401 cancels, even with a valid challenge; so does a transport failure", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }).filter((s) => s !== 200 && s !== 401),
        fc.boolean(),
        anyBody,
        (status, withChallenge, body) => {
          const headers = withChallenge ? { "www-authenticate": formatChallenge(asWeb) } : {};
          expectCancelled(deviceDone(atFirstEnroll(), "firstEnroll", answer(status, { headers, body })), "ENROLL-7");
        },
      ),
      { numRuns: RUNS },
    );
    expectCancelled(deviceError(atFirstEnroll(), "firstEnroll"), "ENROLL-7");
  });

  const challengeRules: readonly RuleId[] = ["ENROLL-8", "CHALLENGE-1", "CHALLENGE-4", "CHALLENGE-5", "CHALLENGE-7"];
  const quoted = (v: string): string => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  const validHeaders = [formatChallenge(asWeb), formatChallenge(oauth2)];
  /** A valid challenge with a few characters cut and some inserted at a random place. */
  const mutatedChallenge = fc.tuple(fc.constantFrom(...validHeaders), fc.nat(), fc.nat({ max: 6 }), fc.string({ maxLength: 3 })).map(([h, at, cut, insert]) => {
    const i = at % (h.length + 1);
    return h.slice(0, i) + insert + h.slice(Math.min(h.length, i + cut));
  });
  /** A challenge built from parameters, each possibly missing or wrong. */
  const assembledChallenge = fc
    .record({
      scheme: fc.constantFrom("Bearer", "Bearer", "Bearer", "bearer", "BEARER", "Basic", "Bearer2"),
      method: fc.option(fc.constantFrom("apple-as-web", "apple-as-web", "apple-oauth2", "apple-oauth2", "apple-as-web2", "Apple-As-Web", ""), { nil: undefined }),
      url: fc.option(fc.constantFrom("https://mdm.example.com/a", "http://mdm.example.com/a", "ftp://mdm.example.com/a", "https:mdm.example.com", "not a url", ""), { nil: undefined }),
      oauth: fc.subarray(["authorization-url", "token-url", "redirect-url", "client-id", "scope"]),
      oauthValue: fc.constantFrom("https://mdm.example.com/x", "no url", ""),
    })
    .map(({ scheme, method, url, oauth, oauthValue }) => {
      const params: string[] = [];
      if (method !== undefined) params.push(`method=${quoted(method)}`);
      if (url !== undefined) params.push(`url=${quoted(url)}`);
      for (const key of oauth) params.push(`${key}=${quoted(key === "client-id" || key === "scope" ? "c" : oauthValue)}`);
      return params.length === 0 ? scheme : `${scheme} ${params.join(", ")}`;
    });
  /** WWW-Authenticate values: noise, noise over the challenge alphabet, mutated valid challenges, and challenges with wrong or missing parameters. */
  const garbledChallenge = fc.oneof(
    { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
    { arbitrary: fc.string({ unit: fc.constantFrom(..."Bearer method=apple-as-web-oauth2 url=https://x.example/\"\\,\t".split("")), maxLength: 50 }), weight: 1 },
    { arbitrary: mutatedChallenge, weight: 2 },
    { arbitrary: assembledChallenge, weight: 4 },
  );

  it("ENROLL-8 CHALLENGE-1 CHALLENGE-4 CHALLENGE-5 CHALLENGE-7 a 401 with a missing or garbled WWW-Authenticate cancels by the rule parseChallenge names", () => {
    const seen = new Set<RuleId>();
    fc.assert(
      fc.property(fc.option(garbledChallenge, { nil: undefined }), (header) => {
        const headers: Record<string, string> = header === undefined ? {} : { "www-authenticate": header };
        const next = deviceDone(atFirstEnroll(), "firstEnroll", answer(401, { headers }));
        const parsed = parseChallenge(header ?? null);
        if (parsed.ok) {
          // A mutation can still be a valid challenge: then the device goes on with exactly it.
          expect(next.matches("authenticating")).toBe(true);
          expect(next.context.challenge).toEqual(parsed.value);
        } else {
          expect(challengeRules).toContain(parsed.error.ruleId);
          seen.add(parsed.error.ruleId);
          expectCancelled(next, parsed.error.ruleId);
        }
      }),
      { numRuns: 400 },
    );
    // The generator must have reached every rule, or the property proved less than it claims.
    expect([...seen].sort()).toEqual([...challengeRules].sort());
  });

  it("CHALLENGE-7 a Bearer challenge with an unknown or no method cancels", () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ maxLength: 20 }).filter((m) => m !== "apple-as-web" && m !== "apple-oauth2"), { nil: undefined }),
        fc.subarray(["url", "authorization-url", "token-url", "redirect-url", "client-id"]),
        (method, keys) => {
          const params = [...(method === undefined ? [] : [`method=${quoted(method)}`]), ...keys.map((k) => `${k}=${quoted(k === "client-id" ? "c" : "https://mdm.example.com/x")}`)];
          const header = params.length === 0 ? "Bearer realm=x" : `Bearer ${params.join(", ")}`;
          expectCancelled(deviceDone(atFirstEnroll(), "firstEnroll", answer(401, { headers: { "www-authenticate": header } })), "CHALLENGE-7");
        },
      ),
      { numRuns: RUNS },
    );
  });

  // --- Steps 6–11: OAuth 2 ------------------------------------------------------------------

  const authorizationCallback = (items: readonly (readonly [string, string])[]): WebAuthOutcome => ({
    kind: "callback",
    url: `${callbackBase}:/oauth2/redirection?${items.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`,
  });

  it("OAUTH-2 an authorization callback with another state, no state, or no code cancels", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.oneof(
          fc.string({ maxLength: 20 }).map((other) => ({ state: other as string | undefined, code: "code-1" as string | undefined })),
          fc.constant({ state: undefined, code: "code-1" }),
          fc.constant({ state: "SAME", code: undefined }),
          fc.constant({ state: "SAME", code: "" }),
        ),
        (sent, callback) => {
          const returned = callback.state === "SAME" ? sent : callback.state;
          fc.pre(!(returned === sent && callback.code !== undefined && callback.code !== ""));
          const authorizing = deviceDone(atOAuthCreatingState(), "creatingState", sent);
          expect(activeInvokes(authorizing)).toEqual(["authorizing"]);
          expect(authorizing.context.oauthState).toBe(sent);
          const items: (readonly [string, string])[] = [];
          if (callback.code !== undefined) items.push(["code", callback.code]);
          if (returned !== undefined) items.push(["state", returned]);
          expectCancelled(deviceDone(authorizing, "authorizing", authorizationCallback(items)), "OAUTH-2");
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("OAUTH-3 an authorization callback carrying error cancels, even with the right state and a code", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ minLength: 1, maxLength: 20 }), fc.boolean(), fc.boolean(), (sent, error, withState, errorFirst) => {
        const authorizing = deviceDone(atOAuthCreatingState(), "creatingState", sent);
        const rest: (readonly [string, string])[] = [["code", "code-1"], ...(withState ? [["state", sent] as const] : [])];
        const items: (readonly [string, string])[] = errorFirst ? [["error", error], ...rest] : [...rest, ["error", error], ["error_description", "denied"]];
        expectCancelled(deviceDone(authorizing, "authorizing", authorizationCallback(items)), "OAUTH-3");
      }),
      { numRuns: RUNS },
    );
  });

  const goodToken = { token_type: "Bearer", access_token: "at-1" };
  const badTokenAnswer = fc.oneof(
    // Not 200.
    fc.tuple(nonOkStatus, fc.constant<object>(goodToken)).map(([status, body]) => answer(status, { headers: json, body })),
    // No (or an empty, or a non-string) access_token.
    fc.oneof(fc.constant(undefined), fc.constant(""), fc.integer(), fc.constant(null)).map((access_token) =>
      answer(200, { headers: json, body: access_token === undefined ? { token_type: "Bearer" } : { token_type: "Bearer", access_token } }),
    ),
    // token_type other than Bearer (any case), or missing.
    fc
      .option(fc.string({ maxLength: 10 }).filter((t) => t.toLowerCase() !== "bearer"), { nil: undefined })
      .map((token_type) => answer(200, { headers: json, body: token_type === undefined ? { access_token: "at-1" } : { token_type, access_token: "at-1" } })),
    // Not JSON.
    fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "").map((ct) => answer(200, { headers: ct === "" ? {} : { "content-type": ct }, body: goodToken })),
    fc.string({ maxLength: 20 }).filter((s) => !tryJson(s).ok).map((body) => answer(200, { headers: json, body })),
    // expires_in that is not a positive integer.
    fc.oneof(fc.integer({ max: 0 }), fc.double({ min: 0.1, max: 100, noInteger: true }), fc.string({ maxLength: 3 })).map((expires_in) =>
      answer(200, { headers: json, body: { ...goodToken, expires_in } }),
    ),
  );

  it("OAUTH-5 a token answer that is not 200 JSON with token_type Bearer and an access_token cancels", () => {
    fc.assert(
      fc.property(badTokenAnswer, (tokenAnswer) => {
        expectCancelled(deviceDone(atExchanging(), "exchanging", tokenAnswer), "OAUTH-5");
      }),
      { numRuns: RUNS },
    );
    expectCancelled(deviceError(atExchanging(), "exchanging"), "OAUTH-5");
  });

  it("OAUTH-5 token_type Bearer in any case is accepted and the tokens are kept", () => {
    fc.assert(
      fc.property(fc.mixedCase(fc.constant("bearer")), token, fc.option(token, { nil: undefined }), (tokenType, access, refresh) => {
        const body = { token_type: tokenType, access_token: access, ...(refresh === undefined ? {} : { refresh_token: refresh }) };
        const next = deviceDone(atExchanging(), "exchanging", answer(200, { headers: json, body }));
        expect(next.value).toBe("secondEnroll");
        expect(next.context.accessToken).toBe(access);
        expect(next.context.refreshToken).toBe(refresh ?? null);
      }),
      { numRuns: 50 },
    );
  });

  // --- Steps 6–11: simple -------------------------------------------------------------------

  it("SIMPLE-3 a simple callback without an access-token (or with an empty one) cancels", () => {
    const otherItem = fc.tuple(token.filter((k) => k !== "access-token"), fc.string({ maxLength: 10 }));
    fc.assert(
      fc.property(fc.array(otherItem, { maxLength: 4 }), fc.boolean(), fc.constantFrom("//authentication-results", ":/x", "//other-host/path"), (items, emptyToken, path) => {
        const all = emptyToken ? [...items, ["access-token", ""] as const] : items;
        const query = all.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
        const url = `${callbackBase}${path.startsWith(":") ? path : `:${path}`}${query === "" ? "" : `?${query}`}`;
        expectCancelled(deviceDone(atSimple(), "simple", { kind: "callback", url } satisfies WebAuthOutcome), "SIMPLE-3");
      }),
      { numRuns: RUNS },
    );
  });

  // --- Step 12–13: the second enroll answer and the profile --------------------------------

  it("ENROLL2-4 a second enroll answer that is not 200, or is empty, cancels", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(nonOkStatus, fc.constantFrom<"profile" | "other">("profile", "other"), anyBody).map(([status, kind, body]) =>
            answer(status, { headers: aspen, body: kind === "profile" ? profileBody() : body }),
          ),
          anyHeaders.map((headers) => answer(200, { headers, body: new Uint8Array() })),
        ),
        (secondAnswer) => {
          expectCancelled(deviceDone(atSecondEnrollByod(), "secondEnroll", secondAnswer), "ENROLL2-4");
        },
      ),
      { numRuns: RUNS },
    );
    expectCancelled(deviceError(atSecondEnrollByod(), "secondEnroll"), "ENROLL2-4");
  });

  it("PROFILE-1 … PROFILE-4 the unedited, re-serialized profile passes (control for the edits below)", () => {
    expect(deviceDone(atSecondEnrollByod(), "secondEnroll", editedProfile({}, () => {})).value).toBe("managedAccountSignIn");
    expect(deviceDone(atSecondEnrollAdde(), "secondEnroll", editedProfile({ mode: "ADDE", accessRights: 8191 }, () => {})).value).toBe("managedAccountSignIn");
  });

  it("PROFILE-1 a missing EnrollmentMode, or one other than BYOD or ADDE, cancels", () => {
    const wrongMode = fc.oneof(
      fc.constant<string | undefined>(undefined),
      fc.constantFrom("byod", "Byod", "adde", " BYOD", "ADDE ", "", "BYOD,ADDE", "UserEnrollment"),
      fc.string({ maxLength: 12 }).filter((m) => m !== "BYOD" && m !== "ADDE"),
    );
    fc.assert(
      fc.property(wrongMode, fc.boolean(), (mode, adde) => {
        const start = adde ? atSecondEnrollAdde() : atSecondEnrollByod();
        const profile = editedProfile({ mode: adde ? "ADDE" : "BYOD" }, (mdm) => {
          if (mode === undefined) delete mdm["EnrollmentMode"];
          else mdm["EnrollmentMode"] = mode;
        });
        expectCancelled(deviceDone(start, "secondEnroll", profile), "PROFILE-1");
      }),
      { numRuns: RUNS },
    );
  });

  it("PROFILE-2 an EnrollmentMode that does not match the discovered Version cancels (and passes when the check is off)", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.option(fc.integer({ min: 0, max: 8191 }), { nil: undefined }), (byodVersion, accessRights) => {
        if (byodVersion) {
          // mdm-byod discovered, ADDE delivered.
          const profile = editedProfile({ mode: "ADDE", ...(accessRights === undefined ? {} : { accessRights }) }, () => {});
          expectCancelled(deviceDone(atSecondEnrollByod(), "secondEnroll", profile), "PROFILE-2");
        } else {
          // mdm-adde discovered, BYOD delivered.
          const profile = editedProfile({ mode: "BYOD" }, () => {});
          expectCancelled(deviceDone(atSecondEnrollAdde(), "secondEnroll", profile), "PROFILE-2");
          expect(deviceDone(atSecondEnrollAddeLenient(), "secondEnroll", profile).value).toBe("managedAccountSignIn");
        }
      }),
      { numRuns: 60 },
    );
  });

  const label = fc.stringMatching(/^[a-z0-9]{1,8}$/);
  const invalidManagedAppleId = fc.oneof(
    fc.stringMatching(/^[a-z0-9.]{0,16}$/), // no "@"
    fc.tuple(label, label).map(([a, b]) => `${a}@${b}@example.com`), // two "@"
    label.map((d) => `@${d}.example.com`), // empty local part
    fc.tuple(label, fc.constantFrom("localhost", "-bad.example.com", "example.123", "exa_mple.com", "example..com", ".example.com", "")).map(([l, d]) => `${l}@${d}`), // not an FQDN
    fc.tuple(label, fc.constantFrom(" ", "\t"), fc.boolean()).map(([l, ws, inside]) => (inside ? `${l}${ws}x@example.com` : `${l}@example.com${ws}`)), // whitespace
  );

  it("PROFILE-3 a missing or invalid AssignedManagedAppleID cancels", () => {
    fc.assert(
      fc.property(fc.option(invalidManagedAppleId, { nil: undefined }), (id) => {
        if (id !== undefined) expect(isManagedAppleID(id)).toBe(false); // the generator's own check
        const profile = editedProfile({}, (mdm) => {
          if (id === undefined) delete mdm["AssignedManagedAppleID"];
          else mdm["AssignedManagedAppleID"] = id;
        });
        expectCancelled(deviceDone(atSecondEnrollByod(), "secondEnroll", profile), "PROFILE-3");
      }),
      { numRuns: RUNS },
    );
  });

  it("PROFILE-3 a valid AssignedManagedAppleID is kept and handed to the Managed Apple Account sign-in", () => {
    fc.assert(
      fc.property(label, fc.array(label, { minLength: 1, maxLength: 3 }), fc.constantFrom("com", "example", "jp"), (local, labels, top) => {
        const id = `${local}@${labels.join(".")}.${top}`;
        const next = deviceDone(atSecondEnrollByod(), "secondEnroll", editedProfile({}, (mdm) => void (mdm["AssignedManagedAppleID"] = id)));
        expect(next.value).toBe("managedAccountSignIn");
        expect(activeInvokes(next)).toEqual(["managedAccountSignIn"]);
        expect(findMdmPayload(next.context.profile)?.AssignedManagedAppleID).toBe(id);
      }),
      { numRuns: 50 },
    );
  });

  it("PROFILE-4 a BYOD profile with AccessRights (any value) cancels", () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 1 << 20 }), (accessRights) => {
        const profile = editedProfile({}, (mdm) => void (mdm["AccessRights"] = accessRights));
        expectCancelled(deviceDone(atSecondEnrollByod(), "secondEnroll", profile), "PROFILE-4");
      }),
      { numRuns: RUNS },
    );
  });
});

describe("device machine: identifiers (IDENT-1 … IDENT-3)", () => {
  const label = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?$/);
  const fqdn = fc.tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z]{2,6}$/)).map(([ls, top]) => `${ls.join(".")}.${top}`);
  const identifier = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ maxLength: 20 }).filter((s) => !s.includes("@")),
    fqdn.map((d) => `@${d}`),
    fc.tuple(fc.constantFrom(" ", "  ", "\t"), fqdn).map(([u, d]) => `${u}@${d}`),
    fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom("localhost", "example", "10.0.0.1", "-x.com", "a_b.com", "", "example.com:443")).map(([u, d]) => `${u}@${d}`),
    fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fqdn).map(([u, d]) => `${u}@${d}`),
    fc.tuple(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ minLength: 1, maxLength: 5 }), fqdn).map(([a, b, d]) => `${a}@${b}@${d}`),
  );

  it("IDENT-2 IDENT-3 a bad identifier goes back to identifier entry with its rule; a good one goes to discovery", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(identifier, (typed) => {
        const next = deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: typed });
        const split = splitUserIdentifier(typed);
        if (split.ok) {
          seen.add("ok");
          expect(next.value).toBe("discovery");
          expect(next.context.identifierError).toBeNull();
          expect(next.context.identifier).toEqual(split.value);
          expect(activeInvokes(next)).toEqual(["discovery"]);
        } else {
          seen.add(split.error.ruleId);
          expect(["IDENT-2", "IDENT-3"]).toContain(split.error.ruleId);
          expect(next.value).toBe("identifierEntry");
          expect(next.status).toBe("active");
          expect(next.context.identifierError).toBe(split.error.ruleId);
          expect(next.context.identifier).toBeNull();
          expect(next.context.cancelReason).toBeNull();
        }
      }),
      { numRuns: 400 },
    );
    expect([...seen].sort()).toEqual(["IDENT-2", "IDENT-3", "ok"]);
  });

  it("IDENT-2 IDENT-3 the person can correct the identifier as often as needed, and the last error is cleared", () => {
    fc.assert(
      fc.property(fc.array(identifier, { maxLength: 6 }), fqdn, (attempts, domain) => {
        let s = deviceStart();
        for (const typed of attempts) {
          if (s.value !== "identifierEntry") break;
          s = deviceSend(s, { type: "SUBMIT_IDENTIFIER", identifier: typed });
        }
        if (s.value === "identifierEntry") {
          s = deviceSend(s, { type: "SUBMIT_IDENTIFIER", identifier: `alice@${domain}` });
        }
        expect(s.value).toBe("discovery");
        expect(s.context.identifierError).toBeNull();
      }),
      { numRuns: 100 },
    );
  });

  it("IDENT-4 cancelling at identifier entry ends the enrollment, also after errors", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("alice", "@example.com", "alice@localhost"), { maxLength: 3 }), (attempts) => {
        let s = deviceStart();
        for (const typed of attempts) s = deviceSend(s, { type: "SUBMIT_IDENTIFIER", identifier: typed });
        expect(s.value).toBe("identifierEntry");
        expectCancelled(deviceSend(s, { type: "CANCEL" }), "IDENT-4");
      }),
      { numRuns: 20 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Random event sequences

const invokeIds = ["discovery", "firstEnroll", "fetching", "consenting", "simple", "creatingState", "authorizing", "exchanging", "secondEnroll", "managedAccountSignIn", "sending", "refreshing"] as const;
type InvokeId = (typeof invokeIds)[number];

const happy = happyAnswers(asWeb);
const oddAnswers: readonly HttpAnswer[] = [answer(200), answer(204), answer(401), answer(500, { body: "oops" }), answer(302, { headers: { location: "https://elsewhere.example.com/" } })];
/**
 * Good and bad answers per HTTP actor (a runtime actor resolves with its own type only, so an
 * HttpAnswer never reaches a web-authentication actor and vice versa); every pool also gets odd answers.
 */
const httpPools: Readonly<Record<string, readonly HttpAnswer[]>> = {
  discovery: [
    answer(200, { headers: json, body: { Servers: [{ Version: "mdm-byod", BaseURL: goodBaseUrl }] } }),
    answer(200, { headers: json, body: { Servers: [{ Version: "mdm-adde", BaseURL: "https://mdm.example.com/enroll/mdm-adde" }] } }),
    answer(403, { headers: json, body: { code: "com.apple.well-known.failed", message: "no" } }),
    answer(200, { headers: { "content-type": "text/html" }, body: "<html>" }),
    answer(200, { headers: json, body: "{" }),
    answer(200, { headers: json, body: { Servers: [] } }),
    answer(200, { headers: json, body: { Servers: [{ Version: "mdm-future", BaseURL: goodBaseUrl }] } }),
  ],
  firstEnroll: [
    answer(401, { headers: { "www-authenticate": formatChallenge(asWeb) } }),
    answer(401, { headers: { "www-authenticate": formatChallenge(oauth2) } }),
    answer(401, { headers: { "www-authenticate": formatChallenge(oauth2) } }),
    answer(401, { headers: { "www-authenticate": formatChallenge(asWeb), "x-apple-mdm-esso": "https://mdm.example.com/esso" } }),
    answer(401, { headers: { "www-authenticate": formatChallenge(asWeb), "x-apple-mdm-esso": "http://mdm.example.com/esso" } }),
    answer(401, { headers: { "www-authenticate": "Basic realm=x" } }),
    answer(401, { headers: { "www-authenticate": 'Bearer method="apple-other"' } }),
  ],
  fetching: [happy["fetching"] as HttpAnswer, answer(404), answer(200, { headers: json, body: { iTunesStoreID: 1 } })],
  exchanging: [
    happy["exchanging"] as HttpAnswer,
    answer(200, { headers: json, body: { token_type: "Bearer", access_token: "at-3" } }),
    answer(200, { headers: json, body: { token_type: "mac", access_token: "x" } }),
    answer(400, { headers: json, body: { error: "invalid_grant" } }),
  ],
  secondEnroll: [
    happy["secondEnroll"] as HttpAnswer,
    answer(200, { headers: aspen, body: profileBody({ mode: "ADDE", accessRights: 1 }) }),
    editedProfile({}, (mdm) => void (mdm["AssignedManagedAppleID"] = "not-an-id")),
    answer(200, { headers: aspen, body: "not a plist" }),
  ],
  /** MDM requests and refreshes: accepted, 401, unrecognized device, other failures, a token. */
  sending: [answer(200), answer(401), answer(401), answer(403, { headers: json, body: { code: "com.apple.unrecognized.device" } }), answer(403, { headers: json, body: { code: "other" } })],
  refreshing: [happy["refreshing"] as HttpAnswer, answer(200, { headers: json, body: { token_type: "Bearer", access_token: "at-9" } }), answer(400)],
};
const outcomePool: readonly WebAuthOutcome[] = [
  { kind: "callback", url: `${callbackBase}://authentication-results?access-token=tok-1` },
  { kind: "callback", url: `${callbackBase}://authentication-results?x=1` },
  { kind: "callback", url: "https://evil.example.com/?access-token=x" },
  { kind: "callback", url: `${callbackBase}:/oauth2/redirection?code=c&state=wrong` },
  { kind: "callback", url: `${callbackBase}:/oauth2/redirection?error=access_denied` },
  { kind: "cancelled" },
  { kind: "http-error", status: 500 },
];

/** The answers an actor of this invoke id can give: a pool of good and bad ones of the type it resolves with. */
function outputPool(id: InvokeId, snapshot: DeviceSnapshot): readonly unknown[] {
  switch (id) {
    case "consenting":
      return [{ accepted: true }, { accepted: false }];
    case "managedAccountSignIn":
      return [{ ok: true }, { ok: false }];
    case "creatingState":
      return ["3F2504E0-4F89-41D3-9A0C-0305E82C3301", "", "a&b=c"];
    case "simple":
      return outcomePool;
    case "authorizing":
      return [answerFor(snapshot, "authorizing", { authorizing: null }), ...outcomePool];
    default:
      return [...(httpPools[id] ?? []), ...oddAnswers];
  }
}

type Step =
  | { readonly kind: "submit"; readonly identifier: string }
  | { readonly kind: "cancel" }
  | { readonly kind: "sendMdm"; readonly request: PendingMdmRequest }
  | { readonly kind: "done"; readonly id: InvokeId; readonly active: boolean; readonly happy: boolean; readonly seed: number }
  | { readonly kind: "error"; readonly seed: number };

const pendingRequest: fc.Arbitrary<PendingMdmRequest> = fc.record({
  channel: fc.constantFrom("checkin" as const, "command" as const),
  messageType: fc.oneof(fc.constantFrom("Authenticate", "TokenUpdate", "CheckOut", "Idle"), fc.string({ maxLength: 8 })),
  body: fc.uint8Array({ maxLength: 8 }),
});

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.oneof(fc.constantFrom("alice@example.com", "bob@mdm.example.org"), fc.string({ maxLength: 20 })).map((identifier) => ({ kind: "submit" as const, identifier })), weight: 3 },
  { arbitrary: fc.constant({ kind: "cancel" as const }), weight: 1 },
  { arbitrary: pendingRequest.map((request) => ({ kind: "sendMdm" as const, request })), weight: 4 },
  { arbitrary: fc.record({ id: fc.constantFrom(...invokeIds), active: fc.nat({ max: 7 }).map((n) => n > 0), happy: fc.nat({ max: 3 }).map((n) => n > 0), seed: fc.nat() }).map((d) => ({ kind: "done" as const, ...d })), weight: 30 },
  { arbitrary: fc.nat().map((seed) => ({ kind: "error" as const, seed })), weight: 1 },
);

/** The event a step stands for in this snapshot (undefined when it stands for none). */
function eventFor(step: Step, before: DeviceSnapshot): ({ type: string } & Record<string, unknown>) | undefined {
  const active = activeInvokes(before);
  switch (step.kind) {
    case "submit":
      return { type: "SUBMIT_IDENTIFIER", identifier: step.identifier };
    case "cancel":
      return { type: "CANCEL" };
    case "sendMdm":
      return { type: "SEND_MDM", request: step.request };
    case "done": {
      // Mostly answer the actor the machine waits for; sometimes a stray answer for another one.
      const id = (step.active ? (active[step.seed % Math.max(1, active.length)] as InvokeId | undefined) : undefined) ?? step.id;
      // Most answers are the happy ones, so that sequences get deep into the flow.
      const pool = outputPool(id, before);
      const useHappy = step.happy && id !== "sending" && id !== "refreshing";
      const output = useHappy ? answerFor(before, id, happy) : pool[Math.floor(step.seed / 7) % pool.length];
      return { type: `xstate.done.actor.${id}`, output };
    }
    case "error": {
      // xstate only delivers an actor error from a live child: error the one the machine waits for.
      const id = active[step.seed % Math.max(1, active.length)];
      return id === undefined ? undefined : { type: `xstate.error.actor.${id}`, error: new Error("transport") };
    }
  }
}

/** Where random sequences start: fresh machines (three inputs), and snapshots deep in the flow. */
const sequenceStarts: readonly (() => DeviceSnapshot)[] = [
  () => deviceStart(deviceInput),
  () => deviceStart({ ...deviceInput, modelFamily: "Mac" }),
  () => deviceStart({ ...deviceInput, supportedVersions: ["mdm-adde"] }),
  () => atFirstEnroll(),
  () => atOAuthCreatingState(),
  () => enrolledSimple(),
  () => enrolledOAuthRefresh(),
  () => enrolledOAuthNoRefresh(),
];

describe("device machine: random event sequences", () => {
  it("CANCEL-1 no sequence of person events and actor answers throws or leaves a cancelled machine without a catalogued rule", () => {
    const reached = new Set<string>();
    fc.assert(
      fc.property(fc.constantFrom(...sequenceStarts), fc.array(stepArbitrary, { minLength: 1, maxLength: 40, size: "max" }), (start, steps) => {
        let s = start();
        for (const step of steps) {
          // An actor takes no event once its machine is done (see the next property for transition()).
          if (s.status !== "active") break;
          const before = s;
          const event = eventFor(step, before);
          if (event === undefined) continue;
          s = deviceSend(before, event);
          reached.add(JSON.stringify(s.value));

          expect(s.status).not.toBe("error");
          if (s.value === "cancelled") {
            expect(s.status).toBe("done");
            const reason = s.context.cancelReason;
            expect(reason).not.toBeNull();
            expect(isRuleId(reason ?? "")).toBe(true);
          }
          if (s.value === "unenrolled") {
            expect(s.status).toBe("done");
            expect(s.context.cancelReason).toBe("ONGOING-5");
          }
          if (s.status === "done") expect(activeInvokes(s)).toEqual([]);
          if (s.value === "identifierEntry") expect([null, "IDENT-2", "IDENT-3"]).toContain(s.context.identifierError);
          if (s.context.phase === "ongoing") expect(s.context.profile).not.toBeNull();
          // A stray answer (for an actor the machine is not waiting for) changes nothing.
          if (event.type.startsWith("xstate.done.actor.") && !activeInvokes(before).includes(event.type.slice("xstate.done.actor.".length))) {
            expect(s.value).toEqual(before.value);
            expect(s.context).toBe(before.context);
          }
          // At rest the machine waits for at most one actor.
          if (s.status === "active") expect(activeInvokes(s).length).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 200 },
    );
    // The sequences got past the first steps (otherwise this property proves little).
    console.log(`random device sequences: ${reached.size} distinct states reached`);
    expect(reached.has('"cancelled"')).toBe(true);
    expect(reached.has('"unenrolled"')).toBe(true);
    expect(reached.has('{"enrolled":"sending"}')).toBe(true);
    expect([...reached].some((v) => v.includes("oauth2"))).toBe(true);
  });

  it("CANCEL-1 ONGOING-5 once cancelled or unenrolled (final), the machine stays there with its reason, whatever it is sent", () => {
    fc.assert(
      fc.property(fc.constantFrom(...sequenceStarts), fc.array(stepArbitrary, { minLength: 1, maxLength: 40, size: "max" }), (start, steps) => {
        let s = start();
        for (const step of steps) {
          const before = s;
          const event = eventFor(step, before);
          if (event === undefined) continue;
          s = deviceSend(before, event);
          if (before.status === "done") {
            expect({ value: s.value, status: s.status, cancelReason: s.context.cancelReason }).toEqual({
              value: before.value,
              status: "done",
              cancelReason: before.context.cancelReason,
            });
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Ongoing authorization

const exchangingWithoutRefresh = answer(200, { headers: json, body: { token_type: "Bearer", access_token: "at-1", expires_in: 3600 } });
const enrolledSimple = cached(() => driveDevice());
const enrolledOAuthRefresh = cached(() => driveDevice({}, { challenge: oauth2 }));
const enrolledOAuthNoRefresh = cached(() => driveDevice({ exchanging: exchangingWithoutRefresh }, { challenge: oauth2 }));
const flows = ["simple", "oauth2+refresh", "oauth2"] as const;
const enrolledBy = (flow: (typeof flows)[number]): DeviceSnapshot =>
  flow === "simple" ? enrolledSimple() : flow === "oauth2+refresh" ? enrolledOAuthRefresh() : enrolledOAuthNoRefresh();

describe("device machine: ongoing authorization", () => {
  it("ONGOING-1 the enrolled fixtures are enrolled and idle, with the tokens each flow gives", () => {
    expect(enrolledSimple().value).toEqual({ enrolled: "idle" });
    expect(enrolledOAuthRefresh().context.refreshToken).toBe("rt-1");
    expect(enrolledOAuthNoRefresh().value).toEqual({ enrolled: "idle" });
    expect(enrolledOAuthNoRefresh().context.refreshToken).toBeNull();
  });

  it("ONGOING-2 ONGOING-3 ONGOING-4 a 401 refreshes with a refresh token, re-authenticates without, and drops a CheckOut", () => {
    fc.assert(
      fc.property(fc.constantFrom(...flows), pendingRequest, (flow, request) => {
        const sending = deviceSend(enrolledBy(flow), { type: "SEND_MDM", request });
        expect(sending.value).toEqual({ enrolled: "sending" });
        expect(sending.context.pending).toEqual(request);
        const next = deviceDone(sending, "sending", answer(401));
        if (request.messageType === "CheckOut") {
          // ONGOING-4: never retried.
          expect(next.value).toEqual({ enrolled: "idle" });
          expect(next.context.pending).toBeNull();
          expect(next.context.cancelReason).toBe("ONGOING-4");
          expect(activeInvokes(next)).toEqual([]);
        } else if (flow === "oauth2+refresh") {
          expect(next.value).toEqual({ enrolled: "refreshing" });
          expect(activeInvokes(next)).toEqual(["refreshing"]);
        } else {
          expect(next.matches("authenticating")).toBe(true);
          expect(activeInvokes(next)).toEqual([flow === "simple" ? "simple" : "creatingState"]);
          expect(next.context.pending).toEqual(request);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("ONGOING-2 ONGOING-3 a request is retried at most once: any run of 401s ends idle with the request given up", () => {
    fc.assert(
      fc.property(fc.constantFrom(...flows), pendingRequest.filter((r) => r.messageType !== "CheckOut"), fc.boolean(), (flow, request, refreshFails) => {
        let s = deviceSend(enrolledBy(flow), { type: "SEND_MDM", request });
        const answers = { ...happyAnswers(flow === "simple" ? asWeb : oauth2), sending: answer(401), ...(refreshFails ? { refreshing: answer(400, { headers: json, body: { error: "invalid_grant" } }) } : {}) };
        const visited: string[] = [];
        for (let i = 0; i < 20; i++) {
          const [id] = activeInvokes(s);
          if (id === undefined) break;
          visited.push(id);
          s = deviceDone(s, id, answerFor(s, id, answers));
        }
        expect(s.value).toEqual({ enrolled: "idle" });
        expect(s.context.pending).toBeNull();
        expect(s.context.retries).toBe(0);
        expect(s.context.cancelReason).toBe("ONGOING-3");
        // Exactly two attempts of the request itself.
        expect(visited.filter((v) => v === "sending")).toHaveLength(2);
        if (flow === "oauth2+refresh") expect(visited).toContain("refreshing");
        if (flow !== "oauth2+refresh" || refreshFails) expect(visited.some((v) => v === "simple" || v === "creatingState")).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("ONGOING-2 a successful refresh retries the request with the new token", () => {
    fc.assert(
      fc.property(pendingRequest.filter((r) => r.messageType !== "CheckOut"), token, fc.option(token, { nil: undefined }), (request, access, refresh) => {
        const refreshing = deviceDone(deviceSend(enrolledOAuthRefresh(), { type: "SEND_MDM", request }), "sending", answer(401));
        const body = { token_type: "Bearer", access_token: access, ...(refresh === undefined ? {} : { refresh_token: refresh }) };
        const retried = deviceDone(refreshing, "refreshing", answer(200, { headers: json, body }));
        expect(retried.value).toEqual({ enrolled: "sending" });
        expect(retried.context.accessToken).toBe(access);
        expect(retried.context.refreshToken).toBe(refresh ?? "rt-1");
        expect(retried.context.pending).toEqual(request);
        const done = deviceDone(retried, "sending", answer(200));
        expect(done.value).toEqual({ enrolled: "idle" });
        expect(done.context.pending).toBeNull();
        expect(done.context.lastMdmStatus).toBe(200);
      }),
      { numRuns: 60 },
    );
  });

  it("ONGOING-5 a 403 com.apple.unrecognized.device unenrolls; any other 403 or failure only drops the request", () => {
    const unrecognized = fc
      .record({ message: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }), description: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }) })
      .map(({ message, description }) => ({ code: "com.apple.unrecognized.device", ...(message === undefined ? {} : { message }), ...(description === undefined ? {} : { description }) }));
    const other = fc.oneof(
      fc.constant<object | string>({ code: "com.apple.well-known.failed" }),
      fc.constant<object | string>({ code: "com.apple.unrecognized.device", message: 1 }),
      fc.string({ maxLength: 20 }),
      fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...flows),
        pendingRequest,
        fc.oneof(unrecognized.map((body) => ({ status: 403, body: body as object | string, unenrolls: true })), fc.tuple(fc.integer({ min: 300, max: 599 }).filter((s) => s !== 401), other).map(([status, body]) => ({ status, body, unenrolls: false }))),
        (flow, request, reply) => {
          const next = deviceDone(deviceSend(enrolledBy(flow), { type: "SEND_MDM", request }), "sending", answer(reply.status, { headers: json, body: reply.body }));
          if (reply.unenrolls) {
            expect(next.value).toBe("unenrolled");
            expect(next.status).toBe("done");
            expect(next.context.cancelReason).toBe("ONGOING-5");
          } else {
            expect(next.value).toEqual({ enrolled: "idle" });
            expect(next.context.pending).toBeNull();
            expect(next.context.lastMdmStatus).toBe(reply.status);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("ONGOING-1 a 2xx answer accepts the request; the machine is idle again and ready for the next", () => {
    fc.assert(
      fc.property(fc.constantFrom(...flows), fc.array(fc.tuple(pendingRequest, fc.integer({ min: 200, max: 299 })), { minLength: 1, maxLength: 4 }), (flow, requests) => {
        let s = enrolledBy(flow);
        for (const [request, status] of requests) {
          s = deviceSend(s, { type: "SEND_MDM", request });
          expect(activeInvokes(s)).toEqual(["sending"]);
          s = deviceDone(s, "sending", answer(status));
          expect(s.value).toEqual({ enrolled: "idle" });
          expect(s.context.lastMdmStatus).toBe(status);
          expect(s.context.pending).toBeNull();
        }
      }),
      { numRuns: 50 },
    );
  });
});
