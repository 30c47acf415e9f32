// Server-machine events that come from the operator, not from a request: TOKEN_INVALIDATED (the
// device must sign in again, ONGOING-11) and UNENROLL (the device is told it is not enrolled). They
// are applied to a stored enrollment under store.transact with the machine's own actor-free step
// (machines/server-step.ts, as the generated server applies an MDM request's event), so the machine
// alone decides what the enrollment becomes.
import { EnrollmentRecord, stepWithoutActors, toRecord, type EnrollmentLocator, type EnrollmentStore, type ServerEvent } from "../machines/index.ts";

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
 * none is found. Throws — storing nothing — when the stored record is unreadable or when the step
 * would start an actor (these events never should: a change there must not be persisted half-decided).
 */
export async function applyServerEvent(store: EnrollmentStore, locators: readonly EnrollmentLocator[], event: OperatorEvent): Promise<AppliedEvent | null> {
  return store.transact(locators, async (found) => {
    if (found === null || found === undefined) return { save: null, result: null };
    const parsed = EnrollmentRecord.safeParse(found);
    if (!parsed.success) throw new Error(`a stored enrollment is unreadable: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`).join("; ")}`);
    const before = parsed.data;
    // The machine's own step; these events never start an actor, and if one ever did, nothing is stored.
    const stepped = stepWithoutActors(before.state, before.context, event);
    if (stepped === null) throw new Error(`${event.type} would start an actor: nothing was stored`);
    const record = toRecord(stepped.state, stepped.context);
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
