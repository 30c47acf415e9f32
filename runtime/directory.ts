// The local user directory: user identifier → password (PBKDF2, salted) and Managed Apple Account.
import type { EnrollmentVersion } from "../spec/index.ts";
import { constantTimeEqual, hashPassword, type RandomBytes } from "./crypto.ts";

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

interface StoredUser extends DirectoryUser {
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

export class Directory {
  readonly #users = new Map<string, StoredUser>();
  readonly #decoy: Promise<StoredUser>;

  private constructor(
    readonly iterations: number,
    random: RandomBytes,
  ) {
    const salt = random(16);
    this.#decoy = hashPassword("decoy", salt, iterations).then((hash) => ({ userIdentifier: "", managedAppleId: "", salt, hash }));
  }

  static async create(users: readonly DirectoryUserInput[], random: RandomBytes, iterations = 210_000): Promise<Directory> {
    const directory = new Directory(iterations, random);
    for (const user of users) {
      const salt = random(16);
      const hash = await hashPassword(user.password, salt, iterations);
      directory.#users.set(normalize(user.userIdentifier), {
        userIdentifier: user.userIdentifier,
        managedAppleId: user.managedAppleId,
        ...(user.version === undefined ? {} : { version: user.version }),
        salt,
        hash,
      });
    }
    return directory;
  }

  find(userIdentifier: string): DirectoryUser | undefined {
    return this.#users.get(normalize(userIdentifier));
  }

  /** The user when the password matches; an unknown user costs the same time as a wrong password. */
  async verify(userIdentifier: string, password: string): Promise<DirectoryUser | undefined> {
    const user = this.#users.get(normalize(userIdentifier));
    const target = user ?? (await this.#decoy);
    const attempt = await hashPassword(password, target.salt, this.iterations);
    return constantTimeEqual(attempt, target.hash) && user !== undefined ? user : undefined;
  }
}

function normalize(userIdentifier: string): string {
  return userIdentifier.trim().toLowerCase();
}
