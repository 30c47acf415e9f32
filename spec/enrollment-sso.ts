// The Enrollment SSO document (PROTOCOL.md §3): https://developer.apple.com/documentation/devicemanagement/enrollmentssodocument
// Keys and types are Apple's apple/device-management other/esso.yaml, through the schema generated
// from the project's copy (spec/apple/other.generated.ts: ESSODocument). The document travels as
// JSON, so its <data> values (ConfigurationProfile, Declarations) are base64 text here.
// The device reads it (ESSO-1 to -4); the server builds its own from an organization's settings and
// checks it against Apple's schemas before serving it (ESSO-5, buildEnrollmentSsoDocument).
import { z } from "zod";
import { ESSODocument, otherDocuments } from "./apple/other.generated.ts";
import { declarationPayloads } from "./apple/declarations.generated.ts";
import type { AppleSchemaEntry } from "./apple/meta.ts";
import { checkConfigurationProfile, errorsOf, formatProblem, validateAgainst, type ValidationContext } from "./apple-validation.ts";
import { ConfigurationProfile, serializeEnrollmentProfile } from "./enrollment-profile.ts";
import { parsePlist, type PlistValue } from "./plist.ts";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";
import { OrganizationSlug } from "./service-discovery.ts";

/** A `<data>` value in JSON: standard base64 with padding, not empty. */
const Base64Data = z.base64().min(1);

/** Apple's two <data> keys in their JSON form; AppIDs, AssociatedDomains and AssociatedDomainsEnableDirectDownloads are as generated. */
const jsonData = {
  /** A profile with ≥1 com.apple.extensiblesso payload (and optionally certificate payloads). */
  ConfigurationProfile: Base64Data.optional(),
  /** iOS/iPadOS 18.4, visionOS 2.4: base64 JSON declarations. */
  Declarations: z.array(Base64Data).optional(),
};

/** ESSO-2: at least one of ConfigurationProfile and Declarations (an empty Declarations array does not count). */
function hasPayload(d: { readonly ConfigurationProfile?: string | undefined; readonly Declarations?: readonly string[] | undefined }): boolean {
  return d.ConfigurationProfile !== undefined || (d.Declarations !== undefined && d.Declarations.length > 0);
}

const payloadRequired = { error: "one of ConfigurationProfile and Declarations must be present (ESSO-2)", path: ["ConfigurationProfile"] };

/**
 * ESSO-2: the document fetched from the X-Apple-MDM-ESSO URL. Unknown keys are kept (Apple adds
 * keys over releases). Apple's YAML marks iTunesStoreID optional because developer mode ignores it;
 * the standard document needs it, so it is required here.
 */
export const EnrollmentSsoDocument = ESSODocument.extend({
  /** `<integer>`: the App Store id of the SSO app (ignored in developer mode). */
  iTunesStoreID: z.int(),
  ...jsonData,
}).refine(hasPayload, payloadRequired);
export type EnrollmentSsoDocument = z.infer<typeof EnrollmentSsoDocument>;

/**
 * The document served at the X-Apple-MDM-ESSO-Developer URL: AppIDs required with at least one
 * value, iTunesStoreID ignored by the device (so optional).
 */
export const EnrollmentSsoDeveloperDocument = ESSODocument.extend({
  ...jsonData,
  /** Developer endpoint only ("TEAMID.bundle.id"); Apple says the standard document must not carry it. */
  AppIDs: z.array(z.string().min(1)).min(1),
}).refine(hasPayload, payloadRequired);
export type EnrollmentSsoDeveloperDocument = z.infer<typeof EnrollmentSsoDeveloperDocument>;

export interface EnrollmentSsoDocumentError {
  readonly code: "esso.document";
  readonly ruleId: RuleId;
  readonly detail: string;
}

/** Reads a parsed JSON body as an Enrollment SSO document (ESSO-2). */
export function parseEnrollmentSsoDocument(json: unknown): Result<EnrollmentSsoDocument, EnrollmentSsoDocumentError> {
  const parsed = EnrollmentSsoDocument.safeParse(json);
  if (parsed.success) return ok(parsed.data);
  const detail = parsed.error.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`).join("; ");
  return err({ code: "esso.document", ruleId: "ESSO-2", detail });
}

// ---------------------------------------------------------------------------------------------
// The server's document (ESSO-5): built from an organization's settings and checked against Apple's
// schemas (other/esso.yaml, mdm/profiles/com.apple.extensiblesso.yaml and the certificate
// payloads, the three declaration files) before it is served.

/** The path of an organization's document (/esso/<org>) and of its profile (/esso/<org>/profile). */
export const EssoPathParams = z.object({ org: OrganizationSlug });
export type EssoPathParams = z.infer<typeof EssoPathParams>;

/** An App ID of the developer document: TEAMID.bundle.id (a team id is 10 upper-case letters or digits). */
const AppId = z.string().regex(/^[A-Z0-9]{10}\.[A-Za-z0-9][A-Za-z0-9.-]*$/, "expected TEAMID.bundle.id");

/** ESSO-5: the standard document our server serves: a positive iTunesStoreID and never AppIDs. */
export const ServerEnrollmentSsoStandardDocument = ESSODocument.extend({
  iTunesStoreID: z.int().positive(),
  ...jsonData,
  AppIDs: z.never({ error: "AppIDs appear only in the developer document" }).optional(),
}).refine(hasPayload, payloadRequired);

/** ESSO-5: the developer document our server serves (X-Apple-MDM-ESSO-Developer): AppIDs as TEAMID.bundle.id. */
export const ServerEnrollmentSsoDeveloperDocument = ESSODocument.extend({
  iTunesStoreID: z.int().positive().optional(),
  ...jsonData,
  AppIDs: z.array(AppId).min(1),
}).refine(hasPayload, payloadRequired);

/** Either document; the two are told apart by AppIDs. */
export const ServerEnrollmentSsoDocument = z.union([ServerEnrollmentSsoStandardDocument, ServerEnrollmentSsoDeveloperDocument]);
export type ServerEnrollmentSsoDocument = z.infer<typeof ServerEnrollmentSsoDocument>;

export type SsoExtensionType = "Redirect" | "Credential";

/** The com.apple.extensiblesso payload's settings. */
export interface SsoExtensionInput {
  /** ExtensionIdentifier: the bundle id of the app extension that performs SSO. */
  readonly identifier: string;
  /**
   * The extension's team. Apple's YAML marks TeamIdentifier "required on macOS", n/a on iOS and
   * visionOS — the only systems with Enrollment SSO — so the profile leaves it out; the developer
   * document's AppIDs must carry this team.
   */
  readonly teamIdentifier?: string;
  readonly type: SsoExtensionType;
  /** Redirect: identity-provider URL prefixes (http or https, no query or fragment); required there, refused for Credential. */
  readonly urls?: readonly string[];
  /** Credential: the realm, properly capitalized; refused for Redirect. */
  readonly realm?: string;
  /** Credential: host or domain names (a leading "." matches subdomains); required there, refused for Redirect. */
  readonly hosts?: readonly string[];
  /** Passed through to the extension as it is. */
  readonly extensionData?: Readonly<Record<string, PlistValue>>;
}

/** A certificate the profile installs beside the SSO payload (root/pkcs1: DER; pem: PEM text as bytes). */
export interface EssoCertificateInput {
  readonly kind: "root" | "pem" | "pkcs1";
  readonly data: Uint8Array;
  readonly name: string;
}

/** What an organization configures (runtime/config.ts `enrollmentSso`). */
export interface EnrollmentSsoSettings {
  /** The developer document, announced with X-Apple-MDM-ESSO-Developer (the device's developer setting must be on). */
  readonly developer?: boolean;
  /** The SSO app's App Store id: required for the standard document, optional (ignored by devices) for the developer one. */
  readonly iTunesStoreID?: number;
  readonly associatedDomains?: readonly string[];
  readonly associatedDomainsEnableDirectDownloads?: boolean;
  /** Developer document only, and required there: TEAMID.bundle.id. */
  readonly appIds?: readonly string[];
  /** Developer declarations: the app's BundleID (Apple: BundleID instead of AppStoreID in developer mode); default the first App ID without its team. */
  readonly bundleId?: string;
  readonly extension: SsoExtensionInput;
  readonly certificates?: readonly EssoCertificateInput[];
  /** Also send Declarations (iOS/iPadOS 18.4, visionOS 2.4); ConfigurationProfile stays for older systems. */
  readonly declarations?: boolean;
}

export interface EnrollmentSsoInput extends EnrollmentSsoSettings {
  readonly organizationName: string;
  /** Reverse-DNS prefix: the profile is `<prefix>.esso`, its payloads and declarations `<prefix>.esso.*`. */
  readonly identifierPrefix: string;
  /** Every UUID comes from the caller: building is pure. */
  readonly uuids: { readonly profile: string; readonly extension: string; readonly certificates: readonly string[] };
  /** With declarations: the https URL where the server serves the profile (the legacy declaration's ProfileURL). */
  readonly profileUrl?: string;
}

/** A declaration as it travels (base64 JSON in Declarations). */
export interface EssoDeclaration {
  readonly Type: "com.apple.activation.simple" | "com.apple.configuration.app.managed" | "com.apple.configuration.legacy";
  readonly Identifier: string;
  readonly ServerToken: string;
  readonly Payload: Readonly<Record<string, unknown>>;
}

export interface BuiltEnrollmentSso {
  readonly document: ServerEnrollmentSsoDocument;
  readonly profile: ConfigurationProfile;
  /** The profile's XML plist: ConfigurationProfile's bytes, and what the legacy declaration's ProfileURL serves. */
  readonly profileXml: string;
  readonly declarations: readonly EssoDeclaration[];
}

export interface EnrollmentSsoBuildError {
  readonly code: "esso.build";
  readonly ruleId: Extract<RuleId, "ESSO-5">;
  readonly detail: string;
}

const extensiblessoType = "com.apple.extensiblesso";
const certificatePayloadType = { root: "com.apple.security.root", pem: "com.apple.security.pem", pkcs1: "com.apple.security.pkcs1" } as const;
const certificatePayloadTypes: readonly string[] = Object.values(certificatePayloadType);

/** Where Enrollment SSO runs (other/esso.yaml: iOS 16, visionOS 2.0; Declarations from iOS 18.4, visionOS 2.4). */
const profileTargets = [
  { os: "iOS", version: "16.0" },
  { os: "visionOS", version: "2.0" },
] as const satisfies readonly ValidationContext[];
const declarationTargets = [
  { os: "iOS", version: "18.4" },
  { os: "visionOS", version: "2.4" },
] as const satisfies readonly ValidationContext[];

const isHttpUrlPrefix = (value: string): boolean => {
  const url = URL.parse(value);
  return /^https?:\/\//i.test(value) && !/[?#]/.test(value) && url !== null && url.hostname !== "";
};
const isHttpsUrl = (value: string): boolean => {
  const url = URL.parse(value);
  return /^https:\/\//i.test(value) && url !== null && url.hostname !== "";
};
/** A host or domain name; a leading "." makes it a suffix. */
const isHostPattern = (value: string): boolean => /^\.?(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(value);
const isBundleId = (value: string): boolean => /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(value);

/** What is wrong with the settings themselves, before anything is built (ESSO-5), worded for the person configuring them. */
export function enrollmentSsoSettingsProblems(settings: EnrollmentSsoSettings): string[] {
  const problems: string[] = [];
  const developer = settings.developer === true;
  const id = settings.iTunesStoreID;
  if (id !== undefined && (!Number.isSafeInteger(id) || id <= 0)) problems.push("iTunesStoreID: expected a positive integer (the App Store id of the SSO app)");
  if (developer) {
    const appIds = settings.appIds ?? [];
    if (appIds.length === 0) problems.push("appIds: required for the developer document (TEAMID.bundle.id, at least one)");
    for (const [i, appId] of appIds.entries()) {
      if (!AppId.safeParse(appId).success) problems.push(`appIds[${i}]: expected TEAMID.bundle.id, got ${JSON.stringify(appId)}`);
      else if (settings.extension.teamIdentifier !== undefined && !appId.startsWith(`${settings.extension.teamIdentifier}.`)) {
        problems.push(`appIds[${i}]: expected the extension's team ${settings.extension.teamIdentifier}, got ${JSON.stringify(appId)}`);
      }
    }
    if (settings.bundleId !== undefined && !isBundleId(settings.bundleId)) problems.push(`bundleId: expected a bundle id, got ${JSON.stringify(settings.bundleId)}`);
  } else {
    if (id === undefined) problems.push("iTunesStoreID: required for the standard document (the App Store id of the SSO app)");
    if (settings.appIds !== undefined) problems.push("appIds: AppIDs appear only in the developer document (set developer: true)");
    if (settings.bundleId !== undefined) problems.push("bundleId: only the developer document's declarations name the app by bundle id");
  }
  for (const [i, domain] of (settings.associatedDomains ?? []).entries()) {
    if (domain === "" || /\s/.test(domain)) problems.push(`associatedDomains[${i}]: expected an associated domain such as authsrv:login.example.com`);
  }
  const ext = settings.extension;
  if (!isBundleId(ext.identifier)) problems.push(`extension.identifier: expected the bundle id of the SSO app extension, got ${JSON.stringify(ext.identifier)}`);
  if (ext.teamIdentifier !== undefined && !/^[A-Z0-9]{10}$/.test(ext.teamIdentifier)) problems.push(`extension.teamIdentifier: expected a 10-character team id, got ${JSON.stringify(ext.teamIdentifier)}`);
  if (ext.type === "Redirect") {
    if (ext.urls === undefined || ext.urls.length === 0) problems.push("extension.urls: required for a Redirect extension (Apple: URLs are required for Redirect payloads)");
    for (const [i, url] of (ext.urls ?? []).entries()) {
      if (!isHttpUrlPrefix(url)) problems.push(`extension.urls[${i}]: expected an http or https URL prefix without query or fragment, got ${JSON.stringify(url)}`);
    }
    if (new Set((ext.urls ?? []).map((u) => u.toLowerCase())).size !== (ext.urls ?? []).length) problems.push("extension.urls: each URL once (the system requires unique URLs)");
    if (ext.hosts !== undefined) problems.push("extension.hosts: only for a Credential extension (Redirect payloads ignore Hosts)");
    if (ext.realm !== undefined) problems.push("extension.realm: only for a Credential extension (Redirect payloads ignore Realm)");
  } else {
    if (ext.hosts === undefined || ext.hosts.length === 0) problems.push("extension.hosts: required for a Credential extension (Apple: Hosts are required for Credential payloads)");
    for (const [i, host] of (ext.hosts ?? []).entries()) {
      if (!isHostPattern(host)) problems.push(`extension.hosts[${i}]: expected a host or domain name (a leading "." matches subdomains), got ${JSON.stringify(host)}`);
    }
    if (new Set((ext.hosts ?? []).map((h) => h.toLowerCase())).size !== (ext.hosts ?? []).length) problems.push("extension.hosts: each host once (the system requires unique hosts)");
    if (ext.urls !== undefined) problems.push("extension.urls: only for a Redirect extension (Credential payloads ignore URLs)");
    if (ext.realm !== undefined && ext.realm.trim() === "") problems.push("extension.realm: expected a realm name such as EXAMPLE.COM");
  }
  for (const [i, certificate] of (settings.certificates ?? []).entries()) {
    if (certificate.data.length === 0) problems.push(`certificates[${i}]: empty`);
  }
  return problems;
}

/** A short, stable token of a declaration's content: a new token whenever the content changes (FNV-1a, 32 bits). */
function serverTokenOf(value: unknown): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(JSON.stringify(value))) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

function declaration(type: EssoDeclaration["Type"], identifier: string, payload: Readonly<Record<string, unknown>>): EssoDeclaration {
  return { Type: type, Identifier: identifier, ServerToken: serverTokenOf([type, identifier, payload]), Payload: payload };
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

const utf8 = new TextEncoder();

/**
 * ESSO-5: builds an organization's Enrollment SSO document — the standard one or the developer
 * one (AppIDs). ConfigurationProfile is a Configuration profile holding exactly one
 * com.apple.extensiblesso payload and the given certificate payloads, nothing else; with
 * `declarations`, Declarations add one com.apple.activation.simple naming the two configurations,
 * one com.apple.configuration.app.managed (AppStoreID = iTunesStoreID; BundleID in developer mode)
 * and one com.apple.configuration.legacy whose ProfileURL serves the same profile. The result is
 * checked (checkEnrollmentSsoDocument) before it is returned; any problem is a typed error.
 */
export function buildEnrollmentSsoDocument(input: EnrollmentSsoInput): Result<BuiltEnrollmentSso, EnrollmentSsoBuildError> {
  const fail = (problems: readonly string[]) => err({ code: "esso.build" as const, ruleId: "ESSO-5" as const, detail: problems.join("; ") });
  const problems = enrollmentSsoSettingsProblems(input);
  const certificates = input.certificates ?? [];
  if (input.uuids.certificates.length !== certificates.length) problems.push(`uuids.certificates: expected ${certificates.length}, got ${input.uuids.certificates.length}`);
  if (input.declarations === true && (input.profileUrl === undefined || !isHttpsUrl(input.profileUrl))) {
    problems.push("profileUrl: the legacy declaration's ProfileURL must be an https URL the MDM server hosts");
  }
  if (problems.length > 0) return fail(problems);

  const developer = input.developer === true;
  const ext = input.extension;
  const prefix = `${input.identifierPrefix}.esso`;
  const sso: Record<string, unknown> = {
    PayloadType: extensiblessoType,
    PayloadIdentifier: `${prefix}.extension`,
    PayloadUUID: input.uuids.extension,
    PayloadVersion: 1,
    PayloadDisplayName: "Single Sign-On",
    PayloadOrganization: input.organizationName,
    ExtensionIdentifier: ext.identifier,
    Type: ext.type,
    ...(ext.type === "Redirect" ? { URLs: [...(ext.urls ?? [])] } : { Hosts: [...(ext.hosts ?? [])], ...(ext.realm === undefined ? {} : { Realm: ext.realm }) }),
    ...(ext.extensionData === undefined ? {} : { ExtensionData: ext.extensionData }),
  };
  const certificatePayloads = certificates.map((c, i) => ({
    PayloadType: certificatePayloadType[c.kind],
    PayloadIdentifier: `${prefix}.certificate.${i + 1}`,
    PayloadUUID: input.uuids.certificates[i] ?? "",
    PayloadVersion: 1,
    PayloadDisplayName: c.name,
    PayloadContent: c.data,
  }));
  const profile = ConfigurationProfile.safeParse({
    PayloadType: "Configuration",
    PayloadIdentifier: prefix,
    PayloadUUID: input.uuids.profile,
    PayloadVersion: 1,
    PayloadDisplayName: `${input.organizationName} Single Sign-On`,
    PayloadOrganization: input.organizationName,
    PayloadContent: [...certificatePayloads, sso],
  });
  if (!profile.success) return fail([`ConfigurationProfile: ${profile.error.issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`).join("; ")}`]);
  const profileXml = serializeEnrollmentProfile(profile.data);

  const declarations: EssoDeclaration[] = [];
  if (input.declarations === true) {
    const appPayload = developer
      ? { BundleID: input.bundleId ?? (input.appIds?.[0] ?? "").replace(/^[A-Z0-9]{10}\./, "") }
      : { AppStoreID: String(input.iTunesStoreID) };
    const app = declaration("com.apple.configuration.app.managed", `${prefix}.app`, appPayload);
    const legacy = declaration("com.apple.configuration.legacy", `${prefix}.profile`, { ProfileURL: input.profileUrl ?? "" });
    const activation = declaration("com.apple.activation.simple", `${prefix}.activation`, { StandardConfigurations: [app.Identifier, legacy.Identifier] });
    declarations.push(activation, app, legacy);
  }

  const candidate = {
    ...(input.iTunesStoreID === undefined ? {} : { iTunesStoreID: input.iTunesStoreID }),
    ...(developer ? { AppIDs: [...(input.appIds ?? [])] } : {}),
    ...(input.associatedDomains === undefined ? {} : { AssociatedDomains: [...input.associatedDomains] }),
    ...(input.associatedDomainsEnableDirectDownloads === undefined ? {} : { AssociatedDomainsEnableDirectDownloads: input.associatedDomainsEnableDirectDownloads }),
    ConfigurationProfile: toBase64(utf8.encode(profileXml)),
    ...(declarations.length === 0 ? {} : { Declarations: declarations.map((d) => toBase64(utf8.encode(JSON.stringify(d)))) }),
  };
  const checked = checkEnrollmentSsoDocument(candidate, developer ? "developer" : "standard");
  if (checked.length > 0) return fail(checked);
  const document = ServerEnrollmentSsoDocument.safeParse(candidate);
  if (!document.success) return fail([describe(document.error)]);
  return ok({ document: document.data, profile: profile.data, profileXml, declarations });
}

function describe(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`).join("; ");
}

/**
 * ESSO-5: every problem of an Enrollment SSO document our server would serve, as readable lines
 * (empty: valid). The document against its schema and Apple's other/esso.yaml; the profile against
 * TopLevel.yaml and each payload's YAML for iOS 16 and visionOS 2 — exactly one
 * com.apple.extensiblesso payload (URLs for Redirect, Hosts for Credential), otherwise only
 * certificate payloads; each declaration's Payload against its YAML for iOS 18.4 and visionOS 2.4,
 * one activation naming exactly the configurations, one app.managed whose AppStoreID equals
 * iTunesStoreID (a BundleID in the developer document), at least one legacy with an https ProfileURL.
 */
export function checkEnrollmentSsoDocument(document: unknown, variant: "standard" | "developer"): string[] {
  const parsed = (variant === "developer" ? ServerEnrollmentSsoDeveloperDocument : ServerEnrollmentSsoStandardDocument).safeParse(document);
  if (!parsed.success) return [`document: ${describe(parsed.error)}`];
  const d = parsed.data;
  const problems: string[] = [];
  let profileBytes: Uint8Array | undefined;
  let declarationBytes: Uint8Array[] | undefined;
  try {
    profileBytes = d.ConfigurationProfile === undefined ? undefined : fromBase64(d.ConfigurationProfile);
    declarationBytes = d.Declarations?.map(fromBase64);
  } catch {
    return ["document: ConfigurationProfile and Declarations must be base64"];
  }
  // Apple's YAML types the two <data> keys as bytes.
  const asPlist = {
    ...d,
    ...(profileBytes === undefined ? {} : { ConfigurationProfile: profileBytes }),
    ...(declarationBytes === undefined ? {} : { Declarations: declarationBytes }),
  };
  for (const target of profileTargets) {
    for (const p of errorsOf(validateAgainst(asPlist, otherDocuments.ESSO, { os: target.os }))) problems.push(`document (${target.os}): ${formatProblem(p)}`);
  }
  if (profileBytes !== undefined) problems.push(...profileProblems(profileBytes));
  if (declarationBytes !== undefined) problems.push(...declarationProblems(declarationBytes, variant, d.iTunesStoreID));
  return problems;
}

/** The inner profile: Apple's schemas, exactly one SSO payload, only certificate payloads beside it. */
function profileProblems(bytes: Uint8Array): string[] {
  const plist = parsePlist(bytes);
  if (!plist.ok) return [`ConfigurationProfile: not an XML plist (${plist.error.detail})`];
  const profile = ConfigurationProfile.safeParse(plist.value);
  if (!profile.success) return [`ConfigurationProfile: not a Configuration profile (${describe(profile.error)})`];
  const problems: string[] = [];
  for (const target of profileTargets) {
    for (const p of errorsOf(checkConfigurationProfile(plist.value, target))) problems.push(`ConfigurationProfile (${target.os} ${target.version}): ${formatProblem(p)}`);
  }
  const payloads = profile.data.PayloadContent;
  const sso = payloads.filter((p) => p.PayloadType === extensiblessoType);
  if (sso.length !== 1) problems.push(`ConfigurationProfile: expected exactly one ${extensiblessoType} payload, found ${sso.length}`);
  payloads.forEach((p, i) => {
    if (p.PayloadType !== extensiblessoType && !certificatePayloadTypes.includes(p.PayloadType)) {
      problems.push(`ConfigurationProfile: PayloadContent[${i}] is ${p.PayloadType}: beside ${extensiblessoType} only certificate payloads (${certificatePayloadTypes.join(", ")}) may ride along`);
    }
  });
  for (const p of sso) {
    // Apple's text (not expressible in the YAML's presence): URLs for Redirect, Hosts for Credential.
    const wanted = p["Type"] === "Redirect" ? "URLs" : p["Type"] === "Credential" ? "Hosts" : undefined;
    const list = wanted === undefined ? undefined : p[wanted];
    if (wanted !== undefined && (!Array.isArray(list) || list.length === 0)) problems.push(`ConfigurationProfile: a ${String(p["Type"])} ${extensiblessoType} payload needs ${wanted}`);
  }
  return problems;
}

const DeclarationEnvelope = z.strictObject({
  Type: z.string().min(1),
  Identifier: z.string().min(1),
  ServerToken: z.string().min(1),
  Payload: z.record(z.string(), z.unknown()),
});

const declarationEntries: Readonly<Record<string, AppleSchemaEntry>> = declarationPayloads;

function declarationProblems(all: readonly Uint8Array[], variant: "standard" | "developer", iTunesStoreID: number | undefined): string[] {
  const problems: string[] = [];
  const read: z.infer<typeof DeclarationEnvelope>[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  all.forEach((bytes, i) => {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(bytes));
    } catch {
      problems.push(`Declarations[${i}]: not JSON`);
      return;
    }
    const envelope = DeclarationEnvelope.safeParse(json);
    if (!envelope.success) {
      problems.push(`Declarations[${i}]: ${describe(envelope.error)}`);
      return;
    }
    const { Type, Payload } = envelope.data;
    const entry = Object.hasOwn(declarationEntries, Type) ? declarationEntries[Type] : undefined;
    if (entry === undefined) {
      problems.push(`Declarations[${i}]: ${Type} is not one of ${Object.keys(declarationEntries).join(", ")}`);
      return;
    }
    for (const target of declarationTargets) {
      for (const p of errorsOf(validateAgainst(Payload, entry, target))) problems.push(`Declarations[${i}] (${target.os} ${target.version}): ${formatProblem(p)}`);
    }
    read.push(envelope.data);
  });
  if (problems.length > 0) return problems;

  const identifiers = read.map((d) => d.Identifier);
  if (new Set(identifiers).size !== identifiers.length) problems.push("Declarations: each Identifier once");
  const ofType = (type: EssoDeclaration["Type"]) => read.filter((d) => d.Type === type);
  const activations = ofType("com.apple.activation.simple");
  const apps = ofType("com.apple.configuration.app.managed");
  const legacies = ofType("com.apple.configuration.legacy");
  if (activations.length !== 1) problems.push(`Declarations: expected exactly one com.apple.activation.simple, found ${activations.length}`);
  if (apps.length !== 1) problems.push(`Declarations: expected exactly one com.apple.configuration.app.managed, found ${apps.length}`);
  if (legacies.length === 0) problems.push("Declarations: expected at least one com.apple.configuration.legacy carrying the profile");
  for (const app of apps) {
    if (variant === "standard" && app.Payload["AppStoreID"] !== String(iTunesStoreID)) {
      problems.push(`Declarations: the app.managed AppStoreID ${JSON.stringify(app.Payload["AppStoreID"])} is not iTunesStoreID ${String(iTunesStoreID)}`);
    }
    if (variant === "developer" && (typeof app.Payload["BundleID"] !== "string" || app.Payload["BundleID"] === "")) {
      problems.push("Declarations: in developer mode the app.managed names the app by BundleID");
    }
  }
  for (const legacy of legacies) {
    const url = legacy.Payload["ProfileURL"];
    if (typeof url !== "string" || !isHttpsUrl(url)) problems.push(`Declarations: ${legacy.Identifier}: ProfileURL must be an https URL the MDM server hosts`);
  }
  const configurations = [...apps, ...legacies].map((d) => d.Identifier).sort();
  for (const activation of activations) {
    const named = activation.Payload["StandardConfigurations"];
    const names = Array.isArray(named) ? named.filter((n): n is string => typeof n === "string").sort() : [];
    if (JSON.stringify(names) !== JSON.stringify(configurations)) {
      problems.push(`Declarations: the activation names ${JSON.stringify(names)}, expected exactly the configurations ${JSON.stringify(configurations)}`);
    }
  }
  return problems;
}
