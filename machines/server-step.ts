// One step of the server machine for an event that starts no actor (a check-in or command report,
// an invalidation, an unenrollment), computed synchronously. It is xstate's own `machine.transition`,
// as `transition()` calls it, with one inert scope built once: `transition()` builds a new actor
// (and runs the machine's initial state) on every call, which costs several times the step itself,
// and an authorized MDM request pays it on every request.
import { createActor, type ActorScope } from "xstate";
import { serverMachine, type ServerContext, type ServerEvent } from "./server.machine.ts";

type ServerSnapshot = ReturnType<typeof serverMachine.resolveState>;

// Never started: it only stands for "self" in the scope (the steps here send nothing to it).
const self = createActor(serverMachine, { input: { id: "", deviceKey: "", version: "mdm-byod", device: { PRODUCT: "", VERSION: "", LANGUAGE: "" } } });
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

/**
 * The state and context after `event`, or null when the step would start an actor or run an
 * action (the caller then runs an actor, as for sign-in and profile building).
 */
export function stepWithoutActors(state: string, context: ServerContext, event: ServerEvent): { readonly state: string; readonly context: ServerContext } | null {
  deferred = 0;
  const next = serverMachine.transition(serverMachine.resolveState({ value: state, context }), event, scope);
  if (deferred > 0 || next.hasTag("busy") || Object.keys(next.children).length > 0) return null;
  return { state: String(next.value), context: next.context };
}
