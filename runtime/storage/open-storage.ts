// One entry point for every backend: a PostgreSQL URL, an embedded PGlite data directory, or an
// in-memory PGlite. Migrations run before the storage is handed out.
import type { Kysely } from "kysely";
import type { Storage } from "./roles.ts";
import type { Database } from "./schema.ts";
import { migrate, type MigrationRun } from "./migrations.ts";
import { applyEnrollmentNotification, EnrollmentCache, enrollmentChannel, sqlEnrollmentIds, type EnrollmentCacheOptions } from "./enrollment-cache.ts";
import type { EnrollmentFeedOptions } from "./enrollment-notify.ts";
import { openPGlite } from "./pglite.ts";
import { createSqlStorage } from "./sql-store.ts";

export interface OpenStorageOptions {
  /** A `postgres://` (or `postgresql://`) URL: a real PostgreSQL, possibly shared by instances. */
  readonly database?: string;
  /** A directory for an embedded PGlite database (created when missing). */
  readonly dataDir?: string;
  /** An embedded PGlite database in memory, gone at close (tests, throwaway demos). */
  readonly memory?: boolean;
  /**
   * PostgreSQL: connections in the pool (default 10, at least 3). Enrollment transactions use at
   * most poolSize − 2 at once, so that the work they run can still reach the database.
   */
  readonly poolSize?: number;
  /** The clock for updated_at columns (default Date.now). */
  readonly now?: () => number;
  /**
   * The read-through enrollment cache that answers optimistic transactions (check-ins) without a
   * lock or a write when nothing changes (runtime/storage/enrollment-cache.ts): on by default;
   * false makes `enrollments` the SQL store itself. On PostgreSQL it is fed by LISTEN/NOTIFY
   * (runtime/storage/enrollment-notify.ts; `feed` tunes it) and serves nothing while that is down.
   */
  readonly enrollmentCache?: false | (Omit<EnrollmentCacheOptions, "live"> & { readonly feed?: EnrollmentFeedOptions });
}

export interface OpenedStorage extends Storage {
  readonly backend: "postgres" | "pglite";
  /** What migrating at open did. */
  readonly migrations: MigrationRun;
  /** The database itself, for administration and tests; the roles are the way to change data. */
  readonly db: Kysely<Database>;
  /** The cache in front of `enrollments` (it is `enrollments`), unless turned off. */
  readonly enrollmentCache?: EnrollmentCache;
}

/** Exactly one of `database`, `dataDir` or `memory: true` says where the data lives. */
export async function openStorage(options: OpenStorageOptions): Promise<OpenedStorage> {
  const where = [options.database !== undefined, options.dataDir !== undefined, options.memory === true].filter(Boolean).length;
  if (where !== 1) throw new Error("openStorage: give exactly one of database (a postgres:// URL), dataDir, or memory: true");
  const now = options.now === undefined ? {} : { now: options.now };

  if (options.database !== undefined) {
    if (options.poolSize !== undefined && !(Number.isInteger(options.poolSize) && options.poolSize >= 3)) {
      throw new Error("openStorage: poolSize is an integer of at least 3");
    }
    // Loaded only when asked for, so the embedded default never loads node-postgres.
    const { openPostgres } = await import("./postgres.ts");
    const { db, max, close } = openPostgres(options.database, options.poolSize === undefined ? {} : { max: options.poolSize });
    const run = await migrate(db).catch(async (error: unknown) => {
      await close();
      throw error;
    });
    const storage = createSqlStorage(db, { locking: "row", maxConcurrentTransactions: max - 2, close, ...now });
    if (options.enrollmentCache === false) return { ...storage, backend: "postgres", migrations: run, db };
    const { feed: feedOptions, ...cacheOptions } = options.enrollmentCache ?? {};
    // Suspended until the change feed listens: another instance's writes would go unseen.
    const cache = new EnrollmentCache(storage.enrollments, sqlEnrollmentIds(db), { ...cacheOptions, live: false });
    const { listenForEnrollmentChanges } = await import("./enrollment-notify.ts");
    const feed = listenForEnrollmentChanges(options.database, cache, { log: (message) => console.warn(`adenroll: ${message}`), ...feedOptions });
    await feed.ready;
    let closing: Promise<void> | undefined;
    const closeAll = () => (closing ??= feed.close().then(() => storage.close()));
    return { ...storage, enrollments: cache, enrollmentCache: cache, close: closeAll, backend: "postgres", migrations: run, db };
  }

  const { db, pglite } = await openPGlite(options.dataDir);
  const close = async () => {
    await db.destroy();
    if (!pglite.closed) await pglite.close();
  };
  const run = await migrate(db).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  const storage = createSqlStorage(db, { locking: "process", close, ...now });
  if (options.enrollmentCache === false) return { ...storage, backend: "pglite", migrations: run, db };
  const { feed: _feed, ...cacheOptions } = options.enrollmentCache ?? {};
  // One process: writes through the cache drop what they wrote; PGlite's own notifications (the
  // same trigger) catch writes made straight through `db`.
  const cache = new EnrollmentCache(storage.enrollments, sqlEnrollmentIds(db), { ...cacheOptions, live: true });
  await pglite.listen(enrollmentChannel, (payload) => applyEnrollmentNotification(cache, payload));
  return { ...storage, enrollments: cache, enrollmentCache: cache, backend: "pglite", migrations: run, db };
}
