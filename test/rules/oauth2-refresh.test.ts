// The server machine's side of OAuth 2 refresh (OAUTH-14) and of revoking one token (ONGOING-11):
// the machine alone, through xstate's transition().
import { describe, expect, it } from "vitest";
import { testProfile, serverDone, serverSend, serverStart, checkInFacts, type ServerSnapshot } from "../support/drive.ts";

const alice = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com" };
const device = { PRODUCT: "iPhone12,1", VERSION: "19H12", LANGUAGE: "ja-JP" };

/** An enrollment that signed in with token h1 (valid until 5 000) and checked in: enrolled. */
function enrolledWith(tokenHash = "h1"): ServerSnapshot {
  let s = serverStart();
  s = serverSend(s, { type: "ENROLL", authorization: { kind: "missing" }, now: 1, device });
  s = serverSend(s, { type: "SIGN_IN", username: alice.userIdentifier, password: "pw", issuedToken: { hash: tokenHash, expiresAt: 5_000 }, csrfValid: true });
  s = serverDone(s, "verifyingCredentials", { ok: true, ...alice });
  s = serverSend(s, { type: "ENROLL", authorization: { kind: "bearer", tokenHash }, now: 2, device });
  s = serverDone(s, "buildingProfile", { profile: testProfile({ managedAppleId: alice.managedAppleId }) });
  s = serverSend(s, { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash }, now: 3, ...checkInFacts, messageType: "Authenticate", enrollmentId: "E-1" });
  expect(s.value).toBe("enrolled");
  return s;
}

const checkIn = (s: ServerSnapshot, tokenHash: string, now: number) =>
  serverSend(s, { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash }, now, ...checkInFacts, messageType: "TokenUpdate", enrollmentId: "E-1" });

describe("OAuth 2 refresh on the server machine", () => {
  it("OAUTH-14 a refresh of the enrollment's current token replaces it: the new one authorizes, the old one only checks out", () => {
    let s = enrolledWith("h1");
    // Expired: refresh is what the device does about it.
    expect(checkIn(s, "h1", 6_000).context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
    s = serverSend(s, { type: "TOKEN_REFRESHED", issuedToken: { hash: "h2", expiresAt: 9_000 }, previousTokenHash: "h1" });
    expect(s.value).toBe("enrolled");
    expect(s.context.reply).toEqual({ kind: "acknowledged" });
    expect([s.context.tokenHash, s.context.tokenExpiresAt, s.context.retiredTokenHashes[0]]).toEqual(["h2", 9_000, "h1"]);
    expect(checkIn(s, "h2", 6_000).context.reply).toEqual({ kind: "acknowledged" });
    expect(checkIn(s, "h1", 6_000).context.reply).toEqual({ kind: "challenge", ruleId: "ONGOING-7" });
    const checkOut = serverSend(s, { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: "h1" }, now: 6_000, ...checkInFacts, messageType: "CheckOut", enrollmentId: "E-1" });
    expect(checkOut.value).toBe("checkedOut");
  });

  it("OAUTH-14 a refresh is refused once the token was invalidated, or replaced by a newer sign-in: the person signs in again", () => {
    const revoked = serverSend(enrolledWith("h1"), { type: "TOKEN_INVALIDATED" });
    const refused = serverSend(revoked, { type: "TOKEN_REFRESHED", issuedToken: { hash: "h2", expiresAt: 9_000 }, previousTokenHash: "h1" });
    expect(refused.value).toBe("tokenInvalidated");
    expect(refused.context.reply).toEqual({ kind: "error", code: "oauth2.invalid-grant", ruleId: "OAUTH-14" });
    expect(refused.context.tokenHash).toBeNull();

    // A newer sign-in (h3) replaced h1: the old family's refresh does not bring h1's successor back.
    let s = serverSend(enrolledWith("h1"), { type: "SIGN_IN", username: alice.userIdentifier, password: "pw", issuedToken: { hash: "h3", expiresAt: 9_000 }, csrfValid: true });
    s = serverDone(s, "verifyingCredentials", { ok: true, ...alice });
    expect(s.value).toBe("reauthenticated");
    const stale = serverSend(s, { type: "TOKEN_REFRESHED", issuedToken: { hash: "h2", expiresAt: 9_000 }, previousTokenHash: "h1" });
    expect(stale.context.reply).toEqual({ kind: "error", code: "oauth2.invalid-grant", ruleId: "OAUTH-14" });
    expect(stale.context.tokenHash).toBe("h3");

    // Before any sign-in there is nothing to refresh.
    const fresh = serverSend(serverStart(), { type: "TOKEN_REFRESHED", issuedToken: { hash: "h2", expiresAt: 9_000 }, previousTokenHash: "h1" });
    expect(fresh.context.reply).toEqual({ kind: "error", code: "oauth2.invalid-grant", ruleId: "OAUTH-14" });
    expect(fresh.value).toBe("new");
  });

  it("ONGOING-11 invalidating one named token leaves an enrollment that has another one as it is", () => {
    const s = enrolledWith("h1");
    const other = serverSend(s, { type: "TOKEN_INVALIDATED", tokenHash: "h-elsewhere" });
    expect([other.value, other.context.tokenHash]).toEqual(["enrolled", "h1"]);
    const named = serverSend(s, { type: "TOKEN_INVALIDATED", tokenHash: "h1" });
    expect([named.value, named.context.tokenHash]).toEqual(["tokenInvalidated", null]);
  });
});
