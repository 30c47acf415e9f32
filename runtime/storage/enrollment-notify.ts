// The change feed that keeps every instance's EnrollmentCache honest on a shared PostgreSQL: one
// dedicated connection LISTENs on the channel the enrollments table's trigger notifies (migration
// 004: the id of every inserted, updated or deleted row after its transaction commits; "" after a
// TRUNCATE) and drops that enrollment from this instance's cache.
//
// A notification is delivered only to sessions listening when its transaction commits, so while
// this connection is down the cache cannot know what changed: on loss the cache is suspended
// (cleared, optimistic calls go to the database under lock) and the feed reconnects with backoff;
// once LISTEN is in place again the cache resumes from empty. A connection that dies silently (no
// RST: a partitioned network) is caught by a periodic ping; until then the cache's maximum age
// bounds what it may serve.
//
// The bound: a write on one instance is seen by optimistic calls on every other within the NOTIFY
// delivery time (milliseconds on a healthy connection); if notifications stop arriving, within the
// ping interval plus its timeout when the loss is detectable, and never later than the entries'
// maximum age (default 30 s).
import pg from "pg";
import { applyEnrollmentNotification, enrollmentChannel, type EnrollmentCache } from "./enrollment-cache.ts";

export interface EnrollmentFeedOptions {
  /** First reconnection delay, doubled at each failure (default 100 ms). */
  readonly initialBackoffMs?: number;
  /** Longest reconnection delay (default 5 000 ms). */
  readonly maxBackoffMs?: number;
  /** How often the listening connection is checked with a query (default 5 000 ms). */
  readonly pingMs?: number;
  /** How long a connection attempt or a ping may take (default 5 000 ms). */
  readonly timeoutMs?: number;
  /** Told when the feed is lost or listening again; never given a URL or credentials. */
  readonly log?: (message: string) => void;
}

export interface EnrollmentFeed {
  /** Settles once the first attempt to listen has succeeded or failed (it then keeps retrying). */
  readonly ready: Promise<void>;
  /** Whether LISTEN is in place now. */
  readonly listening: boolean;
  /** Stops listening and reconnecting; the cache stays suspended. */
  close(): Promise<void>;
}

type Target = Pick<EnrollmentCache, "invalidate" | "clear" | "suspend" | "resume">;

/** Listens at `url` for enrollment changes and applies them to `cache`, which starts suspended. */
export function listenForEnrollmentChanges(url: string, cache: Target, options: EnrollmentFeedOptions = {}): EnrollmentFeed {
  const initialBackoff = options.initialBackoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  const pingMs = options.pingMs ?? 5_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const log = options.log ?? (() => undefined);

  let closed = false;
  let listening = false;
  let failures = 0;
  let client: pg.Client | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let ping: ReturnType<typeof setInterval> | undefined;
  let settleReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    settleReady = resolve;
  });

  cache.suspend();

  /** The current connection is gone (or never came): suspend the cache and try again later. */
  const lose = (lost: pg.Client, why: string): void => {
    if (lost !== client) return;
    client = undefined;
    clearInterval(ping);
    lost.removeAllListeners("notification");
    // An error after loss must not crash the process.
    lost.on("error", () => undefined);
    void lost.end().catch(() => undefined);
    // Once per outage (at start, or when a listening connection is lost).
    if (failures === 0) log(`enrollment change feed not listening (${why}); check-ins are read from the database until it is back`);
    listening = false;
    cache.suspend();
    settleReady();
    if (closed) return;
    const delay = Math.min(maxBackoff, initialBackoff * 2 ** Math.min(failures, 20));
    failures++;
    retry = setTimeout(connect, delay * (0.5 + Math.random() / 2));
    retry.unref?.();
  };

  const connect = (): void => {
    retry = undefined;
    if (closed) return;
    const next = new pg.Client({ connectionString: url, keepAlive: true, application_name: "adenroll-listen", connectionTimeoutMillis: timeoutMs });
    client = next;
    next.on("notification", (message) => {
      if (message.channel === enrollmentChannel) applyEnrollmentNotification(cache, message.payload ?? "");
    });
    next.on("error", (error) => lose(next, error.message));
    next.on("end", () => lose(next, "the connection ended"));
    void (async () => {
      try {
        await next.connect();
        await next.query(`listen ${enrollmentChannel}`);
      } catch (error) {
        lose(next, error instanceof Error ? error.message : String(error));
        return;
      }
      if (next !== client || closed) return;
      // Everything cached before this moment may have missed a notification.
      cache.resume();
      listening = true;
      if (failures > 0) log("enrollment change feed listening again");
      failures = 0;
      settleReady();
      ping = setInterval(() => {
        void withTimeout(next.query("select 1"), timeoutMs).catch((error: unknown) => lose(next, error instanceof Error ? error.message : String(error)));
      }, pingMs);
      ping.unref?.();
    })();
  };

  connect();

  return {
    ready,
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(ping);
      const last = client;
      client = undefined;
      listening = false;
      cache.suspend();
      settleReady();
      if (last !== undefined) {
        last.removeAllListeners("notification");
        last.on("error", () => undefined);
        await withTimeout(last.end(), timeoutMs).catch(() => undefined);
      }
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
