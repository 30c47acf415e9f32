// Under Deno, unmodified: spec, machines, the generated server and client, and the runtime enroll the
// real device body in process (the same flow as test/e2e/enroll-simple.test.ts under Node).
import assert from "node:assert/strict";
import * as client from "../../generated/client.generated.ts";
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

  // Ongoing authorization under Deno: the guard, the machine's actor-free step, the command channel.
  const fetch = (request: Request) => app.request(request);
  const plist = (entries: Record<string, string>) =>
    new TextEncoder().encode(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>${Object.entries(entries).map(([k, v]) => `<key>${k}</key><string>${v}</string>`).join("")}</dict></plist>`);
  const token = done.context.accessToken;
  assert.ok(token !== null);
  const authenticate = plist({ MessageType: "Authenticate", Topic: "com.apple.mgmt.External.00000000-0000-4000-8000-000000000000", EnrollmentID: "ENR-DENO" });
  assert.equal((await client.checkIn(fetch, { url: "https://mdm.example.com/mdm/checkin", body: authenticate, accessToken: token })).status, 200);
  const refused = await client.checkIn(fetch, { url: "https://mdm.example.com/mdm/checkin", body: authenticate, accessToken: "not-the-token" });
  assert.equal(refused.status, 401);
  assert.match(refused.headers["www-authenticate"] ?? "", /^Bearer method="apple-as-web"/);
  const idle = plist({ Status: "Idle", EnrollmentID: "ENR-DENO" });
  assert.equal((await client.command(fetch, { url: "https://mdm.example.com/mdm/server", body: idle, accessToken: token })).status, 200);
});
