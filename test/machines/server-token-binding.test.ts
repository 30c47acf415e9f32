// A token authorizes its own enrollment only (ONGOING-7 "bound to another enrollment").
import { describe, expect, it } from "vitest";
import { parseEnrollmentProfile } from "../../spec/index.ts";
import { profileBody, serverDone, serverSend, serverStart, type ServerSnapshot } from "../support/drive.ts";
import { checkInFacts } from "../support/drive.ts";

function enrolled(): ServerSnapshot {
  const now = 1_000;
  let s = serverStart();
  s = serverSend(s, { type: "ENROLL", authorization: { kind: "missing" }, now, device: { PRODUCT: "iPhone12,1", VERSION: "19H12", LANGUAGE: "en" } });
  s = serverSend(s, { type: "SIGN_IN", username: "alice@example.com", password: "pw", issuedToken: { hash: "hash-1", expiresAt: now + 3_600_000 }, csrfValid: true });
  s = serverDone(s, "verifyingCredentials", { ok: true, userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com" });
  s = serverSend(s, { type: "ENROLL", authorization: { kind: "bearer", tokenHash: "hash-1" }, now, device: { PRODUCT: "iPhone12,1", VERSION: "19H12", LANGUAGE: "en" } });
  const profile = parseEnrollmentProfile(profileBody());
  if (!profile.ok) throw new Error("the harness profile must parse");
  s = serverDone(s, "buildingProfile", { profile: profile.value });
  expect(s.value).toBe("profileDelivered");
  s = serverSend(s, { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "hash-1" }, now, ...checkInFacts, messageType: "Authenticate", enrollmentId: "E-1" });
  return s;
}

describe("token binding", () => {
  it("ONGOING-7 a valid token presented by a check-in that names another enrollment is challenged, and the enrollment keeps its identity", () => {
    const s = enrolled();
    expect(s.value).toBe("enrolled");
    expect(s.context.enrollmentId).toBe("E-1");
    const foreign = serverSend(s, { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "hash-1" }, now: 2_000, ...checkInFacts, messageType: "TokenUpdate", enrollmentId: "E-2" });
    expect(foreign.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
    expect(foreign.context.enrollmentId).toBe("E-1");
  });

  it("ONGOING-7 the same token with the enrollment's own identity is acknowledged", () => {
    const s = serverSend(enrolled(), { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "hash-1" }, now: 2_000, ...checkInFacts, messageType: "TokenUpdate", enrollmentId: "E-1" });
    expect(s.context.reply).toEqual({ kind: "acknowledged" });
    expect(s.value).toBe("enrolled");
  });
});

describe("CheckOut", () => {
  const checkOut = (s: ServerSnapshot, authorization: { kind: "missing" } | { kind: "bearer"; tokenHash: string }) =>
    serverSend(s, { type: "CHECK_IN", authorization, now: 2_000, ...checkInFacts, messageType: "CheckOut", enrollmentId: "E-1" });

  it("ONGOING-8 a CheckOut with a stale token of this enrollment is accepted", () => {
    let s = enrolled();
    s = serverSend(s, { type: "TOKEN_INVALIDATED" });
    expect(s.value).toBe("tokenInvalidated");
    s = checkOut(s, { kind: "bearer", tokenHash: "hash-1" });
    expect(s.value).toBe("checkedOut");
    expect(s.context.reply).toEqual({ kind: "acknowledged" });
  });

  it("ONGOING-8 a CheckOut with no token, or one this enrollment never had, does not check the device out", () => {
    for (const authorization of [{ kind: "missing" } as const, { kind: "bearer", tokenHash: "someone-else" } as const]) {
      const s = checkOut(enrolled(), authorization);
      expect(s.value).toBe("enrolled");
      expect(s.context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
      expect(s.context.tokenHash).toBe("hash-1");
    }
  });
});
