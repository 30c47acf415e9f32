// StoredUserDirectory: the Directory's verify semantics over storage.users — the right password finds
// the user (with its enrollment-type override), a wrong one, an unknown user or a user without a
// password finds nobody (each checked against a scrypt hash: the decoy for the latter two).
import { describe, expect, it } from "vitest";
import { hashPasswordScrypt } from "../../runtime/directory.ts";
import { encodedHashOf, passwordRecordOf, StoredUserDirectory } from "../../runtime/user-directory.ts";
import { userKey, type UserRecord, type UserSource, type UserStore } from "../../runtime/storage/roles.ts";
import { seededRandom } from "../support/fixtures.ts";

/** A UserStore in a Map (the SQL one is covered by the storage suite). */
function memoryUsers(): UserStore & { readonly map: Map<string, UserRecord> } {
  const map = new Map<string, UserRecord>();
  const sources = new Map<string, UserSource>();
  const list = async () => [...map.values()].sort((a, b) => a.userIdentifier.localeCompare(b.userIdentifier));
  const entryOf = (user: UserRecord) => ({ user, source: sources.get(userKey(user.userIdentifier)) ?? "config" });
  return {
    map,
    get: async (id) => map.get(userKey(id)) ?? null,
    upsert: async (user, options) => {
      map.set(userKey(user.userIdentifier), user);
      if (options?.source !== undefined) sources.set(userKey(user.userIdentifier), options.source);
    },
    list,
    remove: async (id) => map.delete(userKey(id)),
    create: async (user, source) => {
      if (map.has(userKey(user.userIdentifier))) return false;
      map.set(userKey(user.userIdentifier), user);
      sources.set(userKey(user.userIdentifier), source);
      return true;
    },
    entry: async (id) => {
      const user = map.get(userKey(id));
      return user === undefined ? null : entryOf(user);
    },
    entries: async () => (await list()).map(entryOf),
  };
}

describe("StoredUserDirectory", () => {
  it("verifies like the Directory, over the stored hash records", async () => {
    const random = seededRandom(61);
    const users = memoryUsers();
    const directory = new StoredUserDirectory(users, random, 1_000);
    const removed = await directory.seed([
      { userIdentifier: "Alice@Example.com", managedAppleId: "alice@appleid.example.com", passwordHash: await hashPasswordScrypt("right password", random, 1_000) },
      { userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", passwordHash: await hashPasswordScrypt("carol's password", random, 1_000), enrollmentType: "mdm-adde" },
    ]);
    expect(removed).toEqual([]);
    expect(users.map.get("alice@example.com")?.password).toMatchObject({ algorithm: "scrypt", params: { N: 1024, r: 8, p: 1 } });
    expect(await directory.verify(" alice@example.COM ", "right password")).toEqual({ userIdentifier: "Alice@Example.com", managedAppleId: "alice@appleid.example.com" });
    expect(await directory.verify("alice@example.com", "wrong password")).toBeUndefined();
    expect(await directory.verify("nobody@example.com", "right password")).toBeUndefined();
    expect(await directory.find("carol@example.com")).toEqual({ userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", version: "mdm-adde" });
    // A user without a password (signs in elsewhere) never verifies here.
    await users.upsert({ userIdentifier: "dave@example.com", managedAppleId: "dave@example.com", password: null });
    expect(await directory.verify("dave@example.com", "")).toBeUndefined();
    // Seeding again removes who the list no longer names.
    expect(await directory.seed([])).toEqual(["Alice@Example.com", "carol@example.com", "dave@example.com"]);
  });

  it("converts encoded hashes to records and back, refusing what it cannot verify", async () => {
    const encoded = await hashPasswordScrypt("a password", seededRandom(62), 1_000);
    const record = passwordRecordOf(encoded);
    expect(record).not.toBeNull();
    expect(encodedHashOf(record!)).toBe(encoded);
    expect(passwordRecordOf("bcrypt$2b$10$xyz")).toBeNull();
    expect(encodedHashOf({ algorithm: "argon2id", params: {}, salt: "x", hash: "y" })).toBeNull();
    expect(encodedHashOf({ ...record!, params: { N: 1000, r: 8, p: 1 } })).toBeNull();
  });
});
