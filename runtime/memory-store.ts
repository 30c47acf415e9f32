// An in-memory EnrollmentStore: the reference backend for tests and the in-process demo.
// Records are kept as JSON text so a caller can never alias stored state; one queue serializes
// transactions, which is what "atomic per enrollment" means for a single process.
import { lookupTokenHash, type EnrollmentLocator, type EnrollmentRecord, type EnrollmentStore, type TransactOptions } from "../machines/index.ts";

export class MemoryEnrollmentStore implements EnrollmentStore {
  readonly #records = new Map<string, string>();
  readonly #index = new Map<string, string>();
  #queue: Promise<unknown> = Promise.resolve();

  transact<T>(
    locators: readonly EnrollmentLocator[],
    work: (found: unknown) => Promise<{ readonly save: EnrollmentRecord | null; readonly result: T }>,
    // Every call runs on the stored record already: an optimistic one needs nothing else.
    _options?: TransactOptions,
  ): Promise<T> {
    const run = this.#queue.then(async () => {
      const id = this.#find(locators);
      const text = id === undefined ? undefined : this.#records.get(id);
      const found: unknown = text === undefined ? null : JSON.parse(text);
      const { save, result } = await work(found);
      if (save !== null) this.#put(save);
      return result;
    });
    this.#queue = run.catch(() => undefined);
    return run;
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

  #put(record: EnrollmentRecord): void {
    const { id } = record.context;
    for (const [key, owner] of this.#index) if (owner === id) this.#index.delete(key);
    this.#records.set(id, JSON.stringify(record));
    this.#index.set(keyOf({ by: "device-key", deviceKey: record.context.deviceKey }), id);
    const tokenHash = lookupTokenHash(record.context);
    if (tokenHash !== null) this.#index.set(keyOf({ by: "token-hash", tokenHash }), id);
    if (record.context.enrollmentId !== null) this.#index.set(keyOf({ by: "enrollment-id", enrollmentId: record.context.enrollmentId }), id);
    if (record.context.identityFingerprint !== null) this.#index.set(keyOf({ by: "identity", fingerprint: record.context.identityFingerprint }), id);
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
