// Apple's device-management YAML (https://github.com/apple/device-management, format: docs/schema.md)
// as the generator, spec:update and the tests read it: which files the project keeps, where its copy
// lives, and the schema model, checked with Zod so a malformed file fails loudly. No spec/ import:
// this must work while spec/apple/*.generated.ts is missing or stale.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { compareVersions } from "../spec/apple/meta.ts";

export { compareVersions };

/** The project's own copy of Apple's files, relative to the project root. */
export const appleYamlDir = "spec/apple/yaml";

/**
 * The files the project keeps, at Apple's relative paths: these exact files, plus every `*.yaml`
 * directly in `directories` (a message or error Apple adds there is taken on the next update).
 */
export const keptAppleFiles = {
  exact: [
    "LICENSE.txt",
    "docs/schema.md",
    "docs/schema.yaml",
    "mdm/profiles/TopLevel.yaml",
    "mdm/profiles/CommonPayloadKeys.yaml",
    "mdm/profiles/com.apple.mdm.yaml",
    "mdm/profiles/com.apple.security.scep.yaml",
    "mdm/profiles/com.apple.security.acme.yaml",
    "mdm/profiles/com.apple.security.pkcs12.yaml",
    "mdm/profiles/com.apple.security.root.yaml",
    "mdm/profiles/com.apple.security.pem.yaml",
    "mdm/profiles/com.apple.security.pkcs1.yaml",
    "mdm/profiles/com.apple.extensiblesso.yaml",
    "other/esso.yaml",
    "declarative/declarations/activations/simple.yaml",
    "declarative/declarations/configurations/app.managed.yaml",
    "declarative/declarations/configurations/legacy.yaml",
  ],
  directories: ["mdm/checkin", "mdm/errors"],
} as const;

/** Whether a path (relative to Apple's repository root, `/`-separated) is one the project keeps. */
export function isKeptAppleFile(rel: string): boolean {
  if ((keptAppleFiles.exact as readonly string[]).includes(rel)) return true;
  const slash = rel.lastIndexOf("/");
  return slash > 0 && rel.endsWith(".yaml") && (keptAppleFiles.directories as readonly string[]).includes(rel.slice(0, slash));
}

/** The kept files of a checkout of Apple's repository (or of the project's copy), sorted, with their text. */
export function readKeptAppleFiles(dir: string): Map<string, string> {
  const found: string[] = [];
  for (const rel of keptAppleFiles.exact) if (isFile(join(dir, rel))) found.push(rel);
  for (const sub of keptAppleFiles.directories) {
    if (!isDirectory(join(dir, sub))) continue;
    for (const name of readdirSync(join(dir, sub))) if (name.endsWith(".yaml") && isFile(join(dir, sub, name))) found.push(`${sub}/${name}`);
  }
  return new Map(found.sort().map((rel) => [rel, readFileSync(join(dir, rel), "utf8")]));
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A kept file that describes a schema (every kept `*.yaml` but the format's own `docs/schema.yaml`). */
export function isSchemaFile(rel: string): boolean {
  return rel.endsWith(".yaml") && !rel.startsWith("docs/");
}

// ---------------------------------------------------------------------------------------------
// The schema format (docs/schema.md)

export const appleOSes = ["iOS", "macOS", "tvOS", "visionOS", "watchOS"] as const;
export type AppleOS = (typeof appleOSes)[number];

export const appleTypes = ["<string>", "<integer>", "<real>", "<boolean>", "<date>", "<data>", "<array>", "<dictionary>", "<any>"] as const;
export type AppleType = (typeof appleTypes)[number];

// Versions are usually quoted ('4.0') but not always (10.13.4); a bare 10.7 would be a YAML number.
const Version = z.union([z.string(), z.number()]).transform(String);
const Mode = z.enum(["allowed", "required", "forbidden", "ignored"]);
/** `userenrollment.mode` / `sharedipad.mode` (docs/schema.md). */
export type UsageMode = z.infer<typeof Mode>;

const OSSupport = z.object({
  introduced: Version.optional(),
  deprecated: Version.optional(),
  removed: Version.optional(),
  devicechannel: z.boolean().optional(),
  userchannel: z.boolean().optional(),
  userenrollment: z.object({ mode: Mode.optional(), behavior: z.string().optional() }).nullish(),
  sharedipad: z.object({ mode: Mode.optional() }).nullish(),
});
export type OSSupport = z.infer<typeof OSSupport>;

const SupportedOS = z.object({
  iOS: OSSupport.optional(),
  macOS: OSSupport.optional(),
  tvOS: OSSupport.optional(),
  visionOS: OSSupport.optional(),
  watchOS: OSSupport.optional(),
});
export type SupportedOS = z.infer<typeof SupportedOS>;

const Bounds = z.object({ min: z.number().optional(), max: z.number().optional() });
export type Bounds = z.infer<typeof Bounds>;

/** One entry of `payloadkeys` / `subkeys`. */
export interface AppleKey {
  readonly key: string;
  readonly type: AppleType;
  readonly title?: string | undefined;
  readonly presence?: "required" | "optional" | undefined;
  readonly supportedOS?: SupportedOS | undefined;
  readonly rangelist?: readonly (string | number)[] | undefined;
  readonly range?: Bounds | undefined;
  readonly repetition?: Bounds | undefined;
  readonly format?: string | undefined;
  readonly subkeys?: readonly AppleKey[] | undefined;
}

const AppleKeySchema: z.ZodType<AppleKey> = z.lazy(() =>
  z.object({
    key: z.string(),
    type: z.enum(appleTypes),
    title: z.string().optional(),
    presence: z.enum(["required", "optional"]).optional(),
    supportedOS: SupportedOS.optional(),
    rangelist: z.array(z.union([z.string(), z.number()])).optional(),
    range: Bounds.optional(),
    repetition: Bounds.optional(),
    format: z.string().optional(),
    subkeys: z.array(AppleKeySchema).optional(),
  }),
);

const AppleSchemaFile = z.object({
  title: z.string(),
  payload: z.object({
    payloadtype: z.string().optional(),
    requesttype: z.string().optional(),
    declarationtype: z.string().optional(),
    supportedOS: SupportedOS.optional(),
  }),
  payloadkeys: z.array(AppleKeySchema).default([]),
});

export interface AppleSchema {
  /** Path relative to Apple's repository root, e.g. "mdm/profiles/com.apple.mdm.yaml". */
  readonly file: string;
  readonly title: string;
  readonly payloadtype?: string | undefined;
  readonly requesttype?: string | undefined;
  readonly declarationtype?: string | undefined;
  readonly supportedOS?: SupportedOS | undefined;
  readonly payloadkeys: readonly AppleKey[];
}

/** Reads one schema file's text (throws, naming the file, when it does not follow docs/schema.md). */
export function parseAppleSchema(file: string, text: string): AppleSchema {
  const parsed = AppleSchemaFile.safeParse(parse(text));
  if (!parsed.success) throw new Error(`${file} does not follow docs/schema.md: ${z.prettifyError(parsed.error)}`);
  const { title, payload, payloadkeys } = parsed.data;
  return {
    file,
    title,
    payloadtype: payload.payloadtype,
    requesttype: payload.requesttype,
    declarationtype: payload.declarationtype,
    supportedOS: payload.supportedOS,
    payloadkeys,
  };
}

/** The identifier Apple gives the schema: payloadtype, requesttype or declarationtype (errors have none). */
export function appleTypeOf(schema: AppleSchema): string | undefined {
  return schema.payloadtype ?? schema.requesttype ?? schema.declarationtype;
}

// ---------------------------------------------------------------------------------------------
// Versions and supportedOS inheritance


/** Per-OS facts after inheritance: a key starts from its container's and overrides them with its own. */
export type Support = { readonly [os in AppleOS]?: OSSupport };

export function mergeSupport(inherited: Support, own: SupportedOS | undefined): Support {
  if (own === undefined) return inherited;
  const out: { [os in AppleOS]?: OSSupport } = { ...inherited };
  for (const os of appleOSes) {
    const mine = own[os];
    if (mine !== undefined) out[os] = { ...inherited[os], ...mine };
  }
  return out;
}

/**
 * Whether a key's own supportedOS makes its `presence: required` depend on where it is used: not
 * available on some OS, restricted to one channel, a userenrollment mode other than allowed, shared
 * iPad only, or introduced on some OS later than its container. Such a key is generated optional.
 */
export function presenceIsConditional(own: SupportedOS | undefined, inherited: Support): boolean {
  return appleOSes.some((os) => {
    const s = own?.[os];
    if (s === undefined) return false;
    const ue = s.userenrollment?.mode;
    const parentIntroduced = inherited[os]?.introduced;
    const laterThanContainer =
      s.introduced !== undefined && s.introduced !== "n/a" && parentIntroduced !== undefined && parentIntroduced !== "n/a" && compareVersions(s.introduced, parentIntroduced) > 0;
    return (
      s.introduced === "n/a" ||
      laterThanContainer ||
      s.devicechannel === false ||
      s.userchannel === false ||
      (ue !== undefined && ue !== "allowed") ||
      s.sharedipad?.mode === "required"
    );
  });
}
