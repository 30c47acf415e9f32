// `adenroll device`: a simulated device enrolls over real HTTP against any server — the device
// machine with the runtime's actors (runtime/device.ts) and a scripted person who fills the sign-in
// form (runtime/person.ts). Its enroll body is signed like a device's: a plist LANGUAGE / PRODUCT /
// VERSION in a CMS SignedData, signed by a device identity that the TEST device CA issues
// (runtime/test-device-ca.ts) — a server accepts it only when it trusts that CA. A captured body
// (--enroll-body) is sent as it is instead.
//
// Discovery goes to https://<domain of --user>/.well-known/com.apple.remotemanagement, as a device's
// does, unless --server (that server's well-known URL) or --discovery-url (any URL; an origin alone
// gets the well-known path) says where. Prints each step as it happens; exits 0 only when enrolled,
// 1 with the rule id when the enrollment was cancelled, 2 for bad flags.
import { readFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import type { Fetch } from "../generated/client.generated.ts";
import { buildPlist, findMdmPayload, ModelFamily, splitUserIdentifier, wellKnownPath } from "../spec/index.ts";
import { defaultDataDir, readTestDeviceCaFile, testDeviceCaFileName } from "./data-folder.ts";
import { enrollDevice, type DeviceSnapshot } from "./device.ts";
import { signInPerson } from "./person.ts";
import { consoleIo, type Io } from "./serve.ts";
import { issueDeviceIdentity, signEnrollBody } from "./test-device-ca.ts";
import { messageOf } from "./error-text.ts";

export const deviceUsage = `Usage: adenroll device --user USER@DOMAIN [--password PW | --password-stdin] [options]

Enrolls a simulated device over HTTP, printing each step; exits 0 only when enrolled.

Options:
  --user ID            the account the person types (user@domain)
  --password PW        the password the person types on the sign-in page
  --password-stdin     read the password from the first line of standard input
  --server URL         ask this server's well-known URL instead of https://<domain>
  --discovery-url URL  where the well-known request goes (an origin gets the well-known path;
                       the device's query is appended) — for local testing
  --model-family F     iPhone (default), iPad, Mac, RealityDevice, AppleTV or Watch
  --data DIR           the server's data folder, to find its test device CA (default ./.adenroll)
  --device-ca FILE     the test device CA (PEM certificate and key) that issues this device's identity
  --enroll-body FILE   send this captured device-signed body instead of signing one
  -h, --help           this help`;

const products: Readonly<Record<ModelFamily, { readonly product: string; readonly version: string }>> = {
  iPhone: { product: "iPhone17,2", version: "22C152" },
  iPad: { product: "iPad16,3", version: "22C152" },
  Mac: { product: "Mac15,3", version: "24C101" },
  RealityDevice: { product: "RealityDevice14,1", version: "22N842" },
  AppleTV: { product: "AppleTV14,1", version: "22K154" },
  Watch: { product: "Watch7,1", version: "22S560" },
};

/** What each state of the device machine means, as the person following along reads it. */
const stepText: Readonly<Record<string, string>> = {
  discovery: "service discovery (steps 2–3)",
  firstEnroll: "first enroll request: the device-signed body, no token (step 4)",
  enrollmentSso: "Enrollment SSO document",
  authenticating: "web sign-in (steps 6–11)",
  secondEnroll: "second enroll request, with the access token (step 12)",
  managedAccountSignIn: "the profile passed the step-13 checks → Managed Apple Account sign-in (steps 14–18)",
  enrolled: "enrolled",
};

export interface DeviceRunOptions {
  readonly user: string;
  readonly password: string;
  readonly modelFamily: ModelFamily;
  /** Where the well-known request goes instead of https://<domain>/…; undefined: the real thing. */
  readonly discoveryUrl?: string;
  readonly enrollBody: Uint8Array;
  /** One line about the body (who signed it). */
  readonly bodyNote: string;
  readonly fetch?: Fetch;
}

/** Runs `adenroll device` with its arguments; returns the exit code. */
export async function runDeviceCommand(argv: readonly string[], io: Io = consoleIo, stdin: () => Promise<string> = readStdinLine): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args: [...argv],
      options: {
        user: { type: "string" },
        password: { type: "string" },
        "password-stdin": { type: "boolean" },
        server: { type: "string" },
        "discovery-url": { type: "string" },
        "model-family": { type: "string", default: "iPhone" },
        data: { type: "string", default: defaultDataDir },
        "device-ca": { type: "string" },
        "enroll-body": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    io.err(`adenroll device: ${messageOf(error)}\n\n${deviceUsage}`);
    return 2;
  }
  if (flags.help === true) {
    io.out(deviceUsage);
    return 0;
  }
  const usage = (message: string): number => {
    io.err(`adenroll device: ${message}\n\n${deviceUsage}`);
    return 2;
  };
  if (flags.user === undefined) return usage("--user is required");
  const family = ModelFamily.safeParse(flags["model-family"]);
  if (!family.success) return usage(`--model-family must be one of ${ModelFamily.options.join(", ")}`);
  if (flags.password !== undefined && flags["password-stdin"] === true) return usage("give --password or --password-stdin, not both");
  const target = flags["discovery-url"] ?? (flags.server === undefined ? undefined : new URL(wellKnownPath, flags.server).toString());
  for (const [name, value] of [["--server", flags.server], ["--discovery-url", flags["discovery-url"]]] as const) {
    if (value !== undefined && !/^https?:$/.test(URL.parse(value)?.protocol ?? "")) return usage(`${name} must be an http(s) URL`);
  }

  let password = flags.password;
  if (password === undefined) {
    if (flags["password-stdin"] !== true && process.stdin.isTTY !== true) return usage("--password or --password-stdin is required");
    if (process.stdin.isTTY === true) process.stderr.write(`Password for ${flags.user}: `);
    password = await stdin();
  }

  let enrollBody: Uint8Array;
  let bodyNote: string;
  try {
    if (flags["enroll-body"] !== undefined) {
      enrollBody = new Uint8Array(await readFile(flags["enroll-body"]));
      bodyNote = `the captured body ${flags["enroll-body"]}`;
    } else {
      const caFile = path.resolve(flags["device-ca"] ?? path.join(flags.data, testDeviceCaFileName));
      const ca = await readTestDeviceCaFile(caFile).catch((error: unknown) => {
        throw new Error(
          `${messageOf(error)}. Start the demo server first (\`adenroll serve\` creates one in its data folder), or pass --data DIR / --device-ca FILE.`,
        );
      });
      const identity = await issueDeviceIdentity(ca);
      const { product, version } = products[family.data];
      const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: product, VERSION: version }));
      enrollBody = await signEnrollBody(plist, identity);
      bodyNote = `${product} (${version}), signed by a device identity from the test CA ${caFile}`;
    }
  } catch (error) {
    io.err(`adenroll device: ${messageOf(error)}`);
    return 1;
  }
  return runDevice(
    { user: flags.user, password, modelFamily: family.data, ...(target === undefined ? {} : { discoveryUrl: target }), enrollBody, bodyNote },
    io,
  );
}

/** Enrolls one simulated device, printing each step; returns the exit code (0 only when enrolled). */
export async function runDevice(options: DeviceRunOptions, io: Io = consoleIo): Promise<number> {
  const split = splitUserIdentifier(options.user);
  const domain = split.ok ? split.value.domain : "";
  const baseFetch: Fetch = options.fetch ?? ((request) => fetch(request));
  const wellKnownOrigin = `https://${domain.toLowerCase()}`;
  let discoveryShown = false;

  const tracedFetch: Fetch = async (request) => {
    let sent = request;
    const url = new URL(request.url);
    if (options.discoveryUrl !== undefined && url.origin === wellKnownOrigin && url.pathname === wellKnownPath) {
      const target = new URL(options.discoveryUrl);
      if (target.pathname === "/" || target.pathname === "") target.pathname = wellKnownPath;
      for (const [key, value] of url.searchParams) target.searchParams.set(key, value);
      sent = new Request(target, request);
    }
    let response: Response;
    try {
      response = await baseFetch(sent);
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      io.out(`      ${sent.method} ${shownUrl(sent.url)} → failed: ${cause?.code ?? cause?.message ?? messageOf(error)}`);
      throw error;
    }
    io.out(`      ${sent.method} ${shownUrl(sent.url)} → ${response.status}${describeResponse(response)}`);
    if (sent !== request && !discoveryShown) io.out(`      (a device asks ${url.origin}${url.pathname}; --discovery-url sent it here instead)`);
    if (sent !== request) discoveryShown = true;
    return response;
  };

  io.out(`adenroll device: ${options.user} on a simulated ${options.modelFamily}`);
  io.out(`  enroll body: ${options.bodyNote}`);
  let last = "";
  let done: DeviceSnapshot;
  try {
    done = await enrollDevice(
      { identifier: options.user, modelFamily: options.modelFamily, enrollBody: options.enrollBody },
      {
        fetch: tracedFetch,
        person: signInPerson({ username: options.user, password: options.password }),
        onStep: (snapshot) => {
          const top = typeof snapshot.value === "string" ? snapshot.value : (Object.keys(snapshot.value)[0] ?? "");
          const text = stepText[top];
          if (text !== undefined && top !== last && top !== "enrolled") io.out(`  → ${text}`);
          last = top;
        },
      },
    );
  } catch (error) {
    io.err(`  ✗ the device stopped: ${messageOf(error)}`);
    return 1;
  }

  const { context } = done;
  if (done.matches("enrolled")) {
    const mdm = findMdmPayload(context.profile);
    const identity = context.profile?.PayloadContent.find((p) => p.PayloadUUID === mdm?.IdentityCertificateUUID);
    io.out(`  ✓ enrolled: ${String(mdm?.EnrollmentMode)} profile for ${String(mdm?.AssignedManagedAppleID)} (${context.server?.version ?? "?"})`);
    io.out(`      ServerURL ${String(mdm?.ServerURL)}, Topic ${String(mdm?.Topic)}, identity ${identity?.PayloadType ?? "?"}`);
    return 0;
  }
  const rule = context.cancelReason ?? context.identifierError ?? context.breach?.ruleId ?? "unknown";
  const why = [context.breach?.message, context.failureMessage].filter((m) => m !== undefined && m !== null && m !== "").join(" — ");
  io.err(`  ✗ not enrolled: ${done.matches("identifierEntry") ? "the identifier was refused" : "cancelled"} by rule ${rule}${why === "" ? "" : `: ${why}`}`);
  return 1;
}

/** The URL as printed: the sign-in reference and any token never appear. */
function shownUrl(url: string): string {
  const u = new URL(url);
  const pathname = u.pathname.replace(/^\/authenticate\/[^/]+/, "/authenticate/…");
  return `${u.origin}${pathname}${u.search}`;
}

function describeResponse(response: Response): string {
  const location = response.headers.get("location");
  if (location !== null) {
    return location.startsWith("apple-remotemanagement-user-login:")
      ? " (callback apple-remotemanagement-user-login://authentication-results, access token hidden)"
      : ` (Location ${shownUrl(new URL(location, response.url || "http://x").toString())})`;
  }
  const challenge = response.headers.get("www-authenticate");
  if (challenge !== null) return ` (${challenge.replace(/\/authenticate\/[^"]+/, "/authenticate/…")})`;
  const type = response.headers.get("content-type");
  return type === null ? "" : ` (${type})`;
}

/** The first line of standard input (the trailing newline dropped). */
export async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(10)) break;
  }
  const text = Buffer.concat(chunks).toString("utf8");
  const newline = text.indexOf("\n");
  return (newline < 0 ? text : text.slice(0, newline)).replace(/\r$/, "");
}
