// `npm run demo`: the demo of `adenroll serve` and `adenroll device` in one process, with nothing
// kept — the demo configuration over an in-memory PGlite, a throwaway identity CA and test device
// CA, and a simulated iPhone enrolling through the app's fetch handler, printing each step.
// (`npx adenroll serve` + `npx adenroll device` do the same over real HTTP.)
import { fileURLToPath } from "node:url";
import { buildPlist } from "../spec/index.ts";
import { createAdenroll } from "./app.ts";
import { runDevice } from "./device-command.ts";
import { createIdentityCa } from "./identity-ca.ts";
import { consoleIo, demo, demoConfig, oneTimePassword, type Io } from "./serve.ts";
import { openStorage } from "./storage/open-storage.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "./test-device-ca.ts";

/** Runs the in-process demo; returns the exit code (0 when the device enrolled). */
export async function runDemo(io: Io = consoleIo): Promise<number> {
  const password = oneTimePassword();
  const config = await demoConfig("https://mdm.example.com", password, process.cwd());
  const storage = await openStorage({ memory: true });
  try {
    const testCa = await createTestDeviceCa();
    const adenroll = await createAdenroll(config, {
      storage,
      identityCa: await createIdentityCa(),
      testDeviceCa: testCa.certificate,
      // The test CA is trusted on purpose here; the loud start-up warning of `serve` is not repeated.
      log: { info: (m) => io.out(`adenroll: ${m}`), warn: () => undefined, error: (m) => io.err(`adenroll: ERROR: ${m}`) },
    });
    const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" }));
    const enrollBody = await signEnrollBody(plist, await issueDeviceIdentity(testCa));
    io.out(`adenroll demo, in process: ${demo.user} enrolls a simulated iPhone with ${demo.organization} (nothing is kept).`);
    return await runDevice(
      { user: demo.user, password, modelFamily: "iPhone", enrollBody, bodyNote: "iPhone17,2 (22C152), signed by a throwaway test device CA", fetch: adenroll.fetch },
      io,
    );
  } finally {
    await storage.close();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await runDemo();
}
