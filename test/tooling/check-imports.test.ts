import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { checkImports, checkImportsDetailed, formatViolation, stronglyConnected, type Violation } from "../../scripts/check-imports.ts";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
const trees: string[] = [];

/** Writes files (path → source) into a fresh temporary tree and returns its root. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "check-imports-"));
  trees.push(root);
  for (const [rel, text] of Object.entries(files)) {
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, text);
  }
  return root;
}

afterEach(() => {
  for (const root of trees.splice(0)) rmSync(root, { recursive: true, force: true });
});

const lines = (violations: readonly Violation[]): string[] => violations.map(formatViolation);

/** A tree that follows every rule. */
const clean: Record<string, string> = {
  "spec/result.ts": `export type Result = { ok: true };\nexport const ok = (): Result => ({ ok: true });\n`,
  "spec/rules.ts": `import { ok } from "./result.ts";\nimport { z } from "zod";\n// fetch("https://example.com") in a comment is fine; so is Deno.env here.\nexport const s = "fetch( and Deno.exit in a string are fine";\nexport const r = ok();\nexport const schema = z.string();\n`,
  "machines/m.ts": `import { r } from "../spec/rules.ts";\nimport type { Result } from "../spec/result.ts";\nimport { createMachine } from "xstate";\nexport const m = createMachine({});\nexport const x: Result = r;\nexport const api = { fetch: 1 };\n`,
  "generated/server.generated.ts": `import { m } from "../machines/m.ts";\nimport { Hono } from "hono";\nexport const app = new Hono();\nexport { m };\n`,
  "generators/gen.ts": `import { readFileSync } from "node:fs";\nimport { m } from "../machines/m.ts";\nexport * from "../spec/rules.ts";\nexport { m, readFileSync };\n`,
  "runtime/index.ts": `import { app } from "../generated/server.generated.ts";\nimport { createServer } from "node:http";\nexport const serve = () => fetch("http://127.0.0.1/");\nexport { app, createServer };\nexport const lazy = () => import("../machines/m.ts");\n`,
  "scripts/tool.ts": `import "../generators/gen.ts";\nimport "../test/helper.ts";\n`,
  "test/helper.ts": `import "../generators/gen.ts";\nexport {};\n`,
  "runtime/node_modules/pkg/index.ts": `import "../../../test/helper.ts";\n`,
};

describe("checkImports", () => {
  it("passes a clean tree", () => {
    const result = checkImportsDetailed(tree(clean));
    expect(lines(result.violations)).toEqual([]);
    expect(result.files).toBe(6); // scripts/, test/ and node_modules/ are not checked
  });

  it("flags machines importing runtime", () => {
    const root = tree({ ...clean, "machines/bad.ts": `export const a = 1;\nimport { serve } from "../runtime/index.ts";\nexport { serve };\n` });
    expect(lines(checkImports(root))).toEqual([expect.stringMatching(/^machines\/bad\.ts:2: .*machines\/ may not import runtime\//)]);
  });

  it("flags spec importing machines, also for type-only and dynamic imports", () => {
    const root = tree({
      ...clean,
      "spec/bad.ts": `import { m } from "../machines/m.ts";\nexport type T = typeof import("../machines/m.ts");\nexport const later = () => import("../machines/m.ts");\nexport { m };\n`,
    });
    const found = checkImports(root);
    expect(found.map((v) => [v.file, v.line, v.kind])).toEqual([
      ["spec/bad.ts", 1, "layer"],
      ["spec/bad.ts", 2, "layer"],
      ["spec/bad.ts", 3, "layer"],
    ]);
    expect(found[0]?.message).toMatch(/spec\/ may not import machines\//);
  });

  it("flags spec importing node:fs and other Node built-ins", () => {
    const root = tree({
      ...clean,
      "spec/io.ts": `import { readFileSync } from "node:fs";\nimport path from "path";\nimport { readFile } from "fs/promises";\nexport { readFileSync, path, readFile };\n`,
    });
    expect(lines(checkImports(root))).toEqual([
      "spec/io.ts:1: imports node:fs: spec/ and machines/ must not use Node built-ins",
      "spec/io.ts:2: imports path: spec/ and machines/ must not use Node built-ins",
      "spec/io.ts:3: imports fs/promises: spec/ and machines/ must not use Node built-ins",
    ]);
  });

  it("flags machines importing hono, and URL-scheme specifiers", () => {
    const root = tree({
      ...clean,
      "machines/http.ts": `import { Hono } from "hono";\nimport { cors } from "hono/cors";\nimport * as std from "jsr:@std/assert";\nimport z from "npm:zod";\nexport { Hono, cors, std, z };\n`,
    });
    const found = checkImports(root);
    expect(found.map((v) => [v.line, v.kind])).toEqual([
      [1, "package"],
      [2, "package"],
      [3, "package"],
      [4, "package"],
    ]);
    expect(found[0]?.message).toMatch(/hono/);
    expect(found[2]?.message).toMatch(/jsr:/);
  });

  it("flags a fetch( call and Deno use in machines, but not in comments or strings", () => {
    const root = tree({
      ...clean,
      "machines/net.ts": `// fetch("x") here is only a comment\nexport const get = (u: string) => fetch(u);\nexport const text = "fetch(u)";\nexport const viaGlobal = (u: string) => globalThis.fetch(u);\nexport const env = () => Deno.env.get("X");\n`,
    });
    expect(lines(checkImports(root))).toEqual([
      "machines/net.ts:2: calls fetch(): spec/ and machines/ must not do network I/O",
      "machines/net.ts:4: calls fetch(): spec/ and machines/ must not do network I/O",
      "machines/net.ts:5: uses Deno: spec/ and machines/ must not use runtime-specific APIs",
    ]);
  });

  it("flags imports of generators/, test/ and scripts/ from the layers", () => {
    const root = tree({
      ...clean,
      "runtime/uses-gen.ts": `import "../generators/gen.ts";\nimport "../test/helper.ts";\nimport "../scripts/tool.ts";\n`,
      "generators/too-far.ts": `import "../runtime/index.ts";\nimport "../generated/server.generated.ts";\n`,
    });
    expect(checkImports(root).map((v) => `${v.file}:${v.line}`)).toEqual([
      "generators/too-far.ts:1",
      "generators/too-far.ts:2",
      "runtime/uses-gen.ts:1",
      "runtime/uses-gen.ts:2",
      "runtime/uses-gen.ts:3",
    ]);
  });

  it("flags a 2-file cycle", () => {
    const root = tree({
      ...clean,
      "spec/a.ts": `import { b } from "./b.ts";\nexport const a = () => b;\n`,
      "spec/b.ts": `export const x = 1;\nimport { a } from "./a.ts";\nexport const b = () => a;\n`,
    });
    const found = checkImports(root);
    expect(lines(found)).toEqual(["spec/a.ts:1: import cycle: spec/a.ts -> spec/b.ts -> spec/a.ts"]);
    expect(found[0]?.kind).toBe("cycle");
  });

  it("flags a 3-file cycle across layers' own folders", () => {
    const root = tree({
      ...clean,
      "runtime/x.ts": `export * from "./y.ts";\n`,
      "runtime/y.ts": `export { z } from "./sub/z.ts";\nexport const y = 1;\n`,
      "runtime/sub/z.ts": `import "../x.ts";\nexport const z = 1;\n`,
    });
    expect(lines(checkImports(root))).toEqual(["runtime/sub/z.ts:1: import cycle: runtime/sub/z.ts -> runtime/x.ts -> runtime/y.ts -> runtime/sub/z.ts"]);
  });

  it("flags a file importing itself", () => {
    const root = tree({ ...clean, "machines/self.ts": `import * as me from "./self.ts";\nexport const n = 1;\nexport { me };\n` });
    expect(lines(checkImports(root))).toEqual(["machines/self.ts:1: imports itself"]);
  });

  it("reports each cycle group once", () => {
    const root = tree({
      ...clean,
      "spec/p.ts": `import "./q.ts";\nimport "./r.ts";\n`,
      "spec/q.ts": `import "./p.ts";\n`,
      "spec/r.ts": `import "./p.ts";\n`,
    });
    expect(lines(checkImports(root))).toEqual(["spec/p.ts:1: import cycle: spec/p.ts -> spec/q.ts -> spec/p.ts; the same cycle group also holds spec/r.ts"]);
  });

  it("stronglyConnected finds components (Tarjan)", () => {
    const edges = new Map([
      ["a", ["b"]],
      ["b", ["c", "d"]],
      ["c", ["a"]],
      ["d", ["d"]],
      ["e", []],
    ]);
    const sets = stronglyConnected(["a", "b", "c", "d", "e"], edges).map((c) => [...c].sort().join(""));
    expect(sets.sort()).toEqual(["abc", "d", "e"]);
  });

  it("finds no violation in the project itself", () => {
    expect(lines(checkImports(projectRoot))).toEqual([]);
  });
});
