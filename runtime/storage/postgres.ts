// A real PostgreSQL, possibly shared by several adenroll instances: a node-postgres pool behind
// Kysely's PostgresDialect. The same SQL and migrations as the embedded PGlite.
import { Kysely, PostgresDialect } from "kysely";
import { Pool } from "pg";
import type { Database } from "./schema.ts";

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  readonly max?: number;
  /** How long to wait for a connection before failing (default 10 s). */
  readonly connectionTimeoutMillis?: number;
  /** An idle pooled connection failed (the server restarted, say); the pool replaces it. */
  readonly onIdleError?: (error: Error) => void;
}

export interface PostgresDatabase {
  readonly db: Kysely<Database>;
  /** Destroys the Kysely instance and waits until every pooled connection has really closed. */
  close(): Promise<void>;
  /** The pool's size: how many connections transactions and queries share. */
  readonly max: number;
}

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(value);
}

export function openPostgres(url: string, options: PostgresOptions = {}): PostgresDatabase {
  if (!isPostgresUrl(url)) throw new Error("the database must be a postgres:// or postgresql:// URL");
  const max = options.max ?? 10;
  const pool = new Pool({ connectionString: url, max, connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000, application_name: "adenroll" });
  // Without a listener, an idle client's error (a restarted server) would crash the process.
  pool.on("error", options.onIdleError ?? ((error) => console.warn(`adenroll: an idle PostgreSQL connection failed: ${error.message}`)));
  // pool.end() resolves once the pool has let go of its clients, before they have finished closing:
  // count them, so close() returns only when no connection is left behind.
  let connected = 0;
  let drained: (() => void) | undefined;
  pool.on("connect", () => void connected++);
  pool.on("remove", () => {
    connected--;
    if (connected === 0) drained?.();
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    max,
    async close() {
      const allClosed = new Promise<void>((resolve) => {
        drained = resolve;
      });
      await db.destroy();
      if (connected === 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const giveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5_000);
      });
      await Promise.race([allClosed, giveUp]);
      clearTimeout(timer);
    },
  };
}
