// The storage suite on a real PostgreSQL: ADENROLL_TEST_POSTGRES_URL, or by default
// postgres://postgres@127.0.0.1:5432/test. Each run creates a fresh database adenroll_test_<random>
// and drops it afterwards. Unreachable: skipped locally, a failure in CI (CI=true), where .ci/run
// makes sure PostgreSQL is up.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EnrollmentRecord } from "../../machines/index.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { createTestDatabase, describeStorage, OPEN_TIMEOUT, enrollment, find, inCI, postgresAdminUrl, probePostgres, put, sqlTestStorage } from "./storage.suite.ts";

const probe = await probePostgres();

if (!probe.ok) {
  test.runIf(inCI)(`PostgreSQL is reachable at ${postgresAdminUrl} (required in CI)`, () => {
    throw new Error(`PostgreSQL is not reachable at ${postgresAdminUrl}: ${probe.reason}`);
  });
}

describe.skipIf(!probe.ok)("PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const url = (): string => {
    if (database === undefined) throw new Error("no test database");
    return database.url;
  };
  beforeAll(async () => {
    database = await createTestDatabase();
  }, OPEN_TIMEOUT);
  afterAll(async () => {
    await database?.drop();
  }, OPEN_TIMEOUT);

  describeStorage("storage suite", async () => {
    const open = () => openStorage({ database: url() });
    return sqlTestStorage(await open(), open);
  });

  describe("two instances over one database", () => {
    let one: OpenedStorage | undefined;
    let two: OpenedStorage | undefined;
    const instances = (): [OpenedStorage, OpenedStorage] => {
      if (one === undefined || two === undefined) throw new Error("not open");
      return [one, two];
    };
    beforeAll(async () => {
      [one, two] = await Promise.all([openStorage({ database: url() }), openStorage({ database: url() })]);
    }, OPEN_TIMEOUT);
    afterAll(async () => {
      await Promise.all([one?.close(), two?.close()]);
    }, OPEN_TIMEOUT);

    test("creating the same new enrollment at once: one row, the loser retries and finds it", async () => {
      const [a, b] = instances();
      const deviceKey = "device:two-instances";
      const create = (store: OpenedStorage, id: string) =>
        store.enrollments.transact([{ by: "device-key", deviceKey }], async (found) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (found !== null) return { save: null, result: EnrollmentRecord.parse(found).context.id };
          return { save: enrollment(id, { deviceKey }), result: id };
        });
      const ids = await Promise.all([create(a, "from-a"), create(b, "from-b"), create(a, "from-a2"), create(b, "from-b2")]);
      expect(new Set(ids).size).toBe(1);
      const rows = await a.enrollments.listEnrollments();
      expect(rows.filter((r) => r.trusted && r.record.context.deviceKey === deviceKey)).toHaveLength(1);
    });

    test("increments from both instances on one enrollment all land", async () => {
      const [a, b] = instances();
      await put(a.enrollments, enrollment("shared-counter", { tokenExpiresAt: 0 }));
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? a : b).enrollments.transact([{ by: "id", id: "shared-counter" }], async (found) => {
            const record = EnrollmentRecord.parse(found);
            await new Promise((resolve) => setTimeout(resolve, 2));
            return { save: { ...record, context: { ...record.context, tokenExpiresAt: (record.context.tokenExpiresAt ?? 0) + 1 } }, result: null };
          }),
        ),
      );
      expect((await find(b.enrollments, [{ by: "id", id: "shared-counter" }]))?.context.tokenExpiresAt).toBe(20);
    });

    test("work may use the other roles while its transaction holds a connection", async () => {
      const [a] = instances();
      // More concurrent transactions than the pool has connections, each querying inside work.
      await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          a.enrollments.transact([{ by: "id", id: `pool-${i}` }], async () => {
            await a.sessions.recordFailure("pool", i);
            return { save: enrollment(`pool-${i}`), result: null };
          }),
        ),
      );
      expect(await a.sessions.countFailures("pool", 0)).toBe(16);
    });
  });
});
