// Failed sign-in attempts, counted per key within a window; past the limit the password is not tried.

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
