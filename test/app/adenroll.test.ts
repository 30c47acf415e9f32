// createAdenroll: a configuration over a storage (embedded PGlite, in memory) as the product runs it.
// Every example enrolls a device and every profile it delivers passes Apple's schemas; discovery
// routes per domain and per user; a static redirect from the organization's web server works;
// re-issued profiles keep the keys that must not change; sign-ins, lockouts and deliveries are
// audited in storage; throttling counts live in storage; the test device CA is trusted only when
// allowed.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { createAdenroll, housekeepingKeepMs, type Logger } from "../../runtime/app.ts";
import { loadConfigFile, parseConfig, type AdenrollConfig } from "../../runtime/config.ts";
import { runDevice } from "../../runtime/device-command.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { loadPemCertificates, verifyDeviceSignature } from "../../runtime/device-signature.ts";
import { createIdentityCa, readPkcs12, type IdentityCa } from "../../runtime/identity-ca.ts";
import { formFields, signInPerson } from "../../runtime/person.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "../../runtime/test-device-ca.ts";
import {
  buildPlist,
  checkConfigurationProfile,
  errorsOf,
  findMdmPayload,
  formatProblem,
  parseAuthenticationCallback,
  parseChallenge,
  parseEnrollmentProfile,
  parseSignedData,
  type ConfigurationProfile,
} from "../../spec/index.ts";
import { oauthCode, refreshFamily } from "../storage/storage.suite.ts";
import { listenOnLoopback } from "../support/http-server.ts";
import { realEnrollBody, seededRandom } from "../support/fixtures.ts";

const examples = fileURLToPath(new URL("../../examples/", import.meta.url));
const passwords = { alice: "correct horse battery staple", bob: "another long passphrase", carol: "a third passphrase here", dave: "a demo password, never in production" };

// One embedded database for the file (opening PGlite costs seconds), emptied for each server.
let identityCa: IdentityCa;
let database: OpenedStorage;
beforeAll(async () => {
  identityCa = await createIdentityCa({ random: seededRandom(51) });
  database = await openStorage({ memory: true });
}, 60_000);
afterAll(() => database.close());

async function emptyStorage(): Promise<OpenedStorage> {
  await sql`truncate table adenroll_enrollments, adenroll_users, adenroll_sign_in_failures, adenroll_csrf_nonces, adenroll_audit_log restart identity`.execute(database.db);
  return database;
}

interface Started {
  readonly fetch: (request: Request) => Promise<Response>;
  readonly storage: OpenedStorage;
  readonly log: string[];
  /** Every profile body the server delivered, as sent. */
  readonly delivered: Uint8Array[];
}

async function start(config: AdenrollConfig, options: { readonly storage?: OpenedStorage; readonly testDeviceCa?: Uint8Array; readonly throttle?: { maxFailures: number; windowMs: number } } = {}): Promise<Started> {
  const storage = options.storage ?? (await emptyStorage());
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(`info: ${m}`), warn: (m) => lines.push(`warn: ${m}`), error: (m) => lines.push(`error: ${m}`) };
  const adenroll = await createAdenroll(config, {
    storage,
    log,
    identityCa,
    scryptCost: 1_000,
    ...(options.testDeviceCa === undefined ? {} : { testDeviceCa: options.testDeviceCa }),
    ...(options.throttle === undefined ? {} : { throttle: options.throttle }),
  });
  const delivered: Uint8Array[] = [];
  return {
    storage,
    log: lines,
    delivered,
    async fetch(request) {
      const response = await adenroll.fetch(request);
      if (response.status === 200 && response.headers.get("content-type") === "application/x-apple-aspen-config") {
        const body = new Uint8Array(await response.clone().arrayBuffer());
        delivered.push(body);
      }
      return response;
    },
  };
}

const example = (file: string) => loadConfigFile(path.join(examples, file), { scryptCost: 1_000 });

/** The XML profile of a delivered body (unwrapping a CMS-signed one). */
function profileOf(body: Uint8Array): ConfigurationProfile {
  const signed = parseSignedData(body);
  const parsed = parseEnrollmentProfile(signed.ok && signed.value.content !== undefined ? signed.value.content : body);
  if (!parsed.ok) throw new Error(parsed.error.detail);
  return parsed.value;
}

function expectValid(profile: ConfigurationProfile): void {
  const mode = findMdmPayload(profile)?.EnrollmentMode;
  const problems = errorsOf(checkConfigurationProfile(profile, { os: "iOS", enrollment: mode === "BYOD" ? "user" : "device" }));
  expect(problems.map(formatProblem)).toEqual([]);
}

async function enroll(server: Started, user: string, password: string, body: Uint8Array = realEnrollBody) {
  return enrollDevice({ identifier: user, modelFamily: "iPhone", enrollBody: body }, { fetch: server.fetch, person: signInPerson({ username: user, password }) });
}

describe("createAdenroll with every example configuration", () => {
  const cases: readonly [file: string, user: string, password: string, mode: "BYOD" | "ADDE", identity: string][] = [
    ["byod-simple.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.pkcs12"],
    ["adde.yaml", "bob@corp.example", passwords.bob, "ADDE", "com.apple.security.pkcs12"],
    ["per-user-overrides.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.pkcs12"],
    ["per-user-overrides.yaml", "carol@example.com", passwords.carol, "ADDE", "com.apple.security.pkcs12"],
    ["per-user-overrides.yaml", "dave@subsidiary.example", passwords.dave, "BYOD", "com.apple.security.pkcs12"],
    ["scep.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.scep"],
    ["acme.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.acme"],
    ["pkcs12-builtin-ca.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.pkcs12"],
    ["trust-anchors-and-signing.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.pkcs12"],
    // alice's organization signs in with OAuth 2, bob's with the simple sign-in page (both have alice's password there).
    ["oauth2.yaml", "alice@example.com", passwords.alice, "BYOD", "com.apple.security.pkcs12"],
    ["oauth2.yaml", "bob@corp.example", passwords.alice, "BYOD", "com.apple.security.pkcs12"],
  ];

  it.each(cases)("%s: %s enrolls; the profile passes Apple's schemas", async (file, user, password, mode, identityType) => {
    const config = await example(file);
    const server = await start(config);
    const done = await enroll(server, user, password);
    expect(done.context.cancelReason).toBeNull();
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(server.delivered).toHaveLength(1);
    const profile = profileOf(server.delivered[0] ?? new Uint8Array());
    expectValid(profile);
    const mdm = findMdmPayload(profile);
    const configured = config.users.find((u) => u.userIdentifier === user);
    expect(mdm).toMatchObject({ EnrollmentMode: mode, AssignedManagedAppleID: configured?.managedAppleId, Topic: config.profile.topic });
    // PROFILE-4: never AccessRights for BYOD, even when the configuration sets them.
    if (mode === "BYOD") expect(mdm).not.toHaveProperty("AccessRights");
    else if (config.profile.accessRights !== undefined) expect(mdm?.AccessRights).toBe(config.profile.accessRights);
    const identity = profile.PayloadContent.find((p) => p.PayloadUUID === mdm?.IdentityCertificateUUID);
    expect(identity?.PayloadType).toBe(identityType);
    expect(profile.PayloadContent.filter((p) => p.PayloadUUID === mdm?.IdentityCertificateUUID)).toHaveLength(1);
    expect(profile.PayloadOrganization).toBe(config.organizations.find((o) => Object.keys(o.domains).some((d) => user.endsWith(`@${d}`)))?.name);
  });

  it("PKCS#12 identity: opens with the payload's password, holds a key and a certificate for this identity from the built-in CA", async () => {
    const server = await start(await example("pkcs12-builtin-ca.yaml"));
    await enroll(server, "alice@example.com", passwords.alice);
    const profile = profileOf(server.delivered[0] ?? new Uint8Array());
    const mdm = findMdmPayload(profile);
    const identity = profile.PayloadContent.find((p) => p.PayloadUUID === mdm?.IdentityCertificateUUID) as Record<string, unknown> | undefined;
    expect(identity).toMatchObject({ PayloadType: "com.apple.security.pkcs12", PayloadCertificateFileName: "device-identity.p12" });
    const p12 = readPkcs12(identity?.["PayloadContent"] as Uint8Array, identity?.["Password"] as string);
    expect(p12.privateKey).toBeDefined();
    const [leaf, ca] = p12.certificates;
    expect(leaf?.subject.getField("CN")?.value).toBe(mdm?.IdentityCertificateUUID);
    expect(leaf?.issuer.getField("CN")?.value).toBe("adenroll Device Identity CA");
    expect(ca?.verify(leaf!)).toBe(true);
    expect(() => readPkcs12(identity?.["PayloadContent"] as Uint8Array, "wrong password")).toThrow();
  });

  it("trust anchors ride along and the signed profile verifies against the signer's root", async () => {
    const server = await start(await example("trust-anchors-and-signing.yaml"));
    await enroll(server, "alice@example.com", passwords.alice);
    const body = server.delivered[0] ?? new Uint8Array();
    expect(body[0]).toBe(0x30); // DER: a CMS SignedData, not XML
    const root = loadPemCertificates(readFileSync(path.join(examples, "certs/example-root-ca.pem"), "utf8"))[0] ?? new Uint8Array();
    const verified = await verifyDeviceSignature(body, { anchors: [{ label: "example", certificate: root }] });
    expect(verified.ok).toBe(true);
    const profile = profileOf(body);
    const anchor = profile.PayloadContent.find((p) => p.PayloadType === "com.apple.security.root") as Record<string, unknown> | undefined;
    expect(anchor).toMatchObject({ PayloadDisplayName: "Example Corp Root CA", PayloadIdentifier: "com.example.mdm.anchor.1" });
    expect(anchor?.["PayloadContent"]).toEqual(root);
  });
});

describe("discovery routing", () => {
  async function discover(server: Started, user: string) {
    const answer = await client.wellKnown(server.fetch, { origin: "https://mdm.example.com", query: { "user-identifier": user, "model-family": "iPhone" } });
    return { status: answer.status, body: JSON.parse(new TextDecoder().decode(answer.body)) as unknown };
  }

  it("DISCOVERY-10 per domain and per user (the user's override wins); DISCOVERY-11 unknown domain or user → 403 com.apple.well-known.failed", async () => {
    const server = await start(await example("per-user-overrides.yaml"));
    const servers = (version: string) => ({ status: 200, body: { Servers: [{ Version: version, BaseURL: `https://mdm.example.com/enroll/${version}` }] } });
    expect(await discover(server, "alice@example.com")).toEqual(servers("mdm-byod"));
    expect(await discover(server, "ALICE@Example.COM")).toEqual(servers("mdm-byod"));
    expect(await discover(server, "carol@example.com")).toEqual(servers("mdm-adde"));
    expect(await discover(server, "dave@subsidiary.example")).toEqual(servers("mdm-byod"));
    const message = "This account can't enroll a device with Example Corp. Ask the IT help desk.";
    expect(await discover(server, "nobody@example.com")).toEqual({ status: 403, body: { code: "com.apple.well-known.failed", message, description: "unknown user" } });
    expect(await discover(server, "alice@elsewhere.example")).toEqual({ status: 403, body: { code: "com.apple.well-known.failed", message, description: "unknown domain" } });
    expect(server.log).toContain("info: refused wellKnown: discovery.unknown (unknown domain)");
  });

  it("DISCOVERY-12 a static redirect from the organization's web server to our well-known URL (carrying the query itself) is followed by the device", async () => {
    const adenrollServer = await listenOnLoopback();
    const orgServer = await listenOnLoopback();
    try {
      const config = await parseConfig(
        {
          publicBaseUrl: adenrollServer.origin,
          organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" } }],
          users: [{ userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: passwords.alice }],
          profile: {
            identifierPrefix: "com.example.mdm",
            topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001",
            serverUrl: "https://mdm.example.com/mdm/server",
            checkInUrl: "https://mdm.example.com/mdm/checkin",
            identity: { kind: "pkcs12" },
          },
        },
        { baseDir: examples, scryptCost: 1_000 },
      );
      const server = await start(config);
      const seen: string[] = [];
      adenrollServer.setHandler((request) => {
        seen.push(`adenroll ${request.method} ${new URL(request.url).pathname}${new URL(request.url).search}`);
        return server.fetch(request);
      });
      // The organization's web server: one static rule, like nginx's `return 302 https://mdm…$request_uri`.
      orgServer.setHandler((request) => {
        const url = new URL(request.url);
        seen.push(`org ${request.method} ${url.pathname}${url.search}`);
        return new Response(null, { status: 302, headers: { location: `${adenrollServer.origin}${url.pathname}${url.search}` } });
      });
      const out: string[] = [];
      const code = await runDevice(
        { user: "alice@example.com", password: passwords.alice, modelFamily: "iPhone", discoveryUrl: orgServer.origin, enrollBody: realEnrollBody, bodyNote: "the real iOS 15 body" },
        { out: (line) => out.push(line), err: (line) => out.push(line) },
      );
      expect(code, out.join("\n")).toBe(0);
      const query = "?user-identifier=alice%40example.com&model-family=iPhone";
      expect(seen.slice(0, 2)).toEqual([`org GET /.well-known/com.apple.remotemanagement${query}`, `adenroll GET /.well-known/com.apple.remotemanagement${query}`]);
      expect(seen.slice(2).every((line) => line.startsWith("adenroll "))).toBe(true);
      expect(out.join("\n")).toMatch(/✓ enrolled: BYOD profile for alice@appleid\.example\.com/);
    } finally {
      await adenrollServer.close();
      await orgServer.close();
    }
  });
});

describe("enrolling again without a token", () => {
  it("ENROLL-5 is challenged again from the enrollment cache: no read of the store, nothing written, the same challenge; so is the sign-in page shown", async () => {
    const server = await start(await example("byod-simple.yaml"));
    const cache = server.storage.enrollmentCache;
    if (cache === undefined) throw new Error("the embedded default has the enrollment cache");
    const url = "https://mdm.example.com/enroll/mdm-byod";
    const first = await client.enroll(server.fetch, { url, body: realEnrollBody });
    expect(first.status).toBe(401);
    const [stored] = await server.storage.enrollments.listEnrollments();
    await client.enroll(server.fetch, { url, body: realEnrollBody }); // now cached
    const before = cache.stats();
    const again = await Promise.all(Array.from({ length: 5 }, () => client.enroll(server.fetch, { url, body: realEnrollBody })));
    const after = cache.stats();
    expect(again.map((a) => [a.status, a.headers["www-authenticate"]])).toEqual(Array.from({ length: 5 }, () => [401, first.headers["www-authenticate"]]));
    expect(after.hits - before.hits).toBe(5);
    expect(after.reads - before.reads).toBe(0);
    expect(after.writes - before.writes).toBe(0);
    // The sign-in page the challenge names is shown from the same cached record.
    const challenge = parseChallenge(first.headers["www-authenticate"]);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("apple-as-web expected");
    const signInUrl = challenge.value.url;
    const pages = await Promise.all([1, 2].map(() => client.webAuthPage(server.fetch, { url: signInUrl })));
    expect(pages.map((p) => p.status)).toEqual([200, 200]);
    expect(cache.stats().hits - after.hits).toBe(2);
    expect(cache.stats().reads - after.reads).toBe(0);
    expect(await server.storage.enrollments.listEnrollments()).toEqual([stored]);
  });
});

describe("a re-issued profile", () => {
  it("keeps Topic, ServerURL, CheckInURL, AssignedManagedAppleID, EnrollmentMode, RequiredAppIDForMDM, PayloadIdentifier and the payload UUIDs", async () => {
    const base = await example("trust-anchors-and-signing.yaml");
    const config: AdenrollConfig = { ...base, profile: { ...base.profile, requiredAppIdForMdm: 1234567890, checkOutWhenRemoved: true } };
    const server = await start(config);
    const url = "https://mdm.example.com/enroll/mdm-byod";
    const first = await client.enroll(server.fetch, { url, body: realEnrollBody });
    const challenge = parseChallenge(first.headers["www-authenticate"]);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("apple-as-web expected");
    const signInUrl = challenge.value.url;
    const signIn = async (): Promise<string> => {
      const page = await client.webAuthPage(server.fetch, { url: signInUrl });
      const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
      const answer = await client.webAuthSubmit(server.fetch, { url: signInUrl, form: { username: "alice@example.com", password: passwords.alice, csrf } });
      const callback = parseAuthenticationCallback(answer.headers["location"] ?? "");
      if (!callback.ok) throw new Error(`no token: ${answer.status}`);
      return callback.value.accessToken;
    };
    expect((await client.enroll(server.fetch, { url, body: realEnrollBody, accessToken: await signIn() })).status).toBe(200);
    // The person signs in again (a new token), and the device asks for its profile again.
    expect((await client.enroll(server.fetch, { url, body: realEnrollBody, accessToken: await signIn() })).status).toBe(200);
    expect(server.delivered).toHaveLength(2);
    const [one, two] = server.delivered.map(profileOf) as [ConfigurationProfile, ConfigurationProfile];
    expectValid(one);
    expectValid(two);
    const stable = (p: ConfigurationProfile) => {
      const mdm = findMdmPayload(p);
      return {
        keys: [mdm?.Topic, mdm?.ServerURL, mdm?.CheckInURL, mdm?.AssignedManagedAppleID, mdm?.EnrollmentMode, mdm?.RequiredAppIDForMDM, mdm?.PayloadIdentifier],
        profile: [p.PayloadIdentifier, p.PayloadUUID],
        payloads: p.PayloadContent.map((x) => [x.PayloadType, x.PayloadIdentifier, x.PayloadUUID]),
      };
    };
    expect(findMdmPayload(one)?.RequiredAppIDForMDM).toBe(1234567890);
    expect(stable(two)).toEqual(stable(one));
    // Another device's enrollment gets payload UUIDs of its own.
    const testCa = await createTestDeviceCa({ random: seededRandom(53) });
    const other = await start({ ...config, deviceTrust: { allowTestDeviceCa: true, testDeviceCa: testCa.certificate } });
    const otherBody = await signEnrollBody(new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" })), await issueDeviceIdentity(testCa));
    await enroll(other, "alice@example.com", passwords.alice, otherBody);
    const three = profileOf(other.delivered[0] ?? new Uint8Array());
    expect(three.PayloadUUID).not.toBe(one.PayloadUUID);
    expect(findMdmPayload(three)?.IdentityCertificateUUID).not.toBe(findMdmPayload(one)?.IdentityCertificateUUID);
  });
});

describe("storage-backed users, throttling and audit", () => {
  it("seeds users from the configuration (hashed), and removes the ones it no longer names", async () => {
    const config = await example("per-user-overrides.yaml");
    const storage = await emptyStorage();
    await start(config, { storage });
    const users = await storage.users.list();
    expect(users.map((u) => [u.userIdentifier, u.enrollmentType ?? null, u.password?.algorithm])).toEqual([
      ["alice@example.com", null, "scrypt"],
      ["carol@example.com", "mdm-adde", "scrypt"],
      ["dave@subsidiary.example", null, "scrypt"],
    ]);
    expect(JSON.stringify(users)).not.toContain(passwords.dave);
    const again = await start({ ...config, users: config.users.slice(0, 1) }, { storage });
    expect((await storage.users.list()).map((u) => u.userIdentifier)).toEqual(["alice@example.com"]);
    expect(again.log).toContain("info: removed 2 user(s) the configuration no longer names: carol@example.com, dave@subsidiary.example");
  });

  it("audits sign-in failures, the lockout, success and the delivery — never a password or token; failure counts are shared through storage", async () => {
    const config = await example("byod-simple.yaml");
    const throttle = { maxFailures: 2, windowMs: 15 * 60_000 };
    const server = await start(config, { throttle });
    const url = "https://mdm.example.com/enroll/mdm-byod";
    const first = await client.enroll(server.fetch, { url, body: realEnrollBody });
    const challenge = parseChallenge(first.headers["www-authenticate"]);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("apple-as-web expected");
    const signInUrl = challenge.value.url;
    const attempt = async (fetch: Started["fetch"], password: string, username = "alice@example.com") => {
      const page = await client.webAuthPage(fetch, { url: signInUrl });
      const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
      return client.webAuthSubmit(fetch, { url: signInUrl, form: { username, password, csrf } });
    };
    expect((await attempt(server.fetch, "wrong password 1")).status).toBe(401);
    expect((await attempt(server.fetch, "wrong password 2")).status).toBe(401);
    expect((await attempt(server.fetch, passwords.alice)).status).toBe(429);
    // Another instance over the same database sees the same counts.
    const other = await start(config, { storage: server.storage, throttle });
    expect((await attempt(other.fetch, passwords.alice)).status).toBe(429);
    // A password typed into the user field is not what the audit keeps.
    expect((await attempt(other.fetch, "x", "my secret passphrase")).status).toBe(429);
    const refusals = await server.storage.audit.list();
    const actions = refusals.map((e) => [e.actor, e.action]).reverse();
    expect(actions).toEqual([
      ["alice@example.com", "sign-in.failed"],
      ["alice@example.com", "sign-in.failed"],
      ["alice@example.com", "sign-in.locked-out"],
      ["alice@example.com", "sign-in.locked-out"],
      ["(not a user identifier)", "sign-in.locked-out"],
    ]);

    // A fresh start: success and delivery are audited too.
    const fresh = await start(config);
    const done = await enroll(fresh, "alice@example.com", passwords.alice);
    expect(done.value).toEqual({ enrolled: "idle" });
    const entries = await fresh.storage.audit.list();
    expect(entries.map((e) => e.action).reverse()).toEqual(["sign-in.succeeded", "profile.delivered"]);
    expect(entries[0]).toMatchObject({ actor: "alice@example.com", detail: { version: "mdm-byod", enrollmentMode: "BYOD", managedAppleId: "alice@appleid.example.com", product: "iPhone12,1" } });
    const text = JSON.stringify([...entries, ...refusals]);
    expect(text).not.toContain(passwords.alice);
    expect(text).not.toContain("wrong password");
    expect(text).not.toContain("my secret passphrase");
    expect(text).not.toContain(done.context.accessToken ?? "no token");
  });
});

describe("housekeeping", () => {
  it("drops expired OAuth 2 codes and families, sign-in failures older than a day and spent nonces, by the injected clock; keeps the rest", async () => {
    const storage = await emptyStorage();
    const t0 = Date.UTC(2026, 10, 22, 12);
    let clock = t0;
    const adenroll = await createAdenroll(await example("byod-simple.yaml"), { storage, identityCa, scryptCost: 1_000, clock: () => clock });
    await storage.oauth.putCode(oauthCode("hk-expired", { expiresAt: t0 + 60_000 }));
    await storage.oauth.putCode(oauthCode("hk-live", { expiresAt: t0 + 10 * 60_000 }));
    await storage.oauth.createFamily(refreshFamily("hk-family-expired", { expiresAt: t0 + 60_000 }), "hk-refresh-expired");
    await storage.oauth.createFamily(refreshFamily("hk-family-live"), "hk-refresh-live");
    await storage.sessions.recordFailure("hk-key", t0 - housekeepingKeepMs);
    await storage.sessions.recordFailure("hk-key", t0);
    // Nonces that expired are kept a day (like failures), then dropped.
    await storage.sessions.issue("hk-nonce-old", t0 - housekeepingKeepMs);
    await storage.sessions.issue("hk-nonce-recent", t0 - 1);
    await storage.sessions.issue("hk-nonce-live", t0 + 10 * 60_000);
    const nonces = async () => (await sql<{ nonce: string }>`select nonce from adenroll_csrf_nonces order by nonce`.execute(storage.db)).rows.map((r) => r.nonce);

    clock = t0 + 5 * 60_000;
    await adenroll.housekeeping();
    expect(await storage.oauth.redeemCode("hk-expired", clock)).toBeNull();
    expect(await storage.oauth.redeemCode("hk-live", clock)).toMatchObject({ status: "redeemed" });
    expect(await storage.oauth.findRefreshToken("hk-refresh-expired")).toBeNull();
    expect(await storage.oauth.findRefreshToken("hk-refresh-live")).not.toBeNull();
    expect(await storage.sessions.countFailures("hk-key", 0)).toBe(1);
    expect(await nonces()).toEqual(["hk-nonce-live", "hk-nonce-recent"]);
    // Idempotent: a second run (another instance's, say) finds nothing more to drop.
    await adenroll.housekeeping();
    expect(await storage.oauth.findRefreshToken("hk-refresh-live")).not.toBeNull();
  });
});

describe("device trust", () => {
  it("trusts the test device CA only when allowed, and says so loudly; a refused body is logged", async () => {
    const testCa = await createTestDeviceCa({ random: seededRandom(54) });
    const body = await signEnrollBody(new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPad16,3", VERSION: "22C152" })), await issueDeviceIdentity(testCa));
    const config = await example("byod-simple.yaml");
    const url = "https://mdm.example.com/enroll/mdm-byod";

    const closed = await start(config, { testDeviceCa: testCa.certificate });
    expect((await client.enroll(closed.fetch, { url, body })).status).toBe(400);
    expect(closed.log.some((line) => line.startsWith("info: refused enroll: signature.untrusted-signer"))).toBe(true);
    expect(closed.log.some((l) => l.startsWith("warn:"))).toBe(false);

    const open = await start({ ...config, deviceTrust: { allowTestDeviceCa: true } }, { testDeviceCa: testCa.certificate });
    expect(open.log.some((l) => /^warn: !!! deviceTrust\.allowTestDeviceCa is ON/.test(l))).toBe(true);
    expect((await client.enroll(open.fetch, { url, body })).status).toBe(401);
    // The real device body still verifies against Apple Root CA.
    expect((await client.enroll(open.fetch, { url, body: realEnrollBody })).status).toBe(401);
  });

  it("refuses to start with allowTestDeviceCa and no test CA", async () => {
    const config = await example("byod-simple.yaml");
    await expect(start({ ...config, deviceTrust: { allowTestDeviceCa: true } })).rejects.toThrow(/no test device CA was given/);
  });
});
