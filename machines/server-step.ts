// One step of the server machine for an event that starts no actor (a check-in or command report,
// an invalidation, an unenrollment), computed synchronously. It is xstate's own `machine.transition`,
// as `transition()` calls it, with one inert scope built once: `transition()` builds a new actor
// (and runs the machine's initial state) on every call, which costs several times the step itself,
// and an authorized MDM request pays it on every request.
//
// A device checks in again and again from the same stored enrollment with the same facts but the
// clock. So a step is remembered per (deep-frozen) context, and replayed when it provably comes out
// the same: same state, every event field read outside a guard equal, and every guard the step
// evaluated, evaluated again on the new event, answering as it did. The machine's step is a
// deterministic function of what it reads (its guards and actions are pure), so when all it read
// outside guards is equal and every guard decided alike, it took the same transition and ran the same
// actions on the same values. Fields read only inside guards (the clock, for the token's expiry)
// may differ: the replayed guards judge them.
import { createActor, type ActorScope } from "xstate";
import type { z } from "zod";
import { deepFreeze, frozenCopy, isDeepFrozen } from "./frozen.ts";
import { EnrollmentRecord, toRecord } from "./server-store.ts";
import { serverMachine, type ServerContext, type ServerEvent } from "./server.machine.ts";

type ServerSnapshot = ReturnType<typeof serverMachine.resolveState>;

type GuardFunction = (args: { context: ServerContext; event: ServerEvent }, params: unknown) => unknown;

interface GuardCall {
  readonly guard: GuardFunction;
  readonly params: unknown;
  readonly result: unknown;
}

/** What one computed step read and answered. */
interface Remembered {
  readonly state: string;
  /** Event fields read outside guards: `value` when read, `present` when only tested with `in`. */
  readonly read: readonly { readonly key: string | symbol; readonly present: boolean; readonly value: unknown; readonly valueRead: boolean }[];
  readonly guards: readonly GuardCall[];
  readonly answer: Step | null;
}

/** A step's outcome: the machine's state and context, and the record a store keeps of them (toRecord). */
export interface Step {
  readonly state: string;
  readonly context: ServerContext;
  readonly record: EnrollmentRecord;
}

// While a step is computed: the named guards it evaluates, in order, and how deep in a guard it is.
let guardLog: GuardCall[] | null = null;
let inGuard = 0;

/** The machine's own named guards, each wrapped to log its call (guards built by and()/not() are left as they are: they call named ones). */
const loggingGuards: Record<string, GuardFunction> = {};
for (const [name, guard] of Object.entries(serverMachine.implementations.guards)) {
  if (typeof guard !== "function" || "check" in guard) continue;
  const original: GuardFunction = guard;
  loggingGuards[name] = (args, params) => {
    inGuard++;
    try {
      const result = original(args, params);
      guardLog?.push({ guard: original, params, result });
      return result;
    } finally {
      inGuard--;
    }
  };
}
const machine = serverMachine.provide({ guards: loggingGuards });

// Never started: it only stands for "self" in the scope (the steps here send nothing to it).
const self = createActor(machine, { input: { id: "", deviceKey: "", version: "mdm-byod", device: { PRODUCT: "", VERSION: "", LANGUAGE: "" } } });
let deferred = 0;
const scope: ActorScope<ServerSnapshot, ServerEvent> = {
  self,
  id: "",
  sessionId: "",
  logger: () => undefined,
  defer: () => void deferred++,
  emit: () => undefined,
  system: self.system,
  stopChild: () => undefined,
  // Every action of these steps is an assign, resolved inside the step; anything else would be an
  // effect this shortcut cannot run, so it is counted and the step refused.
  actionExecutor: () => void deferred++,
};

/** Parsed stored records by the deep-frozen value they were parsed from (see readEnrollmentRecord). */
const parsedRecords = new WeakMap<object, EnrollmentRecord>();

/** The last step computed from each deep-frozen context (a context is stored with its state). */
const remembered = new WeakMap<object, Remembered>();

/**
 * The state and context after `event`, or null when the step would start an actor or run an
 * action (the caller then runs an actor, as for sign-in and profile building).
 */
export function stepWithoutActors(state: string, context: ServerContext, event: ServerEvent): Step | null {
  // Only check-ins come again with the same facts; any other event (a refresh's new token, an
  // invalidation) is stepped once, without the bookkeeping a replay needs.
  if (event.type !== "CHECK_IN") return plainStep(state, context, event);
  const known = remembered.get(context);
  if (known !== undefined && replays(known, state, context, event)) return known.answer;
  const step = computeStep(state, context, event);
  if (isDeepFrozen(context)) remembered.set(context, step);
  return step.answer;
}

/** The step of an event that is not remembered: the machine's transition and the frozen answer. */
function plainStep(state: string, context: ServerContext, event: ServerEvent): Step | null {
  deferred = 0;
  const next = machine.transition(machine.resolveState({ value: state, context }), event, scope);
  if (deferred > 0 || next.hasTag("busy") || Object.keys(next.children).length > 0) return null;
  return frozenAnswer(next);
}

// Handed out to the caller (and, when remembered, again on every replay): a frozen copy, so nobody
// can change it for the next caller (and nothing the event or the machine holds gets frozen).
function frozenAnswer(next: ServerSnapshot): Step {
  const nextState = String(next.value);
  const nextContext = frozenCopy(next.context);
  const record = deepFreeze(toRecord(nextState, nextContext));
  // Built here from the machine's typed context, and unchangeable: when a store hands this very
  // object back (the memory store, the enrollment cache), it needs no parse. Records read from a
  // database are other objects, and are parsed.
  parsedRecords.set(record, record);
  return { state: nextState, context: nextContext, record };
}

/** Whether `known` is what stepping `event` from (state, context) computes (see the top of this file). */
function replays(known: Remembered, state: string, context: ServerContext, event: ServerEvent): boolean {
  if (known.state !== state) return false;
  for (const read of known.read) {
    if (Reflect.has(event, read.key) !== read.present) return false;
    if (read.valueRead && !plainEqual(Reflect.get(event, read.key), read.value)) return false;
  }
  for (const call of known.guards) if (call.guard({ context, event }, call.params) !== call.result) return false;
  return true;
}

function computeStep(state: string, context: ServerContext, event: ServerEvent): Remembered {
  const read = new Map<string | symbol, { key: string | symbol; present: boolean; value: unknown; valueRead: boolean }>();
  let whole = false;
  const outside = (key: string | symbol, valueRead: boolean): void => {
    if (inGuard > 0) return;
    const present = Reflect.has(event, key);
    const known = read.get(key);
    if (known === undefined) read.set(key, { key, present, value: valueRead ? frozenCopy(Reflect.get(event, key)) : undefined, valueRead });
    else if (valueRead && !known.valueRead) read.set(key, { key, present, value: frozenCopy(Reflect.get(event, key)), valueRead });
  };
  // What the step reads of the event outside guards; listing its keys makes the whole event count.
  const watched = new Proxy(event, {
    get(target, key, receiver) {
      outside(key, true);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      outside(key, false);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      if (inGuard === 0) whole = true;
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor(target, key) {
      if (inGuard === 0) whole = true;
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
  });
  const guards: GuardCall[] = [];
  guardLog = guards;
  deferred = 0;
  let next: ServerSnapshot;
  try {
    next = machine.transition(machine.resolveState({ value: state, context }), watched, scope);
  } finally {
    guardLog = null;
  }
  if (whole) for (const key of Reflect.ownKeys(event)) outside(key, true);
  if (deferred > 0 || next.hasTag("busy") || Object.keys(next.children).length > 0) return { state, read: [...read.values()], guards, answer: null };
  return { state, read: [...read.values()], guards, answer: frozenAnswer(next) };
}

/**
 * `EnrollmentRecord.safeParse(found)`, remembered for a deep-frozen `found` (the enrollment cache
 * hands out the same frozen record until it changes): it cannot change, so neither can its parse.
 * The parsed record is deep-frozen too, and is `found` itself when parsing changed nothing, so
 * that a step's result shares what did not change with what the store holds.
 */
export function readEnrollmentRecord(found: unknown): z.ZodSafeParseResult<EnrollmentRecord> {
  if (typeof found === "object" && found !== null) {
    const known = parsedRecords.get(found);
    if (known !== undefined) return { success: true, data: known };
  }
  const parsed = EnrollmentRecord.safeParse(found);
  if (!parsed.success || typeof found !== "object" || found === null || !isDeepFrozen(found)) return parsed;
  // Zod's output is its own (fresh objects, or parts of the frozen `found`).
  const data = isEnrollmentRecord(found, parsed.data) ? found : deepFreeze(parsed.data);
  parsedRecords.set(found, data);
  return { success: true, data };
}

// `found` equals the parsed record value for value: it is one.
function isEnrollmentRecord(found: object, parsed: EnrollmentRecord): found is EnrollmentRecord {
  return plainEqual(found, parsed);
}

/** Equality of JSON-like values (plain objects, arrays, primitives): same keys, same values. */
function plainEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (!Object.hasOwn(b, key) || !plainEqual(Reflect.get(a, key), Reflect.get(b, key))) return false;
  return true;
}

