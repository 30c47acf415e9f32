// Property tests of the server machine (one enrollment's lifecycle), driven purely with xstate's
// transition() the way the generated server runs it: one request event, then, while the machine is
// busy, the answer of the named actor it waits for (runEnrollment waits until no state is "busy").
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { activeInvokes, profileBody, serverDone, serverInput, serverSend, serverStart, type ServerSnapshot } from "../support/drive.ts";
import type { AuthorizationFact, ServerEvent } from "../../machines/index.ts";
import { findMdmPayload, parseEnrollmentProfile, profileViolations, type ConfigurationProfile } from "../../spec/enrollment-profile.ts";
import { checkInFacts } from "../support/drive.ts";

const alice = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com" };
const bob = { userIdentifier: "bob@example.com", managedAppleId: "bob@appleid.example.com" };

const profiles = new Map<string, ConfigurationProfile>();
function profileFor(options: { readonly managedAppleId: string; readonly mode?: "BYOD" | "ADDE" }): ConfigurationProfile {
  const key = `${options.managedAppleId}/${options.mode ?? "BYOD"}`;
  let profile = profiles.get(key);
  if (profile === undefined) {
    const parsed = parseEnrollmentProfile(profileBody({ managedAppleId: options.managedAppleId, mode: options.mode ?? "BYOD", ...(options.mode === "ADDE" ? { accessRights: 1 } : {}) }));
    if (!parsed.ok) throw new Error("the harness profile must parse");
    profile = parsed.value;
    profiles.set(key, profile);
  }
  return profile;
}

// ---------------------------------------------------------------------------------------------
// The generated commands

/** Which token a request presents: none, an unreadable one, the current one, one issued earlier, or one never issued. */
type AuthSpec =
  | { readonly kind: "missing" }
  | { readonly kind: "malformed" }
  | { readonly kind: "current" }
  | { readonly kind: "earlier"; readonly pick: number }
  | { readonly kind: "unknown"; readonly hash: string };

type RequestSpec =
  | { readonly type: "ENROLL"; readonly auth: AuthSpec; readonly now: number }
  | { readonly type: "SIGN_IN_PAGE" }
  | { readonly type: "SIGN_IN"; readonly expiresAt: number; readonly csrfValid: boolean }
  | { readonly type: "SIGN_IN_CANCEL"; readonly csrfValid: boolean }
  | { readonly type: "CHECK_IN"; readonly auth: AuthSpec; readonly now: number; readonly messageType: string; readonly enrollmentId: string | null }
  | { readonly type: "TOKEN_INVALIDATED" }
  | { readonly type: "UNENROLL" }
  | { readonly type: "STRAY"; readonly id: "verifyingCredentials" | "buildingProfile" };

/** How the named actor answers if the request leaves the machine busy. */
interface AnswerSpec {
  readonly verify: "alice" | "bob" | "refused" | "throttled" | "error";
  readonly profile: "good" | "other-user" | "other-mode" | "not-a-profile" | "error";
}

interface Command {
  readonly request: RequestSpec;
  readonly answer: AnswerSpec;
}

const clock = fc.integer({ min: 0, max: 2_000 });
const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  fc.constant({ kind: "missing" as const }),
  fc.constant({ kind: "malformed" as const }),
  { arbitrary: fc.constant({ kind: "current" as const }), weight: 4 },
  fc.nat().map((pick) => ({ kind: "earlier" as const, pick })),
  fc.stringMatching(/^[0-9a-f]{8}$/).map((hash) => ({ kind: "unknown" as const, hash: `never-${hash}` })),
);
const requestSpec: fc.Arbitrary<RequestSpec> = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant("ENROLL" as const), auth: authSpec, now: clock }), weight: 4 },
  { arbitrary: fc.constant({ type: "SIGN_IN_PAGE" as const }), weight: 1 },
  // Tokens mostly outlive the requests that present them (the clocks overlap, so some expire).
  {
    arbitrary: fc.record({ type: fc.constant("SIGN_IN" as const), expiresAt: fc.integer({ min: 0, max: 6_000 }), csrfValid: fc.nat({ max: 5 }).map((n) => n > 0) }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant("SIGN_IN_CANCEL" as const), csrfValid: fc.boolean() }), weight: 1 },
  {
    arbitrary: fc.record({
      type: fc.constant("CHECK_IN" as const),
      auth: authSpec,
      now: clock,
      messageType: fc.oneof(
        { arbitrary: fc.constantFrom("Authenticate", "TokenUpdate"), weight: 4 },
        { arbitrary: fc.constantFrom("CheckOut", "DeclarativeManagement", "UserAuthenticate"), weight: 2 },
        { arbitrary: fc.string({ maxLength: 8 }), weight: 1 },
      ),
      enrollmentId: fc.option(fc.constantFrom("E-1", "E-2"), { nil: null }),
    }),
    weight: 4,
  },
  { arbitrary: fc.constant({ type: "TOKEN_INVALIDATED" as const }), weight: 1 },
  { arbitrary: fc.constant({ type: "UNENROLL" as const }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant("STRAY" as const), id: fc.constantFrom("verifyingCredentials" as const, "buildingProfile" as const) }), weight: 1 },
);
const answerSpec: fc.Arbitrary<AnswerSpec> = fc.record({
  verify: fc.constantFrom("alice", "alice", "alice", "bob", "refused", "throttled", "error"),
  profile: fc.constantFrom("good", "good", "good", "other-user", "other-mode", "not-a-profile", "error"),
});
const happyAnswer: AnswerSpec = { verify: "alice", profile: "good" };
const current: AuthSpec = { kind: "current" };
/** Happy openings, so that random tails often start from the ongoing states. */
const openings: readonly (readonly Command[])[] = [
  [],
  [{ request: { type: "ENROLL", auth: { kind: "missing" }, now: 0 }, answer: happyAnswer }, { request: { type: "SIGN_IN", expiresAt: 5_000, csrfValid: true }, answer: happyAnswer }],
  [
    { request: { type: "ENROLL", auth: { kind: "missing" }, now: 0 }, answer: happyAnswer },
    { request: { type: "SIGN_IN", expiresAt: 5_000, csrfValid: true }, answer: happyAnswer },
    { request: { type: "ENROLL", auth: current, now: 10 }, answer: happyAnswer },
  ],
  [
    { request: { type: "ENROLL", auth: { kind: "missing" }, now: 0 }, answer: happyAnswer },
    { request: { type: "SIGN_IN", expiresAt: 5_000, csrfValid: true }, answer: happyAnswer },
    { request: { type: "ENROLL", auth: current, now: 10 }, answer: happyAnswer },
    { request: { type: "CHECK_IN", auth: current, now: 20, messageType: "Authenticate", enrollmentId: "E-1" }, answer: happyAnswer },
  ],
];
const commands = fc
  .tuple(fc.constantFrom(...openings), fc.array(fc.record({ request: requestSpec, answer: answerSpec }), { minLength: 1, maxLength: 25, size: "max" }))
  .map(([opening, tail]) => [...opening, ...tail]);

// ---------------------------------------------------------------------------------------------
// Running commands

/** Test-side memory: every token hash issued so far (tokens are random: two issues never collide). */
interface Model {
  readonly issued: string[];
}

function authorization(spec: AuthSpec, s: ServerSnapshot, model: Model): AuthorizationFact {
  switch (spec.kind) {
    case "missing":
      return { kind: "missing" };
    case "malformed":
      return { kind: "malformed" };
    case "current":
      return { kind: "bearer", tokenHash: s.context.tokenHash ?? s.context.pendingToken?.hash ?? model.issued.at(-1) ?? "never-issued" };
    case "earlier":
      return { kind: "bearer", tokenHash: model.issued[spec.pick % Math.max(1, model.issued.length)] ?? "never-issued" };
    case "unknown":
      return { kind: "bearer", tokenHash: spec.hash };
  }
}

function requestEvent(spec: Exclude<RequestSpec, { type: "STRAY" }>, s: ServerSnapshot, model: Model): ServerEvent {
  switch (spec.type) {
    case "ENROLL":
      return { type: "ENROLL", authorization: authorization(spec.auth, s, model), now: spec.now, device: serverInput.device };
    case "SIGN_IN_PAGE":
      return { type: "SIGN_IN_PAGE" };
    case "SIGN_IN": {
      const hash = `issued-${model.issued.length + 1}`;
      model.issued.push(hash);
      return { type: "SIGN_IN", username: "alice@example.com", password: "pw", issuedToken: { hash, expiresAt: spec.expiresAt }, csrfValid: spec.csrfValid };
    }
    case "SIGN_IN_CANCEL":
      return { type: "SIGN_IN_CANCEL", csrfValid: spec.csrfValid };
    case "CHECK_IN":
      return { type: "CHECK_IN", authorization: authorization(spec.auth, s, model), now: spec.now, ...checkInFacts, messageType: spec.messageType, enrollmentId: spec.enrollmentId };
    case "TOKEN_INVALIDATED":
      return { type: "TOKEN_INVALIDATED" };
    case "UNENROLL":
      return { type: "UNENROLL" };
  }
}

function settle(s: ServerSnapshot, answer: AnswerSpec): { readonly snapshot: ServerSnapshot; readonly verified: "ok" | "not-ok" | null } {
  const [id] = activeInvokes(s);
  if (id === "verifyingCredentials") {
    if (answer.verify === "error") return { snapshot: serverSend(s, { type: "xstate.error.actor.verifyingCredentials", error: new Error("directory down") }), verified: "not-ok" };
    if (answer.verify === "refused") return { snapshot: serverDone(s, id, { ok: false }), verified: "not-ok" };
    if (answer.verify === "throttled") return { snapshot: serverDone(s, id, { ok: false, throttled: true }), verified: "not-ok" };
    return { snapshot: serverDone(s, id, { ok: true, ...(answer.verify === "alice" ? alice : bob) }), verified: "ok" };
  }
  if (id === "buildingProfile") {
    const managedAppleId = s.context.managedAppleId ?? alice.managedAppleId;
    switch (answer.profile) {
      case "error":
        return { snapshot: serverSend(s, { type: "xstate.error.actor.buildingProfile", error: new Error("no SCEP") }), verified: null };
      case "good":
        return { snapshot: serverDone(s, id, { profile: profileFor({ managedAppleId }) }), verified: null };
      case "other-user":
        return { snapshot: serverDone(s, id, { profile: profileFor({ managedAppleId: managedAppleId === bob.managedAppleId ? alice.managedAppleId : bob.managedAppleId }) }), verified: null };
      case "other-mode":
        return { snapshot: serverDone(s, id, { profile: profileFor({ managedAppleId, mode: "ADDE" }) }), verified: null };
      case "not-a-profile":
        return { snapshot: serverDone(s, id, { profile: { PayloadType: "Configuration" } }), verified: null };
    }
  }
  throw new Error(`busy without a known actor: ${JSON.stringify(s.value)} ${id ?? ""}`);
}

const isBusy = (s: ServerSnapshot): boolean => s.hasTag("busy");
const isCurrent = (auth: AuthorizationFact, ctx: ServerSnapshot["context"], now: number): boolean =>
  auth.kind === "bearer" && ctx.tokenHash !== null && auth.tokenHash === ctx.tokenHash && (ctx.tokenExpiresAt === null || now < ctx.tokenExpiresAt);
const signInStates = ["challenged", "authenticated", "profileDelivered", "enrolled", "tokenInvalidated", "reauthenticated"];

interface StepRecord {
  readonly before: ServerSnapshot;
  readonly event: ServerEvent | null;
  /** Right after the request event, before any actor answered. */
  readonly immediate: ServerSnapshot;
  readonly after: ServerSnapshot;
  readonly verified: "ok" | "not-ok" | null;
}

/** Runs the commands as the generated server would, calling `check` after each one. */
function run(list: readonly Command[], check: (step: StepRecord, model: Model) => void): Set<string> {
  const model: Model = { issued: [] };
  const states = new Set<string>();
  let s = serverStart();
  for (const { request, answer } of list) {
    const before = s;
    if (request.type === "STRAY") {
      // An answer from an actor the machine is not waiting for changes nothing.
      if (activeInvokes(before).includes(request.id)) continue;
      const after = serverDone(before, request.id, request.id === "verifyingCredentials" ? { ok: true, ...alice } : { profile: profileFor(alice) });
      expect(after.value).toEqual(before.value);
      expect(after.context).toEqual(before.context);
      continue;
    }
    const event = requestEvent(request, before, model);
    const immediate = serverSend(before, event);
    let after = immediate;
    let verified: StepRecord["verified"] = null;
    for (let i = 0; i < 3 && isBusy(after); i++) {
      const settled = settle(after, answer);
      after = settled.snapshot;
      verified = settled.verified ?? verified;
    }
    expect(after.status).toBe("active");
    expect(isBusy(after)).toBe(false);
    states.add(String(after.value));
    check({ before, event, immediate, after, verified }, model);
    s = after;
  }
  return states;
}

describe("server machine: random request sequences, served as the generated server serves them", () => {
  it("SIMPLE-4 SIMPLE-5 every request gets an answer; TOKEN_INVALIDATED answers nobody", () => {
    const reached = new Set<string>();
    fc.assert(
      fc.property(commands, (list) => {
        const states = run(list, ({ event, immediate, after }) => {
          if (event?.type === "TOKEN_INVALIDATED") {
            expect(after.context.reply).toBeNull();
          } else {
            // Decided at once, or the machine is busy waiting for a named actor that will decide it.
            expect(immediate.context.reply !== null || (isBusy(immediate) && activeInvokes(immediate).length === 1)).toBe(true);
            expect(after.context.reply).not.toBeNull();
          }
          // Tokens are never kept in clear: only the hash the runtime computed.
          expect(after.context.tokenHash === null || after.context.tokenHash.startsWith("issued-")).toBe(true);
        });
        for (const state of states) reached.add(state);
      }),
      { numRuns: 150 },
    );
    console.log(`random server sequences: ${reached.size} resting states reached (${[...reached].sort().join(", ")})`);
    // Deep enough to mean something: the ongoing states were reached.
    for (const state of ["challenged", "authenticated", "profileDelivered", "enrolled", "tokenInvalidated", "reauthenticated", "checkedOut", "unenrolled"]) {
      expect(reached).toContain(state);
    }
  });

  it("ENROLL-5 ENROLL2-2 ENROLL2-3 PROFILE-6 PROFILE-7 a profile is only ever the answer to an ENROLL bearing the current, unexpired token", () => {
    let delivered = 0;
    fc.assert(
      fc.property(commands, (list) => {
        run(list, ({ before, event, after }) => {
          if (event?.type !== "ENROLL") {
            expect(after.context.reply?.kind).not.toBe("profile");
            return;
          }
          const current = isCurrent(event.authorization, before.context, event.now);
          const reply = after.context.reply;
          if (event.authorization.kind === "missing") {
            expect(reply).toEqual({ kind: "challenge", ruleId: "ENROLL-5" });
          } else if (!current) {
            expect(reply).toEqual({ kind: "challenge", ruleId: "ENROLL2-2" });
            expect(after.context.tokenHash).toBe(before.context.tokenHash);
          } else if (reply?.kind === "profile") {
            delivered++;
            expect(after.value).toBe("profileDelivered");
            // PROFILE-6 / PROFILE-7: what is delivered passes step 13 and names the signed-in user.
            expect(profileViolations(reply.profile, before.context.version, { requireModeMatchesVersion: true })).toEqual([]);
            expect(findMdmPayload(reply.profile)?.AssignedManagedAppleID).toBe(after.context.managedAppleId);
          } else {
            expect(reply).toMatchObject({ kind: "error", code: "profile.misconfigured" });
          }
          if (reply?.kind === "profile") expect(current).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
    expect(delivered).toBeGreaterThan(0);
  });

  it("SIMPLE-4 SIMPLE-5 an authentication-result only follows credentials the verifier accepted", () => {
    let results = 0;
    fc.assert(
      fc.property(commands, (list) => {
        run(list, ({ before, event, after, verified }) => {
          const reply = after.context.reply;
          if (reply?.kind === "authentication-result") {
            results++;
            expect(event?.type).toBe("SIGN_IN");
            expect(verified).toBe("ok");
            // The token issued with this sign-in is now the enrollment's token.
            expect(event?.type === "SIGN_IN" ? event.issuedToken.hash : null).toBe(after.context.tokenHash);
          }
          if (event?.type === "SIGN_IN") {
            if (!signInStates.includes(String(before.value))) {
              expect(reply).toMatchObject({ kind: "error", code: "sign-in.not-expected" });
            } else if (!event.csrfValid) {
              // A forged form changes nothing.
              expect(reply).toMatchObject({ kind: "error", code: "sign-in.forged" });
              expect(after.value).toEqual(before.value);
              expect(after.context.tokenHash).toBe(before.context.tokenHash);
            } else if (verified === "ok") {
              expect(reply).toEqual({ kind: "authentication-result" });
            } else {
              // SIMPLE-5: no redirect to the callback, and the token that was held is forgotten.
              expect(reply?.kind).not.toBe("authentication-result");
              if (reply?.kind === "sign-in-form") expect(reply.failed).toBe(true);
              expect(after.context.pendingToken).toBeNull();
              expect(after.context.tokenHash === event.issuedToken.hash).toBe(false);
            }
          }
          if (event?.type === "SIGN_IN_PAGE") {
            expect(reply).toEqual(signInStates.includes(String(before.value)) ? { kind: "sign-in-form", failed: false } : { kind: "error", code: "sign-in.not-expected" });
          }
        });
      }),
      { numRuns: 150 },
    );
    expect(results).toBeGreaterThan(0);
  });

  it("ONGOING-7 ONGOING-8 a check-in with a token that is not the current one is never acknowledged, unless it is a CheckOut", () => {
    let refused = 0;
    fc.assert(
      fc.property(commands, (list) => {
        run(list, ({ before, event, after }) => {
          if (event?.type !== "CHECK_IN") return;
          const current = isCurrent(event.authorization, before.context, event.now);
          const reply = after.context.reply;
          if (!current && event.messageType !== "CheckOut") {
            expect(reply?.kind).not.toBe("acknowledged");
            if (reply?.kind === "challenge") {
              refused++;
              expect(reply.ruleId).toBe("ONGOING-7");
              // Refused, and the refusal does not make the presented token current either.
              expect(isCurrent(event.authorization, after.context, event.now)).toBe(false);
            }
          }
          if (event.messageType === "CheckOut" && reply?.kind === "acknowledged") {
            expect(after.value).toBe("checkedOut");
            expect(after.context.tokenHash).toBeNull();
          }
        });
      }),
      { numRuns: 150 },
    );
    expect(refused).toBeGreaterThan(0);
  });

  it("ONGOING-10 after a successful sign-in the previous token no longer authorizes an enroll or a check-in", () => {
    let replaced = 0;
    fc.assert(
      fc.property(commands, clock, (list, now) => {
        run(list, ({ before, after }) => {
          const old = before.context.tokenHash;
          if (after.context.reply?.kind !== "authentication-result" || old === null || old === after.context.tokenHash) return;
          replaced++;
          const bearer: AuthorizationFact = { kind: "bearer", tokenHash: old };
          const enroll = serverSend(after, { type: "ENROLL", authorization: bearer, now, device: serverInput.device });
          expect(isBusy(enroll)).toBe(false);
          expect(enroll.context.reply).toEqual({ kind: "challenge", ruleId: "ENROLL2-2" });
          for (const messageType of ["Authenticate", "TokenUpdate"]) {
            const checkIn = serverSend(after, { type: "CHECK_IN", authorization: bearer, now, ...checkInFacts, messageType, enrollmentId: after.context.enrollmentId });
            expect(checkIn.context.reply?.kind).not.toBe("acknowledged");
          }
        });
      }),
      { numRuns: 150 },
    );
    expect(replaced).toBeGreaterThan(0);
  });

  it("ONGOING-9 an unenrolled enrollment answers every check-in with unrecognized-device, even with its last token", () => {
    let probed = 0;
    fc.assert(
      fc.property(commands, authSpec, clock, fc.constantFrom("Authenticate", "TokenUpdate", "CheckOut", "Idle"), (list, auth, now, messageType) => {
        run(list, ({ before, after }, model) => {
          if (after.value !== "unenrolled") return;
          probed++;
          const presented: AuthorizationFact = auth.kind === "current" && before.context.tokenHash !== null ? { kind: "bearer", tokenHash: before.context.tokenHash } : authorization(auth, after, model);
          const checkIn = serverSend(after, { type: "CHECK_IN", authorization: presented, now, ...checkInFacts, messageType, enrollmentId: after.context.enrollmentId });
          expect(checkIn.value).toBe("unenrolled");
          expect(checkIn.context.reply).toEqual({ kind: "unrecognized-device", ruleId: "ONGOING-9" });
        });
      }),
      { numRuns: 120 },
    );
    expect(probed).toBeGreaterThan(0);
  });

  it("ONGOING-11 once the server invalidates the token, that token authorizes nothing until the person signs in again", () => {
    let probed = 0;
    fc.assert(
      fc.property(commands, (list) => {
        run(list, ({ before, event, after }) => {
          if (event?.type !== "TOKEN_INVALIDATED" || before.context.tokenHash === null) return;
          probed++;
          const bearer: AuthorizationFact = { kind: "bearer", tokenHash: before.context.tokenHash };
          const enroll = serverSend(after, { type: "ENROLL", authorization: bearer, now: 0, device: serverInput.device });
          expect({ state: before.value, busy: isBusy(enroll), reply: enroll.context.reply }).toEqual({
            state: before.value,
            busy: false,
            reply: { kind: "challenge", ruleId: "ENROLL2-2" },
          });
          const checkIn = serverSend(after, { type: "CHECK_IN", authorization: bearer, now: 0, ...checkInFacts, messageType: "Authenticate", enrollmentId: after.context.enrollmentId });
          expect(checkIn.context.reply?.kind).not.toBe("acknowledged");
        });
      }),
      { numRuns: 120 },
    );
    expect(probed).toBeGreaterThan(0);
  });

  it("UNENROLL drops the token and acknowledges; a later enroll with a token starts nothing, without one it starts over", () => {
    fc.assert(
      fc.property(commands, authSpec, clock, (list, auth, now) => {
        run(list, ({ event, after }, model) => {
          if (event?.type !== "UNENROLL") return;
          expect(after.value).toBe("unenrolled");
          expect(after.context.reply).toEqual({ kind: "acknowledged" });
          expect(after.context.tokenHash).toBeNull();
          const enroll = serverSend(after, { type: "ENROLL", authorization: authorization(auth, after, model), now, device: serverInput.device });
          expect(isBusy(enroll)).toBe(false);
          if (auth.kind === "missing") {
            expect(enroll.value).toBe("challenged");
            expect(enroll.context.reply).toEqual({ kind: "challenge", ruleId: "ENROLL-5" });
            expect(enroll.context.enrollmentId).toBeNull();
          } else {
            expect(enroll.value).toBe("unenrolled");
            expect(enroll.context.reply).toEqual({ kind: "challenge", ruleId: "ENROLL2-2" });
          }
        });
      }),
      { numRuns: 100 },
    );
  });
});
