// The server's configuration: one file, JSON (`.json`) or YAML (anything else), validated with Zod.
// A bad value stops the server with the path of the bad key and what was expected (ConfigError;
// the CLI prints its message and exits with status 2). Relative file paths resolve against the
// config file's folder. See examples/ for a commented file per case.
//
// What it holds:
//   publicBaseUrl         where devices reach this server (discovery BaseURLs, the sign-in page)
//   organizations         each with a name, domains → enrollment type (mdm-byod | mdm-adde),
//                         per-user overrides of the type, and the authentication method ("simple"
//                         or "oauth2"; default: the top-level `authentication`)
//   authentication, oauth2
//                         how people sign in by default, and the OAuth 2 authorization server's
//                         clients, scope and lifetimes (runtime/oauth2-server.ts)
//   users                 userIdentifier → managedAppleId and a scrypt password hash (a plain
//                         `password` is accepted for demos only: hashed at load, with a warning);
//                         neither for a user whose organization signs in through an identityProvider
//   profile               what the enrollment profile carries: ServerURL, CheckInURL, Topic,
//                         ServerCapabilities, SignMessage, AccessRights (ADDE only), the identity
//                         (SCEP, ACME, or PKCS#12 from the built-in CA), trust anchors (PEM files),
//                         an optional signing certificate and key (PEM files)
//   tokenLifetimeSeconds  how long an access token authorizes the device
//   deviceTrust           allowTestDeviceCa (false by default): also trust a test CA for simulated
//                         devices — never in production
//   database              a postgres:// URL (the CLI's --database wins); embedded PGlite otherwise
//   admin                 tokens of the admin API (/admin/v1): name and SHA-256 (hex) of each token;
//                         none: one is generated into the data folder at first start
//   upstream              proxy mode: the MDM that answers the MDM requests adenroll authorized
//                         (runtime/proxy.ts; the CLI's --upstream wins)
//   identityProvider      sign-in through an OpenID Connect provider, top level or per organization
//                         (runtime/upstream-sign-in.ts): issuer, client, claims, passwordSignIn
//   organizations[].enrollmentSso
//                         Enrollment SSO: the SSO app, its extension, certificates (PEM files) and
//                         optional declarations; the document is built and checked at load (ESSO-5)
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import {
  buildEnrollmentSsoDocument,
  enrollmentSsoSettingsProblems,
  EnrollmentVersion,
  isFqdn,
  OrganizationSlug,
  appleRedirectUri,
  isLoopbackHttp,
  type EnrollmentSsoSettings,
  type EssoCertificateInput,
  type PlistValue,
  isManagedAppleID,
  parseCertificate,
  splitUserIdentifier,
  SubjectName,
  type AcmeIdentityInput,
  type ScepIdentityInput,
} from "../spec/index.ts";
import { secureRandomBytes, type RandomBytes } from "./crypto.ts";
import { hashPasswordScrypt, parsePasswordHash, type ScryptCost } from "./directory.ts";
import { loadPemCertificates } from "./device-signature.ts";
import { readIdentityCa, type IdentityCa } from "./identity-ca.ts";
import { loadProfileSigner, type ProfileSigningMaterial } from "./profile-signing.ts";
import { organizationSlugFromName, type ProfileAnchor } from "./server-host.ts";
import type { SeedUser } from "./user-directory.ts";
import { messageOf, systemErrorCode } from "./error-text.ts";
import { upstreamUrlProblem } from "./proxy.ts";
import { identityProviderProblems, type IdentityProviderSettings } from "./upstream-sign-in.ts";

// ---------------------------------------------------------------------------------------------
// The file's schema

const httpUrl = z.string().refine((value) => {
  const url = URL.parse(value);
  return url !== null && (url.protocol === "https:" || url.protocol === "http:") && url.search === "" && url.hash === "";
}, "expected an absolute http(s) URL without query or fragment, e.g. https://mdm.example.com");

const httpsUrl = z.string().refine((value) => URL.parse(value)?.protocol === "https:", "expected an https URL (PROFILE-8: devices accept only https MDM URLs)");

const domainName = z.string().refine((value) => isFqdn(value) && !value.endsWith("."), "expected a domain name such as example.com");

const userIdentifier = z.string().refine((value) => splitUserIdentifier(value).ok, "expected a user identifier of the form user@domain");

const scryptHash = z.string().refine((value) => parsePasswordHash(value) !== null, "expected a scrypt$N$r$p$salt$hash password hash (make one with `adenroll hash-password`)");

/** "O=Example, CN=device" or Apple's nested form [[["O","Example"]],[["CN","device"]]]. */
const subject = z.union([
  SubjectName,
  z.string().transform((value, ctx) => {
    const rdns = value.split(/\s*,\s*/).filter((part) => part.length > 0).map((part) => part.split("="));
    if (rdns.length === 0 || rdns.some((pair) => pair.length !== 2 || (pair[0] ?? "").trim() === "")) {
      ctx.addIssue({ code: "custom", message: 'expected a subject such as "O=Example Corp, CN=device"' });
      return z.NEVER;
    }
    return rdns.map(([type = "", v = ""]) => [[type.trim(), v.trim()] as [string, string]]);
  }),
]);

const fileRef = z.string().min(1, "expected a file path (relative to the config file's folder)");

const Authentication = z.enum(["simple", "oauth2"], { error: 'expected "simple" (web sign-in, apple-as-web) or "oauth2" (apple-oauth2)' });

/** Whether anyone signs in with OAuth 2: by default, or in some organization. */
function usesOAuth2(c: { readonly authentication: string; readonly organizations: readonly { readonly authentication?: string | undefined }[] }): boolean {
  return c.authentication === "oauth2" || c.organizations.some((o) => o.authentication === "oauth2");
}

/** A registered OAuth 2 client (public: no secret). */
const OAuthClientConfig = z.strictObject({
  id: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, "printable characters without spaces"),
  /** Exact strings (OAUTH-8); Apple devices use the apple-remotemanagement-user-login scheme. */
  redirectUris: z.array(z.string().min(1).refine((v) => URL.canParse(v) && !v.includes("#"), "an absolute URI without a fragment")).min(1),
  /** "required": the client must use PKCE (S256); devices send none, so never for them. */
  pkce: z.enum(["optional", "required"]).default("optional"),
});

/** The OAuth 2 authorization server (runtime/oauth2-server.ts). */
const OAuth2Config = z.strictObject({
  /** The first is the one devices are told to use (the apple-oauth2 challenge's client-id and redirect-url). */
  clients: z.array(OAuthClientConfig).min(1).default([{ id: "adenroll", redirectUris: [appleRedirectUri], pkce: "optional" }]),
  /** The challenge's scope (DOC-OAUTH: required). */
  scope: z.string().min(1).regex(/^[\x20-\x7e]+$/, "printable characters").default("MDM"),
  accessTokenLifetimeSeconds: z.int().min(60).max(86_400).default(3600),
  refreshTokenLifetimeSeconds: z.int().min(300).max(366 * 86_400).default(30 * 86_400),
  /** OAUTH-10: at most 60. */
  codeLifetimeSeconds: z.int().min(5).max(60).default(60),
});

/** A value the extension receives as it is: what a plist holds, from JSON or YAML (no null). */
type ExtensionDataValue = string | number | boolean | ExtensionDataValue[] | { [key: string]: ExtensionDataValue };
const ExtensionDataValue: z.ZodType<ExtensionDataValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.array(ExtensionDataValue), z.record(z.string(), ExtensionDataValue)]),
);

const SsoExtension = z
  .strictObject({
    /** The bundle id of the app extension that performs SSO (ExtensionIdentifier). */
    identifier: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "expected the bundle id of the SSO app extension, e.g. com.example.sso.extension"),
    /** The extension's team (10 characters); checks the developer App IDs (iOS ignores TeamIdentifier). */
    teamIdentifier: z.string().regex(/^[A-Z0-9]{10}$/, "expected a 10-character team id such as ABCDE12345").optional(),
    type: z.enum(["Redirect", "Credential"]),
    /** Redirect only, and required there: identity-provider URL prefixes. */
    urls: z.array(z.string()).min(1, "expected at least one URL").optional(),
    /** Credential only. */
    realm: z.string().min(1).optional(),
    /** Credential only, and required there: host or domain names (".example.com" matches subdomains). */
    hosts: z.array(z.string()).min(1, "expected at least one host").optional(),
    extensionData: z.record(z.string(), ExtensionDataValue).optional(),
  })
  .superRefine((ext, ctx) => {
    const wrong = (key: "urls" | "realm" | "hosts", message: string) => ctx.addIssue({ code: "custom", path: [key], message });
    if (ext.type === "Redirect") {
      if (ext.urls === undefined) wrong("urls", "required for a Redirect extension: the identity provider's URL prefixes");
      if (ext.hosts !== undefined) wrong("hosts", "only for a Credential extension (a Redirect extension uses urls)");
      if (ext.realm !== undefined) wrong("realm", "only for a Credential extension (a Redirect extension uses urls)");
    } else {
      if (ext.hosts === undefined) wrong("hosts", "required for a Credential extension: the hosts or domains it authenticates");
      if (ext.urls !== undefined) wrong("urls", "only for a Redirect extension (a Credential extension uses hosts and realm)");
    }
  });

const EnrollmentSso = z
  .strictObject({
    /** The developer document (X-Apple-MDM-ESSO-Developer, honoured only with the device's developer setting on). */
    developer: z.boolean().default(false),
    /** The SSO app's App Store id; required unless developer. */
    iTunesStoreID: z.int().positive().optional(),
    associatedDomains: z.array(z.string().regex(/^\S+$/, "expected an associated domain such as authsrv:login.example.com")).optional(),
    associatedDomainsEnableDirectDownloads: z.boolean().optional(),
    /** Developer only, and required there: TEAMID.bundle.id of the apps. */
    appIds: z.array(z.string().regex(/^[A-Z0-9]{10}\.[A-Za-z0-9][A-Za-z0-9.-]*$/, "expected TEAMID.bundle.id, e.g. ABCDE12345.com.example.sso")).min(1, "expected at least one App ID").optional(),
    /** Developer declarations: the app's bundle id (default: the first App ID without its team). */
    bundleId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "expected a bundle id").optional(),
    extension: SsoExtension,
    /** PEM files: one com.apple.security.root payload per certificate, beside the SSO payload. */
    certificates: z.array(fileRef).default([]),
    /** Also send Declarations (iOS/iPadOS 18.4, visionOS 2.4); the profile is then served at /esso/<slug>/profile. */
    declarations: z.boolean().default(false),
  })
  .superRefine((sso, ctx) => {
    if (sso.developer) {
      if (sso.appIds === undefined) ctx.addIssue({ code: "custom", path: ["appIds"], message: "required with developer: true (the developer document's App IDs)" });
    } else {
      if (sso.iTunesStoreID === undefined) ctx.addIssue({ code: "custom", path: ["iTunesStoreID"], message: "required: the App Store id of the SSO app (only the developer document may leave it out)" });
      if (sso.appIds !== undefined) ctx.addIssue({ code: "custom", path: ["appIds"], message: "AppIDs appear only in the developer document: set developer: true, or remove appIds" });
      if (sso.bundleId !== undefined) ctx.addIssue({ code: "custom", path: ["bundleId"], message: "only for developer: true (the standard document names the app by iTunesStoreID)" });
    }
  });

/**
 * An OpenID Connect provider people sign in with (runtime/upstream-sign-in.ts). Register
 * <publicBaseUrl>/authenticate/upstream/callback as its redirect URI.
 */
const IdentityProviderConfig = z
  .strictObject({
    /** https (http only on a loopback address, for tests). */
    issuer: z.string().min(1),
    /** The button reads "Continue with <name>"; default: the issuer's host name. */
    name: z.string().min(1).max(100).optional(),
    clientId: z.string().min(1),
    /** The client's secret, or a file that holds it; neither: a public client (PKCE only). */
    clientSecret: z.string().min(1).optional(),
    clientSecretFile: fileRef.optional(),
    scopes: z.string().min(1).default("openid email"),
    /** The claim holding the user identifier, compared with the one the device sent. */
    userClaim: z.string().min(1).default("email"),
    /** The claim holding the Managed Apple Account; default: the user's managedAppleId here. */
    managedAppleIdClaim: z.string().min(1).optional(),
    /** Also offer the password form (default false: the provider only). */
    passwordSignIn: z.boolean().default(false),
  })
  .superRefine((idp, ctx) => {
    if (idp.clientSecret !== undefined && idp.clientSecretFile !== undefined) ctx.addIssue({ code: "custom", path: ["clientSecretFile"], message: "expected clientSecret or clientSecretFile, not both" });
    const settings: IdentityProviderSettings = {
      issuer: idp.issuer,
      clientId: idp.clientId,
      scopes: idp.scopes,
      userClaim: idp.userClaim,
      ...(idp.managedAppleIdClaim === undefined ? {} : { managedAppleIdClaim: idp.managedAppleIdClaim }),
    };
    for (const problem of identityProviderProblems(settings)) {
      const split = /^([A-Za-z]+): (.*)$/.exec(problem);
      ctx.addIssue({ code: "custom", path: split === null ? [] : [split[1] ?? ""], message: split?.[2] ?? problem });
    }
  });

const Organization = z.strictObject({
  /** Shown on the sign-in page and in the profile (PayloadOrganization). */
  name: z.string().min(1),
  /** How its people sign in; default: the top-level `authentication`. */
  authentication: Authentication.optional(),
  /** Domain → the enrollment type its users get. */
  domains: z.record(domainName, EnrollmentVersion).refine((d) => Object.keys(d).length > 0, "expected at least one domain"),
  /** User identifier → the enrollment type this user gets instead of the domain's. */
  overrides: z.record(userIdentifier, EnrollmentVersion).default({}),
  /** How long its people's access tokens last; short forces periodic re-authentication. Default: the top-level one. */
  tokenLifetimeSeconds: z.int().min(60).max(30 * 86_400).optional(),
  /** Its name in URLs (/enroll/<version>/<slug>, /esso/<slug>); default: made from its name. */
  slug: OrganizationSlug.optional(),
  /** Enrollment SSO (PROTOCOL.md §3): announced on the first 401 of its enrollments, served at /esso/<slug>. */
  enrollmentSso: EnrollmentSso.optional(),
  /** Its people sign in through this OpenID Connect provider (default: the top-level identityProvider). */
  identityProvider: IdentityProviderConfig.optional(),
});

const User = z
  .strictObject({
    userIdentifier,
    managedAppleId: z.string().refine(isManagedAppleID, "expected a Managed Apple Account, e.g. alice@appleid.example.com"),
    passwordHash: scryptHash.optional(),
    /** Demos only: hashed at load, with a warning. */
    password: z.string().min(8, "expected a password of at least 8 characters").optional(),
  })
  // Neither: a user who signs in only through the organization's identity provider (checked below).
  .refine((u) => u.password === undefined || u.passwordHash === undefined, { message: "expected at most one of passwordHash (recommended) or password (demos only)" });

const ScepIdentity = z.strictObject({
  kind: z.literal("scep"),
  url: httpUrl,
  challenge: z.string().optional(),
  keysize: z.union([z.literal(1024), z.literal(2048), z.literal(4096)]).optional(),
  subject: subject.optional(),
  name: z.string().optional(),
  keyUsage: z.int().min(0).max(5).optional(),
});

const AcmeIdentity = z.strictObject({
  kind: z.literal("acme"),
  directoryUrl: httpsUrl,
  clientIdentifier: z.string().min(1),
  keyType: z.enum(["RSA", "ECSECPrimeRandom"]).default("ECSECPrimeRandom"),
  keySize: z.int().positive().default(384),
  hardwareBound: z.boolean().default(true),
  subject,
  attest: z.boolean().optional(),
});

const Pkcs12Identity = z.strictObject({
  kind: z.literal("pkcs12"),
  /** The only source so far: a device identity per enrollment from the built-in CA. */
  source: z.literal("builtin-ca").default("builtin-ca"),
  keyBits: z.union([z.literal(2048), z.literal(3072), z.literal(4096)]).default(2048),
  validityDays: z.int().min(1).max(3650).default(365),
  /** The CA's certificate and key (PEM). Omitted: generated at first start and kept in the data folder. */
  ca: z.strictObject({ certificate: fileRef, privateKey: fileRef }).optional(),
});

const TrustAnchor = z.union([fileRef, z.strictObject({ file: fileRef, name: z.string().min(1).optional() })]);

const Profile = z.strictObject({
  /** Reverse-DNS prefix of the payload identifiers, e.g. com.example.mdm. */
  identifierPrefix: z.string().regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, "expected a reverse-DNS identifier such as com.example.mdm"),
  topic: z.string().regex(/^com\.apple\.mgmt\../, "expected the APNs topic of the MDM push certificate, starting with com.apple.mgmt."),
  serverUrl: httpsUrl.optional(),
  checkInUrl: httpsUrl.optional(),
  serverCapabilities: z.array(z.string().min(1)).optional(),
  signMessage: z.boolean().optional(),
  checkOutWhenRemoved: z.boolean().optional(),
  requiredAppIdForMdm: z.int().positive().optional(),
  /** ADDE profiles only; never sent in a BYOD profile (PROFILE-4). */
  accessRights: z.int().min(1).max(8191).optional(),
  identity: z.discriminatedUnion("kind", [ScepIdentity, AcmeIdentity, Pkcs12Identity]),
  trustAnchors: z.array(TrustAnchor).default([]),
  signing: z.strictObject({ certificate: fileRef, privateKey: fileRef }).optional(),
  /**
   * PEM files of the CAs that issue SCEP/ACME device identities: Mdm-Signature is verified against
   * them (ONGOING-12, -13). The built-in CA of PKCS#12 identities is always trusted.
   */
  identityCaCertificates: z.array(fileRef).default([]),
});

const DeviceTrust = z.strictObject({
  /** Also trust a test CA for simulated devices (`adenroll device`). Never in production. */
  allowTestDeviceCa: z.boolean().default(false),
  /** The test CA's certificate (PEM); omitted: the one in the data folder. */
  testDeviceCa: fileRef.optional(),
});

/** An admin API token: who holds it (the audit's actor is admin:<name>) and its SHA-256, hex. */
const AdminToken = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "expected a short name: letters, digits, '.', '_' or '-' (at most 64)"),
  tokenHash: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "expected the token's SHA-256 in hex, 64 characters (`adenroll admin-token` prints a token and its hash)")
    .transform((hash) => hash.toLowerCase()),
});

const Admin = z.strictObject({ tokens: z.array(AdminToken).default([]) });

export const ConfigFile = z
  .strictObject({
    publicBaseUrl: httpUrl,
    /** The name on pages whose organization is not known yet; default: the first organization's. */
    organizationName: z.string().min(1).optional(),
    organizations: z.array(Organization).min(1, "expected at least one organization"),
    users: z.array(User).default([]),
    discovery: z.strictObject({ failedMessage: z.string().min(1).max(500) }).optional(),
    profile: Profile,
    tokenLifetimeSeconds: z.int().min(60).max(30 * 86_400).default(3600),
    /** How people sign in unless their organization says otherwise. */
    authentication: Authentication.default("simple"),
    oauth2: OAuth2Config.optional(),
    /** The OpenID Connect provider of organizations that name none of their own. */
    identityProvider: IdentityProviderConfig.optional(),
    deviceTrust: DeviceTrust.default({ allowTestDeviceCa: false }),
    database: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL").optional(),
    admin: Admin.optional(),
    /** Proxy mode: the upstream MDM's base URL (absolute http(s), no query, fragment or password). */
    upstream: z
      .string()
      .superRefine((value, ctx) => {
        const problem = upstreamUrlProblem(value);
        if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
  })
  .superRefine((config, ctx) => {
    const owner = new Map<string, number>();
    config.organizations.forEach((org, i) => {
      for (const domain of Object.keys(org.domains)) {
        const key = domain.toLowerCase();
        const first = owner.get(key);
        if (first !== undefined) ctx.addIssue({ code: "custom", path: ["organizations", i, "domains", domain], message: `this domain already belongs to organizations[${first}]` });
        else owner.set(key, i);
      }
    });
    const users = new Map<string, number>();
    config.users.forEach((user, i) => {
      const key = user.userIdentifier.trim().toLowerCase();
      if (users.has(key)) ctx.addIssue({ code: "custom", path: ["users", i, "userIdentifier"], message: `duplicate of users[${users.get(key)}]` });
      users.set(key, i);
      const split = splitUserIdentifier(user.userIdentifier);
      const org = split.ok ? owner.get(split.value.domain.toLowerCase()) : undefined;
      if (split.ok && org === undefined) {
        ctx.addIssue({ code: "custom", path: ["users", i, "userIdentifier"], message: `its domain ${split.value.domain} is not one of the organizations' domains` });
      }
      // Without a password only an identity provider can sign this user in.
      const signsInUpstream = org !== undefined && (config.organizations[org]?.identityProvider ?? config.identityProvider) !== undefined;
      if (org !== undefined && user.password === undefined && user.passwordHash === undefined && !signsInUpstream) {
        ctx.addIssue({
          code: "custom",
          path: ["users", i],
          message: "expected passwordHash (or password, demos only): this user's organization signs in with passwords (it names no identityProvider), so without one they could never sign in",
        });
      }
    });
    config.organizations.forEach((org, i) => {
      for (const id of Object.keys(org.overrides)) {
        const split = splitUserIdentifier(id);
        if (!users.has(id.trim().toLowerCase())) ctx.addIssue({ code: "custom", path: ["organizations", i, "overrides", id], message: "expected a user listed under users" });
        else if (split.ok && owner.get(split.value.domain.toLowerCase()) !== i) {
          ctx.addIssue({ code: "custom", path: ["organizations", i, "overrides", id], message: "expected a user of one of this organization's domains" });
        }
      }
    });
    const essoSlugs = new Map<string, number>();
    config.organizations.forEach((org, i) => {
      if (org.enrollmentSso === undefined) return;
      const slug = org.slug ?? organizationSlugFromName(org.name);
      const first = essoSlugs.get(slug);
      if (!OrganizationSlug.safeParse(slug).success) {
        ctx.addIssue({ code: "custom", path: ["organizations", i, "slug"], message: `required: its name makes no usable URL name (${JSON.stringify(slug)}); set lower-case letters, digits and hyphens` });
      } else if (first !== undefined) {
        ctx.addIssue({ code: "custom", path: ["organizations", i, "slug"], message: `"${slug}" is also organizations[${first}]'s URL name; give each organization with enrollmentSso a slug of its own` });
      } else essoSlugs.set(slug, i);
      if (URL.parse(config.publicBaseUrl)?.protocol !== "https:") {
        ctx.addIssue({ code: "custom", path: ["organizations", i, "enrollmentSso"], message: "needs an https publicBaseUrl: devices fetch the Enrollment SSO document only over https (ESSO-1)" });
      }
    });
    // CHALLENGE-6: the apple-oauth2 challenge's endpoints are https.
    if (usesOAuth2(config) && URL.parse(config.publicBaseUrl)?.protocol !== "https:" && !isLoopbackHttp(config.publicBaseUrl)) {
      ctx.addIssue({ code: "custom", path: ["publicBaseUrl"], message: "OAuth 2 sign-in needs an https publicBaseUrl: the apple-oauth2 challenge's authorization-url and token-url are https (CHALLENGE-6; plain http only on loopback, for demos)" });
    }
    const firstClient = config.oauth2?.clients[0];
    if (firstClient !== undefined && firstClient.redirectUris[0] !== undefined && !firstClient.redirectUris[0].startsWith("apple-remotemanagement-user-login:/")) {
      ctx.addIssue({ code: "custom", path: ["oauth2", "clients", 0, "redirectUris", 0], message: "the first client is the devices' one: its first redirect URI must be on the apple-remotemanagement-user-login scheme with a path (CHALLENGE-6)" });
    }
    const adminNames = new Map<string, number>();
    config.admin?.tokens.forEach((token, i) => {
      const first = adminNames.get(token.name);
      if (first !== undefined) ctx.addIssue({ code: "custom", path: ["admin", "tokens", i, "name"], message: `duplicate of admin.tokens[${first}]` });
      else adminNames.set(token.name, i);
    });
    if (URL.parse(config.publicBaseUrl)?.protocol !== "https:") {
      for (const key of ["serverUrl", "checkInUrl"] as const) {
        if (config.profile[key] === undefined) {
          ctx.addIssue({ code: "custom", path: ["profile", key], message: "required when publicBaseUrl is not https: devices accept only https MDM URLs (PROFILE-8)" });
        }
      }
    }
  });
export type ConfigFile = z.input<typeof ConfigFile>;

// ---------------------------------------------------------------------------------------------
// The loaded configuration

export type IdentityConfig =
  | ScepIdentityInput
  | AcmeIdentityInput
  | { readonly kind: "pkcs12"; readonly source: "builtin-ca"; readonly keyBits: 2048 | 3072 | 4096; readonly validityDays: number; readonly ca?: IdentityCa };

export interface OrganizationConfig {
  readonly name: string;
  readonly authentication?: "simple" | "oauth2";
  readonly domains: Readonly<Record<string, EnrollmentVersion>>;
  readonly overrides: Readonly<Record<string, EnrollmentVersion>>;
  readonly tokenLifetimeSeconds?: number;
  readonly slug?: string;
  /** With its certificates read; checked by building the document at load (ESSO-5). */
  readonly enrollmentSso?: EnrollmentSsoSettings;
  /** With its client secret read. */
  readonly identityProvider?: IdentityProviderSettings;
}

export interface AdenrollConfig {
  /** The file it was read from, or null (built in code, e.g. the demo). */
  readonly source: string | null;
  readonly publicBaseUrl: string;
  readonly organizationName: string;
  readonly organizations: readonly OrganizationConfig[];
  /** With their overrides applied and every password hashed. */
  readonly users: readonly SeedUser[];
  readonly discoveryFailedMessage?: string;
  readonly profile: {
    readonly identifierPrefix: string;
    readonly topic: string;
    readonly serverUrl?: string;
    readonly checkInUrl?: string;
    readonly serverCapabilities?: readonly string[];
    readonly signMessage?: boolean;
    readonly checkOutWhenRemoved?: boolean;
    readonly requiredAppIdForMdm?: number;
    readonly accessRights?: number;
    readonly identity: IdentityConfig;
    readonly anchors: readonly ProfileAnchor[];
    readonly signing?: ProfileSigningMaterial;
    /** DER certificates of the CAs behind SCEP/ACME identities (Mdm-Signature anchors). */
    readonly identityCaCertificates: readonly Uint8Array[];
  };
  readonly tokenLifetimeSeconds: number;
  readonly authentication: "simple" | "oauth2";
  /** Present when anyone signs in with OAuth 2 (defaults filled in). */
  readonly oauth2?: {
    readonly clients: readonly { readonly id: string; readonly redirectUris: readonly string[]; readonly pkce: "optional" | "required" }[];
    readonly scope: string;
    readonly accessTokenLifetimeSeconds: number;
    readonly refreshTokenLifetimeSeconds: number;
    readonly codeLifetimeSeconds: number;
  };
  /** The OpenID Connect provider of organizations that name none of their own (client secret read). */
  readonly identityProvider?: IdentityProviderSettings;
  readonly deviceTrust: {
    readonly allowTestDeviceCa: boolean;
    /** DER of the configured test CA; absent: the data folder's (when allowed). */
    readonly testDeviceCa?: Uint8Array;
  };
  readonly database?: string;
  /** Proxy mode: the upstream MDM that answers authorized MDM requests (runtime/proxy.ts). */
  readonly upstream?: string;
  /** The admin API's tokens (SHA-256, hex); empty: the data folder's generated one (runtime/serve.ts). */
  readonly admin: { readonly tokens: readonly AdminTokenConfig[] };
  /** Things worth a line in the log (a plain password, say); never a secret. */
  readonly warnings: readonly string[];
}

export interface AdminTokenConfig {
  /** The audit log's actor is admin:<name>. */
  readonly name: string;
  /** SHA-256 of the token, lower-case hex. */
  readonly tokenHash: string;
}

export interface ConfigIssue {
  /** Where, e.g. organizations[0].domains["example.com"]. */
  readonly path: string;
  readonly message: string;
}

/** A configuration that cannot be used: every problem, each with the path of its key. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string | null,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(
      [
        `${source === null ? "the configuration" : `the config file ${source}`} is not valid:`,
        ...issues.map((issue) => `  - ${issue.path === "" ? "(the file)" : issue.path}: ${issue.message}`),
      ].join("\n"),
    );
  }
}

export interface LoadConfigOptions {
  readonly random?: RandomBytes;
  /** scrypt cost of plain demo passwords hashed at load (default: production). */
  readonly scryptCost?: number | ScryptCost;
  readonly now?: () => number;
}

/** Reads, validates and resolves a config file. Throws ConfigError (or an I/O error for the file itself). */
export async function loadConfigFile(file: string, options: LoadConfigOptions = {}): Promise<AdenrollConfig> {
  const source = path.resolve(file);
  let text: string;
  try {
    text = await readFile(source, "utf8");
  } catch (error) {
    throw new ConfigError(source, [{ path: "", message: `cannot be read: ${messageOf(error)}` }]);
  }
  let raw: unknown;
  try {
    raw = source.toLowerCase().endsWith(".json") ? JSON.parse(text) : parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos !== undefined ? ` (line ${error.linePos[0].line}, column ${error.linePos[0].col})` : "";
    throw new ConfigError(source, [{ path: "", message: `is not valid ${source.toLowerCase().endsWith(".json") ? "JSON" : "YAML"}${where}: ${messageOf(error).split("\n")[0] ?? ""}` }]);
  }
  return parseConfig(raw, { ...options, source, baseDir: path.dirname(source) });
}

/** Validates and resolves a configuration value (as read from a file, or built in code). */
export async function parseConfig(raw: unknown, options: LoadConfigOptions & { readonly source?: string | null; readonly baseDir: string }): Promise<AdenrollConfig> {
  const source = options.source ?? null;
  const parsed = ConfigFile.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.map(toIssue));
  const c = parsed.data;
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const read = async (at: string, file: string): Promise<string | undefined> => {
    const full = path.resolve(options.baseDir, file);
    try {
      return await readFile(full, "utf8");
    } catch (error) {
      issues.push({ path: at, message: `cannot read ${full}: ${systemErrorCode(error) ?? messageOf(error)}` });
      return undefined;
    }
  };

  // Users: overrides applied, passwords hashed; a user without one signs in through the identity provider only.
  const random = options.random ?? secureRandomBytes;
  const overrides = new Map<string, EnrollmentVersion>();
  for (const org of c.organizations) for (const [id, version] of Object.entries(org.overrides)) overrides.set(id.trim().toLowerCase(), version);
  const users: SeedUser[] = [];
  for (const [i, user] of c.users.entries()) {
    let passwordHash = user.passwordHash ?? null;
    if (user.password !== undefined) {
      warnings.push(`users[${i}] (${user.userIdentifier}) has a plain password in the config: for demos only — store a passwordHash instead (adenroll hash-password)`);
      passwordHash = await hashPasswordScrypt(user.password, random, options.scryptCost);
    }
    const enrollmentType = overrides.get(user.userIdentifier.trim().toLowerCase());
    users.push({ userIdentifier: user.userIdentifier, managedAppleId: user.managedAppleId, passwordHash, ...(enrollmentType === undefined ? {} : { enrollmentType }) });
  }

  // The identity.
  const id = c.profile.identity;
  let identity: IdentityConfig | undefined;
  switch (id.kind) {
    case "scep":
      identity = {
        kind: "scep",
        url: id.url,
        ...(id.challenge === undefined ? {} : { challenge: id.challenge }),
        ...(id.keysize === undefined ? {} : { keysize: id.keysize }),
        ...(id.subject === undefined ? {} : { subject: id.subject }),
        ...(id.name === undefined ? {} : { name: id.name }),
        ...(id.keyUsage === undefined ? {} : { keyUsage: id.keyUsage }),
      };
      break;
    case "acme":
      identity = {
        kind: "acme",
        directoryURL: id.directoryUrl,
        clientIdentifier: id.clientIdentifier,
        keyType: id.keyType,
        keySize: id.keySize,
        hardwareBound: id.hardwareBound,
        subject: id.subject,
        ...(id.attest === undefined ? {} : { attest: id.attest }),
      };
      break;
    case "pkcs12": {
      let ca: IdentityCa | undefined;
      if (id.ca !== undefined) {
        const certificatePem = await read("profile.identity.ca.certificate", id.ca.certificate);
        const privateKeyPem = await read("profile.identity.ca.privateKey", id.ca.privateKey);
        if (certificatePem !== undefined && privateKeyPem !== undefined) {
          try {
            ca = readIdentityCa(certificatePem, privateKeyPem);
          } catch (error) {
            issues.push({ path: "profile.identity.ca", message: `expected an RSA CA certificate and its private key (PEM): ${messageOf(error)}` });
          }
        }
      }
      identity = { kind: "pkcs12", source: "builtin-ca", keyBits: id.keyBits, validityDays: id.validityDays, ...(ca === undefined ? {} : { ca }) };
      break;
    }
  }

  // Trust anchors: one com.apple.security.root payload per certificate in each PEM file.
  const anchors: ProfileAnchor[] = [];
  for (const [i, anchor] of c.profile.trustAnchors.entries()) {
    const at = `profile.trustAnchors[${i}]`;
    const file = typeof anchor === "string" ? anchor : anchor.file;
    const pem = await read(at, file);
    if (pem === undefined) continue;
    const certificates = safePem(pem);
    if (certificates.length === 0) issues.push({ path: at, message: `expected PEM certificates in ${file}, found none` });
    for (const der of certificates) {
      const cert = parseCertificate(der);
      if (!cert.ok) {
        issues.push({ path: at, message: `a certificate in ${file} cannot be read: ${cert.error.detail}` });
        continue;
      }
      const name = typeof anchor === "string" || anchor.name === undefined ? (commonNameOf(cert.value.subject) ?? "Trusted certificate") : anchor.name;
      anchors.push({ kind: "root", data: der, name });
    }
  }

  // Profile signing: the key must be usable and the certificate's.
  let signing: ProfileSigningMaterial | undefined;
  if (c.profile.signing !== undefined) {
    const certificatePem = await read("profile.signing.certificate", c.profile.signing.certificate);
    const privateKeyPem = await read("profile.signing.privateKey", c.profile.signing.privateKey);
    if (certificatePem !== undefined && privateKeyPem !== undefined) {
      try {
        await loadProfileSigner({ certificatePem, privateKeyPem });
        signing = { certificatePem, privateKeyPem };
      } catch (error) {
        issues.push({ path: "profile.signing", message: messageOf(error) });
      }
    }
  }

  // The CAs of SCEP/ACME identities, for Mdm-Signature.
  const identityCaCertificates: Uint8Array[] = [];
  for (const [i, file] of c.profile.identityCaCertificates.entries()) {
    const at = `profile.identityCaCertificates[${i}]`;
    const pem = await read(at, file);
    if (pem === undefined) continue;
    const certificates = safePem(pem);
    if (certificates.length === 0) issues.push({ path: at, message: `expected PEM certificates in ${file}, found none` });
    identityCaCertificates.push(...certificates);
  }
  if (c.profile.signMessage === true && c.profile.identity.kind !== "pkcs12" && c.profile.identityCaCertificates.length === 0) {
    issues.push({
      path: "profile.identityCaCertificates",
      message: `required when profile.signMessage is true with a ${c.profile.identity.kind.toUpperCase()} identity: the CA that issues it, or every MDM request would be refused (ONGOING-13)`,
    });
  }
  if (c.profile.signMessage !== true) {
    warnings.push("profile.signMessage is not true: Macs' device-channel requests, which carry no token, will be refused (ONGOING-12); set it to verify every MDM request's Mdm-Signature");
  }

  // Enrollment SSO: certificates read, and each document built once here so that a bad setting
  // is refused at load with its path (the server builds it again, with its real UUIDs and URLs).
  const enrollmentSso = new Map<number, EnrollmentSsoSettings>();
  for (const [i, org] of c.organizations.entries()) {
    const sso = org.enrollmentSso;
    if (sso === undefined) continue;
    const at = `organizations[${i}].enrollmentSso`;
    const certificates: EssoCertificateInput[] = [];
    for (const [j, file] of sso.certificates.entries()) {
      const pem = await read(`${at}.certificates[${j}]`, file);
      if (pem === undefined) continue;
      const ders = safePem(pem);
      if (ders.length === 0) issues.push({ path: `${at}.certificates[${j}]`, message: `expected PEM certificates in ${file}, found none` });
      for (const der of ders) {
        const cert = parseCertificate(der);
        if (!cert.ok) issues.push({ path: `${at}.certificates[${j}]`, message: `a certificate in ${file} cannot be read: ${cert.error.detail}` });
        else certificates.push({ kind: "root", data: der, name: commonNameOf(cert.value.subject) ?? "Trusted certificate" });
      }
    }
    const ext = sso.extension;
    const extensionData: Record<string, PlistValue> | undefined = ext.extensionData;
    const settings: EnrollmentSsoSettings = {
      developer: sso.developer,
      ...(sso.iTunesStoreID === undefined ? {} : { iTunesStoreID: sso.iTunesStoreID }),
      ...(sso.associatedDomains === undefined ? {} : { associatedDomains: sso.associatedDomains }),
      ...(sso.associatedDomainsEnableDirectDownloads === undefined ? {} : { associatedDomainsEnableDirectDownloads: sso.associatedDomainsEnableDirectDownloads }),
      ...(sso.appIds === undefined ? {} : { appIds: sso.appIds }),
      ...(sso.bundleId === undefined ? {} : { bundleId: sso.bundleId }),
      extension: {
        identifier: ext.identifier,
        type: ext.type,
        ...(ext.teamIdentifier === undefined ? {} : { teamIdentifier: ext.teamIdentifier }),
        ...(ext.urls === undefined ? {} : { urls: ext.urls }),
        ...(ext.realm === undefined ? {} : { realm: ext.realm }),
        ...(ext.hosts === undefined ? {} : { hosts: ext.hosts }),
        ...(extensionData === undefined ? {} : { extensionData }),
      },
      certificates,
      declarations: sso.declarations,
    };
    enrollmentSso.set(i, settings);
    // Each problem of the settings at its own key; then the document itself (Apple's schemas).
    const problems = enrollmentSsoSettingsProblems(settings);
    for (const problem of problems) {
      const split = /^([A-Za-z0-9_.[\]]+): (.*)$/.exec(problem);
      issues.push(split === null ? { path: at, message: problem } : { path: `${at}.${split[1] ?? ""}`, message: split[2] ?? "" });
    }
    if (problems.length > 0 || URL.parse(c.publicBaseUrl)?.protocol !== "https:") continue;
    const trial = buildEnrollmentSsoDocument({
      ...settings,
      organizationName: org.name,
      identifierPrefix: c.profile.identifierPrefix,
      uuids: { profile: placeholderUuid, extension: placeholderUuid, certificates: certificates.map(() => placeholderUuid) },
      profileUrl: `${c.publicBaseUrl.replace(/\/+$/, "")}/esso/${org.slug ?? organizationSlugFromName(org.name)}/profile`,
    });
    if (!trial.ok) issues.push({ path: at, message: `${trial.error.detail} (${trial.error.ruleId})` });
  }

  // Identity providers: each client secret read from its file.
  const identityProviders = new Map<number | "top", IdentityProviderSettings>();
  const idpEntries: [number | "top", z.infer<typeof IdentityProviderConfig> | undefined][] = [["top", c.identityProvider], ...c.organizations.map((o, i): [number, z.infer<typeof IdentityProviderConfig> | undefined] => [i, o.identityProvider])];
  for (const [where, idp] of idpEntries) {
    if (idp === undefined) continue;
    const at = where === "top" ? "identityProvider" : `organizations[${where}].identityProvider`;
    let clientSecret = idp.clientSecret;
    if (idp.clientSecretFile !== undefined) {
      clientSecret = (await read(`${at}.clientSecretFile`, idp.clientSecretFile))?.trim();
      if (clientSecret === "") issues.push({ path: `${at}.clientSecretFile`, message: "the file is empty" });
    }
    identityProviders.set(where, {
      issuer: idp.issuer,
      clientId: idp.clientId,
      ...(clientSecret === undefined || clientSecret === "" ? {} : { clientSecret }),
      scopes: idp.scopes,
      userClaim: idp.userClaim,
      ...(idp.managedAppleIdClaim === undefined ? {} : { managedAppleIdClaim: idp.managedAppleIdClaim }),
      passwordSignIn: idp.passwordSignIn,
      ...(idp.name === undefined ? {} : { name: idp.name }),
    });
  }

  // The test device CA.
  let testDeviceCa: Uint8Array | undefined;
  if (c.deviceTrust.testDeviceCa !== undefined) {
    const pem = await read("deviceTrust.testDeviceCa", c.deviceTrust.testDeviceCa);
    const [first] = pem === undefined ? [] : safePem(pem);
    if (pem !== undefined && first === undefined) issues.push({ path: "deviceTrust.testDeviceCa", message: "expected a PEM certificate" });
    testDeviceCa = first;
    if (!c.deviceTrust.allowTestDeviceCa) warnings.push("deviceTrust.testDeviceCa is set but allowTestDeviceCa is false: the test CA is not trusted");
  }

  if (issues.length > 0) throw new ConfigError(source, issues);
  if (identity === undefined) throw new ConfigError(source, [{ path: "profile.identity", message: "expected an identity" }]);
  if (c.profile.accessRights !== undefined && !c.organizations.some((o) => Object.values(o.domains).includes("mdm-adde") || Object.values(o.overrides).includes("mdm-adde"))) {
    warnings.push("profile.accessRights is set, but no domain or user enrolls with mdm-adde: BYOD profiles never carry AccessRights");
  }

  const topProvider = identityProviders.get("top");
  // OAuth 2 with its defaults whenever anyone signs in with it (the section may be left out).
  const oauth2 = c.oauth2 ?? (usesOAuth2(c) ? OAuth2Config.parse({}) : undefined);
  if (usesOAuth2(c) && isLoopbackHttp(c.publicBaseUrl)) warnings.push("OAuth 2 over plain http on loopback: for demos and tests only; devices need https endpoints (CHALLENGE-6)");
  const p = c.profile;
  return {
    source,
    publicBaseUrl: c.publicBaseUrl.replace(/\/+$/, ""),
    organizationName: c.organizationName ?? c.organizations[0]?.name ?? "adenroll",
    organizations: c.organizations.map((o, i) => {
      const sso = enrollmentSso.get(i);
      const idp = identityProviders.get(i);
      return {
        name: o.name,
        ...(o.authentication === undefined ? {} : { authentication: o.authentication }),
        domains: Object.fromEntries(Object.entries(o.domains).map(([d, v]) => [d.toLowerCase(), v])),
        overrides: o.overrides,
        ...(o.tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds: o.tokenLifetimeSeconds }),
        ...(o.slug === undefined ? {} : { slug: o.slug }),
        ...(sso === undefined ? {} : { enrollmentSso: sso }),
        ...(idp === undefined ? {} : { identityProvider: idp }),
      };
    }),
    users,
    ...(c.discovery === undefined ? {} : { discoveryFailedMessage: c.discovery.failedMessage }),
    profile: {
      identifierPrefix: p.identifierPrefix,
      topic: p.topic,
      ...(p.serverUrl === undefined ? {} : { serverUrl: p.serverUrl }),
      ...(p.checkInUrl === undefined ? {} : { checkInUrl: p.checkInUrl }),
      ...(p.serverCapabilities === undefined ? {} : { serverCapabilities: p.serverCapabilities }),
      ...(p.signMessage === undefined ? {} : { signMessage: p.signMessage }),
      ...(p.checkOutWhenRemoved === undefined ? {} : { checkOutWhenRemoved: p.checkOutWhenRemoved }),
      ...(p.requiredAppIdForMdm === undefined ? {} : { requiredAppIdForMdm: p.requiredAppIdForMdm }),
      ...(p.accessRights === undefined ? {} : { accessRights: p.accessRights }),
      identity,
      anchors,
      ...(signing === undefined ? {} : { signing }),
      identityCaCertificates,
    },
    tokenLifetimeSeconds: c.tokenLifetimeSeconds,
    authentication: c.authentication,
    ...(oauth2 === undefined ? {} : { oauth2 }),
    ...(topProvider === undefined ? {} : { identityProvider: topProvider }),
    deviceTrust: { allowTestDeviceCa: c.deviceTrust.allowTestDeviceCa, ...(testDeviceCa === undefined ? {} : { testDeviceCa }) },
    ...(c.database === undefined ? {} : { database: c.database }),
    admin: { tokens: c.admin?.tokens ?? [] },
    ...(c.upstream === undefined ? {} : { upstream: c.upstream }),
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------

/** A key path as a person reads it: organizations[0].domains["example.com"]. */
export function formatConfigPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

function toIssue(issue: z.core.$ZodIssue): ConfigIssue {
  const at = formatConfigPath(issue.path);
  let message = issue.message;
  if (issue.code === "invalid_type" && issue.input === undefined) message = `required: ${message.replace(/^Invalid input: /, "")}`;
  else if (issue.code === "unrecognized_keys") message = `${message} (not a known setting; check its spelling and place)`;
  // Secrets are never echoed; `upstream` shows its value itself, unless it carries a password.
  else if (issue.input !== undefined && !/password|tokenHash|upstream|secret/i.test(at) && ["invalid_value", "invalid_type", "invalid_format", "custom", "too_small", "too_big"].includes(issue.code)) {
    const shown = JSON.stringify(issue.input);
    if (shown !== undefined && shown.length <= 120 && !message.includes(shown)) message = `${message}, got ${shown}`;
  }
  return { path: at, message };
}

function safePem(pem: string): Uint8Array[] {
  try {
    return loadPemCertificates(pem);
  } catch {
    return [];
  }
}

/** Stands in for the payload UUIDs while a document is built only to be checked. */
const placeholderUuid = "00000000-0000-4000-8000-000000000000";

function commonNameOf(subject: string): string | undefined {
  return /(?:^|,\s*)CN=([^,]+)/.exec(subject)?.[1];
}
