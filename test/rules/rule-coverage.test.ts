// The rules catalogue (spec/rules.ts) against the tests and the machines:
// (a) every catalogued rule has a test whose title names it, and no title names a rule that does not exist;
// (b) every rule a machine enforces is the `meta.rule` of a transition of that machine;
// (c) every `meta.rule` a machine names is a catalogued rule of that machine's side.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { createMachine, type AnyStateMachine, type AnyStateNode } from "xstate";
import { deviceMachine, serverMachine } from "../../machines/index.ts";
import { ruleById, rules, type RuleSide } from "../../spec/rules.ts";

// --- The title scanner -------------------------------------------------------------------------

/** A test title found in a source file. `counts` is false for skipped, todo and expected-to-fail tests. */
export interface ScannedTitle {
  readonly title: string;
  readonly line: number;
  readonly counts: boolean;
}

const testFunctions = new Set(["it", "test", "describe"]);
/** Modifiers whose test does not run, or passes when its body fails: such a title is no evidence. */
const nonEvidence = new Set(["skip", "todo", "fails", "skipIf", "runIf"]);

/** The root identifier and the modifiers of a callee such as `it`, `it.only` or `describe.concurrent`. */
function calleeChain(callee: ts.Expression): { readonly root: string; readonly modifiers: string[] } | undefined {
  const modifiers: string[] = [];
  let node: ts.Expression = callee;
  while (ts.isPropertyAccessExpression(node)) {
    modifiers.unshift(node.name.text);
    node = node.expression;
  }
  return ts.isIdentifier(node) ? { root: node.text, modifiers } : undefined;
}

/** The literal text of a title; `${…}` substitutions become a space so no id is glued across them. */
function literalTitle(arg: ts.Expression | undefined): string | undefined {
  if (arg === undefined) return undefined;
  if (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg)) return arg.text;
  if (ts.isTemplateExpression(arg)) return [arg.head.text, ...arg.templateSpans.map((s) => s.literal.text)].join(" ");
  return undefined;
}

/** Titles passed as the first argument of it(…), test(…), describe(…) (and their modifiers), by the TypeScript parser. */
export function scanTitles(source: string, fileName = "sample.test.ts"): ScannedTitle[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: ScannedTitle[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const chain = calleeChain(node.expression);
      const title = literalTitle(node.arguments[0]);
      if (chain !== undefined && testFunctions.has(chain.root) && title !== undefined) {
        found.push({
          title,
          line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1,
          counts: !chain.modifiers.some((m) => nonEvidence.has(m)),
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** Anything shaped like a rule id, as a whole token: `ENROLL-10` is not `ENROLL-1`, `ENROLL2-1` not `ENROLL-1`. */
const ruleShaped = /(?<![A-Za-z0-9_-])[A-Z][A-Z0-9]*-\d+(?![A-Za-z0-9_])/g;

export function ruleShapedIds(title: string): string[] {
  return [...title.matchAll(ruleShaped)].map((m) => m[0]);
}

/** Rule-shaped names of standards that legitimately appear in titles; they are not rule ids. */
const notRuleIds = new Set(["SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512", "UTF-8", "UTF-16", "UTF-32", "ISO-8601"]);

export interface TitleIds {
  /** Catalogued ids named by a title that counts as evidence, with where. */
  readonly covered: Map<string, string[]>;
  /** Rule-shaped ids that are not in the catalogue (typos), with where. */
  readonly unknown: Map<string, string[]>;
}

function add(map: Map<string, string[]>, key: string, where: string): void {
  map.set(key, [...(map.get(key) ?? []), where]);
}

export function idsInTitles(files: readonly { readonly path: string; readonly source: string }[]): TitleIds {
  const covered = new Map<string, string[]>();
  const unknown = new Map<string, string[]>();
  for (const { path, source } of files) {
    for (const t of scanTitles(source, path)) {
      for (const id of ruleShapedIds(t.title)) {
        const where = `${path}:${t.line}`;
        if (ruleById.has(id)) {
          if (t.counts) add(covered, id, where);
        } else if (!notRuleIds.has(id)) {
          add(unknown, id, where);
        }
      }
    }
  }
  return { covered, unknown };
}

const thisFile = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL("../../", import.meta.url));
const testDir = join(root, "test");

function testFiles(): { path: string; source: string }[] {
  return readdirSync(testDir, { recursive: true, encoding: "utf8" })
    .filter((p) => p.endsWith(".test.ts"))
    .map((p) => join(testDir, p))
    .filter((p) => p !== thisFile)
    .sort()
    .map((p) => ({ path: relative(root, p), source: readFileSync(p, "utf8") }));
}

// --- The machine walker ------------------------------------------------------------------------

/** Every transition of a machine that names a rule: `on`, invoke onDone/onError, state onDone, `after`, `always`, `initial`. */
export function machineRules(machine: AnyStateMachine): Map<string, string[]> {
  const named = new Map<string, string[]>();
  const visit = (node: AnyStateNode): void => {
    const transitions = [...[...node.transitions.values()].flat(), ...(node.always ?? []), node.initial];
    for (const t of transitions) {
      const rule: unknown = t.meta?.["rule"];
      if (rule === undefined) continue;
      add(named, typeof rule === "string" ? rule : JSON.stringify(rule), `#${node.id} ${t.eventType === null ? "(initial)" : t.eventType || "(always)"}`);
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return named;
}

const machines = { "device-machine": deviceMachine, "server-machine": serverMachine } as const;
const sideOf: Record<keyof typeof machines, RuleSide> = { "device-machine": "device", "server-machine": "server" };

// --- Self-tests: the scanner and the walker can fail --------------------------------------------

describe("the title scanner", () => {
  const sample = [
    `import { describe, it, test } from "vitest";`,
    `// it("IDENT-4 in a comment is not a title")`,
    `const notATitle = "IDENT-3";`,
    `describe("ENROLL2-1 the second enroll", () => {`,
    `  it("ENROLL-10 is not ENROLL-1 and not in the catalogue", () => {});`,
    `  test('PROFILE-1..5 and DISCOVERY-12, (ONGOING-11)', () => {});`,
    "  it(`CHALLENGE-3 ${'x'}IDENT-2 with a substitution`, () => {});",
    `  it.only("ACCOUNT-1 only still runs", () => {});`,
    `  it.skip("ESSO-3 skipped is no evidence", () => {});`,
    `  it.fails("ESSO-4 expected to fail is no evidence", () => {});`,
    `  it(name, () => {});`,
    `  Deno.test("SIMPLE-6 a Deno title is not vitest's", () => {});`,
    `  it("UTF-8, SHA-1(content) and DISOVERY-3 (a typo)", () => {});`,
    `  foo("OAUTH-5 from another function");`,
    `});`,
  ].join("\n");

  it("finds the titles of it, test, describe and their modifiers, with their lines", () => {
    expect(scanTitles(sample)).toEqual([
      { title: "ENROLL2-1 the second enroll", line: 4, counts: true },
      { title: "ENROLL-10 is not ENROLL-1 and not in the catalogue", line: 5, counts: true },
      { title: "PROFILE-1..5 and DISCOVERY-12, (ONGOING-11)", line: 6, counts: true },
      { title: "CHALLENGE-3  IDENT-2 with a substitution", line: 7, counts: true },
      { title: "ACCOUNT-1 only still runs", line: 8, counts: true },
      { title: "ESSO-3 skipped is no evidence", line: 9, counts: false },
      { title: "ESSO-4 expected to fail is no evidence", line: 10, counts: false },
      { title: "UTF-8, SHA-1(content) and DISOVERY-3 (a typo)", line: 13, counts: true },
    ]);
  });

  it("reads rule ids as whole tokens", () => {
    expect(ruleShapedIds("ENROLL-10 ENROLL-1 ENROLL2-1 (ENROLL-4) PROFILE-1..5 PROFILE-1/2 x-ENROLL-5 ENROLL-6a ENROLL-")).toEqual([
      "ENROLL-10",
      "ENROLL-1",
      "ENROLL2-1",
      "ENROLL-4",
      "PROFILE-1",
      "PROFILE-1",
    ]);
  });

  it("counts catalogued ids of titles that run, and reports the others as unknown", () => {
    const { covered, unknown } = idsInTitles([{ path: "sample.test.ts", source: sample }]);
    expect([...covered.keys()].sort()).toEqual(["ACCOUNT-1", "CHALLENGE-3", "DISCOVERY-12", "ENROLL-1", "ENROLL2-1", "IDENT-2", "ONGOING-11", "PROFILE-1"]);
    expect(covered.get("ENROLL2-1")).toEqual(["sample.test.ts:4"]);
    expect(Object.fromEntries(unknown)).toEqual({ "ENROLL-10": ["sample.test.ts:5"], "DISOVERY-3": ["sample.test.ts:13"] });
  });
});

describe("the machine walker", () => {
  const sample = createMachine({
    id: "sample",
    initial: "a",
    on: { STOP: { target: ".c", meta: { rule: "R-1" } } },
    states: {
      a: {
        on: { GO: [{ guard: () => false, target: "b", meta: { rule: "R-2" } }, { target: "b" }] },
        after: { 1000: { target: "b", meta: { rule: "R-3" } } },
      },
      b: {
        initial: "inner",
        states: { inner: { always: { target: "done", meta: { rule: "R-4" } } }, done: { type: "final" } },
        invoke: { src: "x", onError: { target: "c", meta: { rule: "R-5" } } },
        onDone: { target: "c", meta: { rule: "R-6" } },
      },
      c: { type: "final" },
    },
  });

  it("finds meta.rule on on, after, always, invoke and state onDone transitions, at any depth", () => {
    expect([...machineRules(sample).keys()].sort()).toEqual(["R-1", "R-2", "R-3", "R-4", "R-5", "R-6"]);
  });

  it("finds rules of the real machines in each kind of place", () => {
    const device = machineRules(deviceMachine);
    expect(device.get("IDENT-4")).toEqual(["#device.identifierEntry CANCEL"]);
    expect(device.get("IDENT-2")).toEqual(["#device.judgingIdentifier (always)"]);
    expect(device.get("ENROLL2-1")).toEqual(["#device.authenticating xstate.done.state.device.authenticating"]);
    expect(device.get("ONGOING-5")).toEqual(["#device.enrolled.sending xstate.done.actor.sending"]);
    expect(machineRules(serverMachine).get("ONGOING-9")).toEqual(["#enrollment CHECK_IN"]);
  });
});

// --- The catalogue against the tests and the machines ---------------------------------------------

describe("rules catalogue coverage", () => {
  const files = testFiles();

  it("scans the project's test files", () => {
    expect(files.length).toBeGreaterThan(5);
    expect(files.some((f) => f.path.endsWith("e2e/enroll-simple.test.ts"))).toBe(true);
    expect(files.some((f) => f.path === relative(root, thisFile))).toBe(false);
  });

  it("every catalogued rule has a test whose title names it", () => {
    const { covered } = idsInTitles(files);
    const missing = rules.filter((r) => !covered.has(r.id)).map((r) => `${r.id} (${r.side}, ${r.enforcedBy}): ${r.rule}`);
    expect(missing, `rules without a test naming them:\n${missing.join("\n")}`).toEqual([]);
  });

  it("no test title names a rule id that is not in the catalogue", () => {
    const { unknown } = idsInTitles(files);
    const typos = [...unknown].map(([id, where]) => `${id} at ${where.join(", ")}`);
    expect(typos, `rule-shaped ids not in spec/rules.ts:\n${typos.join("\n")}`).toEqual([]);
  });

  for (const [enforcedBy, machine] of Object.entries(machines) as [keyof typeof machines, AnyStateMachine][]) {
    it(`every rule enforced by the ${enforcedBy} is the meta.rule of one of its transitions`, () => {
      const named = machineRules(machine);
      const expected = rules.filter((r) => r.enforcedBy === enforcedBy);
      expect(expected.length).toBeGreaterThan(0);
      const missing = expected.filter((r) => !named.has(r.id)).map((r) => `${r.id}: ${r.rule}`);
      expect(missing, `rules without a transition in the ${enforcedBy}:\n${missing.join("\n")}`).toEqual([]);
    });

    it(`every meta.rule of the ${enforcedBy} is a catalogued ${sideOf[enforcedBy]} rule`, () => {
      const named = machineRules(machine);
      expect(named.size).toBeGreaterThan(0);
      const wrong = [...named]
        .filter(([id]) => ruleById.get(id)?.side !== sideOf[enforcedBy])
        .map(([id, where]) => `${id} at ${where.join(", ")}: ${ruleById.has(id) ? `a ${ruleById.get(id)?.side} rule` : "not in the catalogue"}`);
      expect(wrong, `meta.rule values that are not catalogued ${sideOf[enforcedBy]} rules:\n${wrong.join("\n")}`).toEqual([]);
    });
  }
});
