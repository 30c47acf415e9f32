// OAuth 2's storage role in memory, for hosts without a database (tests, a server host without
// storage). The same contract as SqlOAuthStore (runtime/storage/oauth-store.ts), and the same
// refusals: each method does its reading and writing without an await in between, so in one
// process it is as atomic as the SQL store's statements and transactions. Records are copied in
// and out, so a caller can never alias stored state.
import { z } from "zod";
import { AuthorizationCodeRecord, RefreshFamilyRecord, type OAuthStore } from "./roles.ts";

interface RefreshToken {
  readonly familyId: string;
  readonly createdAt: number;
  usedAt: number | null;
}

export class MemoryOAuthStore implements OAuthStore {
  readonly #codes = new Map<string, AuthorizationCodeRecord>();
  readonly #families = new Map<string, RefreshFamilyRecord>();
  readonly #tokens = new Map<string, RefreshToken>();
  /** Code hash → the family issued from it (one at most). */
  readonly #familyByCode = new Map<string, string>();

  async putCode(code: AuthorizationCodeRecord): Promise<void> {
    const checked = checkedCode(code);
    if (this.#codes.has(checked.codeHash)) throw new Error("an authorization code with this hash is stored already");
    this.#codes.set(checked.codeHash, { ...checked });
  }

  async redeemCode(codeHash: string, at: number): Promise<{ readonly status: "redeemed" | "replayed"; readonly code: AuthorizationCodeRecord } | null> {
    checkTime("at", at);
    const code = this.#codes.get(codeHash);
    if (code === undefined) return null;
    if (code.redeemedAt !== null) return { status: "replayed", code: { ...code } };
    const redeemed = { ...code, redeemedAt: at };
    this.#codes.set(codeHash, redeemed);
    return { status: "redeemed", code: { ...redeemed } };
  }

  async createFamily(family: RefreshFamilyRecord, refreshTokenHash: string): Promise<void> {
    const checked = checkedFamily(family);
    if (refreshTokenHash.length === 0) throw new Error("refusing to store an empty refresh token hash");
    if (this.#families.has(checked.familyId)) throw new Error(`a refresh-token family ${checked.familyId} is stored already`);
    if (checked.codeHash !== null && this.#familyOfCode(checked.codeHash) !== undefined) throw new Error("a family was issued from this code already");
    if (this.#tokens.has(refreshTokenHash)) throw new Error("a refresh token with this hash is stored already");
    this.#families.set(checked.familyId, { ...checked });
    if (checked.codeHash !== null) this.#familyByCode.set(checked.codeHash, checked.familyId);
    this.#tokens.set(refreshTokenHash, { familyId: checked.familyId, createdAt: checked.createdAt, usedAt: null });
  }

  async findRefreshToken(refreshTokenHash: string): Promise<{ readonly family: RefreshFamilyRecord; readonly used: boolean } | null> {
    const token = this.#tokens.get(refreshTokenHash);
    const family = token === undefined ? undefined : this.#families.get(token.familyId);
    if (token === undefined || family === undefined) return null;
    return { family: { ...family }, used: token.usedAt !== null };
  }

  async rotateRefreshToken(usedHash: string, next: { readonly refreshTokenHash: string; readonly accessTokenHash: string; readonly expiresAt: number }, at: number): Promise<boolean> {
    checkTime("at", at);
    if (next.refreshTokenHash.length === 0 || next.accessTokenHash.length === 0) throw new Error("refusing to rotate to an empty hash");
    checkTime("expiresAt", next.expiresAt);
    const token = this.#tokens.get(usedHash);
    const family = token === undefined ? undefined : this.#families.get(token.familyId);
    if (token === undefined || family === undefined || family.revokedAt !== null || token.usedAt !== null) return false;
    if (this.#tokens.has(next.refreshTokenHash)) throw new Error("a refresh token with this hash is stored already");
    token.usedAt = at;
    this.#families.set(family.familyId, { ...family, accessTokenHash: next.accessTokenHash, expiresAt: next.expiresAt });
    this.#tokens.set(next.refreshTokenHash, { familyId: family.familyId, createdAt: at, usedAt: null });
    return true;
  }

  async revokeFamily(familyId: string, at: number): Promise<boolean> {
    checkTime("at", at);
    const family = this.#families.get(familyId);
    if (family === undefined || family.revokedAt !== null) return false;
    this.#families.set(familyId, { ...family, revokedAt: at });
    return true;
  }

  async revokeFamilyOfCode(codeHash: string, at: number): Promise<RefreshFamilyRecord | null> {
    checkTime("at", at);
    const family = this.#familyOfCode(codeHash);
    if (family === undefined) return null;
    // A family revoked already keeps the time it was revoked at.
    const revoked = { ...family, revokedAt: family.revokedAt ?? at };
    this.#families.set(family.familyId, revoked);
    return { ...revoked };
  }

  async revokeEnrollmentFamilies(enrollmentRef: string, at: number): Promise<number> {
    checkTime("at", at);
    let count = 0;
    for (const family of this.#families.values()) {
      if (family.enrollmentRef !== enrollmentRef || family.revokedAt !== null) continue;
      this.#families.set(family.familyId, { ...family, revokedAt: at });
      count++;
    }
    return count;
  }

  async findFamilyByAccessToken(accessTokenHash: string): Promise<RefreshFamilyRecord | null> {
    // As the SQL store orders them: the newest, then by family id.
    let found: RefreshFamilyRecord | undefined;
    for (const family of this.#families.values()) {
      if (family.accessTokenHash !== accessTokenHash) continue;
      if (found === undefined || family.createdAt > found.createdAt || (family.createdAt === found.createdAt && family.familyId < found.familyId)) found = family;
    }
    return found === undefined ? null : { ...found };
  }

  async prune(before: number): Promise<void> {
    checkTime("before", before);
    for (const [hash, code] of this.#codes) if (code.expiresAt < before) this.#codes.delete(hash);
    for (const [id, family] of this.#families) {
      if (family.expiresAt < before || (family.revokedAt !== null && family.revokedAt < before)) {
        this.#families.delete(id);
        if (family.codeHash !== null) this.#familyByCode.delete(family.codeHash);
      }
    }
    for (const [hash, token] of this.#tokens) if (!this.#families.has(token.familyId)) this.#tokens.delete(hash);
  }

  #familyOfCode(codeHash: string): RefreshFamilyRecord | undefined {
    const id = this.#familyByCode.get(codeHash);
    return id === undefined ? undefined : this.#families.get(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared with SqlOAuthStore: both backends refuse the same records.

/** A code that fails its schema, or with a time a timestamptz would not keep exactly, is refused. */
export function checkedCode(code: AuthorizationCodeRecord): AuthorizationCodeRecord {
  const checked = AuthorizationCodeRecord.safeParse(code);
  if (!checked.success) throw new Error(`refusing to store an authorization code that fails its schema: ${summarize(checked.error)}`);
  const c = checked.data;
  checkTime("accessTokenExpiresAt", c.accessTokenExpiresAt);
  checkTime("createdAt", c.createdAt);
  checkTime("expiresAt", c.expiresAt);
  if (c.redeemedAt !== null) checkTime("redeemedAt", c.redeemedAt);
  return c;
}

/** A family that fails its schema, or with a time a timestamptz would not keep exactly, is refused. */
export function checkedFamily(family: RefreshFamilyRecord): RefreshFamilyRecord {
  const checked = RefreshFamilyRecord.safeParse(family);
  if (!checked.success) throw new Error(`refusing to store a refresh-token family that fails its schema: ${summarize(checked.error)}`);
  const f = checked.data;
  checkTime("createdAt", f.createdAt);
  checkTime("expiresAt", f.expiresAt);
  if (f.revokedAt !== null) checkTime("revokedAt", f.revokedAt);
  return f;
}

/** Times are whole milliseconds since the epoch, from 1970 to as far as a Date reaches: a timestamptz keeps them exactly. */
export function checkTime(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 8.64e15) throw new RangeError(`${name} is whole milliseconds since the epoch, not ${ms}`);
}

function summarize(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}
