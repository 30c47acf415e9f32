// The embedded database: PGlite (PostgreSQL compiled to WebAssembly; no native build, runs on Node
// and Deno) in a data directory, or in memory, behind a small Kysely dialect of our own.
//
// PGlite is one PostgreSQL backend with one session, so the driver hands out its single connection
// to one user at a time: a Kysely transaction holds it from BEGIN to COMMIT and every other query
// waits, which keeps another caller's statements out of the open transaction.
import { PGlite } from "@electric-sql/pglite";
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import type { Database } from "./schema.ts";

export interface PGliteDatabase {
  readonly db: Kysely<Database>;
  readonly pglite: PGlite;
}

/** Opens PGlite in `dataDir` (created when missing), or in memory when `dataDir` is undefined. */
export async function openPGlite(dataDir: string | undefined): Promise<PGliteDatabase> {
  const pglite = dataDir === undefined ? await PGlite.create() : await PGlite.create(dataDir);
  return { pglite, db: new Kysely<Database>({ dialect: pgliteDialect(pglite) }) };
}

/** A Kysely dialect over one PGlite instance; destroying the Kysely instance closes PGlite. */
export function pgliteDialect(pglite: PGlite): Dialect {
  return {
    createDriver: () => new PGliteDriver(pglite),
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createAdapter: () => new PostgresAdapter(),
    createIntrospector: (db) => new PostgresIntrospector(db),
  };
}

class PGliteDriver implements Driver {
  readonly #pglite: PGlite;
  readonly #connection: PGliteConnection;
  readonly #lock = new Lock();

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
    this.#connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.#pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.acquire();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const mode = [settings.isolationLevel === undefined ? "" : ` isolation level ${settings.isolationLevel}`, settings.accessMode === undefined ? "" : ` ${settings.accessMode}`].join("");
    await connection.executeQuery(CompiledQuery.raw(`start transaction${mode}`));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  async releaseConnection(): Promise<void> {
    this.#lock.release();
  }

  async destroy(): Promise<void> {
    if (!this.#pglite.closed) await this.#pglite.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    const changes = result.command === "INSERT" || result.command === "UPDATE" || result.command === "DELETE" || result.command === "MERGE";
    return changes ? { rows: result.rows, numAffectedRows: BigInt(result.affectedRows ?? 0) } : { rows: result.rows };
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    yield await this.executeQuery<R>(compiledQuery);
  }
}

/** A FIFO mutex. */
class Lock {
  #held = false;
  readonly #waiting: (() => void)[] = [];

  acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#held = false;
    else next();
  }
}
