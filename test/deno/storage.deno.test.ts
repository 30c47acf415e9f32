// Under Deno, unmodified: the embedded storage (PGlite in memory, our Kysely dialect, the
// migrations) opens and an enrollment makes a round trip through transact.
import assert from "node:assert/strict";
import { createActor } from "xstate";
import { EnrollmentRecord, serverMachine, toRecord } from "../../machines/index.ts";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { migrations } from "../../runtime/storage/migrations.ts";

Deno.test("PGlite in memory: migrate at open, one enrollment transact round trip", async () => {
  const storage = await openStorage({ memory: true });
  try {
    assert.equal(storage.backend, "pglite");
    assert.deepEqual(storage.migrations.applied, migrations.map((m) => m.id));
    const input = { id: "e1", deviceKey: "device:e1", version: "mdm-byod", device: { PRODUCT: "iPhone13,2", VERSION: "19A346", LANGUAGE: "en" } } as const;
    const initial = toRecord("enrolled", createActor(serverMachine, { input }).getSnapshot().context);
    const record = {
      state: "enrolled",
      context: { ...initial.context, userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", tokenHash: "token-hash-1", tokenExpiresAt: 1_800_000_000_000, enrollmentId: "enr-1" },
    };
    const created = await storage.enrollments.transact([{ by: "device-key", deviceKey: "device:e1" }], async (found) => ({ save: found === null ? record : null, result: found }));
    assert.equal(created, null);
    const found = await storage.enrollments.transact([{ by: "token-hash", tokenHash: "token-hash-1" }], async (value) => ({ save: null, result: value }));
    assert.deepEqual(EnrollmentRecord.parse(found), record);
    assert.equal((await storage.enrollments.getEnrollment("e1"))?.trusted, true);
  } finally {
    await storage.close();
  }
});
