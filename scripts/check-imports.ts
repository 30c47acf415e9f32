// Import-direction and cycle checker for the layered folders.
//
//   spec/ (0) ← machines/ (1) ← generated/ (2) ← runtime/ (3)     ("←": may be imported by)
//   generators/ may import spec/ and machines/ only; only scripts/ and test/ may import generators/.
//   Nothing in these five folders may import test/ or scripts/.
//   spec/ and machines/ stay portable: no node:* or Node built-ins, no hono, no URL-scheme
//   specifiers (jsr:, npm:, https:, …), no fetch call and no Deno global.
//   Relative imports form no cycle (a file importing itself counts).
//
// Usage: npx tsx scripts/check-imports.ts [root]     (root defaults to the project root)
// Prints `file:line: message` per violation and exits 1, else `imports: N files, no violations`.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

export type ViolationKind = "layer" | "package" | "global" | "cycle";

export interface Violation {
  /** Path relative to the checked root, with forward slashes. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  readonly kind: ViolationKind;
  readonly message: string;
}

export interface CheckResult {
  readonly files: number;
  readonly violations: Violation[];
}

export const LAYERS = ["spec", "machines", "generators", "generated", "runtime"] as const;
export type Layer = (typeof LAYERS)[number];

const RANK: Readonly<Record<Exclude<Layer, "generators">, number>> = { spec: 0, machines: 1, generated: 2, runtime: 3 };
/** Folders that must stay free of Node, Hono, Deno and network access. */
const PORTABLE: ReadonlySet<Layer> = new Set<Layer>(["spec", "machines"]);
/** Folders no layer may import. */
const TOOLING_ONLY = new Set(["scripts", "test"]);
const SOURCE_EXTENSIONS = [".ts", ".mts", ".cts", ".tsx"];
const BUILTINS: ReadonlySet<string> = new Set(builtinModules.filter((m) => !m.startsWith("_")));

interface ImportRef {
  readonly specifier: string;
  readonly line: number;
}

interface FileInfo {
  readonly rel: string;
  readonly layer: Layer;
  readonly imports: ImportRef[];
  readonly globals: { readonly line: number; readonly message: string }[];
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

function isLayer(name: string | undefined): name is Layer {
  return name !== undefined && (LAYERS as readonly string[]).includes(name);
}

function isSourceFile(name: string): boolean {
  return SOURCE_EXTENSIONS.some((ext) => name.endsWith(ext));
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(full));
    else if (entry.isFile() && isSourceFile(entry.name)) out.push(full);
  }
  return out;
}

function scriptKind(file: string): ts.ScriptKind {
  return file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
}

/** Every module specifier of a file (static import/export-from, import-equals, dynamic import, import types), and uses of fetch and Deno. */
function scan(file: string, text: string): Pick<FileInfo, "imports" | "globals"> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  const imports: ImportRef[] = [];
  const globals: { line: number; message: string }[] = [];
  const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const addSpecifier = (expr: ts.Node | undefined): void => {
    if (expr !== undefined && ts.isStringLiteralLike(expr)) imports.push({ specifier: expr.text, line: lineOf(expr) });
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      addSpecifier(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      addSpecifier(node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      addSpecifier(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      addSpecifier(node.argument.literal);
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require") {
      addSpecifier(node.arguments[0]);
    } else if (ts.isCallExpression(node)) {
      // fetch(…), globalThis.fetch(…), anything.fetch(…): the textual `fetch(` rule, minus comments and strings.
      const callee = ts.isParenthesizedExpression(node.expression) ? node.expression.expression : node.expression;
      if ((ts.isIdentifier(callee) && callee.text === "fetch") || (ts.isPropertyAccessExpression(callee) && callee.name.text === "fetch")) {
        globals.push({ line: lineOf(node), message: "calls fetch(): spec/ and machines/ must not do network I/O" });
      }
    } else if (ts.isPropertyAccessExpression(node) && node.name.text === "fetch" && isGlobalObject(node.expression) && !ts.isCallExpression(node.parent)) {
      globals.push({ line: lineOf(node), message: "uses the global fetch: spec/ and machines/ must not do network I/O" });
    } else if (ts.isIdentifier(node) && node.text === "Deno" && isDenoReference(node)) {
      globals.push({ line: lineOf(node), message: "uses Deno: spec/ and machines/ must not use runtime-specific APIs" });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, globals };
}

function isGlobalObject(expr: ts.Expression): boolean {
  return ts.isIdentifier(expr) && ["globalThis", "window", "self"].includes(expr.text);
}

/** `Deno.x`, `Deno["x"]`, `Deno.X` or `typeof Deno` in a type, or `globalThis.Deno`; not a property or declaration named Deno. */
function isDenoReference(id: ts.Identifier): boolean {
  const parent = id.parent;
  if ((ts.isPropertyAccessExpression(parent) || ts.isElementAccessExpression(parent)) && parent.expression === id) return true;
  if (ts.isQualifiedName(parent) && parent.left === id) return true;
  if (ts.isTypeQueryNode(parent) && parent.exprName === id) return true;
  if (ts.isPropertyAccessExpression(parent) && parent.name === id) return isGlobalObject(parent.expression);
  return false;
}

function isPathSpecifier(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === ".." || specifier.startsWith("/");
}

/** The project file a relative specifier names, or undefined when it does not exist. */
function resolveFile(fromAbs: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(fromAbs), specifier);
  const candidates = [base];
  const js = /\.(m|c)?jsx?$/.exec(base);
  if (js) {
    const stem = base.slice(0, -js[0].length);
    candidates.push(`${stem}.${js[1] ?? ""}ts`, `${stem}.tsx`);
  }
  candidates.push(...SOURCE_EXTENSIONS.map((ext) => base + ext), ...SOURCE_EXTENSIONS.map((ext) => path.join(base, `index${ext}`)));
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

function layerRule(from: Layer, to: Layer): string | undefined {
  if (from === to) return undefined;
  if (to === "generators") return "generators/ may only be imported by scripts/ and test/";
  if (from === "generators") return to === "spec" || to === "machines" ? undefined : "generators/ may import spec/ and machines/ only";
  return RANK[to] > RANK[from] ? `${from}/ may not import ${to}/ (a higher layer: spec ← machines ← generated ← runtime)` : undefined;
}

function packageRule(specifier: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(specifier);
  if (scheme) {
    return scheme[1]?.toLowerCase() === "node"
      ? `imports ${specifier}: spec/ and machines/ must not use Node built-ins`
      : `imports ${specifier}: spec/ and machines/ must not import ${scheme[1]}: specifiers`;
  }
  const first = specifier.split("/")[0] ?? specifier;
  if (BUILTINS.has(specifier) || BUILTINS.has(first)) return `imports ${specifier}: spec/ and machines/ must not use Node built-ins`;
  if (first === "hono" || first === "@hono") return `imports ${specifier}: spec/ and machines/ must not depend on hono`;
  return undefined;
}

/** Strongly connected components (Tarjan), each with its members in discovery order. */
export function stronglyConnected(nodes: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  // Iterative, so deep import chains cannot overflow the call stack.
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const succ = edges.get(frame.node) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.node);
        components.push(component.reverse());
      }
    }
  }
  return components;
}

/** A shortest cycle start → … → start inside one component (breadth-first). */
function shortestCycle(start: string, members: ReadonlySet<string>, edges: ReadonlyMap<string, readonly string[]>): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of edges.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const cycle = [node];
        while (cycle[0] !== start) cycle.unshift(prev.get(cycle[0]!)!);
        return [...cycle, start];
      }
      if (!prev.has(next)) {
        prev.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/** Checks every source file of the five layered folders under root. */
export function checkImportsDetailed(root: string): CheckResult {
  const absRoot = path.resolve(root);
  const files = new Map<string, FileInfo>();
  for (const layer of LAYERS) {
    const dir = path.join(absRoot, layer);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const abs of listSources(dir)) {
      const rel = toPosix(path.relative(absRoot, abs));
      files.set(abs, { rel, layer, ...scan(abs, readFileSync(abs, "utf8")) });
    }
  }

  const violations: Violation[] = [];
  const edges = new Map<string, string[]>();
  const edgeLine = new Map<string, number>(); // "from\0to" → line of the first import
  for (const [abs, info] of files) {
    const out: string[] = [];
    edges.set(abs, out);
    const portable = PORTABLE.has(info.layer);
    for (const { specifier, line } of info.imports) {
      const at = (kind: ViolationKind, message: string): void => {
        violations.push({ file: info.rel, line, kind, message });
      };
      if (!isPathSpecifier(specifier)) {
        const problem = portable ? packageRule(specifier) : undefined;
        if (problem) at("package", problem);
        continue;
      }
      const target = path.resolve(path.dirname(abs), specifier);
      const relTarget = toPosix(path.relative(absRoot, target));
      if (relTarget === ".." || relTarget.startsWith("../") || path.isAbsolute(relTarget)) {
        at("layer", `imports ${specifier}, which is outside the project`);
        continue;
      }
      const top = relTarget.split("/")[0];
      if (top !== undefined && TOOLING_ONLY.has(top)) {
        at("layer", `imports ${specifier}: ${info.layer}/ may not import ${top}/`);
      } else if (isLayer(top)) {
        const problem = layerRule(info.layer, top);
        if (problem) at("layer", `imports ${specifier}: ${problem}`);
      }
      const resolved = resolveFile(abs, specifier);
      if (resolved !== undefined && files.has(resolved)) {
        const key = `${abs}\0${resolved}`;
        if (!edgeLine.has(key)) {
          edgeLine.set(key, line);
          out.push(resolved);
        }
      }
    }
    if (portable) {
      for (const g of info.globals) violations.push({ file: info.rel, line: g.line, kind: "global", message: g.message });
    }
  }

  const nodes = [...files.keys()].sort();
  for (const component of stronglyConnected(nodes, edges)) {
    const first = component[0]!;
    const selfLoop = component.length === 1 && edgeLine.has(`${first}\0${first}`);
    if (component.length === 1 && !selfLoop) continue;
    const members = new Set(component);
    const start = [...component].sort((a, b) => files.get(a)!.rel.localeCompare(files.get(b)!.rel))[0]!;
    const cycle = shortestCycle(start, members, edges);
    const names = cycle.map((f) => files.get(f)!.rel);
    const others = [...members].filter((m) => !cycle.includes(m)).map((m) => files.get(m)!.rel).sort();
    const also = others.length > 0 ? `; the same cycle group also holds ${others.join(", ")}` : "";
    violations.push({
      file: names[0]!,
      line: edgeLine.get(`${cycle[0]}\0${cycle[1]}`) ?? 1,
      kind: "cycle",
      message: selfLoop ? "imports itself" : `import cycle: ${names.join(" -> ")}${also}`,
    });
  }

  violations.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.message.localeCompare(b.message));
  return { files: files.size, violations };
}

/** The violations of the project at root (empty when it follows the layering rules). */
export function checkImports(root: string): Violation[] {
  return checkImportsDetailed(root).violations;
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: ${v.message}`;
}

function main(argv: readonly string[]): number {
  const root = argv[0] ?? fileURLToPath(new URL("..", import.meta.url));
  const { files, violations } = checkImportsDetailed(root);
  for (const v of violations) console.log(formatViolation(v));
  if (violations.length > 0) {
    console.log(`imports: ${files} files, ${violations.length} violation${violations.length === 1 ? "" : "s"}`);
    return 1;
  }
  console.log(`imports: ${files} files, no violations`);
  return 0;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  process.exitCode = main(process.argv.slice(2));
}
