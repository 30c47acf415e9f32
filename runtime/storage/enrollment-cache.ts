// A read-through cache of enrollments for optimistic transactions (the check-in hot path), over any
// `Enrollments` store.
//
// An optimistic `work` is a pure step of the server machine: it has no effect but the record it
// returns. So it may run on a cached copy; when the record comes back unchanged (a check-in whose
// token is valid, or refused) the answer is final and nothing is written or locked. When it
// changes, the call goes through the store's real `transact`, which re-reads under its lock and
// runs `work` again on what is stored. Non-optimistic calls always go to the store.
//
// What keeps cached copies honest:
//  - every write through this cache drops the written enrollment afterwards;
//  - `invalidate(id)` drops one from outside: PostgreSQL's NOTIFY from every instance's writes
//    (runtime/storage/enrollment-notify.ts), PGlite's local notifications;
//  - `suspend()` (the change feed is down) clears everything and sends optimistic calls to the
//    store until `resume()`;
//  - every entry has a maximum age (default 30 s), whatever the feed says.
// A read-through that was in flight when its enrollment was invalidated is not cached: its row may
// predate the write that was announced.
//
// Only enrollments that exist are cached (negative answers never are), so unknown tokens cannot
// push anyone else out. Records are kept parsed and deep-frozen (a copy of what was read): `work`
// gets the same frozen record every time, so nothing can change the cached state, and a step can
// remember what it computed from it (machines/server-step.ts) until it changes.
import type { Kysely } from "kysely";
import { z } from "zod";
import { deepFreeze, EnrollmentRecord, isDeepFrozen, lookupTokenHash, type EnrollmentLocator, type TransactOptions } from "../../machines/index.ts";
import { UntrustedRecordError, type EnrollmentFilter, type Enrollments, type StoredEnrollment } from "./roles.ts";
import type { Database } from "./schema.ts";

export interface EnrollmentCacheOptions {
  /** At most this many enrollments are kept, least recently used dropped first (default 50 000). */
  readonly maxRecords?: number;
  /** An entry older than this is read again (default 30 000 ms): the bound when invalidation fails. */
  readonly maxAgeMs?: number;
  /** A monotonic clock in milliseconds for entry ages (default performance.now). */
  readonly now?: () => number;
  /**
   * Whether optimistic calls may be answered from the cache from the start (default true). False
   * until something calls `resume()`: a PostgreSQL instance waits for its change feed.
   */
  readonly live?: boolean;
}

/** The id of the enrollment a locator names, by a plain (unlocked) read; null when none. */
export type FindEnrollmentId = (locator: EnrollmentLocator) => Promise<string | null>;

export interface EnrollmentCacheStats {
  /** Optimistic calls answered from a cached record without touching the store. */
  readonly hits: number;
  /** Read-throughs: enrollments read (unlocked) because the cache did not hold them. */
  readonly reads: number;
  /** Optimistic calls whose step changed the record: run again through the store's transact. */
  readonly writes: number;
  /** Optimistic calls sent straight to the store (the cache suspended, or a read raced a write). */
  readonly bypassed: number;
  readonly size: number;
  readonly live: boolean;
}

type Work<T> = (found: unknown) => Promise<{ readonly save: EnrollmentRecord | null; readonly result: T }>;

interface Entry {
  /** The record as read, deep-frozen: handed out as it is. */
  readonly record: EnrollmentRecord;
  /** The lookup keys that name it (see keysOf). */
  readonly keys: readonly LookupKey[];
  /** When the read that produced it began (this cache's clock). */
  readonly at: number;
  /**
   * A deep-frozen record a step saved that was found equal to `record`: the same object again is
   * equal again without comparing (machines/server-step.ts hands out the same record on a replay).
   */
  unchanged?: object;
}

/** How many invalidations are remembered for reads in flight before they are all dropped as stale. */
const MAX_REMEMBERED_INVALIDATIONS = 10_000;

export class EnrollmentCache implements Enrollments {
  readonly #store: Enrollments;
  readonly #findId: FindEnrollmentId;
  readonly #maxRecords: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** By enrollment id; Map order is recency (least recently used first). */
  readonly #entries = new Map<string, Entry>();
  /** Per kind of locator, its value → enrollment id (no key string built per look-up). */
  readonly #index: Readonly<Record<LookupKind, Map<string, string>>> = { "device-key": new Map(), "token-hash": new Map(), "enrollment-id": new Map(), identity: new Map() };
  #live: boolean;
  /** Bumped by every invalidation and clear. */
  #seq = 0;
  #clearedAt = 0;
  /** Invalidations since the oldest read in flight began (id → seq); emptied when none is. */
  readonly #invalidatedAt = new Map<string, number>();
  #readsInFlight = 0;
  #hits = 0;
  #reads = 0;
  #writes = 0;
  #bypassed = 0;

  constructor(store: Enrollments, findId: FindEnrollmentId, options: EnrollmentCacheOptions = {}) {
    const maxRecords = options.maxRecords ?? 50_000;
    const maxAgeMs = options.maxAgeMs ?? 30_000;
    if (!Number.isInteger(maxRecords) || maxRecords < 1) throw new RangeError(`maxRecords is a positive integer, not ${maxRecords}`);
    if (!(maxAgeMs >= 0)) throw new RangeError(`maxAgeMs is at least 0, not ${maxAgeMs}`);
    this.#store = store;
    this.#findId = findId;
    this.#maxRecords = maxRecords;
    this.#maxAgeMs = maxAgeMs;
    this.#now = options.now ?? (() => performance.now());
    this.#live = options.live ?? true;
  }

  /** Whether optimistic calls may be answered from the cache now. */
  get live(): boolean {
    return this.#live;
  }

  stats(): EnrollmentCacheStats {
    return { hits: this.#hits, reads: this.#reads, writes: this.#writes, bypassed: this.#bypassed, size: this.#entries.size, live: this.#live };
  }

  /** Drops the enrollment `id` (it was written somewhere). */
  invalidate(id: string): void {
    const seq = ++this.#seq;
    this.#drop(id);
    if (this.#readsInFlight === 0) return;
    this.#invalidatedAt.set(id, seq);
    if (this.#invalidatedAt.size > MAX_REMEMBERED_INVALIDATIONS) {
      // Too many to remember one by one: every read in flight is treated as stale.
      this.#clearedAt = seq;
      this.#invalidatedAt.clear();
    }
  }

  /** Drops everything (a TRUNCATE, or the change feed restarted). */
  clear(): void {
    this.#clearedAt = ++this.#seq;
    this.#entries.clear();
    for (const index of Object.values(this.#index)) index.clear();
    this.#invalidatedAt.clear();
  }

  /** The change feed is down: drop everything and send optimistic calls to the store. */
  suspend(): void {
    this.#live = false;
    this.clear();
  }

  /** The change feed is listening (again): start from nothing and serve from the cache. */
  resume(): void {
    this.clear();
    this.#live = true;
  }

  async transact<T>(locators: readonly EnrollmentLocator[], work: Work<T>, options?: TransactOptions): Promise<T> {
    if (options?.optimistic !== true) return this.#writeThrough(locators, work);
    if (!this.#live) {
      this.#bypassed++;
      return this.#writeThrough(locators, work);
    }
    // A hit is found without waiting for anything (most check-ins); a miss reads through.
    const found = this.#findCached(locators) ?? (await this.#find(locators));
    if (found === "unknown") {
      this.#bypassed++;
      return this.#writeThrough(locators, work);
    }
    const given = found === null ? null : found.record;
    const { save, result } = await work(given);
    if (save === null || (found !== null && unchanged(found, save))) return result;
    this.#writes++;
    return this.#writeThrough(locators, work);
  }

  getEnrollment(id: string): Promise<StoredEnrollment | null> {
    return this.#store.getEnrollment(id);
  }

  findEnrollmentByTokenHash(tokenHash: string): Promise<StoredEnrollment | null> {
    return this.#store.findEnrollmentByTokenHash(tokenHash);
  }

  listEnrollments(filter?: EnrollmentFilter): Promise<StoredEnrollment[]> {
    return this.#store.listEnrollments(filter);
  }

  /** The store's own transaction; whatever it wrote is dropped from the cache afterwards. */
  async #writeThrough<T>(locators: readonly EnrollmentLocator[], work: Work<T>): Promise<T> {
    const written = new Set<string>();
    try {
      return await this.#store.transact(locators, async (found) => {
        const outcome = await work(found);
        if (outcome.save !== null) written.add(outcome.save.context.id);
        return outcome;
      });
    } finally {
      for (const id of written) this.invalidate(id);
    }
  }

  /** #find when the cache answers it alone: the first locator is cached (else undefined). */
  #findCached(locators: readonly EnrollmentLocator[]): Entry | undefined {
    const first = locators[0];
    if (first === undefined) return undefined;
    const cached = this.#cached(first);
    if (cached !== undefined) this.#hits++;
    return cached;
  }

  /**
   * The enrollment the first locator that finds one names, as the store would find it: each locator
   * in turn from the cache, else read through. "unknown" when a read raced a write.
   */
  async #find(locators: readonly EnrollmentLocator[]): Promise<Entry | null | "unknown"> {
    for (const locator of locators) {
      const cached = this.#cached(locator);
      if (cached !== undefined) {
        this.#hits++;
        return cached;
      }
      const read = await this.#readThrough(locator);
      if (read !== null) return read;
    }
    return null;
  }

  #cached(locator: EnrollmentLocator): Entry | undefined {
    const id = locator.by === "id" ? locator.id : this.#index[locator.by].get(valueOf(locator));
    if (id === undefined) return undefined;
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.at >= this.#maxAgeMs) {
      this.#drop(id);
      return undefined;
    }
    // Most recently used last.
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry;
  }

  async #readThrough(locator: EnrollmentLocator): Promise<Entry | null | "unknown"> {
    this.#reads++;
    const since = this.#seq;
    const at = this.#now();
    this.#readsInFlight++;
    try {
      let stored: StoredEnrollment | null;
      if (locator.by === "id") stored = await this.#store.getEnrollment(locator.id);
      else if (locator.by === "token-hash") stored = await this.#store.findEnrollmentByTokenHash(locator.tokenHash);
      else {
        const id = await this.#findId(locator);
        if (id === null) return null;
        stored = await this.#store.getEnrollment(id);
        // Gone between the two reads: it was written meanwhile.
        if (stored === null) return "unknown";
      }
      if (stored === null) return null;
      if (!stored.trusted) throw new UntrustedRecordError("adenroll_enrollments", stored.id, stored.problem);
      // Changed between the two reads so that the locator no longer names it.
      if (!names(locator, stored.record)) return "unknown";
      // A copy nobody else holds (Zod's output is all new objects), frozen before anyone sees it.
      const copied = EnrollmentRecord.safeParse(stored.record);
      if (!copied.success) throw new UntrustedRecordError("adenroll_enrollments", stored.id, "a record that no longer parses");
      const record = deepFreeze(copied.data);
      const entry: Entry = { record, keys: keysOf(record), at };
      const id = stored.record.context.id;
      const invalidated = this.#clearedAt > since || (this.#invalidatedAt.get(id) ?? 0) > since;
      if (!invalidated) this.#put(id, entry);
      return entry;
    } finally {
      if (--this.#readsInFlight === 0) this.#invalidatedAt.clear();
    }
  }

  #put(id: string, entry: Entry): void {
    this.#drop(id);
    this.#entries.set(id, entry);
    for (const [kind, value] of entry.keys) {
      // A key that named another cached enrollment names this one now; the other is out of date.
      const previous = this.#index[kind].get(value);
      if (previous !== undefined && previous !== id) this.#drop(previous);
      this.#index[kind].set(value, id);
    }
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxRecords) break;
      this.#drop(oldest);
    }
  }

  #drop(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    for (const [kind, value] of entry.keys) if (this.#index[kind].get(value) === id) this.#index[kind].delete(value);
  }
}

/** Whether `save` is the entry's record, value for value. */
function unchanged(entry: Entry, save: EnrollmentRecord): boolean {
  if (save === entry.unchanged) return true;
  if (!jsonEqual(save, entry.record)) return false;
  // Neither can change any more: equal now, equal whenever the same object comes back.
  if (isDeepFrozen(save)) entry.unchanged = save;
  return true;
}

type LookupKind = Exclude<EnrollmentLocator["by"], "id">;
type LookupKey = readonly [LookupKind, string];

/** The lookup keys of a record, one per locator other than id that finds it. */
function keysOf(record: EnrollmentRecord): LookupKey[] {
  const { context } = record;
  const keys: LookupKey[] = [["device-key", context.deviceKey]];
  const tokenHash = lookupTokenHash(context);
  if (tokenHash !== null) keys.push(["token-hash", tokenHash]);
  if (context.enrollmentId !== null) keys.push(["enrollment-id", context.enrollmentId]);
  if (context.identityFingerprint !== null) keys.push(["identity", context.identityFingerprint]);
  return keys;
}

/** The value a locator other than id looks for. */
function valueOf(locator: Exclude<EnrollmentLocator, { by: "id" }>): string {
  switch (locator.by) {
    case "device-key":
      return locator.deviceKey;
    case "token-hash":
      return locator.tokenHash;
    case "enrollment-id":
      return locator.enrollmentId;
    case "identity":
      return locator.fingerprint;
  }
}

/** Whether `locator` finds `record`. */
function names(locator: EnrollmentLocator, record: EnrollmentRecord): boolean {
  const { context } = record;
  switch (locator.by) {
    case "id":
      return context.id === locator.id;
    case "device-key":
      return context.deviceKey === locator.deviceKey;
    case "token-hash":
      return lookupTokenHash(context) === locator.tokenHash;
    case "enrollment-id":
      return context.enrollmentId === locator.enrollmentId;
    case "identity":
      return context.identityFingerprint === locator.fingerprint;
  }
}

/** Whether two JSON values are equal (objects whatever their key order); no allocation, unlike comparing their text. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  let count = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key)) continue;
    const value: unknown = Reflect.get(a, key);
    // JSON has no undefined: a key holding it is no key.
    if (value === undefined) continue;
    count++;
    if (!Object.hasOwn(b, key) || !jsonEqual(value, Reflect.get(b, key))) return false;
  }
  for (const key in b) if (Object.hasOwn(b, key) && Reflect.get(b, key) !== undefined) count--;
  return count === 0;
}

/** JSON with every object's keys sorted: equal records give equal text, whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner !== "object" || inner === null || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) sorted[key] = Reflect.get(inner, key);
    return sorted;
  });
}

const IdRow = z.object({ id: z.string() });

/** FindEnrollmentId over the enrollments table: one indexed SELECT of the id, no lock. */
export function sqlEnrollmentIds(db: Kysely<Database>): FindEnrollmentId {
  return async (locator) => {
    const [column, value] = columnOf(locator);
    const found = await db.selectFrom("adenroll_enrollments").select("id").where(column, "=", value).executeTakeFirst();
    if (found === undefined) return null;
    const row = IdRow.safeParse(found);
    if (!row.success) throw new UntrustedRecordError("adenroll_enrollments", "?", "a row without a text id");
    return row.data.id;
  };
}

function columnOf(locator: EnrollmentLocator): ["id" | "device_key" | "token_hash" | "enrollment_id" | "identity_fingerprint", string] {
  switch (locator.by) {
    case "id":
      return ["id", locator.id];
    case "device-key":
      return ["device_key", locator.deviceKey];
    case "token-hash":
      return ["token_hash", locator.tokenHash];
    case "enrollment-id":
      return ["enrollment_id", locator.enrollmentId];
    case "identity":
      return ["identity_fingerprint", locator.fingerprint];
  }
}

/** The channel the enrollments table's trigger notifies (migration 004): the payload is an id, or "" for everything. */
export const enrollmentChannel = "adenroll_enrollments";

/** What a notification on `enrollmentChannel` means for a cache. */
export function applyEnrollmentNotification(cache: Pick<EnrollmentCache, "invalidate" | "clear">, payload: string): void {
  if (payload === "") cache.clear();
  else cache.invalidate(payload);
}
