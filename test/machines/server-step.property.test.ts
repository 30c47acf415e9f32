// stepWithoutActors is the server machine's own step: from any reachable snapshot, for any event,
// it answers exactly what xstate's transition() answers, or null where that step starts an actor.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { transition } from "xstate";
import { serverMachine, stepWithoutActors, type ServerEvent } from "../../machines/index.ts";
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
        }
      }),
      { numRuns: 3_000 },
    );
    // The walks reach the states MDM requests meet, so the property covered them.
    for (const state of ["profileDelivered", "enrolled", "tokenInvalidated", "reauthenticated", "checkedOut", "unenrolled"]) expect(reached).toContain(state);
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
