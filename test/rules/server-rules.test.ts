// Server-side rules over real HTTP: the generated server (createServer) with its runtime host, in
// process, asked through the generated client or with raw Requests. ONGOING-11 also through the
// pure harness (test/support/drive.ts), since no HTTP operation invalidates a token.
import { ContentInfo, EncapsulatedContent, EncapsulatedContentInfo, SignedData } from "@peculiar/asn1-cms";
import { AsnConvert, AsnParser, OctetString } from "@peculiar/asn1-schema";
import { describe, expect, it } from "vitest";
import { fromPromise, transition } from "xstate";
import { formFields } from "../../runtime/person.ts";
import * as client from "../../generated/client.generated.ts";
import { createServer, type ServerHost } from "../../generated/server.generated.ts";
import { EnrollmentRecord, readDiscoveryAnswer, serverMachine, toRecord, type BuildProfileInput, type BuildProfileOutput, type HttpAnswer } from "../../machines/index.ts";
import { hashToken } from "../../runtime/crypto.ts";
import { Directory, type DirectoryUserInput } from "../../runtime/directory.ts";
import { MemoryEnrollmentStore } from "../../runtime/memory-store.ts";
import { createServerHost, type ServerOptions } from "../../runtime/server-host.ts";
import {
  ServerWellKnownResponse,
  WellKnownFailed,
  buildDiscoveryRedirect,
  buildEnrollmentProfile,
  buildPlist,
  findMdmPayload,
  followRedirect,
  parseAuthenticationCallback,
  parseChallenge,
  parseEnrollRequestBody,
  parseEnrollmentProfile,
  profileViolations,
  type ConfigurationProfile,
  type EnrollmentMode,
  type PlistValue,
} from "../../spec/index.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "../../runtime/test-device-ca.ts";
import { serverDone, serverInput, serverSend, serverStart } from "../support/drive.ts";
import { alice, bob, realEnrollBody, seededRandom, testServer, type TestServer } from "../support/fixtures.ts";
import { checkInFacts } from "../support/drive.ts";

const origin = "https://mdm.example.com";
const enrollUrl = `${origin}/enroll/mdm-byod`;
const checkInUrl = `${origin}/mdm/checkin`;
const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const lifetimeMs = 3600 * 1000;
const utf8 = new TextEncoder();
const text = (a: HttpAnswer) => new TextDecoder().decode(a.body);
const json = (a: HttpAnswer): unknown => JSON.parse(text(a));

/** A quoted, comma-separated apple-as-web challenge naming this server's sign-in page (CHALLENGE-3). */
const asWebHeader = /^Bearer method="apple-as-web", url="https:\/\/mdm\.example\.com\/authenticate\/([A-Za-z0-9_-]{16,64})"$/;

// --- Bodies ---------------------------------------------------------------------------------------

const realSignedData = () => AsnParser.parse(AsnParser.parse(realEnrollBody, ContentInfo).content, SignedData);

// The server verifies every enroll body's signature (ENROLL-1), so a body other than the real one is
// signed by a device identity from a test CA, which these tests' servers trust (deviceTrust.testCa).
const testCa = await createTestDeviceCa({ random: seededRandom(31) });
const trustTestCa = { deviceTrust: { testCa: testCa.certificate } } as const;
const realContent = (() => {
  const parsed = parseEnrollRequestBody(realEnrollBody);
  if (!parsed.ok || parsed.value.signedData.content === undefined) throw new Error("the fixture carries its plist");
  return parsed.value.signedData.content;
})();

/** The real body's plist signed "by another device": a device identity of its own, from the test CA. */
async function otherDeviceBody(): Promise<Uint8Array> {
  return signEnrollBody(realContent, await issueDeviceIdentity(testCa, { random: seededRandom(32) }));
}

/** A plist signed like a device's, by a test-CA identity. */
async function testSignedBody(plist: Uint8Array): Promise<Uint8Array> {
  return signEnrollBody(plist, await issueDeviceIdentity(testCa, { random: seededRandom(33) }));
}

/** The real body with its eContent replaced (undefined: a detached signature). */
function withContent(content: Uint8Array | undefined): Uint8Array {
  const real = realSignedData();
  const encap = new EncapsulatedContentInfo({ eContentType: real.encapContentInfo.eContentType });
  if (content !== undefined) encap.eContent = new EncapsulatedContent({ single: new OctetString(content) });
  const sd = new SignedData({ version: real.version, digestAlgorithms: real.digestAlgorithms, encapContentInfo: encap, signerInfos: real.signerInfos });
  if (real.certificates) sd.certificates = real.certificates;
  return new Uint8Array(AsnConvert.serialize(new ContentInfo({ contentType: "1.2.840.113549.1.7.2", content: AsnConvert.serialize(sd) })));
}

function checkInBody(message: Record<string, PlistValue>): Uint8Array<ArrayBuffer> {
  return utf8.encode(buildPlist(message));
}

// --- Servers and flows ------------------------------------------------------------------------------

/** Like testServer(), with extra directory users and a chance to replace parts of the host. */
async function customServer(options: { readonly users?: readonly DirectoryUserInput[]; readonly host?: (host: ServerHost) => ServerHost; readonly overrides?: Partial<ServerOptions> } = {}): Promise<TestServer> {
  const random = seededRandom(11);
  const directory = await Directory.create([alice, bob, ...(options.users ?? [])], random, 1_000);
  const store = new MemoryEnrollmentStore();
  const clock = { now: Date.UTC(2026, 10, 22) };
  const host = createServerHost({
    publicBaseUrl: origin,
    organizationName: "Example Corp",
    domains: { "example.com": "mdm-byod", "corp.example": "mdm-byod" },
    directory,
    profile: { identifierPrefix: "com.example.mdm", topic, identity: { kind: "scep", url: `${origin}/scep`, challenge: "scep-challenge" }, accessRights: 8191 },
    store,
    random,
    now: () => clock.now,
    ...options.overrides,
  });
  const app = createServer(options.host === undefined ? host : options.host(host));
  return { fetch: (request) => app.request(request), store, clock };
}

interface Challenged {
  readonly answer: HttpAnswer;
  readonly url: string;
}

async function firstEnroll(server: TestServer, body: Uint8Array = realEnrollBody): Promise<Challenged> {
  const answer = await client.enroll(server.fetch, { url: enrollUrl, body });
  expect(answer.status).toBe(401);
  const challenge = parseChallenge(answer.headers["www-authenticate"]);
  if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error(`not an apple-as-web challenge: ${answer.headers["www-authenticate"]}`);
  return { answer, url: challenge.value.url };
}

/** Posts the sign-in form as the page would: with the anti-CSRF token of a freshly loaded page. */
async function submitSignIn(server: TestServer, url: string, form: { readonly username: string; readonly password: string }): Promise<HttpAnswer> {
  const page = await client.webAuthPage(server.fetch, { url });
  expect(page.status).toBe(200);
  const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
  return client.webAuthSubmit(server.fetch, { url, form: { ...form, csrf } });
}

async function signIn(server: TestServer, url: string, user: { readonly userIdentifier: string; readonly password: string } = alice): Promise<string> {
  const answer = await submitSignIn(server, url, { username: user.userIdentifier, password: user.password });
  expect(answer.status).toBe(308);
  const callback = parseAuthenticationCallback(answer.headers["location"] ?? "");
  if (!callback.ok) throw new Error(`no token in ${answer.headers["location"]}`);
  return callback.value.accessToken;
}

const secondEnroll = (server: TestServer, accessToken: string, body: Uint8Array = realEnrollBody) => client.enroll(server.fetch, { url: enrollUrl, body, accessToken });

const checkIn = (server: TestServer, accessToken: string | null, messageType = "Authenticate", enrollmentId = "ENR-A") =>
  client.checkIn(server.fetch, { url: checkInUrl, body: checkInBody({ MessageType: messageType, Topic: topic, EnrollmentID: enrollmentId }), accessToken });

/** A device through steps 4–19: challenged, signed in, profile delivered, first Authenticate check-in accepted. */
async function enrolledDevice(server: TestServer, options: { readonly body?: Uint8Array; readonly enrollmentId?: string } = {}) {
  const body = options.body ?? realEnrollBody;
  const enrollmentId = options.enrollmentId ?? "ENR-A";
  const challenged = await firstEnroll(server, body);
  const token = await signIn(server, challenged.url);
  const profile = await secondEnroll(server, token, body);
  expect(profile.status).toBe(200);
  const authenticated = await checkIn(server, token, "Authenticate", enrollmentId);
  expect(authenticated.status).toBe(200);
  return { token, challengeUrl: challenged.url, challengeHeader: challenged.answer.headers["www-authenticate"], enrollmentId, body };
}

/** A 401 carrying this enrollment's challenge and no profile. */
function expectChallenged(answer: HttpAnswer, challengeHeader?: string): void {
  expect(answer.status).toBe(401);
  expect(answer.headers["www-authenticate"]).toMatch(asWebHeader);
  if (challengeHeader !== undefined) expect(answer.headers["www-authenticate"]).toBe(challengeHeader);
  expect(answer.body.length).toBe(0);
  expect(answer.headers["content-type"]).toBeUndefined();
}

async function storedRecord(server: TestServer, deviceKeyOf: Uint8Array = realEnrollBody): Promise<unknown> {
  const parsed = parseEnrollRequestBody(deviceKeyOf);
  if (!parsed.ok) throw new Error("the body must parse");
  return server.store.transact([{ by: "device-key", deviceKey: parsed.value.deviceKey }], async (found) => ({ save: null, result: found }));
}

function profileFor(managedAppleId: string, mode: EnrollmentMode = "BYOD"): ConfigurationProfile {
  const built = buildEnrollmentProfile({
    organizationName: "Example Corp",
    identifierPrefix: "com.example.mdm",
    uuids: { profile: "5B0E7C1A-0000-4000-8000-000000000011", mdm: "5B0E7C1A-0000-4000-8000-000000000012", identity: "5B0E7C1A-0000-4000-8000-000000000013" },
    mdm: { ServerURL: `${origin}/mdm/server`, CheckInURL: checkInUrl, Topic: topic },
    enrollmentMode: mode,
    assignedManagedAppleID: managedAppleId,
    identity: { kind: "scep", url: `${origin}/scep` },
  });
  if (!built.ok) throw new Error(built.error.detail);
  return built.value;
}

/** A host whose buildProfile actor answers `make(input)` instead of building from the configuration. */
function withProfileBuilder(make: (input: BuildProfileInput) => unknown): (host: ServerHost) => ServerHost {
  return (host) => ({ ...host, actors: { ...host.actors, buildProfile: fromPromise<BuildProfileOutput, BuildProfileInput>(async ({ input }) => ({ profile: make(input) })) } });
}

// --- Steps 2–3 ----------------------------------------------------------------------------------------

describe("service discovery", () => {
  it("DISCOVERY-10 a known account gets 200 application/json with exactly one Servers item, a known Version and an absolute BaseURL", async () => {
    const server = await testServer();
    for (const [user, version] of [[alice.userIdentifier, "mdm-byod"], [bob.userIdentifier, "mdm-adde"]] as const) {
      const answer = await client.wellKnown(server.fetch, { origin, query: { "user-identifier": user, "model-family": "iPhone" } });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/json");
      const document = json(answer);
      expect(ServerWellKnownResponse.safeParse(document).success).toBe(true);
      expect(document).toEqual({ Servers: [{ Version: version, BaseURL: `${origin}/enroll/${version}` }] });
      // The device selects it, and the BaseURL is this server's enroll endpoint.
      const selected = readDiscoveryAnswer(answer, ["mdm-byod", "mdm-adde"]);
      expect(selected.ok && selected.value).toEqual({ version, baseUrl: `${origin}/enroll/${version}` });
      expect((await client.enroll(server.fetch, { url: `${origin}/enroll/${version}`, body: realEnrollBody })).status).toBe(401);
    }
  });

  it("DISCOVERY-11 an unknown domain or an unknown user gets 403 com.apple.well-known.failed with message and description", async () => {
    const server = await testServer();
    const descriptions: string[] = [];
    for (const user of ["alice@unknown.example", "mallory@example.com"]) {
      const answer = await client.wellKnown(server.fetch, { origin, query: { "user-identifier": user, "model-family": "iPhone" } });
      expect(answer.status).toBe(403);
      expect(answer.headers["content-type"]).toBe("application/json");
      const body = WellKnownFailed.safeParse(json(answer));
      expect(body.success).toBe(true);
      if (!body.success) continue;
      expect(body.data.message?.length).toBeGreaterThan(0);
      expect(body.data.description?.length).toBeGreaterThan(0);
      descriptions.push(body.data.description ?? "");
      // The device reads it as DISCOVERY-9 and shows the message.
      const read = readDiscoveryAnswer(answer, ["mdm-byod", "mdm-adde"]);
      expect(!read.ok && read.error).toEqual({ ruleId: "DISCOVERY-9", message: body.data.message });
    }
    expect(descriptions).toEqual(["unknown domain", "unknown user"]);
  });

  it("DISCOVERY-12 buildDiscoveryRedirect carries user-identifier and model-family itself, and the generated server sends it as the Location", async () => {
    const query = { "user-identifier": "alice+tag@example.com", "model-family": "iPad" };
    const target = "https://mdm2.example.com/.well-known/com.apple.remotemanagement?tenant=7&user-identifier=stale";
    const location = buildDiscoveryRedirect(target, query);
    const url = new URL(location);
    expect(url.origin + url.pathname).toBe("https://mdm2.example.com/.well-known/com.apple.remotemanagement");
    expect(url.searchParams.getAll("user-identifier")).toEqual([query["user-identifier"]]);
    expect(url.searchParams.getAll("model-family")).toEqual([query["model-family"]]);
    expect(url.searchParams.get("tenant")).toBe("7");
    // The device follows it as-is (DISCOVERY-8) and still has both parameters.
    const followed = new URL(followRedirect(`${origin}/.well-known/com.apple.remotemanagement?user-identifier=x&model-family=iPad`, location) ?? "");
    expect(followed.searchParams.get("user-identifier")).toBe(query["user-identifier"]);
    expect(followed.searchParams.get("model-family")).toBe(query["model-family"]);

    const server = await customServer({
      host: (host) => ({ ...host, discover: async (q) => ({ kind: "redirect", location: buildDiscoveryRedirect("https://mdm2.example.com/.well-known/com.apple.remotemanagement", q) }) }),
    });
    const answer = await server.fetch(new Request(`${origin}/.well-known/com.apple.remotemanagement?user-identifier=${encodeURIComponent(query["user-identifier"])}&model-family=iPad`));
    expect(answer.status).toBe(302);
    const sent = new URL(answer.headers.get("location") ?? "");
    expect(sent.searchParams.get("user-identifier")).toBe(query["user-identifier"]);
    expect(sent.searchParams.get("model-family")).toBe("iPad");
  });
});

// --- Steps 4–5 ----------------------------------------------------------------------------------------

describe("first enroll request", () => {
  const post = (server: TestServer, body: Uint8Array, headers: Record<string, string> = {}) =>
    server.fetch(new Request(enrollUrl, { method: "POST", headers, body: body.slice() }));

  it("ENROLL-2 the real body is read whatever the Content-Type: application/x-www-form-urlencoded, or none", async () => {
    const server = await testServer();
    const noType = new Request(enrollUrl, { method: "POST", body: realEnrollBody.slice() });
    expect(noType.headers.get("content-type")).toBeNull();
    for (const request of [noType, new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: realEnrollBody.slice() })]) {
      const answer = await server.fetch(request);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toMatch(asWebHeader);
    }
    // One enrollment, found by the device's signer.
    expect(server.store.size).toBe(1);
    expect(await storedRecord(server)).toMatchObject({ state: "challenged", context: { device: { PRODUCT: "iPhone12,1", VERSION: "19H12", LANGUAGE: "ja-JP" } } });
  });

  it("ENROLL-3 a body with extra plist keys is accepted over HTTP, and the parser keeps the keys", async () => {
    const info = { LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C161", SERIAL: "F2LXXXXXXXXX", FUTURE_KEY: { nested: [1, true] } };
    const body = await testSignedBody(utf8.encode(buildPlist(info)));
    const parsed = parseEnrollRequestBody(body);
    expect(parsed.ok && parsed.value.info).toEqual(info);
    const server = await testServer(trustTestCa);
    const answer = await post(server, body, { "content-type": "application/pkcs7-signature" });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toMatch(asWebHeader);
    // The server keeps the three documented keys of the device (the extra ones only at the parser).
    expect(await storedRecord(server, body)).toMatchObject({ context: { device: { LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C161" } } });
  });

  it("ENROLL-4 a body that is not CMS, is truncated, or carries no plist is answered 400 enroll.body-invalid; one over the size limit 413", async () => {
    const server = await testServer();
    const invalid: readonly Uint8Array[] = [
      utf8.encode(buildPlist({ LANGUAGE: "ja-JP", PRODUCT: "iPhone12,1", VERSION: "19H12" })),
      new Uint8Array([1, 2, 3, 4]),
      new Uint8Array(),
      realEnrollBody.subarray(0, realEnrollBody.length - 1),
      realEnrollBody.subarray(0, 100),
      withContent(undefined),
      withContent(utf8.encode("LANGUAGE=ja-JP&PRODUCT=iPhone12,1")),
      withContent(utf8.encode(buildPlist({ LANGUAGE: "ja-JP", VERSION: "19H12" }))),
    ];
    for (const body of invalid) {
      const answer = await post(server, body);
      expect(answer.status).toBe(400);
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      expect(answer.headers.get("www-authenticate")).toBeNull();
      expect(await answer.json()).toMatchObject({ code: "enroll.body-invalid", rule: "ENROLL-4" });
    }
    expect(server.store.size).toBe(0);
    const tooLarge = new Uint8Array(64 * 1024 + 1);
    tooLarge.set(realEnrollBody);
    const answer = await post(server, tooLarge);
    expect(answer.status).toBe(413);
    expect(await answer.json()).toMatchObject({ code: "request.too-large" });
  });

  it("ENROLL-5 an enroll request without Authorization gets 401, an empty body and an apple-as-web challenge under the server's base", async () => {
    const server = await testServer();
    const answer = await client.enroll(server.fetch, { url: enrollUrl, body: realEnrollBody });
    expect(answer.status).toBe(401);
    expect(answer.body.length).toBe(0);
    const challenge = parseChallenge(answer.headers["www-authenticate"]);
    expect(challenge.ok).toBe(true);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("apple-as-web expected");
    expect(challenge.value.url.startsWith(`${origin}/authenticate/`)).toBe(true);
    // The URL is this enrollment's sign-in page.
    const page = await client.webAuthPage(server.fetch, { url: `${challenge.value.url}?user-identifier=alice%40example.com` });
    expect(page.status).toBe(200);
    expect(text(page)).toContain('value="alice@example.com"');
  });

  it("CHALLENGE-3 the server's challenge is Bearer method=\"apple-as-web\", url=\"…\": quoted and comma-separated", async () => {
    const server = await testServer();
    const { answer, url } = await firstEnroll(server);
    const header = answer.headers["www-authenticate"] ?? "";
    expect(header).toMatch(asWebHeader);
    expect(header).toBe(`Bearer method="apple-as-web", url="${url}"`);
    // The same form on a challenged check-in.
    const other = await testServer();
    const enrolled = await enrolledDevice(other);
    const refused = await checkIn(other, null);
    expect(refused.headers["www-authenticate"]).toBe(enrolled.challengeHeader);
    expect(refused.headers["www-authenticate"]).toMatch(asWebHeader);
  });
});

// --- Steps 6–11 -----------------------------------------------------------------------------------------

describe("web authentication", () => {
  it("SIMPLE-4 a successful sign-in answers 308 to apple-remotemanagement-user-login://authentication-results?access-token=…, and the token authorizes the second enroll", async () => {
    const server = await testServer();
    const { url } = await firstEnroll(server);
    const answer = await submitSignIn(server, url, { username: alice.userIdentifier, password: alice.password });
    expect(answer.status).toBe(308);
    const location = answer.headers["location"] ?? "";
    expect(location).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=[A-Za-z0-9_-]{43}$/);
    expect(answer.headers["cache-control"]).toBe("no-store");
    const callback = parseAuthenticationCallback(location);
    if (!callback.ok) throw new Error("the device must read the token");
    const profile = await secondEnroll(server, callback.value.accessToken);
    expect(profile.status).toBe(200);
    expect(profile.headers["content-type"]).toBe("application/x-apple-aspen-config");
  });

  it("SIMPLE-5 a wrong password or unknown user answers 401 with the form again and never a Location", async () => {
    const server = await testServer();
    const { url } = await firstEnroll(server);
    for (const form of [{ username: alice.userIdentifier, password: "wrong" }, { username: "mallory@example.com", password: alice.password }]) {
      const answer = await submitSignIn(server, url, form);
      expect(answer.status).toBe(401);
      expect(answer.headers["location"]).toBeUndefined();
      expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(text(answer)).toContain("<form");
      expect(text(answer)).not.toContain("apple-remotemanagement-user-login");
    }
    // No token was issued: nothing authorizes the second enroll, and the right password still works.
    expect(await storedRecord(server)).toMatchObject({ state: "challenged", context: { tokenHash: null, pendingToken: null } });
    expect((await secondEnroll(server, await signIn(server, url))).status).toBe(200);
  });
});

// --- Steps 12–13 ----------------------------------------------------------------------------------------

describe("second enroll request", () => {
  it("ENROLL2-2 a malformed, unknown or other enrollment's token gets 401 and no profile", async () => {
    const server = await testServer(trustTestCa);
    const a = await firstEnroll(server);
    const tokenA = await signIn(server, a.url);
    const bBody = await otherDeviceBody();
    const b = await firstEnroll(server, bBody);
    expect(b.url).not.toBe(a.url);
    const tokenB = await signIn(server, b.url);
    expect(server.store.size).toBe(2);

    const raw = async (authorization: string) => client.toAnswer(await server.fetch(new Request(enrollUrl, { method: "POST", headers: { authorization }, body: realEnrollBody.slice() })));
    const refused = [
      await raw("Basic YWxpY2U6cGFzc3dvcmQ="),
      await raw("Bearer"),
      await raw("Bearer not a token"),
      await raw(`Bearer ${tokenA}!`),
      await secondEnroll(server, "bm90LWlzc3VlZC1ieS10aGlzLXNlcnZlcg"),
      await secondEnroll(server, tokenB),
    ];
    for (const answer of refused) expectChallenged(answer, a.answer.headers["www-authenticate"]);
    // Its own token still works, for each device.
    const profileA = await secondEnroll(server, tokenA);
    expect(profileA.status).toBe(200);
    expect((await secondEnroll(server, tokenB, bBody)).status).toBe(200);
  });

  it("ENROLL2-2 an expired token gets 401 and no profile; just before expiry it is accepted", async () => {
    const server = await testServer();
    const { url } = await firstEnroll(server);
    const issuedAt = server.clock.now;
    const token = await signIn(server, url);
    server.clock.now = issuedAt + lifetimeMs;
    expectChallenged(await secondEnroll(server, token));
    server.clock.now = issuedAt + lifetimeMs - 1;
    expect((await secondEnroll(server, token)).status).toBe(200);
  });

  it("ENROLL2-3 a valid token gets 200 application/x-apple-aspen-config with a profile that passes step 13 for the signed-in person", async () => {
    for (const [user, version, mode] of [[alice, "mdm-byod", "BYOD"], [bob, "mdm-adde", "ADDE"]] as const) {
      const server = await testServer();
      const first = await client.enroll(server.fetch, { url: `${origin}/enroll/${version}`, body: realEnrollBody });
      const challenge = parseChallenge(first.headers["www-authenticate"]);
      if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("apple-as-web expected");
      const token = await signIn(server, challenge.value.url, user);
      const answer = await client.enroll(server.fetch, { url: `${origin}/enroll/${version}`, body: realEnrollBody, accessToken: token });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/x-apple-aspen-config");
      const profile = parseEnrollmentProfile(answer.body);
      if (!profile.ok) throw new Error(profile.error.detail);
      expect(profileViolations(profile.value, version, { requireModeMatchesVersion: true })).toEqual([]);
      expect(findMdmPayload(profile.value)).toMatchObject({ EnrollmentMode: mode, AssignedManagedAppleID: user.managedAppleId, CheckInURL: checkInUrl });
    }
  });
});

// --- Step 13: the server checks its own profile ----------------------------------------------------------

describe("the server's own profile check", () => {
  async function enrollWith(server: TestServer, user: { readonly userIdentifier: string; readonly password: string }) {
    const { url } = await firstEnroll(server);
    const token = await signIn(server, url, user);
    return secondEnroll(server, token);
  }

  function expectMisconfigured(answer: HttpAnswer): Record<string, unknown> {
    expect(answer.status).toBe(500);
    expect(answer.headers["content-type"]).toBe("application/problem+json");
    const body = json(answer);
    expect(body).toMatchObject({ code: "profile.misconfigured" });
    expect(parseEnrollmentProfile(answer.body).ok).toBe(false);
    return typeof body === "object" && body !== null ? { ...body } : {};
  }

  it("PROFILE-6 a profile that would break step 13 is never delivered: 500 profile.misconfigured instead", async () => {
    // A directory whose Managed Apple Account is not an account (PROFILE-3 would fail on the device).
    const carol = { userIdentifier: "carol@example.com", password: "a third long passphrase", managedAppleId: "carol" };
    expectMisconfigured(await enrollWith(await customServer({ users: [carol] }), carol));
    // A profile builder that answers an ADDE profile to a BYOD enrollment (PROFILE-2 would fail).
    const adde = await customServer({ host: withProfileBuilder((input) => profileFor(input.managedAppleId, "ADDE")) });
    expectMisconfigured(await enrollWith(adde, alice));
    expect(await storedRecord(adde)).toMatchObject({ state: "authenticated" });
  });

  it("PROFILE-7 a profile naming another Managed Apple Account than the signed-in user's is never delivered", async () => {
    const server = await customServer({ host: withProfileBuilder(() => profileFor("mallory@appleid.example.com")) });
    const body = expectMisconfigured(await enrollWith(server, alice));
    expect(body["rule"]).toBe("PROFILE-7");
    // The same builder naming the right account is delivered.
    const right = await customServer({ host: withProfileBuilder((input) => profileFor(input.managedAppleId)) });
    const delivered = await enrollWith(right, alice);
    expect(delivered.status).toBe(200);
    const profile = parseEnrollmentProfile(delivered.body);
    expect(profile.ok && findMdmPayload(profile.value)?.AssignedManagedAppleID).toBe(alice.managedAppleId);
  });
});

// --- Step 19 and ongoing authorization -------------------------------------------------------------------

describe("ongoing authorization over check-in", () => {
  it("ONGOING-7 an Authenticate with the valid token is accepted; a wrong, missing or expired token gets 401 with the enrollment's challenge", async () => {
    const accepted = await testServer();
    const device = await enrolledDevice(accepted);
    expect((await checkIn(accepted, device.token, "Authenticate")).status).toBe(200);
    expect((await checkIn(accepted, device.token, "TokenUpdate")).status).toBe(400); // not a valid TokenUpdate: judged before authorization

    const cases: readonly [string, (s: TestServer, token: string) => Promise<HttpAnswer>][] = [
      ["wrong token", (s) => checkIn(s, "d3Jvbmctd3Jvbmctd3Jvbmc")],
      ["missing token", (s) => checkIn(s, null)],
      ["malformed token", async (s) => client.toAnswer(await s.fetch(new Request(checkInUrl, { method: "PUT", headers: { authorization: "Bearer a b" }, body: checkInBody({ MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-A" }) })))],
      [
        "expired token",
        (s, token) => {
          s.clock.now += lifetimeMs;
          return checkIn(s, token);
        },
      ],
      [
        "another enrollment's token",
        async (s) => {
          const b = await enrolledDevice(s, { body: await otherDeviceBody(), enrollmentId: "ENR-B" });
          return checkIn(s, b.token, "Authenticate", "ENR-A");
        },
      ],
    ];
    for (const [name, send] of cases) {
      const server = await testServer(trustTestCa);
      const enrolled = await enrolledDevice(server);
      const answer = await send(server, enrolled.token);
      expect(answer.status, name).toBe(401);
      expectChallenged(answer, enrolled.challengeHeader);
    }
  });

  it("ONGOING-8 CheckOut is accepted with an expired or a replaced token; the device is then unknown", async () => {
    const expired = await testServer();
    const a = await enrolledDevice(expired);
    expired.clock.now += lifetimeMs + 1;
    expect((await checkIn(expired, a.token, "Authenticate")).status).toBe(401);
    const out = await checkIn(expired, a.token, "CheckOut");
    expect(out.status).toBe(200);
    expect(out.body.length).toBe(0);
    expect(await storedRecord(expired)).toMatchObject({ state: "checkedOut", context: { tokenHash: null } });

    const replaced = await testServer();
    const b = await enrolledDevice(replaced);
    const fresh = await signIn(replaced, b.challengeUrl);
    expect(fresh).not.toBe(b.token);
    expect((await checkIn(replaced, b.token, "CheckOut")).status).toBe(200);
    // After CheckOut the enrollment answers check-ins as an unknown device (ONGOING-9).
    const after = await checkIn(replaced, fresh, "Authenticate");
    expect(after.status).toBe(403);
    expect(json(after)).toEqual({ code: "com.apple.unrecognized.device" });
  });

  it('ONGOING-9 a device the server does not know gets 403 {"code":"com.apple.unrecognized.device"}', async () => {
    const server = await testServer();
    await enrolledDevice(server);
    for (const answer of [await checkIn(server, null, "Authenticate", "ENR-UNKNOWN"), await checkIn(server, "dW5rbm93bi10b2tlbi0x", "Authenticate", "ENR-UNKNOWN"), await checkIn(await testServer(), null, "CheckOut", "ENR-A")]) {
      expect(answer.status).toBe(403);
      expect(answer.headers["content-type"]).toBe("application/json");
      expect(answer.headers["www-authenticate"]).toBeUndefined();
      expect(json(answer)).toEqual({ code: "com.apple.unrecognized.device" });
    }
  });

  it("ONGOING-10 after re-sign-in at the challenge URL the new token works and the old one gets 401", async () => {
    const server = await testServer();
    const device = await enrolledDevice(server);
    const fresh = await signIn(server, device.challengeUrl);
    expect(fresh).not.toBe(device.token);
    expect((await checkIn(server, fresh)).status).toBe(200);
    expect(await storedRecord(server)).toMatchObject({ context: { tokenHash: await hashToken(fresh) } });
    expectChallenged(await checkIn(server, device.token), device.challengeHeader);
    // Re-authentication is by the person who enrolled: another valid user cannot take the enrollment over.
    const stolen = await submitSignIn(server, device.challengeUrl, { username: bob.userIdentifier, password: bob.password });
    expect(stolen.status).toBe(401);
    expect(stolen.headers["location"]).toBeUndefined();
  });

  // Regression: a refused token once revoked the enrollment's valid token, so a stale request with the
  // replaced token (or any request naming the EnrollmentID) logged the device out.
  it("ONGOING-10 presenting the replaced token does not revoke its replacement", async () => {
    const server = await testServer();
    const device = await enrolledDevice(server);
    const fresh = await signIn(server, device.challengeUrl);
    expect((await checkIn(server, device.token)).status).toBe(401);
    expect((await checkIn(server, fresh)).status).toBe(200);
  });

  it("ONGOING-11 the server invalidates a token at any time: the next check-in is challenged until the person signs in again (harness)", () => {
    const device = serverInput.device;
    let s = serverSend(serverStart(), { type: "ENROLL", authorization: { kind: "missing" }, now: 0, device });
    expect(s.value).toBe("challenged");
    s = serverSend(s, { type: "SIGN_IN", username: alice.userIdentifier, password: alice.password, issuedToken: { hash: "hash-1", expiresAt: 10_000 } });
    s = serverDone(s, "verifyingCredentials", { ok: true, userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId });
    expect(s.value).toBe("authenticated");
    s = serverSend(s, { type: "ENROLL", authorization: { kind: "bearer", tokenHash: "hash-1" }, now: 1, device });
    s = serverDone(s, "buildingProfile", { profile: profileFor(alice.managedAppleId) });
    expect(s.value).toBe("profileDelivered");
    const checkInEvent = (tokenHash: string) => ({ type: "CHECK_IN", authorization: { kind: "bearer", tokenHash }, now: 2, ...checkInFacts, messageType: "Authenticate", enrollmentId: "ENR-A" }) as const;
    s = serverSend(s, checkInEvent("hash-1"));
    expect(s.value).toBe("enrolled");
    expect(s.context.reply).toEqual({ kind: "acknowledged" });

    s = serverSend(s, { type: "TOKEN_INVALIDATED" });
    expect(s.value).toBe("tokenInvalidated");
    expect(s.context).toMatchObject({ tokenHash: null, tokenExpiresAt: null, reply: null });
    s = serverSend(s, checkInEvent("hash-1"));
    expect(s.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });

    s = serverSend(s, { type: "SIGN_IN", username: alice.userIdentifier, password: alice.password, issuedToken: { hash: "hash-2", expiresAt: 10_000 } });
    s = serverDone(s, "verifyingCredentials", { ok: true, userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId });
    expect(s.value).toBe("reauthenticated");
    s = serverSend(s, checkInEvent("hash-2"));
    expect(s.context.reply).toEqual({ kind: "acknowledged" });
  });

  it("ONGOING-11 a token invalidated in the store is challenged over HTTP; signing in again restores check-in", async () => {
    const server = await testServer();
    const device = await enrolledDevice(server);
    await server.store.transact([{ by: "token-hash", tokenHash: await hashToken(device.token) }], async (found) => {
      const record = EnrollmentRecord.parse(found);
      const [next] = transition(serverMachine, serverMachine.resolveState({ value: record.state, context: record.context }), { type: "TOKEN_INVALIDATED" });
      return { save: toRecord(String(next.value), next.context), result: null };
    });
    expectChallenged(await checkIn(server, device.token), device.challengeHeader);
    const fresh = await signIn(server, device.challengeUrl);
    expect((await checkIn(server, fresh)).status).toBe(200);
  });
});

describe("token storage", () => {
  it("tokens are never stored in clear: after a full enrollment and a re-sign-in the record holds only hashes", async () => {
    const server = await testServer();
    const device = await enrolledDevice(server);
    const stored = await storedRecord(server);
    expect(JSON.stringify(stored)).not.toContain(device.token);
    expect(stored).toMatchObject({ state: "enrolled", context: { tokenHash: await hashToken(device.token), pendingToken: null, reply: null } });
    const fresh = await signIn(server, device.challengeUrl);
    const again = JSON.stringify(await storedRecord(server));
    expect(again).not.toContain(fresh);
    expect(again).not.toContain(device.token);
    expect(again).toContain(await hashToken(fresh));
  });
});
