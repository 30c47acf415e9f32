// stepWithoutActors is the server machine's own step: from any reachable snapshot, for any event,
// it answers exactly what xstate's transition() answers, or null where that step starts an actor —
// also when it replays a step it remembered from the same deep-frozen context (the enrollment
// cache's records), whatever changed in the event since.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { transition } from "xstate";
import { deepFreeze, EnrollmentRecord, readEnrollmentRecord, serverMachine, stepWithoutActors, toRecord, type ServerContext, type ServerEvent } from "../../machines/index.ts";
import { checkInFacts, serverDone, serverInput, serverStart, testProfile, type ServerSnapshot } from "../support/drive.ts";
import { alice } from "../support/fixtures.ts";

const mac = { ...serverInput.device, PRODUCT: "Mac14,2" };
const tokens = ["h1", "h2", "h-other"] as const;

const eventArb: fc.Arbitrary<ServerEvent> = fc.oneof(
  fc.record({
    type: fc.constant("CHECK_IN" as const),
    authorization: fc.oneof(fc.constant({ kind: "missing" as const }), fc.constantFrom(...tokens).map((tokenHash) => ({ kind: "bearer" as const, tokenHash }))),
    now: fc.constantFrom(0, 4_999, 5_000, 1_000_000),
    channel: fc.constantFrom("checkin" as const, "command" as const),
    messageType: fc.constantFrom("Authenticate", "TokenUpdate", "CheckOut", "Idle"),
    enrollmentId: fc.constantFrom(null, "E-1", "E-2"),
    userChannel: fc.boolean(),
    signature: fc.oneof(fc.constant({ kind: "absent" as const }), fc.constant({ kind: "invalid" as const }), fc.constantFrom("fp-1", "fp-2").map((signerFingerprint) => ({ kind: "valid" as const, signerFingerprint }))),
    signatureRequired: fc.boolean(),
  }),
  fc.constant({ type: "TOKEN_INVALIDATED" as const }),
  fc.constant({ type: "UNENROLL" as const }),
  fc.record({
    type: fc.constant("ENROLL" as const),
    authorization: fc.oneof(fc.constant({ kind: "missing" as const }), fc.constantFrom(...tokens).map((tokenHash) => ({ kind: "bearer" as const, tokenHash }))),
    now: fc.constantFrom(0, 1_000_000),
    device: fc.constantFrom(serverInput.device, mac),
  }),
  fc.constantFrom("h1", "h2").map((hash) => ({ type: "SIGN_IN" as const, username: alice.userIdentifier, password: "pw", issuedToken: { hash, expiresAt: 5_000 }, csrfValid: true })),
);

/** Enrolled with token h1 and identity fp-1, then whatever follows. */
const happyPrefix: readonly ServerEvent[] = [
  { type: "ENROLL", authorization: { kind: "missing" }, now: 0, device: serverInput.device },
  { type: "SIGN_IN", username: alice.userIdentifier, password: "pw", issuedToken: { hash: "h1", expiresAt: 5_000 }, csrfValid: true },
  { type: "ENROLL", authorization: { kind: "bearer", tokenHash: "h1" }, now: 1, device: serverInput.device },
  { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "h1" }, now: 2, ...checkInFacts, messageType: "Authenticate", enrollmentId: "E-1" },
];
const historyArb = fc.oneof(
  fc.array(eventArb, { maxLength: 12 }),
  fc.tuple(fc.integer({ min: 2, max: happyPrefix.length }), fc.array(eventArb, { maxLength: 8 })).map(([n, rest]) => [...happyPrefix.slice(0, n), ...rest]),
);

/** Walks the machine with `events`, answering its actors (sign-in accepted, a profile with identity fp-1). */
function walk(events: readonly ServerEvent[]): ServerSnapshot {
  let s = serverStart();
  for (const event of events) {
    s = transition(serverMachine, s, event)[0];
    if ("verifyingCredentials" in s.children) s = serverDone(s, "verifyingCredentials", { ok: true, userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId });
    if ("buildingProfile" in s.children) s = serverDone(s, "buildingProfile", { profile: testProfile({ managedAppleId: alice.managedAppleId }), identityFingerprint: "fp-1" });
  }
  return s;
}

const reached = new Set<string>();


/** A run of events from one snapshot: each the one before with only its clock moved (a device checking in again), or a new one. */
const runArb = fc.array(fc.tuple(fc.boolean(), eventArb, fc.constantFrom(0, 1, 4_999, 5_000, 1_000_000)), { minLength: 1, maxLength: 8 }).map((steps) => {
  const events: ServerEvent[] = [];
  for (const [again, event, now] of steps) {
    const previous = events[events.length - 1];
    events.push(again && previous !== undefined && "now" in previous ? { ...previous, now } : event);
  }
  return events;
});

describe("stepWithoutActors", () => {
  it("answers what transition() answers from every reachable snapshot, or null exactly where the step starts an actor", () => {
    fc.assert(
      fc.property(historyArb, eventArb, (history, event) => {
        const before = walk(history);
        const [expected] = transition(serverMachine, before, event);
        const stepped = stepWithoutActors(String(before.value), before.context, event);
        reached.add(String(before.value));
        const startsActor = Object.keys(expected.children).length > 0;
        expect(stepped === null).toBe(startsActor);
        if (stepped !== null) {
          expect(stepped.state).toBe(String(expected.value));
          expect(stepped.context).toEqual(expected.context);
          // A store that hands the step's record back gets it unparsed (readEnrollmentRecord): it
          // must be what parsing it would give.
          const parsed = EnrollmentRecord.safeParse(structuredClone(stepped.record));
          expect(parsed.success && parsed.data).toEqual(stepped.record);
          expect(readEnrollmentRecord(stepped.record).data).toBe(stepped.record);
        }
      }),
      { numRuns: 3_000 },
    );
    // The walks reach the states MDM requests meet, so the property covered them.
    for (const state of ["profileDelivered", "enrolled", "tokenInvalidated", "reauthenticated", "checkedOut", "unenrolled"]) expect(reached).toContain(state);
  });

  it("replays a step remembered from the same frozen context only where transition() answers the same", () => {
    let replayed = 0;
    fc.assert(
      fc.property(historyArb, runArb, (history, events) => {
        const before = walk(history);
        const state = String(before.value);
        const frozen: ServerContext = deepFreeze(structuredClone(before.context));
        const answers = new Set<unknown>();
        for (const event of events) {
          const [expected] = transition(serverMachine, before, event);
          const stepped = stepWithoutActors(state, frozen, event);
          expect(stepped === null).toBe(Object.keys(expected.children).length > 0);
          if (stepped === null) continue;
          expect(stepped.state).toBe(String(expected.value));
          expect(stepped.context).toEqual(expected.context);
          // A replayed answer is the very object handed out before, and nobody can change it.
          if (answers.has(stepped)) replayed++;
          answers.add(stepped);
          expect(Object.isFrozen(stepped.context)).toBe(true);
        }
      }),
      { numRuns: 3_000 },
    );
    // The runs did replay (a check-in again with the clock moved is the common case).
    expect(replayed).toBeGreaterThan(100);
  });

  it("never remembers a step from a context that can still change", () => {
    const enrolled = walk(happyPrefix);
    const context = structuredClone(enrolled.context);
    const event: ServerEvent = { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "h1" }, now: 3, ...checkInFacts, messageType: "TokenUpdate", enrollmentId: "E-1" };
    expect(stepWithoutActors("enrolled", context, event)?.context.reply).toEqual({ kind: "acknowledged" });
    // The same object, changed: the token is no longer this one.
    Reflect.set(context, "tokenHash", "h2");
    expect(stepWithoutActors("enrolled", context, event)?.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
  });

  it("parses a frozen stored record once, and a mutable one every time", () => {
    const enrolled = walk(happyPrefix);
    const record = toRecord("enrolled", enrolled.context);
    const frozen = deepFreeze(structuredClone(record));
    const first = readEnrollmentRecord(frozen);
    expect(first.success).toBe(true);
    // Parsing changed nothing: the frozen record itself is the parse, and stays it.
    expect(first.data).toBe(frozen);
    expect(readEnrollmentRecord(frozen).data).toBe(frozen);
    // Fields the schema defaults (older records) come out filled in, frozen.
    const { identityFingerprint: _fingerprint, ...older } = structuredClone(record.context);
    const olderRecord = deepFreeze({ state: "enrolled", context: older });
    const parsed = readEnrollmentRecord(olderRecord);
    expect(parsed.data).toEqual(EnrollmentRecord.parse(olderRecord));
    expect(parsed.data).not.toBe(olderRecord);
    expect(Object.isFrozen(parsed.data?.context)).toBe(true);
    expect(readEnrollmentRecord(olderRecord).data).toBe(parsed.data);
    // A record that can still change is parsed as it is now.
    const mutable = structuredClone(record);
    expect(readEnrollmentRecord(mutable).data?.state).toBe("enrolled");
    Reflect.set(mutable, "state", "no such state");
    expect(readEnrollmentRecord(mutable).success).toBe(false);
  });

  it("a check-in with the valid token from enrolled is acknowledged (the shortcut is used on the hot path)", () => {
    const enrolled = walk([
      { type: "ENROLL", authorization: { kind: "missing" }, now: 0, device: serverInput.device },
      { type: "SIGN_IN", username: alice.userIdentifier, password: "pw", issuedToken: { hash: "h1", expiresAt: 5_000 }, csrfValid: true },
      { type: "ENROLL", authorization: { kind: "bearer", tokenHash: "h1" }, now: 1, device: serverInput.device },
    ]);
    expect(enrolled.value).toBe("profileDelivered");
    const stepped = stepWithoutActors("profileDelivered", enrolled.context, { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "h1" }, now: 2, ...checkInFacts, messageType: "Authenticate", enrollmentId: "E-1" });
    expect(stepped).toMatchObject({ state: "enrolled", context: { reply: { kind: "acknowledged" }, enrollmentId: "E-1" } });
  });
});
