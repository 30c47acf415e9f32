// The user directory over storage (`storage.users`): the same verify semantics as the in-memory
// Directory (runtime/directory.ts) — an unknown user, or one without a password, is checked against
// a decoy hash so that it costs the time a wrong password costs, and hashes are compared in
// constant time — with users kept in the database, where every instance sees them.
import type { EnrollmentVersion } from "../spec/index.ts";
import type { RandomBytes } from "./crypto.ts";
import { encodePasswordHash, hashPasswordScrypt, parsePasswordHash, scryptCost, verifyPasswordHash, type DirectoryUser, type ScryptCost } from "./directory.ts";
import type { UserDirectory } from "./server-host.ts";
import { UserRecord, userKey, type PasswordHashRecord, type UserStore } from "./storage/roles.ts";

/** An encoded `scrypt$N$r$p$salt$hash` as the record the users table keeps; null when it is not one. */
export function passwordRecordOf(encoded: string): PasswordHashRecord | null {
  const parsed = parsePasswordHash(encoded);
  if (parsed === null) return null;
  const [, , , , salt = "", hash = ""] = encoded.split("$");
  return { algorithm: "scrypt", params: { N: parsed.N, r: parsed.r, p: parsed.p }, salt, hash };
}

/** The encoded hash a stored record stands for; null for a record this server cannot verify. */
export function encodedHashOf(record: PasswordHashRecord): string | null {
  if (record.algorithm !== "scrypt") return null;
  const { N, r, p } = record.params;
  const encoded = `scrypt$${String(N)}$${String(r)}$${String(p)}$${record.salt}$${record.hash}`;
  const parsed = parsePasswordHash(encoded);
  return parsed === null ? null : encodePasswordHash(parsed);
}

export interface SeedUser {
  readonly userIdentifier: string;
  readonly managedAppleId: string;
  /** `scrypt$N$r$p$salt$hash`; null: no password sign-in (the organization's identity provider only). */
  readonly passwordHash: string | null;
  readonly enrollmentType?: EnrollmentVersion;
}

export interface SeedResult {
  /** Config-sourced users the configuration no longer names: removed. */
  readonly removed: string[];
  /** Users added by administration that the configuration now names: config-sourced from now on. */
  readonly adopted: string[];
}

/**
 * Discovery looks users up on every request; a short-lived cache of those lookups (hits and misses)
 * keeps it off the database. Sign-in (`verify`) always reads storage. A user changed by another
 * instance is seen here within `ttlMs`.
 */
export interface LookupCache {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now: () => number;
}

export const defaultLookupCache: LookupCache = { ttlMs: 5_000, maxEntries: 10_000, now: () => Date.now() };

export class StoredUserDirectory implements UserDirectory {
  readonly #users: UserStore;
  readonly #decoy: Promise<string>;
  readonly #cache: LookupCache;
  readonly #found = new Map<string, { readonly user: DirectoryUser | undefined; readonly at: number }>();

  /** `cost` is the decoy's scrypt cost: the cost of the users' own hashes (see scryptCost). */
  constructor(users: UserStore, random: RandomBytes, cost?: number | ScryptCost, cache: LookupCache = defaultLookupCache) {
    this.#users = users;
    this.#cache = cache;
    this.#decoy = hashPasswordScrypt("decoy", random, scryptCost(cost));
    this.#decoy.catch(() => undefined);
  }

  /** Seeds `users` as seedFromConfig does; returns the removed ones. */
  async seed(users: readonly SeedUser[]): Promise<string[]> {
    return (await this.seedFromConfig(users)).removed;
  }

  /**
   * Makes the config-sourced stored users exactly `users`: each is created or replaced (and becomes
   * config-sourced: a user added by administration that the configuration also names is the
   * configuration's from now on), and a config-sourced user the list does not name is removed.
   * Users added by administration that the list does not name are kept.
   */
  async seedFromConfig(users: readonly SeedUser[]): Promise<SeedResult> {
    this.#found.clear();
    const wanted = new Set(users.map((u) => userKey(u.userIdentifier)));
    const before = new Map((await this.#users.entries()).map((entry) => [userKey(entry.user.userIdentifier), entry]));
    const adopted: string[] = [];
    for (const user of users) {
      const password = user.passwordHash === null ? null : passwordRecordOf(user.passwordHash);
      if (password === null && user.passwordHash !== null) throw new Error(`${user.userIdentifier}: not a scrypt$N$r$p$salt$hash password hash`);
      await this.#users.upsert(
        UserRecord.parse({
          userIdentifier: user.userIdentifier,
          managedAppleId: user.managedAppleId,
          password,
          ...(user.enrollmentType === undefined ? {} : { enrollmentType: user.enrollmentType }),
        }),
        { source: "config" },
      );
      if (before.get(userKey(user.userIdentifier))?.source === "admin") adopted.push(user.userIdentifier);
    }
    const removed: string[] = [];
    for (const [key, stored] of before) {
      if (stored.source === "config" && !wanted.has(key) && (await this.#users.remove(stored.user.userIdentifier))) removed.push(stored.user.userIdentifier);
    }
    return { removed, adopted };
  }

  /** Drops cached lookups (of one user, or all): after an administrative change, discovery sees it now. */
  forget(userIdentifier?: string): void {
    if (userIdentifier === undefined) this.#found.clear();
    else this.#found.delete(userKey(userIdentifier));
  }

  async find(userIdentifier: string): Promise<DirectoryUser | undefined> {
    const key = userKey(userIdentifier);
    const now = this.#cache.now();
    const cached = this.#found.get(key);
    if (cached !== undefined && now - cached.at < this.#cache.ttlMs) return cached.user;
    const stored = await this.#users.get(userIdentifier);
    const user = stored === null ? undefined : toDirectoryUser(stored);
    this.#found.delete(key);
    // Oldest first: a Map iterates in insertion order.
    while (this.#found.size >= this.#cache.maxEntries) {
      const oldest = this.#found.keys().next();
      if (oldest.done === true) break;
      this.#found.delete(oldest.value);
    }
    this.#found.set(key, { user, at: now });
    return user;
  }

  async verify(userIdentifier: string, password: string): Promise<DirectoryUser | undefined> {
    const user = await this.#users.get(userIdentifier);
    const stored = user?.password === null || user?.password === undefined ? null : encodedHashOf(user.password);
    const matches = await verifyPasswordHash(stored ?? (await this.#decoy), password);
    return matches && user !== null && stored !== null ? toDirectoryUser(user) : undefined;
  }
}

function toDirectoryUser(user: UserRecord): DirectoryUser {
  return {
    userIdentifier: user.userIdentifier,
    managedAppleId: user.managedAppleId,
    ...(user.enrollmentType === undefined ? {} : { version: user.enrollmentType }),
  };
}
