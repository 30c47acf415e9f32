// The admin service over a real storage (PGlite in memory): users added by administration, refused
// inputs that store nothing, enrollments inspected, unenrolled and revoked through the server
// machine's events, and an audit entry with who, what, on what and when for every change — never a
// password or a hash.
import { Kysely } from "kysely";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAdminService, AdminError, type AdminService } from "../../runtime/admin.ts";
import { applyServerEvent } from "../../runtime/enrollment-events.ts";
import { migrate, migrations } from "../../runtime/storage/migrations.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { pgliteDialect } from "../../runtime/storage/pglite.ts";
import type { Database } from "../../runtime/storage/schema.ts";
import { createSqlStorage } from "../../runtime/storage/sql-store.ts";
import { StoredUserDirectory } from "../../runtime/user-directory.ts";
import { seededRandom } from "../support/fixtures.ts";
import { emptyStorage, enrollmentRecord, putEnrollment } from "./admin-fixtures.ts";

let storage: OpenedStorage;
let service: AdminService;
const clock = { now: Date.UTC(2026, 10, 22, 9) };
const changedUsers: string[] = [];

beforeAll(async () => {
  storage = await openStorage({ memory: true });
}, 60_000);
afterAll(() => storage.close());
beforeEach(async () => {
  await emptyStorage(storage);
  changedUsers.length = 0;
  service = createAdminService({
    storage,
    now: () => clock.now,
    random: seededRandom(81),
    scryptCost: 1_000,
    servesDomain: (domain) => domain === "example.com" || domain === "corp.example",
    onUserChanged: (user) => changedUsers.push(user),
  });
});

/** The AdminError code a call fails with. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    if (error instanceof AdminError) return error.code;
    throw error;
  }
  throw new Error("expected the call to fail");
}

const carol = { userIdentifier: "Carol@Example.com", managedAppleId: "carol@appleid.example.com", password: "carol's long passphrase", enrollmentType: "mdm-adde" };

describe("users", () => {
  it("adds a user (scrypt hash, source admin) who signs in; audits it without the password or its hash", async () => {
    const added = await service.addUser("admin:ops", carol);
    expect(added).toEqual({ userIdentifier: "Carol@Example.com", managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true, source: "admin" });
    expect(await service.listUsers()).toEqual([added]);
    expect(changedUsers).toEqual(["Carol@Example.com"]);
    const stored = await storage.users.entry("carol@example.com");
    expect(stored?.source).toBe("admin");
    expect(stored?.user.password).toMatchObject({ algorithm: "scrypt", params: { N: 1024, r: 8, p: 1 } });
    const directory = new StoredUserDirectory(storage.users, seededRandom(82), 1_000);
    expect(await directory.verify("carol@example.com", carol.password)).toEqual({ userIdentifier: "Carol@Example.com", managedAppleId: "carol@appleid.example.com", version: "mdm-adde" });
    expect(await directory.verify("carol@example.com", "not her password")).toBeUndefined();

    const [entry] = await storage.audit.list();
    expect(entry).toEqual({ at: clock.now, actor: "admin:ops", action: "user.added", subject: "Carol@Example.com", detail: { managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true } });
    const everything = JSON.stringify(await storage.audit.list());
    expect(everything).not.toContain(carol.password);
    expect(everything).not.toContain(stored?.user.password?.hash ?? "no hash");
  });

  it("a user without a password is possible (it never signs in here)", async () => {
    const { password: _password, ...withoutPassword } = carol;
    expect(await service.addUser("admin:ops", withoutPassword)).toMatchObject({ hasPassword: false });
    expect((await storage.users.get("carol@example.com"))?.password).toBeNull();
  });

  it("refuses bad input with admin.invalid and stores nothing", async () => {
    const cases: readonly unknown[] = [
      { ...carol, password: "short" },
      { ...carol, userIdentifier: "no-domain" },
      { ...carol, userIdentifier: "carol@elsewhere.example" },
      { ...carol, managedAppleId: "not an account" },
      { ...carol, enrollmentType: "byod" },
      { ...carol, extra: true },
      "not an object",
      null,
    ];
    for (const input of cases) expect(await codeOf(service.addUser("admin:ops", input)), JSON.stringify(input)).toBe("admin.invalid");
    await service.addUser("admin:ops", { ...carol, password: undefined, userIdentifier: "dave@example.com" });
    expect(await codeOf(service.setPassword("admin:ops", "dave@example.com", "short"))).toBe("admin.invalid");
    expect(await codeOf(service.setPassword("admin:ops", "dave@example.com", 12345678))).toBe("admin.invalid");
    expect((await service.listUsers()).map((u) => u.userIdentifier)).toEqual(["dave@example.com"]);
    expect((await storage.audit.list()).map((e) => e.action)).toEqual(["user.added"]);
  });

  it("a second user with the same identifier (any case) is a conflict; so is one the configuration owns", async () => {
    await service.addUser("admin:ops", carol);
    expect(await codeOf(service.addUser("admin:ops", { ...carol, userIdentifier: "CAROL@example.COM", managedAppleId: "other@appleid.example.com" }))).toBe("admin.conflict");
    expect((await storage.users.get("carol@example.com"))?.managedAppleId).toBe("carol@appleid.example.com");
    await storage.users.upsert({ userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: null }, { source: "config" });
    expect(await codeOf(service.addUser("admin:ops", { ...carol, userIdentifier: "alice@example.com" }))).toBe("admin.conflict");
    // The configuration's users are changed in the configuration file, not here.
    expect(await codeOf(service.removeUser("admin:ops", "alice@example.com"))).toBe("admin.conflict");
    expect(await codeOf(service.setPassword("admin:ops", "alice@example.com", "a new long password"))).toBe("admin.conflict");
    expect(await storage.users.get("alice@example.com")).toMatchObject({ password: null });
    expect((await storage.audit.list()).map((e) => e.action)).toEqual(["user.added"]);
  });

  it("removes and re-passwords users added by administration; unknown ones are admin.not-found", async () => {
    await service.addUser("admin:ops", carol);
    clock.now += 1_000;
    await service.setPassword("admin:ops", "carol@example.com", "a brand new passphrase");
    const directory = new StoredUserDirectory(storage.users, seededRandom(83), 1_000);
    expect(await directory.verify("carol@example.com", carol.password)).toBeUndefined();
    expect(await directory.verify("carol@example.com", "a brand new passphrase")).toBeDefined();
    expect((await storage.users.entry("carol@example.com"))?.source).toBe("admin");
    clock.now += 1_000;
    expect(await service.removeUser("admin:cli", "CAROL@example.com")).toMatchObject({ userIdentifier: "Carol@Example.com" });
    expect(await service.listUsers()).toEqual([]);
    expect(await codeOf(service.removeUser("admin:cli", "carol@example.com"))).toBe("admin.not-found");
    expect(await codeOf(service.setPassword("admin:cli", "nobody@example.com", "a long enough one"))).toBe("admin.not-found");
    expect((await storage.audit.list()).map((e) => [e.at - Date.UTC(2026, 10, 22, 9), e.actor, e.action, e.subject, e.detail])).toEqual([
      [2_000, "admin:cli", "user.removed", "Carol@Example.com", { managedAppleId: "carol@appleid.example.com" }],
      [1_000, "admin:ops", "user.password-set", "Carol@Example.com", {}],
      [0, "admin:ops", "user.added", "Carol@Example.com", { managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true }],
    ]);
    expect(JSON.stringify(await storage.audit.list())).not.toContain("a brand new passphrase");
    clock.now = Date.UTC(2026, 10, 22, 9);
  });
});

describe("enrollments", () => {
  const aliceEnrolled = () => enrollmentRecord("e-alice-1", { userIdentifier: "Alice@Example.com", managedAppleId: "alice@appleid.example.com", tokenHash: "aliceTokenHash0123456789abcdefXYZ", tokenExpiresAt: Date.UTC(2026, 10, 22, 10), enrollmentId: "ENR-1" });

  it("lists (by user, any case; by state; at most limit) and shows one with its token hash cut to a prefix", async () => {
    await putEnrollment(storage, aliceEnrolled());
    await putEnrollment(storage, enrollmentRecord("e-alice-2", { userIdentifier: "Alice@Example.com", managedAppleId: "alice@appleid.example.com" }, "tokenInvalidated"));
    await putEnrollment(storage, enrollmentRecord("e-bob", { userIdentifier: "bob@corp.example", managedAppleId: "bob@corp.example", tokenHash: "bobTokenHash" }, "enrolled"));
    await storage.users.upsert({ userIdentifier: "Alice@Example.com", managedAppleId: "alice@appleid.example.com", password: null });
    expect((await service.listEnrollments()).map((e) => e.id).sort()).toEqual(["e-alice-1", "e-alice-2", "e-bob"]);
    expect((await service.listEnrollments({ user: "alice@example.com" })).map((e) => e.id).sort()).toEqual(["e-alice-1", "e-alice-2"]);
    expect((await service.listEnrollments({ state: "enrolled" })).map((e) => e.id).sort()).toEqual(["e-alice-1", "e-bob"]);
    expect(await service.listEnrollments({ limit: "1" })).toHaveLength(1);
    expect(await codeOf(service.listEnrollments({ state: "happy" }))).toBe("admin.invalid");
    expect(await codeOf(service.listEnrollments({ limit: "0" }))).toBe("admin.invalid");
    expect(await codeOf(service.listEnrollments({ limit: "5000" }))).toBe("admin.invalid");

    const shown = await service.showEnrollment("e-alice-1");
    expect(shown).toMatchObject({
      id: "e-alice-1",
      trusted: true,
      state: "enrolled",
      userIdentifier: "Alice@Example.com",
      enrollmentId: "ENR-1",
      product: "iPhone13,2",
      token: { hashPrefix: "aliceTok", expiresAt: "2026-11-22T10:00:00.000Z" },
    });
    expect(JSON.stringify(shown)).not.toContain("aliceTokenHash0123456789abcdefXYZ");
    expect(JSON.stringify(await service.listEnrollments())).not.toContain("aliceTokenHash0123456789abcdefXYZ");
    expect(await codeOf(service.showEnrollment("nope"))).toBe("admin.not-found");
  });

  it("unenroll is the machine's UNENROLL: unenrolled, no token; audited; an unknown id is admin.not-found", async () => {
    await putEnrollment(storage, aliceEnrolled());
    expect(await service.unenroll("admin:ops", "e-alice-1")).toEqual({ id: "e-alice-1", userIdentifier: "Alice@Example.com", from: "enrolled", to: "unenrolled", hadToken: true });
    expect(await storage.enrollments.getEnrollment("e-alice-1")).toMatchObject({ record: { state: "unenrolled", context: { tokenHash: null, retiredTokenHashes: ["aliceTokenHash0123456789abcdefXYZ"] } } });
    expect(await storage.audit.list()).toEqual([
      { at: clock.now, actor: "admin:ops", action: "enrollment.unenrolled", subject: "e-alice-1", detail: { user: "Alice@Example.com", from: "enrolled", to: "unenrolled", hadToken: true } },
    ]);
    expect(await codeOf(service.unenroll("admin:ops", "e-nobody"))).toBe("admin.not-found");
    expect(await storage.audit.list()).toHaveLength(1);
  });

  it("tokens revoke --enrollment and --user are the machine's TOKEN_INVALIDATED on each; other users' are untouched", async () => {
    await putEnrollment(storage, aliceEnrolled());
    await putEnrollment(storage, enrollmentRecord("e-alice-2", { userIdentifier: "Alice@Example.com", tokenHash: "alice2", tokenExpiresAt: 1 }, "authenticated"));
    await putEnrollment(storage, enrollmentRecord("e-bob", { userIdentifier: "bob@corp.example", tokenHash: "bobTokenHash" }, "enrolled"));
    await storage.users.upsert({ userIdentifier: "Alice@Example.com", managedAppleId: "alice@appleid.example.com", password: null });

    const one = await service.revokeTokens("admin:ops", { enrollment: "e-alice-1" });
    expect(one).toEqual({ revoked: [{ id: "e-alice-1", userIdentifier: "Alice@Example.com", from: "enrolled", to: "tokenInvalidated", hadToken: true }], skipped: [] });

    const all = await service.revokeTokens("admin:ops", { user: "ALICE@example.com" });
    expect(all.revoked.map((c) => [c.id, c.from, c.to, c.hadToken]).sort()).toEqual([
      ["e-alice-1", "tokenInvalidated", "tokenInvalidated", false],
      ["e-alice-2", "authenticated", "challenged", true],
    ]);
    expect(await storage.enrollments.getEnrollment("e-bob")).toMatchObject({ record: { state: "enrolled", context: { tokenHash: "bobTokenHash" } } });
    // The revoked token still names its enrollment (so its device is challenged, not unenrolled) but authorizes nothing.
    expect(await storage.enrollments.findEnrollmentByTokenHash("alice2")).toMatchObject({ id: "e-alice-2", record: { state: "challenged", context: { tokenHash: null } } });
    expect((await storage.audit.list()).map((e) => [e.actor, e.action, e.subject])).toEqual([
      ["admin:ops", "enrollment.token-revoked", expect.stringMatching(/^e-alice-[12]$/)],
      ["admin:ops", "enrollment.token-revoked", expect.stringMatching(/^e-alice-[12]$/)],
      ["admin:ops", "enrollment.token-revoked", "e-alice-1"],
    ]);

    expect(await codeOf(service.revokeTokens("admin:ops", { user: "nobody@example.com" }))).toBe("admin.not-found");
    expect(await codeOf(service.revokeTokens("admin:ops", { enrollment: "e-nobody" }))).toBe("admin.not-found");
    expect(await codeOf(service.revokeTokens("admin:ops", { user: "a@example.com", enrollment: "x" }))).toBe("admin.invalid");
    expect(await codeOf(service.revokeTokens("admin:ops", {}))).toBe("admin.invalid");
    // A known user without enrollments: nothing to revoke, not an error.
    await storage.users.upsert({ userIdentifier: "dave@example.com", managedAppleId: "dave@example.com", password: null });
    expect(await service.revokeTokens("admin:ops", { user: "dave@example.com" })).toEqual({ revoked: [], skipped: [] });
  });

  it("applyServerEvent: null for an unknown enrollment; a stored record is persisted as the machine left it", async () => {
    expect(await applyServerEvent(storage.enrollments, [{ by: "id", id: "none" }], { type: "UNENROLL" })).toBeNull();
    await putEnrollment(storage, aliceEnrolled());
    const applied = await applyServerEvent(storage.enrollments, [{ by: "token-hash", tokenHash: "aliceTokenHash0123456789abcdefXYZ" }], { type: "TOKEN_INVALIDATED" });
    expect(applied).toMatchObject({ id: "e-alice-1", from: "enrolled", to: "tokenInvalidated", hadToken: true });
    expect(await storage.enrollments.getEnrollment("e-alice-1")).toMatchObject({ trusted: true, record: applied?.record });
  });
});

describe("audit list", () => {
  it("newest first, at most limit, times as ISO 8601; a bad limit is admin.invalid", async () => {
    for (let i = 0; i < 3; i++) await storage.audit.append({ at: Date.UTC(2026, 0, 1, 0, 0, i), actor: "system", action: `a${i}`, subject: "-", detail: null });
    expect(await service.listAudit("2")).toEqual([
      { at: "2026-01-01T00:00:02.000Z", actor: "system", action: "a2", subject: "-", detail: null },
      { at: "2026-01-01T00:00:01.000Z", actor: "system", action: "a1", subject: "-", detail: null },
    ]);
    expect(await service.listAudit()).toHaveLength(3);
    expect(await codeOf(service.listAudit("-1"))).toBe("admin.invalid");
    expect(await codeOf(service.listAudit("two"))).toBe("admin.invalid");
  });
});

describe("migration 003-users-source", () => {
  it("users stored before it are the configuration's", async () => {
    const engine = await PGlite.create();
    const db = new Kysely<Database>({ dialect: pgliteDialect(engine) });
    try {
      await migrate(db, migrations.filter((m) => m.id < "003"));
      const before = createSqlStorage(db, { locking: "process", close: async () => {} });
      const alice = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: null };
      await before.users.upsert(alice);
      expect((await migrate(db)).applied).toContain("003-users-source");
      const after = createSqlStorage(db, { locking: "process", close: async () => {} });
      expect(await after.users.entries()).toEqual([{ user: alice, source: "config" }]);
    } finally {
      await db.destroy();
      if (!engine.closed) await engine.close();
    }
  }, 60_000);
});
