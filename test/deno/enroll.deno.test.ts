// Under Deno, unmodified: spec, machines, the generated server and client, and the runtime enroll the
// real device body in process (the same flow as test/e2e/enroll-simple.test.ts under Node).
import assert from "node:assert/strict";
import { createServer } from "../../generated/server.generated.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { Directory } from "../../runtime/directory.ts";
import { signInPerson } from "../../runtime/person.ts";
import { createServerHost } from "../../runtime/server-host.ts";
import { secureRandomBytes } from "../../runtime/crypto.ts";
import { findMdmPayload, profileViolations, rules } from "../../spec/index.ts";
import { deviceMachine, serverMachine } from "../../machines/index.ts";

Deno.test("spec and machines load under Deno", () => {
  assert.ok(rules.length > 30);
  assert.equal(deviceMachine.id, "device");
  assert.equal(serverMachine.id, "enrollment");
});

Deno.test("in-process simple enrollment with the real device body", async () => {
  const user = { userIdentifier: "alice@example.com", password: "a long enough password", managedAppleId: "alice@appleid.example.com" };
  const directory = await Directory.create([user], secureRandomBytes, 1_000);
  const app = createServer(
    createServerHost({
      publicBaseUrl: "https://mdm.example.com",
      organizationName: "Example Corp",
      domains: { "example.com": "mdm-byod" },
      directory,
      profile: {
        identifierPrefix: "com.example.mdm",
        topic: "com.apple.mgmt.External.00000000-0000-4000-8000-000000000000",
        identity: { kind: "scep", url: "https://mdm.example.com/scep" },
      },
    }),
  );
  const body = await Deno.readFile(new URL("../fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url));
  const done = await enrollDevice(
    { identifier: user.userIdentifier, modelFamily: "iPhone", enrollBody: body },
    { fetch: (request) => app.request(request), person: signInPerson({ username: user.userIdentifier, password: user.password }) },
  );
  assert.deepEqual(done.value, { enrolled: "idle" });
  assert.equal(done.context.cancelReason, null);
  assert.deepEqual(profileViolations(done.context.profile, "mdm-byod", { requireModeMatchesVersion: true }), []);
  assert.equal(findMdmPayload(done.context.profile)?.AssignedManagedAppleID, user.managedAppleId);
});
