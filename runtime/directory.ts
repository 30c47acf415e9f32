// The local user directory: user identifier → password (scrypt, salted) and Managed Apple Account.
//
// Passwords are stored as self-describing strings, `scrypt$N$r$p$salt$hash` (salt and hash
// base64url without padding), so a stored user verifies later even after the default cost changes.
// scrypt comes from `node:crypto`, which Node and Deno both provide.
import { scrypt } from "node:crypto";
import type { EnrollmentVersion } from "../spec/index.ts";
import { base64url, constantTimeEqual, type RandomBytes } from "./crypto.ts";

export interface DirectoryUserInput {
  /** What the person types on the device: user@domain. */
  readonly userIdentifier: string;
  readonly password: string;
  /** PROFILE-7: the account the profile names; equal to userIdentifier for federated accounts. */
  readonly managedAppleId: string;
  /** Overrides the domain's enrollment type for this user. */
  readonly version?: EnrollmentVersion;
}

export interface DirectoryUser {
  readonly userIdentifier: string;
  readonly managedAppleId: string;
  readonly version?: EnrollmentVersion;
}

/** scrypt's cost parameters: N (CPU and memory, a power of two), r (block size), p (parallelism). */
export interface ScryptCost {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** The production cost: N=2^15, r=8, p=1 (32 MiB and roughly 50–100 ms per hash). */
export const defaultScryptCost: ScryptCost = { N: 2 ** 15, r: 8, p: 1 };

const saltBytes = 16;
const keyBytes = 32;
const minLogN = 10;
const maxLogN = 20;

/**
 * The scrypt cost a `cost` argument stands for. An object is taken as is. A number — what callers
 * passed as a PBKDF2 iteration count before — is read as scrypt's N, rounded up to a power of two
 * and kept within 2^10…2^20 (r=8, p=1): so the cheap `1_000` of the tests means N=2^10 (1 MiB, about
 * 1 ms), and `2 ** 15` means the production cost. Nothing (undefined) means {@link defaultScryptCost}.
 */
export function scryptCost(cost?: number | ScryptCost): ScryptCost {
  if (cost === undefined) return defaultScryptCost;
  if (typeof cost === "object") {
    if (!validCost(cost)) throw new RangeError(`not a usable scrypt cost: N=${cost.N}, r=${cost.r}, p=${cost.p}`);
    return cost;
  }
  if (!Number.isFinite(cost) || cost <= 0) throw new RangeError(`not a usable scrypt cost: ${cost}`);
  const logN = Math.min(maxLogN, Math.max(minLogN, Math.ceil(Math.log2(cost))));
  return { N: 2 ** logN, r: 8, p: 1 };
}

function validCost(cost: ScryptCost): boolean {
  const { N, r, p } = cost;
  return (
    Number.isSafeInteger(N) && N >= 2 && N <= 2 ** maxLogN && (N & (N - 1)) === 0 &&
    Number.isSafeInteger(r) && r >= 1 && r <= 32 &&
    Number.isSafeInteger(p) && p >= 1 && p <= 16
  );
}

function derive(password: string, salt: Uint8Array, cost: ScryptCost, length = keyBytes): Promise<Uint8Array> {
  // scrypt needs 128·N·r bytes (plus a little); Node refuses above `maxmem` (32 MiB by default),
  // which N=2^15, r=8 reaches exactly — so allow twice what the parameters need.
  const maxmem = 2 * 128 * cost.N * cost.r * cost.p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, length, { N: cost.N, r: cost.r, p: cost.p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key));
    });
  });
}

/** Hashes a password with a fresh salt into `scrypt$N$r$p$salt$hash`. */
export async function hashPasswordScrypt(password: string, random: RandomBytes, cost?: number | ScryptCost): Promise<string> {
  const params = scryptCost(cost);
  const salt = random(saltBytes);
  const hash = await derive(password, salt, params);
  return encodePasswordHash({ ...params, salt, hash });
}

export interface PasswordHash extends ScryptCost {
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

export function encodePasswordHash(value: PasswordHash): string {
  return `scrypt$${value.N}$${value.r}$${value.p}$${base64url(value.salt)}$${base64url(value.hash)}`;
}

const encoded = /^scrypt\$([1-9]\d{0,7})\$([1-9]\d{0,2})\$([1-9]\d{0,2})\$([A-Za-z0-9_-]{16,88})\$([A-Za-z0-9_-]{22,88})$/;

/** The parts of an encoded hash; null when it is not one this module wrote or its cost is out of bounds. */
export function parsePasswordHash(value: string): PasswordHash | null {
  const match = encoded.exec(value);
  if (match === null) return null;
  const cost = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (!validCost(cost)) return null;
  const salt = fromBase64url(match[4] ?? "");
  const hash = fromBase64url(match[5] ?? "");
  if (salt === null || hash === null) return null;
  return { ...cost, salt, hash };
}

/** Whether the password matches an encoded hash (false for a malformed one), compared in constant time. */
export async function verifyPasswordHash(stored: string, password: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (parsed === null) return false;
  const attempt = await derive(password, parsed.salt, parsed, parsed.hash.length);
  return constantTimeEqual(attempt, parsed.hash);
}

function fromBase64url(text: string): Uint8Array | null {
  if (text.length % 4 === 1) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

interface StoredUser extends DirectoryUser {
  /** `scrypt$N$r$p$salt$hash`. */
  readonly passwordHash: string;
}

export class Directory {
  readonly #users = new Map<string, StoredUser>();
  readonly #decoy: Promise<string>;

  private constructor(
    /** The scrypt cost of new hashes (and of the decoy an unknown user is checked against). */
    readonly cost: ScryptCost,
    random: RandomBytes,
  ) {
    this.#decoy = hashPasswordScrypt("decoy", random, cost);
    // Awaited on the first unknown user; never an unhandled rejection before that.
    this.#decoy.catch(() => undefined);
  }

  /**
   * A directory of users whose passwords are hashed now with scrypt. `cost` as {@link scryptCost}
   * reads it: omitted for production (N=2^15, r=8, p=1); tests pass `1_000`, which means N=2^10.
   */
  static async create(users: readonly DirectoryUserInput[], random: RandomBytes, cost?: number | ScryptCost): Promise<Directory> {
    const directory = new Directory(scryptCost(cost), random);
    for (const user of users) {
      const passwordHash = await hashPasswordScrypt(user.password, random, directory.cost);
      directory.#users.set(normalize(user.userIdentifier), {
        userIdentifier: user.userIdentifier,
        managedAppleId: user.managedAppleId,
        ...(user.version === undefined ? {} : { version: user.version }),
        passwordHash,
      });
    }
    return directory;
  }

  find(userIdentifier: string): DirectoryUser | undefined {
    const user = this.#users.get(normalize(userIdentifier));
    if (user === undefined) return undefined;
    return { userIdentifier: user.userIdentifier, managedAppleId: user.managedAppleId, ...(user.version === undefined ? {} : { version: user.version }) };
  }

  /** The user when the password matches; an unknown user costs the same time as a wrong password. */
  async verify(userIdentifier: string, password: string): Promise<DirectoryUser | undefined> {
    const user = this.#users.get(normalize(userIdentifier));
    const matches = await verifyPasswordHash(user?.passwordHash ?? (await this.#decoy), password);
    return matches && user !== undefined ? this.find(userIdentifier) : undefined;
  }
}

function normalize(userIdentifier: string): string {
  return userIdentifier.trim().toLowerCase();
}
