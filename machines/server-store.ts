// How the server machine's snapshots are kept between requests: the contract a store fulfils.
// The record carries the machine's state and context (never the transient reply, never a token in
// clear) plus the keys a request may find it by.
import { z } from "zod";
import { EnrollmentVersion } from "../spec/service-discovery.ts";
import { serverMachine, type ServerContext } from "./server.machine.ts";

export type EnrollmentLocator =
  | { readonly by: "id"; readonly id: string }
  | { readonly by: "device-key"; readonly deviceKey: string }
  | { readonly by: "token-hash"; readonly tokenHash: string }
  | { readonly by: "enrollment-id"; readonly enrollmentId: string }
  | { readonly by: "identity"; readonly fingerprint: string };

export const serverStateNames = Object.keys(serverMachine.config.states ?? {});

const IssuedTokenRecord = z.object({ hash: z.string(), expiresAt: z.number() });

/** A stored enrollment, as read back from any backend: parsed, never trusted. */
export const EnrollmentRecord = z.object({
  state: z.string().refine((s) => serverStateNames.includes(s), "a state of the server machine"),
  context: z.object({
    id: z.string(),
    deviceKey: z.string(),
    version: EnrollmentVersion,
    device: z.object({ PRODUCT: z.string(), VERSION: z.string(), LANGUAGE: z.string() }),
    userIdentifier: z.string().nullable(),
    managedAppleId: z.string().nullable(),
    tokenHash: z.string().nullable(),
    tokenExpiresAt: z.number().nullable(),
    pendingToken: IssuedTokenRecord.nullable(),
    retiredTokenHashes: z.array(z.string()).max(16).readonly(),
    enrollmentId: z.string().nullable(),
    // Records written before identities were pinned have none.
    identityFingerprint: z.string().nullable().default(null),
    hasProfile: z.boolean().default(false),
    reply: z.null(),
  }),
});
export type EnrollmentRecord = z.infer<typeof EnrollmentRecord>;

export interface TransactOptions {
  /**
   * `work` has no effect outside the record it returns (a check-in the machine decides alone), so a
   * store may run it on a cached copy and skip the write when the record comes back unchanged; when
   * it changes, the store must run it again on the stored record under its lock. Stores without a
   * cache ignore this.
   */
  readonly optimistic?: boolean;
}

export interface EnrollmentStore {
  /**
   * Runs `work` on the enrollment the first matching locator finds (or null), serialized with every
   * other transaction on that enrollment; when `work` returns a record, it replaces the stored one
   * atomically, together with its lookup keys (id, deviceKey, tokenHash, enrollmentId, identityFingerprint).
   */
  transact<T>(
    locators: readonly EnrollmentLocator[],
    work: (found: unknown) => Promise<{ readonly save: EnrollmentRecord | null; readonly result: T }>,
    options?: TransactOptions,
  ): Promise<T>;
}

/**
 * The token hash an enrollment is found by: its current token's, else the one it had last. A device
 * whose token was invalidated before its first check-in (so before it named itself by EnrollmentID
 * or UDID) is still found by its old token, and gets its challenge (ONGOING-7) rather than 403
 * unrecognized, which would unenroll it.
 */
export function lookupTokenHash(context: Pick<ServerContext, "tokenHash" | "retiredTokenHashes">): string | null {
  return context.tokenHash ?? context.retiredTokenHashes[0] ?? null;
}

export function toRecord(state: string, context: ServerContext): EnrollmentRecord {
  return { state, context: { ...context, reply: null } };
}
