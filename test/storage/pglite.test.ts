// The storage suite on the embedded default: PGlite in a temporary data directory (so the suite's
// persistence case really closes and reopens it), plus what openStorage promises about PGlite.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { migrations } from "../../runtime/storage/migrations.ts";
import { describeStorage, enrollment, find, OPEN_TIMEOUT, put, sqlTestStorage } from "./storage.suite.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "adenroll-pglite-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describeStorage("PGlite (data directory)", async () => {
  const open = () => openStorage({ dataDir });
  return sqlTestStorage(await open(), open);
});

describe("openStorage with PGlite", () => {
  test("memory: migrated at open, usable, closed once however often close is called", { timeout: OPEN_TIMEOUT }, async () => {
    const storage = await openStorage({ memory: true });
    expect(storage.backend).toBe("pglite");
    expect(storage.migrations.applied).toEqual(migrations.map((m) => m.id));
    await put(storage.enrollments, enrollment("e1"));
    expect((await find(storage.enrollments, [{ by: "id", id: "e1" }]))?.context.id).toBe("e1");
    await Promise.all([storage.close(), storage.close()]);
    await storage.close();
    await expect(storage.users.list()).rejects.toThrow();
  });

  test("exactly one place for the data", async () => {
    await expect(openStorage({})).rejects.toThrow(/exactly one/);
    await expect(openStorage({ memory: true, dataDir })).rejects.toThrow(/exactly one/);
    await expect(openStorage({ database: "mysql://localhost/x" })).rejects.toThrow(/postgres:\/\//);
  });
});
