// What changed between two releases of Apple's device-management YAML (the files the project keeps):
// payloads and messages added or removed, keys added, removed or changed, new OS versions, and
// which rules and tests that touches. Pure: texts in, data out (spec:update does the I/O).
import { appleOSes, isSchemaFile, parseAppleSchema, type AppleKey, type AppleOS, type AppleSchema, type SupportedOS } from "../generators/apple-yaml.ts";
import { appleSchemaId, appleSchemaKind, appleSchemaName, type Kind } from "../generators/apple-schemas.generator.ts";

/** A YAML copy: path relative to Apple's repository root → text. */
export type YamlFiles = ReadonlyMap<string, string>;

export interface KeyFacts {
  /** Dotted key path; "[]" marks an array's item: "PlatformSSO.NewUserAuthenticationMethods", "Subject[][]". */
  readonly path: string;
  readonly type: string;
  readonly presence: string | undefined;
}

/** One OS fact of a supportedOS that differs: "visionOS introduced: n/a → 26.0". */
export interface SupportChange {
  readonly os: AppleOS;
  readonly field: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

export type KeyChange =
  | { readonly what: "type" | "presence" | "format" | "range" | "repetition"; readonly from: string | undefined; readonly to: string | undefined }
  | { readonly what: "rangelist"; readonly added: readonly (string | number)[]; readonly removed: readonly (string | number)[] }
  | { readonly what: "supportedOS"; readonly changes: readonly SupportChange[] };

export interface ChangedKey {
  readonly path: string;
  readonly changes: readonly KeyChange[];
}

export interface SchemaChange {
  readonly file: string;
  /** The generated schema's name (ComAppleMdmPayload, TokenUpdateCheckIn, …). */
  readonly name: string;
  /** payloadtype / requesttype / declarationtype, or an error body's code. */
  readonly id: string;
  readonly kind: Kind;
  readonly status: "added" | "removed" | "changed";
  /** The payload-level supportedOS. */
  readonly supportedOS: readonly SupportChange[];
  readonly keysAdded: readonly KeyFacts[];
  readonly keysRemoved: readonly KeyFacts[];
  readonly keysChanged: readonly ChangedKey[];
}

export interface OSVersion {
  readonly os: AppleOS;
  readonly version: string;
}

export interface SchemaChanges {
  /** Every kept file (schemas, docs, license), by how its text changed. */
  readonly files: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
  /** Schema files that differ in what they define (a change of descriptions only is not listed). */
  readonly schemas: readonly SchemaChange[];
  /** (OS, version) pairs that appear in some `introduced` of the newer files and of none of the older. */
  readonly newOSVersions: readonly OSVersion[];
}

// ---------------------------------------------------------------------------------------------
// Flattening a schema's keys

interface FlatKey {
  readonly facts: KeyFacts;
  readonly key: AppleKey;
}

function flatten(keys: readonly AppleKey[], prefix = "", inArray = false, out = new Map<string, FlatKey>()): Map<string, FlatKey> {
  for (const k of keys) {
    const path = inArray ? `${prefix}[]` : prefix === "" ? k.key : `${prefix}.${k.key}`;
    if (!out.has(path)) out.set(path, { facts: { path, type: k.type, presence: k.presence }, key: k });
    if (k.subkeys !== undefined) flatten(k.subkeys, path, k.type === "<array>", out);
  }
  return out;
}

const supportFields = ["introduced", "deprecated", "removed", "devicechannel", "userchannel", "userenrollment", "sharedipad"] as const;

function supportValue(s: SupportedOS | undefined, os: AppleOS, field: (typeof supportFields)[number]): string | undefined {
  const o = s?.[os];
  if (o === undefined) return undefined;
  if (field === "userenrollment") return o.userenrollment?.mode ?? undefined;
  if (field === "sharedipad") return o.sharedipad?.mode ?? undefined;
  const v = o[field];
  return v === undefined ? undefined : String(v);
}

function supportChanges(older: SupportedOS | undefined, newer: SupportedOS | undefined): SupportChange[] {
  const out: SupportChange[] = [];
  for (const os of appleOSes) {
    for (const field of supportFields) {
      const from = supportValue(older, os, field);
      const to = supportValue(newer, os, field);
      if (from !== to) out.push({ os, field, from, to });
    }
  }
  return out;
}

function bounds(b: AppleKey["range"]): string | undefined {
  return b === undefined ? undefined : `${b.min ?? ""}…${b.max ?? ""}`;
}

function keyChanges(a: AppleKey, b: AppleKey): KeyChange[] {
  const out: KeyChange[] = [];
  const scalar = (what: "type" | "presence" | "format" | "range" | "repetition", from: string | undefined, to: string | undefined): void => {
    if (from !== to) out.push({ what, from, to });
  };
  scalar("type", a.type, b.type);
  scalar("presence", a.presence, b.presence);
  const ra = a.rangelist ?? [];
  const rb = b.rangelist ?? [];
  const added = rb.filter((v) => !ra.includes(v));
  const removed = ra.filter((v) => !rb.includes(v));
  if (added.length > 0 || removed.length > 0) out.push({ what: "rangelist", added, removed });
  scalar("format", a.format, b.format);
  scalar("range", bounds(a.range), bounds(b.range));
  scalar("repetition", bounds(a.repetition), bounds(b.repetition));
  const support = supportChanges(a.supportedOS, b.supportedOS);
  if (support.length > 0) out.push({ what: "supportedOS", changes: support });
  return out;
}

function describeSchema(schema: AppleSchema): Pick<SchemaChange, "file" | "name" | "id" | "kind"> {
  return { file: schema.file, name: appleSchemaName(schema), id: appleSchemaId(schema), kind: appleSchemaKind(schema.file) };
}

function introducedVersions(schema: AppleSchema): OSVersion[] {
  const out: OSVersion[] = [];
  const visit = (s: SupportedOS | undefined): void => {
    for (const os of appleOSes) {
      const v = s?.[os]?.introduced;
      if (v !== undefined && v !== "n/a") out.push({ os, version: v });
    }
  };
  visit(schema.supportedOS);
  for (const { key } of flatten(schema.payloadkeys).values()) visit(key.supportedOS);
  return out;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(".").map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function byPath<T extends { readonly path: string }>(items: T[]): T[] {
  return items.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/** Compares two YAML copies (each: path → text). Pure and deterministic (sorted throughout). */
export function summarizeSchemaChanges(older: YamlFiles, newer: YamlFiles): SchemaChanges {
  const all = [...new Set([...older.keys(), ...newer.keys()])].sort();
  const files = {
    added: all.filter((f) => !older.has(f)),
    removed: all.filter((f) => !newer.has(f)),
    changed: all.filter((f) => older.has(f) && newer.has(f) && older.get(f) !== newer.get(f)),
  };
  const parse = (copy: YamlFiles, file: string): AppleSchema | undefined => {
    const text = copy.get(file);
    return text === undefined ? undefined : parseAppleSchema(file, text);
  };
  const schemas: SchemaChange[] = [];
  const olderVersions = new Set<string>();
  const newerVersions = new Map<string, OSVersion>();
  for (const file of all.filter(isSchemaFile)) {
    const a = parse(older, file);
    const b = parse(newer, file);
    for (const v of a === undefined ? [] : introducedVersions(a)) olderVersions.add(`${v.os} ${v.version}`);
    for (const v of b === undefined ? [] : introducedVersions(b)) newerVersions.set(`${v.os} ${v.version}`, v);
    if (a === undefined && b === undefined) continue;
    if (a === undefined || b === undefined) {
      const present = (a ?? b) as AppleSchema;
      const keys = present.payloadkeys.map((k) => ({ path: k.key, type: k.type, presence: k.presence }));
      schemas.push({
        ...describeSchema(present),
        status: a === undefined ? "added" : "removed",
        supportedOS: [],
        keysAdded: a === undefined ? keys : [],
        keysRemoved: b === undefined ? keys : [],
        keysChanged: [],
      });
      continue;
    }
    const ka = flatten(a.payloadkeys);
    const kb = flatten(b.payloadkeys);
    // A key added or removed with its container is listed once, at the container.
    const under = (path: string, set: readonly string[]): boolean => set.some((p) => path.startsWith(`${p}.`) || path.startsWith(`${p}[]`));
    const addedPaths = [...kb.keys()].filter((p) => !ka.has(p));
    const removedPaths = [...ka.keys()].filter((p) => !kb.has(p));
    const keysAdded = addedPaths.filter((p) => !under(p, addedPaths)).map((p) => (kb.get(p) as FlatKey).facts);
    const keysRemoved = removedPaths.filter((p) => !under(p, removedPaths)).map((p) => (ka.get(p) as FlatKey).facts);
    const keysChanged: ChangedKey[] = [];
    for (const [path, { key }] of ka) {
      const other = kb.get(path);
      if (other === undefined) continue;
      const changes = keyChanges(key, other.key);
      if (changes.length > 0) keysChanged.push({ path, changes });
    }
    const supportedOS = supportChanges(a.supportedOS, b.supportedOS);
    const typeChanged = appleSchemaId(a) !== appleSchemaId(b);
    if (keysAdded.length + keysRemoved.length + keysChanged.length + supportedOS.length === 0 && !typeChanged) continue;
    schemas.push({ ...describeSchema(b), status: "changed", supportedOS, keysAdded: byPath(keysAdded), keysRemoved: byPath(keysRemoved), keysChanged: byPath(keysChanged) });
  }
  const newOSVersions = [...newerVersions.entries()]
    .filter(([id]) => !olderVersions.has(id))
    .map(([, v]) => v)
    .sort((x, y) => compareVersions(x.version, y.version) || appleOSes.indexOf(x.os) - appleOSes.indexOf(y.os));
  return { files, schemas, newOSVersions };
}

// ---------------------------------------------------------------------------------------------
// What the changes touch in the project

export interface RuleRef {
  readonly id: string;
  readonly rule: string;
  readonly source: string;
}

export interface Touched {
  /** Rule ids, each with why: "mentions mdm/profiles/com.apple.mdm.yaml". */
  readonly rules: readonly { readonly id: string; readonly because: readonly string[] }[];
  /** Test files (paths as given), each with the names it mentions. */
  readonly tests: readonly { readonly file: string; readonly because: readonly string[] }[];
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `text` mentions `name` as a whole word (a following "." is allowed: com.apple.mdm.yaml). */
function mentions(text: string, name: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9_.-])${escape(name)}(?![A-Za-z0-9_-])`).test(text);
}

/** Key names specific enough to search for: at least two capitals (AssignedManagedAppleID, ServerURL; not Version). */
function distinctiveKey(name: string): boolean {
  return (name.match(/[A-Z]/g) ?? []).length >= 2;
}

function leafNames(change: SchemaChange): string[] {
  const paths = [...change.keysAdded.map((k) => k.path), ...change.keysRemoved.map((k) => k.path), ...change.keysChanged.map((k) => k.path)];
  const names = new Set<string>();
  for (const p of paths) for (const part of p.split(/\.|\[\]/)) if (part !== "" && distinctiveKey(part)) names.add(part);
  return [...names].sort();
}

/**
 * Rules whose source or text names a changed file, schema type or (distinctive) key, and test
 * files that name a changed file, schema type or generated schema.
 */
export function findTouched(changes: SchemaChanges, rules: readonly RuleRef[], testFiles: ReadonlyMap<string, string>): Touched {
  const touchedRules: { id: string; because: string[] }[] = [];
  for (const rule of rules) {
    const because = new Set<string>();
    const text = `${rule.source}\n${rule.rule}`;
    for (const c of changes.schemas) {
      for (const name of [c.file, c.id]) if (mentions(text, name)) because.add(name);
      if (c.status === "changed") for (const key of leafNames(c)) if (mentions(text, key)) because.add(`${c.id} ${key}`);
    }
    if (because.size > 0) touchedRules.push({ id: rule.id, because: [...because].sort() });
  }
  const tests: { file: string; because: string[] }[] = [];
  for (const [file, text] of [...testFiles].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const because = new Set<string>();
    for (const c of changes.schemas) for (const name of [c.file, c.id, c.name]) if (mentions(text, name)) because.add(name);
    if (because.size > 0) tests.push({ file, because: [...because].sort() });
  }
  return { rules: touchedRules, tests };
}

// ---------------------------------------------------------------------------------------------
// The human summary

function show(v: string | undefined): string {
  return v ?? "(none)";
}

function keyLine(k: KeyFacts): string {
  return `${k.path} (${k.type}${k.presence === undefined ? "" : `, ${k.presence}`})`;
}

function supportLine(c: SupportChange): string {
  return `${c.os} ${c.field}: ${show(c.from)} → ${show(c.to)}`;
}

function changeLine(c: KeyChange): string {
  switch (c.what) {
    case "rangelist":
      return [
        c.added.length > 0 ? `rangelist + ${c.added.map((v) => JSON.stringify(v)).join(", ")}` : "",
        c.removed.length > 0 ? `rangelist − ${c.removed.map((v) => JSON.stringify(v)).join(", ")}` : "",
      ]
        .filter((s) => s !== "")
        .join("; ");
    case "supportedOS":
      return c.changes.map(supportLine).join("; ");
    default:
      return `${c.what}: ${show(c.from)} → ${show(c.to)}`;
  }
}

/** The summary spec:update prints: readable, stable, one fact per line. */
export function formatSummary(changes: SchemaChanges, touched?: Touched): string {
  const lines: string[] = [];
  const { files } = changes;
  lines.push(`Apple schema update: ${files.added.length} file(s) added, ${files.removed.length} removed, ${files.changed.length} changed.`);
  const list = (title: string, items: readonly string[]): void => {
    if (items.length === 0) return;
    lines.push("", `${title}:`, ...items.map((i) => `  ${i}`));
  };
  const entry = (c: SchemaChange): string => `${c.name} (${c.id}, ${c.file})`;
  list("Payloads and messages added", changes.schemas.filter((c) => c.status === "added").map(entry));
  list("Payloads and messages removed", changes.schemas.filter((c) => c.status === "removed").map(entry));
  for (const c of changes.schemas.filter((s) => s.status === "changed")) {
    lines.push("", `${entry(c)}:`);
    for (const s of c.supportedOS) lines.push(`  supportedOS ${supportLine(s)}`);
    for (const k of c.keysAdded) lines.push(`  + ${keyLine(k)}`);
    for (const k of c.keysRemoved) lines.push(`  − ${keyLine(k)}`);
    for (const k of c.keysChanged) lines.push(`  ~ ${k.path}: ${k.changes.map(changeLine).join("; ")}`);
  }
  const textOnly = files.changed.filter((f) => !changes.schemas.some((c) => c.file === f));
  list("Changed in text only (descriptions, notes, docs)", textOnly);
  list(
    "New OS versions in `introduced`",
    [...new Set(changes.newOSVersions.map((v) => v.version))].map((version) => `${version} (${changes.newOSVersions.filter((v) => v.version === version).map((v) => v.os).join(", ")})`),
  );
  if (changes.schemas.length === 0 && files.added.length + files.removed.length + files.changed.length === 0) {
    lines.push("", "No change.");
  } else if (touched !== undefined) {
    lines.push("", "Rules touched:", ...(touched.rules.length === 0 ? ["  (none)"] : touched.rules.map((r) => `  ${r.id}: mentions ${r.because.join(", ")}`)));
    lines.push("", "Tests touched:", ...(touched.tests.length === 0 ? ["  (none)"] : touched.tests.map((t) => `  ${t.file}: mentions ${t.because.join(", ")}`)));
  }
  return `${lines.join("\n")}\n`;
}
