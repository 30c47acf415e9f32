// Failed sign-in attempts, counted per key within a window; past the limit the password is not tried.
import { hashToken } from "./crypto.ts";

export interface FailureCounter {
  record(key: string, at: number): Promise<void>;
  count(key: string, since: number): Promise<number>;
  clear(key: string): Promise<void>;
}

/** In-process counts (one instance); storage-backed counters share them between instances. */
export class MemoryFailureCounter implements FailureCounter {
  readonly #failures = new Map<string, number[]>();

  async record(key: string, at: number): Promise<void> {
    const list = this.#failures.get(key) ?? [];
    list.push(at);
    // Keep the list bounded: only the most recent attempts can matter for any window.
    this.#failures.set(key, list.slice(-100));
  }

  async count(key: string, since: number): Promise<number> {
    return (this.#failures.get(key) ?? []).filter((at) => at >= since).length;
  }

  async clear(key: string): Promise<void> {
    this.#failures.delete(key);
  }
}

export interface ThrottlePolicy {
  readonly maxFailures: number;
  readonly windowMs: number;
}

export const defaultThrottle: ThrottlePolicy = { maxFailures: 5, windowMs: 15 * 60 * 1000 };

/** The subset of the storage's sign-in session role (runtime/storage/roles.ts) that counts failures. */
export interface FailureStore {
  recordFailure(key: string, at: number): Promise<void>;
  countFailures(key: string, since: number): Promise<number>;
  clear(key: string): Promise<void>;
}

/**
 * Failure counts kept in storage (`storage.sessions`): every instance sharing the database sees the
 * same counts, so a lockout holds across instances and restarts. Keys are stored as SHA-256 hashes:
 * a key names what the person typed as a user name, which may be a password typed in the wrong field.
 */
export class StoredFailureCounter implements FailureCounter {
  constructor(private readonly sessions: FailureStore) {}

  async record(key: string, at: number): Promise<void> {
    return this.sessions.recordFailure(await hashToken(`failures|${key}`), at);
  }

  async count(key: string, since: number): Promise<number> {
    return this.sessions.countFailures(await hashToken(`failures|${key}`), since);
  }

  async clear(key: string): Promise<void> {
    return this.sessions.clear(await hashToken(`failures|${key}`));
  }
}
