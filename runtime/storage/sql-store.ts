// Every storage role over one Kysely<Database>: PostgreSQL or PGlite, the same SQL.
//
// Enrollment transactions (`transact`) come in two flavours, chosen by who else may write:
//  - "row" (PostgreSQL, possibly several instances): one SQL transaction per call. The enrollment
//    is read with SELECT … FOR UPDATE by the first locator that finds a row, `work` runs while the
//    row lock is held, and the record and its lookup keys are written before COMMIT; a `work` that
//    throws rolls everything back. Two instances creating the same new enrollment both find no row
//    to lock; the later INSERT waits on the unique device_key (or id), fails with unique_violation
//    once the first commits, and the whole transaction is retried (bounded), now finding the row.
//    `work` holds a pooled connection while it runs, so at most pool size − 2 transactions run at
//    once in this process: the rest of the pool stays free for queries `work` itself makes.
//  - "process" (PGlite: one connection, one process): calls are serialized in this process; the
//    row is read, `work` runs with the connection free (so it may use the other roles), and the
//    write is one SQL transaction. Nothing else can write in between.
// Either way a record equal to the one read is not written again (updated_at says when it last
// changed), a record is checked against the machines' schema before it is written, and every row
// read back is parsed with Zod and checked against its own lookup columns before it is trusted.
import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import { z } from "zod";
import { EnrollmentRecord, lookupTokenHash, type EnrollmentLocator } from "../../machines/index.ts";
import {
  AuditEntry,
  UntrustedRecordError,
  UserRecord,
  UserSource,
  userKey,
  type AuditLog,
  type EnrollmentFilter,
  type Enrollments,
  type SignInSessionStore,
  type Storage,
  type StoredEnrollment,
  type UserEntry,
  type UserStore,
} from "./roles.ts";
import { jsonEqual } from "./enrollment-cache.ts";
import type { Database } from "./schema.ts";
import { SqlMdmStore } from "./mdm-store.ts";
import { SqlOAuthStore } from "./oauth-store.ts";

export interface SqlStorageOptions {
  readonly locking: "row" | "process";
  /** Row locking: how many transact() calls may hold a connection at once (default 8). */
  readonly maxConcurrentTransactions?: number;
  /** How many times a transaction that lost a creation race is run in all (default 3). */
  readonly attempts?: number;
  /** The clock for updated_at (default Date.now). */
  readonly now?: () => number;
  /** Releases the database. */
  readonly close: () => Promise<void>;
}

export function createSqlStorage(db: Kysely<Database>, options: SqlStorageOptions): Storage {
  let closed: Promise<void> | undefined;
  return {
    enrollments: new SqlEnrollments(db, options),
    users: new SqlUsers(db, options.now ?? Date.now),
    sessions: new SqlSignInSessions(db),
    audit: new SqlAuditLog(db),
    mdm: new SqlMdmStore(db),
    oauth: new SqlOAuthStore(db),
    close: () => (closed ??= options.close()),
  };
}

// ---------------------------------------------------------------------------------------------
// Enrollments

const ENROLLMENTS = "adenroll_enrollments";
const ROW_COLUMNS = ["id", "device_key", "token_hash", "enrollment_id", "identity_fingerprint", "user_identifier", "state", "context", "updated_at"] as const;

const EnrollmentRow = z.object({
  id: z.string(),
  device_key: z.string(),
  token_hash: z.string().nullable(),
  enrollment_id: z.string().nullable(),
  identity_fingerprint: z.string().nullable(),
  user_identifier: z.string().nullable(),
  state: z.string(),
  context: z.unknown(),
  updated_at: z.date(),
});
type EnrollmentRow = z.infer<typeof EnrollmentRow>;

/** Raised inside a transaction whose INSERT of a new enrollment met a row committed meanwhile. */
class CreationConflict extends Error {
  override readonly name = "CreationConflict";
}

const UniqueViolation = z.object({ code: z.literal("23505") });

type Work<T> = (found: unknown) => Promise<{ readonly save: EnrollmentRecord | null; readonly result: T }>;
type Executor = Kysely<Database> | Transaction<Database>;

class SqlEnrollments implements Enrollments {
  readonly #db: Kysely<Database>;
  readonly #locking: "row" | "process";
  readonly #attempts: number;
  readonly #now: () => number;
  readonly #gate: Semaphore;

  constructor(db: Kysely<Database>, options: SqlStorageOptions) {
    this.#db = db;
    this.#locking = options.locking;
    this.#attempts = Math.max(1, options.attempts ?? 3);
    this.#now = options.now ?? Date.now;
    this.#gate = new Semaphore(options.locking === "process" ? 1 : Math.max(1, options.maxConcurrentTransactions ?? 8));
  }

  transact<T>(locators: readonly EnrollmentLocator[], work: Work<T>): Promise<T> {
    return this.#gate.run(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return this.#locking === "row" ? await this.#rowLocked(locators, work) : await this.#processLocked(locators, work);
        } catch (error) {
          if (!(error instanceof CreationConflict) || attempt >= this.#attempts) throw error;
        }
      }
    });
  }

  async #rowLocked<T>(locators: readonly EnrollmentLocator[], work: Work<T>): Promise<T> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await findRow(trx, locators, true);
      const { save, result } = await work(row === undefined ? null : trustedRecord(row));
      if (save !== null) await this.#write(trx, save, row);
      return result;
    });
  }

  async #processLocked<T>(locators: readonly EnrollmentLocator[], work: Work<T>): Promise<T> {
    const row = await findRow(this.#db, locators, false);
    const { save, result } = await work(row === undefined ? null : trustedRecord(row));
    if (save !== null) await this.#db.transaction().execute((trx) => this.#write(trx, save, row));
    return result;
  }

  async #write(trx: Transaction<Database>, save: EnrollmentRecord, existing: EnrollmentRow | undefined): Promise<void> {
    const checked = EnrollmentRecord.safeParse(save);
    if (!checked.success) throw new Error(`refusing to store an enrollment that fails its schema: ${summarize(checked.error)}`);
    const { context } = save;
    if (existing !== undefined && existing.id !== context.id) {
      throw new Error(`an enrollment's id never changes (stored ${existing.id}, saving ${context.id})`);
    }
    const values = {
      id: context.id,
      device_key: context.deviceKey,
      token_hash: lookupTokenHash(context),
      enrollment_id: context.enrollmentId,
      identity_fingerprint: context.identityFingerprint,
      user_identifier: context.userIdentifier,
      state: save.state,
      context: jsonb(context),
      updated_at: new Date(this.#now()),
    };
    if (existing !== undefined) {
      // Nothing changed (a device enrolling again and challenged again, say): no write, so updated_at
      // keeps saying when the enrollment last changed. The row was trusted: its lookup columns are its context's.
      if (existing.state === save.state && jsonEqual(existing.context, context)) return;
      await trx.updateTable(ENROLLMENTS).set(values).where("id", "=", existing.id).execute();
      return;
    }
    try {
      await trx.insertInto(ENROLLMENTS).values(values).execute();
    } catch (error) {
      if (UniqueViolation.safeParse(error).success) throw new CreationConflict("another transaction created this enrollment first", { cause: error });
      throw error;
    }
  }

  async getEnrollment(id: string): Promise<StoredEnrollment | null> {
    const row = await this.#db.selectFrom(ENROLLMENTS).select(ROW_COLUMNS).where("id", "=", id).executeTakeFirst();
    return row === undefined ? null : storedEnrollment(row);
  }

  async findEnrollmentByTokenHash(tokenHash: string): Promise<StoredEnrollment | null> {
    const row = await this.#db.selectFrom(ENROLLMENTS).select(ROW_COLUMNS).where("token_hash", "=", tokenHash).executeTakeFirst();
    return row === undefined ? null : storedEnrollment(row);
  }

  async listEnrollments(filter: EnrollmentFilter = {}): Promise<StoredEnrollment[]> {
    let query = this.#db.selectFrom(ENROLLMENTS).select(ROW_COLUMNS);
    if (filter.state !== undefined) query = query.where("state", "=", filter.state);
    if (filter.userIdentifier !== undefined) query = query.where("user_identifier", "=", filter.userIdentifier);
    const rows = await query.orderBy("updated_at", "desc").orderBy("id").limit(limitOf(filter.limit)).execute();
    return rows.map(storedEnrollment);
  }
}

/** The row the first locator finds, locked FOR UPDATE when asked. */
async function findRow(db: Executor, locators: readonly EnrollmentLocator[], lock: boolean): Promise<EnrollmentRow | undefined> {
  for (const locator of locators) {
    let query = db.selectFrom(ENROLLMENTS).select(ROW_COLUMNS);
    switch (locator.by) {
      case "id":
        query = query.where("id", "=", locator.id);
        break;
      case "device-key":
        query = query.where("device_key", "=", locator.deviceKey);
        break;
      case "token-hash":
        query = query.where("token_hash", "=", locator.tokenHash);
        break;
      case "enrollment-id":
        query = query.where("enrollment_id", "=", locator.enrollmentId);
        break;
      case "identity":
        query = query.where("identity_fingerprint", "=", locator.fingerprint);
        break;
    }
    const raw = await (lock ? query.forUpdate() : query).executeTakeFirst();
    if (raw === undefined) continue;
    const row = EnrollmentRow.safeParse(raw);
    if (!row.success) throw new UntrustedRecordError(ENROLLMENTS, locatorText(locator), `unexpected row: ${summarize(row.error)}`);
    return row.data;
  }
  return undefined;
}

/**
 * What `work` is handed: the stored record as it was written (not Zod's stripped copy), once it
 * parses and agrees with its row's lookup columns.
 */
function trustedRecord(row: EnrollmentRow): unknown {
  const checked = checkEnrollment(row);
  if (!checked.ok) throw new UntrustedRecordError(ENROLLMENTS, row.id, checked.problem);
  return { state: row.state, context: row.context };
}

function storedEnrollment(raw: unknown): StoredEnrollment {
  const row = EnrollmentRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(ENROLLMENTS, "?", `unexpected row: ${summarize(row.error)}`);
  const { id, updated_at } = row.data;
  const checked = checkEnrollment(row.data);
  return checked.ok
    ? { trusted: true, id, updatedAt: updated_at.getTime(), record: checked.record }
    : { trusted: false, id, updatedAt: updated_at.getTime(), problem: checked.problem };
}

function checkEnrollment(row: EnrollmentRow): { ok: true; record: EnrollmentRecord } | { ok: false; problem: string } {
  const parsed = EnrollmentRecord.safeParse({ state: row.state, context: row.context });
  if (!parsed.success) return { ok: false, problem: `fails the enrollment schema: ${summarize(parsed.error)}` };
  const { context } = parsed.data;
  const mismatches = [
    row.id === context.id ? null : "id",
    row.device_key === context.deviceKey ? null : "device_key",
    row.token_hash === lookupTokenHash(context) ? null : "token_hash",
    row.enrollment_id === context.enrollmentId ? null : "enrollment_id",
    row.identity_fingerprint === context.identityFingerprint ? null : "identity_fingerprint",
    row.user_identifier === context.userIdentifier ? null : "user_identifier",
  ].filter((column) => column !== null);
  if (mismatches.length > 0) return { ok: false, problem: `its lookup columns disagree with its context: ${mismatches.join(", ")}` };
  return { ok: true, record: parsed.data };
}

function locatorText(locator: EnrollmentLocator): string {
  switch (locator.by) {
    case "id":
      return locator.id;
    case "device-key":
      return `device-key ${locator.deviceKey}`;
    case "token-hash":
      return "token-hash …";
    case "enrollment-id":
      return `enrollment-id ${locator.enrollmentId}`;
    case "identity":
      return `identity ${locator.fingerprint}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Users

const USERS = "adenroll_users";

const UserRow = z.object({
  user_key: z.string(),
  user_identifier: z.string(),
  managed_apple_id: z.string(),
  password: z.unknown(),
  enrollment_type: z.string().nullable(),
});

class SqlUsers implements UserStore {
  readonly #db: Kysely<Database>;
  readonly #now: () => number;

  constructor(db: Kysely<Database>, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  async get(userIdentifier: string): Promise<UserRecord | null> {
    const row = await this.#db.selectFrom(USERS).selectAll().where("user_key", "=", userKey(userIdentifier)).executeTakeFirst();
    return row === undefined ? null : parseUser(row);
  }

  async upsert(user: UserRecord, options: { readonly source?: UserSource } = {}): Promise<void> {
    // Without a source the column is not named: a new row gets its default ('config').
    const values = { ...this.#values(user), ...(options.source === undefined ? {} : { source: options.source }) };
    await this.#db
      .insertInto(USERS)
      .values({ user_key: userKey(values.user_identifier), ...values })
      .onConflict((conflict) => conflict.column("user_key").doUpdateSet(values))
      .execute();
  }

  async create(user: UserRecord, source: UserSource): Promise<boolean> {
    const values = this.#values(user);
    const rows = await this.#db
      .insertInto(USERS)
      .values({ user_key: userKey(values.user_identifier), ...values, source })
      .onConflict((conflict) => conflict.column("user_key").doNothing())
      .returning("user_key")
      .execute();
    return rows.length > 0;
  }

  async entry(userIdentifier: string): Promise<UserEntry | null> {
    const row = await this.#db.selectFrom(USERS).selectAll().where("user_key", "=", userKey(userIdentifier)).executeTakeFirst();
    return row === undefined ? null : parseEntry(row);
  }

  async entries(): Promise<UserEntry[]> {
    const rows = await this.#db.selectFrom(USERS).selectAll().orderBy("user_key").execute();
    return rows.map(parseEntry);
  }

  #values(user: UserRecord) {
    const checked = UserRecord.safeParse(user);
    if (!checked.success) throw new Error(`refusing to store a user that fails its schema: ${summarize(checked.error)}`);
    return {
      user_identifier: checked.data.userIdentifier,
      managed_apple_id: checked.data.managedAppleId,
      password: checked.data.password === null ? null : jsonb(checked.data.password),
      enrollment_type: checked.data.enrollmentType ?? null,
      updated_at: new Date(this.#now()),
    };
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom(USERS).selectAll().orderBy("user_key").execute();
    return rows.map(parseUser);
  }

  async remove(userIdentifier: string): Promise<boolean> {
    const rows = await this.#db.deleteFrom(USERS).where("user_key", "=", userKey(userIdentifier)).returning("user_key").execute();
    return rows.length > 0;
  }
}

function parseUser(raw: unknown): UserRecord {
  const row = UserRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(USERS, "?", `unexpected row: ${summarize(row.error)}`);
  const { user_key, user_identifier, managed_apple_id, password, enrollment_type } = row.data;
  const user = UserRecord.safeParse({
    userIdentifier: user_identifier,
    managedAppleId: managed_apple_id,
    password,
    ...(enrollment_type === null ? {} : { enrollmentType: enrollment_type }),
  });
  if (!user.success) throw new UntrustedRecordError(USERS, user_key, summarize(user.error));
  if (userKey(user.data.userIdentifier) !== user_key) throw new UntrustedRecordError(USERS, user_key, "its key disagrees with its identifier");
  return user.data;
}

const SourceRow = z.object({ user_key: z.string(), source: UserSource });

function parseEntry(raw: unknown): UserEntry {
  const row = SourceRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(USERS, "?", `unexpected row: ${summarize(row.error)}`);
  return { user: parseUser(raw), source: row.data.source };
}

// ---------------------------------------------------------------------------------------------
// Sign-in sessions

const Count = z.object({ n: z.number().int() });
const ConsumedNonce = z.object({ expires_at: z.date() });

class SqlSignInSessions implements SignInSessionStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async recordFailure(key: string, at: number): Promise<void> {
    await this.#db.insertInto("adenroll_sign_in_failures").values({ key, at: new Date(at) }).execute();
  }

  async countFailures(key: string, since: number): Promise<number> {
    const row = await this.#db
      .selectFrom("adenroll_sign_in_failures")
      .select(sql<number>`cast(count(*) as integer)`.as("n"))
      .where("key", "=", key)
      .where("at", ">=", new Date(since))
      .executeTakeFirst();
    const count = Count.safeParse(row);
    if (!count.success) throw new Error(`unexpected count of sign-in failures: ${summarize(count.error)}`);
    return count.data.n;
  }

  async clear(key: string): Promise<void> {
    await this.#db.deleteFrom("adenroll_sign_in_failures").where("key", "=", key).execute();
  }

  async issue(nonce: string, expiresAt: number): Promise<void> {
    await this.#db.insertInto("adenroll_csrf_nonces").values({ nonce, expires_at: new Date(expiresAt) }).execute();
  }

  async consume(nonce: string, at: number): Promise<boolean> {
    // DELETE … RETURNING: of two concurrent consumers, exactly one gets the row.
    const rows = await this.#db.deleteFrom("adenroll_csrf_nonces").where("nonce", "=", nonce).returning("expires_at").execute();
    const row = ConsumedNonce.safeParse(rows[0]);
    return row.success && row.data.expires_at.getTime() > at;
  }

  async prune(before: number): Promise<void> {
    await this.#db.deleteFrom("adenroll_sign_in_failures").where("at", "<", new Date(before)).execute();
    await this.#db.deleteFrom("adenroll_csrf_nonces").where("expires_at", "<=", new Date(before)).execute();
  }
}

// ---------------------------------------------------------------------------------------------
// Audit

const AuditRow = z.object({ at: z.date(), actor: z.string(), action: z.string(), subject: z.string(), detail: z.json() });

class SqlAuditLog implements AuditLog {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async append(entry: AuditEntry): Promise<void> {
    const checked = AuditEntry.safeParse(entry);
    if (!checked.success) throw new Error(`refusing to append an audit entry that fails its schema: ${summarize(checked.error)}`);
    const { at, actor, action, subject, detail } = checked.data;
    await this.#db.insertInto("adenroll_audit_log").values({ at: new Date(at), actor, action, subject, detail: jsonb(detail) }).execute();
  }

  async list(options: { readonly limit?: number } = {}): Promise<AuditEntry[]> {
    const rows = await this.#db
      .selectFrom("adenroll_audit_log")
      .select(["at", "actor", "action", "subject", "detail"])
      .orderBy("at", "desc")
      .orderBy("id", "desc")
      .limit(limitOf(options.limit))
      .execute();
    return rows.map((raw) => {
      const row = AuditRow.safeParse(raw);
      if (!row.success) throw new UntrustedRecordError("adenroll_audit_log", "?", summarize(row.error));
      return { ...row.data, at: row.data.at.getTime() };
    });
  }
}

// ---------------------------------------------------------------------------------------------

/** A JSON value for a jsonb column: sent as text and cast, the same on node-postgres and PGlite. */
function jsonb(value: unknown): RawBuilder<string> {
  return sql<string>`cast(cast(${JSON.stringify(value)} as text) as jsonb)`;
}

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a limit is a positive integer, not ${limit}`);
  return limit;
}

function summarize(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}

/** At most `size` callers run at once; the others wait in order. */
class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#free++;
      else next();
    }
  }
}
