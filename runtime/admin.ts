// Administration of a running adenroll: users (added by an operator, kept across restarts),
// enrollments (inspected, unenrolled), tokens (revoked) and the audit log. One service behind both
// the admin HTTP API (runtime/admin-api.ts) and the CLI's direct mode (runtime/admin-command.ts).
//
// Every change is appended to storage.audit with who (`admin:<name>`), what, on what and when —
// never a password, a password hash or a token. Enrollment changes are server-machine events
// (runtime/enrollment-events.ts), so the machine decides what an enrollment becomes. What comes back
// is plain JSON (times as ISO 8601), described by the schemas below: the CLI parses the API's answers
// with the same schemas.
import { z } from "zod";
import { EnrollmentVersion, hasControlCharacter, isManagedAppleID, splitUserIdentifier } from "../spec/index.ts";
import { serverStateNames } from "../machines/index.ts";
import { secureRandomBytes, type RandomBytes } from "./crypto.ts";
import { hashPasswordScrypt, type ScryptCost } from "./directory.ts";
import { applyServerEvent, type AppliedEvent } from "./enrollment-events.ts";
import { UserSource, type AuditEntry, type Storage, type StoredEnrollment, type UserEntry, type UserRecord } from "./storage/roles.ts";
import { passwordRecordOf } from "./user-directory.ts";

// ---------------------------------------------------------------------------------------------
// Errors

export type AdminErrorCode = "admin.not-found" | "admin.invalid" | "admin.conflict";

/** A refused administrative operation, with a stable code (statuses in spec/errors.ts). */
export class AdminError extends Error {
  override readonly name = "AdminError";
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// What goes in

const identifier = z
  .string()
  .trim()
  .min(1, "expected a user identifier")
  .max(320)
  .refine((value) => !hasControlCharacter(value) && splitUserIdentifier(value).ok, "expected a user identifier of the form user@domain");

/** At least 8 characters; at most 1024 (scrypt reads all of it). */
export const Password = z.string().min(8, "a password has at least 8 characters").max(1024, "a password has at most 1024 characters");

export const NewUser = z.strictObject({
  userIdentifier: identifier,
  managedAppleId: z.string().trim().refine(isManagedAppleID, "expected a Managed Apple Account, e.g. alice@appleid.example.com"),
  password: Password.optional(),
  enrollmentType: EnrollmentVersion.optional(),
});
export type NewUser = z.input<typeof NewUser>;

export const Limit = z.coerce.number().int("expected a whole number").min(1, "at least 1").max(1000, "at most 1000");

export const EnrollmentQuery = z.strictObject({
  user: z.string().trim().min(1).max(320).optional(),
  state: z
    .string()
    .refine((s) => serverStateNames.includes(s), `expected a state of the server machine: ${serverStateNames.join(", ")}`)
    .optional(),
  limit: Limit.optional(),
});
export type EnrollmentQuery = z.input<typeof EnrollmentQuery>;

export const RevokeTarget = z.union([
  z.strictObject({ user: z.string().trim().min(1).max(320) }),
  z.strictObject({ enrollment: z.string().min(1).max(200) }),
]);
export type RevokeTarget = z.infer<typeof RevokeTarget>;

// ---------------------------------------------------------------------------------------------
// What comes out

export const UserView = z.object({
  userIdentifier: z.string(),
  managedAppleId: z.string(),
  enrollmentType: EnrollmentVersion.nullable(),
  hasPassword: z.boolean(),
  source: UserSource,
});
export type UserView = z.infer<typeof UserView>;

export const EnrollmentView = z.union([
  z.object({
    id: z.string(),
    trusted: z.literal(true),
    state: z.string(),
    userIdentifier: z.string().nullable(),
    managedAppleId: z.string().nullable(),
    version: EnrollmentVersion,
    product: z.string(),
    osVersion: z.string(),
    enrollmentId: z.string().nullable(),
    /** The first characters of the current token's hash, never more. */
    token: z.object({ hashPrefix: z.string().max(12), expiresAt: z.string().nullable() }).nullable(),
    updatedAt: z.string(),
  }),
  z.object({ id: z.string(), trusted: z.literal(false), problem: z.string(), updatedAt: z.string() }),
]);
export type EnrollmentView = z.infer<typeof EnrollmentView>;

export const EnrollmentChange = z.object({
  id: z.string(),
  userIdentifier: z.string().nullable(),
  from: z.string(),
  to: z.string(),
  hadToken: z.boolean(),
});
export type EnrollmentChange = z.infer<typeof EnrollmentChange>;

export const RevokeResult = z.object({
  revoked: z.array(EnrollmentChange),
  /** Stored enrollments that failed their checks: reported, not changed. */
  skipped: z.array(z.object({ id: z.string(), problem: z.string() })),
});
export type RevokeResult = z.infer<typeof RevokeResult>;

export const AuditView = z.object({ at: z.string(), actor: z.string(), action: z.string(), subject: z.string(), detail: z.json() });
export type AuditView = z.infer<typeof AuditView>;

/** How many characters of a token hash are ever shown. */
export const tokenHashPrefixLength = 8;

// ---------------------------------------------------------------------------------------------
// The service

export interface AdminServiceOptions {
  readonly storage: Storage;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly random?: RandomBytes;
  /** scrypt cost of the passwords it hashes (default: production). */
  readonly scryptCost?: number | ScryptCost;
  /** When given, a new user's domain must be one this says is served (the configuration's). */
  readonly servesDomain?: (domain: string) => boolean;
  /** Told after a user was added, removed or changed (the server's lookup cache forgets it). */
  readonly onUserChanged?: (userIdentifier: string) => void;
}

export interface AdminService {
  listUsers(): Promise<UserView[]>;
  addUser(actor: string, input: unknown): Promise<UserView>;
  removeUser(actor: string, userIdentifier: string): Promise<UserView>;
  setPassword(actor: string, userIdentifier: string, password: unknown): Promise<UserView>;
  listEnrollments(query?: unknown): Promise<EnrollmentView[]>;
  showEnrollment(id: string): Promise<EnrollmentView>;
  unenroll(actor: string, id: string): Promise<EnrollmentChange>;
  revokeTokens(actor: string, target: unknown): Promise<RevokeResult>;
  listAudit(limit?: unknown): Promise<AuditView[]>;
}

/** Most enrollments one user's revocation goes through (far beyond any real person's devices). */
const maxEnrollmentsPerUser = 10_000;

export function createAdminService(options: AdminServiceOptions): AdminService {
  const { storage } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandomBytes;
  const changed = (userIdentifier: string) => options.onUserChanged?.(userIdentifier);

  const audit = (actor: string, action: string, subject: string, detail: AuditEntry["detail"]) => storage.audit.append({ at: now(), actor, action, subject, detail });

  async function adminEntry(userIdentifier: string, doing: string): Promise<UserEntry> {
    const entry = await storage.users.entry(userIdentifier);
    if (entry === null) throw new AdminError("admin.not-found", `no user ${JSON.stringify(userIdentifier)}`);
    if (entry.source === "config") {
      // The configuration file is the source of truth for its users: a change here would be undone at the next start.
      throw new AdminError("admin.conflict", `${entry.user.userIdentifier} comes from the configuration file: ${doing} it there`);
    }
    return entry;
  }

  async function hashed(password: string): Promise<NonNullable<UserRecord["password"]>> {
    const record = passwordRecordOf(await hashPasswordScrypt(password, random, options.scryptCost));
    if (record === null) throw new Error("a fresh scrypt hash did not parse");
    return record;
  }

  async function recordChange(actor: string, action: string, applied: AppliedEvent): Promise<EnrollmentChange> {
    const change = { id: applied.id, userIdentifier: applied.userIdentifier, from: applied.from, to: applied.to, hadToken: applied.hadToken };
    await audit(actor, action, applied.id, { user: applied.userIdentifier, from: applied.from, to: applied.to, hadToken: applied.hadToken });
    return change;
  }

  return {
    async listUsers() {
      return (await storage.users.entries()).map(userView);
    },

    async addUser(actor, input) {
      const user = parse(NewUser, input);
      const domain = splitUserIdentifier(user.userIdentifier);
      if (domain.ok && options.servesDomain !== undefined && !options.servesDomain(domain.value.domain.toLowerCase())) {
        throw new AdminError("admin.invalid", `userIdentifier: ${domain.value.domain} is not one of the organizations' domains`);
      }
      const record: UserRecord = {
        userIdentifier: user.userIdentifier,
        managedAppleId: user.managedAppleId,
        password: user.password === undefined ? null : await hashed(user.password),
        ...(user.enrollmentType === undefined ? {} : { enrollmentType: user.enrollmentType }),
      };
      if (!(await storage.users.create(record, "admin"))) {
        const existing = await storage.users.entry(user.userIdentifier);
        throw new AdminError("admin.conflict", `a user ${existing?.user.userIdentifier ?? user.userIdentifier} exists already${existing === null ? "" : ` (from ${existing.source === "config" ? "the configuration file" : "administration"})`}`);
      }
      changed(record.userIdentifier);
      await audit(actor, "user.added", record.userIdentifier, {
        managedAppleId: record.managedAppleId,
        enrollmentType: record.enrollmentType ?? null,
        hasPassword: record.password !== null,
      });
      return userView({ user: record, source: "admin" });
    },

    async removeUser(actor, userIdentifier) {
      const entry = await adminEntry(userIdentifier, "remove");
      if (!(await storage.users.remove(entry.user.userIdentifier))) throw new AdminError("admin.not-found", `no user ${JSON.stringify(userIdentifier)}`);
      changed(entry.user.userIdentifier);
      await audit(actor, "user.removed", entry.user.userIdentifier, { managedAppleId: entry.user.managedAppleId });
      return userView(entry);
    },

    async setPassword(actor, userIdentifier, password) {
      const checked = parse(Password, password, "password");
      const entry = await adminEntry(userIdentifier, "change its password");
      const user: UserRecord = { ...entry.user, password: await hashed(checked) };
      // No source given: the row keeps its own ('admin').
      await storage.users.upsert(user);
      changed(user.userIdentifier);
      await audit(actor, "user.password-set", user.userIdentifier, {});
      return userView({ user, source: entry.source });
    },

    async listEnrollments(query = {}) {
      const q = parse(EnrollmentQuery, query);
      const user = q.user === undefined ? undefined : await canonicalUser(storage, q.user);
      const rows = await storage.enrollments.listEnrollments({
        ...(user === undefined ? {} : { userIdentifier: user }),
        ...(q.state === undefined ? {} : { state: q.state }),
        limit: q.limit ?? 100,
      });
      return rows.map(enrollmentView);
    },

    async showEnrollment(id) {
      const stored = await storage.enrollments.getEnrollment(id);
      if (stored === null) throw new AdminError("admin.not-found", `no enrollment ${JSON.stringify(id)}`);
      return enrollmentView(stored);
    },

    async unenroll(actor, id) {
      const applied = await applyServerEvent(storage.enrollments, [{ by: "id", id }], { type: "UNENROLL" });
      if (applied === null) throw new AdminError("admin.not-found", `no enrollment ${JSON.stringify(id)}`);
      await storage.oauth.revokeEnrollmentFamilies(id, now());
      return recordChange(actor, "enrollment.unenrolled", applied);
    },

    async revokeTokens(actor, target) {
      const t = parse(RevokeTarget, target);
      if ("enrollment" in t) {
        const applied = await applyServerEvent(storage.enrollments, [{ by: "id", id: t.enrollment }], { type: "TOKEN_INVALIDATED" });
        if (applied === null) throw new AdminError("admin.not-found", `no enrollment ${JSON.stringify(t.enrollment)}`);
        // An OAuth 2 device must sign in again, not refresh its way back (OAUTH-14 refuses it too).
        await storage.oauth.revokeEnrollmentFamilies(t.enrollment, now());
        return { revoked: [await recordChange(actor, "enrollment.token-revoked", applied)], skipped: [] };
      }
      const known = await storage.users.get(t.user);
      const user = known?.userIdentifier ?? t.user;
      const rows = await storage.enrollments.listEnrollments({ userIdentifier: user, limit: maxEnrollmentsPerUser });
      if (rows.length === 0 && known === null) throw new AdminError("admin.not-found", `no user ${JSON.stringify(t.user)} and no enrollment of one`);
      const result: RevokeResult = { revoked: [], skipped: [] };
      for (const row of rows) {
        if (!row.trusted) {
          result.skipped.push({ id: row.id, problem: row.problem });
          continue;
        }
        const applied = await applyServerEvent(storage.enrollments, [{ by: "id", id: row.id }], { type: "TOKEN_INVALIDATED" });
        if (applied !== null) {
          await storage.oauth.revokeEnrollmentFamilies(row.id, now());
          result.revoked.push(await recordChange(actor, "enrollment.token-revoked", applied));
        }
      }
      return result;
    },

    async listAudit(limit) {
      const n = limit === undefined ? 100 : parse(Limit, limit, "limit");
      return (await storage.audit.list({ limit: n })).map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    },
  };
}

/** The identifier as stored (enrollments keep the directory's spelling), or as given when no such user is stored. */
async function canonicalUser(storage: Storage, userIdentifier: string): Promise<string> {
  return (await storage.users.get(userIdentifier))?.userIdentifier ?? userIdentifier.trim();
}

function parse<S extends z.ZodType>(schema: S, value: unknown, name?: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const text = parsed.error.issues.map((i) => `${[name, ...i.path.map(String)].filter((p) => p !== undefined && p !== "").join(".") || "(request)"}: ${i.message}`).join("; ");
  throw new AdminError("admin.invalid", text);
}

export function userView(entry: UserEntry): UserView {
  return {
    userIdentifier: entry.user.userIdentifier,
    managedAppleId: entry.user.managedAppleId,
    enrollmentType: entry.user.enrollmentType ?? null,
    hasPassword: entry.user.password !== null,
    source: entry.source,
  };
}

export function enrollmentView(stored: StoredEnrollment): EnrollmentView {
  const updatedAt = new Date(stored.updatedAt).toISOString();
  if (!stored.trusted) return { id: stored.id, trusted: false, problem: stored.problem, updatedAt };
  const c = stored.record.context;
  return {
    id: stored.id,
    trusted: true,
    state: stored.record.state,
    userIdentifier: c.userIdentifier,
    managedAppleId: c.managedAppleId,
    version: c.version,
    product: c.device.PRODUCT,
    osVersion: c.device.VERSION,
    enrollmentId: c.enrollmentId,
    token: c.tokenHash === null ? null : { hashPrefix: c.tokenHash.slice(0, tokenHashPrefixLength), expiresAt: c.tokenExpiresAt === null ? null : new Date(c.tokenExpiresAt).toISOString() },
    updatedAt,
  };
}
