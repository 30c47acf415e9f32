// Under Deno, unmodified: device-signature verification (runtime/device-signature.ts, node:crypto's
// one-shot functions) accepts bodies signed by a test device CA with RSA and ECDSA keys, over the
// digests a device uses, and refuses a body changed after signing.
import assert from "node:assert/strict";
import { verifyDeviceSignature } from "../../runtime/device-signature.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody, type TestKeyAlgorithm } from "../../runtime/test-device-ca.ts";
import { buildPlist } from "../../spec/index.ts";

const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" }));

for (const [caAlgorithm, deviceAlgorithm, digest] of [
  ["rsa-2048", "rsa-2048", "SHA-1"],
  ["rsa-2048", "ecdsa-p256", "SHA-256"],
  ["ecdsa-p384", "ecdsa-p384", "SHA-384"],
] as const satisfies readonly (readonly [TestKeyAlgorithm, TestKeyAlgorithm, "SHA-1" | "SHA-256" | "SHA-384"])[]) {
  Deno.test(`a ${deviceAlgorithm} device (${digest}) under a ${caAlgorithm} test CA verifies; a changed body does not`, async () => {
    const ca = await createTestDeviceCa({ algorithm: caAlgorithm });
    const body = await signEnrollBody(plist, await issueDeviceIdentity(ca, { algorithm: deviceAlgorithm }), { digest });
    const trust = { anchors: [{ label: "test", certificate: ca.certificate }] };
    const verified = await verifyDeviceSignature(body, trust);
    assert.ok(verified.ok, verified.ok ? "" : `${verified.error.code}: ${verified.error.detail}`);
    assert.equal(verified.value.digestAlgorithm, digest);
    // A byte of the VERSION value, inside the signed content.
    const marker = new TextEncoder().encode("22C152");
    const at = body.findIndex((_, i) => marker.every((b, j) => body[i + j] === b));
    assert.ok(at > 0);
    const changed = body.slice();
    changed[at] = (changed[at] ?? 0) ^ 1;
    const refused = await verifyDeviceSignature(changed, trust);
    assert.equal(refused.ok ? "accepted" : refused.error.code, "signature.digest-mismatch");
  });
}
