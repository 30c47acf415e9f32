// Discovery's user lookups are cached briefly; sign-in always reads storage.
import { describe, expect, it } from "vitest";
import { StoredUserDirectory } from "../../runtime/user-directory.ts";
import type { UserStore } from "../../runtime/storage/roles.ts";
import { seededRandom } from "../support/fixtures.ts";

function countingStore(): UserStore & { gets: number } {
  const store = {
    gets: 0,
    async get() {
      store.gets++;
      return null;
    },
    async upsert() {},
    async list() {
      return [];
    },
    async remove() {
      return false;
    },
    async create() {
      return false;
    },
    async entry() {
      return null;
    },
    async entries() {
      return [];
    },
  };
  return store;
}

describe("user lookups for discovery", () => {
  it("hit storage once per user within the TTL, again after it, and at most maxEntries are kept", async () => {
    const store = countingStore();
    const clock = { now: 0 };
    const directory = new StoredUserDirectory(store, seededRandom(), 1_000, { ttlMs: 1_000, maxEntries: 2, now: () => clock.now });
    for (let i = 0; i < 5; i++) expect(await directory.find("nobody@example.com")).toBeUndefined();
    expect(store.gets).toBe(1);
    clock.now = 1_001;
    await directory.find("nobody@example.com");
    expect(store.gets).toBe(2);
    await directory.find("a@example.com");
    await directory.find("b@example.com"); // evicts nobody@example.com
    await directory.find("nobody@example.com");
    expect(store.gets).toBe(5);
  });
});
