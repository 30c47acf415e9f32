// Enrollment profile (steps 12–13): https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow
import { z } from "zod";
import {
  ComAppleMdmPayload,
  ComAppleSecurityAcmePayload,
  ComAppleSecurityPemPayload,
  ComAppleSecurityPkcs1Payload,
  ComAppleSecurityPkcs12Payload,
  ComAppleSecurityRootPayload,
  ComAppleSecurityScepPayload,
  CommonPayloadKeysPayload,
  TopLevelPayload,
} from "./apple/profiles.generated.ts";
import { buildPlist, parsePlist, type PlistValue } from "./plist.ts";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";
import { EnrollmentVersion } from "./service-discovery.ts";
import { isFqdn } from "./user-identifier.ts";

// Key names, types, rangelists and presence are Apple's (apple/device-management,
// mdm/profiles/*.yaml): the schemas below build on the ones generated from the project's copy of
// that YAML (spec/apple/profiles.generated.ts: TopLevel, CommonPayloadKeys, com.apple.mdm,
// com.apple.security.{scep,acme,pkcs12,root,pem,pkcs1}) and add only the project's own rules.
// Objects are loose: keys we do not model survive a parse, so a profile read and written again
// keeps them.

export { EnrollmentVersion };

/** PROFILE-1: the two values com.apple.mdm.yaml allows for EnrollmentMode (its rangelist). */
export const EnrollmentMode = ComAppleMdmPayload.shape.EnrollmentMode.unwrap();
export type EnrollmentMode = z.infer<typeof EnrollmentMode>;

const modeByVersion = { "mdm-byod": "BYOD", "mdm-adde": "ADDE" } as const satisfies Record<EnrollmentVersion, EnrollmentMode>;
const versionByMode = { BYOD: "mdm-byod", ADDE: "mdm-adde" } as const satisfies Record<EnrollmentMode, EnrollmentVersion>;

/** The EnrollmentMode that goes with a discovered Version: mdm-byod → BYOD (user enrollment), mdm-adde → ADDE (device enrollment). */
export function enrollmentModeForVersion(version: EnrollmentVersion): EnrollmentMode {
  return modeByVersion[version];
}

export function enrollmentVersionForMode(mode: EnrollmentMode): EnrollmentVersion {
  return versionByMode[mode];
}

// ---------------------------------------------------------------------------------------------
// Schemas

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}

/** CommonPayloadKeys.yaml requires PayloadIdentifier and PayloadUUID; we also refuse them empty. */
const commonPayloadKeys = {
  PayloadIdentifier: z.string().min(1),
  PayloadUUID: z.string().min(1),
};

/**
 * The com.apple.mdm payload as a device reads it: Apple's key types, except that EnrollmentMode is
 * any string (PROFILE-1, hasValidEnrollmentMode, judges its value) and ServerCapabilities any
 * strings (kept open: com.apple.mdm.per-user-connections, .bootstraptoken, .token today).
 */
export const MdmPayloadShape = ComAppleMdmPayload.extend({
  ...commonPayloadKeys,
  EnrollmentMode: z.string().optional(),
  ServerCapabilities: z.array(z.string()).optional(),
});
export type MdmPayloadShape = z.infer<typeof MdmPayloadShape>;

const httpsUrl = z.string().refine(isHttpsUrl, "PROFILE-8: must be an https URL");

/**
 * PROFILE-8 (server side): the com.apple.mdm payload our server emits. IdentityCertificateUUID is
 * required and non-empty (the YAML also gives it a UUID-like `format`), Topic begins with
 * `com.apple.mgmt.` (YAML text, no `format` there), ServerURL — and CheckInURL when present — is
 * https (YAML `format: ^https://.*$`).
 */
export const MdmPayload = MdmPayloadShape.extend({
  IdentityCertificateUUID: z.string().min(1, "PROFILE-8: IdentityCertificateUUID must not be empty"),
  Topic: z.string().regex(/^com\.apple\.mgmt\../, "PROFILE-8: Topic must start with com.apple.mgmt."),
  ServerURL: httpsUrl,
  CheckInURL: httpsUrl.optional(),
});
export type MdmPayload = z.infer<typeof MdmPayload>;

/** X.500 name as nested arrays: [[["CN", "name"]], [["O", "Org"]]] (each pair has exactly 2 strings). */
export const SubjectName = z.array(z.array(z.tuple([z.string(), z.string()])));
export type SubjectName = z.infer<typeof SubjectName>;

// The YAML types each of these as <string>; the SCEP text says "a single string or an array of strings".
const altNameValue = z.union([z.string(), z.array(z.string())]);
const SubjectAltName = ComAppleSecurityScepPayload.shape.PayloadContent.shape.SubjectAltName.unwrap().extend({
  rfc822Name: altNameValue.optional(),
  dNSName: altNameValue.optional(),
  uniformResourceIdentifier: altNameValue.optional(),
  ntPrincipalName: altNameValue.optional(),
});

/** com.apple.security.scep: the SCEP settings live in a PayloadContent dictionary (keys with spaces are Apple's). */
export const ScepPayload = ComAppleSecurityScepPayload.extend({
  ...commonPayloadKeys,
  PayloadContent: ComAppleSecurityScepPayload.shape.PayloadContent.extend({
    URL: z.string().min(1),
    SubjectAltName: SubjectAltName.optional(),
  }),
});
export type ScepPayload = z.infer<typeof ScepPayload>;

/** com.apple.security.acme: unlike SCEP, the keys sit in the payload itself, not in PayloadContent. */
export const AcmePayload = ComAppleSecurityAcmePayload.extend({
  ...commonPayloadKeys,
  DirectoryURL: z.string().refine(isHttpsUrl, "DirectoryURL must use the https scheme"),
  ClientIdentifier: z.string().min(1),
  SubjectAltName: SubjectAltName.optional(),
});
export type AcmePayload = z.infer<typeof AcmePayload>;

/** com.apple.security.pkcs12: a password-protected identity; PayloadContent is the PKCS#12 bytes. */
export const Pkcs12Payload = ComAppleSecurityPkcs12Payload.extend(commonPayloadKeys);
export type Pkcs12Payload = z.infer<typeof Pkcs12Payload>;

/** com.apple.security.root (an alias of pkcs1): a DER certificate. */
export const RootCertificatePayload = ComAppleSecurityRootPayload.extend(commonPayloadKeys);
/** com.apple.security.pem: PEM-encoded certificate(s), no private key. */
export const PemCertificatePayload = ComAppleSecurityPemPayload.extend(commonPayloadKeys);
/** com.apple.security.pkcs1: a DER certificate, no private key. */
export const Pkcs1CertificatePayload = ComAppleSecurityPkcs1Payload.extend(commonPayloadKeys);

export const TrustAnchorPayload = z.discriminatedUnion("PayloadType", [RootCertificatePayload, PemCertificatePayload, Pkcs1CertificatePayload]);
export type TrustAnchorPayload = z.infer<typeof TrustAnchorPayload>;

/** The payload types IdentityCertificateUUID may name (PROFILE-5). */
export const IdentityPayload = z.discriminatedUnion("PayloadType", [ScepPayload, AcmePayload, Pkcs12Payload]);
export type IdentityPayload = z.infer<typeof IdentityPayload>;
export const identityPayloadTypes = ["com.apple.security.scep", "com.apple.security.acme", "com.apple.security.pkcs12"] as const;

/**
 * Any payload of a profile: CommonPayloadKeys.yaml only, so unknown payload types pass (their own
 * keys are not judged here), with any integer PayloadVersion (Apple's rangelist says 1).
 */
export const AnyPayload = CommonPayloadKeysPayload.extend({
  PayloadType: z.string().min(1),
  PayloadVersion: z.int(),
});
export type AnyPayload = z.infer<typeof AnyPayload>;

/**
 * TopLevel.yaml: PayloadType "Configuration", PayloadVersion 1, PayloadContent an array of
 * payloads (each read as AnyPayload). ConsentText is a dictionary of localized texts by language
 * ("en", "default", …): the YAML nests an odd ConsentTextItem level there, which is not followed.
 */
export const ConfigurationProfile = TopLevelPayload.extend({
  ...commonPayloadKeys,
  PayloadContent: z.array(AnyPayload),
  ConsentText: z.record(z.string(), z.string()).optional(),
});
export type ConfigurationProfile = z.infer<typeof ConfigurationProfile>;

// ---------------------------------------------------------------------------------------------
// Step 13 on the device: one named predicate per rule (each is a guard of the device machine).

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);
}

function payloadsOf(profile: unknown): readonly unknown[] {
  return isRecord(profile) && Array.isArray(profile.PayloadContent) ? profile.PayloadContent : [];
}

const MdmPayloadRecord = z.looseObject({ PayloadType: z.literal("com.apple.mdm") });
export type MdmPayloadRecord = z.infer<typeof MdmPayloadRecord>;

/**
 * The profile's com.apple.mdm payload, as a loose record, when it holds exactly one; otherwise
 * undefined. Keys are not type-checked here, so each rule below judges only its own key.
 */
export function findMdmPayload(profile: unknown): MdmPayloadRecord | undefined {
  const found = payloadsOf(profile).filter((p) => isRecord(p) && p.PayloadType === "com.apple.mdm");
  if (found.length !== 1) return undefined;
  const parsed = MdmPayloadRecord.safeParse(found[0]);
  return parsed.success ? parsed.data : undefined;
}

/** Why a profile is not well formed (PROFILE-5), or undefined when it is. */
export function profileWellFormednessProblem(profile: unknown): string | undefined {
  const parsed = ConfigurationProfile.safeParse(profile);
  if (!parsed.success) return `not a Configuration profile: ${describeIssues(parsed.error)}`;
  const payloads = parsed.data.PayloadContent;
  const mdms = payloads.filter((p) => p.PayloadType === "com.apple.mdm");
  if (mdms.length !== 1) return `expected exactly one com.apple.mdm payload, found ${mdms.length}`;
  const mdm = MdmPayloadShape.safeParse(mdms[0]);
  if (!mdm.success) return `the com.apple.mdm payload is malformed: ${describeIssues(mdm.error)}`;
  const identityUUID = mdm.data.IdentityCertificateUUID;
  if (identityUUID.length === 0) return "IdentityCertificateUUID is empty";
  const named = payloads.filter((p) => p.PayloadUUID === identityUUID);
  if (named.length !== 1) return `IdentityCertificateUUID ${identityUUID} names ${named.length} payloads, expected exactly one`;
  const identity = IdentityPayload.safeParse(named[0]);
  if (!identity.success) return `IdentityCertificateUUID ${identityUUID} does not name a valid SCEP, ACME or PKCS#12 payload: ${describeIssues(identity.error)}`;
  return undefined;
}

/**
 * PROFILE-5: a Configuration profile with exactly one com.apple.mdm payload whose
 * IdentityCertificateUUID equals the PayloadUUID of a SCEP, ACME or PKCS#12 payload of the same
 * profile.
 */
export function profileIsWellFormed(profile: unknown): boolean {
  return profileWellFormednessProblem(profile) === undefined;
}

/** PROFILE-1: the com.apple.mdm payload has EnrollmentMode BYOD or ADDE. */
export function hasValidEnrollmentMode(profile: unknown): boolean {
  return EnrollmentMode.safeParse(findMdmPayload(profile)?.EnrollmentMode).success;
}

/**
 * PROFILE-2: EnrollmentMode matches the Version discovered in step 3 (mdm-byod ↔ BYOD,
 * mdm-adde ↔ ADDE). UNCONFIRMED: Apple's text only says an "incorrect value" cancels; that a
 * mismatch with the Version counts as incorrect is inferred (PROTOCOL.md §5, §8), so callers
 * decide whether to apply it (profileViolations' requireModeMatchesVersion).
 */
export function enrollmentModeMatchesVersion(profile: unknown, version: EnrollmentVersion): boolean {
  const mode = EnrollmentMode.safeParse(findMdmPayload(profile)?.EnrollmentMode);
  return mode.success && mode.data === enrollmentModeForVersion(version);
}

/** A Managed Apple Account: local@FQDN, a single "@", no whitespace. */
export function isManagedAppleID(value: string): boolean {
  if (/\s/.test(value)) return false;
  const parts = value.split("@");
  const [local, domain] = parts;
  return parts.length === 2 && local !== undefined && local.length > 0 && domain !== undefined && isFqdn(domain);
}

/** PROFILE-3: AssignedManagedAppleID is present and a valid Managed Apple Account. */
export function hasValidAssignedManagedAppleID(profile: unknown): boolean {
  const value = findMdmPayload(profile)?.AssignedManagedAppleID;
  return typeof value === "string" && isManagedAppleID(value);
}

/** PROFILE-4: a BYOD profile carries no AccessRights key (any value, even 0, counts as present). */
export function byodHasNoAccessRights(profile: unknown): boolean {
  const mdm = findMdmPayload(profile);
  return mdm === undefined || mdm.EnrollmentMode !== "BYOD" || !Object.hasOwn(mdm, "AccessRights");
}

export interface ProfileCheckOptions {
  /** Apply PROFILE-2, which is UNCONFIRMED (see enrollmentModeMatchesVersion). */
  readonly requireModeMatchesVersion: boolean;
}

/**
 * Step 13: every rule the profile breaks, in the order PROFILE-5, PROFILE-1, PROFILE-2, PROFILE-3,
 * PROFILE-4. An empty list means the device goes on to the Managed Apple Account sign-in. Each rule
 * is judged on its own, so a profile without an MDM payload breaks PROFILE-5, PROFILE-1 and
 * PROFILE-3 at once; PROFILE-2 is judged only when PROFILE-1 holds (an invalid mode is not also a
 * mismatch).
 */
export function profileViolations(profile: unknown, version: EnrollmentVersion, opts: ProfileCheckOptions): RuleId[] {
  const violations: RuleId[] = [];
  if (!profileIsWellFormed(profile)) violations.push("PROFILE-5");
  if (!hasValidEnrollmentMode(profile)) violations.push("PROFILE-1");
  else if (opts.requireModeMatchesVersion && !enrollmentModeMatchesVersion(profile, version)) violations.push("PROFILE-2");
  if (!hasValidAssignedManagedAppleID(profile)) violations.push("PROFILE-3");
  if (!byodHasNoAccessRights(profile)) violations.push("PROFILE-4");
  return violations;
}

// ---------------------------------------------------------------------------------------------
// Reading the second enroll answer

export interface EnrollmentProfileParseError {
  readonly code: "profile.empty" | "profile.plist-invalid" | "profile.not-configuration";
  readonly ruleId: RuleId;
  readonly detail: string;
}

/**
 * Reads the body of the second enroll answer as an unsigned XML plist Configuration profile. A
 * CMS-signed profile (DER SignedData) must be unwrapped by the caller first; this function does
 * not verify signatures. Only the profile's shape is checked here: the step-13 rules are
 * profileViolations' job.
 */
export function parseEnrollmentProfile(body: Uint8Array | string): Result<ConfigurationProfile, EnrollmentProfileParseError> {
  const empty = typeof body === "string" ? body.trim().length === 0 : body.length === 0;
  if (empty) return err({ code: "profile.empty", ruleId: "ENROLL2-4", detail: "the enroll answer has an empty body" });
  if (typeof body !== "string" && body[0] === 0x30) {
    return err({ code: "profile.plist-invalid", ruleId: "PROFILE-5", detail: "the body looks like DER (a CMS-signed profile?): unwrap the SignedData content first" });
  }
  const parsed = parsePlist(body);
  if (!parsed.ok) return err({ code: "profile.plist-invalid", ruleId: "PROFILE-5", detail: parsed.error.detail });
  const profile = ConfigurationProfile.safeParse(parsed.value);
  if (!profile.success) {
    return err({ code: "profile.not-configuration", ruleId: "PROFILE-5", detail: describeIssues(profile.error) });
  }
  return ok(profile.data);
}

// ---------------------------------------------------------------------------------------------
// Building the profile on the server

export type ScepIdentityInput = {
  readonly kind: "scep";
  readonly url: string;
  readonly challenge?: string;
  /** Defaults to 2048 (the YAML default, 1024, is too weak). */
  readonly keysize?: 1024 | 2048 | 4096;
  readonly subject?: SubjectName;
  /** Distinguishes the CA when the SCEP server has several. */
  readonly name?: string;
  /** 1 signing, 4 encryption. */
  readonly keyUsage?: number;
  readonly caFingerprint?: Uint8Array;
};

export type AcmeIdentityInput = {
  readonly kind: "acme";
  readonly directoryURL: string;
  readonly clientIdentifier: string;
  readonly keySize: number;
  readonly keyType: "RSA" | "ECSECPrimeRandom";
  readonly hardwareBound: boolean;
  /** Required by the YAML (the ACME server may ignore it). */
  readonly subject: SubjectName;
  readonly attest?: boolean;
  readonly usageFlags?: number;
  readonly extendedKeyUsage?: readonly string[];
};

export type Pkcs12IdentityInput = {
  readonly kind: "pkcs12";
  readonly data: Uint8Array;
  readonly password?: string;
  readonly fileName?: string;
};

export type IdentityInput = ScepIdentityInput | AcmeIdentityInput | Pkcs12IdentityInput;

export interface TrustAnchorInput {
  /** root/pkcs1: DER certificate; pem: PEM text as bytes. */
  readonly kind: "root" | "pem" | "pkcs1";
  readonly data: Uint8Array;
  readonly name: string;
  readonly uuid: string;
}

export interface MdmInput {
  readonly ServerURL: string;
  readonly CheckInURL?: string;
  readonly Topic: string;
  readonly SignMessage?: boolean;
  readonly ServerCapabilities?: readonly string[];
  /** ADDE only: refused for BYOD (PROFILE-4). */
  readonly AccessRights?: number;
  readonly CheckOutWhenRemoved?: boolean;
  readonly RequiredAppIDForMDM?: number;
  readonly UseDevelopmentAPNS?: boolean;
}

export interface EnrollmentProfileInput {
  readonly organizationName: string;
  /** Reverse-DNS prefix, e.g. "com.example.mdm"; payload identifiers append ".mdm", ".identity", ".anchor.N". */
  readonly identifierPrefix: string;
  /** Every UUID comes from the caller: building is pure. */
  readonly uuids: { readonly profile: string; readonly mdm: string; readonly identity: string };
  readonly displayName?: string;
  readonly mdm: MdmInput;
  readonly enrollmentMode: EnrollmentMode;
  /** PROFILE-7: the Managed Apple Account the server maps to the authenticated user. */
  readonly assignedManagedAppleID: string;
  readonly identity: IdentityInput;
  readonly anchors?: readonly TrustAnchorInput[];
}

export interface BuildEnrollmentProfileError {
  readonly code: "profile.byod-access-rights" | "profile.invalid-mdm" | "profile.invalid";
  readonly ruleId: RuleId;
  readonly detail: string;
}

function identityPayload(input: EnrollmentProfileInput): Record<string, unknown> {
  const common = {
    PayloadIdentifier: `${input.identifierPrefix}.identity`,
    PayloadUUID: input.uuids.identity,
    PayloadVersion: 1,
    PayloadDisplayName: "Device Management Identity",
  };
  const id = input.identity;
  switch (id.kind) {
    case "scep":
      return {
        PayloadType: "com.apple.security.scep",
        ...common,
        PayloadContent: {
          URL: id.url,
          ...(id.name !== undefined ? { Name: id.name } : {}),
          ...(id.subject !== undefined ? { Subject: id.subject } : {}),
          ...(id.challenge !== undefined ? { Challenge: id.challenge } : {}),
          Keysize: id.keysize ?? 2048,
          "Key Type": "RSA",
          ...(id.keyUsage !== undefined ? { "Key Usage": id.keyUsage } : {}),
          ...(id.caFingerprint !== undefined ? { CAFingerprint: id.caFingerprint } : {}),
        },
      };
    case "acme":
      return {
        PayloadType: "com.apple.security.acme",
        ...common,
        DirectoryURL: id.directoryURL,
        ClientIdentifier: id.clientIdentifier,
        KeySize: id.keySize,
        KeyType: id.keyType,
        HardwareBound: id.hardwareBound,
        Subject: id.subject,
        ...(id.attest !== undefined ? { Attest: id.attest } : {}),
        ...(id.usageFlags !== undefined ? { UsageFlags: id.usageFlags } : {}),
        ...(id.extendedKeyUsage !== undefined ? { ExtendedKeyUsage: id.extendedKeyUsage } : {}),
      };
    case "pkcs12":
      return {
        PayloadType: "com.apple.security.pkcs12",
        ...common,
        PayloadContent: id.data,
        ...(id.password !== undefined ? { Password: id.password } : {}),
        ...(id.fileName !== undefined ? { PayloadCertificateFileName: id.fileName } : {}),
      };
  }
}

function mdmPayload(input: EnrollmentProfileInput): Record<string, unknown> {
  const m = input.mdm;
  return {
    PayloadType: "com.apple.mdm",
    PayloadIdentifier: `${input.identifierPrefix}.mdm`,
    PayloadUUID: input.uuids.mdm,
    PayloadVersion: 1,
    PayloadDisplayName: "Device Management",
    PayloadOrganization: input.organizationName,
    IdentityCertificateUUID: input.uuids.identity,
    Topic: m.Topic,
    ServerURL: m.ServerURL,
    ...(m.CheckInURL !== undefined ? { CheckInURL: m.CheckInURL } : {}),
    ...(m.SignMessage !== undefined ? { SignMessage: m.SignMessage } : {}),
    ...(m.CheckOutWhenRemoved !== undefined ? { CheckOutWhenRemoved: m.CheckOutWhenRemoved } : {}),
    ...(m.ServerCapabilities !== undefined ? { ServerCapabilities: [...m.ServerCapabilities] } : {}),
    ...(m.AccessRights !== undefined ? { AccessRights: m.AccessRights } : {}),
    ...(m.RequiredAppIDForMDM !== undefined ? { RequiredAppIDForMDM: m.RequiredAppIDForMDM } : {}),
    ...(m.UseDevelopmentAPNS !== undefined ? { UseDevelopmentAPNS: m.UseDevelopmentAPNS } : {}),
    EnrollmentMode: input.enrollmentMode,
    AssignedManagedAppleID: input.assignedManagedAppleID,
  };
}

const anchorPayloadType = { root: "com.apple.security.root", pem: "com.apple.security.pem", pkcs1: "com.apple.security.pkcs1" } as const;

/**
 * Builds the enrollment profile of the second enroll answer (ENROLL2-3). Pure: every UUID is an
 * input. Payload order: trust anchors, the identity, then com.apple.mdm. Refuses, as a value, a
 * profile the device would reject (PROFILE-6): AccessRights in a BYOD profile (PROFILE-4), a
 * com.apple.mdm payload breaking PROFILE-8, or any other step-13 violation of the result.
 */
export function buildEnrollmentProfile(input: EnrollmentProfileInput): Result<ConfigurationProfile, BuildEnrollmentProfileError> {
  if (input.enrollmentMode === "BYOD" && input.mdm.AccessRights !== undefined) {
    return err({ code: "profile.byod-access-rights", ruleId: "PROFILE-4", detail: "a BYOD (user enrollment) profile cannot declare AccessRights" });
  }
  const mdm = mdmPayload(input);
  const mdmCheck = MdmPayload.safeParse(mdm);
  if (!mdmCheck.success) return err({ code: "profile.invalid-mdm", ruleId: "PROFILE-8", detail: describeIssues(mdmCheck.error) });

  const anchors = (input.anchors ?? []).map((a, i) => ({
    PayloadType: anchorPayloadType[a.kind],
    PayloadIdentifier: `${input.identifierPrefix}.anchor.${i + 1}`,
    PayloadUUID: a.uuid,
    PayloadVersion: 1,
    PayloadDisplayName: a.name,
    PayloadContent: a.data,
  }));
  const candidate = {
    PayloadType: "Configuration",
    PayloadIdentifier: input.identifierPrefix,
    PayloadUUID: input.uuids.profile,
    PayloadVersion: 1,
    PayloadDisplayName: input.displayName ?? `${input.organizationName} Device Management`,
    PayloadOrganization: input.organizationName,
    PayloadContent: [...anchors, identityPayload(input), mdm],
  };
  const parsed = ConfigurationProfile.safeParse(candidate);
  if (!parsed.success) return err({ code: "profile.invalid", ruleId: "PROFILE-5", detail: describeIssues(parsed.error) });
  const profile = parsed.data;

  const [violation] = profileViolations(profile, enrollmentVersionForMode(input.enrollmentMode), { requireModeMatchesVersion: true });
  if (violation !== undefined) {
    const detail = violation === "PROFILE-5" ? (profileWellFormednessProblem(profile) ?? violation) : `the profile breaks ${violation}`;
    return err({ code: "profile.invalid", ruleId: violation, detail });
  }
  return ok(profile);
}

/**
 * The XML plist of a profile (the unsigned body of a 200 application/x-apple-aspen-config answer).
 * Keys whose value is undefined are left out. Throws a TypeError only for a value no plist can
 * hold (null, bigint, a function…), which is a caller bug, never a protocol error.
 */
export function serializeEnrollmentProfile(profile: ConfigurationProfile): string {
  return buildPlist(toPlistValue(profile, "$"));
}

function toPlistValue(value: unknown, path: string): PlistValue {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  if (value instanceof Date || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((item, i) => toPlistValue(item, `${path}[${i}]`));
  if (isRecord(value)) {
    const out: { [key: string]: PlistValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = toPlistValue(item, `${path}.${key}`);
    }
    return out;
  }
  throw new TypeError(`${path}: ${value === null ? "null" : typeof value} cannot be written to a plist`);
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.map(String).join(".") : "(root)"}: ${i.message}`).join("; ");
}
