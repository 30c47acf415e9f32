// Shared setup of the administration tests: a configuration with one admin token, the product
// (createAdenroll) over a storage, and requests to its admin API.
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { createActor } from "xstate";
import { serverMachine, toRecord, type EnrollmentRecord } from "../../machines/index.ts";
import { createAdenroll, type Adenroll, type AdenrollDependencies } from "../../runtime/app.ts";
import { adminTokenHash } from "../../runtime/admin-token.ts";
import { parseConfig, type AdenrollConfig } from "../../runtime/config.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { buildPlist } from "../../spec/index.ts";
import { seededRandom } from "../support/fixtures.ts";

export const origin = "https://mdm.example.com";
export const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
export const adminToken = "b3BzLXRva2VuLWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk";
export const adminTokenHashHex = await adminTokenHash(adminToken);
export const passwords = { alice: "correct horse battery staple", carol: "carol's long passphrase" } as const;

const examples = fileURLToPath(new URL("../../examples/", import.meta.url));

/** example.com (BYOD) and corp.example (ADDE), alice in the file, the admin token "ops". */
export async function testConfig(overrides: { readonly users?: readonly unknown[]; readonly admin?: unknown } = {}): Promise<AdenrollConfig> {
  return parseConfig(
    {
      publicBaseUrl: origin,
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod", "corp.example": "mdm-adde" } }],
      users: overrides.users ?? [{ userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: passwords.alice }],
      profile: { identifierPrefix: "com.example.mdm", topic, identity: { kind: "scep", url: `${origin}/scep` } },
      admin: overrides.admin ?? { tokens: [{ name: "ops", tokenHash: adminTokenHashHex }] },
    },
    { baseDir: examples, scryptCost: 1_000, random: seededRandom(71) },
  );
}

export interface Started {
  readonly adenroll: Adenroll;
  readonly log: string[];
  readonly clock: { now: number };
}

export async function start(config: AdenrollConfig, storage: OpenedStorage, deps: Partial<AdenrollDependencies> = {}): Promise<Started> {
  const log: string[] = [];
  const clock = { now: Date.now() };
  const adenroll = await createAdenroll(config, {
    storage,
    scryptCost: 1_000,
    random: seededRandom(72),
    clock: () => clock.now,
    log: { info: (m) => log.push(`info: ${m}`), warn: (m) => log.push(`warn: ${m}`), error: (m) => log.push(`error: ${m}`) },
    ...deps,
  });
  return { adenroll, log, clock };
}

export async function emptyStorage(storage: OpenedStorage): Promise<OpenedStorage> {
  await sql`truncate table adenroll_enrollments, adenroll_users, adenroll_sign_in_failures, adenroll_csrf_nonces, adenroll_audit_log restart identity`.execute(storage.db);
  return storage;
}

/** A test file's storage and product, as adminTestBed keeps them. */
export interface AdminTestBed {
  readonly storage: OpenedStorage;
  readonly server: Started;
  /** The product's app.fetch. */
  readonly fetch: (request: Request) => Promise<Response>;
}

/**
 * One PGlite in memory for the test file; before each test it is emptied (the MDM's devices and
 * commands too), the product is started over it with testConfig(), and `seed` puts what the tests need.
 */
export function adminTestBed(seed: (storage: OpenedStorage) => Promise<void>): AdminTestBed {
  let storage: OpenedStorage | undefined;
  let server: Started | undefined;
  beforeAll(async () => {
    storage = await openStorage({ memory: true });
  }, 60_000);
  afterAll(() => storage?.close());
  beforeEach(async () => {
    const opened = bed.storage;
    await sql`truncate table adenroll_mdm_devices, adenroll_mdm_commands`.execute(opened.db);
    server = await start(await testConfig(), await emptyStorage(opened));
    await seed(opened);
  });
  const bed: AdminTestBed = {
    get storage() {
      if (storage === undefined) throw new Error("the storage is opened in beforeAll");
      return storage;
    },
    get server() {
      if (server === undefined) throw new Error("the product is started in beforeEach");
      return server;
    },
    fetch: (request) => bed.server.adenroll.fetch(request),
  };
  return bed;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly text: string;
}

/** A request to the admin API; `token` null sends no Authorization header. */
export async function admin(fetch: (request: Request) => Promise<Response>, method: string, path: string, options: { readonly body?: unknown; readonly token?: string | null; readonly authorization?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? adminToken : options.token;
  if (options.authorization !== undefined) headers["authorization"] = options.authorization;
  else if (token !== null) headers["authorization"] = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(new Request(`${origin}/admin/v1${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) }));
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** A valid stored enrollment in `state` (the machine's own initial context, with `context` laid over it). */
export function enrollmentRecord(id: string, context: Partial<EnrollmentRecord["context"]> = {}, state = "enrolled"): EnrollmentRecord {
  const input = { id, deviceKey: `device:${id}`, version: "mdm-byod", device: { PRODUCT: "iPhone13,2", VERSION: "19A346", LANGUAGE: "en" } } as const;
  const initial = toRecord(state, createActor(serverMachine, { input }).getSnapshot().context);
  return { state, context: { ...initial.context, ...context } };
}

export async function putEnrollment(storage: OpenedStorage, record: EnrollmentRecord): Promise<void> {
  await storage.enrollments.transact([{ by: "id", id: record.context.id }], async () => ({ save: record, result: undefined }));
}

/** A check-in as a device sends it: PUT /mdm/checkin with its Bearer token and a plist. */
export function checkIn(token: string, message: Record<string, string>): Request {
  return new Request(`${origin}/mdm/checkin`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/x-apple-aspen-mdm-checkin" },
    body: new TextEncoder().encode(buildPlist({ Topic: topic, ...message })),
  });
}
