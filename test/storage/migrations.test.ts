// Migrations on both backends: from an empty database, from the previous schema with data in it
// (which survives), re-running (a no-op), a newer database (refused), a failing migration (nothing
// applied), and — on PostgreSQL — several instances migrating one database at once.
import { PGlite } from "@electric-sql/pglite";
import { Kysely, sql } from "kysely";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { migrate, migrations, type Migration } from "../../runtime/storage/migrations.ts";
import { pgliteDialect } from "../../runtime/storage/pglite.ts";
import { openPostgres } from "../../runtime/storage/postgres.ts";
import type { Database } from "../../runtime/storage/schema.ts";
import { createSqlStorage } from "../../runtime/storage/sql-store.ts";
import { createTestDatabase, enrollment, OPEN_TIMEOUT, inCI, oauthCode, postgresAdminUrl, probePostgres, put, refreshFamily } from "./storage.suite.ts";

interface EmptyDatabase {
  readonly db: Kysely<Database>;
  /** Another connection (pool) to the same database: another instance. */
  another(): Kysely<Database>;
  close(): Promise<void>;
}

interface Backend {
  readonly name: string;
  readonly available: boolean;
  setUp(): Promise<void>;
  empty(): Promise<EmptyDatabase>;
}

const probe = await probePostgres();
if (!probe.ok) {
  test.runIf(inCI)(`PostgreSQL is reachable at ${postgresAdminUrl} (required in CI)`, () => {
    throw new Error(`PostgreSQL is not reachable at ${postgresAdminUrl}: ${probe.reason}`);
  });
}

// An initialized PGlite data directory, dumped once and loaded for every test: much faster than
// running initdb each time.
let pgliteTemplate: File | Blob | undefined;
const pglite: Backend = {
  name: "PGlite",
  available: true,
  async setUp() {
    const template = await PGlite.create();
    pgliteTemplate = await template.dumpDataDir("none");
    await template.close();
  },
  async empty() {
    if (pgliteTemplate === undefined) throw new Error("no template");
    const engine = await PGlite.create({ loadDataDir: pgliteTemplate });
    const db = new Kysely<Database>({ dialect: pgliteDialect(engine) });
    return {
      db,
      another: () => {
        throw new Error("PGlite is one process, one connection");
      },
      async close() {
        await db.destroy();
        if (!engine.closed) await engine.close();
      },
    };
  },
};

const postgres: Backend = {
  name: "PostgreSQL",
  available: probe.ok,
  async setUp() {},
  async empty() {
    const database = await createTestDatabase();
    const opened = [openPostgres(database.url)];
    const first = opened[0];
    if (first === undefined) throw new Error("unreachable");
    return {
      db: first.db,
      another() {
        const next = openPostgres(database.url);
        opened.push(next);
        return next.db;
      },
      async close() {
        await Promise.all(opened.map((o) => o.close()));
        await database.drop();
      },
    };
  },
};

const Name = z.object({ name: z.string() });

/** The adenroll tables and indexes, sorted. */
async function schemaOf(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql`
    select 'table ' || table_name as name from information_schema.tables where table_schema = current_schema() and table_name like 'adenroll_%'
    union all
    select 'index ' || indexname from pg_indexes where schemaname = current_schema() and tablename like 'adenroll_%'
    order by 1`.execute(db);
  return rows.map((row) => Name.parse(row).name);
}

async function appliedIds(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom("adenroll_migrations").select("id").orderBy("id").execute();
  return rows.map((row) => row.id);
}

const allIds = migrations.map((m) => m.id);
const [first] = migrations;

describe.each([pglite, postgres])("migrations on $name", (backend) => {
  let database: EmptyDatabase | undefined;
  const fresh = async (): Promise<EmptyDatabase> => {
    await database?.close();
    database = await backend.empty();
    return database;
  };

  beforeAll(async () => {
    if (backend.available) await backend.setUp();
  }, OPEN_TIMEOUT);
  afterAll(async () => {
    await database?.close();
  }, OPEN_TIMEOUT);

  test.skipIf(!backend.available)("there are at least two, in order", () => {
    expect(migrations.length).toBeGreaterThanOrEqual(2);
    expect([...allIds].sort()).toEqual(allIds);
    expect(new Set(allIds).size).toBe(allIds.length);
  });

  test.skipIf(!backend.available)("from an empty database; running again is a no-op", async () => {
    const { db } = await fresh();
    expect(await schemaOf(db)).toEqual([]);
    expect(await migrate(db)).toEqual({ applied: allIds });
    const schema = await schemaOf(db);
    expect(schema).toEqual(
      expect.arrayContaining([
        "table adenroll_migrations",
        "table adenroll_enrollments",
        "table adenroll_users",
        "table adenroll_sign_in_failures",
        "table adenroll_csrf_nonces",
        "table adenroll_audit_log",
        "index adenroll_enrollments_token_hash",
        "index adenroll_enrollments_enrollment_id",
        "index adenroll_audit_log_newest",
        "table adenroll_oauth_codes",
        "table adenroll_oauth_families",
        "table adenroll_oauth_refresh_tokens",
        "index adenroll_oauth_families_enrollment_ref",
        "index adenroll_oauth_families_code_hash",
        "index adenroll_oauth_families_access_token_hash",
        "index adenroll_oauth_refresh_tokens_family_id",
      ]),
    );
    expect(await migrate(db)).toEqual({ applied: [] });
    expect(await migrate(db)).toEqual({ applied: [] });
    expect(await schemaOf(db)).toEqual(schema);
    expect(await appliedIds(db)).toEqual(allIds);
  });

  test.skipIf(!backend.available)("from the previous schema with data in it: the data survives", async () => {
    if (first === undefined) throw new Error("no migrations");
    const { db } = await fresh();
    expect(await migrate(db, [first])).toEqual({ applied: [first.id] });
    expect(await schemaOf(db)).not.toContain("table adenroll_audit_log");

    // Data as an adenroll of the first schema wrote it: its columns, and a context without the
    // fields later versions added (identityFingerprint).
    const record = enrollment("e1", { tokenHash: "h1", enrollmentId: "enr-1", userIdentifier: "alice@example.com" }, "enrolled");
    const { identityFingerprint: _added, ...oldContext } = record.context;
    await sql`insert into adenroll_enrollments (id, device_key, token_hash, enrollment_id, user_identifier, state, context, updated_at)
      values ('e1', ${record.context.deviceKey}, 'h1', 'enr-1', 'alice@example.com', 'enrolled', cast(cast(${JSON.stringify(oldContext)} as text) as jsonb), now())`.execute(db);
    const alice = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: null, enrollmentType: "mdm-adde" as const };
    await sql`insert into adenroll_users (user_key, user_identifier, managed_apple_id, password, enrollment_type, updated_at)
      values ('alice@example.com', 'alice@example.com', 'alice@appleid.example.com', null, 'mdm-adde', now())`.execute(db);

    expect(await migrate(db)).toEqual({ applied: allIds.slice(1) });
    const after = createSqlStorage(db, { locking: "process", close: async () => {} });
    expect(await after.enrollments.getEnrollment("e1")).toMatchObject({ trusted: true, record });
    expect(await after.enrollments.findEnrollmentByTokenHash("h1")).toMatchObject({ trusted: true, id: "e1" });
    expect(await after.users.get("ALICE@example.com")).toEqual(alice);
    // And what the new migration added works.
    await after.audit.append({ at: 1, actor: "system", action: "migrated", subject: "-", detail: null });
    expect(await after.audit.list()).toHaveLength(1);
    await after.sessions.issue("n", 10);
    expect(await after.sessions.consume("n", 5)).toBe(true);
    await after.oauth.putCode(oauthCode("c-1"));
    expect(await after.oauth.redeemCode("c-1", 1)).toMatchObject({ status: "redeemed", code: { codeHash: "c-1", redeemedAt: 1 } });
    await after.oauth.createFamily(refreshFamily("f-1"), "r-1");
    expect(await after.oauth.rotateRefreshToken("r-1", { refreshTokenHash: "r-2", accessTokenHash: "a-2", expiresAt: 2 }, 1)).toBe(true);
  });

  test.skipIf(!backend.available)("a database migrated by a newer adenroll is refused, untouched", async () => {
    if (first === undefined) throw new Error("no migrations");
    const { db } = await fresh();
    await migrate(db, [first]);
    await db.insertInto("adenroll_migrations").values({ id: "999-from-the-future", applied_at: new Date() }).execute();
    const schema = await schemaOf(db);
    await expect(migrate(db)).rejects.toThrow(/newer adenroll.*999-from-the-future/);
    expect(await schemaOf(db)).toEqual(schema);
  });

  test.skipIf(!backend.available)("a migration that fails applies nothing (one transaction)", async () => {
    const { db } = await fresh();
    const broken: Migration = {
      id: "zzz-broken",
      async up(trx) {
        await sql`create table adenroll_half_done (id int)`.execute(trx);
        await sql`select no_such_function()`.execute(trx);
      },
    };
    await expect(migrate(db, [...migrations, broken])).rejects.toThrow(/no_such_function/);
    expect(await schemaOf(db)).toEqual([]);
    expect(await migrate(db)).toEqual({ applied: allIds });
  });

  test.skipIf(!backend.available)("a list out of order is refused", async () => {
    const { db } = await fresh();
    await expect(migrate(db, [...migrations].reverse())).rejects.toThrow(/out of order/);
    expect(await schemaOf(db)).toEqual([]);
  });
});

describe.skipIf(!postgres.available)("migrations on PostgreSQL shared by several instances", () => {
  test("several instances migrating one empty database at once don't conflict", async () => {
    const empty = await postgres.empty();
    try {
      const instances = [empty.db, empty.another(), empty.another(), empty.another()];
      const runs = await Promise.all(instances.map((db) => migrate(db)));
      const applied = runs.map((run) => run.applied);
      expect(applied.filter((ids) => ids.length > 0)).toEqual([allIds]);
      expect(applied.filter((ids) => ids.length === 0)).toHaveLength(instances.length - 1);
      expect(await appliedIds(empty.db)).toEqual(allIds);
    } finally {
      await empty.close();
    }
  });
});