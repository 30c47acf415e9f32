// Generates Zod 4 schemas and their metadata from the project's copy of Apple's device-management
// YAML (spec/apple/yaml/, see its SOURCE.md) into spec/apple/*.generated.ts.
//
// Why spec/apple/ and not generated/: spec/ builds on these schemas, and spec/ may not import
// generated/. They are still generated files: byte-stable, headed by the do-not-edit line, covered
// by `npm run gen:check` (drift and orphans).
//
// NAMING CONVENTION (stable: a schema keeps its name across Apple releases)
//   1. The identifier is Apple's own type for the file: `payloadtype` (mdm/profiles, other/),
//      `requesttype` (mdm/checkin), `declarationtype` (declarative/declarations). Error bodies have
//      none, so theirs is the file name without `.yaml`.
//   2. PascalCase: split at ".", "-", "_" and spaces, upper-case each part's first letter, keep the
//      rest: com.apple.mdm → ComAppleMdm, well-known.failed → WellKnownFailed, ESSO → ESSO.
//   3. A suffix names the folder: mdm/profiles → Payload, mdm/checkin → CheckIn, mdm/errors →
//      Error, other/ → Document, declarative/declarations → Declaration.
//   4. `<Name>` is the Zod schema (and its z.infer type), `<Name>Meta` its metadata.
//   Examples: ComAppleMdmPayload, ComAppleSecurityScepPayload, TopLevelPayload, TokenUpdateCheckIn,
//   WellKnownFailedError, ESSODocument, ComAppleConfigurationLegacyDeclaration.
//
// WHAT THE SCHEMAS SAY
//   - Apple's key names verbatim (quoted where they are not identifiers: "Key Type").
//   - Types: <string> z.string(), <integer> z.int(), <real> z.number(), <boolean> z.boolean(),
//     <date> z.date(), <data> z.instanceof(Uint8Array) (the plist form; a JSON document carries
//     base64 text instead, which spec/ states where it matters), <any> z.unknown(), <array> z.array
//     of its single item (the item's `repetition` bounds the length), <dictionary> with subkeys a
//     z.looseObject (unknown keys pass: Apple adds keys over releases), with only Apple's "ANY"
//     wildcard a z.record, without subkeys a record of unknowns.
//   - `rangelist` → z.literal (one value, or several numbers) or z.enum (several strings); `range`
//     → min/max. `format` (a regular expression) stays in the metadata only: spec/apple-validation.ts
//     applies it; the project's own readers must not refuse on Apple's documentation patterns.
//   - A profile payload's schema is its own keys merged into CommonPayloadKeys.yaml's, with
//     PayloadType the payload's literal, listed first.
//   - `presence: required` → required, EXCEPT where the key's own supportedOS makes the presence
//     depend on the OS, the channel or the enrollment type (n/a on some OS, a userenrollment mode
//     other than allowed, device- or user-channel only, shared iPad only, or introduced later than
//     its container: presenceIsConditional in generators/apple-yaml.ts). Such keys are generated
//     optional, marked `conditional: true` in the metadata, which keeps `presence: "required"`;
//     spec/apple-validation.ts requires them for a given target. (TokenUpdate marks both UDID and
//     EnrollmentID required: only one of them is sent, depending on the enrollment type.)
//   - `<Name>Meta` (plain data, `as const`): every key with type, presence, rangelist, range,
//     repetition, format and its supportedOS after inheritance (introduced / deprecated / removed,
//     device and user channel, userenrollment and sharedipad modes per OS), recursively.
//   - Keys keep Apple's order; registries are sorted; nothing depends on time or the machine.
import { readKeptAppleFiles, appleYamlDir, appleOSes, isSchemaFile, parseAppleSchema, mergeSupport, presenceIsConditional, appleTypeOf } from "./apple-yaml.ts";
import type { AppleKey, AppleSchema, Support } from "./apple-yaml.ts";
import { format, header } from "./format.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const generatorName = "generators/apple-schemas.generator.ts";
export const appleSchemasDir = "spec/apple";

export type Kind = "profile" | "check-in" | "error" | "other" | "declaration";

interface Group {
  readonly prefix: string;
  readonly kind: Kind;
  readonly suffix: string;
  readonly output: string;
  /** The registry export: identifier → { schema, meta }. */
  readonly registry: string;
  readonly registryDoc: string;
}

const groups: readonly Group[] = [
  { prefix: "mdm/profiles/", kind: "profile", suffix: "Payload", output: "profiles.generated.ts", registry: "profilePayloads", registryDoc: "Profile payloads by PayloadType (TopLevel and CommonPayloadKeys are not payload types: see TopLevelPayload, CommonPayloadKeysPayload)." },
  { prefix: "mdm/checkin/", kind: "check-in", suffix: "CheckIn", output: "check-in.generated.ts", registry: "checkInMessages", registryDoc: "Check-in messages by MessageType." },
  { prefix: "mdm/errors/", kind: "error", suffix: "Error", output: "errors.generated.ts", registry: "errorBodies", registryDoc: "Error bodies (403) by their code." },
  { prefix: "other/", kind: "other", suffix: "Document", output: "other.generated.ts", registry: "otherDocuments", registryDoc: "Other documents (other/*.yaml) by payloadtype." },
  { prefix: "declarative/declarations/", kind: "declaration", suffix: "Declaration", output: "declarations.generated.ts", registry: "declarationPayloads", registryDoc: "Declaration payloads (the Payload dictionary of a declaration) by declaration Type." },
];

const indexOutput = "index.generated.ts";
const commonFile = "mdm/profiles/CommonPayloadKeys.yaml";
const topLevelFile = "mdm/profiles/TopLevel.yaml";
const wildcard = "ANY";

/** Every file this generator writes, relative to the project root. */
export const appleSchemaOutputPaths: readonly string[] = [...groups.map((g) => `${appleSchemasDir}/${g.output}`), `${appleSchemasDir}/${indexOutput}`];

// ---------------------------------------------------------------------------------------------
// Resolving keys: inheritance, requiredness

interface Node {
  readonly key: string;
  readonly type: AppleKey["type"];
  readonly presence: "required" | "optional" | undefined;
  readonly conditional: boolean;
  readonly rangelist: readonly (string | number)[] | undefined;
  readonly range: AppleKey["range"];
  readonly repetition: AppleKey["repetition"];
  readonly format: string | undefined;
  readonly support: Support;
  readonly subkeys: readonly Node[] | undefined;
}

function resolve(k: AppleKey, inherited: Support): Node {
  const support = mergeSupport(inherited, k.supportedOS);
  return {
    key: k.key,
    type: k.type,
    presence: k.presence,
    conditional: k.presence === "required" && presenceIsConditional(k.supportedOS, inherited),
    rangelist: k.rangelist,
    range: k.range,
    repetition: k.repetition,
    format: k.format,
    support,
    subkeys: k.subkeys?.map((s) => resolve(s, support)),
  };
}

interface Resolved {
  readonly name: string;
  readonly group: Group;
  readonly schema: AppleSchema;
  /** The registry key (Apple's type, or an error body's code). */
  readonly id: string;
  readonly includes: readonly string[];
  readonly support: Support;
  readonly keys: readonly Node[];
}

function pascal(identifier: string): string {
  return identifier
    .split(/[.\-_\s]+/)
    .filter((p) => p.length > 0)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join("");
}

function groupOf(file: string): Group {
  const group = groups.find((g) => file.startsWith(g.prefix));
  if (group === undefined) throw new Error(`${file}: no output for this folder (add it to groups in ${generatorName})`);
  return group;
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf("/") + 1).replace(/\.yaml$/, "");
}

/** The generated export name of a schema file (see the naming convention above). */
export function appleSchemaName(schema: AppleSchema): string {
  const group = groupOf(schema.file);
  const identifier = group.kind === "error" ? baseName(schema.file) : appleTypeOf(schema);
  if (identifier === undefined) throw new Error(`${schema.file}: no ${group.kind === "check-in" ? "requesttype" : group.kind === "declaration" ? "declarationtype" : "payloadtype"}`);
  return `${pascal(identifier)}${group.suffix}`;
}

/** What a schema is known by on the wire: its payloadtype, requesttype or declarationtype, or an error body's code. */
export function appleSchemaId(schema: AppleSchema): string {
  const code = groupOf(schema.file).kind === "error" ? schema.payloadkeys.find((k) => k.key === "code")?.rangelist : undefined;
  if (code?.length === 1 && typeof code[0] === "string") return code[0];
  return appleTypeOf(schema) ?? baseName(schema.file);
}

/** The kind of schema a file holds, by its folder. */
export function appleSchemaKind(file: string): Kind {
  return groupOf(file).kind;
}

function resolveSchema(schema: AppleSchema, common: AppleSchema | undefined): Resolved {
  const group = groupOf(schema.file);
  const type = appleTypeOf(schema);
  const support = mergeSupport({}, schema.supportedOS);
  let keys: AppleKey[] = [...schema.payloadkeys];
  const includes: string[] = [];
  if (group.kind === "profile") {
    // A payload: CommonPayloadKeys.yaml's keys, the payload's own replacing them in place, then its
    // other keys; PayloadType is the payload's literal. TopLevel and CommonPayloadKeys stand alone.
    if (schema.file !== topLevelFile && schema.file !== commonFile) {
      if (common === undefined) throw new Error(`${commonFile} is missing: profile payloads are merged with it`);
      includes.push(commonFile);
      const own = new Map(keys.map((k) => [k.key, k]));
      keys = [...common.payloadkeys.map((k) => own.get(k.key) ?? k), ...keys.filter((k) => !common.payloadkeys.some((c) => c.key === k.key))];
      keys = keys.map((k) => (k.key === "PayloadType" && type !== undefined ? { ...k, rangelist: [type] } : k));
    }
    keys = [...keys.filter((k) => k.key === "PayloadType"), ...keys.filter((k) => k.key !== "PayloadType")];
  }
  return { name: appleSchemaName(schema), group, schema, id: appleSchemaId(schema), includes, support, keys: keys.map((k) => resolve(k, support)) };
}

// ---------------------------------------------------------------------------------------------
// Emitting Zod

function prop(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key);
}

function literalList(values: readonly (string | number)[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(", ")}]`;
}

function bounds(b: AppleKey["range"], integerOnly: boolean): string {
  if (b === undefined) return "";
  const ok = (n: number | undefined): n is number => n !== undefined && (!integerOnly || Number.isInteger(n));
  return `${ok(b.min) ? `.min(${b.min})` : ""}${ok(b.max) ? `.max(${b.max})` : ""}`;
}

function zodOf(node: Node): string {
  const scalarList = node.rangelist !== undefined && node.rangelist.length > 0 && node.type !== "<array>" && node.type !== "<dictionary>";
  if (scalarList && node.rangelist !== undefined) {
    const values = node.rangelist;
    if (values.length === 1) return `z.literal(${JSON.stringify(values[0])})`;
    return values.every((v) => typeof v === "string") ? `z.enum(${literalList(values)})` : `z.literal(${literalList(values)})`;
  }
  switch (node.type) {
    case "<string>":
      return "z.string()";
    case "<integer>":
      return `z.int()${bounds(node.range, true)}`;
    case "<real>":
      return `z.number()${bounds(node.range, false)}`;
    case "<boolean>":
      return "z.boolean()";
    case "<date>":
      return "z.date()";
    case "<data>":
      return "z.instanceof(Uint8Array)";
    case "<any>":
      return "z.unknown()";
    case "<array>": {
      const item = node.subkeys?.[0];
      if (item === undefined) return "z.array(z.unknown())";
      return `z.array(${zodOf(item)})${bounds(item.repetition, true)}`;
    }
    case "<dictionary>": {
      const subkeys = node.subkeys ?? [];
      const named = subkeys.filter((k) => k.key !== wildcard);
      const any = subkeys.find((k) => k.key === wildcard);
      if (named.length === 0) return `z.record(z.string(), ${any === undefined ? "z.unknown()" : zodOf(any)})`;
      const shape = objectShape(named);
      return any === undefined ? `z.looseObject(${shape})` : `z.object(${shape}).catchall(${zodOf(any)})`;
    }
  }
}

function isRequired(node: Node): boolean {
  return node.presence === "required" && !node.conditional;
}

function objectShape(keys: readonly Node[]): string {
  const lines = keys.map((k) => {
    const note = k.conditional ? "/** Apple: required, but only on some OS, channel or enrollment type (see the metadata): optional here. */\n" : "";
    return `${note}${prop(k.key)}: ${zodOf(k)}${isRequired(k) ? "" : ".optional()"},`;
  });
  return `{\n${lines.join("\n")}\n}`;
}

// ---------------------------------------------------------------------------------------------
// Emitting metadata

function literal(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(literal).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return entries.length === 0 ? "{}" : `{ ${entries.map(([k, v]) => `${prop(k)}: ${literal(v)}`).join(", ")} }`;
  }
  throw new Error(`cannot write ${String(value)} as metadata`);
}

function supportMeta(support: Support): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const os of appleOSes) {
    const s = support[os];
    if (s === undefined) continue;
    out[os] = {
      introduced: s.introduced,
      deprecated: s.deprecated,
      removed: s.removed,
      devicechannel: s.devicechannel,
      userchannel: s.userchannel,
      userenrollment: s.userenrollment?.mode ?? undefined,
      sharedipad: s.sharedipad?.mode ?? undefined,
    };
  }
  return out;
}

function keyMeta(node: Node): string {
  const flat = {
    key: node.key,
    type: node.type,
    presence: node.presence,
    conditional: node.conditional ? true : undefined,
    rangelist: node.rangelist,
    range: node.range,
    repetition: node.repetition,
    format: node.format,
    supportedOS: supportMeta(node.support),
  };
  const head = literal(flat).slice(0, -2);
  if (node.subkeys === undefined) return `${head} }`;
  return `${head}, subkeys: [\n${node.subkeys.map((s) => `${keyMeta(s)},`).join("\n")}\n] }`;
}

// ---------------------------------------------------------------------------------------------
// Files

function emitSchema(r: Resolved): string {
  const from = [r.schema.file, ...r.includes].map((f) => `spec/apple/yaml/${f}`).join(" + ");
  const typeNote = appleTypeOf(r.schema) === undefined ? "" : ` (${r.schema.payloadtype !== undefined ? "payloadtype" : r.schema.requesttype !== undefined ? "requesttype" : "declarationtype"} ${appleTypeOf(r.schema)})`;
  return [
    `/** ${r.schema.title}${typeNote}: ${from}. */`,
    `export const ${r.name} = z.looseObject(${objectShape(r.keys)});`,
    `export type ${r.name} = z.infer<typeof ${r.name}>;`,
    "",
    `/** Apple's facts about ${r.name}: keys, presence, rangelists and supportedOS after inheritance. */`,
    `export const ${r.name}Meta = {`,
    `name: ${JSON.stringify(r.name)},`,
    `file: ${JSON.stringify(r.schema.file)},`,
    `includes: ${literal(r.includes)},`,
    `kind: ${JSON.stringify(r.group.kind)},`,
    `title: ${JSON.stringify(r.schema.title)},`,
    `type: ${appleTypeOf(r.schema) === undefined ? "null" : JSON.stringify(appleTypeOf(r.schema))},`,
    `supportedOS: ${literal(supportMeta(r.support))},`,
    `keys: [\n${r.keys.map((k) => `${keyMeta(k)},`).join("\n")}\n],`,
    `} as const satisfies AppleSchemaMeta;`,
  ].join("\n");
}

function sourcesLine(files: readonly string[]): string {
  return `// From the project's copy of Apple's apple/device-management YAML (MIT; spec/apple/yaml/SOURCE.md): ${files.join(", ")}.\n`;
}

function emitGroup(group: Group, members: readonly Resolved[]): string {
  const registered = members
    .filter((r) => !(r.group.kind === "profile" && (r.schema.file === topLevelFile || r.schema.file === commonFile)))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const registry = [
    `/** ${group.registryDoc} */`,
    `export const ${group.registry} = {`,
    ...registered.map((r) => `${JSON.stringify(r.id)}: { schema: ${r.name}, meta: ${r.name}Meta },`),
    `} as const satisfies Record<string, AppleSchemaEntry>;`,
  ].join("\n");
  const text = [
    header(generatorName) + sourcesLine(members.map((m) => m.schema.file)),
    `import { z } from "zod";`,
    `import type { AppleSchemaEntry, AppleSchemaMeta } from "./meta.ts";`,
    "",
    members.map(emitSchema).join("\n\n"),
    "",
    registry,
    "",
  ].join("\n");
  return format(group.output, text);
}

function emitIndex(all: readonly Resolved[]): string {
  const byFile = [...all].sort((a, b) => (a.schema.file < b.schema.file ? -1 : 1));
  const text = [
    header(generatorName) + "// Every generated Apple schema, and a registry of them by YAML file.\n",
    `import type { AppleSchemaEntry } from "./meta.ts";`,
    ...groups
      .filter((g) => all.some((r) => r.group === g))
      .map((g) => `import { ${byFile.filter((r) => r.group === g).map((r) => `${r.name}, ${r.name}Meta`).join(", ")} } from "./${g.output}";`),
    "",
    ...groups.map((g) => `export * from "./${g.output}";`),
    "",
    "/** Every generated schema with its metadata, by its file in spec/apple/yaml/. */",
    "export const appleSchemasByFile = {",
    ...byFile.map((r) => `${JSON.stringify(r.schema.file)}: { schema: ${r.name}, meta: ${r.name}Meta },`),
    "} as const satisfies Record<string, AppleSchemaEntry>;",
    "",
  ].join("\n");
  return format(indexOutput, text);
}

/**
 * Pure: the generated files (path relative to the project root → text) for a set of Apple's files
 * (path relative to Apple's repository root → text), e.g. readKeptAppleFiles("spec/apple/yaml").
 */
export function generateAppleSchemaFiles(yaml: ReadonlyMap<string, string>): Map<string, string> {
  const schemas = [...yaml.keys()].filter(isSchemaFile).sort().map((file) => parseAppleSchema(file, yaml.get(file) ?? ""));
  const common = schemas.find((s) => s.file === commonFile);
  const resolved = schemas.map((s) => resolveSchema(s, common));
  const names = new Map<string, string>();
  for (const r of resolved) {
    const clash = names.get(r.name);
    if (clash !== undefined) throw new Error(`${r.schema.file} and ${clash} would both be named ${r.name}`);
    names.set(r.name, r.schema.file);
  }
  const out = new Map<string, string>();
  for (const group of groups) out.set(`${appleSchemasDir}/${group.output}`, emitGroup(group, resolved.filter((r) => r.group === group)));
  out.set(`${appleSchemasDir}/${indexOutput}`, emitIndex(resolved));
  return out;
}

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const cache = new Map<string, Map<string, string>>();

/** The generated files for the YAML copy of a project (default: this one). */
export function generateAppleSchemasFor(root: string = projectRoot): Map<string, string> {
  const yaml = readKeptAppleFiles(join(root, appleYamlDir));
  const key = [...yaml].map(([file, text]) => `${file}\0${text}`).join("\0\0");
  let files = cache.get(key);
  if (files === undefined) {
    files = generateAppleSchemaFiles(yaml);
    cache.clear();
    cache.set(key, files);
  }
  return files;
}

/** One output of this generator (for gen.ts's outputs). */
export function generateAppleSchemaOutput(path: string): string {
  const text = generateAppleSchemasFor().get(path);
  if (text === undefined) throw new Error(`${path}: the Apple YAML copy produced no such file`);
  return text;
}
