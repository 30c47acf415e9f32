// Under Deno, unmodified: an example configuration loads, createAdenroll builds the app over an
// in-memory PGlite, and `adenroll device`'s runner enrolls a simulated iPhone through it (a body
// signed by a test device CA the configuration trusts), with a PKCS#12 identity from the built-in CA.
import assert from "node:assert/strict";
import { createAdenroll } from "../../runtime/app.ts";
import { loadConfigFile } from "../../runtime/config.ts";
import { runDevice } from "../../runtime/device-command.ts";
import { createIdentityCa } from "../../runtime/identity-ca.ts";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "../../runtime/test-device-ca.ts";
import { buildPlist } from "../../spec/index.ts";

Deno.test("an example config enrolls a test-CA-signed simulated iPhone through createAdenroll", async () => {
  const config = await loadConfigFile(new URL("../../examples/pkcs12-builtin-ca.yaml", import.meta.url).pathname, { scryptCost: 1_000 });
  const testCa = await createTestDeviceCa();
  const storage = await openStorage({ memory: true });
  try {
    const adenroll = await createAdenroll({ ...config, deviceTrust: { allowTestDeviceCa: true } }, { storage, identityCa: await createIdentityCa(), testDeviceCa: testCa.certificate, scryptCost: 1_000 });
    const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" }));
    const enrollBody = await signEnrollBody(plist, await issueDeviceIdentity(testCa));
    const lines: string[] = [];
    const code = await runDevice(
      { user: "alice@example.com", password: "correct horse battery staple", modelFamily: "iPhone", enrollBody, bodyNote: "test CA", fetch: adenroll.fetch },
      { out: (line) => lines.push(line), err: (line) => lines.push(line) },
    );
    assert.equal(code, 0, lines.join("\n"));
    assert.match(lines.join("\n"), /✓ enrolled: BYOD profile for alice@appleid\.example\.com/);
    assert.deepEqual((await storage.audit.list()).map((e) => e.action).reverse(), ["sign-in.succeeded", "profile.delivered"]);
  } finally {
    await storage.close();
  }
});
