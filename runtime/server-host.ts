// The runtime side of the generated server: discovery routing, the directory, profiles, tokens,
// storage, clock and randomness, all injected — the generated routes and the server machine decide.
import { fromPromise } from "xstate";
import {
  buildEnrollmentProfile,
  checkConfigurationProfile,
  errorsOf,
  formatProblem,
  ConfigurationProfile,
  buildWellKnownFailed,
  enrollmentModeForVersion,
  serializeEnrollmentProfile,
  splitUserIdentifier,
  type EnrollmentVersion,
  type IdentityInput,
  type ServerErrorCode,
} from "../spec/index.ts";
import type { EnrollmentStore, ServerContext, VerifyCredentialsInput, VerifyCredentialsOutput } from "../machines/index.ts";
import type { DiscoveryDecision, ServerHost } from "../generated/server.generated.ts";
import { hashToken, newToken, newUuid, secureRandomBytes, type RandomBytes } from "./crypto.ts";
import type { Directory } from "./directory.ts";
import { MemoryEnrollmentStore } from "./memory-store.ts";
import { renderErrorPage, renderSignInPage } from "./sign-in-page.ts";
import { csrfTokens } from "./csrf.ts";
import { appleRootCaPem } from "./apple-root-ca.ts";
import { loadPemCertificates, verifyDeviceSignature, type TrustStore } from "./device-signature.ts";
import { defaultThrottle, MemoryFailureCounter, type FailureCounter, type ThrottlePolicy } from "./throttle.ts";

export interface ServerOptions {
  /** Where devices reach this server, e.g. https://mdm.example.com (no trailing slash needed). */
  readonly publicBaseUrl: string;
  readonly organizationName: string;
  /** Domain → the enrollment type its users get (a user may override it in the directory). */
  readonly domains: Readonly<Record<string, EnrollmentVersion>>;
  readonly directory: Directory;
  readonly profile: {
    readonly identifierPrefix: string;
    readonly topic: string;
    readonly serverUrl?: string;
    readonly checkInUrl?: string;
    readonly identity: IdentityInput;
    readonly signMessage?: boolean;
    readonly serverCapabilities?: readonly string[];
    /** ADDE only; never sent in a BYOD profile (PROFILE-4). */
    readonly accessRights?: number;
  };
  readonly tokenLifetimeSeconds?: number;
  /** Keys the sign-in form's anti-CSRF tokens; instances behind one name must share it. */
  readonly secret?: Uint8Array;
  readonly failures?: FailureCounter;
  /**
   * Whose device identities are trusted: Apple Root CA always; a test CA (DER) only when given, for
   * simulated devices — never in production.
   */
  readonly deviceTrust?: { readonly testCa?: Uint8Array };
  readonly throttle?: ThrottlePolicy;
  readonly store?: EnrollmentStore;
  readonly random?: RandomBytes;
  readonly now?: () => number;
  readonly reportError?: (error: unknown) => void;
}

export function createServerHost(options: ServerOptions): ServerHost {
  const random = options.random ?? secureRandomBytes;
  const now = options.now ?? (() => Date.now());
  const base = options.publicBaseUrl.replace(/\/+$/, "");
  const lifetime = (options.tokenLifetimeSeconds ?? 3600) * 1000;
  const { directory } = options;

  const failures = options.failures ?? new MemoryFailureCounter();
  const throttle = options.throttle ?? defaultThrottle;
  const csrf = csrfTokens(options.secret ?? random(32));
  const trust: TrustStore = {
    anchors: [
      ...loadPemCertificates(appleRootCaPem).map((certificate) => ({ label: "apple", certificate })),
      ...(options.deviceTrust?.testCa === undefined ? [] : [{ label: "test", certificate: options.deviceTrust.testCa }]),
    ],
  };

  const verifyCredentials = fromPromise<VerifyCredentialsOutput, VerifyCredentialsInput>(async ({ input }) => {
    const at = now();
    const keys = [`enrollment:${input.enrollmentRef}`, `user:${input.username.trim().toLowerCase()}`];
    for (const key of keys) {
      if ((await failures.count(key, at - throttle.windowMs)) >= throttle.maxFailures) return { ok: false, throttled: true };
    }
    const user = await directory.verify(input.username, input.password);
    // Re-authentication must be by the person who enrolled the device.
    const sameUser = user !== undefined && (input.expectedUser === null || input.expectedUser.toLowerCase() === user.userIdentifier.toLowerCase());
    if (user === undefined || !sameUser) {
      for (const key of keys) await failures.record(key, at);
      return { ok: false };
    }
    await failures.clear(keys[0] ?? "");
    return { ok: true, userIdentifier: user.userIdentifier, managedAppleId: user.managedAppleId };
  });

  const buildProfile = fromPromise<{ profile: unknown }, { enrollmentRef: string; version: EnrollmentVersion; userIdentifier: string; managedAppleId: string }>(
    async ({ input }) => {
      const mode = enrollmentModeForVersion(input.version);
      const p = options.profile;
      const built = buildEnrollmentProfile({
        organizationName: options.organizationName,
        identifierPrefix: p.identifierPrefix,
        uuids: { profile: newUuid(random), mdm: newUuid(random), identity: newUuid(random) },
        mdm: {
          ServerURL: p.serverUrl ?? `${base}/mdm/server`,
          CheckInURL: p.checkInUrl ?? `${base}/mdm/checkin`,
          Topic: p.topic,
          ...(p.signMessage === undefined ? {} : { SignMessage: p.signMessage }),
          ...(p.serverCapabilities === undefined ? {} : { ServerCapabilities: p.serverCapabilities }),
          ...(p.accessRights === undefined || mode === "BYOD" ? {} : { AccessRights: p.accessRights }),
        },
        enrollmentMode: mode,
        assignedManagedAppleID: input.managedAppleId,
        identity: p.identity,
      });
      if (!built.ok) throw new Error(`${built.error.ruleId}: ${built.error.detail}`);
      // Checked against Apple's schemas for the kind of enrollment it is for (user enrollment for BYOD).
      const problems = errorsOf(checkConfigurationProfile(built.value, { os: "iOS", enrollment: mode === "BYOD" ? "user" : "device" }));
      if (problems.length > 0) throw new Error(`PROFILE-6: ${problems.map(formatProblem).join("; ")}`);
      return { profile: built.value };
    },
  );

  return {
    store: options.store ?? new MemoryEnrollmentStore(),
    actors: { verifyCredentials, buildProfile },
    now,
    newReference: () => newToken(random),
    hashToken,
    async issueToken(at) {
      const token = newToken(random);
      return { token, hash: await hashToken(token), expiresAt: at + lifetime };
    },
    async discover(query): Promise<DiscoveryDecision> {
      const split = splitUserIdentifier(query["user-identifier"]);
      const domainVersion = split.ok ? options.domains[split.value.domain.toLowerCase()] : undefined;
      const user = directory.find(query["user-identifier"]);
      const version = user?.version ?? domainVersion;
      if (domainVersion === undefined || user === undefined || version === undefined) {
        return {
          kind: "well-known-failed",
          body: buildWellKnownFailed({
            message: "This account can't enroll a device here. Check the address, or ask your IT department.",
            description: domainVersion === undefined ? "unknown domain" : "unknown user",
          }),
        };
      }
      return { kind: "servers", document: { Servers: [{ Version: version, BaseURL: `${base}/enroll/${version}` }] } };
    },
    challengeFor(enrollment: ServerContext) {
      return { challenge: { method: "apple-as-web", url: `${base}/authenticate/${enrollment.id}` } };
    },
    async renderSignInPage(enrollment, view) {
      return renderSignInPage({
        organizationName: options.organizationName,
        action: `${base}/authenticate/${enrollment.id}`,
        userIdentifier: view.userIdentifier,
        failed: view.failed,
        csrf: await csrf.issue(enrollment.id, view.now),
      });
    },
    checkSignInCsrf: (ref, token, at) => csrf.check(ref, token, at),
    async verifyDeviceSignature(body) {
      const verified = await verifyDeviceSignature(body, trust);
      return verified.ok ? { ok: true } : { ok: false, error: verified.error };
    },
    async renderErrorPage(code, title) {
      return renderErrorPage({ organizationName: options.organizationName, ...errorPageText(code, title, throttle) });
    },
    async serializeProfile(profile) {
      const parsed = ConfigurationProfile.safeParse(profile);
      if (!parsed.success) throw new Error("the machine delivered something that is not a Configuration profile");
      return new TextEncoder().encode(serializeEnrollmentProfile(parsed.data));
    },
    ...(options.reportError === undefined ? {} : { reportError: options.reportError }),
  };
}

/** The words a person reads when web authentication ends with an error; `title` is spec/errors.ts's. */
function errorPageText(code: ServerErrorCode, title: string, throttle: ThrottlePolicy): { readonly title: string; readonly message: string } {
  const again = "To enroll this device, start again from Settings.";
  switch (code) {
    case "sign-in.cancelled":
      return { title: "Sign-in cancelled", message: "This device was not enrolled. To enroll it, start again from Settings." };
    case "sign-in.forged":
      return { title: "This sign-in page has expired", message: `The form expired or did not come from this server, so nothing was sent. ${again}` };
    case "sign-in.throttled": {
      const minutes = Math.max(1, Math.ceil(throttle.windowMs / 60_000));
      return {
        title: "Too many attempts",
        message: `Signing in is paused after several wrong passwords. Wait ${minutes} minute${minutes === 1 ? "" : "s"}, then start the enrollment again from Settings.`,
      };
    }
    case "sign-in.unknown":
    case "not-found":
      return { title: "This sign-in link isn't valid", message: `It is unknown or has expired. ${again}` };
    case "sign-in.not-expected":
      return { title: "No sign-in needed", message: "This enrollment is not waiting for a sign-in. You can close this page." };
    case "request.invalid":
    case "request.too-large":
      return { title: "Something went wrong", message: `The sign-in form could not be read. ${again}` };
    default:
      return { title: "Something went wrong", message: `${title} ${again}` };
  }
}
