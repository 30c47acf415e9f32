// Deno smoke test: the spec layer loads under Deno, and bare npm specifiers (xstate, zod)
// resolve from the local node_modules (deno.json: nodeModulesDir "manual"), with no network.
import assert from "node:assert/strict";
import { createActor, createMachine } from "xstate";
import { z } from "zod";
import { err, ok } from "../../spec/result.ts";
import { rules } from "../../spec/rules.ts";

Deno.test("spec/rules.ts: the rules catalogue is non-empty with unique ids", () => {
  assert.ok(rules.length > 0, "rules catalogue is empty");
  const ids = rules.map((r) => r.id);
  const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(duplicates, [], `duplicate rule ids: ${duplicates.join(", ")}`);
});

Deno.test("spec/result.ts: ok and err build tagged results", () => {
  assert.deepEqual(ok(1), { ok: true, value: 1 });
  assert.deepEqual(err("e"), { ok: false, error: "e" });
});

Deno.test("xstate resolves from node_modules: a one-state machine starts", () => {
  const machine = createMachine({ id: "one", initial: "only", states: { only: {} } });
  const actor = createActor(machine).start();
  assert.equal(actor.getSnapshot().value, "only");
  actor.stop();
});

Deno.test("zod resolves from node_modules: z.string() accepts a string", () => {
  assert.equal(z.string().safeParse("x").success, true);
  assert.equal(z.string().safeParse(1).success, false);
});
