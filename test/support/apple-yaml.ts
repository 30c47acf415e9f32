// Test-only validator over Apple's schemas: https://github.com/apple/device-management (format: docs/schema.md)
// The YAML files are loaded at run time; no key list is copied here. Later this walk becomes a code
// generator, so the schema model (AppleKey) and the walk (checkValue) are kept apart from the I/O.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const appleSchemaRoot = path.resolve(repoRoot, "../shared/protocol/apple-device-management");

export const appleOSes = ["iOS", "macOS", "tvOS", "visionOS", "watchOS"] as const;
export type AppleOS = (typeof appleOSes)[number];

// ---------------------------------------------------------------------------------------------
// The schema format (docs/schema.md), read with Zod so a malformed file fails loudly.

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

export const appleTypes = ["<string>", "<integer>", "<real>", "<boolean>", "<date>", "<data>", "<array>", "<dictionary>", "<any>"] as const;
export type AppleType = (typeof appleTypes)[number];

const Bounds = z.object({ min: z.number().optional(), max: z.number().optional() });

/** One entry of `payloadkeys` / `subkeys`. */
export interface AppleKey {
  readonly key: string;
  readonly type: AppleType;
  readonly title?: string | undefined;
  readonly presence?: "required" | "optional" | undefined;
  readonly supportedOS?: SupportedOS | undefined;
  readonly rangelist?: readonly unknown[] | undefined;
  readonly range?: z.infer<typeof Bounds> | undefined;
  readonly repetition?: z.infer<typeof Bounds> | undefined;
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
    rangelist: z.array(z.unknown()).optional(),
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
    supportedOS: SupportedOS.optional(),
  }),
  payloadkeys: z.array(AppleKeySchema).default([]),
});

export interface AppleSchema {
  /** Path relative to appleSchemaRoot, e.g. "mdm/profiles/com.apple.mdm.yaml". */
  readonly file: string;
  readonly title: string;
  readonly payloadtype?: string | undefined;
  readonly requesttype?: string | undefined;
  readonly supportedOS?: SupportedOS | undefined;
  readonly payloadkeys: readonly AppleKey[];
}

const cache = new Map<string, AppleSchema>();

/** Loads and checks one YAML file (cached). */
export function loadAppleSchema(file: string): AppleSchema {
  const cached = cache.get(file);
  if (cached) return cached;
  const raw: unknown = parse(readFileSync(path.join(appleSchemaRoot, file), "utf8"));
  const parsed = AppleSchemaFile.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} does not follow docs/schema.md: ${z.prettifyError(parsed.error)}`);
  const { title, payload, payloadkeys } = parsed.data;
  const schema: AppleSchema = { file, title, payloadtype: payload.payloadtype, requesttype: payload.requesttype, supportedOS: payload.supportedOS, payloadkeys };
  cache.set(file, schema);
  return schema;
}

function schemasIn(dir: string): AppleSchema[] {
  return readdirSync(path.join(appleSchemaRoot, dir))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => loadAppleSchema(`${dir}/${f}`));
}

/** The profile payload schema whose `payloadtype` is the given PayloadType. */
export function schemaForPayloadType(payloadType: string): AppleSchema | undefined {
  return schemasIn("mdm/profiles").find((s) => s.payloadtype === payloadType);
}

/** The check-in schema whose `requesttype` is the given MessageType. */
export function schemaForMessageType(messageType: string): AppleSchema | undefined {
  return schemasIn("mdm/checkin").find((s) => s.requesttype === messageType);
}

// ---------------------------------------------------------------------------------------------
// supportedOS: a key inherits the payload's (or its parent key's) per-OS facts and overrides them.

type Support = { readonly [os in AppleOS]?: OSSupport };

function mergeSupport(inherited: Support, own: SupportedOS | undefined): Support {
  if (own === undefined) return inherited;
  const out: { [os in AppleOS]?: OSSupport } = { ...inherited };
  for (const os of appleOSes) {
    const mine = own[os];
    if (mine !== undefined) out[os] = { ...inherited[os], ...mine };
  }
  return out;
}

/**
 * Where a dictionary is used: an OS, and optionally the enrollment type and MDM channel. Without a
 * context, a key whose own supportedOS makes its presence conditional (n/a on some OS, a
 * userenrollment or shared-iPad mode, a channel restriction) is not required.
 */
export interface ValidationContext {
  readonly os: AppleOS;
  /** "user" is user enrollment (BYOD); "device" is any device enrollment (ADDE included). */
  readonly enrollment?: "user" | "device";
  readonly channel?: "device" | "user";
}

type Verdict = { readonly usable: true; readonly required: boolean } | { readonly usable: false; readonly why: string };

function isConditional(own: SupportedOS | undefined): boolean {
  return appleOSes.some((os) => {
    const s = own?.[os];
    if (s === undefined) return false;
    const ue = s.userenrollment?.mode;
    return s.introduced === "n/a" || s.devicechannel === false || s.userchannel === false || (ue !== undefined && ue !== "allowed") || s.sharedipad?.mode === "required";
  });
}

function verdict(spec: AppleKey, support: Support, ctx: ValidationContext | undefined): Verdict {
  const declaredRequired = spec.presence === "required";
  if (ctx === undefined) return { usable: true, required: declaredRequired && !isConditional(spec.supportedOS) };
  const s = support[ctx.os];
  if (s === undefined || s.introduced === "n/a") return { usable: false, why: `not available on ${ctx.os}` };
  if (ctx.channel === "device" && s.devicechannel === false) return { usable: false, why: `not available on the ${ctx.os} device channel` };
  if (ctx.channel === "user" && s.userchannel === false) return { usable: false, why: `not available on the ${ctx.os} user channel` };
  const ue = s.userenrollment?.mode;
  if (ctx.enrollment === "user" && ue === "forbidden") return { usable: false, why: `forbidden under user enrollment on ${ctx.os}` };
  // A key's declared presence holds where its mode lets it be used in full: "required" means "only
  // with user enrollment" (elsewhere it is not required, and, leniently, not reported either:
  // account-driven device enrollment is not described by these files); "forbidden" and "ignored"
  // keys are required only outside user enrollment. Without a known enrollment, only "allowed" keys are.
  const modeAllowsRequired =
    ue === undefined ||
    ue === "allowed" ||
    (ctx.enrollment === "user" && ue === "required") ||
    (ctx.enrollment === "device" && (ue === "forbidden" || ue === "ignored"));
  const channelKnown = (s.devicechannel !== false && s.userchannel !== false) || ctx.channel !== undefined;
  const notSharedIpadOnly = s.sharedipad?.mode !== "required";
  return { usable: true, required: declaredRequired && modeAllowsRequired && channelKnown && notSharedIpadOnly };
}

// ---------------------------------------------------------------------------------------------
// The walk: one function checks a value against a key spec, recursing into subkeys.

function isDictionary(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);
}

function hasType(value: unknown, type: AppleType): boolean {
  switch (type) {
    case "<string>":
      return typeof value === "string";
    case "<integer>":
      return (typeof value === "number" && Number.isInteger(value)) || typeof value === "bigint";
    case "<real>":
      return typeof value === "number";
    case "<boolean>":
      return typeof value === "boolean";
    case "<date>":
      return value instanceof Date && !Number.isNaN(value.getTime());
    case "<data>":
      return value instanceof Uint8Array;
    case "<array>":
      return Array.isArray(value);
    case "<dictionary>":
      return isDictionary(value);
    case "<any>":
      return true;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return "data";
  if (value instanceof Date) return "date";
  if (typeof value === "number") return Number.isInteger(value) ? `integer ${value}` : `real ${value}`;
  if (typeof value === "string") return `string ${JSON.stringify(value)}`;
  return typeof value === "object" ? "dictionary" : typeof value;
}

const wildcard = "ANY";

/**
 * Checks `value` against `spec` at `where`: its type, rangelist, range, format; for an array each
 * item against the single item spec (and the item's repetition as the array's length); for a
 * dictionary unknown keys, keys unusable in the context, and missing required keys. Problems are
 * appended to `problems` as readable lines.
 */
function checkValue(value: unknown, spec: AppleKey, where: string, support: Support, ctx: ValidationContext | undefined, problems: string[]): void {
  if (!hasType(value, spec.type)) {
    problems.push(`${where}: expected ${spec.type}, got ${describe(value)}`);
    return;
  }
  if (spec.rangelist !== undefined && !spec.rangelist.some((allowed) => allowed === value)) {
    problems.push(`${where}: ${describe(value)} is not one of ${spec.rangelist.map((v) => JSON.stringify(v)).join(", ")}`);
  }
  if (typeof value === "number" && spec.range !== undefined) {
    const { min, max } = spec.range;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      problems.push(`${where}: ${value} is outside ${min ?? "-∞"}…${max ?? "∞"}`);
    }
  }
  if (typeof value === "string" && spec.format !== undefined && !new RegExp(spec.format).test(value)) {
    problems.push(`${where}: ${JSON.stringify(value)} does not match ${spec.format}`);
  }

  if (Array.isArray(value)) {
    const item = spec.subkeys?.[0];
    if (item === undefined) return;
    const { min, max } = item.repetition ?? {};
    if ((min !== undefined && value.length < min) || (max !== undefined && value.length > max)) {
      problems.push(`${where}: has ${value.length} items, expected ${min ?? 0}…${max ?? "∞"}`);
    }
    const itemSupport = mergeSupport(support, item.supportedOS);
    value.forEach((v, i) => checkValue(v, item, `${where}[${i}]`, itemSupport, ctx, problems));
    return;
  }

  if (isDictionary(value) && spec.subkeys !== undefined) {
    const named = new Map(spec.subkeys.filter((k) => k.key !== wildcard).map((k) => [k.key, k]));
    const any = spec.subkeys.find((k) => k.key === wildcard);
    // A key inherits its container's unavailability: say it once, at the container.
    const container = verdict(spec, support, ctx);
    const containerWhy = container.usable ? undefined : container.why;
    for (const [key, v] of Object.entries(value)) {
      const sub = named.get(key) ?? any;
      const at = `${where}.${key}`;
      if (sub === undefined) {
        problems.push(`${at}: unknown key`);
        continue;
      }
      const subSupport = mergeSupport(support, sub.supportedOS);
      const judged = verdict(sub, subSupport, ctx);
      if (!judged.usable && judged.why !== containerWhy) problems.push(`${at}: ${judged.why}`);
      checkValue(v, sub, at, subSupport, ctx, problems);
    }
    for (const sub of named.values()) {
      if (Object.hasOwn(value, sub.key)) continue;
      const judged = verdict(sub, mergeSupport(support, sub.supportedOS), ctx);
      if (judged.usable && judged.required) problems.push(`${where}: missing required key ${sub.key}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

/**
 * Validates a dictionary against the payloadkeys of one or more YAML files (later files add keys
 * the earlier ones lack: ["mdm/profiles/com.apple.mdm.yaml", "mdm/profiles/CommonPayloadKeys.yaml"]).
 * The first file's payload-level supportedOS applies. Empty result = valid.
 */
export function validateAgainstAppleSchema(value: unknown, files: string | readonly string[], ctx?: ValidationContext): string[] {
  const schemas = (typeof files === "string" ? [files] : files).map(loadAppleSchema);
  const [main] = schemas;
  if (main === undefined) throw new Error("no schema file given");
  const keys: AppleKey[] = [];
  for (const schema of schemas) for (const k of schema.payloadkeys) if (!keys.some((known) => known.key === k.key)) keys.push(k);
  const root: AppleKey = { key: main.title, type: "<dictionary>", supportedOS: main.supportedOS, subkeys: keys };
  const support = mergeSupport({}, main.supportedOS);
  const name = main.payloadtype ?? main.requesttype ?? main.title;
  const problems: string[] = [];
  const judged = verdict(root, support, ctx);
  if (!judged.usable) problems.push(`${name}: ${judged.why}`);
  checkValue(value, root, name, support, ctx, problems);
  return problems;
}

/** One payload of a profile: its own YAML (by PayloadType) plus CommonPayloadKeys.yaml. */
export function validateProfilePayload(payload: unknown, ctx?: ValidationContext): string[] {
  const type = isDictionary(payload) ? payload.PayloadType : undefined;
  if (typeof type !== "string") return ["payload: no PayloadType string"];
  const schema = schemaForPayloadType(type);
  if (schema === undefined) return [`${type}: no Apple schema for this PayloadType`];
  return validateAgainstAppleSchema(payload, [schema.file, "mdm/profiles/CommonPayloadKeys.yaml"], ctx);
}

/** A whole profile: TopLevel.yaml, then every payload of PayloadContent. */
export function validateConfigurationProfile(profile: unknown, ctx?: ValidationContext): string[] {
  const problems = validateAgainstAppleSchema(profile, "mdm/profiles/TopLevel.yaml", ctx);
  const content = isDictionary(profile) && Array.isArray(profile.PayloadContent) ? profile.PayloadContent : [];
  content.forEach((p, i) => problems.push(...validateProfilePayload(p, ctx).map((line) => `PayloadContent[${i}] ${line}`)));
  return problems;
}

/** A check-in message, by its MessageType (mdm/checkin/*.yaml). */
export function validateCheckInMessage(message: unknown, ctx?: ValidationContext): string[] {
  const type = isDictionary(message) ? message.MessageType : undefined;
  if (typeof type !== "string") return ["check-in: no MessageType string"];
  const schema = schemaForMessageType(type);
  if (schema === undefined) return [`${type}: no Apple schema for this MessageType`];
  return validateAgainstAppleSchema(message, schema.file, ctx);
}

/**
 * Key paths (dotted; "[]" for array items) whose effective `userenrollment.mode` is `mode` on
 * `os` (or on any OS). Keys inherit the payload's mode, so a payload forbidden under user
 * enrollment yields all its keys.
 */
export function keysWithUserEnrollmentMode(file: string, mode: UsageMode, os?: AppleOS): string[] {
  const schema = loadAppleSchema(file);
  const found: string[] = [];
  const visit = (keys: readonly AppleKey[], prefix: string, inherited: Support, inArray: boolean): void => {
    for (const k of keys) {
      const at = inArray ? `${prefix}[]` : prefix === "" ? k.key : `${prefix}.${k.key}`;
      const support = mergeSupport(inherited, k.supportedOS);
      const oses = os === undefined ? appleOSes : [os];
      if (oses.some((o) => support[o]?.userenrollment?.mode === mode)) found.push(at);
      if (k.subkeys !== undefined && k.key !== wildcard) visit(k.subkeys, at, support, k.type === "<array>");
    }
  };
  visit(schema.payloadkeys, "", mergeSupport({}, schema.supportedOS), false);
  return found;
}

/** The `userenrollment: mode: forbidden` facts of one schema file. */
export function userEnrollmentForbiddenKeys(file: string, os?: AppleOS): string[] {
  return keysWithUserEnrollmentMode(file, "forbidden", os);
}
