// `npm start` until the real server lands: one simulated iPhone enrolls, in process, through the
// simple flow against the generated server, printing each step of the device machine.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createServer } from "../generated/server.generated.ts";
import { findMdmPayload } from "../spec/index.ts";
import { enrollDevice, type DeviceSnapshot } from "./device.ts";
import { Directory } from "./directory.ts";
import { signInPerson } from "./person.ts";
import { createServerHost } from "./server-host.ts";
import { secureRandomBytes } from "./crypto.ts";

const describeStep: Record<string, string> = {
  discovery: "GET https://example.com/.well-known/com.apple.remotemanagement (steps 2–3)",
  firstEnroll: "POST BaseURL with the device-signed body, no token (step 4)",
  authenticating: "401 + WWW-Authenticate: Bearer method=\"apple-as-web\" → web sign-in (steps 5–11)",
  secondEnroll: "POST BaseURL again with Authorization: Bearer <token> (step 12)",
  managedAccountSignIn: "profile passed the step-13 checks → Managed Apple Account sign-in (steps 14–18)",
  enrolled: "enrolled; every later MDM request carries the token (step 19)",
  cancelled: "cancelled",
};

export async function runDemo(log: (line: string) => void = console.log): Promise<DeviceSnapshot> {
  const user = { userIdentifier: "demo@example.com", password: "demo-password-change-me", managedAppleId: "demo@appleid.example.com" };
  const directory = await Directory.create([user], secureRandomBytes);
  const app = createServer(
    createServerHost({
      publicBaseUrl: "https://mdm.example.com",
      organizationName: "Example Corp (demo)",
      domains: { "example.com": "mdm-byod" },
      directory,
      profile: {
        identifierPrefix: "com.example.mdm",
        topic: "com.apple.mgmt.External.00000000-0000-4000-8000-000000000000",
        identity: { kind: "scep", url: "https://mdm.example.com/scep" },
      },
    }),
  );
  const body = new Uint8Array(readFileSync(fileURLToPath(new URL("../test/fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url))));
  log(`adenroll demo: ${user.userIdentifier} enrolls a simulated iPhone (real iOS 15 enroll body), in process.`);
  let last = "";
  const done = await enrollDevice(
    { identifier: user.userIdentifier, modelFamily: "iPhone", enrollBody: body },
    {
      fetch: (request) => app.request(request),
      person: signInPerson({ username: user.userIdentifier, password: user.password }),
      onStep: (snapshot) => {
        const top = typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value)[0] ?? "";
        const line = describeStep[top];
        if (line !== undefined && top !== last) log(`  → ${line}`);
        last = top;
      },
    },
  );
  const mdm = findMdmPayload(done.context.profile);
  if (done.context.cancelReason !== null) log(`  ✗ cancelled by rule ${done.context.cancelReason}`);
  else log(`  ✓ profile for ${String(mdm?.AssignedManagedAppleID)} (EnrollmentMode ${String(mdm?.EnrollmentMode)}), ServerURL ${String(mdm?.ServerURL)}`);
  return done;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const done = await runDemo();
  process.exitCode = done.context.cancelReason === null ? 0 : 1;
}
