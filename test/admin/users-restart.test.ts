// Users added by administration survive a restart whose configuration does not name them; the
// configuration's own users are still removed when it drops them; a user both name becomes the
// configuration's (config wins, logged) — and is then removed like any of its users.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { admin, origin, passwords, start, testConfig } from "./admin-fixtures.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "adenroll-admin-restart-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Starts the product over the data folder's PGlite with `users` in the configuration, runs `work`, stops. */
async function run<T>(users: readonly unknown[], work: (s: Awaited<ReturnType<typeof start>>) => Promise<T>): Promise<T> {
  const storage = await openStorage({ dataDir: path.join(dataDir, "pglite") });
  try {
    return await work(await start(await testConfig({ users }), storage));
  } finally {
    await storage.close();
  }
}

const alice = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: passwords.alice };

async function discover(s: Awaited<ReturnType<typeof start>>, user: string): Promise<number> {
  return (await s.adenroll.fetch(new Request(`${origin}/.well-known/com.apple.remotemanagement?user-identifier=${user}&model-family=iPhone`))).status;
}

describe("users across restarts", () => {
  it("an admin user survives a configuration that does not name it; config wins when it does", { timeout: 120_000 }, async () => {
    await run([alice], async (s) => {
      const added = await admin((r) => s.adenroll.fetch(r), "POST", "/users", { body: { userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", password: passwords.carol } });
      expect(added.status).toBe(201);
    });

    // Restart with a configuration naming nobody: alice (the configuration's) goes, carol stays.
    await run([], async (s) => {
      expect(s.adenroll.removedUsers).toEqual(["alice@example.com"]);
      expect(s.log).toContain("info: removed 1 user(s) the configuration no longer names: alice@example.com");
      expect(await discover(s, "carol@example.com")).toBe(200);
      expect(await discover(s, "alice@example.com")).toBe(403);
      expect((await admin((r) => s.adenroll.fetch(r), "GET", "/users")).body).toEqual({
        users: [{ userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", enrollmentType: null, hasPassword: true, source: "admin" }],
      });
    });

    // The configuration now names carol too: hers from now on, with its values; said in the log.
    await run([{ userIdentifier: "Carol@example.com", managedAppleId: "carol.config@appleid.example.com", password: "the config's password" }], async (s) => {
      expect(s.adenroll.adoptedUsers).toEqual(["Carol@example.com"]);
      expect(s.log).toContain("warn: user(s) added by administration are also named by the configuration, which wins from now on: Carol@example.com");
      expect((await admin((r) => s.adenroll.fetch(r), "GET", "/users")).body).toMatchObject({ users: [{ managedAppleId: "carol.config@appleid.example.com", source: "config" }] });
      expect((await admin((r) => s.adenroll.fetch(r), "DELETE", "/users/carol@example.com")).status).toBe(409);
    });

    // And like any of the configuration's users, she goes when it drops her.
    await run([], async (s) => {
      expect(s.adenroll.removedUsers).toEqual(["Carol@example.com"]);
      expect(await discover(s, "carol@example.com")).toBe(403);
    });
  });
});
