// The Enrollment SSO document (PROTOCOL.md §3): https://developer.apple.com/documentation/devicemanagement/enrollmentssodocument
// Keys and types are Apple's apple/device-management other/esso.yaml, through the schema generated
// from the project's copy (spec/apple/other.generated.ts: ESSODocument). The document travels as
// JSON, so its <data> values (ConfigurationProfile, Declarations) are base64 text here.
import { z } from "zod";
import { ESSODocument } from "./apple/other.generated.ts";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";

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
