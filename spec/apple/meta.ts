// The shape of the metadata generators/apple-schemas.generator.ts writes next to each generated
// Zod schema (spec/apple/*.generated.ts): Apple's YAML facts as plain data, per docs/schema.md.
import type { z } from "zod";

export const appleOSes = ["iOS", "macOS", "tvOS", "visionOS", "watchOS"] as const;
export type AppleOS = (typeof appleOSes)[number];

export type AppleType = "<string>" | "<integer>" | "<real>" | "<boolean>" | "<date>" | "<data>" | "<array>" | "<dictionary>" | "<any>";

/** `userenrollment.mode` / `sharedipad.mode`: allowed, required (only there), forbidden, ignored. */
export type UsageMode = "allowed" | "required" | "forbidden" | "ignored";

/**
 * One OS's facts for a payload or key, after inheritance (a key starts from its container's facts
 * and overrides them with its own `supportedOS`). `introduced` is "n/a" where the OS lacks it.
 * `userenrollment` and `sharedipad` are the YAML's `userenrollment.mode` and `sharedipad.mode`.
 */
export interface OSSupportMeta {
  readonly introduced?: string;
  readonly deprecated?: string;
  readonly removed?: string;
  readonly devicechannel?: boolean;
  readonly userchannel?: boolean;
  readonly userenrollment?: UsageMode;
  readonly sharedipad?: UsageMode;
}

export type SupportedOSMeta = { readonly [os in AppleOS]?: OSSupportMeta };

export interface BoundsMeta {
  readonly min?: number;
  readonly max?: number;
}

export interface AppleKeyMeta {
  /** Apple's key name, verbatim; "ANY" is Apple's wildcard (any key of a dictionary). */
  readonly key: string;
  readonly type: AppleType;
  readonly presence?: "required" | "optional";
  /**
   * True when `presence: required` holds only on some OS, channel or enrollment type (see
   * presenceIsConditional in generators/apple-yaml.ts): the Zod schema makes such a key optional.
   */
  readonly conditional?: boolean;
  readonly rangelist?: readonly (string | number)[];
  readonly range?: BoundsMeta;
  /** On an array's item: the array's length. */
  readonly repetition?: BoundsMeta;
  /** A regular expression (not applied by the Zod schema; see spec/apple-validation.ts). */
  readonly format?: string;
  readonly supportedOS: SupportedOSMeta;
  /** A dictionary's keys, or an array's single item. */
  readonly subkeys?: readonly AppleKeyMeta[];
}

export type AppleSchemaKind = "profile" | "check-in" | "error" | "other" | "declaration";

export interface AppleSchemaMeta {
  /** The generated schema's export name. */
  readonly name: string;
  /** Path in Apple's repository (and under spec/apple/yaml/). */
  readonly file: string;
  /** Further files whose keys are merged in (a profile payload takes CommonPayloadKeys.yaml's). */
  readonly includes: readonly string[];
  readonly kind: AppleSchemaKind;
  readonly title: string;
  /** payloadtype, requesttype or declarationtype; null for error bodies. */
  readonly type: string | null;
  readonly supportedOS: SupportedOSMeta;
  readonly keys: readonly AppleKeyMeta[];
}

/** A generated schema with its metadata, as the registries list them. */
export interface AppleSchemaEntry {
  readonly schema: z.ZodType;
  readonly meta: AppleSchemaMeta;
}

/** Compares dotted versions numerically: 18.0 < 18.4 < 26.0, 10.13.4 < 10.15, "18" = "18.0" (missing parts are 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(".").map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
