// Bad input, every endpoint (issue 3, item 9): fast-check sends the generated server random and
// truncated DER, BER re-encodings, random bytes, oversized bodies, malformed plists (entity
// expansion, deep nesting, huge strings, bad UTF-8), bad and duplicated headers, wrong methods,
// unknown paths, bad query strings and markup in every reflected field. Every answer must be a 4xx
// with a clear error body (or the documented 2xx/3xx/401 of a valid-shaped request), never a 5xx,
// never a thrown exception, never an unexpected failure reported by the server (oracle.ts).
//
// Three servers: the generated server in process with the memory store (discovery, methods, paths,
// the sign-in page and form); the same over PGlite-backed storage for enroll and check-in; and the
// product app as `adenroll serve` builds it (createAdenroll: users, throttling and audit in PGlite
// too). On PGlite every enroll and check-in is followed by a look at the enrollments table: a
// rejected request leaves every row as it was and adds none, and every row still parses. The last
// block speaks raw HTTP/1.1 over a loopback socket (Content-Length that lies, repeated headers).
// A failing property prints its seed and counterexample (fast-check); replay with
// fc.assert(…, { seed, path }).
import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createAdenroll } from "../../runtime/app.ts";
import { loadConfigFile } from "../../runtime/config.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { createIdentityCa } from "../../runtime/identity-ca.ts";
import { signInPerson } from "../../runtime/person.ts";
import { appleRootCaPem } from "../../runtime/apple-root-ca.ts";
import { loadPemCertificates, verifyDeviceSignature, type TrustStore } from "../../runtime/device-signature.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody, type TestDeviceCa } from "../../runtime/test-device-ca.ts";
import { buildPlist, parseEnrollRequestBody, plistMaxDepth } from "../../spec/index.ts";
import { alice, realEnrollBody, seededRandom, testServer, type TestServer } from "../support/fixtures.ts";
import { listenOnLoopback } from "../support/http-server.ts";
import { Choices, concat, eContentOf, nestedOctets, reencodeSignedData, tlv, withEContent } from "./ber.ts";
import { base, expectNotReflected, inputValue, reportError, reported, send, skeleton, statusesOf, type Answer } from "./oracle.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const enrollUrl = `${base}/enroll/mdm-byod`;
const checkInUrl = `${base}/mdm/checkin`;
const wellKnownUrl = `${base}/.well-known/com.apple.remotemanagement`;
const utf8 = new TextEncoder();

const controlCharacter = /[\u0000-\u001f\u007f]/;

// Sign-in attempts are not throttled here, so that every fuzzed form reaches the password check.
const noThrottle = { maxFailures: 1_000_000, windowMs: 60_000 };

beforeAll(() => {
  // What the server logs of hostile input is not judged here; the answers are.
  vi.spyOn(console, "error").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});
afterEach(() => {
  reported.length = 0;
});

// ---------------------------------------------------------------------------------------------
// Generators

/** Any string of code points (control characters, NUL, astral planes), never a lone surrogate. */
const anyString = (maxLength = 40) => fc.string({ unit: "binary", maxLength });

/** Strings meant to break out of HTML, JSON, XML, headers and URLs. */
const hostile = fc.oneof(
  fc.constantFrom(
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '" autofocus onfocus="alert(1)',
    "</textarea></title><svg/onload=alert(1)>",
    "&lt;script&gt;",
    "&#60;script&#62;",
    "javascript:alert(1)",
    "\u0000\u0001\u001f\u007f",
    "a\r\nSet-Cookie: x=1",
    "<!--",
    "]]>",
    "%00%0d%0a",
    "\u202e\u2066",
    "😀".repeat(50),
  ),
  anyString(60),
  fc.array(fc.constantFrom("<", ">", '"', "'", "&", "=", " ", "/", "\\", ";", "#", "%", "+", "?", "@", "a", "é", "\u0000"), { maxLength: 40 }).map((a) => a.join("")),
);

/** A user-identifier around hostile text (sometimes a known account's). */
const userIdentifier = fc.oneof(
  fc.constantFrom(alice.userIdentifier, ` ${alice.userIdentifier.toUpperCase()} `, "bob@corp.example", "nobody@example.com", "alice@unknown.example", "@example.com", "alice@", "a@b", ""),
  fc.tuple(hostile, fc.constantFrom("", "@example.com", "@corp.example", "@x")).map(([h, d]) => `${h}${d}`),
  // A known account with a control character somewhere: it must not reach a lookup as it is.
  fc.tuple(fc.constantFrom("\u0000", "\u0001", "\t", "\n", "\u001b", "\u007f"), fc.nat(alice.userIdentifier.length)).map(([c, at]) => `${alice.userIdentifier.slice(0, at)}${c}${alice.userIdentifier.slice(at)}`),
  fc.string({ unit: "binary", minLength: 300, maxLength: 400 }),
);

/** A query string: well-formed items, raw bad percent-encoding, duplicates, stray separators. */
const queryString = fc.oneof(
  fc.array(fc.tuple(fc.constantFrom("user-identifier", "model-family", "x", "", "user-identifier[]", "USER-IDENTIFIER"), fc.oneof(userIdentifier, fc.constantFrom("iPhone", "iPad", "Mac", "", "x".repeat(65)))), { maxLength: 4 })
    .map((items) => items.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")),
  fc.array(fc.constantFrom("%", "%zz", "%E0%A4", "%FF%FE", "%C0%AF", "%00", "&", "=", "==", "&&", "+", "user-identifier", "model-family=iPhone", "user-identifier=alice@example.com", "#", "?", ";", "%2526"), { maxLength: 8 }).map((a) => a.join("")),
);

/** XML text for a string: escaped, or raw, or with character references to anything (even NUL). */
const xmlText = fc.oneof(
  anyString(30).map((s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;")),
  anyString(30),
  // Characters XML forbids (NUL above all: PostgreSQL refuses it in text and jsonb), as references and raw.
  fc.tuple(fc.constantFrom("&#0;", "&#x0;", "\u0000", "&#1;", "&#x1F;", "&#xD800;", "&#xDFFF;", "&#xFFFE;", "&#xFFFF;", "&#x110000;"), anyString(8)).map(([bad, s]) => `${s}${bad}${s}`),
  fc.array(fc.oneof(fc.integer({ min: 0, max: 0x10ffff + 10 }).map((n) => `&#${n};`), fc.integer({ min: 0, max: 0xffff }).map((n) => `&#x${n.toString(16)};`), fc.constant("x")), { maxLength: 6 }).map((a) => a.join("")),
);

/** A plist value as XML, well-formed or not. */
const plistValue: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    xmlText.map((t) => `<string>${t}</string>`),
    fc.constantFrom("<true/>", "<false/>", "<null/>", "<integer>12</integer>", "<integer>abc</integer>", "<integer>99999999999999999999999</integer>", "<real>nan</real>", "<date>2026-01-01T00:00:00Z</date>", "<date>yesterday</date>", "<data>AAEC</data>", "<data>!!!</data>", "<array/>", "<dict/>", "<string>", "</dict>", "<key>k</key>", "<plist/>", "<![CDATA[<x>]]>", "<!-- <dict> -->", "&undeclared;"),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => `<array>${items.join("")}</array>`),
    fc.array(fc.tuple(xmlText, tie("value")), { maxLength: 4 }).map((items) => `<dict>${items.map(([k, v]) => `<key>${k}</key>${v}`).join("")}</dict>`),
  ),
})).value;

const xmlHeader = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';

/** Entity expansion ("billion laughs"), external entities and other DTD tricks, around `inner`. */
function withEntities(kind: number, inner: string): string {
  const laughs = `<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? "" : i};`.repeat(10)}">`).join("")}`;
  switch (kind % 6) {
    case 0:
      return `<?xml version="1.0"?>\n<!DOCTYPE plist [${laughs}]>\n<plist version="1.0"><dict><key>MessageType</key><string>&lol9;</string>${inner}</dict></plist>`;
    case 1:
      return `<?xml version="1.0"?>\n<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<plist version="1.0"><dict><key>MessageType</key><string>&xxe;</string>${inner}</dict></plist>`;
    case 2:
      return `<?xml version="1.0"?>\n<!DOCTYPE plist SYSTEM "http://127.0.0.1:1/evil.dtd">\n<plist version="1.0"><dict><key>MessageType</key><string>&evil;</string>${inner}</dict></plist>`;
    case 3:
      return `<?xml version="1.0"?>\n<!doctype plist [ <!entity a "b"> ]>\n<plist version="1.0"><dict>${inner}</dict></plist>`;
    case 4:
      return `<?xml version="1.0"?>\n<!DOCTYPE plist [<!ELEMENT plist ANY><!ATTLIST plist version CDATA "1.0">]>\n<plist><dict>${inner}</dict></plist>`;
    default:
      return `<?xml version="1.0"?>\n<!-- <!ENTITY in a comment is harmless --><plist version="1.0"><dict><key>MessageType</key><string>&amp;&lt;&#60;</string>${inner}</dict></plist>`;
  }
}

/** `depth` nested arrays or dictionaries around `leaf`. */
function nested(depth: number, kind: "array" | "dict", leaf = "<string>x</string>"): string {
  const open = kind === "array" ? "<array>" : "<dict><key>k</key>";
  const close = kind === "array" ? "</array>" : "</dict>";
  return `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;
}

/** A check-in message: the keys a device sends, each sometimes wrong, plus fuzzed extras. */
const checkInDict = fc
  .record(
    {
      MessageType: fc.oneof(fc.constantFrom("Authenticate", "TokenUpdate", "CheckOut", "UserAuthenticate", "GetToken", "DeclarativeManagement", "SetBootstrapToken", ""), xmlText),
      Topic: fc.oneof(fc.constant(topic), xmlText),
      EnrollmentID: fc.oneof(fc.constantFrom("6C1AB2D4-0000-4000-8000-000000000001", ""), xmlText, fc.integer({ min: 200, max: 20_000 }).map((n) => "e".repeat(n))),
      UDID: fc.oneof(fc.constant("00008030-001A2B3C4D5E6F70"), xmlText),
      PushMagic: xmlText,
      Token: fc.constantFrom("<data>AAEC</data>", "<data>!</data>", "<string>AAEC</string>"),
      extra: fc.array(fc.tuple(xmlText, plistValue), { maxLength: 3 }),
    },
    { requiredKeys: ["MessageType"] },
  )
  .map(({ extra, Token, ...keys }) => {
    const items = Object.entries(keys).map(([k, v]) => `<key>${k}</key><string>${v}</string>`);
    if (Token !== undefined) items.push(`<key>Token</key>${Token}`);
    for (const [k, v] of extra ?? []) items.push(`<key>${k}</key>${v}`);
    return `<dict>${items.join("")}</dict>`;
  });

/** A check-in body: a plist document in one of many broken or hostile shapes. */
const checkInBody: fc.Arbitrary<Uint8Array> = fc.oneof(
  checkInDict.map((d) => utf8.encode(`${xmlHeader}<plist version="1.0">${d}</plist>`)),
  plistValue.map((v) => utf8.encode(`${xmlHeader}<plist version="1.0">${v}</plist>`)),
  fc.tuple(fc.nat(), checkInDict).map(([k, d]) => utf8.encode(withEntities(k, d.slice(6, -7)))),
  fc.tuple(fc.integer({ min: plistMaxDepth - 2, max: 12_000 }), fc.constantFrom<"array" | "dict">("array", "dict")).map(([depth, kind]) =>
    utf8.encode(`${xmlHeader}<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string><key>Topic</key><string>${topic}</string><key>UDID</key><string>u</string><key>Deep</key>${nested(depth, kind)}</dict></plist>`),
  ),
  fc.integer({ min: 1, max: 250_000 }).map((n) => utf8.encode(`${xmlHeader}<plist version="1.0"><dict><key>MessageType</key><string>TokenUpdate</string><key>Topic</key><string>${"t".repeat(n)}</string></dict></plist>`)),
  // Bad UTF-8, a UTF-16 BOM, a binary plist, OpenStep, JSON, nothing at all.
  fc.tuple(checkInDict, fc.constantFrom([0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff], [0xc0, 0xaf], [0xe0, 0x80])).map(([d, bad]) => {
    const doc = utf8.encode(`${xmlHeader}<plist version="1.0">${d}</plist>`);
    const at = doc.indexOf(0x3e, 60) + 1;
    return concat([doc.slice(0, at), Uint8Array.from(bad), doc.slice(at)]);
  }),
  fc.constantFrom(
    Uint8Array.of(0xff, 0xfe, 0x3c, 0x00, 0x70, 0x00),
    utf8.encode("bplist00\u00d1\u0001\u0002"),
    utf8.encode('{ MessageType = "Authenticate"; }'),
    utf8.encode('{"MessageType":"Authenticate"}'),
    utf8.encode(" \n\t "),
    new Uint8Array(),
    utf8.encode("\ufeff<plist/>"),
    utf8.encode(`<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string></dict></plist>${"\u0000".repeat(10)}`),
  ),
  fc.uint8Array({ maxLength: 2048 }),
);

/** Authorization header values, odd ones included. */
const authorization = fc.oneof(
  fc.constantFrom("", " ", "Bearer", "Bearer ", "Bearer  x", "bearer x", "BEARER x", "Bearer x y", "Bearer x\t", "Basic YWxpY2U6cHc=", "Bearer =", "Bearer ===", "Bearer a=b", "Bearer é", "Bearer \u00ff\u00fe", "Bearer, Bearer x", "Bearer x, Bearer y", "Token x", "Bearer null", "Bearer undefined"),
  fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,64}=*$/).map((t) => `Bearer ${t}`),
  fc.integer({ min: 4000, max: 20_000 }).map((n) => `Bearer ${"A".repeat(n)}`),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 80 }),
);

/** Adds Authorization values: none, one, or several (Headers joins repeated ones with ", "). */
function withAuthorization(headers: Headers, values: readonly string[]): Headers {
  for (const v of values) headers.append("authorization", v);
  return headers;
}

/** Byte-level mutations of a body. */
type Mutation =
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "flip"; readonly flips: readonly (readonly [number, number])[] }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly count: number }
  | { readonly kind: "overwrite"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "duplicate"; readonly at: number; readonly count: number }
  | { readonly kind: "append"; readonly bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((at) => ({ kind: "truncate" as const, at })),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => ({ kind: "flip" as const, flips })),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, bytes]) => ({ kind: "insert" as const, at, bytes })),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })).map(([at, count]) => ({ kind: "delete" as const, at, count })),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 32 })).map(([at, bytes]) => ({ kind: "overwrite" as const, at, bytes })),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 400 })).map(([at, count]) => ({ kind: "duplicate" as const, at, count })),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => ({ kind: "append" as const, bytes })),
);

function mutate(body: Uint8Array, m: Mutation): Uint8Array {
  const n = body.length;
  switch (m.kind) {
    case "truncate":
      return body.slice(0, m.at % n);
    case "flip": {
      const out = body.slice();
      for (const [at, mask] of m.flips) out[at % n] = (out[at % n] ?? 0) ^ mask;
      return out;
    }
    case "insert":
      return concat([body.slice(0, m.at % (n + 1)), m.bytes, body.slice(m.at % (n + 1))]);
    case "delete":
      return concat([body.slice(0, m.at % n), body.slice((m.at % n) + m.count)]);
    case "overwrite": {
      const out = body.slice();
      out.set(m.bytes.slice(0, n - (m.at % n)), m.at % n);
      return out;
    }
    case "duplicate":
      return concat([body.slice(0, (m.at % n) + m.count), body.slice(m.at % n)]);
    case "append":
      return concat([body, m.bytes]);
  }
}

/** An arbitrary BER-ish TLV tree (random tags, length forms, nesting). */
const tlvTree: fc.Arbitrary<Uint8Array> = fc.letrec<{ node: Uint8Array }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.uint8Array({ maxLength: 40 }), fc.constantFrom<"minimal" | "padded">("minimal", "padded")).map(([t, c, f]) => tlv(t & ~0x20, c, f)),
    fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.array(tie("node"), { maxLength: 4 }), fc.constantFrom<"minimal" | "padded" | "indefinite">("minimal", "padded", "indefinite")).map(([t, kids, f]) => tlv(t | 0x20, concat(kids), f)),
  ),
})).node;

// ---------------------------------------------------------------------------------------------
// In process, memory store: discovery, methods and paths, the sign-in page and form.

describe("fuzz: every endpoint answers bad input with a clear 4xx (memory store)", () => {
  let server: TestServer;
  let ref: string;
  let pageUrl: string;

  beforeAll(async () => {
    server = await testServer({ reportError, throttle: noThrottle });
    const first = await send(server.fetch, new Request(enrollUrl, { method: "POST", body: realEnrollBody }));
    expect(first.status).toBe(401);
    pageUrl = /url="([^"]+)"/.exec(first.headers.get("www-authenticate") ?? "")?.[1] ?? "";
    ref = pageUrl.slice(pageUrl.lastIndexOf("/") + 1);
    expect(ref).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("discovery: random user-identifiers and query strings get 200 (known account), 403 or 400 — nothing reflected", async () => {
    await fc.assert(
      fc.asyncProperty(queryString, fc.constantFrom("GET", "HEAD"), async (query, method) => {
        const a = await send(server.fetch, new Request(`${wellKnownUrl}?${query}`, { method }));
        if (a.status === 200 && method === "GET") {
          const first = new URL(a.url).searchParams.get("user-identifier")?.trim().toLowerCase();
          expect(["alice@example.com", "bob@corp.example"]).toContain(first);
        }
        // Nothing a client sent comes back: the answers are built from the directory and constants.
        const sent = new URL(a.url).searchParams.get("user-identifier") ?? "";
        expectNotReflected(a.text, sent, "");
      }),
      { numRuns: 250 },
    );
    // First of duplicated items wins; the query is not a place for a second identity.
    const dup = await send(server.fetch, new Request(`${wellKnownUrl}?user-identifier=nobody@example.com&user-identifier=alice@example.com&model-family=iPhone`));
    expect(dup.status).toBe(403);
  });

  it("wrong methods on every path and unknown paths get 404 problem+json", async () => {
    const paths = ["/.well-known/com.apple.remotemanagement", "/enroll/mdm-byod", "/enroll/mdm-adde", `/authenticate/${"A".repeat(43)}`, "/mdm/checkin", "/", "/enroll", "/authenticate/", "/mdm", "/.well-known/"];
    const method = fc.oneof(
      fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "MKCOL", "get", "Post", "purge"),
      fc.stringMatching(/^[A-Za-z]{1,12}$/).filter((m) => !["CONNECT", "TRACE", "TRACK"].includes(m.toUpperCase())),
    );
    const path = fc.oneof(
      fc.constantFrom(...paths),
      fc.constantFrom(...paths).map((p) => `${p}/`),
      fc.constantFrom(...paths).map((p) => p.toUpperCase()),
      fc.constantFrom("//enroll/mdm-byod", "/enroll/mdm-byod/x", "/enroll/MDM-BYOD", "/enroll/%6Ddm-byod", "/enroll/mdm-byod%00", "/enroll/..%2Fmdm-byod", "/authenticate/a/b", "/authenticate/%2e%2e", "/mdm/checkin;x", "/mdm/checkin%20", "/%2e%2e/%2e%2e/etc/passwd", `/${"a/".repeat(2000)}`, `/x${"%".repeat(100)}`),
      fc.array(fc.oneof(fc.webSegment(), anyString(12).map(encodeURIComponent)), { minLength: 1, maxLength: 5 }).map((segments) => `/zz-${segments.join("/")}`),
    );
    await fc.assert(
      fc.asyncProperty(method, path, fc.option(fc.uint8Array({ maxLength: 256 }), { nil: undefined }), async (m, p, body) => {
        const request = new Request(`${base}${p}`, { method: m, ...(body === undefined || ["GET", "HEAD"].includes(m.toUpperCase()) ? {} : { body }) });
        const a = await send(server.fetch, request, [...new Set(Object.values(statusesOf).flat())]);
        if (a.route === "none") expect(a.status).toBe(404);
      }),
      { numRuns: 300 },
    );
  });

  it("sign-in page: markup in user-identifier comes back escaped, exactly as sent; bad refs and queries are refused with a page", async () => {
    const baseline = await send(server.fetch, new Request(`${pageUrl}?user-identifier=plain`));
    expect(baseline.status).toBe(200);
    const shape = skeleton(baseline.text);
    await fc.assert(
      fc.asyncProperty(userIdentifier, async (id) => {
        const a = await send(server.fetch, new Request(`${pageUrl}?user-identifier=${encodeURIComponent(id)}`));
        if ([...id].length > 320) {
          // Zod counts code points.
          expect(a.status).toBe(400);
          return;
        }
        expect(a.status).toBe(200);
        // The value round-trips through the attribute, and the page keeps its structure.
        expect(inputValue(a.text, "username")).toBe(id);
        expect(skeleton(a.text)).toBe(shape);
        expectNotReflected(a.text, id, baseline.text);
      }),
      { numRuns: 200 },
    );
    const unknownPage = await send(server.fetch, new Request(`${base}/authenticate/${"C".repeat(43)}`));
    expect(unknownPage.status).toBe(404);
    const refs = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/),
      fc.constantFrom("", "a", "A".repeat(15), "A".repeat(65), "%3Cscript%3E", "..", "%2F", encodeURIComponent("<svg onload=alert(1)>")),
      anyString(80).map(encodeURIComponent),
    );
    await fc.assert(
      fc.asyncProperty(refs, fc.oneof(queryString, hostile.map((h) => `user-identifier=${encodeURIComponent(h)}`)), fc.constantFrom("GET", "HEAD"), async (r, query, method) => {
        const a = await send(server.fetch, new Request(`${base}/authenticate/${r}?${query}`, { method }));
        if (a.route === "web-auth-page" && r !== ref) expect([400, 404]).toContain(a.status);
        const sent = decodeURIComponent(r);
        expectNotReflected(a.text, sent, unknownPage.text);
      }),
      { numRuns: 200 },
    );
  });

  it("sign-in form: random fields, content types and sizes; a failed attempt shows the user name escaped", async () => {
    const csrfOf = async (): Promise<string> => inputValue((await send(server.fetch, new Request(pageUrl))).text, "csrf") ?? "";
    const csrf = await csrfOf();
    const failed = await send(server.fetch, new Request(pageUrl, { method: "POST", body: new URLSearchParams({ csrf, username: "plain", password: "wrong" }) }));
    expect(failed.status).toBe(401);
    const failedShape = skeleton(failed.text);

    // A well-formed form with this page's token and a wrong password: 401, the form again, prefilled.
    await fc.assert(
      fc.asyncProperty(userIdentifier.filter((u) => u.length >= 1 && [...u].length <= 320), anyString(30).filter((p) => p.length > 0 && p !== alice.password), async (username, password) => {
        const a = await send(server.fetch, new Request(pageUrl, { method: "POST", body: new URLSearchParams({ csrf, username, password, action: "sign-in" }) }));
        if (controlCharacter.test(username)) {
          // No one types a control character; NUL cannot even be looked up in PostgreSQL.
          expect(a.status).toBe(400);
          return;
        }
        expect(a.status).toBe(401);
        expect(inputValue(a.text, "username")).toBe(username);
        expect(inputValue(a.text, "password")).toBe("");
        expect(skeleton(a.text)).toBe(failedShape);
        expectNotReflected(a.text, username, failed.text);
      }),
      { numRuns: 120 },
    );

    // Anything else: forged tokens, missing or repeated fields, other encodings, oversized bodies.
    const field = fc.tuple(fc.constantFrom("csrf", "username", "password", "action", "x", "csrf[]", ""), fc.oneof(hostile, fc.constant(csrf), fc.constantFrom("cancel", "sign-in", alice.userIdentifier, alice.password)));
    const body = fc.oneof(
      fc.array(field, { maxLength: 6 }).map((fields) => ({ type: "application/x-www-form-urlencoded", bytes: utf8.encode(fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")) })),
      fc.array(field, { maxLength: 4 }).map((fields) => ({
        type: "multipart/form-data; boundary=XyZ",
        bytes: utf8.encode(`${fields.map(([k, v]) => `--XyZ\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join("")}--XyZ--\r\n`),
      })),
      fc.constantFrom(
        { type: "multipart/form-data; boundary=XyZ", bytes: utf8.encode('--XyZ\r\nContent-Disposition: form-data; name="csrf"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n') },
        { type: "multipart/form-data", bytes: utf8.encode("--XyZ\r\n\r\n") },
        { type: "multipart/form-data; boundary=", bytes: utf8.encode("garbage") },
        { type: "application/json", bytes: utf8.encode(JSON.stringify({ csrf, username: "a", password: "b" })) },
        { type: "text/plain", bytes: utf8.encode("csrf=x&username=y&password=z") },
        { type: "", bytes: utf8.encode("csrf=x") },
        { type: "application/x-www-form-urlencoded, multipart/form-data", bytes: utf8.encode("csrf=x") },
        { type: "application/x-www-form-urlencoded; charset=utf-16", bytes: Uint8Array.of(0xff, 0xfe, 0x61, 0x00) },
        { type: "application/x-www-form-urlencoded", bytes: utf8.encode(`csrf=${csrf}&username=${"%".repeat(500)}&password=%E0%A4`) },
      ),
      fc.integer({ min: 16 * 1024 + 1, max: 40_000 }).map((n) => ({ type: "application/x-www-form-urlencoded", bytes: utf8.encode(`csrf=${csrf}&username=a&password=${"p".repeat(n)}`) })),
      fc.uint8Array({ maxLength: 1024 }).map((bytes) => ({ type: "application/x-www-form-urlencoded", bytes })),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async ({ type, bytes }, realRef) => {
        const url = realRef ? pageUrl : `${base}/authenticate/${"B".repeat(43)}`;
        const a = await send(server.fetch, new Request(url, { method: "POST", body: bytes, headers: type === "" ? {} : { "content-type": type } }));
        if (bytes.length > 16 * 1024) expect(a.status).toBe(413);
        if (!realRef) expect([400, 404, 413]).toContain(a.status);
        const text = new TextDecoder().decode(bytes);
        for (const bad of ["<script>", "<img src=x", "<svg/onload"]) if (text.includes(bad)) expect(a.text).not.toContain(bad);
      }),
      { numRuns: 200 },
    );
  });

  it("discovery and the sign-in page ignore duplicated and odd headers", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(authorization, { maxLength: 3 }), fc.array(fc.tuple(fc.constantFrom("content-type", "content-length", "host", "x-forwarded-for", "cookie", "accept"), fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 })), { maxLength: 4 }), async (auth, extra) => {
        for (const url of [`${wellKnownUrl}?user-identifier=alice@example.com&model-family=iPhone`, `${pageUrl}?user-identifier=alice@example.com`]) {
          const headers = withAuthorization(new Headers(), auth);
          for (const [k, v] of extra) headers.append(k, v);
          const a = await send(server.fetch, new Request(url, { headers }));
          expect(a.status).toBe(200);
        }
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Enroll and check-in on PGlite: nothing half-written.

/**
 * Sends enroll and check-in requests to `fetch` and looks at the enrollments table around each:
 * every row still parses, a refused request changes no row and adds none, an accepted enroll (401)
 * touches only its own device's row, and the status agrees with parsing and verifying the body.
 */
function tableChecks(fetch: () => (request: Request) => Response | Promise<Response>, storage: () => OpenedStorage, trust: () => TrustStore) {
  async function rows(): Promise<Map<string, string>> {
    const list = await storage().enrollments.listEnrollments({ limit: 100_000 });
    const out = new Map<string, string>();
    for (const row of list) {
      expect(row.trusted, row.trusted ? "" : `enrollment ${row.id} no longer parses: ${row.problem}`).toBe(true);
      if (row.trusted) out.set(row.id, JSON.stringify(row.record));
    }
    return out;
  }

  function deviceKeyOf(record: string): string {
    return (JSON.parse(record) as { context: { deviceKey: string } }).context.deviceKey;
  }

  async function enroll(body: Uint8Array, init: { headers?: Headers } = {}): Promise<Answer> {
    const before = await rows();
    const a = await send(fetch(), new Request(enrollUrl, { method: "POST", body: new Uint8Array(body), ...init }));
    const after = await rows();
    const parsed = parseEnrollRequestBody(body);
    if (body.length > 64 * 1024) expect(a.status).toBe(413);
    if (a.status === 401) {
      expect(parsed.ok).toBe(true);
      expect((await verifyDeviceSignature(body, trust())).ok).toBe(true);
    } else if (a.status === 400) {
      expect(parsed.ok && (await verifyDeviceSignature(body, trust())).ok).toBe(false);
    } else {
      expect(a.status).toBe(413);
    }
    const key = parsed.ok ? parsed.value.deviceKey : undefined;
    for (const [id, record] of after) {
      if (before.get(id) === record) continue;
      expect(a.status, `a refused enroll (${a.status}) changed or added enrollment ${id}`).toBe(401);
      expect(deviceKeyOf(record), "an enroll changed another device's enrollment").toBe(key);
    }
    for (const id of before.keys()) expect(after.has(id), `enrollment ${id} disappeared`).toBe(true);
    expect(after.size - before.size).toBeLessThanOrEqual(a.status === 401 ? 1 : 0);
    return a;
  }

  async function checkIn(body: Uint8Array, auth: readonly string[], statuses?: readonly number[]): Promise<Answer> {
    const before = await rows();
    const a = await send(fetch(), new Request(checkInUrl, { method: "PUT", body: new Uint8Array(body), headers: withAuthorization(new Headers({ "content-type": "application/x-apple-aspen-mdm-checkin" }), auth) }), statuses);
    const after = await rows();
    expect(after.size, "a check-in never creates an enrollment").toBe(before.size);
    if (a.status >= 400) expect(after, `a refused check-in (${a.status}) changed an enrollment`).toEqual(before);
    return a;
  }

  return { rows, enroll, checkIn };
}

const appleTrust = (): TrustStore => ({ anchors: loadPemCertificates(appleRootCaPem).map((certificate) => ({ label: "apple", certificate })) });

describe("fuzz: enroll and check-in on PGlite leave nothing half-written", () => {
  let storage: OpenedStorage;
  let server: TestServer;
  let ca: TestDeviceCa;
  let token: string;
  let trust: TrustStore;
  const { rows, enroll, checkIn } = tableChecks(() => server.fetch, () => storage, () => trust);

  async function signed(plist: Uint8Array): Promise<Uint8Array> {
    return signEnrollBody(plist, await issueDeviceIdentity(ca));
  }

  beforeAll(async () => {
    storage = await openStorage({ memory: true });
    ca = await createTestDeviceCa();
    trust = { anchors: [...appleTrust().anchors, { label: "test", certificate: ca.certificate }] };
    server = await testServer({ store: storage.enrollments, deviceTrust: { testCa: ca.certificate }, reportError, throttle: noThrottle });
    const done = await enrollDevice(
      { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: server.fetch, person: signInPerson({ username: alice.userIdentifier, password: alice.password }) },
    );
    expect(done.value).toEqual({ enrolled: "idle" });
    token = done.context.accessToken ?? "";
    expect((await rows()).size).toBe(1);
  }, 30_000);

  afterAll(async () => {
    await storage?.close();
  });

  it("enroll: truncated, flipped, inserted, deleted and overwritten bytes of the real body", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
        await enroll(mutations.reduce(mutate, realEnrollBody));
      }),
      { numRuns: 300 },
    );
  });

  it("enroll: every BER re-encoding of the real body (lengths, segmented eContent) still verifies; nesting past the bound is refused", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(1000), { minLength: 1, maxLength: 64 }), fc.integer({ min: 0, max: 4 }), async (choices, depth) => {
        const a = await enroll(reencodeSignedData(realEnrollBody, new Choices(choices), depth));
        expect(a.status).toBe(401);
      }),
      { numRuns: 150 },
    );
    const content = eContentOf(realEnrollBody);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 200 }), fc.boolean(), async (depth, indefinite) => {
        const a = await enroll(withEContent(realEnrollBody, nestedOctets(content, depth, indefinite)));
        // The CMS reader bounds nesting (32 levels in all); inside it the body is the same body.
        if (depth <= 20) expect(a.status).toBe(401);
        if (depth > 32) expect(a.status).toBe(400);
      }),
      { numRuns: 60 },
    );
  });

  it("enroll: random bytes, random TLV trees, empty and non-CMS bodies", async () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 4096 }),
      tlvTree,
      tlvTree.map((t) => tlv(0x30, concat([Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02), tlv(0xa0, t)]), "indefinite")),
      fc.constantFrom(new Uint8Array(), Uint8Array.of(0x30, 0x80), Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9), utf8.encode("<plist/>"), eContentOf(realEnrollBody)),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.array(authorization, { maxLength: 2 }), async (b, auth) => {
        const a = await enroll(b, { headers: withAuthorization(new Headers(), auth) });
        expect(a.status).toBe(400);
      }),
      { numRuns: 250 },
    );
  });

  it("enroll: validly signed bodies (test CA) whose plist is malformed, hostile or huge", async () => {
    const info = fc.record({ LANGUAGE: xmlText, PRODUCT: xmlText, VERSION: xmlText }, { requiredKeys: [] }).map((keys) => `<dict>${Object.entries(keys).map(([k, v]) => `<key>${k}</key><string>${v}</string>`).join("")}</dict>`);
    const content = fc.oneof(
      info.map((d) => `${xmlHeader}<plist version="1.0">${d}</plist>`),
      plistValue.map((v) => `${xmlHeader}<plist version="1.0">${v}</plist>`),
      fc.tuple(fc.nat(), info).map(([k, d]) => withEntities(k, d.slice(6, -7))),
      fc.integer({ min: plistMaxDepth - 2, max: 6000 }).map((depth) => `<plist version="1.0"><dict><key>LANGUAGE</key><string>en</string><key>PRODUCT</key><string>iPhone12,1</string><key>VERSION</key><string>19H12</string><key>X</key>${nested(depth, "array")}</dict></plist>`),
      fc.integer({ min: 1, max: 60_000 }).map((n) => buildPlist({ LANGUAGE: "en", PRODUCT: "p".repeat(n), VERSION: "19H12" })),
      hostile.map((h) => buildPlist({ LANGUAGE: h, PRODUCT: h, VERSION: h, UDID: h })),
    );
    const accepted = new Map<string, { PRODUCT: string; VERSION: string; LANGUAGE: string }>();
    await fc.assert(
      fc.asyncProperty(content, async (text) => {
        const body = await signed(utf8.encode(text));
        const a = await enroll(body);
        if (/&#0*;|&#x0*;|\u0000/.test(text)) expect(a.status).toBe(400);
        const parsed = parseEnrollRequestBody(body);
        if (a.status === 401 && parsed.ok) accepted.set(parsed.value.deviceKey, { PRODUCT: parsed.value.info.PRODUCT, VERSION: parsed.value.info.VERSION, LANGUAGE: parsed.value.info.LANGUAGE });
      }),
      { numRuns: 200 },
    );
    // Each accepted device has its row, holding the device facts it sent, byte for byte.
    const stored = new Map((await storage.enrollments.listEnrollments({ limit: 100_000 })).flatMap((row) => (row.trusted ? [[row.record.context.deviceKey, row.record.context.device] as const] : [])));
    for (const [key, device] of accepted) expect(stored.get(key)).toEqual(device);
  });

  it("enroll: bodies over 64 KiB, Content-Length lying low or high, declared but absent", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 64 * 1024 + 1, max: 300_000 }), fc.constantFrom<string | undefined>(undefined, "10", "0", "-1", "abc", "1e3", " 5 ", "65536", "99999999999999999999", "10, 20"), async (size, declared) => {
        const body = concat([realEnrollBody, new Uint8Array(size - realEnrollBody.length)]);
        const a = await enroll(body, { headers: new Headers(declared === undefined ? {} : { "content-length": declared }) });
        expect(a.status).toBe(413);
      }),
      { numRuns: 40 },
    );
    for (const declared of ["65537", "999999999", "1e9"]) {
      expect((await enroll(realEnrollBody, { headers: new Headers({ "content-length": declared }) })).status).toBe(413);
    }
    for (const declared of ["0", "10", "-5", "NaN", "65536"]) {
      expect((await enroll(realEnrollBody, { headers: new Headers({ "content-length": declared }) })).status).toBe(401);
    }
    // Exactly at the limit is read (and refused for what it is, not for its size).
    expect((await enroll(concat([realEnrollBody, new Uint8Array(64 * 1024 - realEnrollBody.length)]))).status).toBe(400);
    // A body that breaks off mid-stream (the client went away) is the request's fault.
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(realEnrollBody.slice(0, 1000));
        controller.error(new Error("connection reset"));
      },
    });
    const a = await send(server.fetch, new Request(enrollUrl, { method: "POST", body: broken, duplex: "half" } as RequestInit));
    expect(a.status).toBe(400);
  });

  it("enroll: Authorization variants on the real body all get the challenge", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(authorization, { maxLength: 3 }), async (auth) => {
        const a = await enroll(realEnrollBody, { headers: withAuthorization(new Headers({ "content-type": "application/x-www-form-urlencoded" }), auth) });
        expect(a.status).toBe(401);
      }),
      { numRuns: 100 },
    );
  });

  it("check-in: malformed plists, entity expansion, deep nesting, huge strings, bad UTF-8, odd Authorization", async () => {
    await fc.assert(
      fc.asyncProperty(checkInBody, fc.array(authorization, { maxLength: 2 }), async (body, auth) => {
        const a = await checkIn(body, auth);
        if (body.length > 256 * 1024) expect(a.status).toBe(413);
      }),
      { numRuns: 300 },
    );
  });

  it("check-in: the enrolled device's own token with fuzzed messages — refused ones change nothing", async () => {
    await fc.assert(
      fc.asyncProperty(checkInDict, fc.constantFrom([`Bearer ${token}`], [`Bearer ${token}`, "Bearer other"], [`bearer ${token}`], [`Bearer ${token}x`]), async (dict, auth) => {
        await checkIn(utf8.encode(`${xmlHeader}<plist version="1.0">${dict}</plist>`), auth, [...statusesOf["check-in"], 200]);
      }),
      { numRuns: 150 },
    );
  });

  it("check-in: over 256 KiB, lying Content-Length, and a body that breaks off", async () => {
    for (const size of [256 * 1024 + 1, 300_000, 1_000_000]) {
      expect((await checkIn(new Uint8Array(size).fill(0x3c), [])).status).toBe(413);
    }
    const before = await rows();
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(utf8.encode(`${xmlHeader}<plist version="1.0"><dict>`));
        controller.error(new Error("connection reset"));
      },
    });
    const a = await send(server.fetch, new Request(checkInUrl, { method: "PUT", body: broken, duplex: "half", headers: { authorization: `Bearer ${token}` } } as RequestInit));
    expect(a.status).toBe(400);
    expect(await rows()).toEqual(before);
  });

  // The bugs this fuzzing found, kept as plain reproductions.
  describe("regressions", () => {
    const authenticate = (id: string) => utf8.encode(`${xmlHeader}<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string><key>Topic</key><string>${topic}</string><key>EnrollmentID</key><string>${id}</string></dict></plist>`);

    it("a check-in whose EnrollmentID holds NUL (raw or &#0;) is a 400, not a PostgreSQL encoding error (500)", async () => {
      for (const id of ["a&#0;b", "a\u0000b", "&#x0;", "x&#xD800;"]) {
        for (const auth of [[], [`Bearer ${token}`]]) expect((await checkIn(authenticate(id), auth)).status).toBe(400);
      }
    });

    it("an authorized check-in with a 10 000-character EnrollmentID is a 400, not an index-row-size error (500)", async () => {
      const id = Array.from({ length: 10_000 }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7919) % 36]).join("");
      expect((await checkIn(authenticate(id), [`Bearer ${token}`])).status).toBe(400);
      const other = utf8.encode(`${xmlHeader}<plist version="1.0"><dict><key>MessageType</key><string>GetToken</string><key>EnrollmentID</key><string>${id}</string></dict></plist>`);
      expect((await checkIn(other, [`Bearer ${token}`])).status).toBe(400);
    });

    it("a check-in nested a few thousand levels deep is a 400, not a stack overflow (500)", async () => {
      for (const depth of [plistMaxDepth + 1, 3000, 5000, 8000]) {
        for (const kind of ["array", "dict"] as const) {
          const body = utf8.encode(`${xmlHeader}<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string><key>X</key>${nested(depth, kind)}</dict></plist>`);
          const a = await checkIn(body, []);
          expect(a.status).toBe(400);
          expect(a.text).toContain("nested deeper than");
        }
      }
      // Nesting up to the bound is still read.
      const fine = utf8.encode(`${xmlHeader}<plist version="1.0"><dict><key>MessageType</key><string>GetToken</string><key>X</key>${nested(plistMaxDepth - 1, "array")}</dict></plist>`);
      expect((await checkIn(fine, [])).status).toBe(403);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The product as `adenroll serve` builds it (runtime/app.ts): users, throttling and the audit log
// in storage too, so every field that reaches a query is fuzzed against PGlite.

describe("fuzz: the product app (createAdenroll over PGlite, examples/byod-simple.yaml)", () => {
  let storage: OpenedStorage;
  let fetch: (request: Request) => Promise<Response>;
  let pageUrl: string;
  const { rows, enroll, checkIn } = tableChecks(() => fetch, () => storage, appleTrust);

  beforeAll(async () => {
    storage = await openStorage({ memory: true });
    const config = await loadConfigFile(new URL("../../examples/byod-simple.yaml", import.meta.url).pathname, { scryptCost: 1_000 });
    const log = { info: () => undefined, warn: () => undefined, error: (message: string) => void reported.push(message) };
    const adenroll = await createAdenroll(config, { storage, log, scryptCost: 1_000, throttle: noThrottle, identityCa: await createIdentityCa({ random: seededRandom(5) }) });
    fetch = adenroll.fetch;
    const first = await send(fetch, new Request(enrollUrl, { method: "POST", body: realEnrollBody }));
    pageUrl = /url="([^"]+)"/.exec(first.headers.get("www-authenticate") ?? "")?.[1] ?? "";
    expect(pageUrl).toMatch(/^https:\/\/mdm\.example\.com\/authenticate\//);
  }, 30_000);

  afterAll(async () => {
    await storage?.close();
  });

  /** Users, the audit log and the enrollments all still read back after a batch. */
  async function storageReadsBack(): Promise<void> {
    await rows();
    expect((await storage.users.list()).map((u) => u.userIdentifier)).toEqual(["alice@example.com"]);
    await storage.audit.list({ limit: 100_000 });
  }

  it("discovery: random, hostile and control-character user-identifiers (looked up in storage)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(queryString, userIdentifier.map((id) => `user-identifier=${encodeURIComponent(id)}&model-family=iPhone`)), async (query) => {
        const a = await send(fetch, new Request(`${wellKnownUrl}?${query}`));
        if (a.status === 200) expect(new URL(a.url).searchParams.get("user-identifier")?.trim().toLowerCase()).toBe("alice@example.com");
      }),
      { numRuns: 200 },
    );
    await storageReadsBack();
  });

  it("regression: a user-identifier or user name holding NUL is a 400, not a PostgreSQL encoding error (500)", async () => {
    for (const id of ["alice%00@example.com", "%00alice%40example.com", "a%00b@example.com"]) {
      const a = await send(fetch, new Request(`${wellKnownUrl}?user-identifier=${id}&model-family=iPhone`));
      expect(a.status).toBe(400);
      expect(a.text).toContain("control character");
    }
    const csrf = inputValue((await send(fetch, new Request(pageUrl))).text, "csrf") ?? "";
    const signIn = await send(fetch, new Request(pageUrl, { method: "POST", body: new URLSearchParams({ csrf, username: "alice@example.com\u0000", password: "x" }) }));
    expect(signIn.status).toBe(400);
  });

  it("sign-in: the page and the form with hostile user names (throttling and audit in storage)", async () => {
    const csrf = inputValue((await send(fetch, new Request(pageUrl))).text, "csrf") ?? "";
    await fc.assert(
      fc.asyncProperty(userIdentifier, fc.oneof(anyString(20), fc.constantFrom("", "p\u0000w")), fc.boolean(), async (username, password, withCsrf) => {
        await send(fetch, new Request(`${pageUrl}?user-identifier=${encodeURIComponent(username)}`));
        const form = new URLSearchParams({ username, password, ...(withCsrf ? { csrf } : {}) });
        const a = await send(fetch, new Request(pageUrl, { method: "POST", body: form }));
        if (withCsrf && username.length > 0 && [...username].length <= 320 && password.length > 0 && !controlCharacter.test(username)) expect(a.status).toBe(401);
      }),
      { numRuns: 120 },
    );
    await storageReadsBack();
  });

  it("enroll: mutations of the real body and random bytes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => ms.reduce(mutate, realEnrollBody)), fc.uint8Array({ maxLength: 2048 }), tlvTree), fc.array(authorization, { maxLength: 2 }), async (body, auth) => {
        await enroll(body, { headers: withAuthorization(new Headers(), auth) });
      }),
      { numRuns: 120 },
    );
    await storageReadsBack();
  });

  it("check-in: malformed and hostile bodies", async () => {
    await fc.assert(
      fc.asyncProperty(checkInBody, fc.array(authorization, { maxLength: 2 }), async (body, auth) => {
        await checkIn(body, auth);
      }),
      { numRuns: 150 },
    );
    await storageReadsBack();
  });
});

// ---------------------------------------------------------------------------------------------
// Over a real socket: what only the wire can say (Content-Length that lies, repeated headers,
// bytes that are not ASCII, a client that goes away mid-body).

describe("fuzz: over a loopback socket", () => {
  let storage: OpenedStorage;
  let server: TestServer;
  let origin: { host: string; port: number };
  let close: () => Promise<void>;

  beforeAll(async () => {
    storage = await openStorage({ memory: true });
    server = await testServer({ store: storage.enrollments, reportError });
    const listening = await listenOnLoopback(server.fetch);
    const url = new URL(listening.origin);
    origin = { host: url.hostname, port: Number(url.port) };
    close = () => listening.close();
  });

  afterAll(async () => {
    await close?.();
    await storage?.close();
  });

  /** Writes raw bytes, optionally half-closes, and collects what comes back until the server closes or `waitMs` passes. */
  function exchange(parts: readonly Uint8Array[], options: { readonly end?: boolean; readonly waitMs?: number } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(origin.port, origin.host);
      const chunks: Buffer[] = [];
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(Buffer.concat(chunks).toString("latin1"));
      };
      const timer = setTimeout(done, options.waitMs ?? 1500);
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("end", done);
      socket.on("error", (error) => (chunks.length > 0 ? done() : reject(error)));
      socket.on("connect", () => {
        for (const part of parts) socket.write(part);
        if (options.end === true) socket.end();
      });
    });
  }

  const head = (lines: readonly string[]): Uint8Array => Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  const statusLines = (text: string): number[] => Array.from(text.matchAll(/HTTP\/1\.1 (\d{3})/g), (m) => Number(m[1]));

  it("Content-Length lying low, high, repeated or over the limit; chunked bodies over the limit", async () => {
    const post = (extra: readonly string[]) => head(["POST /enroll/mdm-byod HTTP/1.1", "Host: 127.0.0.1", "Connection: close", ...extra]);
    const cases: { name: string; parts: Uint8Array[]; end?: boolean; expect: (statuses: number[]) => void }[] = [
      { name: "declared low", parts: [post(["Content-Length: 100"]), realEnrollBody], expect: (s) => expect(s[0]).toBe(400) },
      { name: "declared over the limit, nothing sent", parts: [post(["Content-Length: 70000"])], expect: (s) => expect(s).toEqual([413]) },
      { name: "declared 2^53", parts: [post(["Content-Length: 9007199254740993"])], expect: (s) => expect(s[0]).toBeGreaterThanOrEqual(400) },
      { name: "declared twice, differently", parts: [post(["Content-Length: 3416", "Content-Length: 10"]), realEnrollBody], expect: (s) => expect(s[0]).toBe(400) },
      { name: "declared negative", parts: [post(["Content-Length: -1"]), realEnrollBody], expect: (s) => expect(s[0]).toBe(400) },
      {
        name: "chunked, over the limit",
        parts: [post(["Transfer-Encoding: chunked"]), ...Array.from({ length: 20 }, () => Buffer.concat([Buffer.from("1000\r\n"), Buffer.alloc(0x1000, 0x41), Buffer.from("\r\n")])), Buffer.from("0\r\n\r\n")],
        expect: (s) => expect(s[0]).toBe(413),
      },
      { name: "declared high, then the client goes away", parts: [post(["Content-Length: 5000"]), realEnrollBody], end: true, expect: (s) => expect(s.every((x) => x === 400)).toBe(true) },
    ];
    for (const c of cases) {
      const text = await exchange(c.parts, { end: c.end ?? false, waitMs: 1000 });
      const statuses = statusLines(text);
      c.expect(statuses);
      expect(statuses.every((s) => s < 500), `${c.name}: ${text.slice(0, 200)}`).toBe(true);
      expect(reported, c.name).toEqual([]);
    }
  });

  it("repeated, non-ASCII and very long Authorization headers on the wire", async () => {
    const lines = (auth: readonly string[]) => [
      "POST /enroll/mdm-byod HTTP/1.1",
      "Host: 127.0.0.1",
      "Connection: close",
      `Content-Length: ${realEnrollBody.length}`,
      ...auth.map((a) => `Authorization: ${a}`),
    ];
    const cases: { auth: string[]; utf8?: boolean; expected: number }[] = [
      { auth: ["Bearer a", "Bearer b"], expected: 401 },
      { auth: ["", "Bearer x"], expected: 401 },
      { auth: ["Bearer ☃"], utf8: true, expected: 401 },
      { auth: ["Bearer é€"], utf8: true, expected: 401 },
      { auth: ["Bearer \u00ff"], expected: 401 },
      { auth: [`Bearer ${"A".repeat(12_000)}`], expected: 401 },
      // Node's own limit on the header section (16 KiB): 431, before the app sees anything.
      { auth: [`Bearer ${"A".repeat(20_000)}`], expected: 431 },
    ];
    for (const c of cases) {
      const headBytes = Buffer.from(`${lines(c.auth).join("\r\n")}\r\n\r\n`, c.utf8 === true ? "utf8" : "latin1");
      const statuses = statusLines(await exchange([headBytes, realEnrollBody]));
      expect(statuses, c.auth.join(" | ").slice(0, 60)).toEqual([c.expected]);
      expect(reported).toEqual([]);
    }
    // user-identifier in raw UTF-8 and raw markup on the request line.
    const get = (target: string) => Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, "utf8");
    for (const target of ["/.well-known/com.apple.remotemanagement?user-identifier=ålice@example.com&model-family=iPhone", "/.well-known/com.apple.remotemanagement?user-identifier=<b>@example.com&model-family=\"x\"", "/.well-known/com.apple.remotemanagement?%%%"]) {
      const text = await exchange([get(target)]);
      const [status] = statusLines(text);
      expect([400, 403]).toContain(status);
      expect(text).not.toContain("<b>");
    }
    expect(reported).toEqual([]);
  });
});
