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
  {
    // Where a user comes from: the configuration file (seeded at every start, removed when the file
    // no longer names it) or administration (kept across restarts). Rows before this are config's.
    id: "003-users-source",
    up: statements(`alter table adenroll_users add column source text not null default 'config' check (source in ('config', 'admin'))`),
  },
  {
    // Every instance's enrollment cache (runtime/storage/enrollment-cache.ts) hears of every write:
    // the id of each inserted, updated or deleted row, delivered at commit to every LISTENer; ""
    // after a TRUNCATE (everything). Writes made outside adenroll are announced too.
    id: "004-enrollment-notify",
    up: statements(
      `create function adenroll_enrollments_notify() returns trigger language plpgsql as $$
      begin
        if tg_op = 'TRUNCATE' then
          perform pg_notify('adenroll_enrollments', '');
        elsif tg_op = 'DELETE' then
          perform pg_notify('adenroll_enrollments', old.id);
        else
          perform pg_notify('adenroll_enrollments', new.id);
          if tg_op = 'UPDATE' and old.id <> new.id then
            perform pg_notify('adenroll_enrollments', old.id);
          end if;
        end if;
        return null;
      end
      $$`,
      `create trigger adenroll_enrollments_notify after insert or update or delete on adenroll_enrollments
        for each row execute function adenroll_enrollments_notify()`,
      `create trigger adenroll_enrollments_notify_truncate after truncate on adenroll_enrollments
        for each statement execute function adenroll_enrollments_notify()`,
    ),
  },
  {
    // ONGOING-12: a Mac's device channel has no token; it is found by the identity that signed it.
    id: "005-identity-fingerprint",
    up: statements(
      `alter table adenroll_enrollments add column identity_fingerprint text`,
      `create unique index adenroll_enrollments_identity_fingerprint on adenroll_enrollments (identity_fingerprint) where identity_fingerprint is not null`,
    ),
  },
  {
    // The built-in MDM (runtime/mdm.ts): each enrollment's last Authenticate/TokenUpdate facts and
    // its command queue. No UnlockToken or bootstrap token column: those secrets are never kept.
    // enrollment_ref names adenroll_enrollments.id without a foreign key (a TRUNCATE of the
    // enrollments must not need a cascade).
    id: "006-mdm",
    up: statements(
      `create table adenroll_mdm_devices (
        enrollment_ref text primary key,
        device_id text not null,
        id_kind text not null check (id_kind in ('UDID', 'EnrollmentID')),
        topic text not null,
        push_magic text,
        push_token text,
        checked_out_at timestamptz,
        updated_at timestamptz not null
      )`,
      `create table adenroll_mdm_commands (
        command_uuid text primary key,
        seq bigint generated always as identity,
        enrollment_ref text not null,
        request_type text not null,
        command text not null,
        status text not null check (status in ('queued', 'sent', 'acknowledged', 'error', 'command-format-error', 'not-now')),
        result text,
        created_at timestamptz not null,
        sent_at timestamptz,
        answered_at timestamptz,
        updated_at timestamptz not null
      )`,
      `create index adenroll_mdm_commands_queue on adenroll_mdm_commands (enrollment_ref, seq)`,
    ),
  },
  {
    // OAuth 2 (runtime/storage/oauth-store.ts): authorization codes and refresh-token families.
    // Codes and refresh tokens are kept as SHA-256 hashes only; a code's access token only sealed
    // under the code. One family per code (its replay revokes that one family, OAUTH-10); a
    // family's refresh tokens go with it. enrollment_ref names adenroll_enrollments.id without a
    // foreign key, as in 006.
    id: "007-oauth",
    up: statements(
      `create table adenroll_oauth_codes (
        code_hash text primary key,
        enrollment_ref text not null,
        client_id text not null,
        redirect_uri text not null,
        scope text,
        code_challenge text,
        user_identifier text not null,
        sealed_access_token text not null,
        access_token_hash text not null,
        access_token_expires_at timestamptz not null,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        redeemed_at timestamptz
      )`,
      `create index adenroll_oauth_codes_expires_at on adenroll_oauth_codes (expires_at)`,
      `create table adenroll_oauth_families (
        family_id text primary key,
        enrollment_ref text not null,
        client_id text not null,
        user_identifier text not null,
        scope text,
        code_hash text,
        access_token_hash text not null,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        revoked_at timestamptz
      )`,
      `create index adenroll_oauth_families_enrollment_ref on adenroll_oauth_families (enrollment_ref)`,
      `create unique index adenroll_oauth_families_code_hash on adenroll_oauth_families (code_hash) where code_hash is not null`,
      `create index adenroll_oauth_families_access_token_hash on adenroll_oauth_families (access_token_hash)`,
      `create table adenroll_oauth_refresh_tokens (
        token_hash text primary key,
        family_id text not null references adenroll_oauth_families (family_id) on delete cascade,
        created_at timestamptz not null,
        used_at timestamptz
      )`,
      `create index adenroll_oauth_refresh_tokens_family_id on adenroll_oauth_refresh_tokens (family_id)`,
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
