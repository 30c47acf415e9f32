// The one storage suite every backend passes (run by pglite.test.ts, postgres.test.ts and, for the
// enrollments role, memory.test.ts). Each role's cases are a function of the smallest storage they
// need, so a backend with only some roles runs only those: `describeStorage` runs them all.
//
// A backend hands the suite a TestStorage: the roles plus optional hooks — `reset` (empty every
// table: the suite then shares one instance across tests; without it, each test opens its own),
// `reopen` (close, open again over the same data: persistence), `corrupt` (change a stored row
// behind the store's back; `corruptOAuth` the same for OAuth rows).
import { setTimeout as delay } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createActor } from "xstate";
import { EnrollmentRecord, serverMachine, toRecord, type EnrollmentLocator, type EnrollmentStore } from "../../machines/index.ts";
import type { OpenedStorage } from "../../runtime/storage/open-storage.ts";
import {
  UntrustedRecordError,
  type AuditLog,
  type AuthorizationCodeRecord,
  type Enrollments,
  type MdmStore,
  type OAuthStore,
  type RefreshFamilyRecord,
  type SignInSessionStore,
  type Storage,
  type UserRecord,
  type UserStore,
} from "../../runtime/storage/roles.ts";
import { buildPlist } from "../../spec/index.ts";

export type TestStorage<S> = S & {
  close(): Promise<void>;
  reset?(): Promise<void>;
  reopen?(): Promise<TestStorage<S>>;
  corrupt?(id: string, how: "context" | "keys"): Promise<void>;
  /** Empties a stored OAuth code's (by code hash) or family's (by id) client_id: a row that fails its record. */
  corruptOAuth?(table: "code" | "family", key: string): Promise<void>;
};
export type Open<S> = () => Promise<TestStorage<S>>;

export interface Fixture<S> {
  /** The storage under test, fresh or reset for this test. */
  get(): TestStorage<S>;
  /** Closes it and opens the same data again; undefined when the backend keeps nothing. */
  reopen(): Promise<TestStorage<S> | undefined>;
}

/** Opening PGlite runs initdb (seconds; more on a loaded 2-core CI machine): hooks get a minute. */
export const OPEN_TIMEOUT = 60_000;

/** Runs `cases` inside `describe(name)` over one storage, reset (or reopened) before each test. */
export function describeWith<S>(name: string, open: Open<S>, cases: (fixture: Fixture<S>) => void): void {
  describe(name, () => {
    let current: TestStorage<S> | undefined;
    const get = (): TestStorage<S> => {
      if (current === undefined) throw new Error("the storage is not open");
      return current;
    };
    beforeAll(async () => {
      current = await open();
    }, OPEN_TIMEOUT);
    beforeEach(async () => {
      const storage = get();
      if (storage.reset !== undefined) {
        await storage.reset();
      } else {
        await storage.close();
        current = undefined;
        current = await open();
      }
    }, OPEN_TIMEOUT);
    afterAll(async () => {
      await current?.close();
    }, OPEN_TIMEOUT);
    cases({
      get,
      async reopen() {
        const storage = get();
        if (storage.reopen === undefined) return undefined;
        current = undefined;
        current = await storage.reopen();
        return current;
      },
    });
  });
}

/** Every role, and persistence across them. */
export function describeStorage(name: string, open: Open<Storage>): void {
  describeWith(name, open, (fixture) => {
    describe("enrollments: transactions", () => enrollmentTransactionCases(fixture));
    describe("enrollments: admin reads and integrity", () => enrollmentReadCases(fixture));
    describe("users", () => userCases(fixture));
    describe("sign-in sessions", () => sessionCases(fixture));
    describe("audit log", () => auditCases(fixture));
    describe("persistence", () => persistenceCases(fixture));
    describe("built-in MDM: devices and command queues", () => mdmCases(fixture));
    describe("OAuth 2: codes and refresh-token families", () => oauthCases(fixture));
  });
}

// ---------------------------------------------------------------------------------------------
// Records and helpers

type Context = EnrollmentRecord["context"];

/**
 * A valid record: the server machine's own initial context (so the helper follows the schema as it
 * grows), with `context` laid over it.
 */
export function enrollment(id: string, context: Partial<Context> = {}, state = "challenged"): EnrollmentRecord {
  const input = { id, deviceKey: `device:${id}`, version: "mdm-byod", device: { PRODUCT: "iPhone13,2", VERSION: "19A346", LANGUAGE: "en" } } as const;
  const initial = toRecord(state, createActor(serverMachine, { input }).getSnapshot().context);
  return { state, context: { ...initial.context, ...context } };
}

/** What `transact` hands `work` for these locators, parsed (null when nothing is found). */
export async function find(store: EnrollmentStore, locators: readonly EnrollmentLocator[]): Promise<EnrollmentRecord | null> {
  const found = await store.transact(locators, async (value) => ({ save: null, result: value }));
  if (found === null) return null;
  const record = EnrollmentRecord.safeParse(found);
  if (!record.success) throw new Error(`the store handed back an unreadable record: ${record.error.message}`);
  return record.data;
}

/** `find` as an optimistic transaction (a check-in): a store may answer it from a cache. */
export async function findOptimistic(store: EnrollmentStore, locators: readonly EnrollmentLocator[]): Promise<EnrollmentRecord | null> {
  const found = await store.transact(locators, async (value) => ({ save: null, result: value }), { optimistic: true });
  if (found === null) return null;
  const record = EnrollmentRecord.safeParse(found);
  if (!record.success) throw new Error(`the store handed back an unreadable record: ${record.error.message}`);
  return record.data;
}

/** Runs `check` every `everyMs` until it passes or `withinMs` has gone by (then its last failure is thrown). */
export async function eventually<T>(check: () => Promise<T>, withinMs = 5_000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await delay(everyMs);
    }
  }
}

export async function put(store: EnrollmentStore, record: EnrollmentRecord, locators: readonly EnrollmentLocator[] = [{ by: "id", id: record.context.id }]): Promise<void> {
  await store.transact(locators, async () => ({ save: record, result: undefined }));
}

const byId = (id: string): EnrollmentLocator => ({ by: "id", id });
const byDevice = (deviceKey: string): EnrollmentLocator => ({ by: "device-key", deviceKey });
const byToken = (tokenHash: string): EnrollmentLocator => ({ by: "token-hash", tokenHash });
const byEnrollmentId = (enrollmentId: string): EnrollmentLocator => ({ by: "enrollment-id", enrollmentId });

function randomId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

// ---------------------------------------------------------------------------------------------
// Enrollments: the machines' EnrollmentStore contract (the memory store passes these too)

export function enrollmentTransactionCases(fixture: Fixture<{ readonly enrollments: EnrollmentStore }>): void {
  const store = (): EnrollmentStore => fixture.get().enrollments;

  test("a new enrollment is found by each of its locators", async () => {
    const record = enrollment("e1", { tokenHash: "hash-1", tokenExpiresAt: 1_800_000_000_000, enrollmentId: "enr-1", userIdentifier: "alice@example.com" }, "enrolled");
    await put(store(), record, [byDevice(record.context.deviceKey)]);
    for (const locator of [byId("e1"), byDevice("device:e1"), byToken("hash-1"), byEnrollmentId("enr-1")]) {
      expect(await find(store(), [locator]), locator.by).toEqual(record);
    }
    expect(await find(store(), [byId("nobody"), byDevice("device:nobody"), byToken("hash-x"), byEnrollmentId("enr-x")])).toBeNull();
    expect(await find(store(), [])).toBeNull();
  });

  test("the first locator that finds an enrollment wins", async () => {
    const a = enrollment("a", { tokenHash: "hash-a" });
    const b = enrollment("b", { enrollmentId: "enr-b" });
    await put(store(), a);
    await put(store(), b);
    expect((await find(store(), [byToken("hash-a"), byDevice("device:b")]))?.context.id).toBe("a");
    expect((await find(store(), [byDevice("device:b"), byToken("hash-a")]))?.context.id).toBe("b");
    expect((await find(store(), [byToken("missing"), byEnrollmentId("enr-b"), byId("a")]))?.context.id).toBe("b");
  });

  test("replacing a record replaces its lookup keys: the old token hash finds nothing", async () => {
    await put(store(), enrollment("e1", { tokenHash: "old-token", enrollmentId: "enr-old", tokenExpiresAt: 1 }, "enrolled"));
    // Re-authentication: the new token and the old one's death in one replacement.
    const replaced = enrollment("e1", { tokenHash: "new-token", enrollmentId: "enr-new", tokenExpiresAt: 2 }, "reauthenticated");
    await put(store(), replaced, [byToken("old-token")]);
    expect(await find(store(), [byToken("old-token")])).toBeNull();
    expect(await find(store(), [byEnrollmentId("enr-old")])).toBeNull();
    expect(await find(store(), [byToken("new-token")])).toEqual(replaced);
    expect(await find(store(), [byEnrollmentId("enr-new")])).toEqual(replaced);
    expect(await find(store(), [byDevice("device:e1")])).toEqual(replaced);
    // Token invalidated: no token at all.
    await put(store(), enrollment("e1", { enrollmentId: "enr-new" }, "tokenInvalidated"));
    expect(await find(store(), [byToken("new-token")])).toBeNull();
    expect((await find(store(), [byId("e1")]))?.state).toBe("tokenInvalidated");
    // A freed token hash may name another enrollment.
    await put(store(), enrollment("e2", { tokenHash: "old-token" }));
    expect((await find(store(), [byToken("old-token")]))?.context.id).toBe("e2");
  });

  test("work returning no record writes nothing", async () => {
    const result = await store().transact([byDevice("device:ghost")], async (found) => ({ save: null, result: found }));
    expect(result).toBeNull();
    expect(await find(store(), [byId("ghost"), byDevice("device:ghost")])).toBeNull();
  });

  test("work that throws leaves nothing written, for a new enrollment and an existing one", async () => {
    const boom = new Error("work failed");
    await expect(
      store().transact([byDevice("device:new")], async () => {
        await delay(1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await find(store(), [byId("new"), byDevice("device:new")])).toBeNull();

    const before = enrollment("e1", { tokenHash: "t1" }, "enrolled");
    await put(store(), before);
    await expect(
      store().transact([byToken("t1")], async (found) => {
        expect(found).not.toBeNull();
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await find(store(), [byId("e1")])).toEqual(before);
    // The store is still usable afterwards.
    await put(store(), enrollment("e1", { tokenHash: "t2" }, "enrolled"));
    expect((await find(store(), [byToken("t2")]))?.context.id).toBe("e1");
  });

  test("20 concurrent transactions on one enrollment are serialized: every increment lands", async () => {
    await put(store(), enrollment("counter", { tokenHash: "counter-token", tokenExpiresAt: 0 }));
    const locators = [byId("counter"), byDevice("device:counter"), byToken("counter-token")];
    const seen = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store().transact([locators[i % locators.length] ?? byId("counter")], async (found) => {
          const record = EnrollmentRecord.parse(found);
          const value = record.context.tokenExpiresAt ?? 0;
          await delay(2); // give another transaction every chance to interleave
          return { save: { ...record, context: { ...record.context, tokenExpiresAt: value + 1 } }, result: value };
        }),
      ),
    );
    expect((await find(store(), [byId("counter")]))?.context.tokenExpiresAt).toBe(20);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  test("a transaction that fails does not hold up those queued behind it, and the store runs new ones once idle", async () => {
    await put(store(), enrollment("queue", { tokenHash: "queue-token", tokenExpiresAt: 0 }));
    const step = (fail: boolean) =>
      store().transact([byId("queue")], async (found) => {
        const record = EnrollmentRecord.parse(found);
        await delay(2);
        if (fail) throw new Error("this step fails");
        const value = record.context.tokenExpiresAt ?? 0;
        return { save: { ...record, context: { ...record.context, tokenExpiresAt: value + 1 } }, result: value };
      });
    // Whichever order the store runs them in (a database's row lock need not be first come, first
    // served), the failing one writes nothing and the other two each land once.
    const [first, failed, third] = await Promise.allSettled([step(false), step(true), step(false)]);
    expect(failed?.status).toBe("rejected");
    const landed = [first, third].map((outcome) => (outcome?.status === "fulfilled" ? outcome.value : null));
    expect(landed.sort()).toEqual([0, 1]);
    // Everything settled: the next one runs on what the others left.
    expect(await step(false)).toBe(2);
    expect((await find(store(), [byId("queue")]))?.context.tokenExpiresAt).toBe(3);
  });

  test("concurrent creation of one device key yields one enrollment", async () => {
    const deviceKey = "device:contested";
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        store().transact([byDevice(deviceKey)], async (found) => {
          await delay(2);
          if (found !== null) return { save: null, result: { created: false, id: EnrollmentRecord.parse(found).context.id } };
          const id = randomId("created");
          return { save: enrollment(id, { deviceKey }), result: { created: true, id } };
        }),
      ),
    );
    const created = outcomes.filter((o) => o.created);
    expect(created).toHaveLength(1);
    const winner = created[0]?.id ?? "";
    expect(outcomes.every((o) => o.id === winner)).toBe(true);
    expect((await find(store(), [byDevice(deviceKey)]))?.context.id).toBe(winner);
  });

  // Optimistic transactions (check-ins): a store may answer them from a cache, but never with less
  // than its own writes before them, and a step that changes the record is run again on the stored
  // record, under the lock, and written.
  test("optimistic transactions see every write made before them, by the first locator that finds one", async () => {
    const first = enrollment("e1", { tokenHash: "t1", enrollmentId: "enr-1" }, "enrolled");
    await put(store(), first);
    expect(await findOptimistic(store(), [byToken("t1")])).toEqual(first);
    expect(await findOptimistic(store(), [byEnrollmentId("enr-1"), byToken("t1")])).toEqual(first);
    const second = enrollment("e1", { tokenHash: "t2", enrollmentId: "enr-1" }, "reauthenticated");
    await put(store(), second, [byToken("t1")]);
    expect(await findOptimistic(store(), [byToken("t1")])).toBeNull();
    expect(await findOptimistic(store(), [byToken("t2")])).toEqual(second);
    expect(await findOptimistic(store(), [byEnrollmentId("enr-1")])).toEqual(second);
    expect(await findOptimistic(store(), [byId("nobody"), byToken("t-unknown"), byEnrollmentId("enr-unknown"), byDevice("device:nobody")])).toBeNull();
    // e1 is at hand by id, but a locator before it names another enrollment: that one wins.
    const other = enrollment("e2", { enrollmentId: "enr-2" });
    await put(store(), other);
    expect(await findOptimistic(store(), [byId("e1")])).toEqual(second);
    expect(await findOptimistic(store(), [byEnrollmentId("enr-2"), byId("e1")])).toEqual(other);
  });

  test("an unchanged optimistic step answers; concurrent changing ones are each run again on the stored record", async () => {
    await put(store(), enrollment("counter", { tokenHash: "counter-token", tokenExpiresAt: 0 }));
    const unchanged = await store().transact([byToken("counter-token")], async (found) => ({ save: EnrollmentRecord.parse(found), result: "same" }), { optimistic: true });
    expect(unchanged).toBe("same");
    const seen = await Promise.all(
      Array.from({ length: 10 }, () =>
        store().transact(
          [byId("counter")],
          async (found) => {
            const record = EnrollmentRecord.parse(found);
            const value = record.context.tokenExpiresAt ?? 0;
            await delay(2);
            return { save: { ...record, context: { ...record.context, tokenExpiresAt: value + 1 } }, result: value };
          },
          { optimistic: true },
        ),
      ),
    );
    expect((await find(store(), [byId("counter")]))?.context.tokenExpiresAt).toBe(10);
    expect((await findOptimistic(store(), [byToken("counter-token")]))?.context.tokenExpiresAt).toBe(10);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  test("optimistic creation of one device key by many at once yields one enrollment", async () => {
    const deviceKey = "device:optimistic";
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () =>
        store().transact(
          [byDevice(deviceKey)],
          async (found) => {
            await delay(2);
            if (found !== null) return { save: null, result: { created: false, id: EnrollmentRecord.parse(found).context.id } };
            const id = randomId("created");
            return { save: enrollment(id, { deviceKey }), result: { created: true, id } };
          },
          { optimistic: true },
        ),
      ),
    );
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.id)).size).toBe(1);
  });

  test("an optimistic step that throws writes nothing", async () => {
    const before = enrollment("e1", { tokenHash: "t1" }, "enrolled");
    await put(store(), before);
    const boom = new Error("work failed");
    await expect(store().transact([byToken("t1")], async () => Promise.reject(boom), { optimistic: true })).rejects.toBe(boom);
    await expect(store().transact([byDevice("device:new")], async () => Promise.reject(boom), { optimistic: true })).rejects.toBe(boom);
    expect(await find(store(), [byId("e1")])).toEqual(before);
    expect(await find(store(), [byDevice("device:new")])).toBeNull();
  });
}

// ---------------------------------------------------------------------------------------------
// Enrollments: admin reads, and what the SQL stores check on the way in and out

export function enrollmentReadCases(fixture: Fixture<{ readonly enrollments: Enrollments }>): void {
  const store = (): Enrollments => fixture.get().enrollments;

  test("getEnrollment and findEnrollmentByTokenHash return trusted records", async () => {
    const record = enrollment("e1", { tokenHash: "h1", userIdentifier: "alice@example.com" }, "enrolled");
    const before = Date.now();
    await put(store(), record);
    const stored = await store().getEnrollment("e1");
    expect(stored).toMatchObject({ trusted: true, id: "e1", record });
    expect(stored?.updatedAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(await store().findEnrollmentByTokenHash("h1")).toEqual(stored);
    expect(await store().getEnrollment("missing")).toBeNull();
    expect(await store().findEnrollmentByTokenHash("missing")).toBeNull();
  });

  test("saving the record a transaction read writes nothing (updated_at stays); a changed one is written", async () => {
    const record = enrollment("e1", { tokenHash: "h1", userIdentifier: "alice@example.com" }, "enrolled");
    await put(store(), record);
    const first = await store().getEnrollment("e1");
    await delay(5);
    // Read back, as a store hands it over (its JSON may come back in another key order).
    await store().transact([byId("e1")], async (found) => ({ save: EnrollmentRecord.parse(found), result: null }));
    expect(await store().getEnrollment("e1")).toEqual(first);
    const changed = enrollment("e1", { tokenHash: "h2", userIdentifier: "alice@example.com" }, "enrolled");
    await store().transact([byId("e1")], async () => ({ save: changed, result: null }));
    const second = await store().getEnrollment("e1");
    expect(second).toMatchObject({ trusted: true, record: changed });
    expect(second?.updatedAt).toBeGreaterThan(first?.updatedAt ?? Number.POSITIVE_INFINITY);
    expect(await store().findEnrollmentByTokenHash("h1")).toBeNull();
  });

  test("listEnrollments filters by state and user, newest first, with a limit", async () => {
    await put(store(), enrollment("a", { userIdentifier: "alice@example.com" }, "enrolled"));
    await delay(5);
    await put(store(), enrollment("b", { userIdentifier: "bob@example.com" }, "enrolled"));
    await delay(5);
    await put(store(), enrollment("c", { userIdentifier: "alice@example.com" }, "challenged"));
    const ids = async (filter?: Parameters<Enrollments["listEnrollments"]>[0]) => (await store().listEnrollments(filter)).map((e) => e.id);
    expect(await ids()).toEqual(["c", "b", "a"]);
    expect(await ids({ state: "enrolled" })).toEqual(["b", "a"]);
    expect(await ids({ userIdentifier: "alice@example.com" })).toEqual(["c", "a"]);
    expect(await ids({ state: "enrolled", userIdentifier: "alice@example.com" })).toEqual(["a"]);
    expect(await ids({ limit: 2 })).toEqual(["c", "b"]);
    await expect(store().listEnrollments({ limit: 0 })).rejects.toThrow(RangeError);
  });

  test("a record that fails the enrollment schema is refused and nothing is written", async () => {
    await expect(put(store(), enrollment("bad", {}, "no-such-state"))).rejects.toThrow(/fails its schema/);
    expect(await store().getEnrollment("bad")).toBeNull();
    const existing = enrollment("e1", { tokenHash: "h1" });
    await put(store(), existing);
    await expect(put(store(), { ...existing, state: "no-such-state" })).rejects.toThrow(/fails its schema/);
    expect(await find(store(), [byId("e1")])).toEqual(existing);
  });

  test("a save whose token hash another enrollment holds fails whole", async () => {
    await put(store(), enrollment("a", { tokenHash: "shared" }));
    const b = enrollment("b", { enrollmentId: "enr-b" });
    await put(store(), b);
    await expect(put(store(), enrollment("b", { tokenHash: "shared", enrollmentId: "enr-b2" }, "enrolled"))).rejects.toThrow();
    expect(await find(store(), [byId("b")])).toEqual(b);
    expect(await find(store(), [byEnrollmentId("enr-b2")])).toBeNull();
  });

  test("a stored record that fails the schema is reported, not trusted, and never handed to work", async (ctx) => {
    const storage = fixture.get();
    if (storage.corrupt === undefined) return ctx.skip("this backend cannot be corrupted from outside");
    await put(store(), enrollment("e1", { tokenHash: "h1" }, "enrolled"));
    await put(store(), enrollment("e2"));
    await storage.corrupt("e1", "context");
    const stored = await store().getEnrollment("e1");
    expect(stored).toMatchObject({ trusted: false, id: "e1" });
    expect(stored?.trusted === false ? stored.problem : "").toMatch(/schema/);
    expect((await store().listEnrollments()).map((e) => [e.id, e.trusted])).toEqual(
      expect.arrayContaining([
        ["e1", false],
        ["e2", true],
      ]),
    );
    let ran = false;
    await expect(
      store().transact([byToken("h1")], async () => {
        ran = true;
        return { save: null, result: null };
      }),
    ).rejects.toBeInstanceOf(UntrustedRecordError);
    expect(ran).toBe(false);
  });

  test("a row whose lookup columns disagree with its context is not trusted", async (ctx) => {
    const storage = fixture.get();
    if (storage.corrupt === undefined) return ctx.skip("this backend cannot be corrupted from outside");
    await put(store(), enrollment("e1", { tokenHash: "h1" }, "enrolled"));
    await storage.corrupt("e1", "keys");
    expect(await store().getEnrollment("e1")).toMatchObject({ trusted: false, problem: expect.stringMatching(/token_hash/) });
    await expect(find(store(), [byId("e1")])).rejects.toBeInstanceOf(UntrustedRecordError);
  });

  test.for(["context", "keys"] as const)("a record corrupted (%s) behind the store's back is soon refused to optimistic steps too", async (how, ctx) => {
    const storage = fixture.get();
    if (storage.corrupt === undefined) return ctx.skip("this backend cannot be corrupted from outside");
    await put(store(), enrollment("e1", { tokenHash: "h1" }, "enrolled"));
    expect(await findOptimistic(store(), [byId("e1")])).not.toBeNull(); // at hand, if the store caches
    await storage.corrupt("e1", how);
    // The write was announced (a cache may answer from its copy until then, within its bound).
    await eventually(async () => {
      let ran = false;
      await expect(
        store().transact(
          [byId("e1")],
          async () => {
            ran = true;
            return { save: null, result: null };
          },
          { optimistic: true },
        ),
      ).rejects.toBeInstanceOf(UntrustedRecordError);
      expect(ran).toBe(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Users

const alice: UserRecord = {
  userIdentifier: "Alice@Example.com",
  managedAppleId: "alice@appleid.example.com",
  password: { algorithm: "scrypt", params: { N: 16384, r: 8, p: 1, keyLength: 32 }, salt: "c2FsdHNhbHRzYWx0", hash: "aGFzaGhhc2hoYXNo" },
};
const bob: UserRecord = { userIdentifier: "bob@corp.example", managedAppleId: "bob@corp.example", password: null, enrollmentType: "mdm-adde" };

export function userCases(fixture: Fixture<{ readonly users: UserStore }>): void {
  const users = (): UserStore => fixture.get().users;

  test("upsert then get, case-insensitively and trimmed", async () => {
    await users().upsert(alice);
    expect(await users().get("Alice@Example.com")).toEqual(alice);
    expect(await users().get("  alice@example.COM ")).toEqual(alice);
    expect(await users().get("nobody@example.com")).toBeNull();
  });

  test("an enrollment-type override and a password-less user round-trip", async () => {
    await users().upsert(bob);
    expect(await users().get("bob@corp.example")).toEqual(bob);
  });

  test("upsert replaces the user with the same identifier", async () => {
    await users().upsert(alice);
    const changed: UserRecord = { ...alice, userIdentifier: "alice@example.com", managedAppleId: "alice2@appleid.example.com", enrollmentType: "mdm-adde" };
    await users().upsert(changed);
    expect(await users().get("ALICE@example.com")).toEqual(changed);
    expect(await users().list()).toHaveLength(1);
    // Dropping the override.
    await users().upsert(alice);
    expect(await users().get("alice@example.com")).toEqual(alice);
  });

  test("list is ordered by identifier; remove says whether there was a user", async () => {
    await users().upsert(bob);
    await users().upsert(alice);
    expect((await users().list()).map((u) => u.userIdentifier)).toEqual(["Alice@Example.com", "bob@corp.example"]);
    expect(await users().remove("ALICE@example.com")).toBe(true);
    expect(await users().remove("alice@example.com")).toBe(false);
    expect(await users().get("alice@example.com")).toBeNull();
    expect(await users().list()).toEqual([bob]);
  });

  test("a user that fails the schema is refused", async () => {
    await expect(users().upsert({ ...alice, managedAppleId: "" })).rejects.toThrow(/fails its schema/);
    expect(await users().list()).toEqual([]);
  });

  test("source: a new user is config's unless told; a replaced one keeps its own unless told", async () => {
    await users().upsert(alice);
    expect(await users().entry("alice@example.com")).toEqual({ user: alice, source: "config" });
    await users().upsert(bob, { source: "admin" });
    const changed: UserRecord = { ...bob, managedAppleId: "bob2@corp.example" };
    await users().upsert(changed);
    expect(await users().entry("BOB@corp.example")).toEqual({ user: changed, source: "admin" });
    await users().upsert(changed, { source: "config" });
    expect(await users().entries()).toEqual([
      { user: alice, source: "config" },
      { user: changed, source: "config" },
    ]);
    expect(await users().entry("nobody@example.com")).toBeNull();
  });

  test("create adds only a user whose identifier is free (case-insensitively), with its source", async () => {
    expect(await users().create(bob, "admin")).toBe(true);
    expect(await users().create({ ...bob, userIdentifier: "BOB@Corp.Example", managedAppleId: "other@corp.example" }, "admin")).toBe(false);
    expect(await users().create({ ...alice }, "config")).toBe(true);
    expect(await users().entries()).toEqual([
      { user: alice, source: "config" },
      { user: bob, source: "admin" },
    ]);
    // What a create refused left unchanged; removal forgets the source too.
    expect(await users().get("bob@corp.example")).toEqual(bob);
    expect(await users().remove("bob@corp.example")).toBe(true);
    expect(await users().create(bob, "config")).toBe(true);
    expect((await users().entry("bob@corp.example"))?.source).toBe("config");
    await expect(users().create({ ...alice, userIdentifier: "carol@example.com", managedAppleId: "" }, "admin")).rejects.toThrow(/fails its schema/);
  });
}

// ---------------------------------------------------------------------------------------------
// Sign-in sessions

export function sessionCases(fixture: Fixture<{ readonly sessions: SignInSessionStore }>): void {
  const sessions = (): SignInSessionStore => fixture.get().sessions;
  const t0 = Date.UTC(2026, 10, 22, 12);

  test("failures are counted per key since a time, and cleared", async () => {
    for (const at of [t0, t0 + 1_000, t0 + 2_000]) await sessions().recordFailure("alice@example.com", at);
    await sessions().recordFailure("bob@example.com", t0 + 1_500);
    expect(await sessions().countFailures("alice@example.com", t0)).toBe(3);
    expect(await sessions().countFailures("alice@example.com", t0 + 1_000)).toBe(2);
    expect(await sessions().countFailures("alice@example.com", t0 + 2_001)).toBe(0);
    expect(await sessions().countFailures("bob@example.com", t0)).toBe(1);
    expect(await sessions().countFailures("carol@example.com", t0)).toBe(0);
    await sessions().clear("alice@example.com");
    expect(await sessions().countFailures("alice@example.com", 0)).toBe(0);
    expect(await sessions().countFailures("bob@example.com", 0)).toBe(1);
  });

  test("concurrent failures all count", async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => sessions().recordFailure("k", t0 + i)));
    expect(await sessions().countFailures("k", t0)).toBe(10);
  });

  test("a CSRF nonce is good once, before it expires", async () => {
    await sessions().issue("n1", t0 + 60_000);
    expect(await sessions().consume("n1", t0)).toBe(true);
    expect(await sessions().consume("n1", t0)).toBe(false);
    await sessions().issue("n2", t0 + 60_000);
    expect(await sessions().consume("n2", t0 + 60_000)).toBe(false); // expired (exclusive)
    expect(await sessions().consume("n2", t0)).toBe(false); // and gone
    expect(await sessions().consume("never-issued", t0)).toBe(false);
    await expect(sessions().issue("n1-dup", t0 + 1)).resolves.toBeUndefined();
    await expect(sessions().issue("n1-dup", t0 + 1)).rejects.toThrow();
  });

  test("of concurrent consumers of one nonce exactly one wins", async () => {
    await sessions().issue("race", t0 + 60_000);
    const results = await Promise.all(Array.from({ length: 8 }, () => sessions().consume("race", t0)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("prune drops old failures and expired nonces only", async () => {
    await sessions().recordFailure("k", t0 - 10_000);
    await sessions().recordFailure("k", t0 + 10_000);
    await sessions().issue("old", t0 - 1);
    await sessions().issue("fresh", t0 + 60_000);
    await sessions().prune(t0);
    expect(await sessions().countFailures("k", 0)).toBe(1);
    expect(await sessions().consume("old", t0 - 10_000)).toBe(false);
    expect(await sessions().consume("fresh", t0)).toBe(true);
  });
}

// ---------------------------------------------------------------------------------------------
// Audit

export function auditCases(fixture: Fixture<{ readonly audit: AuditLog }>): void {
  const audit = (): AuditLog => fixture.get().audit;
  const t0 = Date.UTC(2026, 10, 22, 12);

  test("entries come back newest first, ties newest appended first, with a limit", async () => {
    await audit().append({ at: t0, actor: "system", action: "server.started", subject: "-", detail: null });
    await audit().append({ at: t0 + 2_000, actor: "alice@example.com", action: "sign-in.succeeded", subject: "e1", detail: { attempts: 2 } });
    await audit().append({ at: t0 + 1_000, actor: "alice@example.com", action: "sign-in.failed", subject: "e1", detail: { reason: "password" } });
    await audit().append({ at: t0 + 2_000, actor: "device:e1", action: "enrollment.profile-delivered", subject: "e1", detail: [] });
    const all = await audit().list();
    expect(all.map((e) => e.action)).toEqual(["enrollment.profile-delivered", "sign-in.succeeded", "sign-in.failed", "server.started"]);
    expect(all[1]).toEqual({ at: t0 + 2_000, actor: "alice@example.com", action: "sign-in.succeeded", subject: "e1", detail: { attempts: 2 } });
    expect((await audit().list({ limit: 2 })).map((e) => e.action)).toEqual(["enrollment.profile-delivered", "sign-in.succeeded"]);
  });

  test("detail keeps any JSON value", async () => {
    const detail = { text: "quote \" backslash \\ <b>é</b> 🍏", nested: { list: [1, 2.5, -3, true, false, null, "x"] }, empty: {} };
    await audit().append({ at: t0, actor: "admin:root", action: "config.changed", subject: "example.com", detail });
    expect((await audit().list())[0]?.detail).toEqual(detail);
  });
}

// ---------------------------------------------------------------------------------------------
// Persistence

function persistenceCases(fixture: Fixture<Storage>): void {
  test("every role's data survives closing and reopening", { timeout: OPEN_TIMEOUT }, async (ctx) => {
    const storage = fixture.get();
    if (storage.reopen === undefined) return ctx.skip("this backend keeps nothing");
    const record = enrollment("e1", { tokenHash: "h1", enrollmentId: "enr-1", userIdentifier: "alice@example.com" }, "enrolled");
    await put(storage.enrollments, record);
    await storage.users.upsert(alice);
    await storage.sessions.recordFailure("alice@example.com", 1_000);
    await storage.sessions.issue("nonce", 10_000);
    await storage.audit.append({ at: 1_000, actor: "system", action: "test", subject: "-", detail: { n: 1 } });

    const again = await fixture.reopen();
    if (again === undefined) throw new Error("reopen is supported but returned nothing");
    for (const locator of [byId("e1"), byDevice("device:e1"), byToken("h1"), byEnrollmentId("enr-1")]) {
      expect(await find(again.enrollments, [locator]), locator.by).toEqual(record);
    }
    expect(await again.users.get("alice@example.com")).toEqual(alice);
    expect(await again.sessions.countFailures("alice@example.com", 0)).toBe(1);
    expect(await again.sessions.consume("nonce", 5_000)).toBe(true);
    expect((await again.audit.list()).map((e) => e.action)).toEqual(["test"]);
  });
}

// ---------------------------------------------------------------------------------------------
// The built-in MDM (runtime/storage/mdm-store.ts)

/** A queued command as the built-in MDM stores it: the plist it sends. */
export function mdmCommand(commandUuid: string, enrollmentRef: string, requestType = "DeviceInformation") {
  return { commandUuid, enrollmentRef, requestType, command: buildPlist({ CommandUUID: commandUuid, Command: { RequestType: requestType } }) };
}

export function mdmCases(fixture: Fixture<{ readonly mdm: MdmStore }>): void {
  const mdm = (): MdmStore => fixture.get().mdm;
  const t0 = Date.UTC(2026, 10, 22, 12);
  const facts = { enrollmentRef: "e1", deviceId: "ENR-1", idKind: "EnrollmentID", topic: "com.apple.mgmt.External.test" } as const;

  test("device facts: Authenticate, TokenUpdate, CheckOut; an Authenticate starts over", async () => {
    expect(await mdm().getDevice("e1")).toBeNull();
    expect(await mdm().recordCheckOut("e1", t0)).toBe(false);
    await mdm().recordAuthenticate(facts, t0);
    expect(await mdm().getDevice("e1")).toEqual({ ...facts, pushMagic: null, pushToken: null, checkedOutAt: null, updatedAt: t0 });
    await mdm().recordTokenUpdate({ ...facts, pushMagic: "MAGIC-1", pushToken: "AAEC" }, t0 + 1_000);
    expect(await mdm().getDevice("e1")).toMatchObject({ pushMagic: "MAGIC-1", pushToken: "AAEC", updatedAt: t0 + 1_000 });
    expect(await mdm().recordCheckOut("e1", t0 + 2_000)).toBe(true);
    expect(await mdm().getDevice("e1")).toMatchObject({ pushMagic: null, pushToken: null, checkedOutAt: t0 + 2_000 });
    await mdm().recordAuthenticate({ ...facts, deviceId: "ENR-2" }, t0 + 3_000);
    expect(await mdm().getDevice("e1")).toEqual({ ...facts, deviceId: "ENR-2", pushMagic: null, pushToken: null, checkedOutAt: null, updatedAt: t0 + 3_000 });
    // A TokenUpdate without an Authenticate before it is recorded too.
    await mdm().recordTokenUpdate({ ...facts, enrollmentRef: "e2", deviceId: "UDID-2", idKind: "UDID", pushMagic: "MAGIC-2", pushToken: "BBB=" }, t0);
    expect(await mdm().getDevice("e2")).toMatchObject({ deviceId: "UDID-2", idKind: "UDID", pushMagic: "MAGIC-2" });
    expect(await mdm().getDevice("e1")).toMatchObject({ deviceId: "ENR-2" });
  });

  test("the queue hands out each enrollment's oldest unanswered command (queued, sent without an answer, or not-now), marking it sent", async () => {
    for (const [i, uuid] of ["C-1", "C-2", "C-3"].entries()) expect(await mdm().enqueueCommand(mdmCommand(uuid, "e1"), t0 + i)).toBe(true);
    await mdm().enqueueCommand(mdmCommand("C-OTHER", "e2", "ProfileList"), t0 - 1);
    const first = await mdm().nextCommand("e1", t0 + 10);
    expect(first).toMatchObject({ commandUuid: "C-1", enrollmentRef: "e1", requestType: "DeviceInformation", status: "sent", result: null, createdAt: t0, sentAt: t0 + 10, answeredAt: null });
    expect(first?.command).toContain("<string>C-1</string>");
    // Its answer never came: it is sent again, not skipped.
    expect(await mdm().nextCommand("e1", t0 + 11)).toMatchObject({ commandUuid: "C-1", sentAt: t0 + 11 });
    expect(await mdm().recordAnswer("e1", "C-1", "acknowledged", "<plist/>", t0 + 12)).toBe(true);
    expect((await mdm().nextCommand("e1", t0 + 13))?.commandUuid).toBe("C-2");
    // NotNow: C-2 stays first in line, ahead of the newer C-3.
    expect(await mdm().recordAnswer("e1", "C-2", "not-now", "<plist/>", t0 + 14)).toBe(true);
    expect((await mdm().nextCommand("e1", t0 + 15))?.commandUuid).toBe("C-2");
    expect(await mdm().recordAnswer("e1", "C-2", "error", "<plist/>", t0 + 16)).toBe(true);
    expect((await mdm().nextCommand("e1", t0 + 17))?.commandUuid).toBe("C-3");
    expect(await mdm().recordAnswer("e1", "C-3", "acknowledged", "<plist/>", t0 + 18)).toBe(true);
    expect(await mdm().nextCommand("e1", t0 + 19)).toBeNull();
    expect(await mdm().getCommand("C-OTHER")).toMatchObject({ status: "queued", sentAt: null });
    expect(await mdm().nextCommand("nobody", t0)).toBeNull();
  });

  test("an answer is recorded only on the enrollment's own command", async () => {
    await mdm().enqueueCommand(mdmCommand("C-1", "e1"), t0);
    await mdm().nextCommand("e1", t0 + 1);
    expect(await mdm().recordAnswer("e2", "C-1", "acknowledged", "<plist>forged</plist>", t0 + 2)).toBe(false);
    expect(await mdm().recordAnswer("e1", "C-unknown", "acknowledged", "<plist/>", t0 + 2)).toBe(false);
    expect(await mdm().getCommand("C-1")).toMatchObject({ status: "sent", result: null, answeredAt: null });
    const report = buildPlist({ Status: "Acknowledged", CommandUUID: "C-1", EnrollmentID: "ENR-1", QueryResponses: { OSVersion: "18.2" } });
    expect(await mdm().recordAnswer("e1", "C-1", "acknowledged", report, t0 + 3)).toBe(true);
    expect(await mdm().getCommand("C-1")).toMatchObject({ status: "acknowledged", result: report, answeredAt: t0 + 3 });
    for (const status of ["error", "command-format-error"] as const) {
      await mdm().recordAnswer("e1", "C-1", status, report, t0 + 4);
      expect((await mdm().getCommand("C-1"))?.status).toBe(status);
    }
  });

  test("a CommandUUID is queued once; a plist that is not the command its columns name is refused", async () => {
    expect(await mdm().enqueueCommand(mdmCommand("C-1", "e1"), t0)).toBe(true);
    expect(await mdm().enqueueCommand(mdmCommand("C-1", "e2", "ProfileList"), t0 + 1)).toBe(false);
    expect(await mdm().getCommand("C-1")).toMatchObject({ enrollmentRef: "e1", requestType: "DeviceInformation" });
    await expect(mdm().enqueueCommand({ ...mdmCommand("C-2", "e1"), commandUuid: "C-3" }, t0)).rejects.toThrow(/another CommandUUID/);
    await expect(mdm().enqueueCommand({ ...mdmCommand("C-2", "e1"), requestType: "ProfileList" }, t0)).rejects.toThrow(/another RequestType/);
    await expect(mdm().enqueueCommand({ ...mdmCommand("C-2", "e1"), command: "not a plist" }, t0)).rejects.toThrow(/does not parse/);
    expect(await mdm().getCommand("C-2")).toBeNull();
    expect(await mdm().getCommand("C-3")).toBeNull();
  });

  test("commands are listed newest first, per enrollment, with a limit", async () => {
    for (const [i, uuid] of ["C-1", "C-2", "C-3"].entries()) await mdm().enqueueCommand(mdmCommand(uuid, "e1"), t0 + i);
    await mdm().enqueueCommand(mdmCommand("C-OTHER", "e2"), t0);
    expect((await mdm().listCommands("e1")).map((c) => c.commandUuid)).toEqual(["C-3", "C-2", "C-1"]);
    expect((await mdm().listCommands("e1", { limit: 2 })).map((c) => c.commandUuid)).toEqual(["C-3", "C-2"]);
    expect(await mdm().listCommands("nobody")).toEqual([]);
    await expect(mdm().listCommands("e1", { limit: 0 })).rejects.toThrow(RangeError);
  });

  test("concurrent asks for the next command never hand out a newer one before the oldest unanswered", async () => {
    const uuids = Array.from({ length: 8 }, (_, i) => `C-${i}`);
    for (const [i, uuid] of uuids.entries()) await mdm().enqueueCommand(mdmCommand(uuid, "e1"), t0 + i);
    const handed = await Promise.all(uuids.map(() => mdm().nextCommand("e1", t0 + 100)));
    expect(handed.map((c) => c?.commandUuid)).toEqual(uuids.map(() => "C-0"));
    expect((await mdm().getCommand("C-1"))?.status).toBe("queued");
  });

  test("devices and queues survive closing and reopening", { timeout: OPEN_TIMEOUT }, async (ctx) => {
    const storage = fixture.get();
    if (storage.reopen === undefined) return ctx.skip("this backend keeps nothing");
    await storage.mdm.recordTokenUpdate({ ...facts, pushMagic: "MAGIC-1", pushToken: "AAEC" }, t0);
    await storage.mdm.enqueueCommand(mdmCommand("C-1", "e1"), t0);
    await storage.mdm.enqueueCommand(mdmCommand("C-2", "e1"), t0 + 1);
    await storage.mdm.nextCommand("e1", t0 + 2);
    const again = await fixture.reopen();
    if (again === undefined) throw new Error("reopen is supported but returned nothing");
    expect(await again.mdm.getDevice("e1")).toMatchObject({ pushMagic: "MAGIC-1", pushToken: "AAEC" });
    expect(await again.mdm.getCommand("C-1")).toMatchObject({ status: "sent", sentAt: t0 + 2 });
    expect((await again.mdm.nextCommand("e1", t0 + 3))?.commandUuid).toBe("C-1");
    await again.mdm.recordAnswer("e1", "C-1", "acknowledged", "<plist/>", t0 + 4);
    expect((await again.mdm.nextCommand("e1", t0 + 5))?.commandUuid).toBe("C-2");
  });
}

// ---------------------------------------------------------------------------------------------
// OAuth 2: authorization codes and refresh-token families (runtime/storage/oauth-store.ts,
// runtime/storage/memory-oauth-store.ts)

export function oauthCode(codeHash: string, fields: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  const t0 = Date.UTC(2026, 10, 22, 12);
  return {
    codeHash,
    enrollmentRef: "e1",
    clientId: "client-1",
    redirectUri: "apple-remotemanagement-user-login://authentication-results",
    scope: "openid profile",
    codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    userIdentifier: "alice@example.com",
    sealedAccessToken: `sealed:${codeHash}`,
    accessTokenHash: `access:${codeHash}`,
    accessTokenExpiresAt: t0 + 3_600_000,
    createdAt: t0,
    expiresAt: t0 + 60_000,
    redeemedAt: null,
    ...fields,
  };
}

export function refreshFamily(familyId: string, fields: Partial<RefreshFamilyRecord> = {}): RefreshFamilyRecord {
  const t0 = Date.UTC(2026, 10, 22, 12);
  return {
    familyId,
    enrollmentRef: "e1",
    clientId: "client-1",
    userIdentifier: "alice@example.com",
    scope: "openid",
    codeHash: `code:${familyId}`,
    accessTokenHash: `access:${familyId}`,
    createdAt: t0,
    expiresAt: t0 + 30 * 86_400_000,
    revokedAt: null,
    ...fields,
  };
}

/**
 * The store's side of OAUTH-10 (a code once), OAUTH-12 (rotation, one winner) and OAUTH-15
 * (revocation). The rule ids stay out of these titles: the rules are covered where the server
 * enforces them, not by its storage.
 */
export function oauthCases(fixture: Fixture<{ readonly oauth: OAuthStore }>): void {
  const oauth = (): OAuthStore => fixture.get().oauth;
  const t0 = Date.UTC(2026, 10, 22, 12);
  const next = (n: number, expiresAt = t0 + 60 * 86_400_000) => ({ refreshTokenHash: `refresh-${n}`, accessTokenHash: `access-${n}`, expiresAt });

  test("a code round-trips field for field (with and without its optional fields)", async () => {
    const full = oauthCode("c-full");
    const bare = oauthCode("c-bare", { scope: null, codeChallenge: null, enrollmentRef: "e2", clientId: "client-2", redirectUri: "https://example.com/cb" });
    await oauth().putCode(full);
    await oauth().putCode(bare);
    expect(await oauth().redeemCode("c-full", t0 + 1)).toEqual({ status: "redeemed", code: { ...full, redeemedAt: t0 + 1 } });
    expect(await oauth().redeemCode("c-bare", t0 + 2)).toEqual({ status: "redeemed", code: { ...bare, redeemedAt: t0 + 2 } });
  });

  test("a code is redeemed once, replayed every later time (as stored), and an unknown one is null", async () => {
    const code = oauthCode("c-1");
    await oauth().putCode(code);
    expect(await oauth().redeemCode("c-1", t0 + 10)).toEqual({ status: "redeemed", code: { ...code, redeemedAt: t0 + 10 } });
    // The replay reports the first redemption's time, not its own.
    expect(await oauth().redeemCode("c-1", t0 + 20)).toEqual({ status: "replayed", code: { ...code, redeemedAt: t0 + 10 } });
    expect(await oauth().redeemCode("c-1", t0 + 30)).toMatchObject({ status: "replayed", code: { redeemedAt: t0 + 10 } });
    expect(await oauth().redeemCode("c-unknown", t0)).toBeNull();
  });

  test("of concurrent redemptions of one code exactly one is redeemed; the others see its time", async () => {
    await oauth().putCode(oauthCode("c-race"));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => oauth().redeemCode("c-race", t0 + 100 + i)));
    const redeemed = results.filter((r) => r?.status === "redeemed");
    expect(redeemed).toHaveLength(1);
    expect(results.filter((r) => r?.status === "replayed")).toHaveLength(7);
    const winner = redeemed[0]?.code.redeemedAt;
    expect(winner).toBeTypeOf("number");
    expect(results.every((r) => r?.code.redeemedAt === winner)).toBe(true);
  });

  test("a code hash is stored once; a code that fails its schema or has a fractional time is refused", async () => {
    await oauth().putCode(oauthCode("c-1"));
    await expect(oauth().putCode(oauthCode("c-1", { clientId: "someone-else" }))).rejects.toThrow();
    expect((await oauth().redeemCode("c-1", t0))?.code.clientId).toBe("client-1");
    await expect(oauth().putCode(oauthCode("c-2", { clientId: "" }))).rejects.toThrow(/fails its schema/);
    await expect(oauth().putCode(oauthCode("c-3", { expiresAt: t0 + 0.5 }))).rejects.toThrow(RangeError);
    expect(await oauth().redeemCode("c-2", t0)).toBeNull();
    expect(await oauth().redeemCode("c-3", t0)).toBeNull();
  });

  test("a family round-trips field for field and is found by its refresh token and by its access token", async () => {
    const family = refreshFamily("f-1");
    const bare = refreshFamily("f-2", { scope: null, codeHash: null, accessTokenHash: "access-other" });
    await oauth().createFamily(family, "refresh-1");
    await oauth().createFamily(bare, "refresh-2");
    expect(await oauth().findRefreshToken("refresh-1")).toEqual({ family, used: false });
    expect(await oauth().findRefreshToken("refresh-2")).toEqual({ family: bare, used: false });
    expect(await oauth().findFamilyByAccessToken("access:f-1")).toEqual(family);
    expect(await oauth().findRefreshToken("refresh-unknown")).toBeNull();
    expect(await oauth().findFamilyByAccessToken("access-unknown")).toBeNull();
  });

  test("a family id, a refresh token hash and a code's family are each stored once; a failed create writes nothing", async () => {
    await oauth().createFamily(refreshFamily("f-1"), "refresh-1");
    await expect(oauth().createFamily(refreshFamily("f-1", { codeHash: null }), "refresh-2")).rejects.toThrow();
    await expect(oauth().createFamily(refreshFamily("f-2", { codeHash: null }), "refresh-1")).rejects.toThrow();
    await expect(oauth().createFamily(refreshFamily("f-3", { codeHash: "code:f-1" }), "refresh-3")).rejects.toThrow();
    await expect(oauth().createFamily(refreshFamily("f-4", { userIdentifier: "" }), "refresh-4")).rejects.toThrow(/fails its schema/);
    expect(await oauth().findRefreshToken("refresh-2")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-3")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-4")).toBeNull();
    expect(await oauth().findFamilyByAccessToken("access:f-2")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-1")).toEqual({ family: refreshFamily("f-1"), used: false });
    // The family f-2 was rolled back with its refresh token: its id is free.
    await oauth().createFamily(refreshFamily("f-2", { codeHash: null }), "refresh-5");
    expect((await oauth().findRefreshToken("refresh-5"))?.family.familyId).toBe("f-2");
  });

  test("rotation marks the old token used, adds the new one, and moves the family's access token and expiry", async () => {
    const family = refreshFamily("f-1");
    await oauth().createFamily(family, "refresh-0");
    expect(await oauth().rotateRefreshToken("refresh-0", next(1, t0 + 1_000_000), t0 + 5)).toBe(true);
    const rotated = { ...family, accessTokenHash: "access-1", expiresAt: t0 + 1_000_000 };
    expect(await oauth().findRefreshToken("refresh-0")).toEqual({ family: rotated, used: true });
    expect(await oauth().findRefreshToken("refresh-1")).toEqual({ family: rotated, used: false });
    // Found by the new access token, no longer by the old one.
    expect(await oauth().findFamilyByAccessToken("access-1")).toEqual(rotated);
    expect(await oauth().findFamilyByAccessToken("access:f-1")).toBeNull();
    expect(await oauth().rotateRefreshToken("refresh-1", next(2), t0 + 6)).toBe(true);
    expect(await oauth().findRefreshToken("refresh-2")).toMatchObject({ used: false, family: { accessTokenHash: "access-2" } });
    expect(await oauth().findRefreshToken("refresh-1")).toMatchObject({ used: true });
  });

  test("rotating a used or unknown token is refused and changes nothing", async () => {
    await oauth().createFamily(refreshFamily("f-1"), "refresh-0");
    expect(await oauth().rotateRefreshToken("refresh-0", next(1), t0 + 5)).toBe(true);
    const before = await oauth().findRefreshToken("refresh-1");
    expect(await oauth().rotateRefreshToken("refresh-0", next(9), t0 + 6)).toBe(false);
    expect(await oauth().rotateRefreshToken("refresh-unknown", next(8), t0 + 6)).toBe(false);
    expect(await oauth().findRefreshToken("refresh-9")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-8")).toBeNull();
    expect(await oauth().findFamilyByAccessToken("access-9")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-1")).toEqual(before);
    expect(before).toMatchObject({ used: false, family: { accessTokenHash: "access-1" } });
  });

  test("of concurrent rotations of one token exactly one wins, and only its tokens are kept", async () => {
    await oauth().createFamily(refreshFamily("f-1"), "refresh-0");
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => oauth().rotateRefreshToken("refresh-0", next(i + 1), t0 + i)));
    expect(results.filter((won) => won)).toHaveLength(1);
    const winner = results.indexOf(true) + 1;
    for (let n = 1; n <= 8; n++) {
      expect(await oauth().findRefreshToken(`refresh-${n}`), `refresh-${n}`).toEqual(n === winner ? { family: expect.objectContaining({ accessTokenHash: `access-${n}` }), used: false } : null);
    }
    expect(await oauth().findRefreshToken("refresh-0")).toMatchObject({ used: true, family: { accessTokenHash: `access-${winner}` } });
  });

  test("rotation in a revoked family is refused and changes nothing", async () => {
    await oauth().createFamily(refreshFamily("f-1"), "refresh-0");
    expect(await oauth().revokeFamily("f-1", t0 + 1)).toBe(true);
    expect(await oauth().rotateRefreshToken("refresh-0", next(1), t0 + 2)).toBe(false);
    expect(await oauth().findRefreshToken("refresh-0")).toEqual({ family: refreshFamily("f-1", { revokedAt: t0 + 1 }), used: false });
    expect(await oauth().findRefreshToken("refresh-1")).toBeNull();
  });

  test("revoking a family: true once, false again and for an unknown family; it keeps its first time", async () => {
    await oauth().createFamily(refreshFamily("f-1"), "refresh-1");
    await oauth().createFamily(refreshFamily("f-2"), "refresh-2");
    expect(await oauth().revokeFamily("f-1", t0 + 1)).toBe(true);
    expect(await oauth().revokeFamily("f-1", t0 + 2)).toBe(false);
    expect(await oauth().revokeFamily("f-unknown", t0 + 2)).toBe(false);
    expect(await oauth().findRefreshToken("refresh-1")).toMatchObject({ family: { revokedAt: t0 + 1 } });
    expect(await oauth().findRefreshToken("refresh-2")).toMatchObject({ family: { revokedAt: null } });
  });

  test("a replayed code revokes the family issued from it, and only that one", async () => {
    await oauth().createFamily(refreshFamily("f-1", { codeHash: "c-1" }), "refresh-1");
    await oauth().createFamily(refreshFamily("f-2", { codeHash: "c-2" }), "refresh-2");
    await oauth().createFamily(refreshFamily("f-3", { codeHash: null }), "refresh-3");
    expect(await oauth().revokeFamilyOfCode("c-1", t0 + 1)).toEqual(refreshFamily("f-1", { codeHash: "c-1", revokedAt: t0 + 1 }));
    // Again: the same family, revoked at the first time.
    expect(await oauth().revokeFamilyOfCode("c-1", t0 + 2)).toEqual(refreshFamily("f-1", { codeHash: "c-1", revokedAt: t0 + 1 }));
    expect(await oauth().revokeFamilyOfCode("c-unknown", t0 + 2)).toBeNull();
    expect(await oauth().findRefreshToken("refresh-2")).toMatchObject({ family: { revokedAt: null } });
    expect(await oauth().findRefreshToken("refresh-3")).toMatchObject({ family: { revokedAt: null } });
    expect(await oauth().rotateRefreshToken("refresh-1", next(4), t0 + 3)).toBe(false);
  });

  test("revoking an enrollment's families counts only its own families not revoked already", async () => {
    await oauth().createFamily(refreshFamily("f-1"), "refresh-1");
    await oauth().createFamily(refreshFamily("f-2"), "refresh-2");
    await oauth().createFamily(refreshFamily("f-3"), "refresh-3");
    await oauth().createFamily(refreshFamily("f-other", { enrollmentRef: "e2" }), "refresh-4");
    expect(await oauth().revokeFamily("f-3", t0 + 1)).toBe(true);
    expect(await oauth().revokeEnrollmentFamilies("e1", t0 + 2)).toBe(2);
    expect(await oauth().revokeEnrollmentFamilies("e1", t0 + 3)).toBe(0);
    expect(await oauth().revokeEnrollmentFamilies("e-unknown", t0 + 3)).toBe(0);
    expect((await oauth().findRefreshToken("refresh-1"))?.family.revokedAt).toBe(t0 + 2);
    expect((await oauth().findRefreshToken("refresh-2"))?.family.revokedAt).toBe(t0 + 2);
    expect((await oauth().findRefreshToken("refresh-3"))?.family.revokedAt).toBe(t0 + 1);
    expect((await oauth().findRefreshToken("refresh-4"))?.family.revokedAt).toBeNull();
  });

  test("prune drops codes expired and families expired or revoked before the cutoff, with their refresh tokens", async () => {
    const cutoff = t0 + 1_000;
    await oauth().putCode(oauthCode("c-expired", { expiresAt: cutoff - 1 }));
    await oauth().putCode(oauthCode("c-at-cutoff", { expiresAt: cutoff }));
    await oauth().putCode(oauthCode("c-live", { expiresAt: cutoff + 1 }));
    await oauth().createFamily(refreshFamily("f-expired", { expiresAt: cutoff - 1 }), "refresh-expired");
    await oauth().createFamily(refreshFamily("f-revoked"), "refresh-revoked");
    await oauth().revokeFamily("f-revoked", cutoff - 1);
    await oauth().createFamily(refreshFamily("f-revoked-later"), "refresh-revoked-later");
    await oauth().revokeFamily("f-revoked-later", cutoff);
    await oauth().createFamily(refreshFamily("f-live", { expiresAt: cutoff + 1 }), "refresh-live-0");
    expect(await oauth().rotateRefreshToken("refresh-live-0", { refreshTokenHash: "refresh-live-1", accessTokenHash: "access-live-1", expiresAt: cutoff + 1 }, t0)).toBe(true);

    await oauth().prune(cutoff);
    expect(await oauth().redeemCode("c-expired", cutoff)).toBeNull();
    expect(await oauth().redeemCode("c-at-cutoff", cutoff)).toMatchObject({ status: "redeemed" });
    expect(await oauth().redeemCode("c-live", cutoff)).toMatchObject({ status: "redeemed" });
    expect(await oauth().findRefreshToken("refresh-expired")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-revoked")).toBeNull();
    expect(await oauth().findFamilyByAccessToken("access:f-expired")).toBeNull();
    expect(await oauth().findRefreshToken("refresh-revoked-later")).toMatchObject({ family: { familyId: "f-revoked-later" } });
    // A live family keeps its used tokens too (a replay of one still finds its family).
    expect(await oauth().findRefreshToken("refresh-live-0")).toMatchObject({ used: true, family: { familyId: "f-live" } });
    expect(await oauth().findRefreshToken("refresh-live-1")).toMatchObject({ used: false, family: { familyId: "f-live" } });
    // The pruned families' refresh tokens are really gone: their hashes and ids are free again.
    await oauth().createFamily(refreshFamily("f-expired", { codeHash: null }), "refresh-expired");
    await oauth().createFamily(refreshFamily("f-new", { codeHash: null }), "refresh-revoked");
    expect((await oauth().findRefreshToken("refresh-revoked"))?.family.familyId).toBe("f-new");
  });

  test("a stored row that fails its record is reported, never used", async (ctx) => {
    const storage = fixture.get();
    if (storage.corruptOAuth === undefined) return ctx.skip("this backend keeps records, not rows");
    await oauth().putCode(oauthCode("c-1"));
    await oauth().createFamily(refreshFamily("f-1"), "refresh-1");
    await storage.corruptOAuth("code", "c-1");
    await storage.corruptOAuth("family", "f-1");
    await expect(oauth().redeemCode("c-1", t0)).rejects.toThrow(UntrustedRecordError);
    await expect(oauth().findRefreshToken("refresh-1")).rejects.toThrow(UntrustedRecordError);
    await expect(oauth().findFamilyByAccessToken("access:f-1")).rejects.toThrow(UntrustedRecordError);
    await expect(oauth().revokeFamilyOfCode("code:f-1", t0)).rejects.toThrow(UntrustedRecordError);
  });

  test("codes and families survive closing and reopening", { timeout: OPEN_TIMEOUT }, async (ctx) => {
    const storage = fixture.get();
    if (storage.reopen === undefined) return ctx.skip("this backend keeps nothing");
    await storage.oauth.putCode(oauthCode("c-1"));
    await storage.oauth.redeemCode("c-1", t0 + 1);
    await storage.oauth.createFamily(refreshFamily("f-1"), "refresh-0");
    await storage.oauth.rotateRefreshToken("refresh-0", next(1), t0 + 2);
    const again = await fixture.reopen();
    if (again === undefined) throw new Error("reopen is supported but returned nothing");
    expect(await again.oauth.redeemCode("c-1", t0 + 3)).toEqual({ status: "replayed", code: oauthCode("c-1", { redeemedAt: t0 + 1 }) });
    expect(await again.oauth.findRefreshToken("refresh-0")).toMatchObject({ used: true });
    expect(await again.oauth.findRefreshToken("refresh-1")).toMatchObject({ used: false, family: { accessTokenHash: "access-1" } });
    expect(await again.oauth.rotateRefreshToken("refresh-0", next(2), t0 + 4)).toBe(false);
  });
}

// ---------------------------------------------------------------------------------------------
// Harnesses for the SQL backends

const TABLES = [
  "adenroll_enrollments",
  "adenroll_users",
  "adenroll_sign_in_failures",
  "adenroll_csrf_nonces",
  "adenroll_audit_log",
  "adenroll_mdm_devices",
  "adenroll_mdm_commands",
  "adenroll_oauth_codes",
  "adenroll_oauth_families",
  "adenroll_oauth_refresh_tokens",
];

/** Adds reset, corrupt and (when `openAgain` is given) reopen to an opened SQL storage. */
export function sqlTestStorage(storage: OpenedStorage, openAgain?: () => Promise<OpenedStorage>): TestStorage<Storage> {
  return {
    ...storage,
    async reset() {
      await sql.raw(`truncate ${TABLES.join(", ")}`).execute(storage.db);
      // The TRUNCATE is announced too, but asynchronously on PostgreSQL: the next test must not race it.
      storage.enrollmentCache?.clear();
    },
    async corrupt(id, how) {
      if (how === "context") {
        await sql`update adenroll_enrollments set context = jsonb_set(context, '{version}', '"mdm-unknown"') where id = ${id}`.execute(storage.db);
      } else {
        await sql`update adenroll_enrollments set token_hash = 'forged' where id = ${id}`.execute(storage.db);
      }
    },
    async corruptOAuth(table, key) {
      if (table === "code") await sql`update adenroll_oauth_codes set client_id = '' where code_hash = ${key}`.execute(storage.db);
      else await sql`update adenroll_oauth_families set client_id = '' where family_id = ${key}`.execute(storage.db);
    },
    ...(openAgain === undefined
      ? {}
      : {
          async reopen() {
            await storage.close();
            return sqlTestStorage(await openAgain(), openAgain);
          },
        }),
  };
}

// ---------------------------------------------------------------------------------------------
// A PostgreSQL to test against

export const postgresAdminUrl = process.env["ADENROLL_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
export const inCI = process.env["CI"] === "true";

/** Whether PostgreSQL answers at the admin URL (and why not). */
export async function probePostgres(url = postgresAdminUrl): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("select 1");
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates a fresh database `adenroll_test_<random>` next to the admin URL's; drop it when done. */
export async function createTestDatabase(adminUrl = postgresAdminUrl): Promise<{ readonly url: string; drop(): Promise<void> }> {
  const name = `adenroll_test_${randomBytes(6).toString("hex")}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}
