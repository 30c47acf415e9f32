// OAuth 2's storage role over Kysely (PostgreSQL or PGlite, the same SQL; tables from migration
// 007-oauth). What must not happen twice is decided by the database, not by a read before a write:
//  - a code is read and marked redeemed by one UPDATE that matches only an unredeemed code (a
//    concurrent redemption waits on the row lock, then matches nothing: it is the replay);
//  - a rotation is one transaction that locks the family row first (the order a prune's cascade
//    takes too: no deadlock), then claims the used token with `used_at IS NULL` in its UPDATE.
// Every row read back is parsed with Zod into the role's records before it is trusted.
import { sql, type Kysely } from "kysely";
import { z } from "zod";
import { checkedCode, checkedFamily, checkTime } from "./memory-oauth-store.ts";
import { AuthorizationCodeRecord, RefreshFamilyRecord, UntrustedRecordError, type OAuthStore } from "./roles.ts";
import type { Database } from "./schema.ts";

const CODES = "adenroll_oauth_codes";
const FAMILIES = "adenroll_oauth_families";
const TOKENS = "adenroll_oauth_refresh_tokens";

const CODE_COLUMNS = [
  "code_hash",
  "enrollment_ref",
  "client_id",
  "redirect_uri",
  "scope",
  "code_challenge",
  "user_identifier",
  "sealed_access_token",
  "access_token_hash",
  "access_token_expires_at",
  "created_at",
  "expires_at",
  "redeemed_at",
] as const;
const FAMILY_COLUMNS = ["family_id", "enrollment_ref", "client_id", "user_identifier", "scope", "code_hash", "access_token_hash", "created_at", "expires_at", "revoked_at"] as const;

const CodeRow = z.object({
  code_hash: z.string(),
  enrollment_ref: z.string(),
  client_id: z.string(),
  redirect_uri: z.string(),
  scope: z.string().nullable(),
  code_challenge: z.string().nullable(),
  user_identifier: z.string(),
  sealed_access_token: z.string(),
  access_token_hash: z.string(),
  access_token_expires_at: z.date(),
  created_at: z.date(),
  expires_at: z.date(),
  redeemed_at: z.date().nullable(),
});

const FamilyRow = z.object({
  family_id: z.string(),
  enrollment_ref: z.string(),
  client_id: z.string(),
  user_identifier: z.string(),
  scope: z.string().nullable(),
  code_hash: z.string().nullable(),
  access_token_hash: z.string(),
  created_at: z.date(),
  expires_at: z.date(),
  revoked_at: z.date().nullable(),
});

const UsedRow = z.object({ used_at: z.date().nullable() });
const FamilyIdRow = z.object({ family_id: z.string() });

export class SqlOAuthStore implements OAuthStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async putCode(code: AuthorizationCodeRecord): Promise<void> {
    const c = checkedCode(code);
    await this.#db
      .insertInto(CODES)
      .values({
        code_hash: c.codeHash,
        enrollment_ref: c.enrollmentRef,
        client_id: c.clientId,
        redirect_uri: c.redirectUri,
        scope: c.scope,
        code_challenge: c.codeChallenge,
        user_identifier: c.userIdentifier,
        sealed_access_token: c.sealedAccessToken,
        access_token_hash: c.accessTokenHash,
        access_token_expires_at: new Date(c.accessTokenExpiresAt),
        created_at: new Date(c.createdAt),
        expires_at: new Date(c.expiresAt),
        redeemed_at: c.redeemedAt === null ? null : new Date(c.redeemedAt),
      })
      .execute();
  }

  async redeemCode(codeHash: string, at: number): Promise<{ readonly status: "redeemed" | "replayed"; readonly code: AuthorizationCodeRecord } | null> {
    checkTime("at", at);
    // OAUTH-10: the UPDATE claims the code only while unredeemed, so of concurrent redemptions
    // exactly one gets a row (the others wait on its row lock, then find it redeemed). Only a
    // code that was not claimed is read again, to tell a replay from an unknown code.
    const claimed = await this.#db
      .updateTable(CODES)
      .set({ redeemed_at: new Date(at) })
      .where("code_hash", "=", codeHash)
      .where("redeemed_at", "is", null)
      .returning(CODE_COLUMNS)
      .executeTakeFirst();
    if (claimed !== undefined) return { status: "redeemed", code: parseCode(claimed) };
    const stored = await this.#db.selectFrom(CODES).select(CODE_COLUMNS).where("code_hash", "=", codeHash).executeTakeFirst();
    return stored === undefined ? null : { status: "replayed", code: parseCode(stored) };
  }

  async createFamily(family: RefreshFamilyRecord, refreshTokenHash: string): Promise<void> {
    const f = checkedFamily(family);
    if (refreshTokenHash.length === 0) throw new Error("refusing to store an empty refresh token hash");
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto(FAMILIES)
        .values({
          family_id: f.familyId,
          enrollment_ref: f.enrollmentRef,
          client_id: f.clientId,
          user_identifier: f.userIdentifier,
          scope: f.scope,
          code_hash: f.codeHash,
          access_token_hash: f.accessTokenHash,
          created_at: new Date(f.createdAt),
          expires_at: new Date(f.expiresAt),
          revoked_at: f.revokedAt === null ? null : new Date(f.revokedAt),
        })
        .execute();
      await trx.insertInto(TOKENS).values({ token_hash: refreshTokenHash, family_id: f.familyId, created_at: new Date(f.createdAt), used_at: null }).execute();
    });
  }

  async findRefreshToken(refreshTokenHash: string): Promise<{ readonly family: RefreshFamilyRecord; readonly used: boolean } | null> {
    const raw = await this.#db
      .selectFrom(`${TOKENS} as t`)
      .innerJoin(`${FAMILIES} as f`, "f.family_id", "t.family_id")
      .select([...FAMILY_COLUMNS.map((column) => `f.${column}` as const), "t.used_at"])
      .where("t.token_hash", "=", refreshTokenHash)
      .executeTakeFirst();
    if (raw === undefined) return null;
    const used = UsedRow.safeParse(raw);
    if (!used.success) throw new UntrustedRecordError(TOKENS, "refresh token …", `unexpected row: ${summarize(used.error)}`);
    return { family: parseFamily(raw), used: used.data.used_at !== null };
  }

  async rotateRefreshToken(usedHash: string, next: { readonly refreshTokenHash: string; readonly accessTokenHash: string; readonly expiresAt: number }, at: number): Promise<boolean> {
    checkTime("at", at);
    if (next.refreshTokenHash.length === 0 || next.accessTokenHash.length === 0) throw new Error("refusing to rotate to an empty hash");
    checkTime("expiresAt", next.expiresAt);
    return this.#db.transaction().execute(async (trx) => {
      const owner = await trx.selectFrom(TOKENS).select("family_id").where("token_hash", "=", usedHash).executeTakeFirst();
      if (owner === undefined) return false;
      const ownerRow = FamilyIdRow.safeParse(owner);
      if (!ownerRow.success) throw new UntrustedRecordError(TOKENS, "refresh token …", `unexpected row: ${summarize(ownerRow.error)}`);
      const familyId = ownerRow.data.family_id;
      // The family first (a concurrent revocation waits for us, or we see it), then the token.
      const live = await trx.selectFrom(FAMILIES).select("family_id").where("family_id", "=", familyId).where("revoked_at", "is", null).forUpdate().executeTakeFirst();
      if (live === undefined) return false;
      const claimed = await trx
        .updateTable(TOKENS)
        .set({ used_at: new Date(at) })
        .where("token_hash", "=", usedHash)
        .where("used_at", "is", null)
        .returning("token_hash")
        .executeTakeFirst();
      if (claimed === undefined) return false;
      await trx.updateTable(FAMILIES).set({ access_token_hash: next.accessTokenHash, expires_at: new Date(next.expiresAt) }).where("family_id", "=", familyId).execute();
      await trx.insertInto(TOKENS).values({ token_hash: next.refreshTokenHash, family_id: familyId, created_at: new Date(at), used_at: null }).execute();
      return true;
    });
  }

  async revokeFamily(familyId: string, at: number): Promise<boolean> {
    checkTime("at", at);
    const rows = await this.#db.updateTable(FAMILIES).set({ revoked_at: new Date(at) }).where("family_id", "=", familyId).where("revoked_at", "is", null).returning("family_id").execute();
    return rows.length > 0;
  }

  async revokeFamilyOfCode(codeHash: string, at: number): Promise<RefreshFamilyRecord | null> {
    checkTime("at", at);
    // A family revoked already keeps the time it was revoked at.
    const row = await this.#db
      .updateTable(FAMILIES)
      .set({ revoked_at: sql<Date>`coalesce(revoked_at, ${new Date(at)})` })
      .where("code_hash", "=", codeHash)
      .returning(FAMILY_COLUMNS)
      .executeTakeFirst();
    return row === undefined ? null : parseFamily(row);
  }

  async revokeEnrollmentFamilies(enrollmentRef: string, at: number): Promise<number> {
    checkTime("at", at);
    const rows = await this.#db.updateTable(FAMILIES).set({ revoked_at: new Date(at) }).where("enrollment_ref", "=", enrollmentRef).where("revoked_at", "is", null).returning("family_id").execute();
    return rows.length;
  }

  async findFamilyByAccessToken(accessTokenHash: string): Promise<RefreshFamilyRecord | null> {
    const row = await this.#db
      .selectFrom(FAMILIES)
      .select(FAMILY_COLUMNS)
      .where("access_token_hash", "=", accessTokenHash)
      .orderBy("created_at", "desc")
      .orderBy("family_id")
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? null : parseFamily(row);
  }

  async prune(before: number): Promise<void> {
    checkTime("before", before);
    const cutoff = new Date(before);
    await this.#db.deleteFrom(CODES).where("expires_at", "<", cutoff).execute();
    // Their refresh tokens go with them (on delete cascade).
    await this.#db
      .deleteFrom(FAMILIES)
      .where((eb) => eb.or([eb("expires_at", "<", cutoff), eb("revoked_at", "<", cutoff)]))
      .execute();
  }
}

function parseCode(raw: unknown): AuthorizationCodeRecord {
  const row = CodeRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(CODES, "?", `unexpected row: ${summarize(row.error)}`);
  const r = row.data;
  const record = AuthorizationCodeRecord.safeParse({
    codeHash: r.code_hash,
    enrollmentRef: r.enrollment_ref,
    clientId: r.client_id,
    redirectUri: r.redirect_uri,
    scope: r.scope,
    codeChallenge: r.code_challenge,
    userIdentifier: r.user_identifier,
    sealedAccessToken: r.sealed_access_token,
    accessTokenHash: r.access_token_hash,
    accessTokenExpiresAt: r.access_token_expires_at.getTime(),
    createdAt: r.created_at.getTime(),
    expiresAt: r.expires_at.getTime(),
    redeemedAt: r.redeemed_at?.getTime() ?? null,
  });
  if (!record.success) throw new UntrustedRecordError(CODES, codeKey(r.code_hash), summarize(record.error));
  return record.data;
}

function parseFamily(raw: unknown): RefreshFamilyRecord {
  const row = FamilyRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(FAMILIES, "?", `unexpected row: ${summarize(row.error)}`);
  const r = row.data;
  const record = RefreshFamilyRecord.safeParse({
    familyId: r.family_id,
    enrollmentRef: r.enrollment_ref,
    clientId: r.client_id,
    userIdentifier: r.user_identifier,
    scope: r.scope,
    codeHash: r.code_hash,
    accessTokenHash: r.access_token_hash,
    createdAt: r.created_at.getTime(),
    expiresAt: r.expires_at.getTime(),
    revokedAt: r.revoked_at?.getTime() ?? null,
  });
  if (!record.success) throw new UntrustedRecordError(FAMILIES, r.family_id, summarize(record.error));
  return record.data;
}

/** A code in messages: a hash is no credential, but the whole of it is never needed. */
function codeKey(codeHash: string): string {
  return `code ${codeHash.slice(0, 8)}…`;
}

function summarize(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}
