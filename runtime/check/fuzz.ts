// `adenroll check --fuzz N`: fast-check generates N deviations per step — field-level mutations of
// the spec's messages (plist keys and values), structural ones (bytes flipped, cut, inserted) and
// header mutations (Content-Type, Authorization, Mdm-Signature) — sends them to the server and
// judges every answer by what the rules allow. A failure is shrunk to the smallest request that
// shows it and printed as a curl command; the seed (and fast-check's path) replays the run.
import type { Fetch } from "../../generated/client.generated.ts";
import {
  buildPlist,
  isJsonMediaType,
  parseChallenge,
  parseEnrollRequestBody,
  ServerWellKnownResponse,
  TokenErrorResponse,
  WellKnownFailed,
  type PlistValue,
} from "../../spec/index.ts";
import { appleRootCaPem } from "../apple-root-ca.ts";
import { loadPemCertificates, verifyDeviceSignature, type TrustStore } from "../device-signature.ts";
import { signMdmMessage, type Pkcs12Identity } from "../mdm-signature.ts";
import type { FuzzFailure, FuzzSummary } from "./model.ts";

/** What the fuzzer needs from the check's run: where to send, and a device it may use. */
export interface FuzzTarget {
  readonly fetch: Fetch;
  readonly wellKnownUrl: string;
  readonly enrollUrl: string;
  readonly enrollBody: Uint8Array;
  /** The test device CA's certificate (DER), to tell a still-valid mutated body from a broken one. */
  readonly testCa?: Uint8Array;
  /** The OAuth 2 endpoints of the challenge, when the server uses OAuth 2. */
  readonly oauth?: { readonly authorizationUrl: string; readonly tokenUrl: string; readonly clientId: string; readonly redirectUrl: string };
  /** An enrolled device of its own (never checked out by the fuzzer): token, MDM URLs, signer. */
  readonly device?: {
    readonly token: string;
    readonly checkInUrl: string;
    readonly serverUrl: string;
    readonly topic: string;
    readonly id: Readonly<Record<string, string>>;
    readonly identity?: Pkcs12Identity;
  };
}

interface Sent {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

interface Judged {
  readonly ruleId: string;
  readonly text: string;
}

interface Step<T> {
  readonly name: string;
  readonly arbitrary: import("fast-check").Arbitrary<T>;
  build(value: T): Promise<Sent>;
  /** undefined when the answer is one the rules allow. */
  judge(value: T, sent: Sent, status: number, headers: Headers, body: Uint8Array): Promise<Judged | undefined>;
}

const utf8 = new TextEncoder();
const noValues: PlistValue[] = [];

/** A replayable curl command; the token is left to the shell ($ADENROLL_TOKEN), never printed. */
export function curlCommand(sent: Sent, token?: string): string {
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const headers = Object.entries(sent.headers).map(([k, v]) => {
    const parts = token !== undefined && token !== "" ? `${k}: ${v}`.split(token) : [`${k}: ${v}`];
    return `-H ${parts.map(quote).join('"$ADENROLL_TOKEN"')}`;
  });
  const args = ["curl", "-i", "-X", sent.method, ...headers, quote(sent.url)];
  if (sent.body.length === 0) return args.join(" ");
  let binary = "";
  for (const b of sent.body) binary += String.fromCharCode(b);
  return `printf %s ${quote(btoa(binary))} | base64 -d | ${args.join(" ")} --data-binary @-`;
}

function mutateBytes(fc: typeof import("fast-check"), length: number) {
  return fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat({ max: Math.max(0, length - 1) }), bit: fc.nat({ max: 7 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat({ max: length }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat({ max: length }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant("replace" as const), at: fc.nat({ max: Math.max(0, length - 1) }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 256 }) }),
  );
}

type ByteMutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "insert" | "replace"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "random"; readonly bytes: Uint8Array };

function applyBytes(body: Uint8Array, m: ByteMutation): Uint8Array {
  switch (m.kind) {
    case "flip": {
      const copy = body.slice();
      if (m.at < copy.length) copy[m.at] = (copy[m.at] ?? 0) ^ (1 << m.bit);
      return copy;
    }
    case "truncate":
      return body.slice(0, m.at);
    case "insert":
      return new Uint8Array([...body.subarray(0, m.at), ...m.bytes, ...body.subarray(m.at)]);
    case "replace": {
      const copy = body.slice();
      const at = Math.min(m.at, copy.length);
      copy.set(m.bytes.subarray(0, copy.length - at), at);
      return copy;
    }
    case "random":
      return m.bytes;
  }
}

function headersOf(record: Readonly<Record<string, string>>): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(record)) h.set(k, v);
  return h;
}

/** An Authorization header built around the valid token: mostly wrong, sometimes exactly right. */
function authorizationArbitrary(fc: typeof import("fast-check"), token: string) {
  return fc.oneof(
    fc.constant({ kind: "none" as const }),
    fc.record({ kind: fc.constant("scheme" as const), scheme: fc.constantFrom("Bearer", "bearer", "BEARER", "Basic", "Token", "Bearer:", ""), spaces: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant("edit" as const), at: fc.nat({ max: token.length - 1 }), char: fc.constantFrom(..."AZaz09-_.~+/=@ ") }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat({ max: token.length }) }),
    fc.record({ kind: fc.constant("extra" as const), suffix: fc.string({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("other" as const), value: fc.string({ maxLength: 64 }) }),
  );
}

type AuthMutation =
  | { readonly kind: "none" }
  | { readonly kind: "scheme"; readonly scheme: string; readonly spaces: number }
  | { readonly kind: "edit"; readonly at: number; readonly char: string }
  | { readonly kind: "cut"; readonly at: number }
  | { readonly kind: "extra"; readonly suffix: string }
  | { readonly kind: "other"; readonly value: string };

function authorizationOf(token: string, m: AuthMutation): string | undefined {
  switch (m.kind) {
    case "none":
      return undefined;
    case "scheme":
      return `${m.scheme}${" ".repeat(m.spaces)}${m.spaces === 0 && m.scheme !== "" ? "" : token}`.trim() === "" ? " " : `${m.scheme}${" ".repeat(m.spaces)}${token}`;
    case "edit":
      return `Bearer ${token.slice(0, m.at)}${m.char}${token.slice(m.at + 1)}`;
    case "cut":
      return `Bearer ${token.slice(0, m.at)}`;
    case "extra":
      return `Bearer ${token}${m.suffix}`;
    case "other":
      return m.value;
  }
}

/** Header values fetch can carry (no control characters, no leading/trailing spaces). */
function headerSafe(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\uffff]/g, "?").trim();
}

/** True when the Authorization names exactly the token (the scheme is case-insensitive, RFC 7235 §2.1). */
function isExactly(header: string | undefined, token: string): boolean {
  return header !== undefined && new RegExp(`^bearer +${token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "i").test(header);
}

export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
  readonly progress?: (line: string) => void;
}

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzSummary> {
  const fc = await import("fast-check");
  const started = performance.now();
  let requests = 0;
  const send = async (sent: Sent): Promise<{ status: number; headers: Headers; body: Uint8Array }> => {
    requests++;
    const request = new Request(sent.url, { method: sent.method, headers: headersOf(sent.headers), ...(sent.method === "GET" ? {} : { body: sent.body.slice() }), redirect: "manual", signal: AbortSignal.timeout(15_000) });
    const response = await target.fetch(request);
    return { status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) };
  };
  const trust: TrustStore = {
    anchors: [
      ...loadPemCertificates(appleRootCaPem).map((certificate) => ({ label: "apple", certificate })),
      ...(target.testCa === undefined ? [] : [{ label: "test", certificate: target.testCa }]),
    ],
  };
  const text = (b: Uint8Array): string => new TextDecoder().decode(b);
  const json = (b: Uint8Array): unknown => {
    try {
      return JSON.parse(text(b));
    } catch {
      return undefined;
    }
  };
  const noServerError = (status: number): Judged | undefined => (status >= 500 ? { ruleId: "SEC-2", text: `answered ${status}` } : undefined);

  const failures: FuzzFailure[] = [];
  const summary: { step: string; runs: number; failed: boolean }[] = [];
  let index = 0;
  const runners: (() => Promise<void>)[] = [];
  const add = <T>(step: Step<T>): void => {
    const seed = (options.seed + index++) | 0;
    runners.push(() => runStep(step, seed));
  };
  const runStep = async <T>(step: Step<T>, seed: number): Promise<void> => {
    const problems = new Map<unknown, { judged: Judged; sent: Sent }>();
    const property = fc.asyncProperty(step.arbitrary, async (value) => {
      const sent = await step.build(value);
      let judged: Judged | undefined;
      try {
        const answer = await send(sent);
        judged = await step.judge(value, sent, answer.status, answer.headers, answer.body);
      } catch (error) {
        judged = { ruleId: "SEC-2", text: `no answer: ${error instanceof Error ? error.message : String(error)}` };
      }
      if (judged !== undefined) problems.set(value, { judged, sent });
      return judged === undefined;
    });
    options.progress?.(`  fuzz: ${step.name}, ${options.runs} runs (seed ${seed})`);
    const result = await fc.check(property, { numRuns: options.runs, seed, endOnFailure: false });
    summary.push({ step: step.name, runs: result.numRuns, failed: result.failed });
    if (result.failed && result.counterexample !== null) {
      const found = problems.get(result.counterexample[0]);
      const sent = found?.sent ?? (await step.build(result.counterexample[0]));
      failures.push({
        step: step.name,
        ruleId: found?.judged.ruleId ?? "SEC-2",
        text: found?.judged.text ?? "the property failed",
        curl: curlCommand(sent, target.device?.token),
        seed: result.seed,
        path: result.counterexamplePath ?? "",
      });
    }
  };

  add({
    name: "discovery (query mutations)",
    arbitrary: fc.record({
      user: fc.oneof(fc.string({ maxLength: 80 }), fc.emailAddress(), fc.constantFrom("", "@", "a@b", "<script>@x.example", "x@-.example")),
      family: fc.oneof(fc.constantFrom("iPhone", "iPad", "Mac", "RealityDevice", "AppleTV", "Watch", "", "iphone"), fc.string({ maxLength: 20 })),
      omit: fc.constantFrom("none", "user", "family", "both"),
    }),
    async build(v) {
      const url = new URL(target.wellKnownUrl);
      if (v.omit !== "user" && v.omit !== "both") url.searchParams.set("user-identifier", v.user);
      if (v.omit !== "family" && v.omit !== "both") url.searchParams.set("model-family", v.family);
      return { method: "GET", url: url.toString(), headers: {}, body: new Uint8Array() };
    },
    async judge(_v, _sent, status, headers, body) {
      if (status === 200) {
        const ok = isJsonMediaType(headers.get("content-type")) && ServerWellKnownResponse.safeParse(json(body)).success;
        return ok ? undefined : { ruleId: "DISCOVERY-10", text: `200 that is not the well-known document: ${text(body).slice(0, 120)}` };
      }
      if (status === 403 && !WellKnownFailed.safeParse(json(body)).success) return { ruleId: "DISCOVERY-11", text: `403 without a com.apple.well-known.failed body: ${text(body).slice(0, 120)}` };
      return noServerError(status);
    },
  });

  add({
    name: "first enroll (body and Content-Type mutations)",
    arbitrary: fc.record({
      bytes: mutateBytes(fc, target.enrollBody.length),
      type: fc.constantFrom("application/pkcs7-signature", "application/x-www-form-urlencoded", "application/octet-stream", "text/plain", ""),
    }),
    async build(v) {
      return { method: "POST", url: target.enrollUrl, headers: v.type === "" ? {} : { "content-type": v.type }, body: applyBytes(target.enrollBody, v.bytes) };
    },
    async judge(_v, sent, status, headers) {
      if (status >= 200 && status < 300) return { ruleId: "ENROLL-5", text: `a token-less enroll answered ${status}` };
      if (status === 401) {
        if (!parseChallenge(headers.get("www-authenticate")).ok) return { ruleId: "ENROLL-5", text: "401 without a valid challenge" };
        // Still a valid device-signed body? Then 401 is right; otherwise it had to be refused.
        const valid = parseEnrollRequestBody(sent.body).ok && (await verifyDeviceSignature(sent.body, trust)).ok;
        if (!valid) return { ruleId: "ENROLL-4", text: "a body that is not a valid device-signed enroll request was challenged (401) instead of refused (400)" };
      }
      if (status === 415) return { ruleId: "ENROLL-2", text: "415: the Content-Type must be ignored" };
      return noServerError(status);
    },
  });

  const oauth = target.oauth;
  if (oauth !== undefined) {
    const maybe = <T>(arb: import("fast-check").Arbitrary<T>) => fc.option(arb, { nil: undefined });
    add({
      name: "OAuth 2 token endpoint (form mutations)",
      arbitrary: fc.record({
        grant: fc.oneof(fc.constantFrom("authorization_code", "refresh_token", "client_credentials", "password", "implicit", ""), fc.string({ maxLength: 20 })),
        code: maybe(fc.string({ maxLength: 64 })),
        refresh: maybe(fc.string({ maxLength: 64 })),
        client: maybe(fc.oneof(fc.constant(oauth.clientId), fc.string({ maxLength: 20 }))),
        redirect: maybe(fc.oneof(fc.constant(oauth.redirectUrl), fc.constant(`${oauth.redirectUrl}/x`), fc.webUrl())),
        verifier: maybe(fc.string({ minLength: 1, maxLength: 64 })),
        duplicate: fc.boolean(),
      }),
      async build(v) {
        const form = new URLSearchParams();
        form.append("grant_type", v.grant);
        if (v.duplicate) form.append("grant_type", "authorization_code");
        if (v.code !== undefined) form.append("code", v.code);
        if (v.refresh !== undefined) form.append("refresh_token", v.refresh);
        if (v.client !== undefined) form.append("client_id", v.client);
        if (v.redirect !== undefined) form.append("redirect_uri", v.redirect);
        if (v.verifier !== undefined) form.append("code_verifier", v.verifier);
        return { method: "POST", url: oauth.tokenUrl, headers: { "content-type": "application/x-www-form-urlencoded" }, body: utf8.encode(form.toString()) };
      },
      async judge(v, _sent, status, headers, body) {
        if (status >= 500) return { ruleId: "SEC-2", text: `answered ${status}` };
        // The codes and refresh tokens here are made up: no answer may carry tokens.
        if (status >= 200 && status < 300) return { ruleId: v.grant === "refresh_token" ? "OAUTH-12" : v.grant === "authorization_code" ? "OAUTH-10" : "OAUTH-13", text: `tokens (${status}) for a made-up ${v.grant === "" ? "grant" : v.grant}` };
        const error = TokenErrorResponse.safeParse(json(body));
        if (!/no-store/i.test(headers.get("cache-control") ?? "") || !error.success || (status !== 400 && status !== 401)) {
          return { ruleId: "OAUTH-13", text: `an error answer ${status}, Cache-Control ${headers.get("cache-control") ?? "(none)"}: ${text(body).slice(0, 100)}` };
        }
        return undefined;
      },
    });
    add({
      name: "OAuth 2 authorization endpoint (query mutations)",
      arbitrary: fc.record({
        responseType: maybe(fc.oneof(fc.constantFrom("code", "token", "code id_token"), fc.string({ maxLength: 12 }))),
        client: maybe(fc.oneof(fc.constant(oauth.clientId), fc.string({ maxLength: 20 }))),
        redirect: maybe(fc.oneof(fc.constant(oauth.redirectUrl), fc.constant(`${oauth.redirectUrl}/x`), fc.constant(oauth.redirectUrl.toUpperCase()), fc.webUrl())),
        state: maybe(fc.string({ maxLength: 40 })),
        hint: maybe(fc.string({ maxLength: 40 })),
      }),
      async build(v) {
        const url = new URL(oauth.authorizationUrl);
        if (v.responseType !== undefined) url.searchParams.set("response_type", v.responseType);
        if (v.client !== undefined) url.searchParams.set("client_id", v.client);
        if (v.redirect !== undefined) url.searchParams.set("redirect_uri", v.redirect);
        if (v.state !== undefined) url.searchParams.set("state", v.state);
        if (v.hint !== undefined) url.searchParams.set("login_hint", v.hint);
        return { method: "GET", url: url.toString(), headers: {}, body: new Uint8Array() };
      },
      async judge(v, _sent, status, headers) {
        if (status >= 500) return { ruleId: "SEC-2", text: `answered ${status}` };
        const location = headers.get("location");
        if (status >= 300 && status < 400 && location !== null) {
          const registered = v.client === oauth.clientId && (v.redirect === undefined || v.redirect === oauth.redirectUrl);
          if (!registered || !location.startsWith(oauth.redirectUrl)) return { ruleId: "OAUTH-8", text: `a redirect to ${location.slice(0, 100)} for client_id ${JSON.stringify(v.client ?? null)} and redirect_uri ${JSON.stringify(v.redirect ?? null)}` };
          if (/[?&]code=/.test(location)) return { ruleId: "OAUTH-9", text: "a code without a sign-in" };
        }
        return undefined;
      },
    });
  }

  const device = target.device;
  if (device !== undefined) {
    add({
      name: "second enroll (Authorization mutations)",
      arbitrary: authorizationArbitrary(fc, device.token),
      async build(m) {
        const auth = authorizationOf(device.token, m);
        return { method: "POST", url: target.enrollUrl, headers: { "content-type": "application/pkcs7-signature", ...(auth === undefined ? {} : { authorization: headerSafe(auth) }) }, body: target.enrollBody };
      },
      async judge(_m, sent, status) {
        if (status === 200 && !isExactly(sent.headers["authorization"], device.token)) return { ruleId: "ENROLL2-2", text: `a profile (200) for Authorization ${JSON.stringify(sent.headers["authorization"] ?? null)}` };
        return noServerError(status);
      },
    });

    const signed = async (url: string, contentType: string, body: Uint8Array, authorization: string | undefined, sign = true): Promise<Sent> => {
      const signature = sign && device.identity !== undefined ? await signMdmMessage(body, device.identity, { chain: device.identity.chain }) : undefined;
      return {
        method: "PUT",
        url,
        headers: { "content-type": contentType, ...(authorization === undefined ? {} : { authorization: headerSafe(authorization) }), ...(signature === undefined ? {} : { "mdm-signature": signature }) },
        body,
      };
    };
    const tokenUpdate = (): Uint8Array => utf8.encode(buildPlist({ MessageType: "TokenUpdate", Topic: device.topic, PushMagic: "00000000-0000-4000-8000-00000000f022", Token: new Uint8Array(32), ...device.id }));

    add({
      name: "check-in (Authorization and Mdm-Signature mutations)",
      arbitrary: fc.record({ auth: authorizationArbitrary(fc, device.token), sign: fc.boolean() }),
      async build(v) {
        return signed(device.checkInUrl, "application/x-apple-aspen-mdm-checkin", tokenUpdate(), authorizationOf(device.token, v.auth), v.sign);
      },
      async judge(v, sent, status, headers) {
        const exact = isExactly(sent.headers["authorization"], device.token);
        if (status === 200 && !exact) return { ruleId: "ONGOING-7", text: `a check-in with Authorization ${JSON.stringify(sent.headers["authorization"] ?? null)} was accepted` };
        if (status === 200 && !v.sign && device.identity !== undefined) return { ruleId: "ONGOING-13", text: "an unsigned check-in was accepted under SignMessage" };
        if (status === 401 && !parseChallenge(headers.get("www-authenticate")).ok) return { ruleId: "ONGOING-7", text: "401 without the challenge" };
        return noServerError(status);
      },
    });

    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.boolean(), fc.uint8Array({ maxLength: 16 }), fc.constant(noValues));
    add({
      name: "check-in (message mutations, the valid token)",
      arbitrary: fc.record({
        base: fc.constantFrom("Authenticate", "TokenUpdate"),
        drop: fc.subarray(["Topic", "EnrollmentID", "UDID", "PushMagic", "Token", "OSVersion"]),
        set: fc.dictionary(fc.constantFrom("MessageType", "Topic", "EnrollmentID", "PushMagic", "Token", "UserID", "Extra"), value, { maxKeys: 3 }),
        bytes: fc.option(mutateBytes(fc, 400), { nil: undefined }),
      }),
      async build(v) {
        const base: Record<string, PlistValue> =
          v.base === "Authenticate"
            ? { MessageType: "Authenticate", Topic: device.topic, OSVersion: "18.2", BuildVersion: "22C152", ProductName: "iPhone17,2", ...device.id }
            : { MessageType: "TokenUpdate", Topic: device.topic, PushMagic: "00000000-0000-4000-8000-00000000f022", Token: new Uint8Array(32), ...device.id };
        for (const k of v.drop) delete base[k];
        for (const [k, val] of Object.entries(v.set)) base[k] = val;
        // Never a CheckOut: it would unenroll the fuzzer's device.
        if (base["MessageType"] === "CheckOut") base["MessageType"] = "TokenUpdate";
        let body: Uint8Array = utf8.encode(buildPlist(base));
        if (v.bytes !== undefined) body = applyBytes(body, v.bytes);
        if (/CheckOut/.test(new TextDecoder().decode(body))) body = utf8.encode(buildPlist({ ...base, MessageType: "TokenUpdate" }));
        return signed(device.checkInUrl, "application/x-apple-aspen-mdm-checkin", body, `Bearer ${device.token}`);
      },
      async judge(_v, _sent, status) {
        return noServerError(status);
      },
    });

    add({
      name: "command channel (report mutations, the valid token)",
      arbitrary: fc.record({
        status: fc.oneof(fc.constantFrom("Idle", "Acknowledged", "Error", "CommandFormatError", "NotNow"), fc.string({ maxLength: 20 })),
        uuid: fc.option(fc.oneof(fc.uuid(), fc.string({ maxLength: 40 })), { nil: undefined }),
        extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), value, { maxKeys: 3 }),
        bytes: fc.option(mutateBytes(fc, 200), { nil: undefined }),
      }),
      async build(v) {
        let body: Uint8Array = utf8.encode(buildPlist({ ...v.extra, Status: v.status, ...(v.uuid === undefined ? {} : { CommandUUID: v.uuid }), ...device.id }));
        if (v.bytes !== undefined) body = applyBytes(body, v.bytes);
        return signed(device.serverUrl, "application/x-apple-aspen-mdm", body, `Bearer ${device.token}`);
      },
      async judge(_v, _sent, status) {
        return noServerError(status);
      },
    });
  }

  for (const run of runners) await run();
  return { seed: options.seed, runsPerStep: options.runs, requests, durationMs: Math.round(performance.now() - started), steps: summary, failures };
}
