// Server-machine events that come from the operator, not from a request: TOKEN_INVALIDATED (the
// device must sign in again, ONGOING-11) and UNENROLL (the device is told it is not enrolled). They
// are applied to a stored enrollment as the generated server's runEnrollment applies a request's
// event — store.transact, parse with EnrollmentRecord, resolve the snapshot, send, persist with
// toRecord — so the machine alone decides what the enrollment becomes.
import { createActor, fromPromise, waitFor } from "xstate";
import {
  EnrollmentRecord,
  serverMachine,
  toRecord,
  type BuildProfileInput,
  type BuildProfileOutput,
  type EnrollmentLocator,
  type EnrollmentStore,
  type ServerEvent,
  type VerifyCredentialsInput,
  type VerifyCredentialsOutput,
} from "../machines/index.ts";

/** The events applied without a request; neither invokes an actor. */
export type OperatorEvent = Extract<ServerEvent, { readonly type: "TOKEN_INVALIDATED" | "UNENROLL" }>;

export interface AppliedEvent {
  /** The enrollment's reference (its id). */
  readonly id: string;
  readonly userIdentifier: string | null;
  /** The state before and after the event. */
  readonly from: string;
  readonly to: string;
  /** Whether it held a valid-looking token before the event (a revocation that revoked something). */
  readonly hadToken: boolean;
  readonly record: EnrollmentRecord;
}

/**
 * Applies `event` to the enrollment the locators find, under the store's transaction. Null when
 * none is found. Throws — storing nothing — when the stored record is unreadable or when the machine
 * invoked an actor (these events never should: a change there must not be persisted half-decided).
 */
export async function applyServerEvent(store: EnrollmentStore, locators: readonly EnrollmentLocator[], event: OperatorEvent): Promise<AppliedEvent | null> {
  const invoked: { name: string | null } = { name: null };
  const refuse = (name: string) => async (): Promise<never> => {
    invoked.name = name;
    throw new Error(`${event.type} invoked the ${name} actor`);
  };
  const logic = serverMachine.provide({
    actors: {
      verifyCredentials: fromPromise<VerifyCredentialsOutput, VerifyCredentialsInput>(refuse("verifyCredentials")),
      buildProfile: fromPromise<BuildProfileOutput, BuildProfileInput>(refuse("buildProfile")),
    },
  });
  return store.transact(locators, async (found) => {
    if (found === null || found === undefined) return { save: null, result: null };
    const parsed = EnrollmentRecord.safeParse(found);
    if (!parsed.success) throw new Error(`a stored enrollment is unreadable: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`).join("; ")}`);
    const before = parsed.data;
    const actor = createActor(logic, { snapshot: serverMachine.resolveState({ value: before.state, context: before.context }), input: before.context });
    actor.start();
    actor.send(event);
    const settled = await waitFor(actor, (snapshot) => !snapshot.hasTag("busy"), { timeout: 30_000 });
    actor.stop();
    if (invoked.name !== null) throw new Error(`${event.type} invoked the ${invoked.name} actor: nothing was stored`);
    const record = toRecord(String(settled.value), settled.context);
    return {
      save: record,
      result: {
        id: record.context.id,
        userIdentifier: record.context.userIdentifier,
        from: before.state,
        to: record.state,
        hadToken: before.context.tokenHash !== null,
        record,
      },
    };
  });
}
