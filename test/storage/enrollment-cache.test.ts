// The enrollment cache (runtime/storage/enrollment-cache.ts) over real SQL stores, PGlite in memory
// and PostgreSQL, with every SQL statement counted: an unchanged optimistic step touches nothing, a
// changed one is written once under the lock, writes are never hidden by a cached copy, the cache
// is bounded (LRU, maximum age on an injected clock, no room for unknown tokens), a read racing an
// invalidation is not kept, and a suspended cache sends everything to the database. On PostgreSQL,
// with openStorage's change feed: another instance's write is seen within the NOTIFY delivery time
// (measured), and losing the feed suspends the cache until it listens again.
import fc from "fast-check";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql, type LogEvent } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { EnrollmentRecord, type EnrollmentLocator } from "../../machines/index.ts";
import { canonicalJson, EnrollmentCache, jsonEqual, sqlEnrollmentIds, type EnrollmentCacheOptions } from "../../runtime/storage/enrollment-cache.ts";
import { migrate } from "../../runtime/storage/migrations.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { pgliteDialect } from "../../runtime/storage/pglite.ts";
import type { Enrollments } from "../../runtime/storage/roles.ts";
import type { Database } from "../../runtime/storage/schema.ts";
import { createSqlStorage } from "../../runtime/storage/sql-store.ts";
import { createTestDatabase, enrollment, eventually, find, inCI, OPEN_TIMEOUT, postgresAdminUrl, probePostgres, put } from "./storage.suite.ts";

const probe = await probePostgres();
if (!probe.ok) {
  test.runIf(inCI)(`PostgreSQL is reachable at ${postgresAdminUrl} (required in CI)`, () => {
    throw new Error(`PostgreSQL is not reachable at ${postgresAdminUrl}: ${probe.reason}`);
  });
}

type Work = Parameters<Enrollments["transact"]>[1];

const byId = (id: string): EnrollmentLocator => ({ by: "id", id });
const byToken = (tokenHash: string): EnrollmentLocator => ({ by: "token-hash", tokenHash });
const byEnrollmentId = (enrollmentId: string): EnrollmentLocator => ({ by: "enrollment-id", enrollmentId });

/** A SQL store whose every statement is recorded, with the clock of its updated_at columns. */
interface CountedDatabase {
  readonly db: Kysely<Database>;
  readonly store: Enrollments;
  readonly statements: string[];
  readonly wall: { now(): number; advance(ms: number): void };
  close(): Promise<void>;
}

function wallClock(): CountedDatabase["wall"] {
  let t = Date.UTC(2026, 0, 1);
  return { now: () => t, advance: (ms) => void (t += ms) };
}

async function countedPGlite(): Promise<CountedDatabase> {
  const statements: string[] = [];
  const engine = await PGlite.create();
  const db = new Kysely<Database>({ dialect: pgliteDialect(engine), log: record(statements) });
  await migrate(db);
  const wall = wallClock();
  const storage = createSqlStorage(db, { locking: "process", now: wall.now, close: () => db.destroy() });
  return { db, store: storage.enrollments, statements, wall, close: () => storage.close() };
}

async function countedPostgres(url: string): Promise<CountedDatabase> {
  const statements: string[] = [];
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 10 }) }), log: record(statements) });
  await migrate(db);
  const wall = wallClock();
  const storage = createSqlStorage(db, { locking: "row", maxConcurrentTransactions: 8, now: wall.now, close: () => db.destroy() });
  return { db, store: storage.enrollments, statements, wall, close: () => storage.close() };
}

function record(statements: string[]): (event: LogEvent) => void {
  return (event) => {
    if (event.level === "query") statements.push(event.query.sql.replace(/\s+/g, " ").trim());
  };
}

/** The steps a check-in makes, as optimistic work: one that changes nothing, one that records an EnrollmentID. */
function steps() {
  let runs = 0;
  const unchanged: Work = async (found) => {
    runs++;
    return { save: found === null ? null : EnrollmentRecord.parse(found), result: found };
  };
  const recordEnrollmentId =
    (enrollmentId: string): Work =>
    async (found) => {
      runs++;
      if (found === null) return { save: null, result: null };
      const record = EnrollmentRecord.parse(found);
      return { save: { ...record, state: "enrolled", context: { ...record.context, enrollmentId } }, result: record.context.enrollmentId };
    };
  return { unchanged, recordEnrollmentId, runs: () => runs };
}

const backends = [
  { name: "PGlite", available: true, open: async (): Promise<CountedDatabase> => countedPGlite(), drop: async () => {} },
  {
    name: "PostgreSQL",
    available: probe.ok,
    database: undefined as Awaited<ReturnType<typeof createTestDatabase>> | undefined,
    async open(): Promise<CountedDatabase> {
      this.database ??= await createTestDatabase();
      return countedPostgres(this.database.url);
    },
    async drop() {
      await this.database?.drop();
    },
  },
];

describe.each(backends)("EnrollmentCache over $name", (backend) => {
  let counted: CountedDatabase | undefined;
  const database = (): CountedDatabase => {
    if (counted === undefined) throw new Error("not open");
    return counted;
  };
  let clock = 0;
  const newCache = (options: EnrollmentCacheOptions = {}) => new EnrollmentCache(database().store, sqlEnrollmentIds(database().db), { now: () => clock, ...options });
  /** The statements `action` sends to the database. */
  const statementsOf = async (action: () => Promise<unknown>): Promise<string[]> => {
    const from = database().statements.length;
    await action();
    return database().statements.slice(from);
  };
  const updatedAt = async (id: string) => (await database().store.getEnrollment(id))?.updatedAt;

  beforeAll(async () => {
    if (backend.available) counted = await backend.open();
  }, OPEN_TIMEOUT);
  beforeEach(async () => {
    clock = 0;
    if (counted !== undefined) await sql`truncate adenroll_enrollments`.execute(counted.db);
  });
  afterAll(async () => {
    await counted?.close();
    await backend.drop();
  }, OPEN_TIMEOUT);

  test.skipIf(!backend.available)("an unchanged optimistic step is answered from the cache: no statement at all, updated_at untouched", async () => {
    const cache = newCache();
    const { unchanged } = steps();
    await put(cache, enrollment("e1", { tokenHash: "t1", enrollmentId: "enr-1" }, "enrolled"));
    const written = await updatedAt("e1");
    database().wall.advance(60_000);
    // The first reads it through: plain SELECTs, no transaction, no lock.
    const first = await statementsOf(() => cache.transact([byEnrollmentId("enr-1"), byToken("t1")], unchanged, { optimistic: true }));
    expect(first.length).toBeGreaterThan(0);
    expect(first.every((s) => s.startsWith("select") && !/for update/.test(s))).toBe(true);
    for (let i = 0; i < 5; i++) {
      expect(await statementsOf(() => cache.transact([byEnrollmentId("enr-1"), byToken("t1")], unchanged, { optimistic: true }))).toEqual([]);
    }
    expect(await updatedAt("e1")).toBe(written);
    expect(cache.stats()).toMatchObject({ hits: 5, writes: 0, size: 1 });
  });

  test.skipIf(!backend.available)("a changed optimistic step is run again on the stored record under the lock and written once", async () => {
    const cache = newCache();
    const step = steps();
    await put(cache, enrollment("e1", { tokenHash: "t1" }, "profileDelivered"));
    await cache.transact([byToken("t1")], step.unchanged, { optimistic: true }); // cached now
    const written = await updatedAt("e1");
    database().wall.advance(60_000);
    const before = step.runs();
    const sent = await statementsOf(async () => expect(await cache.transact([byToken("t1")], step.recordEnrollmentId("enr-1"), { optimistic: true })).toBeNull());
    // Once on the cached copy, once on the stored record.
    expect(step.runs() - before).toBe(2);
    expect(sent.filter((s) => s.startsWith("update"))).toHaveLength(1);
    if (backend.name === "PostgreSQL") expect(sent.filter((s) => /for update/.test(s))).toHaveLength(1);
    expect(await updatedAt("e1")).toBe((written ?? 0) + 60_000);
    expect((await find(database().store, [byId("e1")]))?.context.enrollmentId).toBe("enr-1");
    // The same step again changes nothing: read once (the write dropped the copy), then answered from the cache.
    await cache.transact([byEnrollmentId("enr-1"), byToken("t1")], step.recordEnrollmentId("enr-1"), { optimistic: true });
    expect(await statementsOf(() => cache.transact([byEnrollmentId("enr-1"), byToken("t1")], step.recordEnrollmentId("enr-1"), { optimistic: true }))).toEqual([]);
    expect(cache.stats().writes).toBe(1);
  });

  test.skipIf(!backend.available)("a non-optimistic write is seen by the next optimistic step; the cached copy is never aliased", async () => {
    const cache = newCache();
    const { unchanged } = steps();
    await put(cache, enrollment("e1", { tokenHash: "t1", enrollmentId: "enr-1" }, "enrolled"));
    await cache.transact([byToken("t1")], unchanged, { optimistic: true });
    // Re-authentication: the new token replaces the old one.
    await put(cache, enrollment("e1", { tokenHash: "t2", enrollmentId: "enr-1" }, "reauthenticated"), [byToken("t1")]);
    expect(await cache.transact([byToken("t1")], unchanged, { optimistic: true })).toBeNull();
    expect(EnrollmentRecord.parse(await cache.transact([byEnrollmentId("enr-1")], unchanged, { optimistic: true })).context.tokenHash).toBe("t2");
    // Token invalidated: nothing authorizes.
    await put(cache, enrollment("e1", { tokenHash: null, enrollmentId: "enr-1" }, "tokenInvalidated"));
    expect(EnrollmentRecord.parse(await cache.transact([byEnrollmentId("enr-1")], unchanged, { optimistic: true })).state).toBe("tokenInvalidated");
    expect(await cache.transact([byToken("t2")], unchanged, { optimistic: true })).toBeNull();
    // A step that scribbles on what it was handed changes nothing for the next one.
    await cache.transact(
      [byId("e1")],
      async (found) => {
        const record = EnrollmentRecord.parse(found);
        if (typeof found === "object" && found !== null) Reflect.set(found, "state", "enrolled");
        return { save: null, result: record };
      },
      { optimistic: true },
    );
    expect(EnrollmentRecord.parse(await cache.transact([byId("e1")], unchanged, { optimistic: true })).state).toBe("tokenInvalidated");
  });

  test.skipIf(!backend.available)("at most maxRecords, least recently used dropped first; unknown tokens take no room", async () => {
    const cache = newCache({ maxRecords: 3 });
    const { unchanged } = steps();
    for (const id of ["a", "b", "c", "d"]) await put(cache, enrollment(id, { tokenHash: `t-${id}` }, "enrolled"));
    const touch = (id: string) => statementsOf(() => cache.transact([byToken(`t-${id}`)], unchanged, { optimistic: true }));
    for (const id of ["a", "b", "c"]) expect(await touch(id)).not.toEqual([]);
    expect(await touch("a")).toEqual([]); // a is now the most recently used
    expect(await touch("d")).not.toEqual([]); // b goes
    expect(cache.stats().size).toBe(3);
    for (const id of ["a", "c", "d"]) expect(await touch(id), id).toEqual([]);
    expect(await touch("b")).not.toEqual([]); // read again; a goes (least recently used)
    for (const id of ["c", "d", "b"]) expect(await touch(id), id).toEqual([]);
    // Unknown tokens: each read, none cached, nobody pushed out.
    for (let i = 0; i < 50; i++) expect(await cache.transact([byEnrollmentId(`enr-x${i}`), byToken(`unknown-${i}`)], unchanged, { optimistic: true })).toBeNull();
    expect(cache.stats().size).toBe(3);
    for (const id of ["c", "d", "b"]) expect(await touch(id), id).toEqual([]);
  });

  test.skipIf(!backend.available)("an entry older than maxAgeMs is read again (the injected clock)", async () => {
    const cache = newCache({ maxAgeMs: 1_000 });
    const { unchanged } = steps();
    await put(cache, enrollment("e1", { tokenHash: "t1" }, "enrolled"));
    const touch = () => statementsOf(() => cache.transact([byToken("t1")], unchanged, { optimistic: true }));
    expect(await touch()).not.toEqual([]);
    clock += 999;
    expect(await touch()).toEqual([]);
    clock += 1;
    expect(await touch()).not.toEqual([]);
    expect(await touch()).toEqual([]);
    // Written behind the cache's back, with no notification at all: seen once the copy is too old.
    await sql`update adenroll_enrollments set state = 'tokenInvalidated', token_hash = null, context = context || '{"tokenHash": null}'::jsonb where id = 'e1'`.execute(database().db);
    expect(await cache.transact([byToken("t1")], unchanged, { optimistic: true })).not.toBeNull(); // stale, within the bound
    clock += 1_000;
    expect(await cache.transact([byToken("t1")], unchanged, { optimistic: true })).toBeNull();
  });

  test.skipIf(!backend.available)("a read in flight when its enrollment is invalidated (or the cache cleared) is not kept", async () => {
    const { unchanged } = steps();
    for (const race of ["invalidate", "suspend"] as const) {
      await sql`truncate adenroll_enrollments`.execute(database().db);
      await put(database().store, enrollment("e1", { tokenHash: "t1" }, "enrolled"));
      // A store whose reads answer only when released: the row was read before the write below.
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const store = database().store;
      const slow: Enrollments = {
        transact: (locators, work, options) => store.transact(locators, work, options),
        getEnrollment: async (id) => {
          const row = await store.getEnrollment(id);
          await held;
          return row;
        },
        findEnrollmentByTokenHash: async (hash) => {
          const row = await store.findEnrollmentByTokenHash(hash);
          await held;
          return row;
        },
        listEnrollments: (filter) => store.listEnrollments(filter),
      };
      const cache = new EnrollmentCache(slow, sqlEnrollmentIds(database().db), { now: () => clock });
      const reading = cache.transact([byToken("t1")], unchanged, { optimistic: true });
      await eventually(async () => expect(cache.stats().reads).toBe(1));
      await put(store, enrollment("e1", { tokenHash: null }, "tokenInvalidated"));
      if (race === "invalidate") cache.invalidate("e1"); // what the change feed does
      else {
        cache.suspend();
        cache.resume();
      }
      release();
      expect(await reading).not.toBeNull(); // answered from the row it read: within the bound
      expect(cache.stats().size).toBe(0);
      expect(await cache.transact([byToken("t1")], unchanged, { optimistic: true }), race).toBeNull();
    }
  });

  test.skipIf(!backend.available)("suspended, optimistic steps run as transactions on the database; resumed, from the cache again", async () => {
    const cache = newCache();
    const { unchanged } = steps();
    await put(cache, enrollment("e1", { tokenHash: "t1" }, "enrolled"));
    await cache.transact([byToken("t1")], unchanged, { optimistic: true });
    cache.suspend();
    expect(cache.live).toBe(false);
    expect(cache.stats().size).toBe(0);
    const sent = await statementsOf(() => cache.transact([byToken("t1")], unchanged, { optimistic: true }));
    expect(sent.length).toBeGreaterThan(0);
    if (backend.name === "PostgreSQL") expect(sent.filter((s) => /for update/.test(s))).toHaveLength(1);
    expect(await statementsOf(() => cache.transact([byToken("t1")], unchanged, { optimistic: true }))).not.toEqual([]);
    expect(cache.stats().size).toBe(0);
    expect(cache.stats().bypassed).toBe(2);
    cache.resume();
    await cache.transact([byToken("t1")], unchanged, { optimistic: true });
    expect(await statementsOf(() => cache.transact([byToken("t1")], unchanged, { optimistic: true }))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Two instances over one PostgreSQL, as openStorage wires them: the change feed.

describe.skipIf(!probe.ok)("the change feed between instances (PostgreSQL)", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let one: OpenedStorage | undefined;
  let two: OpenedStorage | undefined;
  const instances = (): [OpenedStorage, OpenedStorage] => {
    if (one === undefined || two === undefined) throw new Error("not open");
    return [one, two];
  };
  const { unchanged } = steps();
  const checkIn = (storage: OpenedStorage, tokenHash: string) => storage.enrollments.transact([byToken(tokenHash)], unchanged, { optimistic: true });
  /**
   * Until `storage` answers a check-in from its cached copy. (The notification of a write it has
   * already read may arrive after the read and drop the copy once: one more read, never staleness.)
   */
  const holdsCopy = (storage: OpenedStorage, tokenHash: string) =>
    eventually(async () => {
      const hits = storage.enrollmentCache?.stats().hits ?? 0;
      expect(await checkIn(storage, tokenHash)).not.toBeNull();
      expect(storage.enrollmentCache?.stats().hits).toBe(hits + 1);
    }, 2_000);

  beforeAll(async () => {
    database = await createTestDatabase();
    // The second instance reconnects slowly, so that its time without a feed can be watched.
    [one, two] = await Promise.all([
      openStorage({ database: database.url }),
      openStorage({ database: database.url, enrollmentCache: { feed: { initialBackoffMs: 1_500, log: () => undefined } } }),
    ]);
  }, OPEN_TIMEOUT);
  afterAll(async () => {
    await Promise.all([one?.close(), two?.close()]);
    await database?.drop();
  }, OPEN_TIMEOUT);

  test("both caches are live once open; a write on one instance reaches the other within the NOTIFY delivery time", async () => {
    const [a, b] = instances();
    expect(a.enrollmentCache?.live).toBe(true);
    expect(b.enrollmentCache?.live).toBe(true);
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `e${i}`;
      await put(a.enrollments, enrollment(id, { tokenHash: `t-${id}` }, "enrolled"));
      await holdsCopy(b, `t-${id}`);
      // Revoked on a: the token is gone.
      await put(a.enrollments, enrollment(id, { tokenHash: null }, "tokenInvalidated"));
      const revoked = performance.now();
      await eventually(async () => expect(await checkIn(b, `t-${id}`)).toBeNull(), 2_000, 1);
      delays.push(performance.now() - revoked);
    }
    delays.sort((x, y) => x - y);
    const at = (q: number) => (delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? NaN).toFixed(1);
    console.log(`revocation on one instance seen by the other's cache after: median ${at(0.5)} ms, max ${at(1)} ms (20 revocations)`);
    expect(delays.every((ms) => ms < 1_000)).toBe(true);
  });

  test("a write made outside adenroll (the trigger) reaches every cache too", async () => {
    const [a, b] = instances();
    await put(a.enrollments, enrollment("outside", { tokenHash: "t-outside" }, "enrolled"));
    expect(await checkIn(a, "t-outside")).not.toBeNull();
    expect(await checkIn(b, "t-outside")).not.toBeNull();
    const client = new pg.Client({ connectionString: database?.url });
    await client.connect();
    try {
      await client.query("delete from adenroll_enrollments where id = 'outside'");
    } finally {
      await client.end();
    }
    await eventually(async () => {
      expect(await checkIn(a, "t-outside")).toBeNull();
      expect(await checkIn(b, "t-outside")).toBeNull();
    }, 2_000);
  });

  test("losing the feed suspends the cache (every step reads the database) until it listens again", async () => {
    const [a, b] = instances();
    const cache = b.enrollmentCache;
    if (cache === undefined) throw new Error("no cache");
    await put(a.enrollments, enrollment("lost", { tokenHash: "t-lost" }, "enrolled"));
    await holdsCopy(b, "t-lost");
    // Both instances' listening connections are cut (as a failover or a network cut would).
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'adenroll-listen' and datname = current_database()`.execute(a.db);
    await eventually(async () => expect(cache.live).toBe(false), 2_000);
    expect(cache.stats().size).toBe(0);
    // Meanwhile a's write goes unannounced to b; b reads the database and is not fooled.
    await put(a.enrollments, enrollment("lost", { tokenHash: null }, "tokenInvalidated"));
    const bypassed = cache.stats().bypassed;
    expect(await checkIn(b, "t-lost")).toBeNull();
    expect(cache.stats().bypassed).toBe(bypassed + 1);
    // Back (b retries after ~1.5 s): live again, from an empty cache.
    await eventually(async () => expect(cache.live).toBe(true), 10_000);
    await put(a.enrollments, enrollment("lost", { tokenHash: "t-lost-2" }, "reauthenticated"));
    await holdsCopy(b, "t-lost-2");
    await eventually(async () => expect(a.enrollmentCache?.live).toBe(true), 10_000);
  }, 30_000);
});

describe("jsonEqual (how an unchanged optimistic step is recognised)", () => {
  test("agrees with comparing canonical JSON text, for any JSON values and for a value against itself with its keys reordered", () => {
    const reordered = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reordered);
      if (typeof value !== "object" || value === null) return value;
      return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reordered(v)]));
    };
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        expect(jsonEqual(a, b)).toBe(canonicalJson(a) === canonicalJson(b));
        expect(jsonEqual(a, reordered(a))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});
