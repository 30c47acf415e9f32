// One entry point for every backend: a PostgreSQL URL, an embedded PGlite data directory, or an
// in-memory PGlite. Migrations run before the storage is handed out.
import type { Kysely } from "kysely";
import type { Storage } from "./roles.ts";
import type { Database } from "./schema.ts";
import { migrate, type MigrationRun } from "./migrations.ts";
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
}

export interface OpenedStorage extends Storage {
  readonly backend: "postgres" | "pglite";
  /** What migrating at open did. */
  readonly migrations: MigrationRun;
  /** The database itself, for administration and tests; the roles are the way to change data. */
  readonly db: Kysely<Database>;
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
    return { ...storage, backend: "postgres", migrations: run, db };
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
  return { ...storage, backend: "pglite", migrations: run, db };
}
