// The database as Kysely sees it once every migration in migrations.ts has run. Column types are
// what a query may write; what a query reads back is parsed with Zod in sql-store.ts (the drivers
// differ: node-postgres returns int8 as a string where PGlite returns a number), never trusted.
// JSON columns are written as JSON text cast to jsonb (see `jsonb` in sql-store.ts).
import type { ColumnType } from "kysely";

/** A timestamptz column: written as a Date, read back as a Date. */
type Timestamp = ColumnType<Date, Date, Date>;
/** A jsonb column: read back parsed (unknown until checked), written as JSON text. */
type Jsonb = ColumnType<unknown, string, string>;
/** An identity column: never written. */
type Identity = ColumnType<string | number, never, never>;

export interface Database {
  adenroll_migrations: {
    id: string;
    applied_at: Timestamp;
  };
  adenroll_enrollments: {
    id: string;
    device_key: string;
    token_hash: string | null;
    enrollment_id: string | null;
    /** The pinned identity certificate's SHA-256 (migration 005). */
    identity_fingerprint: string | null;
    user_identifier: string | null;
    state: string;
    /** The server machine's context, without its transient reply. */
    context: Jsonb;
    updated_at: Timestamp;
  };
  adenroll_users: {
    /** The identifier trimmed and lower-cased (`userKey`). */
    user_key: string;
    /** As it was configured. */
    user_identifier: string;
    managed_apple_id: string;
    /** A PasswordHashRecord, or null. */
    password: ColumnType<unknown, string | null, string | null>;
    enrollment_type: string | null;
    updated_at: Timestamp;
    /** 'config' (seeded from the configuration file) or 'admin' (added through administration). */
    source: ColumnType<string, string | undefined, string>;
  };
  adenroll_sign_in_failures: {
    id: Identity;
    key: string;
    at: Timestamp;
  };
  adenroll_csrf_nonces: {
    nonce: string;
    expires_at: Timestamp;
  };
  adenroll_audit_log: {
    id: Identity;
    at: Timestamp;
    actor: string;
    action: string;
    subject: string;
    detail: Jsonb;
  };
  /** The built-in MDM's device facts, one row per enrollment (migration 006). */
  adenroll_mdm_devices: {
    enrollment_ref: string;
    device_id: string;
    /** 'UDID' or 'EnrollmentID'. */
    id_kind: string;
    topic: string;
    push_magic: string | null;
    /** The APNs device token, base64. */
    push_token: string | null;
    checked_out_at: ColumnType<Date | null, Date | null, Date | null>;
    updated_at: Timestamp;
  };
  /** The built-in MDM's command queue (migration 006). */
  adenroll_mdm_commands: {
    command_uuid: string;
    /** Queue order: the oldest command is handed out first. */
    seq: Identity;
    enrollment_ref: string;
    request_type: string;
    /** The command as sent, an XML plist. */
    command: string;
    status: string;
    /** The device's report on it, an XML plist. */
    result: string | null;
    created_at: Timestamp;
    sent_at: ColumnType<Date | null, Date | null, Date | null>;
    answered_at: ColumnType<Date | null, Date | null, Date | null>;
    updated_at: Timestamp;
  };
  /** OAuth 2 authorization codes, by the SHA-256 of the code (migration 007). */
  adenroll_oauth_codes: {
    code_hash: string;
    enrollment_ref: string;
    client_id: string;
    redirect_uri: string;
    scope: string | null;
    /** The PKCE S256 challenge, or null. */
    code_challenge: string | null;
    user_identifier: string;
    /** The access token sealed (AES-GCM) under a key derived from the code. */
    sealed_access_token: string;
    access_token_hash: string;
    access_token_expires_at: Timestamp;
    created_at: Timestamp;
    expires_at: Timestamp;
    redeemed_at: ColumnType<Date | null, Date | null, Date | null>;
  };
  /** OAuth 2 refresh-token families (migration 007). */
  adenroll_oauth_families: {
    family_id: string;
    enrollment_ref: string;
    client_id: string;
    user_identifier: string;
    scope: string | null;
    /** The code the family was issued from; unique when not null. */
    code_hash: string | null;
    /** The last access token issued in the family. */
    access_token_hash: string;
    created_at: Timestamp;
    /** When the family's current refresh token expires. */
    expires_at: Timestamp;
    revoked_at: ColumnType<Date | null, Date | null, Date | null>;
  };
  /** A family's refresh tokens by their SHA-256: the current one unused, the rotated ones used (migration 007). */
  adenroll_oauth_refresh_tokens: {
    token_hash: string;
    family_id: string;
    created_at: Timestamp;
    used_at: ColumnType<Date | null, Date | null, Date | null>;
  };
}
