// The storage roles the server needs, each a small interface any backend implements: enrollments
// (the machines' EnrollmentStore plus read-only admin look-ups), users, sign-in sessions and the
// audit log. Times are milliseconds since the epoch (the server's injected clock), as everywhere
// else in adenroll.
//
// Why tokens have no table of their own: an access token lives only as its SHA-256 hash inside the
// enrollment's context (`tokenHash`, `tokenExpiresAt`, `pendingToken`), mirrored into the indexed
// `token_hash` column of the enrollment's row. Issuing a new token on re-authentication and the
// death of the old one are then one row update inside the enrollment's transaction: there is no
// moment, and no failure, at which both tokens work or neither is recorded, and no orphaned token
// row can outlive its enrollment. A lookup by token is the `token-hash` locator (or, for admin
// use, `findEnrollmentByTokenHash`); the partial unique index on `token_hash` keeps one hash from
// ever naming two enrollments.
import { z } from "zod";
import { EnrollmentVersion } from "../../spec/index.ts";
import type { EnrollmentLocator, EnrollmentRecord, EnrollmentStore } from "../../machines/index.ts";

export type { EnrollmentLocator, EnrollmentRecord, EnrollmentStore };

// ---------------------------------------------------------------------------------------------
// Enrollments

/**
 * An enrollment as read back for admin use: parsed with the machines' `EnrollmentRecord` schema and
 * checked against its row's lookup columns. A row that fails either is reported, never trusted.
 */
export type StoredEnrollment =
  | { readonly trusted: true; readonly id: string; readonly updatedAt: number; readonly record: EnrollmentRecord }
  | { readonly trusted: false; readonly id: string; readonly updatedAt: number; readonly problem: string };

export interface EnrollmentFilter {
  readonly state?: string;
  /** Exact match on the user identifier the enrollment authenticated as. */
  readonly userIdentifier?: string;
  /** At most this many, most recently updated first (default 100). */
  readonly limit?: number;
}

/** Read-only look-ups for administration; the server itself only uses `transact`. */
export interface EnrollmentReads {
  getEnrollment(id: string): Promise<StoredEnrollment | null>;
  findEnrollmentByTokenHash(tokenHash: string): Promise<StoredEnrollment | null>;
  /** Most recently updated first. */
  listEnrollments(filter?: EnrollmentFilter): Promise<StoredEnrollment[]>;
}

export interface Enrollments extends EnrollmentStore, EnrollmentReads {}

// ---------------------------------------------------------------------------------------------
// Users

/**
 * A password hash and what is needed to verify against it, e.g. { algorithm: "scrypt", params:
 * { N, r, p }, salt, hash } with salt and hash base64url-encoded as runtime/directory.ts writes them.
 */
export const PasswordHashRecord = z.object({
  algorithm: z.string().min(1),
  params: z.record(z.string(), z.union([z.number(), z.string()])),
  salt: z.string(),
  hash: z.string(),
});
export type PasswordHashRecord = z.infer<typeof PasswordHashRecord>;

export const UserRecord = z.object({
  /** What the person types on the device: user@domain. Looked up case-insensitively, trimmed. */
  userIdentifier: z.string().min(1),
  /** PROFILE-7: the account the profile names. */
  managedAppleId: z.string().min(1),
  /** Null for a user who does not sign in with a password here. */
  password: PasswordHashRecord.nullable(),
  /** Overrides the domain's enrollment type for this user. */
  enrollmentType: EnrollmentVersion.optional(),
});
export type UserRecord = z.infer<typeof UserRecord>;

/** Where a user comes from: the configuration file (seeded at start) or administration. */
export const UserSource = z.enum(["config", "admin"]);
export type UserSource = z.infer<typeof UserSource>;

/** A stored user with where it comes from. */
export interface UserEntry {
  readonly user: UserRecord;
  readonly source: UserSource;
}

export interface UserStore {
  /** The user, found case-insensitively; null when there is none. */
  get(userIdentifier: string): Promise<UserRecord | null>;
  /**
   * Creates the user or replaces the one with the same (case-insensitive) identifier. With a
   * `source` it is written too; without one a new user is config-sourced and a replaced one keeps its own.
   */
  upsert(user: UserRecord, options?: { readonly source?: UserSource }): Promise<void>;
  /** Every user, ordered by identifier. */
  list(): Promise<UserRecord[]>;
  /** True when a user was removed. */
  remove(userIdentifier: string): Promise<boolean>;
  /** Creates the user only when none has its (case-insensitive) identifier; false when one does. */
  create(user: UserRecord, source: UserSource): Promise<boolean>;
  /** The user with its source, found case-insensitively; null when there is none. */
  entry(userIdentifier: string): Promise<UserEntry | null>;
  /** Every user with its source, ordered by identifier. */
  entries(): Promise<UserEntry[]>;
}

/** The user identifier as users are keyed: trimmed and lower-cased (as the Directory does). */
export function userKey(userIdentifier: string): string {
  return userIdentifier.trim().toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Sign-in sessions

/** Failed-attempt throttling per key (a user, an address, a session) and one-time CSRF nonces. */
export interface SignInSessionStore {
  recordFailure(key: string, at: number): Promise<void>;
  /** Failures recorded for `key` at or after `since`. */
  countFailures(key: string, since: number): Promise<number>;
  /** Forgets the key's failures (after a successful sign-in). */
  clear(key: string): Promise<void>;
  /** Records a nonce valid until `expiresAt` (exclusive). Issuing a nonce twice fails. */
  issue(nonce: string, expiresAt: number): Promise<void>;
  /** True exactly once per issued nonce, and only before it expires; the nonce is gone afterwards. */
  consume(nonce: string, at: number): Promise<boolean>;
  /** Drops failures recorded before `before` and nonces expired by then. */
  prune(before: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Audit

export const AuditEntry = z.object({
  at: z.number(),
  /** Who acted: a user identifier, "admin:…", "device:…" or "system". */
  actor: z.string(),
  /** What happened, e.g. "enrollment.created", "sign-in.failed". */
  action: z.string(),
  /** What it happened to, e.g. an enrollment id or a user identifier. */
  subject: z.string(),
  detail: z.json(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  /** Newest first (ties by order of appending, newest first); at most `limit` (default 100). */
  list(options?: { readonly limit?: number }): Promise<AuditEntry[]>;
}

// ---------------------------------------------------------------------------------------------
// The built-in MDM (runtime/mdm.ts): what each enrolled device last said at check-in, and its
// command queue. Rows are keyed by the enrollment's reference (adenroll_enrollments.id); there is no
// foreign key, so that truncating the enrollments (tests, administration) never needs a cascade.
//
// Not stored, on purpose: a TokenUpdate's UnlockToken and the bootstrap tokens (SetBootstrapToken),
// which unlock a device or its FileVault; the built-in MDM sends no command that needs them, and a
// secret that is not kept cannot leak.

/** How the device names itself in its messages: UDID (device enrollment) or EnrollmentID (user enrollment). */
export const MdmDeviceIdKind = z.enum(["UDID", "EnrollmentID"]);
export type MdmDeviceIdKind = z.infer<typeof MdmDeviceIdKind>;

export const MdmDeviceRecord = z.object({
  enrollmentRef: z.string().min(1),
  deviceId: z.string().min(1),
  idKind: MdmDeviceIdKind,
  topic: z.string().min(1),
  /** From the last TokenUpdate; null after an Authenticate (the device sends a new one) or a CheckOut. */
  pushMagic: z.string().min(1).nullable(),
  /** The APNs device token, base64; null like pushMagic. */
  pushToken: z.string().min(1).nullable(),
  /** When the device checked out (the MDM profile was removed); null once it authenticates again. */
  checkedOutAt: z.number().nullable(),
  updatedAt: z.number(),
});
export type MdmDeviceRecord = z.infer<typeof MdmDeviceRecord>;

/** What an Authenticate names; a TokenUpdate adds the push facts. */
export interface MdmDeviceFacts {
  readonly enrollmentRef: string;
  readonly deviceId: string;
  readonly idKind: MdmDeviceIdKind;
  readonly topic: string;
}

/**
 * A command's life: queued → sent (handed to the device on Idle) → acknowledged | error |
 * command-format-error, or not-now (the device will ask again: it is handed out again on Idle).
 */
export const MdmCommandStatus = z.enum(["queued", "sent", "acknowledged", "error", "command-format-error", "not-now"]);
export type MdmCommandStatus = z.infer<typeof MdmCommandStatus>;

/** What a device may answer a command with, as stored. */
export type MdmAnswerStatus = Exclude<MdmCommandStatus, "queued" | "sent">;

export const StoredMdmCommand = z.object({
  commandUuid: z.string().min(1).max(256),
  enrollmentRef: z.string().min(1),
  requestType: z.string().min(1),
  /** The command as sent: an XML plist {CommandUUID, Command: {RequestType, …}}. */
  command: z.string().min(1),
  status: MdmCommandStatus,
  /** The device's last report on it (an XML plist), or null. */
  result: z.string().nullable(),
  createdAt: z.number(),
  sentAt: z.number().nullable(),
  answeredAt: z.number().nullable(),
});
export type StoredMdmCommand = z.infer<typeof StoredMdmCommand>;

export interface MdmStore {
  /** Authenticate: the device (re)starts MDM; its earlier push facts and any CheckOut are forgotten. */
  recordAuthenticate(facts: MdmDeviceFacts, at: number): Promise<void>;
  /** TokenUpdate: the push facts (a device that skipped Authenticate is recorded too). */
  recordTokenUpdate(facts: MdmDeviceFacts & { readonly pushMagic: string; readonly pushToken: string }, at: number): Promise<void>;
  /** CheckOut: the push facts are dropped; false when the enrollment has no device record. */
  recordCheckOut(enrollmentRef: string, at: number): Promise<boolean>;
  getDevice(enrollmentRef: string): Promise<MdmDeviceRecord | null>;
  /** Queues a command; false (nothing written) when its CommandUUID is taken. */
  enqueueCommand(command: { readonly commandUuid: string; readonly enrollmentRef: string; readonly requestType: string; readonly command: string }, at: number): Promise<boolean>;
  /**
   * The enrollment's oldest queued or not-now command, marked sent in the same statement (of two
   * instances asking at once, each gets another command); null when there is none.
   */
  nextCommand(enrollmentRef: string, at: number): Promise<StoredMdmCommand | null>;
  /** Records the device's answer on its command; false (nothing written) when the enrollment has no command with that UUID. */
  recordAnswer(enrollmentRef: string, commandUuid: string, status: MdmAnswerStatus, report: string, at: number): Promise<boolean>;
  getCommand(commandUuid: string): Promise<StoredMdmCommand | null>;
  /** The enrollment's commands, newest first; at most `limit` (default 100). */
  listCommands(enrollmentRef: string, options?: { readonly limit?: number }): Promise<StoredMdmCommand[]>;
}

// ---------------------------------------------------------------------------------------------
// OAuth 2 (runtime/oauth2-server.ts): authorization codes and refresh-token families. Codes and
// refresh tokens are stored as their SHA-256 hashes only. The access token a code stands for is
// kept sealed (AES-GCM) under a key derived from the code itself, so only the code's holder can
// open it and the database never holds a usable token.

export const AuthorizationCodeRecord = z.object({
  codeHash: z.string().min(1),
  enrollmentRef: z.string().min(1),
  clientId: z.string().min(1),
  redirectUri: z.string().min(1),
  scope: z.string().nullable(),
  /** The PKCE S256 challenge of the authorization request, or null when it sent none. */
  codeChallenge: z.string().nullable(),
  userIdentifier: z.string().min(1),
  /** The access token issued at sign-in (the enrollment's token from then on), sealed under the code. */
  sealedAccessToken: z.string().min(1),
  accessTokenHash: z.string().min(1),
  accessTokenExpiresAt: z.number(),
  createdAt: z.number(),
  expiresAt: z.number(),
  /** When it was redeemed; a second redemption is a replay (OAUTH-10). */
  redeemedAt: z.number().nullable(),
});
export type AuthorizationCodeRecord = z.infer<typeof AuthorizationCodeRecord>;

/** The tokens that descend from one authorization code: one refresh token valid at a time. */
export const RefreshFamilyRecord = z.object({
  familyId: z.string().min(1),
  enrollmentRef: z.string().min(1),
  clientId: z.string().min(1),
  userIdentifier: z.string().min(1),
  scope: z.string().nullable(),
  /** The code the family was issued from (null: none). */
  codeHash: z.string().nullable(),
  /** The hash of the last access token issued in the family. */
  accessTokenHash: z.string().min(1),
  createdAt: z.number(),
  /** The current refresh token expires then (each rotation sets it anew). */
  expiresAt: z.number(),
  revokedAt: z.number().nullable(),
});
export type RefreshFamilyRecord = z.infer<typeof RefreshFamilyRecord>;

export interface OAuthStore {
  putCode(code: AuthorizationCodeRecord): Promise<void>;
  /**
   * Marks the code redeemed in the same statement that reads it: "redeemed" the first time,
   * "replayed" every later time (with the record as it was stored), null for an unknown hash.
   * Of two concurrent redemptions exactly one is "redeemed".
   */
  redeemCode(codeHash: string, at: number): Promise<{ readonly status: "redeemed" | "replayed"; readonly code: AuthorizationCodeRecord } | null>;
  /** A new family with its first refresh token. */
  createFamily(family: RefreshFamilyRecord, refreshTokenHash: string): Promise<void>;
  /** The family a refresh token belongs to, and whether that token was already used (rotated away). */
  findRefreshToken(refreshTokenHash: string): Promise<{ readonly family: RefreshFamilyRecord; readonly used: boolean } | null>;
  /**
   * Rotation: marks `usedHash` used and adds `nextHash` as the family's refresh token, records the
   * new access token and expiry — only if `usedHash` was unused and the family is not revoked.
   * False (nothing written) otherwise: of two concurrent rotations of one token exactly one wins.
   */
  rotateRefreshToken(usedHash: string, next: { readonly refreshTokenHash: string; readonly accessTokenHash: string; readonly expiresAt: number }, at: number): Promise<boolean>;
  /** Revokes one family; false when it was unknown or revoked already. */
  revokeFamily(familyId: string, at: number): Promise<boolean>;
  /** Revokes the family issued from a code (its replay, OAUTH-10); the family, if there was one. */
  revokeFamilyOfCode(codeHash: string, at: number): Promise<RefreshFamilyRecord | null>;
  /** Revokes every family of an enrollment (its tokens were revoked, it was unenrolled); how many. */
  revokeEnrollmentFamilies(enrollmentRef: string, at: number): Promise<number>;
  /** The family whose last access token has this hash. */
  findFamilyByAccessToken(accessTokenHash: string): Promise<RefreshFamilyRecord | null>;
  /** Drops codes expired before `before` and families expired or revoked before it. */
  prune(before: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------

/** Every role over one database. */
export interface Storage {
  readonly enrollments: Enrollments;
  readonly users: UserStore;
  readonly sessions: SignInSessionStore;
  readonly audit: AuditLog;
  /** The built-in MDM's devices and command queues. */
  readonly mdm: MdmStore;
  /** OAuth 2 authorization codes and refresh-token families. */
  readonly oauth: OAuthStore;
  /** Closes the database (and the embedded engine, for PGlite). */
  close(): Promise<void>;
}

/** A row the store read back failed its schema: it is reported, never used. */
export class UntrustedRecordError extends Error {
  override readonly name = "UntrustedRecordError";
  constructor(
    readonly table: string,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${table} ${JSON.stringify(key)} is not trusted: ${problem}`);
  }
}
