// ONGOING-12 and ONGOING-13 on the server machine (pure harness): Mdm-Signature as what authorizes a
// Mac's token-less device channel, and as a requirement on every request under SignMessage.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import type { AuthorizationFact, HttpAnswer, SignatureFact } from "../../machines/index.ts";
import { loadPemCertificates } from "../../runtime/device-signature.ts";
import { createIdentityCa, identityIssuer } from "../../runtime/identity-ca.ts";
import { identityFromPkcs12, signMdmMessage, type Pkcs12Identity } from "../../runtime/mdm-signature.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "../../runtime/test-device-ca.ts";
import { Pkcs12Payload, buildPlist, type PlistValue } from "../../spec/index.ts";
import { checkInFacts, serverDone, serverInput, serverSend, serverStart, testProfile, type ServerSnapshot } from "../support/drive.ts";
import { alice, seededRandom, testServer, type TestServer } from "../support/fixtures.ts";
import { enrollOverHttp } from "../support/enroll-over-http.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";

/** An enrollment through profile delivery on `product`, its identity pinned when `fingerprint` is given. */
function delivered(product: string, fingerprint?: string): ServerSnapshot {
  const device = { ...serverInput.device, PRODUCT: product };
  let s = serverSend(serverStart(), { type: "ENROLL", authorization: { kind: "missing" }, now: 0, device });
  s = serverSend(s, { type: "SIGN_IN", username: alice.userIdentifier, password: alice.password, issuedToken: { hash: "hash-1", expiresAt: 10_000 }, csrfValid: true });
  s = serverDone(s, "verifyingCredentials", { ok: true, userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId });
  s = serverSend(s, { type: "ENROLL", authorization: { kind: "bearer", tokenHash: "hash-1" }, now: 1, device });
  s = serverDone(s, "buildingProfile", fingerprint === undefined ? { profile: testProfile({ managedAppleId: alice.managedAppleId }) } : { profile: testProfile({ managedAppleId: alice.managedAppleId }), identityFingerprint: fingerprint });
  expect(s.value).toBe("profileDelivered");
  return s;
}

const valid = (signerFingerprint: string): SignatureFact => ({ kind: "valid", signerFingerprint });
const noToken = { kind: "missing" } as const;
const token = { kind: "bearer", tokenHash: "hash-1" } as const;

function checkIn(s: ServerSnapshot, facts: { authorization: AuthorizationFact; signature?: SignatureFact; messageType?: string; userChannel?: boolean; signatureRequired?: boolean }) {
  return serverSend(s, {
    type: "CHECK_IN",
    now: 2,
    ...checkInFacts,
    enrollmentId: "UDID-1",
    messageType: facts.messageType ?? "Authenticate",
    authorization: facts.authorization,
    ...(facts.signature === undefined ? {} : { signature: facts.signature }),
    ...(facts.userChannel === undefined ? {} : { userChannel: facts.userChannel }),
    ...(facts.signatureRequired === undefined ? {} : { signatureRequired: facts.signatureRequired }),
  });
}

describe("ONGOING-12: a Mac's device channel is authorized by its signature", () => {
  it("ONGOING-12 a token-less device-channel request from a Mac signed by the identity the profile carried is accepted and records its UDID", () => {
    const s = checkIn(delivered("Mac14,2", "fp-1"), { authorization: noToken, signature: valid("fp-1") });
    expect(s.context.reply).toEqual({ kind: "acknowledged" });
    expect(s.value).toBe("enrolled");
    expect(s.context.enrollmentId).toBe("UDID-1");
  });

  it("ONGOING-12 unsigned, signed by another identity, or invalid: refused with mdm.signature-invalid, nothing changes", () => {
    const start = delivered("MacBookPro18,1", "fp-1");
    for (const signature of [{ kind: "absent" } as const, { kind: "invalid" } as const, valid("fp-2")]) {
      const s = checkIn(start, { authorization: noToken, signature });
      expect(s.context.reply).toEqual({ kind: "error", code: "mdm.signature-invalid", ruleId: "ONGOING-12" });
      expect(s.value).toBe("profileDelivered");
      expect(s.context.enrollmentId).toBeNull();
    }
  });

  it("ONGOING-12 without a pinned identity (SCEP, before any signed request with the token) a Mac's device channel is refused", () => {
    const s = checkIn(delivered("Mac14,2"), { authorization: noToken, signature: valid("fp-1") });
    expect(s.context.reply).toMatchObject({ kind: "error", code: "mdm.signature-invalid" });
  });

  it("ONGOING-12 the user channel of a Mac and every request of an iPhone still need the token (401, not the signature path)", () => {
    const mac = checkIn(delivered("Mac14,2", "fp-1"), { authorization: noToken, signature: valid("fp-1"), userChannel: true });
    expect(mac.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
    const phone = checkIn(delivered("iPhone13,2", "fp-1"), { authorization: noToken, signature: valid("fp-1") });
    expect(phone.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
  });

  it("ONGOING-12 a signed CheckOut on a Mac's device channel checks the device out; revoking the person's token leaves the device channel working", () => {
    let s = checkIn(delivered("Mac14,2", "fp-1"), { authorization: noToken, signature: valid("fp-1") });
    s = serverSend(s, { type: "TOKEN_INVALIDATED" });
    expect(s.value).toBe("tokenInvalidated");
    const polled = checkIn(s, { authorization: noToken, signature: valid("fp-1"), messageType: "TokenUpdate" });
    expect(polled.context.reply).toEqual({ kind: "acknowledged" });
    expect(polled.value).toBe("tokenInvalidated");
    const out = checkIn(s, { authorization: noToken, signature: valid("fp-1"), messageType: "CheckOut" });
    expect(out.value).toBe("checkedOut");
  });
});

describe("ONGOING-13: under SignMessage every request is signed by the enrollment's identity", () => {
  it("ONGOING-13 a valid token without a signature, or with another identity's, is refused; with the pinned one it is accepted", () => {
    const start = delivered("iPhone13,2", "fp-1");
    expect(checkIn(start, { authorization: token, signatureRequired: true }).context.reply).toEqual({ kind: "error", code: "mdm.signature-invalid", ruleId: "ONGOING-13" });
    expect(checkIn(start, { authorization: token, signatureRequired: true, signature: { kind: "invalid" } }).context.reply).toMatchObject({ code: "mdm.signature-invalid" });
    expect(checkIn(start, { authorization: token, signatureRequired: true, signature: valid("fp-2") }).context.reply).toMatchObject({ code: "mdm.signature-invalid" });
    expect(checkIn(start, { authorization: token, signatureRequired: true, signature: valid("fp-1") }).context.reply).toEqual({ kind: "acknowledged" });
  });

  it("ONGOING-13 an identity the server did not issue is pinned by the first signed request with the valid token; another one is refused after that", () => {
    const first = checkIn(delivered("iPhone13,2"), { authorization: token, signatureRequired: true, signature: valid("scep-1") });
    expect(first.context.reply).toEqual({ kind: "acknowledged" });
    expect(first.context.identityFingerprint).toBe("scep-1");
    const other = checkIn(first, { authorization: token, signatureRequired: true, signature: valid("scep-2"), messageType: "TokenUpdate" });
    expect(other.context.reply).toMatchObject({ kind: "error", code: "mdm.signature-invalid" });
  });

  it("ONGOING-13 a request signed with the wrong token is not pinned: a stranger's signature cannot claim the enrollment", () => {
    const s = checkIn(delivered("iPhone13,2"), { authorization: { kind: "bearer", tokenHash: "stolen" }, signature: valid("evil") });
    expect(s.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
    expect(s.context.identityFingerprint).toBeNull();
  });
});

// --- Over HTTP: the generated server, PKCS#12 identities from the built-in CA, real signatures ------

const origin = "https://mdm.example.com";
const enc = new TextEncoder();
// Certificates valid from before the test servers' clock (testServer: 2026-11-22T00:00Z).
const issuedAt = () => Date.UTC(2026, 10, 21);
const identityCa = await createIdentityCa({ random: seededRandom(41), now: issuedAt });
const issueIdentity = identityIssuer(identityCa, { random: seededRandom(42), now: issuedAt });
const deviceCa = await createTestDeviceCa({ random: seededRandom(43) });
const caAnchor = loadPemCertificates(identityCa.certificatePem);

async function signedServer(options: { readonly signMessage: boolean }) {
  const server = await testServer({
    profile: { identifierPrefix: "com.example.mdm", topic, identity: { kind: "pkcs12-per-enrollment", issue: issueIdentity }, signMessage: options.signMessage },
    identityTrust: { anchors: caAnchor.map((certificate) => ({ label: "identity-ca", certificate })) },
    deviceTrust: { testCa: deviceCa.certificate },
  });
  return server;
}

/** An enroll body of a device whose PRODUCT is `product`, signed by a test device identity. */
async function enrollBodyFor(product: string, seed: number): Promise<Uint8Array> {
  const plist = enc.encode(buildPlist({ CHALLENGE: "", LANGUAGE: "en", PRODUCT: product, SERIAL: `SER${seed}`, UDID: `UDID-${seed}`, VERSION: "23A344" }));
  return signEnrollBody(plist, await issueDeviceIdentity(deviceCa, { random: seededRandom(seed) }));
}

/** Steps 4–13 over HTTP: the token and the PKCS#12 identity the profile carried. */
async function enrolled(server: TestServer, body: Uint8Array) {
  const device = await enrollOverHttp(server, { body });
  const payload = device.profile.PayloadContent.find((p) => p.PayloadType === "com.apple.security.pkcs12");
  const p12 = Pkcs12Payload.safeParse(payload);
  if (!p12.success || p12.data.Password === undefined) throw new Error("expected a PKCS#12 identity payload with its password");
  return { ...device, identity: await identityFromPkcs12(p12.data.PayloadContent, p12.data.Password) };
}

const checkInPlist = (message: Record<string, PlistValue>) => enc.encode(buildPlist({ Topic: topic, ...message }));

async function send(server: TestServer, channel: "checkin" | "command", body: Uint8Array, options: { readonly token?: string; readonly signer?: Pkcs12Identity | "none" }) {
  const signature = options.signer === undefined || options.signer === "none" ? null : await signMdmMessage(body, options.signer);
  const input = { url: `${origin}/mdm/${channel === "checkin" ? "checkin" : "server"}`, body, accessToken: options.token ?? null, signature };
  return channel === "checkin" ? client.checkIn(server.fetch, input) : client.command(server.fetch, input);
}

const problemCode = (answer: HttpAnswer): unknown => (JSON.parse(new TextDecoder().decode(answer.body)) as { code?: unknown }).code;

describe("ONGOING-12 over HTTP: a Mac's token-less device channel", () => {
  it("ONGOING-12 a Mac checks in and polls without a token, signed by the PKCS#12 identity its profile carried; unsigned or foreign-signed requests get 403 mdm.signature-invalid", async () => {
    const server = await signedServer({ signMessage: true });
    const mac = await enrolled(server, await enrollBodyFor("Mac14,2", 51));
    const stranger = await identityFromPkcs12Issued(52);

    // Before its first request nothing but the signature can name the enrollment: unsigned, it names none.
    const authenticate = checkInPlist({ MessageType: "Authenticate", UDID: "UDID-MAC" });
    const unsigned = await send(server, "checkin", authenticate, { signer: "none" });
    expect(unsigned.status).toBe(403);
    expect(problemCode(unsigned)).toBe("com.apple.unrecognized.device");
    expect((await send(server, "checkin", authenticate, { signer: stranger })).status).toBe(403);

    expect((await send(server, "checkin", authenticate, { signer: mac.identity })).status).toBe(200);
    const idle = enc.encode(buildPlist({ Status: "Idle", UDID: "UDID-MAC" }));
    expect((await send(server, "command", idle, { signer: mac.identity })).status).toBe(200);
    // Once it is known by its UDID, an unsigned or foreign-signed request naming it is refused by ONGOING-12.
    const named = await send(server, "command", idle, { signer: "none" });
    expect(named.status).toBe(403);
    expect(problemCode(named)).toBe("mdm.signature-invalid");
    expect(problemCode(await send(server, "command", idle, { signer: stranger }))).toBe("mdm.signature-invalid");
    // A signature over other bytes is no signature of this body.
    const forged = await client.command(server.fetch, { url: `${origin}/mdm/server`, body: idle, signature: await signMdmMessage(authenticate, mac.identity) });
    expect(forged.status).toBe(403);
  });

  it("ONGOING-12 an iPhone without its token is challenged (401) even when correctly signed: only a Mac's device channel goes without a token", async () => {
    const server = await signedServer({ signMessage: true });
    const phone = await enrolled(server, await enrollBodyFor("iPhone14,2", 53));
    const answer = await send(server, "checkin", checkInPlist({ MessageType: "Authenticate", EnrollmentID: "ENR-P" }), { signer: phone.identity });
    expect(answer.status).toBe(401);
    expect(answer.headers["www-authenticate"]).toBe(phone.challengeHeader);
  });
});

describe("ONGOING-13 over HTTP: SignMessage", () => {
  it("ONGOING-13 with SignMessage a valid token is not enough: the request must be signed by the enrollment's identity", async () => {
    const server = await signedServer({ signMessage: true });
    const phone = await enrolled(server, await enrollBodyFor("iPhone14,2", 54));
    const other = await identityFromPkcs12Issued(55);
    const body = checkInPlist({ MessageType: "Authenticate", EnrollmentID: "ENR-S" });
    const unsigned = await send(server, "checkin", body, { token: phone.token, signer: "none" });
    expect(unsigned.status).toBe(403);
    expect(problemCode(unsigned)).toBe("mdm.signature-invalid");
    expect((await send(server, "checkin", body, { token: phone.token, signer: other })).status).toBe(403);
    expect((await send(server, "checkin", body, { token: phone.token, signer: phone.identity })).status).toBe(200);
    const idle = enc.encode(buildPlist({ Status: "Idle", EnrollmentID: "ENR-S" }));
    expect((await send(server, "command", idle, { token: phone.token, signer: phone.identity })).status).toBe(200);
    expect((await send(server, "command", idle, { token: phone.token, signer: other })).status).toBe(403);
  });

  it("ONGOING-13 without SignMessage an unsigned request with the valid token is accepted", async () => {
    const server = await signedServer({ signMessage: false });
    const phone = await enrolled(server, await enrollBodyFor("iPhone14,2", 56));
    expect((await send(server, "checkin", checkInPlist({ MessageType: "Authenticate", EnrollmentID: "ENR-U" }), { token: phone.token })).status).toBe(200);
  });
});

describe("ONGOING-7 and ONGOING-9 on the command channel", () => {
  it("ONGOING-7 a command report with a wrong or missing token gets 401 with the enrollment's challenge; with its token 200", async () => {
    const server = await signedServer({ signMessage: false });
    const phone = await enrolled(server, await enrollBodyFor("iPhone14,2", 57));
    expect((await send(server, "checkin", checkInPlist({ MessageType: "Authenticate", EnrollmentID: "ENR-C" }), { token: phone.token })).status).toBe(200);
    const idle = enc.encode(buildPlist({ Status: "Idle", EnrollmentID: "ENR-C" }));
    for (const token of ["not-the-token", undefined]) {
      const answer = await send(server, "command", idle, token === undefined ? {} : { token });
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe(phone.challengeHeader);
    }
    expect((await send(server, "command", idle, { token: phone.token })).status).toBe(200);
  });

  it('ONGOING-9 a command report from a device the server does not know gets 403 {"code":"com.apple.unrecognized.device"}', async () => {
    const server = await signedServer({ signMessage: false });
    const answer = await send(server, "command", enc.encode(buildPlist({ Status: "Idle", EnrollmentID: "NOBODY" })), { token: "x".repeat(43) });
    expect(answer.status).toBe(403);
    expect(JSON.parse(new TextDecoder().decode(answer.body))).toEqual({ code: "com.apple.unrecognized.device" });
  });

  it("a command report that is not one (no Status, or a result without CommandUUID) is 400 command.invalid", async () => {
    const server = await signedServer({ signMessage: false });
    for (const message of [{ EnrollmentID: "E" }, { Status: "Acknowledged", EnrollmentID: "E" }, { Status: "Bogus", EnrollmentID: "E" }]) {
      const answer = await send(server, "command", enc.encode(buildPlist(message)), { token: "x".repeat(43) });
      expect(answer.status).toBe(400);
      expect(problemCode(answer)).toBe("command.invalid");
    }
  });
});

/** An identity from the same CA that no enrollment was given. */
async function identityFromPkcs12Issued(seed: number): Promise<Pkcs12Identity> {
  const issued = await identityIssuer(identityCa, { random: seededRandom(seed), now: issuedAt })({ enrollmentRef: `stranger-${seed}`, commonName: `stranger-${seed}`, userIdentifier: alice.userIdentifier });
  return identityFromPkcs12(issued.data, issued.password);
}
