// npm run spec:update -- --from DIR [--commit SHA] [--dry-run] [--project DIR]
//
// Takes a newer release of Apple's device-management YAML: replaces the project's copy
// (spec/apple/yaml/, only the files the project keeps, at the same relative paths) from DIR, a
// checkout of https://github.com/apple/device-management, regenerates spec/apple/*.generated.ts
// in process, and prints what changed — payloads and messages added or removed, keys added,
// removed or changed, new OS versions — and which rules and tests that touches.
//
//   --from DIR      the checkout to take the files from (required)
//   --commit SHA    the commit DIR is at, for spec/apple/yaml/SOURCE.md (default: asked of git, read-only)
//   --dry-run       print the summary only; write nothing
//   --project DIR   the project to update (default: this one)
//
// Then: npm run gen:check, npx tsc -p ., npm test (see the README, "When Apple updates its schemas").
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { appleYamlDir, readKeptAppleFiles } from "../generators/apple-yaml.ts";
import { generateAppleSchemaFiles } from "../generators/apple-schemas.generator.ts";
import { rules } from "../spec/rules.ts";
import { findTouched, formatSummary, summarizeSchemaChanges, type SchemaChanges, type Touched } from "./schema-changes.ts";

export { summarizeSchemaChanges, formatSummary, findTouched } from "./schema-changes.ts";

const thisProject = fileURLToPath(new URL("..", import.meta.url));

export interface SpecUpdateOptions {
  readonly from: string;
  readonly project?: string;
  readonly dryRun?: boolean;
  readonly commit?: string;
}

export interface SpecUpdateResult {
  readonly changes: SchemaChanges;
  readonly touched: Touched;
  readonly summary: string;
  /** Files written or deleted, relative to the project (empty on a dry run). */
  readonly written: readonly string[];
  readonly deleted: readonly string[];
}

/** Every *.ts under test/ (fixtures aside), path relative to the project → text. */
function testFiles(project: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) {
        if (name !== "fixtures" && name !== "node_modules") walk(full);
      } else if (name.endsWith(".ts")) out.set(relative(project, full).split("\\").join("/"), readFileSync(full, "utf8"));
    }
  };
  walk(join(project, "test"));
  return out;
}

function commitOf(dir: string): string | undefined {
  try {
    return execFileSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function sourceNote(commit: string | undefined, files: readonly string[]): string {
  return `# Apple's device-management schemas: the project's copy

These files are copies, unchanged, of files from Apple's public repository
[\`apple/device-management\`](https://github.com/apple/device-management) (MIT License, see
\`LICENSE.txt\`), kept at the same relative paths. \`npm run gen\` generates
\`spec/apple/*.generated.ts\` from them (\`generators/apple-schemas.generator.ts\`); the build reads
nothing else.

All files are from commit ${commit === undefined ? "(unknown: rerun spec:update with --commit)" : `\`${commit}\``}, taken by \`npm run spec:update\`:
${files.map((f) => `\`${f}\``).join(", ")}.

Which files are kept is decided by \`keptAppleFiles\` in \`generators/apple-yaml.ts\`. Do not edit
these files: to take a newer release, run
\`npm run spec:update -- --from <checkout of apple/device-management> [--commit <sha>]\` (see the
README, "When Apple updates its schemas").
`;
}

/** The whole update: read, compare, generate, and (unless dryRun) write. Throws on unusable input, before writing anything. */
export function runSpecUpdate(options: SpecUpdateOptions): SpecUpdateResult {
  const project = resolve(options.project ?? thisProject);
  const from = resolve(options.from);
  const copyDir = join(project, appleYamlDir);
  if (from === copyDir) throw new Error("--from is the project's own copy");
  const older = readKeptAppleFiles(copyDir);
  const newer = readKeptAppleFiles(from);
  for (const needed of ["mdm/profiles/TopLevel.yaml", "mdm/profiles/CommonPayloadKeys.yaml"]) {
    if (!newer.has(needed)) throw new Error(`${from} has no ${needed}: is it a checkout of apple/device-management?`);
  }
  // Generating first checks that every new file follows docs/schema.md, before anything is written.
  const generated = generateAppleSchemaFiles(newer);
  const changes = summarizeSchemaChanges(older, newer);
  const touched = findTouched(changes, rules, testFiles(project));
  const summary = formatSummary(changes, touched);
  const written: string[] = [];
  const deleted: string[] = [];
  if (options.dryRun !== true) {
    for (const file of older.keys()) {
      if (newer.has(file)) continue;
      rmSync(join(copyDir, file));
      deleted.push(`${appleYamlDir}/${file}`);
    }
    for (const [file, text] of newer) {
      if (older.get(file) === text) continue;
      mkdirSync(dirname(join(copyDir, file)), { recursive: true });
      writeFileSync(join(copyDir, file), text);
      written.push(`${appleYamlDir}/${file}`);
    }
    writeFileSync(join(copyDir, "SOURCE.md"), sourceNote(options.commit ?? commitOf(from), [...newer.keys()]));
    written.push(`${appleYamlDir}/SOURCE.md`);
    for (const [path, text] of generated) {
      const target = join(project, path);
      if (existsSync(target) && readFileSync(target, "utf8") === text) continue;
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, text);
      written.push(path);
    }
  }
  return { changes, touched, summary, written, deleted };
}

function usage(): never {
  console.error("usage: npm run spec:update -- --from DIR [--commit SHA] [--dry-run] [--project DIR]");
  process.exit(2);
}

function main(argv: readonly string[]): void {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) usage();
    return v;
  };
  const known = new Set(["--from", "--commit", "--project", "--dry-run"]);
  for (const arg of argv) if (arg.startsWith("--") && !known.has(arg)) usage();
  const from = value("--from");
  if (from === undefined) usage();
  const commit = value("--commit");
  const project = value("--project");
  const dryRun = argv.includes("--dry-run");
  const result = runSpecUpdate({ from, dryRun, ...(commit === undefined ? {} : { commit }), ...(project === undefined ? {} : { project }) });
  process.stdout.write(result.summary);
  if (dryRun) {
    console.log("\n(dry run: nothing written)");
    return;
  }
  console.log("");
  for (const f of result.deleted) console.log(`deleted ${f}`);
  for (const f of result.written) console.log(`wrote ${f}`);
  console.log("\nNext: npm run gen:check, npx tsc -p ., npm test — then review the rules and tests listed above.");
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(`spec:update: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
