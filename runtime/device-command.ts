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
//
// With --stay the device keeps running once enrolled (step 19 on): Authenticate and TokenUpdate
// check-ins, then it polls the command channel with Idle and acknowledges every command, each
// request through the device machine (SEND_MDM), so a 401 has the person sign in again and the
// request retried (ONGOING-3) and a 403 com.apple.unrecognized.device ends it (ONGOING-5). Under
// SignMessage each request carries an Mdm-Signature made with the profile's PKCS#12 identity.
// Ctrl-C (or --max-polls) sends a CheckOut and exits 0; unenrolled or unable to sign in again: 1.
import { readFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { z } from "zod";
import type { Fetch } from "../generated/client.generated.ts";
import type { HttpAnswer, PendingMdmRequest } from "../machines/index.ts";
import {
  buildPlist,
  checkInContentType,
  commandContentType,
  findMdmPayload,
  MdmCommand,
  ModelFamily,
  parsePlist,
  Pkcs12Payload,
  splitUserIdentifier,
  wellKnownPath,
  type ConfigurationProfile,
  type PlistValue,
} from "../spec/index.ts";
import { newUuid, secureRandomBytes, type RandomBytes } from "./crypto.ts";
import { defaultDataDir, readTestDeviceCaFile, testDeviceCaFileName } from "./data-folder.ts";
import { simulatedProducts, startDevice, type DeviceSession, type DeviceSnapshot, type MdmTransport, type Person } from "./device.ts";
import { identityFromPkcs12, signMdmMessage, type Pkcs12Identity } from "./mdm-signature.ts";
import { signInPerson, type Credentials } from "./person.ts";
import { consoleIo, type Io } from "./serve.ts";
import { issueDeviceIdentity, signEnrollBody } from "./test-device-ca.ts";
import { fetchFailureOf, messageOf } from "./error-text.ts";
import { commandFlags, deviceAccountFlags, deviceAccountOf, devicePassword } from "./command-flags.ts";

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
  --stay               once enrolled, keep running as an MDM device: Authenticate, TokenUpdate,
                       then poll for commands and acknowledge them; Ctrl-C checks out and exits
  --mdm-origin URL     send MDM requests to this origin instead of the profile's ServerURL /
                       CheckInURL host (e.g. a demo on http://127.0.0.1:8080); with --stay
  --poll-interval S    seconds between command polls (default 5); with --stay
  --max-polls N        check out and exit after N polls; with --stay
  -h, --help           this help`;


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
  /** Keep running once enrolled (--stay). */
  readonly stay?: StayOptions;
  readonly random?: RandomBytes;
}

export interface StayOptions {
  /** Where MDM requests go instead of the scheme and host of the profile's URLs. */
  readonly mdmOrigin?: string;
  readonly pollIntervalMs: number;
  /** Check out after this many Idle polls; undefined: until stopped. */
  readonly maxPolls?: number;
  /** Resolves when the device is to check out and stop; default: SIGINT or SIGTERM. */
  readonly stop?: Promise<unknown>;
}

/** Runs `adenroll device` with its arguments; returns the exit code. */
export async function runDeviceCommand(argv: readonly string[], io: Io = consoleIo, stdin: () => Promise<string> = readStdinLine): Promise<number> {
  const parsed = commandFlags("device", deviceUsage, argv, {
    ...deviceAccountFlags,
    "model-family": { type: "string", default: "iPhone" },
    data: { type: "string", default: defaultDataDir },
    "device-ca": { type: "string" },
    "enroll-body": { type: "string" },
    stay: { type: "boolean" },
    "mdm-origin": { type: "string" },
    "poll-interval": { type: "string" },
    "max-polls": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, io);
  if ("exit" in parsed) return parsed.exit;
  const { values: flags, usage } = parsed;
  const account = deviceAccountOf(flags);
  if (typeof account === "string") return usage(account);
  const { user, discoveryUrl: target } = account;
  const family = ModelFamily.safeParse(flags["model-family"]);
  if (!family.success) return usage(`--model-family must be one of ${ModelFamily.options.join(", ")}`);
  const stay = stayOptionsOf(flags);
  if (typeof stay === "string") return usage(stay);

  const password = await devicePassword(flags, user, stdin, "--password or --password-stdin is required");
  if (typeof password !== "string") return usage(password.missing);

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
      const { product, version } = simulatedProducts[family.data];
      const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: product, VERSION: version }));
      enrollBody = await signEnrollBody(plist, identity);
      bodyNote = `${product} (${version}), signed by a device identity from the test CA ${caFile}`;
    }
  } catch (error) {
    io.err(`adenroll device: ${messageOf(error)}`);
    return 1;
  }
  return runDevice(
    {
      user,
      password,
      modelFamily: family.data,
      ...(target === undefined ? {} : { discoveryUrl: target }),
      enrollBody,
      bodyNote,
      ...(stay === undefined ? {} : { stay }),
    },
    io,
  );
}

/** The --stay options, or why they are wrong; undefined without --stay. */
function stayOptionsOf(
  flags: { readonly stay?: boolean | undefined; readonly "mdm-origin"?: string | undefined; readonly "poll-interval"?: string | undefined; readonly "max-polls"?: string | undefined },
): StayOptions | string | undefined {
  if (flags.stay !== true) {
    const given = (["mdm-origin", "poll-interval", "max-polls"] as const).filter((name) => flags[name] !== undefined);
    return given.length === 0 ? undefined : `--${given.join(", --")} go${given.length === 1 ? "es" : ""} with --stay`;
  }
  const origin = flags["mdm-origin"];
  if (origin !== undefined) {
    const url = URL.parse(origin);
    if (url === null || !/^https?:$/.test(url.protocol) || (url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") {
      return "--mdm-origin must be an http(s) origin such as http://127.0.0.1:8080";
    }
  }
  const seconds = Number(flags["poll-interval"] ?? "5");
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) return "--poll-interval must be a number of seconds (0–86400)";
  const maxPolls = flags["max-polls"] === undefined ? undefined : Number(flags["max-polls"]);
  if (maxPolls !== undefined && !(Number.isInteger(maxPolls) && maxPolls >= 1)) return "--max-polls must be a whole number of at least 1";
  return {
    pollIntervalMs: Math.round(seconds * 1000),
    ...(origin === undefined ? {} : { mdmOrigin: new URL(origin).origin }),
    ...(maxPolls === undefined ? {} : { maxPolls }),
  };
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
      io.out(`      ${sent.method} ${shownUrl(sent.url)} → failed: ${fetchFailureOf(error)}`);
      throw error;
    }
    // MDM requests get their own line, with the message (see mdmLine).
    if (isMdmRequest(sent)) return response;
    io.out(`      ${sent.method} ${shownUrl(sent.url)} → ${response.status}${describeResponse(response)}`);
    if (sent !== request && !discoveryShown) io.out(`      (a device asks ${url.origin}${url.pathname}; --discovery-url sent it here instead)`);
    if (sent !== request) discoveryShown = true;
    return response;
  };

  // Set once enrolled: the identity MDM requests are signed with (SignMessage).
  const signing: { identity: Pkcs12Identity | null } = { identity: null };
  const transport: MdmTransport = {
    sign: async (body) => (signing.identity === null ? null : signMdmMessage(body, signing.identity, { chain: signing.identity.chain })),
    url: (url) => withOrigin(url, options.stay?.mdmOrigin),
    answered: (request, answer, url) => io.out(mdmLine(request, answer, url)),
  };

  io.out(`adenroll device: ${options.user} on a simulated ${options.modelFamily}`);
  io.out(`  enroll body: ${options.bodyNote}`);
  const person = sessionPerson({ username: options.user, password: options.password });
  let last = "";
  let session: DeviceSession;
  try {
    session = await startDevice(
      { identifier: options.user, modelFamily: options.modelFamily, enrollBody: options.enrollBody },
      {
        fetch: tracedFetch,
        person,
        mdm: transport,
        onStep: (snapshot) => {
          const top = typeof snapshot.value === "string" ? snapshot.value : (Object.keys(snapshot.value)[0] ?? "");
          // Once enrolled, a sign-in is the server asking for it again (a 401 on an MDM request).
          const text = top === "authenticating" && snapshot.context.phase === "ongoing" ? "the person signs in again, then the request is retried (ONGOING-3)" : stepText[top];
          if (text !== undefined && top !== last && top !== "enrolled") io.out(`  → ${text}`);
          // Each sign-in is a new web session: the person tries the password once in each.
          if (top === "authenticating" && last !== "authenticating") person.newSession();
          last = top;
        },
      },
    );
  } catch (error) {
    io.err(`  ✗ the device stopped: ${messageOf(error)}`);
    return 1;
  }

  const done = session.snapshot();
  const { context } = done;
  if (!done.matches("enrolled")) {
    session.stop();
    const rule = context.cancelReason ?? context.identifierError ?? context.breach?.ruleId ?? "unknown";
    const why = [context.breach?.message, context.failureMessage].filter((m) => m !== undefined && m !== null && m !== "").join(" — ");
    io.err(`  ✗ not enrolled: ${done.matches("identifierEntry") ? "the identifier was refused" : "cancelled"} by rule ${rule}${why === "" ? "" : `: ${why}`}`);
    return 1;
  }
  const mdm = findMdmPayload(context.profile);
  const identity = context.profile?.PayloadContent.find((p) => p.PayloadUUID === mdm?.IdentityCertificateUUID);
  io.out(`  ✓ enrolled: ${String(mdm?.EnrollmentMode)} profile for ${String(mdm?.AssignedManagedAppleID)} (${context.server?.version ?? "?"})`);
  io.out(`      ServerURL ${String(mdm?.ServerURL)}, Topic ${String(mdm?.Topic)}, identity ${identity?.PayloadType ?? "?"}`);
  if (options.stay === undefined || context.profile === null) {
    session.stop();
    return 0;
  }
  try {
    return await stayEnrolled(session, context.profile, options, options.stay, signing, io);
  } catch (error) {
    io.err(`  ✗ the device stopped: ${messageOf(error)}`);
    return 1;
  } finally {
    session.stop();
  }
}

/** The person at the device: signs in once per web session (at enrollment, and whenever the server asks again). */
function sessionPerson(credentials: Credentials): Person & { newSession(): void } {
  let current = signInPerson(credentials);
  return {
    onPage: (page) => current.onPage(page),
    newSession() {
      current = signInPerson(credentials);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// --stay: the enrolled device's MDM requests (step 19 on)

/** What the device takes from the profile's MDM payload (it was judged at step 13: PROFILE-*). */
const MdmKeys = z.looseObject({
  Topic: z.string().min(1),
  ServerURL: z.string().min(1),
  CheckInURL: z.string().min(1).optional(),
  IdentityCertificateUUID: z.string().min(1),
  SignMessage: z.boolean().optional(),
  EnrollmentMode: z.string().optional(),
});

/** How the device names itself in MDM messages, and what it reports about itself. */
interface DeviceFacts {
  /** EnrollmentID under user enrollment (the YAML forbids UDID there), else UDID. */
  readonly id: { readonly UDID: string } | { readonly EnrollmentID: string };
  readonly topic: string;
  readonly modelFamily: ModelFamily;
}

/** Runs the enrolled device until it is stopped (CheckOut, 0), unenrolled (1) or cannot sign in again (1). */
async function stayEnrolled(
  session: DeviceSession,
  profile: ConfigurationProfile,
  options: DeviceRunOptions,
  stay: StayOptions,
  signing: { identity: Pkcs12Identity | null },
  io: Io,
): Promise<number> {
  const random = options.random ?? secureRandomBytes;
  const payload = MdmKeys.safeParse(findMdmPayload(profile));
  if (!payload.success) throw new Error("the profile's MDM payload lacks what the device needs (Topic, ServerURL, IdentityCertificateUUID)");
  const mdm = payload.data;
  const facts: DeviceFacts = {
    id: mdm.EnrollmentMode === "BYOD" ? { EnrollmentID: newUuid(random) } : { UDID: `00008120-${hexOf(random(8))}` },
    topic: mdm.Topic,
    modelFamily: options.modelFamily,
  };
  const where = stay.mdmOrigin === undefined ? "" : ` (sent to ${stay.mdmOrigin} instead: --mdm-origin)`;
  io.out(`  → ongoing MDM (step 19): check-ins to ${mdm.CheckInURL ?? mdm.ServerURL}, commands to ${mdm.ServerURL}${where}`);
  io.out(`      ${"EnrollmentID" in facts.id ? `EnrollmentID ${facts.id.EnrollmentID}` : `UDID ${facts.id.UDID}`}; polls every ${stay.pollIntervalMs / 1000} s${stay.maxPolls === undefined ? "" : `, ${stay.maxPolls} at most`}; Ctrl-C checks out`);
  if (mdm.SignMessage === true) {
    const identity = await signingIdentity(profile, mdm.IdentityCertificateUUID);
    if (typeof identity === "string") io.err(`  ! SignMessage is on, but ${identity}: requests go unsigned (the server refuses them)`);
    else {
      signing.identity = identity;
      io.out("      SignMessage: every request carries an Mdm-Signature made with the profile's identity");
    }
  }

  const stopper = new Stopper();
  const onSignal = (): void => stopper.stop();
  if (stay.stop === undefined) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  } else {
    void stay.stop.then(onSignal);
  }
  try {
    const send = async (channel: PendingMdmRequest["channel"], message: Readonly<Record<string, PlistValue>>): Promise<Step> => {
      const messageType = String(message["MessageType"] ?? message["Status"] ?? "");
      const outcome = await session.send({ channel, messageType, body: new TextEncoder().encode(buildPlist({ ...message, ...facts.id })) });
      return stepOf(outcome.snapshot, outcome.answer, io);
    };
    for (const message of [authenticate(facts), tokenUpdate(facts, random)]) {
      const step = await send("checkin", message);
      if (step.kind === "ended") return step.exitCode;
    }
    let polls = 0;
    while (!stopper.stopped && (stay.maxPolls === undefined || polls < stay.maxPolls)) {
      polls++;
      let step = await send("command", { Status: "Idle" });
      // Every command is answered at once; the answer to one may carry the next.
      while (step.kind === "command" && !stopper.stopped) step = await send("command", commandAnswer(step.command, facts));
      if (step.kind === "ended") return step.exitCode;
      if (stay.maxPolls === undefined || polls < stay.maxPolls) await stopper.sleep(stay.pollIntervalMs);
    }
    // ONGOING-4: a CheckOut is sent once, never retried, whatever the answer.
    const out = await send("checkin", { MessageType: "CheckOut", Topic: facts.topic });
    if (out.kind === "ended") return out.exitCode;
    const status = out.kind === "answered" ? out.status : 200;
    io.out(`  ✓ ${status === 200 ? "checked out" : `CheckOut answered ${status ?? "nothing"}`} after ${polls} poll${polls === 1 ? "" : "s"}; the device stops`);
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

type Step =
  | { readonly kind: "answered"; readonly status: number | null }
  | { readonly kind: "command"; readonly command: MdmCommand }
  | { readonly kind: "ended"; readonly exitCode: number };

/** What one request's outcome means for the loop: go on, answer a command, or end. */
function stepOf(snapshot: DeviceSnapshot, answer: HttpAnswer | null, io: Io): Step {
  const { context } = snapshot;
  if (snapshot.matches("unenrolled")) {
    io.err(`  ✗ unenrolled by the server (${context.cancelReason ?? "ONGOING-5"}): the device removes its MDM profile and stops`);
    return { kind: "ended", exitCode: 1 };
  }
  if (snapshot.status === "done") {
    io.err(`  ✗ the device machine ended (${String(snapshot.value)}, rule ${context.cancelReason ?? "?"})`);
    return { kind: "ended", exitCode: 1 };
  }
  // A request given up: a second 401 after signing in again (ONGOING-3), or a sign-in that failed.
  if (context.cancelReason !== null && context.cancelReason !== "ONGOING-4") {
    const why = context.cancelReason === "ONGOING-3" ? "refused again after the person signed in again" : "the person could not sign in again";
    io.err(`  ✗ the request was given up by rule ${context.cancelReason} (${why}); the device stops`);
    return { kind: "ended", exitCode: 1 };
  }
  if (answer === null || answer.status !== 200 || answer.body.length === 0) return { kind: "answered", status: answer?.status ?? null };
  const parsed = parsePlist(answer.body);
  const command = parsed.ok ? MdmCommand.safeParse(parsed.value) : undefined;
  return command?.success === true ? { kind: "command", command: command.data } : { kind: "answered", status: answer.status };
}

function authenticate(facts: DeviceFacts): Record<string, PlistValue> {
  const { product, version, osVersion } = simulatedProducts[facts.modelFamily];
  // macOS requires DeviceName, ModelName and Model (authenticate.yaml); other platforms leave them out.
  const mac = facts.modelFamily === "Mac" ? { DeviceName: "Simulated Mac", ModelName: "Mac", Model: product } : {};
  return { MessageType: "Authenticate", Topic: facts.topic, OSVersion: osVersion, BuildVersion: version, ProductName: product, ...mac };
}

function tokenUpdate(facts: DeviceFacts, random: RandomBytes): Record<string, PlistValue> {
  // No UnlockToken: a user enrollment has none, and the simulator has nothing to unlock.
  return { MessageType: "TokenUpdate", Topic: facts.topic, PushMagic: newUuid(random), Token: random(32) };
}

/** Acknowledged, with a small plausible result for the queries the simulator knows. */
function commandAnswer(command: MdmCommand, facts: DeviceFacts): Record<string, PlistValue> {
  const { product, version, osVersion } = simulatedProducts[facts.modelFamily];
  const answer = { Status: "Acknowledged", CommandUUID: command.CommandUUID };
  switch (command.Command.RequestType) {
    case "DeviceInformation": {
      const known: Record<string, PlistValue> = {
        DeviceName: `Simulated ${facts.modelFamily}`,
        ModelName: facts.modelFamily,
        ProductName: product,
        OSVersion: osVersion,
        BuildVersion: version,
        IsSupervised: false,
        ...("UDID" in facts.id ? { UDID: facts.id.UDID } : {}),
      };
      const asked = command.Command["Queries"];
      const queries = Array.isArray(asked) ? asked.filter((q): q is string => typeof q === "string") : Object.keys(known);
      const responses: Record<string, PlistValue> = {};
      for (const query of queries) {
        const value = known[query];
        if (value !== undefined) responses[query] = value;
      }
      return { ...answer, QueryResponses: responses };
    }
    case "SecurityInfo":
      return { ...answer, SecurityInfo: { PasscodePresent: true, PasscodeCompliant: true, PasscodeCompliantWithProfiles: true } };
    case "ProfileList":
      return { ...answer, ProfileList: [] };
    case "CertificateList":
      return { ...answer, CertificateList: [] };
    case "InstalledApplicationList":
      return { ...answer, InstalledApplicationList: [] };
    default:
      return answer;
  }
}

/** The profile's PKCS#12 identity (the one IdentityCertificateUUID names), or why there is none. */
async function signingIdentity(profile: ConfigurationProfile, uuid: string): Promise<Pkcs12Identity | string> {
  const payload = Pkcs12Payload.safeParse(profile.PayloadContent.find((p) => p.PayloadUUID === uuid));
  if (!payload.success) return "the identity is not a PKCS#12 payload (this simulator obtains no SCEP or ACME identity)";
  try {
    return await identityFromPkcs12(payload.data.PayloadContent, payload.data.Password ?? "");
  } catch (error) {
    return `its PKCS#12 identity cannot be read (${messageOf(error)})`;
  }
}

/** `url` with the scheme and host of `origin` (--mdm-origin); unchanged without one. */
function withOrigin(url: string, origin: string | undefined): string {
  if (origin === undefined) return url;
  const target = new URL(url);
  const replacement = new URL(origin);
  target.protocol = replacement.protocol;
  target.host = replacement.host;
  return target.toString();
}

function isMdmRequest(request: Request): boolean {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  return type === checkInContentType || type === commandContentType;
}

/** One MDM request as printed: its path, its message, the status and what came back. */
function mdmLine(request: PendingMdmRequest, answer: HttpAnswer, url: string): string {
  const sent = parsePlist(request.body);
  const message = sent.ok && typeof sent.value === "object" && !Array.isArray(sent.value) && !(sent.value instanceof Date) && !(sent.value instanceof Uint8Array) ? sent.value : {};
  const uuid = typeof message["CommandUUID"] === "string" ? ` ${message["CommandUUID"]}` : "";
  let detail = "";
  if (answer.status === 200 && answer.body.length > 0) {
    const parsed = parsePlist(answer.body);
    const command = parsed.ok ? MdmCommand.safeParse(parsed.value) : undefined;
    detail = command?.success === true ? `: command ${command.data.Command.RequestType} ${command.data.CommandUUID}` : " (an answer that is not a command)";
  } else if (answer.status === 200 && request.channel === "command") {
    detail = " (no command)";
  } else if (answer.status === 401) {
    detail = " (challenged)";
  } else if (answer.status !== 200) {
    const text = new TextDecoder().decode(answer.body);
    const code = /"code"\s*:\s*"([^"]{1,100})"/.exec(text)?.[1];
    detail = code === undefined ? "" : ` (${code})`;
  }
  return `      PUT ${new URL(url).pathname} ${request.messageType}${uuid} → ${answer.status}${detail}`;
}

/** A stop that ends a sleep at once. */
class Stopper {
  stopped = false;
  #wake: (() => void) | undefined;

  stop(): void {
    this.stopped = true;
    this.#wake?.();
  }

  sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function hexOf(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
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
    if (!location.startsWith("apple-remotemanagement-user-login:")) return ` (Location ${shownUrl(new URL(location, response.url || "http://x").toString())})`;
    // Never the token or the code: what kind of callback it is, and an OAuth error as it came.
    const callback = URL.parse(location);
    const error = callback?.searchParams.get("error");
    if (error !== null && error !== undefined) return ` (callback ${callback?.protocol ?? ""}${callback?.pathname ?? ""} with error=${error})`;
    return callback?.searchParams.has("code") === true
      ? ` (callback ${callback.protocol}${callback.pathname} with an authorization code, hidden)`
      : " (callback apple-remotemanagement-user-login://authentication-results, access token hidden)";
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
