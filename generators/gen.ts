// Runs every generator. `npm run gen` writes; `npm run gen:check` fails on any difference, and on
// any file in generated/ — or any *.generated.* file in spec/apple/ — that no generator produces
// (an orphan).
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { generateServer, serverFile } from "./server.generator.ts";
import { generateClient, clientFile } from "./client.generator.ts";
import { generateDiagrams, diagramsFile, readmeServerDiagram } from "./diagram.generator.ts";
import { appleSchemaOutputPaths, appleSchemasDir, generateAppleSchemaOutput } from "./apple-schemas.generator.ts";
import { generatedDir } from "./common.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

export interface Output {
  readonly path: string;
  readonly generate: () => string;
}

export const outputs: readonly Output[] = [
  { path: serverFile, generate: generateServer },
  { path: clientFile, generate: generateClient },
  { path: diagramsFile, generate: generateDiagrams },
  ...appleSchemaOutputPaths.map((path) => ({ path, generate: () => generateAppleSchemaOutput(path) })),
];

/** Folders the orphan check covers, and which of their files only a generator may write. */
export const generatedFolders: readonly { readonly dir: string; readonly generatedOnly: (name: string) => boolean }[] = [
  { dir: generatedDir, generatedOnly: () => true },
  // spec/apple/ also holds hand-written code (meta.ts) and Apple's YAML copy (yaml/).
  { dir: appleSchemasDir, generatedOnly: (name) => /\.generated\.[a-z]+$/.test(name) },
];

/** A region of a hand-written file that a generator keeps up to date, between two marker lines. */
export interface Region {
  readonly path: string;
  readonly begin: string;
  readonly end: string;
  readonly generate: () => string;
}

export const regions: readonly Region[] = [
  {
    path: "README.md",
    begin: "<!-- BEGIN generated: server machine (npm run gen) -->",
    end: "<!-- END generated: server machine -->",
    generate: readmeServerDiagram,
  },
];

/** The file's text with the region replaced, or null when its markers are missing. */
export function withRegion(text: string, region: Region): string | null {
  const start = text.indexOf(region.begin);
  const stop = text.indexOf(region.end);
  if (start < 0 || stop < start) return null;
  return `${text.slice(0, start + region.begin.length)}\n${region.generate()}${text.slice(stop)}`;
}

/** Differences between what the generators produce and what is on disk, as readable lines. */
export function drift(base: string): string[] {
  const problems: string[] = [];
  for (const region of regions) {
    const file = join(base, region.path);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    const want = withRegion(text, region);
    if (want === null) problems.push(`${region.path}: the markers of a generated region are missing`);
    else if (want !== text) problems.push(`${region.path}: generated region out of date (run npm run gen)`);
  }
  const expected = new Set(outputs.map((o) => o.path));
  for (const output of outputs) {
    const file = join(base, output.path);
    const want = output.generate();
    if (!existsSync(file)) problems.push(`${output.path}: missing (run npm run gen)`);
    else if (readFileSync(file, "utf8") !== want) problems.push(`${output.path}: out of date (run npm run gen)`);
  }
  for (const { dir, generatedOnly } of generatedFolders) {
    if (!existsSync(join(base, dir))) continue;
    for (const name of readdirSync(join(base, dir)).sort()) {
      const path = `${dir}/${name}`;
      if (generatedOnly(name) && !expected.has(path)) problems.push(`${path}: orphan — no generator writes it; delete it`);
    }
  }
  return problems;
}

function main(): void {
  if (process.argv.includes("--check")) {
    const problems = drift(root);
    for (const p of problems) console.error(`gen:check: ${p}`);
    if (problems.length > 0) process.exit(1);
    console.log(`gen:check: ${outputs.length} generated files up to date, no orphans`);
    return;
  }
  for (const output of outputs) {
    mkdirSync(dirname(join(root, output.path)), { recursive: true });
    writeFileSync(join(root, output.path), output.generate());
    console.log(`wrote ${relative(process.cwd(), join(root, output.path))}`);
  }
  for (const region of regions) {
    const file = join(root, region.path);
    const updated = withRegion(readFileSync(file, "utf8"), region);
    if (updated === null) throw new Error(`${region.path}: the markers of a generated region are missing`);
    writeFileSync(file, updated);
    console.log(`updated ${region.path} (${region.begin})`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
