// The authorized check-in workload of `npm run bench` (issue "Ongoing authorization", item 8): the
// enrollments a benchmark store is seeded with, and the check-ins sent for them.
//
// Every enrollment is derived from its index alone (SHA-256 of a label, so no two collide), which
// lets bench/serve.ts seed a store and bench/run.ts build the requests without sharing state. The
// measured enrollments are the same in every store: a store of N holds them spread evenly among
// N − measured filler enrollments, so that the requests sent to each store are byte for byte equal
// and touch the same number of distinct rows.
import { createHash } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { z } from "zod";
import { buildPlist, checkInContentType } from "../spec/index.ts";
import { EnrollmentRecord } from "../machines/index.ts";
import { base64url, hashToken } from "../runtime/crypto.ts";
import type { OpenedStorage } from "../runtime/storage/open-storage.ts";
import type { Database } from "../runtime/storage/schema.ts";

/** The route and the one answer every measured check-in gets (acknowledged, empty body). */
export const checkinTarget = { method: "PUT", path: "/mdm/checkin", expectStatus: 200 } as const;

/** The APNs topic of examples/byod-simple.yaml, which the product servers are built from. */
const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";

/** One check-in server of the benchmark (bench/run.ts decides, bench/serve.ts builds). */
export const CheckinStoreSpec = z.object({
  /** The server process's name for it. */
  name: z.string(),
  /** Enrollments stored. */
  size: z.number().int().positive(),
  /** How many of them the check-ins are for, spread evenly through the table. */
  measured: z.number().int().positive(),
  /** runtime/storage/enrollment-cache.ts in front of the store (the product's default), or not. */
  cache: z.boolean(),
  /**
   * What answers the authorized check-in: the built-in MDM (runtime/mdm.ts, which writes the
   * TokenUpdate's push facts), or nothing (200, empty: the guard alone, as in proxy mode without
   * the upstream's own time).
   */
  mdm: z.enum(["builtin", "none"]).default("builtin"),
});
export type CheckinStoreSpec = z.infer<typeof CheckinStoreSpec>;

/** What a device knows of its enrollment: its access token (in clear) and its EnrollmentID. */
export interface BenchIdentity {
  readonly token: string;
  readonly enrollmentId: string;
}

export interface BenchEnrollment extends BenchIdentity {
  readonly record: EnrollmentRecord;
}

const digest = (label: string): Buffer => createHash("sha256").update(`adenroll bench ${label}`).digest();

function uuidOf(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.subarray(0, 16)).toString("hex").toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function benchIdentity(kind: "measured" | "filler", index: number): BenchIdentity {
  const label = `${kind} ${index}`;
  return { token: base64url(digest(`token ${label}`)), enrollmentId: uuidOf(digest(`enrollment-id ${label}`)) };
}

/**
 * Enrollment `index` of `kind`: state "enrolled", a user, a current token (valid until
 * `tokenExpiresAt`) and the EnrollmentID its device sent — what a device that finished enrolling
 * and sent its first check-in has stored.
 */
export async function benchEnrollment(kind: "measured" | "filler", index: number, tokenExpiresAt: number): Promise<BenchEnrollment> {
  const label = `${kind} ${index}`;
  const { token, enrollmentId } = benchIdentity(kind, index);
  // Written as input and parsed: what the schema adds by default (fields newer than this file) is
  // then in the record too, as it is in every context the machine saves.
  const input: z.input<typeof EnrollmentRecord> = {
    state: "enrolled",
    context: {
      id: base64url(digest(`id ${label}`)),
      deviceKey: `CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US|${digest(`serial ${label}`).toString("hex").slice(0, 19)}`,
      version: "mdm-byod",
      device: { PRODUCT: "iPhone12,1", VERSION: "19H12", LANGUAGE: "en-US" },
      userIdentifier: `${kind}-${index}@example.com`,
      managedAppleId: `${kind}-${index}@appleid.example.com`,
      tokenHash: await hashToken(token),
      tokenExpiresAt,
      pendingToken: null,
      retiredTokenHashes: [],
      enrollmentId,
      reply: null,
    },
  };
  const record = EnrollmentRecord.safeParse(input);
  if (!record.success) throw new Error(`bench: a seeded enrollment fails its schema: ${record.error.message}`);
  return { record: record.data, token, enrollmentId };
}

/** base64url(SHA-256(UTF-8 of a text expression)) in SQL, as `digest` + `base64url` compute it. */
const sqlDigest64 = (text: string): string => `rtrim(translate(encode(sha256(convert_to(${text}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;

/**
 * Positions `from` … `to` (inclusive) of a store of `total` with `measured` measured enrollments,
 * in one INSERT … SELECT: position p holds measured enrollment k when p = ⌊k·total/measured⌋, else
 * the next filler. Values are the ones `benchEnrollment` gives, computed by the database (seeding
 * 100 000 through the driver row by row takes minutes); the context is a template record's with
 * each enrollment's own values merged in, so that every field the schema has is there.
 * `verifySeed` checks rows against the store's own write.
 */
async function insertPositions(db: Kysely<Database>, from: number, to: number, total: number, measured: number, template: EnrollmentRecord, now: number): Promise<void> {
  // Measured enrollments at positions ≤ p: ⌈(p + 1)·measured / total⌉ (integer arithmetic).
  const countUpTo = (p: string): string => `least(${measured}, ((${p} + 1) * ${measured} + ${total} - 1) / ${total})`;
  await sql`
    with p as (
      select cast(${sql.raw(countUpTo("p"))} as bigint) as c, cast(${sql.raw(countUpTo("p - 1"))} as bigint) as c0, p
      from generate_series(cast(${from} as bigint), cast(${to} as bigint)) as g(p)
    ), l as (
      select p, case when c > c0 then 'measured' else 'filler' end as kind, case when c > c0 then c - 1 else p - c end as i from p
    ), d as (
      select p,
        ${sql.raw(sqlDigest64("'adenroll bench token ' || kind || ' ' || i"))} as token,
        ${sql.raw(sqlDigest64("'adenroll bench id ' || kind || ' ' || i"))} as id,
        upper(encode(substr(sha256(convert_to('adenroll bench enrollment-id ' || kind || ' ' || i, 'UTF8')), 1, 16), 'hex')) as h,
        'CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US|' || substr(encode(sha256(convert_to('adenroll bench serial ' || kind || ' ' || i, 'UTF8')), 'hex'), 1, 19) as device_key,
        kind || '-' || i || '@example.com' as user_identifier,
        kind || '-' || i || '@appleid.example.com' as managed_apple_id
      from l
    ), r as (
      select d.*, ${sql.raw(sqlDigest64("token"))} as token_hash,
        substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-8' || substr(h, 18, 3) || '-' || substr(h, 21, 12) as enrollment_id
      from d
    )
    insert into adenroll_enrollments (id, device_key, token_hash, enrollment_id, identity_fingerprint, user_identifier, state, context, updated_at)
    select id, device_key, token_hash, enrollment_id, cast(${template.context.identityFingerprint} as text), user_identifier, ${template.state},
      cast(cast(${JSON.stringify(template.context)} as text) as jsonb) || jsonb_build_object('id', id, 'deviceKey', device_key, 'tokenHash', token_hash, 'enrollmentId', enrollment_id, 'userIdentifier', user_identifier, 'managedAppleId', managed_apple_id),
      ${new Date(now)}
    from r
  `.execute(db);
}

/**
 * Seeds `total` enrollments, `measured` of them the measured ones spread evenly among fillers,
 * as the rows runtime/storage/sql-store.ts writes (lookup columns from the context, the context
 * with reply null as jsonb), in position order, so measured rows sit among fillers in the table.
 */
export async function seedEnrollments(db: Kysely<Database>, total: number, measured: number, tokenExpiresAt: number, now: number): Promise<void> {
  if (!(Number.isInteger(total) && Number.isInteger(measured) && measured >= 1 && measured <= total)) throw new Error(`bench: cannot measure ${measured} enrollments of ${total}`);
  // The secondary indexes are dropped while seeding and built again from their own definitions
  // (building one over 100 000 rows is much faster than 100 000 insertions into it); primary key
  // and unique constraints stay.
  const indexes = await sql<{ readonly name: string; readonly definition: string }>`
    select i.indexname as name, i.indexdef as definition from pg_indexes i
    where i.tablename = 'adenroll_enrollments' and not exists (select 1 from pg_constraint c where c.conname = i.indexname)
    order by i.indexname`.execute(db);
  for (const index of indexes.rows) await sql`drop index ${sql.id(index.name)}`.execute(db);
  // Nor are the enrollment cache's change notifications (a trigger per row) sent for them: no cache
  // holds anything yet. The setting is this session's (PGlite has one) and is reset below.
  await sql`set session_replication_role = replica`.execute(db);
  // Every record the template stands for parses (it is benchEnrollment's, checked against EnrollmentRecord).
  const template = (await benchEnrollment("filler", 0, tokenExpiresAt)).record;
  const batch = 5_000;
  for (let from = 0; from < total; from += batch) await insertPositions(db, from, Math.min(total, from + batch) - 1, total, measured, template, now);
  await sql`reset session_replication_role`.execute(db);
  for (const index of indexes.rows) await sql.raw(index.definition).execute(db);
  const rebuilt = await sql<{ readonly name: string; readonly definition: string }>`
    select indexname as name, indexdef as definition from pg_indexes where tablename = 'adenroll_enrollments' order by indexname`.execute(db);
  const missing = indexes.rows.filter((index) => !rebuilt.rows.some((r) => r.name === index.name && r.definition === index.definition));
  if (missing.length > 0) throw new Error(`bench: indexes not rebuilt as they were: ${missing.map((i) => i.name).join(", ")}`);
}

/**
 * Checks a seeded store: measured enrollments read back trusted (they parse, and their lookup
 * columns agree with their context), the store holds `total`, and the rows of the first and last
 * measured enrollment and of the first, a middle and the last filler, written again through `storage.enrollments.transact` (the server's own
 * write), come out column for column the same but for updated_at — so the bulk INSERTs write what
 * the store writes, and the database computed what bench/run.ts will send.
 */
export async function verifySeed(storage: OpenedStorage, total: number, measured: number, tokenExpiresAt: number): Promise<void> {
  // Every measured enrollment reads back trusted (at most 1 000 of them, spread evenly).
  const checked = Math.min(measured, 1000);
  for (let j = 0; j < checked; j++) {
    const i = Math.floor((j * measured) / checked);
    const { record } = await benchEnrollment("measured", i, tokenExpiresAt);
    const stored = await storage.enrollments.getEnrollment(record.context.id);
    if (stored === null || !stored.trusted) throw new Error(`bench: seeded enrollment measured ${i} does not read back trusted: ${stored === null ? "missing" : stored.problem}`);
  }
  const count = await storage.db.selectFrom("adenroll_enrollments").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
  if (Number(count?.n) !== total) throw new Error(`bench: the store holds ${count?.n} enrollments, not ${total}`);
  const fillers = total - measured;
  const samples = [
    ...[0, measured - 1].map((i) => benchEnrollment("measured", i, tokenExpiresAt)),
    ...(fillers > 0 ? [0, Math.floor(fillers / 2), fillers - 1] : []).map((i) => benchEnrollment("filler", i, tokenExpiresAt)),
  ];
  for (const sample of samples) {
    const { record } = await sample;
    const read = async (): Promise<string> => {
      const row = await storage.db.selectFrom("adenroll_enrollments").selectAll().where("id", "=", record.context.id).executeTakeFirstOrThrow();
      const { updated_at: _updatedAt, ...rest } = row;
      return JSON.stringify(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)));
    };
    const seeded = await read();
    await storage.db.deleteFrom("adenroll_enrollments").where("id", "=", record.context.id).execute();
    await storage.enrollments.transact([{ by: "id", id: record.context.id }], async (found) => ({ save: found === null ? record : null, result: null }));
    const written = await read();
    if (written !== seeded) throw new Error(`bench: a seeded row differs from what the store writes:\n  seeded  ${seeded}\n  written ${written}`);
  }
}

/** The check-in a device sends: a TokenUpdate for its enrollment, Bearer-authorized. */
export function checkinRequest(identity: BenchIdentity, label: string): { readonly headers: Record<string, string>; readonly body: Uint8Array } {
  const body = new TextEncoder().encode(
    buildPlist({
      MessageType: "TokenUpdate",
      Topic: topic,
      EnrollmentID: identity.enrollmentId,
      PushMagic: uuidOf(digest(`push-magic ${label}`)),
      Token: new Uint8Array(digest(`push-token ${label}`)),
    }),
  );
  return { headers: { "content-type": checkInContentType, authorization: `Bearer ${identity.token}` }, body };
}

/** The check-ins of measured enrollments 0 … count − 1, in order. */
export function checkinRequests(count: number): { readonly headers: Record<string, string>; readonly body: Uint8Array }[] {
  return Array.from({ length: count }, (_, i) => checkinRequest(benchIdentity("measured", i), `measured ${i}`));
}

/**
 * Reference twins of the check-in servers (informational, no target), served beside bare-checkin
 * by bench/serve.ts and answering with its recorded bytes: a bare handler that first computes for
 * a calibrated number of µs (what this machine makes of handler work), and an unauthorized one that
 * reads the body and parses it as the product does (parseCheckInMessage) but looks no token up
 * (what authorization itself adds).
 */
export const checkinReferenceTwins = [
  { name: "bare-checkin-5us", kind: "computation", computeUs: 5, label: "bare + 5 µs computation" },
  { name: "bare-checkin-10us", kind: "computation", computeUs: 10, label: "bare + 10 µs computation" },
  { name: "checkin-unauthorized", kind: "parse", computeUs: 0, label: "unauthorized check-in (parse only)" },
] as const;
