// "Is this profile valid for a user enrollment on iOS 18?": Apple's YAML facts, through the
// generated schemas (spec/apple/*.generated.ts) and their metadata. Pure: no I/O.
//
// - Types, rangelists, ranges and array lengths are judged by the generated Zod schema; the
//   metadata only words the problem ("expected <integer>, got string \"8191\"").
// - Everything that depends on the target is judged from the metadata (supportedOS after
//   inheritance): a key not available on the OS, introduced after the target version or removed by
//   it, forbidden under user enrollment, on the wrong channel; required keys missing (a key whose
//   presence is conditional is required only where its facts say so); unknown keys; `format`.
import type { z } from "zod";
import { appleSchemasByFile, checkInMessages, profilePayloads, TopLevelPayload, TopLevelPayloadMeta } from "./apple/index.generated.ts";
import { appleOSes, compareVersions, type AppleKeyMeta, type AppleOS, type AppleSchemaEntry, type AppleSchemaMeta, type AppleType, type OSSupportMeta, type UsageMode } from "./apple/meta.ts";

export { appleOSes, compareVersions, type AppleOS, type AppleKeyMeta, type AppleSchemaEntry, type AppleSchemaMeta, type AppleType, type UsageMode };


/**
 * Where a dictionary is used. Only `os` is needed; each further fact sharpens the check: `version`
 * (keys introduced later, removed or deprecated), `enrollment` ("user" is user enrollment (BYOD),
 * "device" any device enrollment, ADDE included), `channel` (the macOS user or device channel).
 */
export interface ValidationContext {
  readonly os: AppleOS;
  readonly version?: string;
  readonly enrollment?: "user" | "device";
  readonly channel?: "device" | "user";
}

/** A device the profile or message is meant for: "a user enrollment on iOS 18.0". */
export interface Target extends ValidationContext {
  readonly version: string;
  readonly enrollment: "user" | "device";
}

export type ProblemKind =
  | "type" // wrong type, value outside rangelist or range, wrong array length (the Zod schema)
  | "format" // a string not matching the key's `format`
  | "unknown-key"
  | "missing" // a key required here is absent
  | "not-available" // the OS lacks the payload or key (n/a, introduced later, removed, wrong channel)
  | "forbidden" // userenrollment mode forbidden under user enrollment
  | "deprecated" // a warning: deprecated by the target version
  | "no-schema";

export interface Problem {
  readonly kind: ProblemKind;
  /** Dotted, from the schema's name: "com.apple.mdm.ServerCapabilities[0]", "TokenUpdate". */
  readonly path: string;
  readonly message: string;
  /** In a profile: the index of the payload in PayloadContent. */
  readonly payloadIndex?: number;
}

/** A problem as one readable line: "PayloadContent[1] com.apple.mdm.Topic: expected <string>, got integer 7". */
export function formatProblem(p: Problem): string {
  return `${p.payloadIndex === undefined ? "" : `PayloadContent[${p.payloadIndex}] `}${p.path}: ${p.message}`;
}

/** Problems that make the value unusable for the target (every kind but "deprecated"). */
export function errorsOf(problems: readonly Problem[]): Problem[] {
  return problems.filter((p) => p.kind !== "deprecated");
}

// ---------------------------------------------------------------------------------------------
// Verdicts: whether a key may be used in a context, and whether it is required there

type Verdict =
  | { readonly usable: true; readonly required: boolean; readonly deprecated?: string }
  | { readonly usable: false; readonly kind: "not-available" | "forbidden"; readonly why: string };

function verdict(spec: AppleKeyMeta, ctx: ValidationContext | undefined): Verdict {
  const declaredRequired = spec.presence === "required";
  if (ctx === undefined) return { usable: true, required: declaredRequired && spec.conditional !== true };
  const os = ctx.os;
  const s: OSSupportMeta | undefined = spec.supportedOS[os];
  if (s === undefined || s.introduced === "n/a") return { usable: false, kind: "not-available", why: `not available on ${os}` };
  if (ctx.version !== undefined && s.introduced !== undefined && compareVersions(ctx.version, s.introduced) < 0) {
    return { usable: false, kind: "not-available", why: `introduced in ${os} ${s.introduced}, after the target ${os} ${ctx.version}` };
  }
  if (ctx.version !== undefined && s.removed !== undefined && compareVersions(ctx.version, s.removed) >= 0) {
    return { usable: false, kind: "not-available", why: `removed in ${os} ${s.removed}` };
  }
  if (ctx.channel === "device" && s.devicechannel === false) return { usable: false, kind: "not-available", why: `not available on the ${os} device channel` };
  if (ctx.channel === "user" && s.userchannel === false) return { usable: false, kind: "not-available", why: `not available on the ${os} user channel` };
  const ue = s.userenrollment;
  if (ctx.enrollment === "user" && ue === "forbidden") return { usable: false, kind: "forbidden", why: `forbidden under user enrollment on ${os}` };
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
  const notSharedIpadOnly = s.sharedipad !== "required";
  const deprecated = ctx.version !== undefined && s.deprecated !== undefined && compareVersions(ctx.version, s.deprecated) >= 0 ? s.deprecated : undefined;
  return { usable: true, required: declaredRequired && modeAllowsRequired && channelKnown && notSharedIpadOnly, ...(deprecated === undefined ? {} : { deprecated }) };
}

// ---------------------------------------------------------------------------------------------
// Wording: the metadata names what the Zod schema refused

function isDictionary(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);
}

function hasType(value: unknown, type: AppleType): boolean {
  switch (type) {
    case "<string>":
      return typeof value === "string";
    case "<integer>":
      return typeof value === "number" && Number.isInteger(value);
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
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return "data";
  if (value instanceof Date) return "date";
  if (typeof value === "number") return Number.isInteger(value) ? `integer ${value}` : `real ${value}`;
  if (typeof value === "string") return `string ${JSON.stringify(value)}`;
  return typeof value === "object" ? "dictionary" : typeof value;
}

/** The problem the Zod schema found at a value, worded from the key's metadata. */
function wordIssue(value: unknown, spec: AppleKeyMeta, fallback: string): string {
  if (!hasType(value, spec.type)) return `expected ${spec.type}, got ${describe(value)}`;
  if (spec.rangelist !== undefined && spec.type !== "<array>" && spec.type !== "<dictionary>" && !spec.rangelist.some((v) => v === value)) {
    return `${describe(value)} is not one of ${spec.rangelist.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if (typeof value === "number" && spec.range !== undefined) {
    const { min, max } = spec.range;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) return `${value} is outside ${min ?? "-∞"}…${max ?? "∞"}`;
  }
  const item = spec.subkeys?.[0];
  if (Array.isArray(value) && item?.repetition !== undefined) {
    const { min, max } = item.repetition;
    if ((min !== undefined && value.length < min) || (max !== undefined && value.length > max)) return `has ${value.length} items, expected ${min ?? 0}…${max ?? "∞"}`;
  }
  return fallback;
}

type IssuesByPath = Map<string, z.core.$ZodIssue[]>;

function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map((p) => (typeof p === "symbol" ? String(p) : p)));
}

function zodIssues(schema: z.ZodType, value: unknown): IssuesByPath {
  const result = schema.safeParse(value, { reportInput: true });
  const byPath: IssuesByPath = new Map();
  if (result.success) return byPath;
  for (const issue of result.error.issues) {
    const key = pathKey(issue.path);
    byPath.set(key, [...(byPath.get(key) ?? []), issue]);
  }
  return byPath;
}

// ---------------------------------------------------------------------------------------------
// The walk

const wildcard = "ANY";

interface Walk {
  readonly ctx: ValidationContext | undefined;
  readonly issues: IssuesByPath;
  readonly problems: Problem[];
}

function push(w: Walk, kind: ProblemKind, path: string, message: string): void {
  if (!w.problems.some((p) => p.path === path && p.message === message)) w.problems.push({ kind, path, message });
}

/** Checks `value` against `spec` at `where` (zodPath: the same place as a Zod path), recursing. */
function checkValue(w: Walk, value: unknown, spec: AppleKeyMeta, where: string, zodPath: readonly (string | number)[]): void {
  const here = w.issues.get(pathKey(zodPath));
  if (here !== undefined) {
    w.issues.delete(pathKey(zodPath));
    for (const issue of here) push(w, "type", where, wordIssue(value, spec, issue.message));
    if (!hasType(value, spec.type)) return;
  }
  if (typeof value === "string" && spec.format !== undefined && !new RegExp(spec.format).test(value)) {
    push(w, "format", where, `${JSON.stringify(value)} does not match ${spec.format}`);
  }

  if (Array.isArray(value)) {
    const item = spec.subkeys?.[0];
    if (item === undefined) return;
    value.forEach((v: unknown, i) => checkValue(w, v, item, `${where}[${i}]`, [...zodPath, i]));
    return;
  }

  if (isDictionary(value) && spec.subkeys !== undefined) {
    const named = new Map(spec.subkeys.filter((k) => k.key !== wildcard).map((k) => [k.key, k]));
    const any = spec.subkeys.find((k) => k.key === wildcard);
    // A key inherits its container's unavailability: say it once, at the container.
    const container = verdict(spec, w.ctx);
    const containerWhy = container.usable ? undefined : container.why;
    for (const [key, v] of Object.entries(value)) {
      const sub = named.get(key) ?? any;
      const at = `${where}.${key}`;
      if (sub === undefined) {
        push(w, "unknown-key", at, "unknown key");
        continue;
      }
      const judged = verdict(sub, w.ctx);
      if (!judged.usable && judged.why !== containerWhy) push(w, judged.kind, at, judged.why);
      if (judged.usable && judged.deprecated !== undefined) push(w, "deprecated", at, `deprecated in ${w.ctx?.os ?? ""} ${judged.deprecated}`);
      checkValue(w, v, sub, at, [...zodPath, key]);
    }
    for (const sub of named.values()) {
      if (Object.hasOwn(value, sub.key)) continue;
      const judged = verdict(sub, w.ctx);
      if (judged.usable && judged.required) push(w, "missing", where, `missing required key ${sub.key}`);
    }
  }
}

/** The name a schema's problems start with: its payload or message type, else its title. */
export function schemaDisplayName(meta: AppleSchemaMeta): string {
  return meta.type ?? meta.title;
}

/**
 * Validates a dictionary against one generated schema and its metadata. Without a context only
 * unconditionally required keys are required; with one, see ValidationContext. Empty = valid.
 */
export function validateAgainst(value: unknown, entry: AppleSchemaEntry, ctx?: ValidationContext): Problem[] {
  const { meta } = entry;
  const name = schemaDisplayName(meta);
  const w: Walk = { ctx, issues: zodIssues(entry.schema, value), problems: [] };
  const root: AppleKeyMeta = { key: name, type: "<dictionary>", supportedOS: meta.supportedOS, subkeys: meta.keys };
  const judged = verdict(root, ctx);
  if (!judged.usable) push(w, judged.kind, name, judged.why);
  if (judged.usable && judged.deprecated !== undefined) push(w, "deprecated", name, `deprecated in ${ctx?.os ?? ""} ${judged.deprecated}`);
  checkValue(w, value, root, name, []);
  // What the Zod schema refused where the walk did not look (a required key it lacks is the
  // walk's to judge, per context, so issues without an input are left out).
  for (const issues of w.issues.values()) {
    for (const issue of issues) {
      if (!("input" in issue) || issue.input === undefined) continue;
      push(w, "type", [name, ...issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))].join(""), issue.message);
    }
  }
  return w.problems;
}

// ---------------------------------------------------------------------------------------------
// Entry points

const payloadEntries: Readonly<Record<string, AppleSchemaEntry>> = profilePayloads;
const checkInEntries: Readonly<Record<string, AppleSchemaEntry>> = checkInMessages;
const fileEntries: Readonly<Record<string, AppleSchemaEntry>> = appleSchemasByFile;
const topLevel: AppleSchemaEntry = { schema: TopLevelPayload, meta: TopLevelPayloadMeta };

/** The generated schema and metadata of a profile payload type (undefined when Apple's YAML we keep has none). */
export function appleSchemaForPayloadType(payloadType: string): AppleSchemaEntry | undefined {
  return Object.hasOwn(payloadEntries, payloadType) ? payloadEntries[payloadType] : undefined;
}

/** The generated schema and metadata of a check-in MessageType. */
export function appleSchemaForMessageType(messageType: string): AppleSchemaEntry | undefined {
  return Object.hasOwn(checkInEntries, messageType) ? checkInEntries[messageType] : undefined;
}

/** The generated schema and metadata of a YAML file, by its path under spec/apple/yaml/. */
export function appleSchemaForFile(file: string): AppleSchemaEntry | undefined {
  return Object.hasOwn(fileEntries, file) ? fileEntries[file] : undefined;
}

/**
 * One payload of a profile, by its PayloadType (its own keys and CommonPayloadKeys.yaml's): for a
 * target such as { os: "iOS", version: "18.0", enrollment: "user" }, keys forbidden under user
 * enrollment, keys the OS version lacks, required keys missing, wrong types and values.
 */
export function checkPayloadForTarget(payload: unknown, target?: ValidationContext): Problem[] {
  const type = isDictionary(payload) ? payload["PayloadType"] : undefined;
  if (typeof type !== "string") return [{ kind: "no-schema", path: "payload", message: "no PayloadType string" }];
  const entry = appleSchemaForPayloadType(type);
  if (entry === undefined) return [{ kind: "no-schema", path: type, message: "no Apple schema for this PayloadType" }];
  return validateAgainst(payload, entry, target);
}

/** A whole Configuration profile: TopLevel.yaml, then every payload of PayloadContent (problems carry payloadIndex). */
export function checkConfigurationProfile(profile: unknown, target?: ValidationContext): Problem[] {
  const problems = validateAgainst(profile, topLevel, target);
  const content = isDictionary(profile) && Array.isArray(profile["PayloadContent"]) ? profile["PayloadContent"] : [];
  content.forEach((payload: unknown, i) => {
    for (const p of checkPayloadForTarget(payload, target)) problems.push({ ...p, payloadIndex: i });
  });
  return problems;
}

/** A check-in message, by its MessageType (mdm/checkin/*.yaml). */
export function checkCheckInMessage(message: unknown, target?: ValidationContext): Problem[] {
  const type = isDictionary(message) ? message["MessageType"] : undefined;
  if (typeof type !== "string") return [{ kind: "no-schema", path: "check-in", message: "no MessageType string" }];
  const entry = appleSchemaForMessageType(type);
  if (entry === undefined) return [{ kind: "no-schema", path: type, message: "no Apple schema for this MessageType" }];
  return validateAgainst(message, entry, target);
}

/**
 * Key paths (dotted; "[]" for array items) whose `userenrollment` mode (after inheritance) is
 * `mode` on `os`, or on any OS. A payload forbidden under user enrollment yields all its keys.
 */
export function keysWithUserEnrollmentMode(meta: AppleSchemaMeta, mode: UsageMode, os?: AppleOS): string[] {
  const found: string[] = [];
  const oses = os === undefined ? appleOSes : [os];
  const visit = (keys: readonly AppleKeyMeta[], prefix: string, inArray: boolean): void => {
    for (const k of keys) {
      const at = inArray ? `${prefix}[]` : prefix === "" ? k.key : `${prefix}.${k.key}`;
      if (oses.some((o) => k.supportedOS[o]?.userenrollment === mode)) found.push(at);
      if (k.subkeys !== undefined && k.key !== wildcard) visit(k.subkeys, at, k.type === "<array>");
    }
  };
  visit(meta.keys, "", false);
  return found;
}
