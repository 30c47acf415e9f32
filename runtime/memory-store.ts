// An in-memory EnrollmentStore: the reference backend for tests and the in-process demo.
// Records are kept deep-frozen, copied through JSON when they arrive mutable, so a caller can never
// alias stored state and the store holds only what a database would (JSON); a frozen record — a
// step's answer (machines/server-step.ts) — is kept as it is, and handed out as it is: no copy in or
// out on the token endpoint's path. One queue serializes transactions, which is what "atomic per
// enrollment" means for a single process.
import { deepFreeze, isDeepFrozen, lookupTokenHash, type EnrollmentLocator, type EnrollmentRecord, type EnrollmentStore, type TransactOptions } from "../machines/index.ts";

export class MemoryEnrollmentStore implements EnrollmentStore {
  /** Each enrollment as `work` finds it: unknown until parsed, as a database's row would be. */
  readonly #records = new Map<string, unknown>();
  readonly #index = new Map<string, string>();
  /** The lookup keys each enrollment holds in #index, so that a write drops only its own. */
  readonly #keys = new Map<string, readonly string[]>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Transactions started or queued and not yet settled. */
  #inFlight = 0;

  transact<T>(
    locators: readonly EnrollmentLocator[],
    work: (found: unknown) => Promise<{ readonly save: EnrollmentRecord | null; readonly result: T }>,
    _options?: TransactOptions,
  ): Promise<T> {
    // Idle, a transaction starts at once; otherwise after the last one queued (a turn of the event
    // loop fewer on the token endpoint, where one runs per refresh).
    const idle = this.#inFlight === 0;
    this.#inFlight++;
    const run = idle ? this.#run(locators, work) : this.#queue.then(() => this.#run(locators, work));
    this.#queue = run.then(
      () => void this.#inFlight--,
      () => void this.#inFlight--,
    );
    return run;
  }

  async #run<T>(locators: readonly EnrollmentLocator[], work: (found: unknown) => Promise<{ readonly save: EnrollmentRecord | null; readonly result: T }>): Promise<T> {
    const id = this.#find(locators);
    const found = id === undefined ? null : (this.#records.get(id) ?? null);
    const { save, result } = await work(found);
    if (save !== null) this.#put(save);
    return result;
  }

  /** How many enrollments are stored (for tests and the demo). */
  get size(): number {
    return this.#records.size;
  }

  #find(locators: readonly EnrollmentLocator[]): string | undefined {
    for (const locator of locators) {
      const id = locator.by === "id" ? (this.#records.has(locator.id) ? locator.id : undefined) : this.#index.get(keyOf(locator));
      if (id !== undefined) return id;
    }
    return undefined;
  }

  #put(save: EnrollmentRecord): void {
    const { id } = save.context;
    for (const key of this.#keys.get(id) ?? []) if (this.#index.get(key) === id) this.#index.delete(key);
    this.#records.set(id, isDeepFrozen(save) ? save : deepFreeze(JSON.parse(JSON.stringify(save))));
    const keys = [keyOf({ by: "device-key", deviceKey: save.context.deviceKey })];
    const tokenHash = lookupTokenHash(save.context);
    if (tokenHash !== null) keys.push(keyOf({ by: "token-hash", tokenHash }));
    if (save.context.enrollmentId !== null) keys.push(keyOf({ by: "enrollment-id", enrollmentId: save.context.enrollmentId }));
    if (save.context.identityFingerprint !== null) keys.push(keyOf({ by: "identity", fingerprint: save.context.identityFingerprint }));
    for (const key of keys) this.#index.set(key, id);
    this.#keys.set(id, keys);
  }
}

function keyOf(locator: Exclude<EnrollmentLocator, { by: "id" }>): string {
  switch (locator.by) {
    case "device-key":
      return `device:${locator.deviceKey}`;
    case "token-hash":
      return `token:${locator.tokenHash}`;
    case "enrollment-id":
      return `enrollment:${locator.enrollmentId}`;
    case "identity":
      return `identity:${locator.fingerprint}`;
  }
}
