// The enroll endpoint verifies every body's device signature before anything is stored (ENROLL-1,
// ENROLL-4): the real iOS 15 body verifies against Apple Root CA; a body signed by an untrusted CA,
// a tampered body and a body that is not CMS are each refused with 400 and leave no enrollment.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "../../runtime/test-device-ca.ts";
import { buildPlist, parseEnrollRequestBody } from "../../spec/index.ts";
import { realEnrollBody, seededRandom, testServer } from "../support/fixtures.ts";

const enrollUrl = "https://mdm.example.com/enroll/mdm-byod";
const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" }));

/** The body with one byte of its attached plist changed (same length, still a plist). */
function tampered(body: Uint8Array): Uint8Array {
  const parsed = parseEnrollRequestBody(body);
  if (!parsed.ok || parsed.value.signedData.content === undefined) throw new Error("a body with content");
  const content = parsed.value.signedData.content;
  const needle = new TextEncoder().encode("<string>");
  let at = -1;
  for (let i = 0; i + needle.length < body.length; i++) {
    if (needle.every((b, j) => body[i + j] === b)) {
      at = i + needle.length;
      break;
    }
  }
  if (at < 0 || content.length === 0) throw new Error("no <string> in the body");
  const out = body.slice();
  out[at] = (out[at] ?? 0) === 0x41 ? 0x42 : 0x41; // the first letter of the first string value
  return out;
}

describe("enroll: device signature", () => {
  it("ENROLL-1 the real device body verifies against Apple Root CA: 401 challenge and one enrollment", async () => {
    const server = await testServer();
    const answer = await client.enroll(server.fetch, { url: enrollUrl, body: realEnrollBody });
    expect(answer.status).toBe(401);
    expect(answer.headers["www-authenticate"]).toMatch(/^Bearer method="apple-as-web"/);
    expect(server.store.size).toBe(1);
  });

  it("ENROLL-4 untrusted signer, tampered content and non-CMS bodies get 400 and create no enrollment", async () => {
    const trusted = await createTestDeviceCa({ random: seededRandom(41) });
    const untrusted = await createTestDeviceCa({ random: seededRandom(42), commonName: "Some Other Device CA" });
    // An impostor CA with the trusted one's name: its identities chain to the anchor by name only.
    const impostor = await createTestDeviceCa({ random: seededRandom(48) });
    const rejected: string[] = [];
    const server = await testServer({
      deviceTrust: { testCa: trusted.certificate },
      reportRejected: (operation, reason) => rejected.push(`${operation}:${reason.code}`),
    });
    const good = await signEnrollBody(plist, await issueDeviceIdentity(trusted, { random: seededRandom(43) }));
    const cases: readonly [string, Uint8Array, string][] = [
      ["signed by an untrusted CA", await signEnrollBody(plist, await issueDeviceIdentity(untrusted, { random: seededRandom(44) })), "enroll.signature-invalid"],
      ["signed by an impostor CA with the trusted CA's name", await signEnrollBody(plist, await issueDeviceIdentity(impostor, { random: seededRandom(49) })), "enroll.signature-invalid"],
      ["the real body, tampered", tampered(realEnrollBody), "enroll.signature-invalid"],
      ["a test-CA body, tampered", tampered(good), "enroll.signature-invalid"],
      ["not CMS: the bare plist", plist, "enroll.body-invalid"],
      ["not CMS: random bytes", seededRandom(45)(300), "enroll.body-invalid"],
    ];
    for (const [name, body, code] of cases) {
      const answer = await server.fetch(new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: body.slice() }));
      expect(answer.status, name).toBe(400);
      expect(answer.headers.get("www-authenticate"), name).toBeNull();
      expect(await answer.json(), name).toMatchObject({ code, rule: "ENROLL-4" });
    }
    expect(server.store.size).toBe(0);
    expect(rejected).toEqual(["enroll:signature.untrusted-signer", "enroll:signature.chain-broken", "enroll:signature.digest-mismatch", "enroll:signature.digest-mismatch"]);
    // The same server accepts the body its trusted test CA signed.
    expect((await client.enroll(server.fetch, { url: enrollUrl, body: good })).status).toBe(401);
    expect(server.store.size).toBe(1);
  });

  it("ENROLL-4 without deviceTrust.testCa a test-CA body is an untrusted signer", async () => {
    const ca = await createTestDeviceCa({ random: seededRandom(46) });
    const server = await testServer();
    const body = await signEnrollBody(plist, await issueDeviceIdentity(ca, { random: seededRandom(47) }));
    const answer = await client.enroll(server.fetch, { url: enrollUrl, body });
    expect(answer.status).toBe(400);
    expect(JSON.parse(new TextDecoder().decode(answer.body))).toMatchObject({ code: "enroll.signature-invalid", detail: "signature.untrusted-signer" });
    expect(server.store.size).toBe(0);
  });
});
