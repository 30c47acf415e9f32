// `adenroll check`: the device plays the whole flow against a server (runtime/check/flow.ts), then
// every documented server-side rule is probed with deliberate deviations, each answer judged by the
// rule it tests (spec/rules.ts ids). Probes that need what the run could not get (a token, the
// profile, a reachable MDM URL) are "not applicable" with the reason, never failures.
import * as client from "../../generated/client.generated.ts";
import type { HttpAnswer } from "../../machines/index.ts";
import {
  attachedContent,
  buildPlist,
  buildAuthorizationRequestUrl,
  buildWebAuthUrl,
  byodHasNoAccessRights,
  checkConfigurationProfile,
  checkEnrollmentSsoDocument,
  EnrollmentVersion,
  enrollmentModeMatchesVersion,
  encodeTokenRequest,
  errorsOf,
  essoDeveloperHeader,
  essoHeader,
  findMdmPayload,
  formatProblem,
  hasValidAssignedManagedAppleID,
  hasValidEnrollmentMode,
  isJsonMediaType,
  parseAuthenticationCallback,
  parseAuthorizationCallback,
  parseChallenge,
  parseEnrollmentProfile,
  parseSignedData,
  Pkcs12Payload,
  profileIsWellFormed,
  ServerOAuth2Challenge,
  ServerWellKnownResponse,
  TokenErrorResponse,
  TokenResponse,
  UnrecognizedDevice,
  WellKnownFailed,
  wellKnownPath,
  type Challenge,
  type ConfigurationProfile,
  type ModelFamily,
  type PlistValue,
} from "../../spec/index.ts";
import type { Fetch } from "../../generated/client.generated.ts";
import { newUuid, secureRandomBytes } from "../crypto.ts";
import { messageOf } from "../error-text.ts";
import { identityFromPkcs12, signMdmMessage, type Pkcs12Identity } from "../mdm-signature.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody, type TestDeviceCa } from "../test-device-ca.ts";
import { simulatedProducts } from "../device.ts";
import { runDeviceFlow, type FlowResult } from "./flow.ts";
import { countOutcomes, Findings, serverRuleForDeviceCancel, type CheckReport, type FuzzSummary } from "./model.ts";
import { runFuzz, type FuzzTarget } from "./fuzz.ts";
import { Recorder } from "./recorder.ts";
import { signIn, planForm, type SignInOutcome } from "./sign-in.ts";

export interface CheckOptions {
  readonly user: string;
  readonly password: string;
  /** Where the well-known request goes (an origin gets the well-known path); undefined: https://<domain>. */
  readonly discoveryUrl?: string;
  /** What the server is expected to use; undefined: whatever its challenge says. */
  readonly auth?: "simple" | "oauth2";
  readonly modelFamily?: ModelFamily;
  /** The test device CA that vouches for the check's devices, or a captured device-signed body. */
  readonly device: { readonly kind: "ca"; readonly ca: TestDeviceCa; readonly body?: Uint8Array } | { readonly kind: "captured"; readonly body: Uint8Array };
  /** Where MDM requests go instead of the profile's scheme and host. */
  readonly mdmOrigin?: string;
  /** The Managed Apple Account the profile must name (PROFILE-7); undefined: a person confirms it. */
  readonly managedAppleId?: string;
  readonly browser?: "never" | "auto" | "always";
  readonly chromiumPath?: string;
  /** An access token a person obtained by hand (--token). */
  readonly token?: string;
  readonly fetch?: Fetch;
  /** A line of progress (the terminal's). */
  readonly progress?: (line: string) => void;
  readonly timeoutMs?: number;
  /** --fuzz N --seed S: N deviations per step after the probes. */
  readonly fuzz?: { readonly runs: number; readonly seed: number };
}


const utf8 = new TextDecoder();
const text = (a: HttpAnswer): string => utf8.decode(a.body);
const hex = (n: number): string => [...secureRandomBytes(n)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** RFC 7235 as our catalogue reads it (CHALLENGE-3): Bearer, then quoted auth-params separated by commas. */
const quotedChallenge = /^Bearer +[A-Za-z0-9_-]+="(?:[^"\\]|\\.)*"(?: *, *[A-Za-z0-9_-]+="(?:[^"\\]|\\.)*")*$/;

function jsonOf(a: HttpAnswer): unknown {
  try {
    return JSON.parse(text(a));
  } catch {
    return undefined;
  }
}

/** The profile of a second enroll answer, unwrapped when CMS-signed. */
export function readProfile(body: Uint8Array): { readonly profile?: ConfigurationProfile; readonly problem?: string } {
  let content = body;
  if (body[0] === 0x30) {
    const sd = parseSignedData(body);
    const inner = sd.ok ? attachedContent(sd.value) : undefined;
    if (inner === undefined || !inner.ok) return { problem: "the body is DER but not a CMS SignedData with attached content" };
    content = inner.value;
  }
  const parsed = parseEnrollmentProfile(content);
  return parsed.ok ? { profile: parsed.value } : { problem: parsed.error.detail };
}

function plistText(value: Record<string, PlistValue>): Uint8Array {
  return new TextEncoder().encode(buildPlist(value));
}

/** Changes one character of the LANGUAGE value inside the signed content: the plist stays valid, the signature does not. */
export function tamperEnrollBody(body: Uint8Array): Uint8Array | undefined {
  const latin = Array.from(body, (b) => String.fromCharCode(b)).join("");
  const key = latin.search(/<key>\s*(?:LANGUAGE|PRODUCT|VERSION)\s*<\/key>\s*<string>/);
  if (key < 0) return undefined;
  const start = latin.indexOf("<string>", key) + "<string>".length;
  if (start <= 0 || latin[start] === "<") return undefined;
  const copy = body.slice();
  copy[start] = copy[start] === 0x58 /* X */ ? 0x59 : 0x58;
  return copy;
}

/** A device's enroll body as the check makes it: the standard plist, signed by a new identity from `ca`. */
export async function deviceEnrollBody(ca: TestDeviceCa, modelFamily: ModelFamily = "iPhone"): Promise<Uint8Array> {
  const { product, version } = simulatedProducts[modelFamily];
  return signEnrollBody(plistText({ LANGUAGE: "en-US", PRODUCT: product, VERSION: version }), await issueDeviceIdentity(ca));
}

export async function runCheck(options: CheckOptions): Promise<CheckReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const progress = options.progress ?? (() => undefined);
  const recorder = new Recorder({ ...(options.fetch === undefined ? {} : { fetch: options.fetch }), timeoutMs: options.timeoutMs ?? 15_000 });
  const f = new Findings();
  const modelFamily = options.modelFamily ?? "iPhone";
  const { product, version: build } = simulatedProducts[modelFamily];
  const standardPlist = { LANGUAGE: "en-US", PRODUCT: product, VERSION: build };
  const ca = options.device.kind === "ca" ? options.device.ca : undefined;
  const signBody = async (plist: Uint8Array, signer: TestDeviceCa | undefined = ca): Promise<Uint8Array | undefined> =>
    signer === undefined ? undefined : signEnrollBody(plist, await issueDeviceIdentity(signer));
  // The device's own body: given (a captured one, or one kept from an earlier run for --token), or signed now.
  const enrollBody = options.device.body ?? ((await signBody(plistText(standardPlist))) ?? new Uint8Array());
  const domain = options.user.slice(options.user.lastIndexOf("@") + 1);
  const wellKnown = new URL(options.discoveryUrl ?? `https://${domain}${wellKnownPath}`);
  if (wellKnown.pathname === "/" || wellKnown.pathname === "") wellKnown.pathname = wellKnownPath;
  const send = (label: string): Fetch => recorder.as(label);
  /** One probe request: the answer (null when the connection failed) and its exchange id. */
  const probe = async (label: string, request: Request): Promise<{ answer: HttpAnswer | null; id: number }> => {
    const id = recorder.nextId;
    try {
      return { answer: await client.toAnswer(await recorder.send(label, request)), id };
    } catch {
      return { answer: null, id };
    }
  };

  // --- 1. The device plays the whole flow -------------------------------------------------------
  progress("→ the device enrolls (discovery, first enroll, sign-in, second enroll, profile)");
  const flow = await runDeviceFlow({
    recorder,
    user: options.user,
    password: options.password,
    modelFamily,
    enrollBody,
    ...(options.discoveryUrl === undefined ? {} : { discoveryUrl: wellKnown.toString() }),
    browser: options.browser ?? "auto",
    ...(options.chromiumPath === undefined ? {} : { chromiumPath: options.chromiumPath }),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  progress(`  ${flow.verdict.text}`);

  // --- 2. Discovery ------------------------------------------------------------------------------
  {
    // DISCOVERY-12: follow the well-known request's redirects by hand.
    const url = new URL(wellKnown);
    url.searchParams.set("user-identifier", options.user);
    url.searchParams.set("model-family", modelFamily);
    let at = url.toString();
    let redirects = 0;
    for (let i = 0; i < 5; i++) {
      const { answer, id } = await probe("probe DISCOVERY-12: the well-known request, redirects followed by hand", new Request(at, { redirect: "manual" }));
      if (answer === null || answer.status < 300 || answer.status >= 400) break;
      redirects++;
      const location = answer.headers["location"] ?? "";
      const next = URL.parse(location, at);
      const carries = next !== null && next.searchParams.get("user-identifier") === options.user && next.searchParams.get("model-family") === modelFamily;
      f.expect("DISCOVERY-12", carries, `the well-known request was redirected (${answer.status}) to ${location.slice(0, 200)}`, "a redirect that carries user-identifier and model-family itself (devices do not re-append them)", [id]);
      if (next === null) break;
      at = next.toString();
    }
    if (redirects === 0) f.notApplicable("DISCOVERY-12", "the server answered the well-known request without a redirect");
  }
  const discovery = flow.discovery;
  let version: EnrollmentVersion | undefined;
  let baseUrl: string | undefined;
  if (discovery === undefined) {
    f.notApplicable("DISCOVERY-10", "the device never asked for discovery");
  } else if (f.failed("DISCOVERY-12")) {
    // The redirect lost the query: whatever came after it is that fault's, not the document's.
    f.notApplicable("DISCOVERY-10", "the well-known redirect lost the query (see DISCOVERY-12)");
  } else {
    const a = discovery.value;
    const parsed = ServerWellKnownResponse.safeParse(jsonOf(a));
    if (parsed.success) {
      version = parsed.data.Servers[0].Version;
      baseUrl = parsed.data.Servers[0].BaseURL;
    }
    f.expect(
      "DISCOVERY-10",
      a.status === 200 && isJsonMediaType(a.headers["content-type"]) && parsed.success,
      `the well-known answer for ${options.user}: ${a.status} ${a.headers["content-type"] ?? "(no content-type)"}${parsed.success ? `, ${version} at ${baseUrl}` : `, ${parsed.error.issues[0]?.message ?? "not the document"}`}`,
      "200 application/json whose Servers holds exactly one item with Version mdm-byod or mdm-adde and an absolute BaseURL",
      discovery.exchanges,
    );
  }
  for (const [what, identifier] of [
    ["an unknown user of the domain", `adenroll-check-nobody-${hex(4)}@${domain}`],
    ["an unknown domain", `nobody@adenroll-check-${hex(4)}.example`],
  ] as const) {
    if (f.failed("DISCOVERY-12")) {
      f.notApplicable("DISCOVERY-11", "the well-known redirect loses the query (see DISCOVERY-12): no answer is about the account");
      break;
    }
    const url = new URL(wellKnown);
    url.searchParams.set("user-identifier", identifier);
    url.searchParams.set("model-family", modelFamily);
    const { answer, id } = await probe(`probe DISCOVERY-11: ${what}`, new Request(url));
    const body = answer === null ? undefined : WellKnownFailed.safeParse(jsonOf(answer));
    f.expect(
      "DISCOVERY-11",
      answer !== null && answer.status === 403 && body?.success === true,
      `discovery for ${what} (${identifier}) answered ${statusOf(answer)}${answer === null ? "" : ` ${text(answer).slice(0, 160)}`}`,
      '403 with {"code":"com.apple.well-known.failed"} (message for the person, description for logs)',
      [id],
    );
  }

  // --- 3. First enroll and the challenge ---------------------------------------------------------
  const first = flow.firstEnroll;
  const enrollUrl = baseUrl ?? flow.context.server?.baseUrl;
  let challenge: Challenge | undefined;
  let challengeHeader: string | undefined;
  if (first === undefined) {
    for (const id of ["ENROLL-5", "ENROLL-2", "ENROLL-3", "ENROLL-4", "CHALLENGE-3"]) f.notApplicable(id, "not reached: discovery gave the device no BaseURL");
  } else {
    const a = first.value;
    challengeHeader = a.headers["www-authenticate"];
    const parsed = parseChallenge(challengeHeader);
    if (parsed.ok) challenge = parsed.value;
    f.expect(
      "ENROLL-5",
      a.status === 401 && a.body.length === 0 && parsed.ok,
      `the first enroll request (no Authorization) answered ${a.status}${a.body.length > 0 ? ` with a ${a.body.length}-byte body` : ""}, WWW-Authenticate ${challengeHeader === undefined ? "missing" : parsed.ok ? "valid" : `invalid (${parsed.error.detail})`}`,
      "401 with an empty body and a valid WWW-Authenticate challenge",
      first.exchanges,
    );
    if (challengeHeader !== undefined && parsed.ok) {
      f.expect("CHALLENGE-3", quotedChallenge.test(challengeHeader.trim()), `the challenge: ${challengeHeader.slice(0, 200)}`, "Bearer followed by quoted auth-params separated by commas (RFC 7235)", first.exchanges);
    } else {
      f.notApplicable("CHALLENGE-3", "the first enroll carried no valid challenge (see ENROLL-5)");
    }
    const esso = a.headers[essoHeader.toLowerCase()] ?? a.headers[essoDeveloperHeader.toLowerCase()];
    if (esso === undefined) f.notApplicable("ESSO-5", "the server offers no Enrollment SSO (no X-Apple-MDM-ESSO header)");
    else {
      const variant = a.headers[essoHeader.toLowerCase()] === undefined ? "developer" : "standard";
      const { answer, id } = await probe("probe ESSO-5: the Enrollment SSO document", new Request(esso));
      const problems = answer === null || answer.status !== 200 ? [`answered ${statusOf(answer)}`] : checkEnrollmentSsoDocument(jsonOf(answer), variant);
      f.expect("ESSO-5", problems.length === 0, `the ${variant} Enrollment SSO document at ${esso}: ${problems.length === 0 ? "valid" : problems.slice(0, 3).join("; ")}`, "a document that validates against Apple's schemas", [id]);
    }
    if (enrollUrl !== undefined) {
      const baseline = a.status;
      // ENROLL-2: the iOS 15 Content-Type; the answer must be what the right Content-Type got.
      {
        const { answer, id } = await probe(
          "probe ENROLL-2: the iOS 15 Content-Type quirk",
          new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: enrollBody.slice() }),
        );
        f.expect("ENROLL-2", answer !== null && answer.status === baseline && answer.status !== 400 && answer.status !== 415, `the same body with Content-Type application/x-www-form-urlencoded answered ${statusOf(answer)} (with the right type: ${baseline})`, `the same answer as with application/pkcs7-signature (${baseline}): the Content-Type is ignored`, [id]);
      }
      const extra = await signBody(plistText({ ...standardPlist, SOFTWARE_UPDATE_DEVICE_ID: `adenroll-check-${hex(4)}`, OS_VERSION: simulatedProducts[modelFamily].osVersion }));
      if (extra === undefined) f.notApplicable("ENROLL-3", "a captured enroll body cannot be re-signed with extra keys (give --device-ca to probe it)");
      else {
        const { answer, id } = await probe("probe ENROLL-3: extra plist keys", new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: extra.slice() }));
        f.expect("ENROLL-3", answer !== null && answer.status === baseline, `a body with plist keys beyond LANGUAGE, PRODUCT and VERSION answered ${statusOf(answer)}`, `the answer a standard body gets (${baseline}): extra keys are tolerated`, [id]);
      }
      // ENROLL-4: invalid bodies, each must be answered 400 (PROTOCOL.md §2 also allows 403).
      const invalid: [string, Uint8Array | undefined][] = [
        ["a truncated body (the first half)", enrollBody.slice(0, Math.floor(enrollBody.length / 2))],
        ["64 random bytes", secureRandomBytes(64)],
        ["an empty body", new Uint8Array()],
        ["a body whose signed content was altered after signing", tamperEnrollBody(enrollBody)],
        ["a body signed by a device identity from an unknown CA", await signBody(plistText(standardPlist), await createTestDeviceCa({ commonName: "adenroll check: a CA nobody trusts" }))],
        ["a signed plist without VERSION", await signBody(plistText({ LANGUAGE: "en-US", PRODUCT: product }))],
        ["signed content that is not a plist", await signBody(new TextEncoder().encode("LANGUAGE=en-US&PRODUCT=iPhone"))],
      ];
      for (const [what, body] of invalid) {
        if (body === undefined) continue;
        const { answer, id } = await probe(`probe ENROLL-4: ${what}`, new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: body.slice() }));
        f.expect("ENROLL-4", answer !== null && (answer.status === 400 || answer.status === 403), `${what} answered ${statusOf(answer)}`, "400 (an invalid enroll request halts enrollment)", [id]);
      }
    }
  }

  // --- 4. Sign-in -----------------------------------------------------------------------------
  const oauth = challenge?.method === "apple-oauth2" ? challenge : undefined;
  const signed = flow.signIn;
  if (options.auth !== undefined && challenge !== undefined && (options.auth === "oauth2") !== (oauth !== undefined)) {
    progress(`  ! --auth ${options.auth}, but the server's challenge is ${challenge.method}: the check follows the server`);
  }
  if (oauth === undefined) {
    for (const id of ["CHALLENGE-6", "OAUTH-6", "OAUTH-7", "OAUTH-8", "OAUTH-9", "OAUTH-10", "OAUTH-11", "OAUTH-12", "OAUTH-13", "OAUTH-14", "OAUTH-15", "OAUTH-16"]) {
      f.notApplicable(id, challenge === undefined ? "not reached: no challenge" : "the server uses simple authentication (apple-as-web), not OAuth 2");
    }
  } else {
    // A test server on loopback may use http (nothing leaves the machine); anywhere else https is required.
    const onLoopback = (url: string): string => (/^http:\/\/(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?::\d+)?\//i.test(url) ? url.replace(/^http:/i, "https:") : url);
    const strict = ServerOAuth2Challenge.safeParse({ ...oauth, "authorization-url": onLoopback(oauth["authorization-url"]), "token-url": onLoopback(oauth["token-url"]) });
    const loopback = onLoopback(oauth["authorization-url"]) !== oauth["authorization-url"];
    f.expect("CHALLENGE-6", strict.success, `the apple-oauth2 challenge${loopback ? " (http on loopback: accepted for a local test server)" : ""}: ${challengeHeader?.slice(0, 300) ?? ""}`, "all six parameters; https authorization-url and token-url; redirect-url on apple-remotemanagement-user-login with a path", first?.exchanges ?? []);
    for (const id of ["SIMPLE-4", "SIMPLE-5"]) f.notApplicable(id, "the server uses OAuth 2, not simple authentication");
  }
  const signInExchange = (): number[] => signed?.exchanges.slice(-1) ?? [];
  const lastStatus = (): number | undefined => {
    const e = recorder.exchanges.find((x) => x.id === signInExchange()[0]);
    return e !== undefined && "status" in e.response ? e.response.status : undefined;
  };
  if (options.token !== undefined) {
    f.notApplicable(oauth === undefined ? "SIMPLE-4" : "OAUTH-6", "a person signed in by hand (--token)");
  } else if (signed === undefined) {
    if (challenge !== undefined) f.notApplicable(oauth === undefined ? "SIMPLE-4" : "OAUTH-6", "the device did not reach the sign-in");
  } else if (signed.value.kind === "http-error" && signed.value.status === 429) {
    f.needsPerson(oauth === undefined ? "SIMPLE-4" : "OAUTH-6", `the server throttles sign-ins for ${options.user} (429 at ${signed.value.url}): wait, or unlock the account, and run again`, signed.exchanges);
  } else if (signed.value.kind === "needs-person") {
    f.needsPerson(oauth === undefined ? "SIMPLE-4" : "OAUTH-6", `the sign-in at ${signed.value.url} needs a person: ${signed.value.why}; sign in by hand there, then run again with the same device (--save-body FILE now, --enroll-body FILE then) and --token`, signed.exchanges);
  } else if (oauth === undefined) {
    const callback = signed.value.kind === "callback" ? parseAuthenticationCallback(signed.value.url) : undefined;
    const host = signed.value.kind === "callback" ? URL.parse(signed.value.url)?.host : undefined;
    f.expect(
      "SIMPLE-4",
      signed.value.kind === "callback" && lastStatus() === 308 && callback?.ok === true && host === "authentication-results",
      signed.value.kind === "callback" ? `the sign-in ended with ${lastStatus() ?? "?"} to ${signed.value.url.replace(/access-token=[^&]+/, "access-token=…")}` : `the sign-in with the right password ended with HTTP ${signed.value.status} at ${signed.value.url}`,
      "308 with Location apple-remotemanagement-user-login://authentication-results?access-token=<token>",
      signed.exchanges,
    );
  } else if (signed.value.kind === "callback") {
    const state = flow.context.oauthState ?? "";
    const callback = parseAuthorizationCallback(signed.value.url, state);
    f.expect("OAUTH-6", lastStatus() === 308 && callback.ok && signed.value.url.startsWith(oauth["redirect-url"]), `the authorization ended with ${lastStatus() ?? "?"} to ${signed.value.url.replace(/code=[^&]+/, "code=…")}`, "308 to redirect-url with code and the request's state", signed.exchanges);
  } else {
    f.fail("OAUTH-6", `the authorization with the right password ended with HTTP ${signed.value.status}`, "308 to redirect-url with code and the request's state", signed.exchanges);
  }

  // --- 5. Second enroll and the profile --------------------------------------------------------
  const second = flow.secondEnroll;
  let profile: ConfigurationProfile | undefined;
  const profileRules = ["ENROLL2-3", "PROFILE-1", "PROFILE-2", "PROFILE-3", "PROFILE-4", "PROFILE-5", "PROFILE-6", "PROFILE-7", "PROFILE-8"];
  if (second === undefined) {
    for (const id of profileRules) f.notApplicable(id, "not reached: the device never sent the second enroll request");
  } else {
    const a = second.value;
    const read = a.body.length === 0 ? { problem: "an empty body" } : readProfile(a.body);
    profile = read.profile;
    f.expect(
      "ENROLL2-3",
      a.status === 200 && (a.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() === "application/x-apple-aspen-config" && profile !== undefined,
      `the second enroll (with the token) answered ${a.status} ${a.headers["content-type"] ?? "(no content-type)"}${read.problem === undefined ? "" : `: ${read.problem}`}`,
      "200 application/x-apple-aspen-config with a Configuration profile",
      second.exchanges,
    );
    if (profile === undefined) {
      for (const id of profileRules.slice(1)) f.notApplicable(id, "no profile was delivered (see ENROLL2-3)");
    } else {
      const mdm = findMdmPayload(profile);
      const v = version ?? flow.context.server?.version;
      const ev = (id: string, ok: boolean, what: string, expected: string): boolean => f.expect(id, ok, what, expected, second.exchanges);
      ev("PROFILE-5", profileIsWellFormed(profile), "the profile holds one com.apple.mdm payload whose IdentityCertificateUUID names an identity payload of the profile", "a Configuration profile with one com.apple.mdm payload naming an identity payload (SCEP, ACME or PKCS#12) of the same profile");
      ev("PROFILE-1", hasValidEnrollmentMode(profile), `EnrollmentMode is ${JSON.stringify(mdm?.EnrollmentMode ?? null)}`, "EnrollmentMode BYOD or ADDE");
      if (v === undefined || !hasValidEnrollmentMode(profile)) f.notApplicable("PROFILE-2", "no valid EnrollmentMode or no discovered Version to compare");
      else ev("PROFILE-2", enrollmentModeMatchesVersion(profile, v), `EnrollmentMode ${String(mdm?.EnrollmentMode)} for the discovered Version ${v}`, "mdm-byod with BYOD, mdm-adde with ADDE");
      ev("PROFILE-3", hasValidAssignedManagedAppleID(profile), `AssignedManagedAppleID is ${JSON.stringify(mdm?.AssignedManagedAppleID ?? null)}`, "a valid Managed Apple Account");
      ev("PROFILE-4", byodHasNoAccessRights(profile), `EnrollmentMode ${String(mdm?.EnrollmentMode)}, AccessRights ${mdm?.["AccessRights"] === undefined ? "absent" : String(mdm["AccessRights"])}`, "no AccessRights in a BYOD profile");
      const problems = errorsOf(checkConfigurationProfile(profile));
      ev("PROFILE-6", problems.length === 0, problems.length === 0 ? "the profile validates against Apple's device-management schemas" : `Apple's schemas: ${problems.slice(0, 4).map(formatProblem).join("; ")}`, "a profile the server checked first: valid against Apple's YAML schemas");
      const assigned = typeof mdm?.AssignedManagedAppleID === "string" ? mdm.AssignedManagedAppleID : undefined;
      if (options.managedAppleId !== undefined) ev("PROFILE-7", assigned === options.managedAppleId, `AssignedManagedAppleID ${JSON.stringify(assigned ?? null)} for ${options.user}`, `the account the server maps ${options.user} to: ${options.managedAppleId} (--managed-apple-id)`);
      else f.needsPerson("PROFILE-7", `the profile assigns ${JSON.stringify(assigned ?? null)} to ${options.user}: confirm it is the account your directory maps this user to, or pass --managed-apple-id`, second.exchanges);
      const topic = typeof mdm?.Topic === "string" ? mdm.Topic : "";
      const serverUrl = typeof mdm?.ServerURL === "string" ? URL.parse(mdm.ServerURL) : null;
      ev("PROFILE-8", typeof mdm?.IdentityCertificateUUID === "string" && topic.startsWith("com.apple.mgmt.") && serverUrl?.protocol === "https:", `com.apple.mdm: IdentityCertificateUUID ${mdm?.IdentityCertificateUUID === undefined ? "missing" : "present"}, Topic ${JSON.stringify(topic)}, ServerURL ${JSON.stringify(mdm?.ServerURL ?? null)}`, "IdentityCertificateUUID, a Topic starting com.apple.mgmt. and an https ServerURL");
    }
  }

  // The device's own verdict: a cancel for a rule this check has not failed is still the server's fault.
  if (!flow.verdict.enrolled && flow.verdict.rule !== null) {
    const server = serverRuleForDeviceCancel[flow.verdict.rule];
    const explained = server?.startsWith("DISCOVERY-") === true && f.failed("DISCOVERY-12");
    if (server !== undefined && !f.failed(server) && !explained) f.fail(server, flow.verdict.text, "an answer a device accepts", []);
  }

  // --- 6. Bad tokens on the second enroll (ENROLL2-2) -----------------------------------------------
  const token = flow.accessToken;
  if (enrollUrl === undefined || challenge === undefined) f.notApplicable("ENROLL2-2", "not reached: no challenge");
  else {
    const wrongToken = token === null ? `adenroll-check-${hex(16)}` : `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    const variants: [string, string][] = [
      ["an unknown bearer token", `Bearer ${hex(24)}`],
      ["the token with its last character changed", `Bearer ${wrongToken}`],
      ["Bearer with no token", "Bearer"],
      ["Basic credentials instead of a bearer token", `Basic ${btoa(`${options.user}:${options.password.length > 0 ? "x" : ""}`)}`],
      ["a malformed bearer value", `Bearer ${"@".repeat(12)} extra`],
    ];
    for (const [what, authorization] of variants) {
      const { answer, id } = await probe(
        `probe ENROLL2-2: ${what}`,
        new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/pkcs7-signature", authorization }, body: enrollBody.slice() }),
      );
      const profileSent = answer !== null && answer.status === 200;
      f.expect("ENROLL2-2", answer !== null && answer.status >= 400 && answer.status < 500, `the second enroll with ${what} answered ${statusOf(answer)}${profileSent ? " with a profile" : ""}`, "an error status (401 with the challenge, or 400/403), never a profile", [id]);
    }
  }

  // --- 7. Sign-in failures and reflection (simple) -------------------------------------------------
  if (oauth === undefined && challenge?.method === "apple-as-web" && enrollUrl !== undefined) {
    // A fresh enrollment (another device) so that the device's own is left as it is.
    const freshBody = (await signBody(plistText(standardPlist))) ?? enrollBody;
    const { answer, id } = await probe("probe: a second device's first enroll (for the sign-in probes)", new Request(enrollUrl, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: freshBody.slice() }));
    const fresh = parseChallenge(answer?.headers["www-authenticate"]);
    if (!fresh.ok || fresh.value.method !== "apple-as-web") {
      f.notApplicable("SIMPLE-5", "a second device got no apple-as-web challenge");
      f.notApplicable("SEC-1", "a second device got no apple-as-web challenge");
    } else {
      const marker = `adenroll${hex(3)}`;
      const hostile = `"'><script>${marker}()</script><img src=x onerror=${marker}>@${domain}`;
      const page = await probe("probe SEC-1: markup in user-identifier", new Request(buildWebAuthUrl(fresh.value.url, hostile)));
      if (page.answer === null || page.answer.status !== 200) f.notApplicable("SEC-1", `the sign-in page with a hostile user-identifier answered ${statusOf(page.answer)}`);
      else {
        const html = text(page.answer);
        f.expect("SEC-1", !html.includes(`<script>${marker}`) && !html.includes(`<img src=x onerror=${marker}`), `the sign-in page for user-identifier ${JSON.stringify(hostile)} ${html.includes(`<script>${marker}`) ? "contains the script tag as sent" : "shows it escaped (or not at all)"}`, "every reflected value HTML-escaped", [page.id]);
      }
      // One wrong password: an error status, and never the callback.
      const start = recorder.nextId;
      const pageAnswer = await probe("probe SIMPLE-5: the sign-in page", new Request(buildWebAuthUrl(fresh.value.url, options.user), { redirect: "manual" }));
      // An unknown user of the domain: a wrong password for the real account would count towards its lockout.
      const plan = pageAnswer.answer === null ? undefined : planForm(text(pageAnswer.answer), { username: `adenroll-check-nobody-${hex(4)}@${domain}`, password: `wrong-${hex(8)}` });
      if (pageAnswer.answer === null || plan?.kind !== "submit") f.notApplicable("SIMPLE-5", "the sign-in page of a second device offers no form the check can fill");
      else {
        const target = new URL(plan.form.action === "" ? buildWebAuthUrl(fresh.value.url, options.user) : plan.form.action, buildWebAuthUrl(fresh.value.url, options.user));
        const submitted = await probe(
          "probe SIMPLE-5: a wrong password",
          new Request(target, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(plan.values).toString(), redirect: "manual" }),
        );
        const location = submitted.answer?.headers["location"] ?? "";
        const callback = location.toLowerCase().startsWith("apple-remotemanagement-user-login:");
        f.expect("SIMPLE-5", submitted.answer !== null && submitted.answer.status >= 400 && !callback, `an unknown user's sign-in answered ${statusOf(submitted.answer)}${callback ? " with a redirect to the callback" : ""}`, "an HTTP error status (such as 401 with the form again), never a redirect to the callback", recorder.since(start));
      }
    }
  }

  if (oauth !== undefined) {
    // SEC-1 on the authorization page: login_hint is what it reflects.
    const marker = `adenroll${hex(3)}`;
    const hostile = `"'><script>${marker}()</script><img src=x onerror=${marker}>@${domain}`;
    const page = await probe("probe SEC-1: markup in login_hint", new Request(buildAuthorizationRequestUrl(oauth, { state: newUuid(secureRandomBytes), loginHint: hostile }), { redirect: "manual" }));
    if (page.answer === null || page.answer.status !== 200) f.notApplicable("SEC-1", `the authorization page with a hostile login_hint answered ${statusOf(page.answer)}`);
    else {
      const html = text(page.answer);
      f.expect("SEC-1", !html.includes(`<script>${marker}`) && !html.includes(`<img src=x onerror=${marker}`), `the authorization page for login_hint ${JSON.stringify(hostile)} ${html.includes(`<script>${marker}`) ? "contains the script tag as sent" : "shows it escaped (or not at all)"}`, "every reflected value HTML-escaped", [page.id]);
    }
  }

  // --- 8. OAuth 2: refresh rotation (before the MDM probes, which use the newest token) ---------------
  let current = token;
  const tokenAnswer = flow.tokenRequest;
  if (oauth !== undefined && tokenAnswer !== undefined && options.token === undefined) {
    const a = tokenAnswer.value.answer;
    const body = TokenResponse.safeParse(jsonOf(a));
    f.expect("OAUTH-7", a.status === 200 && isJsonMediaType(a.headers["content-type"]) && body.success, `the token answer: ${a.status} ${a.headers["content-type"] ?? ""}${body.success ? "" : ` ${text(a).slice(0, 160)}`}`, "200 application/json with token_type Bearer and access_token", tokenAnswer.exchanges);
    f.expect("OAUTH-13", /no-store/i.test(a.headers["cache-control"] ?? ""), `the token answer's Cache-Control: ${a.headers["cache-control"] ?? "(none)"}`, "Cache-Control: no-store", tokenAnswer.exchanges);
    const refresh = body.success ? body.data.refresh_token : undefined;
    if (refresh === undefined) f.notApplicable("OAUTH-12", "the token answer carries no refresh token");
    else {
      const form = { grant_type: "refresh_token", refresh_token: refresh, client_id: oauth["client-id"] } as const;
      const used = await probe("probe OAUTH-12: refresh", new Request(tokenAnswer.value.tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() }));
      const rotated = used.answer === null ? undefined : TokenResponse.safeParse(jsonOf(used.answer));
      const newRefresh = rotated?.success === true ? rotated.data.refresh_token : undefined;
      f.expect("OAUTH-12", rotated?.success === true && newRefresh !== undefined && newRefresh !== refresh, `a refresh answered ${statusOf(used.answer)}${rotated?.success === true ? (newRefresh === undefined ? " without a new refresh token" : newRefresh === refresh ? " with the same refresh token" : " with a new refresh token") : ""}`, "200 with a new access token and a new (rotated) refresh token", [used.id]);
      if (rotated?.success === true) current = rotated.data.access_token;
      const again = await probe("probe OAUTH-12: the used refresh token again", new Request(tokenAnswer.value.tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() }));
      const error = again.answer === null ? undefined : TokenErrorResponse.safeParse(jsonOf(again.answer));
      f.expect("OAUTH-12", again.answer !== null && again.answer.status === 400 && error?.success === true && error.data.error === "invalid_grant", `the used refresh token presented again answered ${statusOf(again.answer)} ${again.answer === null ? "" : text(again.answer).slice(0, 120)}`, "400 invalid_grant (and its family revoked)", [again.id]);
      if (again.answer !== null && again.answer.status >= 400) f.expect("OAUTH-13", /no-store/i.test(again.answer.headers["cache-control"] ?? "") && error?.success === true, `the refused refresh's Cache-Control: ${again.answer.headers["cache-control"] ?? "(none)"}`, "Cache-Control: no-store and a JSON error with an RFC 6749 §5.2 code", [again.id]);
      // Reuse revokes the family (RFC 9700 §4.14.2): the rotated token is gone too; sign in again for what follows.
      current = null;
    }
  } else if (oauth !== undefined) {
    for (const id of ["OAUTH-7", "OAUTH-12", "OAUTH-13"]) f.notApplicable(id, options.token !== undefined ? "a person obtained the token by hand (--token)" : "not reached: no token answer");
  }
  if (oauth !== undefined) await oauthEndpointProbes(oauth, options, probe, f);
  if (oauth !== undefined && current === null && token !== null) {
    // The family's revocation took the device's token with it: the person signs in again (ONGOING-3), same enrollment.
    const again = await signInAgain(oauth, recorder, options, probe);
    current = again.kind === "callback" ? again.accessToken : null;
  }

  // --- 9. Ongoing authorization on check-in and the command channel -------------------------------
  const mdmOrigin = await ongoingProbes({ recorder, f, options, probe, profile, token: current, challenge, modelFamily, enrollUrl, progress, flow, version });

  // --- 10. OAuth 2: the code presented again (last: it revokes what was issued from it) --------------
  if (oauth !== undefined && tokenAnswer !== undefined && options.token === undefined && tokenAnswer.value.request.grant_type === "authorization_code") {
    const replay = await probe("probe OAUTH-10: the authorization code presented again", new Request(tokenAnswer.value.tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: encodeTokenRequest(tokenAnswer.value.request) }));
    const error = replay.answer === null ? undefined : TokenErrorResponse.safeParse(jsonOf(replay.answer));
    f.expect("OAUTH-10", replay.answer !== null && replay.answer.status === 400 && error?.success === true && error.data.error === "invalid_grant", `the code presented a second time answered ${statusOf(replay.answer)} ${replay.answer === null ? "" : text(replay.answer).slice(0, 120)}`, "400 invalid_grant: a code is single use", [replay.id]);
  } else if (oauth !== undefined) {
    f.notApplicable("OAUTH-10", "no authorization code was redeemed by the check");
  }
  f.notApplicable("OAUTH-11", "devices do not send PKCE; probing it needs a second, PKCE sign-in the device never makes");
  f.notApplicable("OAUTH-14", "needs an invalidation by the server's operator between a refresh and its use");

  // --- SEC-2: nothing the check sent got a 5xx --------------------------------------------------------
  const fives = recorder.exchanges.filter((e) => "status" in e.response && e.response.status >= 500);
  if (fives.length > 0) f.fail("SEC-2", `${fives.length} request(s) got a 5xx: ${fives.slice(0, 3).map((e) => `${e.label} → ${"status" in e.response ? e.response.status : ""}`).join("; ")}`, "a 4xx for every malformed request", fives.map((e) => e.id));
  else if (recorder.exchanges.length > 0) f.pass("SEC-2", `none of the ${recorder.exchanges.length} requests of this run got a 5xx (--fuzz sends many more)`);

  let fuzz: FuzzSummary | undefined;
  if (options.fuzz !== undefined && enrollUrl !== undefined) {
    progress(`→ fuzz: ${options.fuzz.runs} deviations per step, seed ${options.fuzz.seed}`);
    const device = await fuzzDevice({ recorder, options, modelFamily, enrollBody: (await signBody(plistText(standardPlist))) ?? enrollBody, wellKnown: wellKnown.toString(), mdmOrigin });
    const plain: Fetch = options.fetch ?? ((request) => fetch(request));
    fuzz = await runFuzz(
      {
        fetch: plain,
        wellKnownUrl: wellKnown.toString(),
        enrollUrl,
        enrollBody: device?.body ?? enrollBody,
        ...(ca === undefined ? {} : { testCa: ca.certificate }),
        ...(device === undefined ? {} : { device: device.device }),
        ...(oauth === undefined ? {} : { oauth: { authorizationUrl: oauth["authorization-url"], tokenUrl: oauth["token-url"], clientId: oauth["client-id"], redirectUrl: oauth["redirect-url"] } }),
      },
      { runs: options.fuzz.runs, seed: options.fuzz.seed, progress },
    );
    for (const failure of fuzz.failures) f.fail(failure.ruleId, `fuzz, ${failure.step}: ${failure.text}`, "an answer the rule allows; replay: " + failure.curl, []);
    if (fuzz.failures.every((x) => x.ruleId !== "SEC-2")) f.pass("SEC-2", `fuzz: ${fuzz.requests} deviations, no 5xx`);
  }

  const results = f.results();
  const discoveryUrl = new URL(wellKnown);
  discoveryUrl.search = "";
  return {
    tool: "adenroll check",
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    target: { user: options.user, discoveryUrl: discoveryUrl.toString(), auth: oauth === undefined ? "simple" : "oauth2" },
    device: flow.verdict.text,
    results,
    exchanges: recorder.exchanges,
    counts: countOutcomes(results),
    ...(fuzz === undefined ? {} : { fuzz }),
  };
}

/** A device of the fuzzer's own: enrolled, checked in once (its id bound), never checked out. */
async function fuzzDevice(c: { recorder: Recorder; options: CheckOptions; modelFamily: ModelFamily; enrollBody: Uint8Array; wellKnown: string; mdmOrigin: string | undefined }): Promise<{ body: Uint8Array; device: NonNullable<FuzzTarget["device"]> } | undefined> {
  const flow = await runDeviceFlow({ recorder: c.recorder, user: c.options.user, password: c.options.password, modelFamily: c.modelFamily, enrollBody: c.enrollBody, ...(c.options.discoveryUrl === undefined ? {} : { discoveryUrl: c.wellKnown }), browser: c.options.browser ?? "auto", ...(c.options.token === undefined ? {} : { token: c.options.token }), ...(c.options.chromiumPath === undefined ? {} : { chromiumPath: c.options.chromiumPath }) });
  const profile = flow.secondEnroll === undefined ? undefined : readProfile(flow.secondEnroll.value.body).profile;
  const mdm = profile === undefined ? undefined : findMdmPayload(profile);
  if (profile === undefined || mdm === undefined || flow.accessToken === null) return undefined;
  const at = (url: string): string => {
    if (c.mdmOrigin === undefined) return url;
    const target = new URL(url);
    const o = new URL(c.mdmOrigin);
    target.protocol = o.protocol;
    target.host = o.host;
    return target.toString();
  };
  let identity: Pkcs12Identity | undefined;
  if (mdm.SignMessage === true) {
    const payload = Pkcs12Payload.safeParse(profile.PayloadContent.find((p) => p.PayloadUUID === mdm.IdentityCertificateUUID));
    if (!payload.success) return undefined;
    identity = await identityFromPkcs12(payload.data.PayloadContent, payload.data.Password ?? "").catch(() => undefined);
    if (identity === undefined) return undefined;
  }
  const serverUrl = at(typeof mdm.ServerURL === "string" ? mdm.ServerURL : "");
  const checkInUrl = at(typeof mdm.CheckInURL === "string" ? mdm.CheckInURL : serverUrl);
  const id = mdm.EnrollmentMode === "BYOD" ? { EnrollmentID: newUuid(secureRandomBytes) } : { UDID: `00008120-${hex(8).toUpperCase()}` };
  const topic = typeof mdm.Topic === "string" ? mdm.Topic : "";
  const body = new TextEncoder().encode(buildPlist({ MessageType: "Authenticate", Topic: topic, OSVersion: simulatedProducts[c.modelFamily].osVersion, BuildVersion: simulatedProducts[c.modelFamily].version, ProductName: simulatedProducts[c.modelFamily].product, ...id }));
  await client.checkIn(c.recorder.as("fuzz: the fuzzer's device checks in"), { url: checkInUrl, body, accessToken: flow.accessToken, signature: identity === undefined ? null : await signMdmMessage(body, identity, { chain: identity.chain }) }).catch(() => undefined);
  return { body: c.enrollBody, device: { token: flow.accessToken, checkInUrl, serverUrl, topic, id, ...(identity === undefined ? {} : { identity }) } };
}

type Probe = (label: string, request: Request) => Promise<{ answer: HttpAnswer | null; id: number }>;

/** OAUTH-8, OAUTH-9, OAUTH-15, OAUTH-16: the authorization server's endpoints, without a sign-in. */
async function oauthEndpointProbes(oauth: Extract<Challenge, { method: "apple-oauth2" }>, options: CheckOptions, probe: Probe, f: Findings): Promise<void> {
  const authorize = (params: Record<string, string>): string => {
    const url = new URL(oauth["authorization-url"]);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.toString();
  };
  const redirect = oauth["redirect-url"];
  for (const [what, params] of [
    ["an unknown client_id", { response_type: "code", client_id: `adenroll-check-${hex(4)}`, redirect_uri: redirect, state: "s1", login_hint: options.user }],
    ["a redirect_uri not registered for the client", { response_type: "code", client_id: oauth["client-id"], redirect_uri: "https://adenroll-check.example/callback", state: "s2", login_hint: options.user }],
  ] as const) {
    const { answer, id } = await probe(`probe OAUTH-8: ${what}`, new Request(authorize(params), { redirect: "manual" }));
    f.expect("OAUTH-8", answer !== null && answer.status >= 400 && answer.status < 500 && answer.headers["location"] === undefined, `the authorization request with ${what} answered ${statusOf(answer)}${answer?.headers["location"] === undefined ? "" : ` redirecting to ${answer.headers["location"]}`}`, "an error page, never a redirect", [id]);
  }
  {
    const state = `adenroll-check-${hex(4)}`;
    const { answer, id } = await probe("probe OAUTH-9: an unsupported response_type", new Request(authorize({ response_type: "token", client_id: oauth["client-id"], redirect_uri: redirect, state, login_hint: options.user }), { redirect: "manual" }));
    const location = URL.parse(answer?.headers["location"] ?? "");
    f.expect(
      "OAUTH-9",
      answer !== null && answer.status >= 300 && answer.status < 400 && location !== null && (answer.headers["location"] ?? "").startsWith(redirect) && location.searchParams.get("error") !== null && location.searchParams.get("state") === state && location.searchParams.get("code") === null,
      `response_type=token answered ${statusOf(answer)} ${answer?.headers["location"] ?? ""}`,
      "a redirect to redirect-url with error and the request's state, and no code",
      [id],
    );
  }
  const metadataUrl = new URL("/.well-known/oauth-authorization-server", oauth["authorization-url"]);
  const meta = await probe("probe OAUTH-16: the authorization server metadata", new Request(metadataUrl));
  const doc = meta.answer === null || meta.answer.status !== 200 ? undefined : jsonOf(meta.answer);
  const record = typeof doc === "object" && doc !== null && !Array.isArray(doc) ? new Map(Object.entries(doc)) : undefined;
  if (record === undefined) {
    f.notApplicable("OAUTH-16", `no metadata at ${metadataUrl} (${statusOf(meta.answer)})`);
    f.notApplicable("OAUTH-15", "no metadata names a revocation endpoint");
    return;
  }
  const list = (key: string): unknown[] => {
    const v = record.get(key);
    return Array.isArray(v) ? v : [];
  };
  const endpointOf = (url: string): string => url.split("?")[0] ?? url;
  const problems = [
    record.get("authorization_endpoint") === endpointOf(oauth["authorization-url"]) ? undefined : "authorization_endpoint is not the challenge's authorization-url",
    record.get("token_endpoint") === oauth["token-url"] ? undefined : "token_endpoint is not the challenge's token-url",
    JSON.stringify(list("response_types_supported")) === '["code"]' ? undefined : "response_types_supported is not exactly [\"code\"]",
    list("grant_types_supported").includes("authorization_code") ? undefined : "grant_types_supported lacks authorization_code",
    list("code_challenge_methods_supported").every((m) => m === "S256") && list("code_challenge_methods_supported").length > 0 ? undefined : "code_challenge_methods_supported is not [\"S256\"]",
    JSON.stringify(list("token_endpoint_auth_methods_supported")) === '["none"]' ? undefined : "token_endpoint_auth_methods_supported is not [\"none\"]",
  ].filter((p): p is string => p !== undefined);
  f.expect("OAUTH-16", problems.length === 0, problems.length === 0 ? "the metadata lists the endpoints, code, S256 and none" : problems.join("; "), "the endpoints, response type code, S256 and token endpoint authentication none", [meta.id]);
  const revocation = record.get("revocation_endpoint");
  if (typeof revocation !== "string") f.notApplicable("OAUTH-15", "the metadata names no revocation endpoint");
  else {
    const { answer, id } = await probe("probe OAUTH-15: revoking an unknown token", new Request(revocation, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: hex(24), client_id: oauth["client-id"] }).toString() }));
    f.expect("OAUTH-15", answer?.status === 200, `revoking an unknown token answered ${statusOf(answer)}`, "200 whether or not the token was known", [id]);
  }
}

function statusOf(a: HttpAnswer | null): string {
  return a === null ? "no answer (the connection failed)" : `${a.status}`;
}

interface OngoingContext {
  readonly recorder: Recorder;
  readonly f: Findings;
  readonly options: CheckOptions;
  readonly probe: Probe;
  readonly profile: ConfigurationProfile | undefined;
  readonly token: string | null;
  readonly challenge: Challenge | undefined;
  readonly modelFamily: ModelFamily;
  readonly enrollUrl: string | undefined;
  readonly progress: (line: string) => void;
  readonly flow: FlowResult;
  /** The discovered Version: a user enrollment names itself by EnrollmentID, whatever the profile says. */
  readonly version: EnrollmentVersion | undefined;
}

const ongoingRules = ["ONGOING-7", "ONGOING-8", "ONGOING-9", "ONGOING-10", "ONGOING-13"];

/** Returns the origin MDM requests went to (undefined: the profile's own). */
async function ongoingProbes(c: OngoingContext): Promise<string | undefined> {
  const { f, options, probe, profile } = c;
  c.f.notApplicable("ONGOING-11", "a permission of the server (it may invalidate a token at any time): nothing to probe from outside");
  c.f.notApplicable("ONGOING-12", `the check plays ${c.modelFamily === "Mac" ? "a Mac's user channel only" : `an ${c.modelFamily}`}: a Mac's token-less device channel is not probed`);
  const mdm = profile === undefined ? undefined : findMdmPayload(profile);
  if (profile === undefined || mdm === undefined || c.token === null) {
    for (const id of ongoingRules) f.notApplicable(id, "not reached: no profile or no access token");
    return c.options.mdmOrigin;
  }
  c.progress("→ ongoing authorization: check-ins and the command channel");
  const serverUrl = typeof mdm.ServerURL === "string" ? mdm.ServerURL : "";
  const checkInUrl = typeof mdm.CheckInURL === "string" ? mdm.CheckInURL : serverUrl;
  let origin = c.options.mdmOrigin;
  const at = (url: string): string => {
    if (origin === undefined) return url;
    const target = new URL(url);
    const o = new URL(origin);
    target.protocol = o.protocol;
    target.host = o.host;
    return target.toString();
  };
  // SignMessage: every request is signed with the profile's PKCS#12 identity.
  let identity: Pkcs12Identity | undefined;
  const signMessage = mdm.SignMessage === true;
  if (signMessage) {
    const payload = Pkcs12Payload.safeParse(profile.PayloadContent.find((p) => p.PayloadUUID === mdm.IdentityCertificateUUID));
    if (!payload.success) {
      for (const id of ongoingRules) f.notApplicable(id, "SignMessage is on with a SCEP or ACME identity, which the check cannot obtain: its requests could not be signed");
      return origin;
    }
    try {
      identity = await identityFromPkcs12(payload.data.PayloadContent, payload.data.Password ?? "");
    } catch (error) {
      for (const id of ongoingRules) f.notApplicable(id, `the profile's PKCS#12 identity cannot be read (${messageOf(error)})`);
      return origin;
    }
  }
  const foreign = signMessage ? await foreignIdentity() : undefined;
  const byod = c.version === undefined ? mdm.EnrollmentMode === "BYOD" : c.version === "mdm-byod";
  const deviceId = (): Record<string, string> => (byod ? { EnrollmentID: newUuid(secureRandomBytes) } : { UDID: `00008120-${hex(8).toUpperCase()}` });
  const id = deviceId();
  const topic = typeof mdm.Topic === "string" ? mdm.Topic : "";
  const { product, version, osVersion } = simulatedProducts[c.modelFamily];
  const messages = {
    Authenticate: { MessageType: "Authenticate", Topic: topic, OSVersion: osVersion, BuildVersion: version, ProductName: product, ...(c.modelFamily === "Mac" ? { DeviceName: "adenroll check", ModelName: "Mac", Model: product } : {}) },
    TokenUpdate: { MessageType: "TokenUpdate", Topic: topic, PushMagic: newUuid(secureRandomBytes), Token: secureRandomBytes(32) },
    CheckOut: { MessageType: "CheckOut", Topic: topic },
    Idle: { Status: "Idle" },
  } as const;
  type Kind = keyof typeof messages;
  const sendMdm = async (label: string, kind: Kind, auth: { token: string | null; sign?: "own" | "none" | "foreign"; id?: Record<string, string> }): Promise<{ answer: HttpAnswer | null; id: number }> => {
    const body = new TextEncoder().encode(buildPlist({ ...messages[kind], ...(auth.id ?? id) }));
    const sign = auth.sign ?? "own";
    const signer = sign === "own" ? identity : sign === "foreign" ? foreign : undefined;
    const signature = signer === undefined ? null : await signMdmMessage(body, signer, { chain: signer.chain });
    const headers = new Headers({ "content-type": kind === "Idle" ? "application/x-apple-aspen-mdm" : "application/x-apple-aspen-mdm-checkin" });
    if (auth.token !== null) headers.set("authorization", `Bearer ${auth.token}`);
    if (signature !== null) headers.set("mdm-signature", signature);
    return probe(label, new Request(at(kind === "Idle" ? serverUrl : checkInUrl), { method: "PUT", headers, body }));
  };
  const t1 = c.token;
  let baseline = await sendMdm("ongoing: Authenticate check-in (the device's token)", "Authenticate", { token: t1 });
  if (baseline.answer === null && origin === undefined && c.enrollUrl !== undefined) {
    // The profile's MDM host is not reachable from here (a demo's https name): try the enrollment server's own origin.
    origin = new URL(c.enrollUrl).origin;
    c.progress(`  ! ${checkInUrl} did not answer; MDM requests go to ${origin} instead (same paths; --mdm-origin chooses)`);
    baseline = await sendMdm("ongoing: Authenticate check-in, at the enrollment server's origin", "Authenticate", { token: t1 });
  }
  if (baseline.answer === null) {
    for (const r of ongoingRules) f.notApplicable(r, `the profile's CheckInURL ${checkInUrl} could not be reached: pass --mdm-origin`);
    return origin;
  }
  if (baseline.answer.status !== 200) {
    f.fail("ONGOING-7", `an Authenticate check-in with the enrollment's own, fresh token answered ${baseline.answer.status} ${text(baseline.answer).slice(0, 120)}`, "200: only a missing, unknown, expired, revoked or foreign token is refused", [baseline.id]);
    for (const r of ongoingRules) f.notApplicable(r, "the device's own check-in was refused (see ONGOING-7)");
    return origin;
  }
  const update = await sendMdm("ongoing: TokenUpdate check-in", "TokenUpdate", { token: t1 });
  const idle = await sendMdm("ongoing: Idle on the command channel", "Idle", { token: t1 });
  const refusedWithChallenge = (a: HttpAnswer | null): boolean => a !== null && a.status === 401 && parseChallenge(a.headers["www-authenticate"]).ok;
  for (const [what, run] of [
    ["a TokenUpdate without Authorization", () => sendMdm("probe ONGOING-7: no token", "TokenUpdate", { token: null })],
    ["a TokenUpdate with an unknown token", () => sendMdm("probe ONGOING-7: an unknown token", "TokenUpdate", { token: hex(24) })],
    ["an Idle with an unknown token", () => sendMdm("probe ONGOING-7: an unknown token on the command channel", "Idle", { token: hex(24) })],
    ["a TokenUpdate with the token but another device's id", () => sendMdm("probe ONGOING-7: the token with another device's id", "TokenUpdate", { token: t1, id: deviceId() })],
  ] as const) {
    const { answer, id: exchange } = await run();
    f.expect("ONGOING-7", refusedWithChallenge(answer), `${what} answered ${statusOf(answer)}${answer?.status === 401 && !refusedWithChallenge(answer) ? " without a valid challenge" : ""}`, "401 with the enrollment's WWW-Authenticate challenge", [exchange]);
  }
  if (update.answer?.status !== 200 || idle.answer?.status !== 200) {
    f.fail("ONGOING-7", `with the device's own token, TokenUpdate answered ${statusOf(update.answer)} and Idle ${statusOf(idle.answer)}`, "200 for requests with the enrollment's valid token", [update.id, idle.id]);
  }
  if (!signMessage) f.notApplicable("ONGOING-13", "the profile does not set SignMessage");
  else {
    for (const [what, sign] of [["no Mdm-Signature", "none"], ["an Mdm-Signature by another identity", "foreign"]] as const) {
      const { answer, id: exchange } = await sendMdm(`probe ONGOING-13: ${what}`, "Idle", { token: t1, sign });
      f.expect("ONGOING-13", answer !== null && answer.status >= 400 && answer.status < 500, `an Idle with the valid token and ${what} answered ${statusOf(answer)}`, "refused (SignMessage: a valid Mdm-Signature by the enrollment's identity is required, whatever the token)", [exchange]);
    }
  }
  // ONGOING-10: the person signs in again with the stored challenge; the new token replaces the old one.
  let t2: string | null = null;
  if (c.challenge === undefined) f.notApplicable("ONGOING-10", "no stored challenge to sign in again with");
  else if (options.token !== undefined) f.notApplicable("ONGOING-10", "a person signed in by hand (--token): the check cannot sign in again");
  else {
    const start = c.recorder.nextId;
    const again = await signInAgain(c.challenge, c.recorder, options, probe);
    if (again.kind !== "callback") {
      if (again.kind === "needs-person") f.needsPerson("ONGOING-10", `signing in again needs a person: ${again.why}`, c.recorder.since(start));
      else if (again.kind === "http-error" && again.status === 429) f.needsPerson("ONGOING-10", `the server throttles sign-ins for ${options.user} (429): wait, or unlock the account, and run again`, c.recorder.since(start));
      else f.fail("ONGOING-10", `signing in again with the stored challenge ended with ${again.kind === "http-error" ? `HTTP ${again.status}` : "no token"}`, "a new access token for the enrollment", c.recorder.since(start));
    } else {
      t2 = again.accessToken;
      const fresh = await sendMdm("probe ONGOING-10: TokenUpdate with the new token", "TokenUpdate", { token: t2 });
      f.expect("ONGOING-10", fresh.answer?.status === 200, `after signing in again, a TokenUpdate with the new token answered ${statusOf(fresh.answer)}`, "200: the new token is the enrollment's", [...c.recorder.since(start).slice(-1), fresh.id]);
      const stale = await sendMdm("probe ONGOING-10: TokenUpdate with the old token", "TokenUpdate", { token: t1 });
      f.expect("ONGOING-10", refusedWithChallenge(stale.answer), `a TokenUpdate with the replaced token answered ${statusOf(stale.answer)}`, "401 with the challenge: the old token stopped working", [stale.id]);
    }
  }
  // ONGOING-8: CheckOut — refused with a token the enrollment never had, accepted with a stale one.
  const stranger = await sendMdm("probe ONGOING-8: CheckOut with a token the enrollment never had", "CheckOut", { token: hex(24) });
  f.expect("ONGOING-8", stranger.answer !== null && stranger.answer.status >= 400 && stranger.answer.status < 500, `a CheckOut with an unknown token answered ${statusOf(stranger.answer)}`, "refused: without any of its tokens a CheckOut is not accepted", [stranger.id]);
  const out = await sendMdm(t2 === null ? "probe ONGOING-8: CheckOut with the token" : "probe ONGOING-8: CheckOut with the stale token", "CheckOut", { token: t1 });
  f.expect("ONGOING-8", out.answer?.status === 200, `a CheckOut with the ${t2 === null ? "device's" : "replaced (stale)"} token answered ${statusOf(out.answer)}`, "200: the device cannot recover from a 401 on a CheckOut", [out.id]);
  // ONGOING-9: the device is unenrolled now.
  if (out.answer?.status !== 200) f.notApplicable("ONGOING-9", "the CheckOut was not accepted, so the device is not unenrolled (see ONGOING-8)");
  else {
    for (const [what, kind] of [["an Idle", "Idle"], ["a TokenUpdate", "TokenUpdate"]] as const) {
      const { answer, id: exchange } = await sendMdm(`probe ONGOING-9: ${what} after CheckOut`, kind, { token: t2 ?? t1 });
      const body = answer === null ? undefined : UnrecognizedDevice.safeParse(jsonOf(answer));
      f.expect("ONGOING-9", answer?.status === 403 && body?.success === true, `${what} from the checked-out device answered ${statusOf(answer)} ${answer === null ? "" : text(answer).slice(0, 120)}`, '403 with {"code":"com.apple.unrecognized.device"}', [exchange]);
    }
  }
  return origin;
}

/** The person signs in again with the stored challenge (ONGOING-3): simple, or a new authorization and token request. */
async function signInAgain(
  challenge: Challenge,
  recorder: Recorder,
  options: CheckOptions,
  probe: Probe,
): Promise<{ readonly kind: "callback"; readonly accessToken: string } | Exclude<SignInOutcome, { kind: "callback" }> | { readonly kind: "no-token"; readonly url: string }> {
  const label = "probe ONGOING-10: the person signs in again";
  const browser = { browser: options.browser ?? "auto", ...(options.chromiumPath === undefined ? {} : { chromiumPath: options.chromiumPath }) } as const;
  if (challenge.method === "apple-as-web") {
    const outcome = await signIn({ recorder, label, startUrl: buildWebAuthUrl(challenge.url, options.user), callbackScheme: "apple-remotemanagement-user-login", username: options.user, password: options.password, ...browser });
    if (outcome.kind !== "callback") return outcome;
    const callback = parseAuthenticationCallback(outcome.url);
    return callback.ok ? { kind: "callback", accessToken: callback.value.accessToken } : { kind: "no-token", url: outcome.url };
  }
  const state = newUuid(secureRandomBytes);
  const scheme = challenge["redirect-url"].slice(0, challenge["redirect-url"].indexOf(":"));
  const outcome = await signIn({ recorder, label, startUrl: buildAuthorizationRequestUrl(challenge, { state, loginHint: options.user }), callbackScheme: scheme, username: options.user, password: options.password, ...browser });
  if (outcome.kind !== "callback") return outcome;
  const callback = parseAuthorizationCallback(outcome.url, state);
  if (!callback.ok) return { kind: "no-token", url: outcome.url };
  const form = encodeTokenRequest({ grant_type: "authorization_code", code: callback.value.code, redirect_uri: challenge["redirect-url"], client_id: challenge["client-id"] });
  const { answer } = await probe(`${label}: the token request`, new Request(challenge["token-url"], { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form }));
  const token = answer === null ? undefined : TokenResponse.safeParse(jsonOf(answer));
  return token?.success === true ? { kind: "callback", accessToken: token.data.access_token } : { kind: "no-token", url: challenge["token-url"] };
}

/** A signing identity no server issued (for ONGOING-13's foreign signature). */
async function foreignIdentity(): Promise<Pkcs12Identity> {
  const ca = await createTestDeviceCa({ commonName: "adenroll check: a foreign identity CA", algorithm: "ecdsa-p256" });
  const identity = await issueDeviceIdentity(ca, { algorithm: "ecdsa-p256" });
  return { certificate: identity.certificate, privateKey: identity.privateKey, chain: [ca.certificate] };
}

