// The schema's history: an ordered list of migrations, each applied once and recorded in
// `adenroll_migrations`. `migrate` runs at every start; it is idempotent, and safe when several
// instances start at once against one PostgreSQL: the whole run is one transaction holding a
// transaction-scoped advisory lock, so a second instance waits, then finds everything applied.
// (PGlite is single-connection, so the lock is merely harmless there.) PostgreSQL's DDL is
// transactional: a migration that fails leaves the schema as it was.
//
// Never edit a migration that has shipped; add the next one.
import { sql, type Kysely } from "kysely";
import { z } from "zod";
import type { Database } from "./schema.ts";

export interface Migration {
  /** Sortable and unique: "001-…", "002-…". */
  readonly id: string;
  up(db: Kysely<Database>): Promise<void>;
}

/** Runs each statement in order (PGlite's extended protocol takes one statement per query). */
function statements(...list: readonly string[]): Migration["up"] {
  return async (db) => {
    for (const statement of list) await sql.raw(statement).execute(db);
  };
}

export const migrations: readonly Migration[] = [
  {
    id: "001-enrollments-users",
    up: statements(
      `create table adenroll_enrollments (
        id text primary key,
        device_key text not null,
        token_hash text,
        enrollment_id text,
        user_identifier text,
        state text not null,
        context jsonb not null,
        updated_at timestamptz not null,
        constraint adenroll_enrollments_device_key unique (device_key)
      )`,
      `create unique index adenroll_enrollments_token_hash on adenroll_enrollments (token_hash) where token_hash is not null`,
      `create unique index adenroll_enrollments_enrollment_id on adenroll_enrollments (enrollment_id) where enrollment_id is not null`,
      `create table adenroll_users (
        user_key text primary key,
        user_identifier text not null,
        managed_apple_id text not null,
        password jsonb,
        enrollment_type text check (enrollment_type in ('mdm-byod', 'mdm-adde')),
        updated_at timestamptz not null
      )`,
    ),
  },
  {
    id: "002-sign-in-sessions-audit",
    up: statements(
      `create table adenroll_sign_in_failures (
        id bigint generated always as identity primary key,
        key text not null,
        at timestamptz not null
      )`,
      `create index adenroll_sign_in_failures_key_at on adenroll_sign_in_failures (key, at)`,
      `create table adenroll_csrf_nonces (
        nonce text primary key,
        expires_at timestamptz not null
      )`,
      `create index adenroll_csrf_nonces_expires_at on adenroll_csrf_nonces (expires_at)`,
      `create table adenroll_audit_log (
        id bigint generated always as identity primary key,
        at timestamptz not null,
        actor text not null,
        action text not null,
        subject text not null,
        detail jsonb not null
      )`,
      `create index adenroll_audit_log_newest on adenroll_audit_log (at desc, id desc)`,
      `create index adenroll_enrollments_user_identifier on adenroll_enrollments (user_identifier)`,
    ),
  },
];

/** The advisory lock every migrating instance takes ("aden" in ASCII). */
const MIGRATION_LOCK = 0x6164656e;

const AppliedRow = z.object({ id: z.string() });

export interface MigrationRun {
  /** The ids applied by this run, in order (empty when the schema was already current). */
  readonly applied: string[];
}

/**
 * Brings the database up to `list` (all migrations by default; tests pass a prefix to build an
 * earlier schema). Fails, changing nothing, when the database records a migration this code does
 * not know (a newer adenroll migrated it) or when the list is out of order.
 */
export async function migrate(db: Kysely<Database>, list: readonly Migration[] = migrations): Promise<MigrationRun> {
  for (let i = 1; i < list.length; i++) {
    const previous = list[i - 1];
    const current = list[i];
    if (previous !== undefined && current !== undefined && previous.id >= current.id) {
      throw new Error(`migrations out of order: ${previous.id} before ${current.id}`);
    }
  }
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK)})`.execute(trx);
    await sql`create table if not exists adenroll_migrations (id text primary key, applied_at timestamptz not null)`.execute(trx);
    const rows = await trx.selectFrom("adenroll_migrations").select("id").execute();
    const done = new Set<string>();
    for (const row of rows) {
      const parsed = AppliedRow.safeParse(row);
      if (!parsed.success) throw new Error("adenroll_migrations holds a row without a text id");
      done.add(parsed.data.id);
    }
    const known = new Set(migrations.map((m) => m.id));
    const unknown = [...done].filter((id) => !known.has(id)).sort();
    if (unknown.length > 0) {
      throw new Error(`the database was migrated by a newer adenroll (unknown migrations: ${unknown.join(", ")}); refusing to run against it`);
    }
    const applied: string[] = [];
    for (const migration of list) {
      if (done.has(migration.id)) continue;
      await migration.up(trx);
      await trx.insertInto("adenroll_migrations").values({ id: migration.id, applied_at: new Date() }).execute();
      applied.push(migration.id);
    }
    return { applied };
  });
}
