// The runtime side of the generated server: discovery routing, the directory, profiles, tokens,
// storage, clock and randomness, all injected — the generated routes and the server machine decide.
import { createHash } from "node:crypto";
import { fromPromise } from "xstate";
import {
  buildEnrollmentProfile,
  buildEnrollmentSsoDocument,
  OrganizationSlug,
  type Challenge,
  type EnrollmentSsoSettings,
  checkConfigurationProfile,
  errorsOf,
  findMdmPayload,
  formatProblem,
  ConfigurationProfile,
  buildWellKnownFailed,
  enrollmentModeForVersion,
  serializeEnrollmentProfile,
  splitUserIdentifier,
  type EnrollmentVersion,
  type IdentityInput,
  type OAuthClient,
  ServerOAuth2Challenge,
  isLoopbackHttp,
  type ServerErrorCode,
  type TrustAnchorInput,
} from "../spec/index.ts";
import type { BuildProfileOutput, EnrollmentStore, ServerContext, VerifyCredentialsInput, VerifyCredentialsOutput } from "../machines/index.ts";
import type { AuthorizedMdmRequest, ChallengeHint, DiscoveryDecision, EnrollmentSsoServed, ServerHost } from "../generated/server.generated.ts";
import { certificateFingerprint, verifyMdmSignature } from "./mdm-signature.ts";
import type { IdentityRequest, IssuedIdentity } from "./identity-ca.ts";

export type { IdentityRequest, IssuedIdentity };
import { arrayBufferBacked, hashToken, newToken, secureRandomBytes, type RandomBytes } from "./crypto.ts";
import type { DirectoryUser } from "./directory.ts";
import { MemoryEnrollmentStore } from "./memory-store.ts";
import { renderErrorPage, renderSignInPage } from "./sign-in-page.ts";
import { csrfTokens } from "./csrf.ts";
import { createOAuth2Server, type OAuth2Server } from "./oauth2-server.ts";
import { createUpstreamSignIn, resolveIdentityProvider, VerifiedIdentities, type IdentityProviderSettings, type ResolvedIdentityProvider, type UpstreamSignIn } from "./upstream-sign-in.ts";
import type { OAuthStore } from "./storage/roles.ts";
import { appleRootCaPem } from "./apple-root-ca.ts";
import { loadPemCertificates, verifyDeviceSignature, type TrustStore } from "./device-signature.ts";
import { defaultThrottle, MemoryFailureCounter, type FailureCounter, type ThrottlePolicy } from "./throttle.ts";

/**
 * Where users are found and passwords checked: the in-memory `Directory`, or the storage-backed
 * `StoredUserDirectory` (runtime/user-directory.ts). `verify` costs the same for an unknown user as
 * for a wrong password.
 */
export interface UserDirectory {
  find(userIdentifier: string): DirectoryUser | undefined | Promise<DirectoryUser | undefined>;
  verify(userIdentifier: string, password: string): Promise<DirectoryUser | undefined>;
}

/** An organization the server enrolls for: its name (on the sign-in page and in profiles) and its domains. */
export interface OrganizationRoute {
  readonly name: string;
  /** Domain → the enrollment type its users get (a user may override it in the directory). */
  readonly domains: Readonly<Record<string, EnrollmentVersion>>;
  /** How long its people's access tokens last (default: the server's); short forces periodic re-authentication. */
  readonly tokenLifetimeSeconds?: number;
  /** Its name in URLs (/enroll/<version>/<slug>, /esso/<slug>); default: made from its name (organizationSlugFromName). */
  readonly slug?: string;
  /**
   * Enrollment SSO (PROTOCOL.md §3): the document built at start and served at /esso/<slug>, announced
   * on the 401s of its enrollments (X-Apple-MDM-ESSO, or -Developer for the developer document).
   */
  readonly enrollmentSso?: EnrollmentSsoSettings;
  /** How its people sign in (default: the server's `authentication`). */
  readonly authentication?: AuthenticationMethod;
  /** The OpenID Connect provider its people sign in with (default: the server's `identityProvider`). */
  readonly identityProvider?: IdentityProviderSettings;
}

/** Simple web authentication (apple-as-web) or OAuth 2 (apple-oauth2). */
export type AuthenticationMethod = "simple" | "oauth2";

/** The OAuth 2 authorization server (runtime/oauth2-server.ts). */
export interface OAuth2Settings {
  /** Registered public clients; the first is the one the apple-oauth2 challenge names (its first redirect URI). */
  readonly clients: readonly OAuthClient[];
  /** The challenge's scope (DOC-OAUTH: required); default "MDM". */
  readonly scope?: string;
  readonly store: OAuthStore;
  /** Default 3600. */
  readonly accessTokenLifetimeSeconds?: number;
  /** Default 30 days. */
  readonly refreshTokenLifetimeSeconds?: number;
  /** Default (and at most) 60. */
  readonly codeLifetimeSeconds?: number;
}

/** An organization's default name in URLs: its name in lower case, runs of other characters as one hyphen ("Example Corp." → "example-corp"). */
export function organizationSlugFromName(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
}

/**
 * The identity payload of the profile: a fixed SCEP, ACME or PKCS#12 payload, or a PKCS#12 issued
 * per enrollment (a device identity certificate and key from the built-in CA).
 */
export type IdentitySource = IdentityInput | { readonly kind: "pkcs12-per-enrollment"; readonly issue: (request: IdentityRequest) => Promise<IssuedIdentity> };

/** A trust anchor the profile carries (its PayloadUUID is derived from the enrollment). */
export type ProfileAnchor = Omit<TrustAnchorInput, "uuid">;

/** One audit event: who did what to what; never a password or a token. */
export interface AuditEvent {
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

export interface ServerOptions {
  /** Where devices reach this server, e.g. https://mdm.example.com (no trailing slash needed). */
  readonly publicBaseUrl: string;
  /** The name on the sign-in page when the user's organization is not known yet. */
  readonly organizationName: string;
  /** Shorthand for one organization named `organizationName` with these domains. */
  readonly domains?: Readonly<Record<string, EnrollmentVersion>>;
  /** The organizations and their domains (in addition to `domains`); a domain belongs to one. */
  readonly organizations?: readonly OrganizationRoute[];
  readonly directory: UserDirectory;
  /** What a person reads when discovery refuses their account (DISCOVERY-11). */
  readonly discoveryFailedMessage?: string;
  readonly profile: {
    readonly identifierPrefix: string;
    readonly topic: string;
    /** https (PROFILE-8); default `${publicBaseUrl}/mdm/server`. */
    readonly serverUrl?: string;
    /** https (PROFILE-8); default `${publicBaseUrl}/mdm/checkin`. */
    readonly checkInUrl?: string;
    readonly identity: IdentitySource;
    readonly signMessage?: boolean;
    readonly serverCapabilities?: readonly string[];
    /** ADDE only; never sent in a BYOD profile (PROFILE-4). */
    readonly accessRights?: number;
    readonly checkOutWhenRemoved?: boolean;
    readonly requiredAppIdForMdm?: number;
    /** Certificates the profile installs as trusted (com.apple.security.root / pem / pkcs1 payloads). */
    readonly anchors?: readonly ProfileAnchor[];
    /** CMS-signs the profile's XML (runtime/profile-signing.ts); unsigned when absent. */
    readonly sign?: (xml: Uint8Array) => Promise<Uint8Array>;
  };
  readonly tokenLifetimeSeconds?: number;
  /** How people sign in unless their organization says otherwise (default "simple"). */
  readonly authentication?: AuthenticationMethod;
  /** Required when any organization (or the default) uses OAuth 2. */
  readonly oauth2?: OAuth2Settings;
  /**
   * The OpenID Connect provider people sign in with, for organizations that name none of their own
   * (runtime/upstream-sign-in.ts). Its routes are the host's `upstreamSignIn.fetch`, to mount at
   * /authenticate/upstream/ (createAdenroll does).
   */
  readonly identityProvider?: IdentityProviderSettings;
  /** The HTTP client for identity providers (default: the platform's fetch). */
  readonly identityProviderFetch?: (request: Request) => Promise<Response>;
  /**
   * Whose certificates may sign MDM requests (Mdm-Signature): the CA of the PKCS#12 identities this
   * server issues, and the CAs behind SCEP/ACME identities. Without anchors every request is unsigned.
   */
  readonly identityTrust?: TrustStore;
  /** Answers authorized MDM requests (the built-in MDM, or the upstream in proxy mode); absent: 200, empty. */
  readonly mdm?: (request: AuthorizedMdmRequest) => Promise<Response>;
  /** Keys the sign-in form's anti-CSRF tokens; instances behind one name must share it. */
  readonly secret?: Uint8Array;
  readonly failures?: FailureCounter;
  /** How long a discovery answer is reused for the same query (default 5 s; 0: never). */
  readonly discoveryCacheMs?: number;
  /**
   * Whose device identities are trusted: Apple Root CA always; a test CA (DER) only when given, for
   * simulated devices — never in production.
   */
  readonly deviceTrust?: { readonly testCa?: Uint8Array };
  readonly throttle?: ThrottlePolicy;
  readonly store?: EnrollmentStore;
  readonly random?: RandomBytes;
  readonly now?: () => number;
  /** Every sign-in success, failure and lockout, and every profile delivery. */
  readonly audit?: (event: AuditEvent) => void | Promise<void>;
  /** Why a request was refused (for the log); never given a token or password. */
  readonly reportRejected?: (operation: string, reason: { readonly code: string; readonly detail: string }) => void;
  readonly reportError?: (error: unknown) => void;
}

/** A host built here: the generated server's, plus the upstream sign-in routes when a provider is configured. */
export interface AdenrollServerHost extends ServerHost {
  /** Answers GET /authenticate/upstream/start and /callback (mount it there); absent without identity providers. */
  readonly upstreamSignIn?: UpstreamSignIn;
}

export function createServerHost(options: ServerOptions): AdenrollServerHost {
  const random = options.random ?? secureRandomBytes;
  const now = options.now ?? (() => Date.now());
  const base = options.publicBaseUrl.replace(/\/+$/, "");
  const defaultLifetimeMs = (options.tokenLifetimeSeconds ?? 3600) * 1000;
  const { directory } = options;
  const organizations: readonly OrganizationRoute[] = [
    ...(options.domains === undefined ? [] : [{ name: options.organizationName, domains: options.domains }]),
    ...(options.organizations ?? []),
  ];
  /** The organization a user identifier's domain belongs to, and the domain's enrollment type. */
  const routeOf = (userIdentifier: string | null): { readonly organization: OrganizationRoute; readonly version: EnrollmentVersion } | undefined => {
    if (userIdentifier === null) return undefined;
    const split = splitUserIdentifier(userIdentifier);
    if (!split.ok) return undefined;
    const domain = split.value.domain.toLowerCase();
    for (const organization of organizations) {
      const version = Object.hasOwn(organization.domains, domain) ? organization.domains[domain] : undefined;
      if (version !== undefined) return { organization, version };
    }
    return undefined;
  };
  const organizationNameOf = (userIdentifier: string | null): string => routeOf(userIdentifier)?.organization.name ?? options.organizationName;
  // Organizations whose first 401 differs from the default are named in their enroll URLs (by slug).
  const defaultMethod: AuthenticationMethod = options.authentication ?? "simple";
  const inUrls = organizationsInUrls(organizations, defaultMethod);
  const slugOf = (organization: OrganizationRoute): string | undefined => [...inUrls].find(([, o]) => o === organization)?.[0];
  // Enrollment SSO: every organization's document is built (and checked, ESSO-5) once, here.
  const essoOffers = enrollmentSsoOffers(inUrls, base, options.profile.identifierPrefix);
  const essoOfferOf = (organization: OrganizationRoute): EssoOffer | undefined => [...essoOffers.values()].find((offer) => offer.organization === organization);
  /**
   * Enrollment SSO is announced while a device enrolls, not on a later re-authentication: for the
   * user's organization once someone signed in, before that for the one the enroll URL names.
   */
  const essoOfferFor = (enrollment: ServerContext, hint: ChallengeHint | undefined): EssoOffer | undefined => {
    if (essoOffers.size === 0 || enrollment.hasProfile || enrollment.enrollmentId !== null) return undefined;
    if (enrollment.userIdentifier !== null) {
      const route = routeOf(enrollment.userIdentifier);
      return route === undefined ? undefined : essoOfferOf(route.organization);
    }
    const named = hint?.organization ?? null;
    return named === null ? undefined : essoOffers.get(named);
  };
  /** How the person behind an enrollment signs in: their organization's method once known, before that the enroll URL's. */
  const methodFor = (enrollment: ServerContext, hint: ChallengeHint | undefined): AuthenticationMethod => {
    const organization = routeOf(enrollment.userIdentifier)?.organization ?? (hint?.organization == null ? undefined : inUrls.get(hint.organization));
    return organization?.authentication ?? defaultMethod;
  };
  const oauth2 = options.oauth2;
  const usesOAuth2 = defaultMethod === "oauth2" || organizations.some((o) => o.authentication === "oauth2");
  if (usesOAuth2 && oauth2 === undefined) throw new Error("OAuth 2 sign-in needs the oauth2 settings (its clients and store)");
  const deviceClient = oauth2?.clients[0];
  const oauth2Challenge = (enrollmentRef: string): Challenge => {
    if (deviceClient === undefined || deviceClient.redirectUris[0] === undefined) throw new Error("OAuth 2 needs at least one client with a redirect URI");
    return {
      method: "apple-oauth2",
      "authorization-url": `${base}/oauth2/authorize?enrollment=${encodeURIComponent(enrollmentRef)}`,
      "token-url": `${base}/oauth2/token`,
      "redirect-url": deviceClient.redirectUris[0],
      "client-id": deviceClient.id,
      scope: oauth2?.scope ?? "MDM",
    };
  };
  if (usesOAuth2) {
    // CHALLENGE-6, checked once with a stand-in reference: https endpoints, the callback scheme, printable values.
    // http on loopback is tolerated (demos, tests): everything else is checked as if it were https.
    const sample = oauth2Challenge("0123456789abcdefghijkl");
    const loopback = (url: string): string => (isLoopbackHttp(url) ? url.replace(/^http:/, "https:") : url);
    const checked = ServerOAuth2Challenge.safeParse(sample.method === "apple-oauth2" ? { ...sample, "authorization-url": loopback(sample["authorization-url"]), "token-url": loopback(sample["token-url"]) } : sample);
    if (!checked.success) throw new Error(`the apple-oauth2 challenge would break CHALLENGE-6 (${checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}); the public base URL must be https and the first client's first redirect URI on the apple-remotemanagement-user-login scheme`);
  }
  const audit = async (event: AuditEvent): Promise<void> => {
    try {
      await options.audit?.(event);
    } catch (error) {
      options.reportError?.(error);
    }
  };

  const identityTrust = options.identityTrust !== undefined && options.identityTrust.anchors.length > 0 ? options.identityTrust : undefined;
  const failures = options.failures ?? new MemoryFailureCounter();
  const throttle = options.throttle ?? defaultThrottle;
  const secret = options.secret ?? random(32);
  const csrf = csrfTokens(secret);
  // Identity providers: the server's default, and each organization's own (checked here, at start).
  const defaultProvider = options.identityProvider === undefined ? undefined : resolveIdentityProvider(options.identityProvider);
  const organizationProviders = new Map<OrganizationRoute, ResolvedIdentityProvider>();
  for (const organization of organizations) {
    if (organization.identityProvider !== undefined) organizationProviders.set(organization, resolveIdentityProvider(organization.identityProvider, `organization ${JSON.stringify(organization.name)}: identityProvider`));
  }
  /** The provider that signs in a user identifier's organization, if any. */
  const providerFor = (userIdentifier: string | null): ResolvedIdentityProvider | undefined => {
    const organization = routeOf(userIdentifier === null ? null : userIdentifier.trim().toLowerCase())?.organization;
    return (organization === undefined ? undefined : organizationProviders.get(organization)) ?? defaultProvider;
  };
  const verifiedIdentities = new VerifiedIdentities();
  // Built once the host is (it runs the machine on the host's enrollments); the page links to it.
  let upstreamSignIn: UpstreamSignIn | undefined;
  const trust: TrustStore = {
    anchors: [
      ...loadPemCertificates(appleRootCaPem).map((certificate) => ({ label: "apple", certificate })),
      ...(options.deviceTrust?.testCa === undefined ? [] : [{ label: "test", certificate: options.deviceTrust.testCa }]),
    ],
  };

  const verifyCredentials = fromPromise<VerifyCredentialsOutput, VerifyCredentialsInput>(async ({ input }) => {
    const at = now();
    const typed = input.username.trim().toLowerCase();
    const keys = [`enrollment:${input.enrollmentRef}`, `user:${typed}`];
    // The audit names who tried; text that is no user identifier (a password typed in the wrong field?) is not kept.
    const actor = splitUserIdentifier(typed).ok ? typed : "(not a user identifier)";
    for (const key of keys) {
      if ((await failures.count(key, at - throttle.windowMs)) >= throttle.maxFailures) {
        await audit({ actor, action: "sign-in.locked-out", subject: input.enrollmentRef, detail: { limit: throttle.maxFailures, windowMs: throttle.windowMs } });
        return { ok: false, throttled: true };
      }
    }
    const provider = providerFor(typed);
    if (input.verifiedBy !== undefined) return verifyUpstreamIdentity(input, typed, provider);
    if (provider !== undefined && !provider.passwordSignIn) {
      // The organization signs in only through its identity provider: no password is even tried.
      await audit({ actor, action: "sign-in.failed", subject: input.enrollmentRef, detail: { reason: "password sign-in is off: this organization signs in through its identity provider" } });
      return { ok: false };
    }
    const user = await directory.verify(input.username, input.password);
    // Re-authentication must be by the person who enrolled the device.
    const sameUser = user !== undefined && (input.expectedUser === null || input.expectedUser.toLowerCase() === user.userIdentifier.toLowerCase());
    if (user === undefined || !sameUser) {
      for (const key of keys) await failures.record(key, at);
      await audit({ actor, action: "sign-in.failed", subject: input.enrollmentRef, detail: { reason: user === undefined ? "wrong user name or password" : "not the user who enrolled this device" } });
      return { ok: false };
    }
    await failures.clear(keys[0] ?? "");
    await audit({
      actor: user.userIdentifier,
      action: input.expectedUser === null ? "sign-in.succeeded" : "sign-in.reauthenticated",
      subject: input.enrollmentRef,
      detail: { managedAppleId: user.managedAppleId },
    });
    return { ok: true, userIdentifier: user.userIdentifier, managedAppleId: user.managedAppleId };
  });

  /**
   * A sign-in an identity provider verified (runtime/upstream-sign-in.ts vouches for it while it
   * sends SIGN_IN): the user must be in the directory — discovery routes only them — and, on a
   * re-authentication, be the one who enrolled the device. The provider must be the one that signs
   * in this user's organization.
   */
  async function verifyUpstreamIdentity(input: VerifyCredentialsInput, typed: string, provider: ResolvedIdentityProvider | undefined): Promise<VerifyCredentialsOutput> {
    const vouched = provider === undefined || provider.issuer !== input.verifiedBy ? undefined : verifiedIdentities.get(VerifiedIdentities.key(input.enrollmentRef, typed, provider.issuer));
    const user = vouched === undefined ? undefined : await directory.find(typed);
    const sameUser = user !== undefined && (input.expectedUser === null || input.expectedUser.toLowerCase() === user.userIdentifier.toLowerCase());
    if (vouched === undefined || user === undefined || !sameUser) {
      const reason = vouched === undefined ? "no identity provider vouched for this sign-in" : user === undefined ? "verified by the identity provider, but not a user here" : "not the user who enrolled this device";
      await audit({ actor: splitUserIdentifier(typed).ok ? typed : "(not a user identifier)", action: "sign-in.failed", subject: input.enrollmentRef, detail: { reason, verifiedBy: input.verifiedBy ?? null } });
      return { ok: false };
    }
    const managedAppleId = vouched.managedAppleId ?? user.managedAppleId;
    await failures.clear(`enrollment:${input.enrollmentRef}`);
    await audit({
      actor: user.userIdentifier,
      action: input.expectedUser === null ? "sign-in.succeeded" : "sign-in.reauthenticated",
      subject: input.enrollmentRef,
      detail: { managedAppleId, verifiedBy: input.verifiedBy ?? null },
    });
    return { ok: true, userIdentifier: user.userIdentifier, managedAppleId };
  }

  const buildProfile = fromPromise<BuildProfileOutput, { enrollmentRef: string; version: EnrollmentVersion; userIdentifier: string; managedAppleId: string }>(
    // A profile that cannot be built is refused by the machine (PROFILE-6); the reason goes to the log.
    ({ input }) =>
      buildProfileFor(input).catch((error: unknown) => {
        options.reportError?.(error);
        throw error;
      }),
  );
  async function buildProfileFor(input: { enrollmentRef: string; version: EnrollmentVersion; userIdentifier: string; managedAppleId: string }): Promise<BuildProfileOutput> {
    // The kind of enrollment is the one discovery gives this user, whatever BaseURL the device posted
    // to: a BYOD user must not obtain an ADDE profile (with AccessRights) by choosing the path.
    const assigned = (await directory.find(input.userIdentifier))?.version ?? routeOf(input.userIdentifier)?.version;
    if (assigned !== input.version) {
      throw new Error(`PROFILE-6: ${input.userIdentifier} enrolls as ${assigned ?? "nothing"}, but the device enrolled at ${input.version}`);
    }
    const mode = enrollmentModeForVersion(input.version);
    const p = options.profile;
    // Every UUID is derived from the enrollment, so a re-issued profile names the same payloads.
    const uuid = (role: string) => enrollmentUuid(input.enrollmentRef, role);
    const uuids = { profile: await uuid("profile"), mdm: await uuid("mdm"), identity: await uuid("identity") };
    let identity: IdentityInput;
    let identityFingerprint: string | undefined;
    if (p.identity.kind === "pkcs12-per-enrollment") {
      const issued = await p.identity.issue({ enrollmentRef: input.enrollmentRef, commonName: uuids.identity, userIdentifier: input.userIdentifier });
      identity = { kind: "pkcs12", data: issued.data, password: issued.password, fileName: "device-identity.p12" };
      // ONGOING-12/13: the identity this server issued is the one the device's signatures must come from.
      if (issued.certificate !== undefined) identityFingerprint = await certificateFingerprint(issued.certificate);
    } else {
      identity = p.identity;
    }
    const anchors: TrustAnchorInput[] = [];
    for (const [i, anchor] of (p.anchors ?? []).entries()) anchors.push({ ...anchor, uuid: await uuid(`anchor/${i}`) });
    const built = buildEnrollmentProfile({
      organizationName: organizationNameOf(input.userIdentifier),
      identifierPrefix: p.identifierPrefix,
      uuids,
      mdm: {
        ServerURL: p.serverUrl ?? `${base}/mdm/server`,
        CheckInURL: p.checkInUrl ?? `${base}/mdm/checkin`,
        Topic: p.topic,
        ...(p.signMessage === undefined ? {} : { SignMessage: p.signMessage }),
        ...(p.serverCapabilities === undefined ? {} : { ServerCapabilities: p.serverCapabilities }),
        ...(p.accessRights === undefined || mode === "BYOD" ? {} : { AccessRights: p.accessRights }),
        ...(p.checkOutWhenRemoved === undefined ? {} : { CheckOutWhenRemoved: p.checkOutWhenRemoved }),
        ...(p.requiredAppIdForMdm === undefined ? {} : { RequiredAppIDForMDM: p.requiredAppIdForMdm }),
      },
      enrollmentMode: mode,
      assignedManagedAppleID: input.managedAppleId,
      identity,
      anchors,
    });
    if (!built.ok) throw new Error(`${built.error.ruleId}: ${built.error.detail}`);
    // Checked against Apple's schemas for the kind of enrollment it is for (user enrollment for BYOD).
    const problems = errorsOf(checkConfigurationProfile(built.value, { os: "iOS", enrollment: mode === "BYOD" ? "user" : "device" }));
    if (problems.length > 0) throw new Error(`PROFILE-6: ${problems.map(formatProblem).join("; ")}`);
    return identityFingerprint === undefined ? { profile: built.value } : { profile: built.value, identityFingerprint };
  }

  const host: ServerHost = {
    store: options.store ?? new MemoryEnrollmentStore(),
    actors: { verifyCredentials, buildProfile },
    now,
    newReference: () => newToken(random),
    hashToken,
    async issueToken(at, userIdentifier) {
      const token = newToken(random);
      const seconds = routeOf(userIdentifier)?.organization.tokenLifetimeSeconds;
      return { token, hash: await hashToken(token), expiresAt: at + (seconds === undefined ? defaultLifetimeMs : seconds * 1000) };
    },
    mdmSignatureRequired: options.profile.signMessage === true,
    async verifyMdmSignature(body, header) {
      if (header === null) return { kind: "absent" };
      if (identityTrust === undefined) return { kind: "invalid" };
      const verified = await verifyMdmSignature(body, header, identityTrust, { now: now() });
      if (verified.ok) return { kind: "valid", signerFingerprint: verified.value.fingerprint };
      options.reportRejected?.("mdm", { code: verified.error.code, detail: verified.error.detail });
      return { kind: "invalid" };
    },
    ...(options.mdm === undefined ? {} : { handleMdm: options.mdm }),
    // Discovery answers are reused for the same query for a few seconds (routing changes with the
    // configuration, which is read at start; 0 turns it off).
    effectCacheMs: options.discoveryCacheMs ?? 5_000,
    async discover(query): Promise<DiscoveryDecision> {
      const identifier = query["user-identifier"];
      const route = routeOf(identifier);
      const user = route === undefined ? undefined : await directory.find(identifier);
      // DISCOVERY-10: the user's own enrollment type overrides the domain's.
      const version = user?.version ?? route?.version;
      if (route === undefined || user === undefined || version === undefined) {
        const description = route === undefined ? "unknown domain" : "unknown user";
        options.reportRejected?.("wellKnown", { code: "discovery.unknown", detail: description });
        return {
          kind: "well-known-failed",
          body: buildWellKnownFailed({
            message: options.discoveryFailedMessage ?? "This account can't enroll a device here. Check the address, or ask your IT department.",
            description,
          }),
        };
      }
      // The BaseURL names the organization when its first 401 depends on it (Enrollment SSO): nobody has signed in then.
      const slug = slugOf(route.organization);
      return { kind: "servers", document: { Servers: [{ Version: version, BaseURL: `${base}/enroll/${version}${slug === undefined ? "" : `/${slug}`}` }] } };
    },
    servesOrganization: (slug) => inUrls.has(slug),
    challengeFor(enrollment: ServerContext, hint?: ChallengeHint) {
      const challenge: Challenge = methodFor(enrollment, hint) === "oauth2" ? oauth2Challenge(enrollment.id) : { method: "apple-as-web", url: `${base}/authenticate/${enrollment.id}` };
      const offer = essoOfferFor(enrollment, hint);
      return offer === undefined ? { challenge } : { challenge, essoUrl: offer.url, ...(offer.developer ? { essoDeveloper: true } : {}) };
    },
    async enrollmentSso(slug) {
      return essoOffers.get(slug)?.served;
    },
    async renderSignInPage(enrollment, view) {
      const token = await csrf.issue(enrollment.id, view.now);
      // The identifier the device sent (login_hint for OAuth 2), or the enrolled user's on a re-authentication.
      const sent = view.form?.fields["login_hint"] ?? view.userIdentifier ?? enrollment.userIdentifier;
      const provider = providerFor(enrollment.userIdentifier ?? sent);
      const upstream =
        provider === undefined || upstreamSignIn === undefined
          ? undefined
          : {
              name: provider.name,
              href: upstreamSignIn.startUrl({ enrollmentRef: enrollment.id, csrf: token, userIdentifier: sent, ...(view.form === undefined ? {} : { authorization: view.form.fields }) }),
              passwordSignIn: provider.passwordSignIn,
            };
      return renderSignInPage({
        organizationName: organizationNameOf(view.userIdentifier ?? enrollment.userIdentifier),
        action: view.form?.action ?? `${base}/authenticate/${enrollment.id}`,
        ...(view.form === undefined ? {} : { hidden: view.form.fields }),
        userIdentifier: view.userIdentifier,
        failed: view.failed,
        csrf: token,
        ...(upstream === undefined ? {} : { upstream }),
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
    async serializeProfile(profile, enrollment) {
      const parsed = ConfigurationProfile.safeParse(profile);
      if (!parsed.success) throw new Error("the machine delivered something that is not a Configuration profile");
      const xml = new TextEncoder().encode(serializeEnrollmentProfile(parsed.data));
      const body = options.profile.sign === undefined ? xml : await options.profile.sign(xml);
      const mdm = findMdmPayload(parsed.data);
      await audit({
        actor: enrollment.userIdentifier ?? "unknown",
        action: "profile.delivered",
        subject: enrollment.id,
        detail: {
          version: enrollment.version,
          enrollmentMode: typeof mdm?.EnrollmentMode === "string" ? mdm.EnrollmentMode : null,
          managedAppleId: enrollment.managedAppleId,
          product: enrollment.device.PRODUCT,
          osVersion: enrollment.device.VERSION,
          signed: options.profile.sign !== undefined,
        },
      });
      return arrayBufferBacked(body) ? body : new Uint8Array(body);
    },
    ...(options.reportRejected === undefined ? {} : { reportRejected: options.reportRejected }),
    ...(options.reportError === undefined ? {} : { reportError: options.reportError }),
  };
  // The OAuth 2 server and the upstream sign-in run the machine on the finished host (`withUpstream`).
  const oauth2Server: OAuth2Server | undefined = oauth2 === undefined ? undefined : createOAuth2Server(() => withUpstream, oauth2ServerOptions(oauth2));
  const finished: AdenrollServerHost = oauth2Server === undefined ? host : { ...host, oauth2: oauth2Server };
  const providers = [...(defaultProvider === undefined ? [] : [defaultProvider]), ...organizationProviders.values()];
  const completeOAuth = oauth2Server?.completeVerifiedSignIn;
  const failOAuth = oauth2Server?.failVerifiedSignIn;
  upstreamSignIn =
    providers.length === 0
      ? undefined
      : createUpstreamSignIn({
          baseUrl: base,
          secret,
          providers,
          providerFor,
          hostOf: () => withUpstream,
          ...(completeOAuth === undefined ? {} : { completeOAuth }),
          ...(failOAuth === undefined ? {} : { failOAuth }),
          verified: verifiedIdentities,
          random,
          now,
          audit,
          ...(options.identityProviderFetch === undefined ? {} : { fetch: options.identityProviderFetch }),
          ...(options.reportRejected === undefined ? {} : { reportRejected: options.reportRejected }),
          ...(options.reportError === undefined ? {} : { reportError: options.reportError }),
        });
  const withUpstream: AdenrollServerHost = upstreamSignIn === undefined ? finished : { ...finished, upstreamSignIn };
  return withUpstream;

  function oauth2ServerOptions(settings: OAuth2Settings): Parameters<typeof createOAuth2Server>[1] {
    return {
      issuer: base,
      clients: settings.clients,
      scopes: [settings.scope ?? "MDM"],
      store: settings.store,
      accessTokenLifetimeMs: (settings.accessTokenLifetimeSeconds ?? 3600) * 1000,
      refreshTokenLifetimeMs: (settings.refreshTokenLifetimeSeconds ?? 30 * 86_400) * 1000,
      codeLifetimeMs: (settings.codeLifetimeSeconds ?? 60) * 1000,
      random,
      now,
      audit,
      ...(options.reportRejected === undefined ? {} : { reportRejected: options.reportRejected }),
    };
  }
}

/**
 * The organizations named in enroll URLs (/enroll/<version>/<slug>): those whose first 401 differs
 * from the server's default (Enrollment SSO, their own sign-in method). Throws on a slug unusable in
 * URLs or taken twice, so that the server does not start with it.
 */
function organizationsInUrls(organizations: readonly OrganizationRoute[], defaultMethod: AuthenticationMethod): Map<string, OrganizationRoute> {
  const bySlug = new Map<string, OrganizationRoute>();
  for (const organization of organizations) {
    if (organization.enrollmentSso === undefined && (organization.authentication ?? defaultMethod) === defaultMethod) continue;
    const slug = organization.slug ?? organizationSlugFromName(organization.name);
    const where = `organization ${JSON.stringify(organization.name)}`;
    if (!OrganizationSlug.safeParse(slug).success) throw new Error(`${where}: ${JSON.stringify(slug)} cannot name it in URLs; give the organization a slug (lower-case letters, digits, hyphens)`);
    if (bySlug.has(slug)) throw new Error(`${where}: the slug ${JSON.stringify(slug)} is another organization's too; give each a slug of its own`);
    bySlug.set(slug, organization);
  }
  return bySlug;
}

/** An organization's Enrollment SSO, built at start. */
interface EssoOffer {
  readonly organization: OrganizationRoute;
  readonly slug: string;
  /** Where devices GET the document (https: ESSO-1). */
  readonly url: string;
  readonly developer: boolean;
  readonly served: EnrollmentSsoServed;
}

/**
 * Builds the Enrollment SSO document of every organization that has one (ESSO-5), by its slug
 * (organizationsInUrls checked those). Throws when one cannot be built — a bad setting, or a base URL
 * that is not https — so that the server does not start with it.
 */
function enrollmentSsoOffers(inUrls: ReadonlyMap<string, OrganizationRoute>, base: string, identifierPrefix: string): Map<string, EssoOffer> {
  const offers = new Map<string, EssoOffer>();
  const utf8 = new TextEncoder();
  for (const [slug, organization] of inUrls) {
    const settings = organization.enrollmentSso;
    if (settings === undefined) continue;
    const where = `organization ${JSON.stringify(organization.name)}: Enrollment SSO`;
    if (!base.toLowerCase().startsWith("https://")) throw new Error(`${where}: needs an https public base URL (devices fetch the document only over https: ESSO-1)`);
    const url = `${base}/esso/${slug}`;
    const built = buildEnrollmentSsoDocument({
      ...settings,
      organizationName: organization.name,
      identifierPrefix,
      uuids: {
        profile: essoUuid(slug, "profile"),
        extension: essoUuid(slug, "extension"),
        certificates: (settings.certificates ?? []).map((_, i) => essoUuid(slug, `certificate/${i}`)),
      },
      profileUrl: `${url}/profile`,
    });
    if (!built.ok) throw new Error(`${where}: ${built.error.ruleId}: ${built.error.detail}`);
    offers.set(slug, {
      organization,
      slug,
      url,
      developer: settings.developer === true,
      served: { document: built.value.document, profile: utf8.encode(built.value.profileXml) },
    });
  }
  return offers;
}

/**
 * The UUID of one payload of an organization's Enrollment SSO profile: enrollmentUuid(`esso/<slug>`, role),
 * computed synchronously (it is needed while the host is built), so it stays the same across restarts.
 */
export function essoUuid(slug: string, role: string): string {
  const namespace = Uint8Array.from(profileUuidNamespace.replace(/-/g, "").match(/../g) ?? [], (h) => parseInt(h, 16));
  const b = new Uint8Array(createHash("sha1").update(namespace).update(`esso/${slug}/${role}`, "utf8").digest()).slice(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}

/** adenroll's UUIDv5 namespace for the payload UUIDs derived from an enrollment. */
const profileUuidNamespace = "6f0d3c1e-5b7a-4b9e-9a51-2f4c8e7d1a30";

/**
 * A name-based UUID (version 5, RFC 9562 §5.5) for one payload of one enrollment's profile: the
 * same enrollment and role give the same UUID every time the profile is issued.
 */
export async function enrollmentUuid(enrollmentRef: string, role: string): Promise<string> {
  const namespace = Uint8Array.from(profileUuidNamespace.replace(/-/g, "").match(/../g) ?? [], (h) => parseInt(h, 16));
  const name = new TextEncoder().encode(`${enrollmentRef}/${role}`);
  const data = new Uint8Array(namespace.length + name.length);
  data.set(namespace);
  data.set(name, namespace.length);
  const b = new Uint8Array(await crypto.subtle.digest("SHA-1", data)).slice(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
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
    case "sign-in.identity-mismatch":
      return {
        title: "This isn't the account you're enrolling",
        message: `You signed in at your identity provider with an account that does not match the one entered on this device, or that cannot enroll devices here. ${again}`,
      };
    case "sign-in.upstream-invalid":
      return { title: "The sign-in could not be completed", message: `The answer from your identity provider expired, was cancelled, or did not come from this sign-in. ${again}` };
    case "sign-in.upstream-unavailable":
      return { title: "Your identity provider can't be reached", message: `Try again in a few minutes. ${again}` };
    case "sign-in.not-expected":
      return { title: "No sign-in needed", message: "This enrollment is not waiting for a sign-in. You can close this page." };
    case "request.invalid":
    case "request.too-large":
      return { title: "Something went wrong", message: `The sign-in form could not be read. ${again}` };
    default:
      return { title: "Something went wrong", message: `${title} ${again}` };
  }
}
