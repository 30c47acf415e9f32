// OAuth 2 end to end, in process: an organization signing in with OAuth 2 answers the first enroll
// with an apple-oauth2 challenge; the simulated device (the device machine over the generated client)
// runs the authorization request through the sign-in page, exchanges the code, enrolls with the
// access token, checks in; when the access token expires it refreshes silently; when its refresh
// token is revoked it signs in again; a code or refresh token used twice takes back what it gave.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdenroll } from "../../runtime/app.ts";
import { parseConfig } from "../../runtime/config.ts";
import { createIdentityCa, type IdentityCa } from "../../runtime/identity-ca.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import type { Fetch } from "../../generated/client.generated.ts";
import { startDevice, type DeviceSession } from "../../runtime/device.ts";
import { signInPerson } from "../../runtime/person.ts";
import { MemoryOAuthStore } from "../../runtime/storage/memory-oauth-store.ts";
import { appleRedirectUri, buildPlist, parseChallenge, ServerOAuth2Challenge } from "../../spec/index.ts";
import { alice, realEnrollBody, seededRandom, testServer, type TestServer } from "../support/fixtures.ts";

const origin = "https://mdm.example.com";

interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly location: string | null;
  readonly form: string | null;
}

/** The server with OAuth 2 for everyone, and every exchange kept. */
async function oauthServer(options: { readonly accessTokenLifetimeSeconds?: number } = {}): Promise<TestServer & { readonly wire: Fetch; readonly exchanges: Exchange[]; readonly oauth: MemoryOAuthStore }> {
  const oauth = new MemoryOAuthStore();
  const server = await testServer({
    authentication: "oauth2",
    oauth2: { clients: [{ id: "adenroll", redirectUris: [appleRedirectUri], pkce: "optional" }], store: oauth, accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3600 },
  });
  const exchanges: Exchange[] = [];
  return {
    ...server,
    oauth,
    exchanges,
    async wire(request) {
      const form = request.method === "POST" && request.headers.get("content-type") === "application/x-www-form-urlencoded" ? await request.clone().text() : null;
      const response = await server.fetch(request);
      exchanges.push({ method: request.method, path: new URL(request.url).pathname, status: response.status, location: response.headers.get("location"), form });
      return response;
    },
  };
}

const authenticate = (topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001") =>
  new TextEncoder().encode(buildPlist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: "E-OAUTH-1", OSVersion: "17.4", BuildVersion: "21E219", ProductName: "iPhone15,2" }));

async function enrolled(server: Awaited<ReturnType<typeof oauthServer>>): Promise<DeviceSession> {
  const session = await startDevice(
    { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
    // The person signs in whenever asked (a re-authentication shows the page again).
    { fetch: server.wire, person: signInPerson({ username: alice.userIdentifier, password: alice.password }, { attempts: 5 }) },
  );
  expect(session.snapshot().value).toEqual({ enrolled: "idle" });
  return session;
}

describe("OAuth 2 end to end with the device simulator", () => {
  it("CHALLENGE-6 OAUTH-6 OAUTH-7 the device signs in through the authorization endpoint, exchanges the code and enrolls with the access token", async () => {
    const server = await oauthServer();
    const session = await enrolled(server);
    const first = server.exchanges.find((e) => e.method === "POST" && e.path === "/enroll/mdm-byod");
    expect(first?.status).toBe(401);
    // The 401's challenge is the strict server form (https endpoints, callback redirect, scope).
    const answer = await server.fetch(new Request(`${origin}/enroll/mdm-byod`, { method: "POST", body: realEnrollBody }));
    const challenge = parseChallenge(answer.headers.get("www-authenticate") ?? "");
    expect(challenge.ok && ServerOAuth2Challenge.safeParse(challenge.value).success).toBe(true);
    // Authorization → 308 to the redirect URI with code and state → token → second enroll 200.
    const authorized = server.exchanges.find((e) => e.method === "POST" && e.path === "/oauth2/authorize");
    expect(authorized?.status).toBe(308);
    const callback = new URL(authorized?.location ?? "");
    expect(`${callback.protocol}${callback.pathname}`).toBe(appleRedirectUri);
    expect(callback.searchParams.get("code")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(callback.searchParams.get("state")).toMatch(/^[0-9A-F-]{36}$/);
    expect(callback.searchParams.get("iss")).toBe(origin);
    const token = server.exchanges.find((e) => e.path === "/oauth2/token");
    expect(token?.status).toBe(200);
    expect(new URLSearchParams(token?.form ?? "").get("grant_type")).toBe("authorization_code");
    const enrolls = server.exchanges.filter((e) => e.method === "POST" && e.path === "/enroll/mdm-byod");
    expect(enrolls.map((e) => e.status)).toEqual([401, 200]);
    // The access token authorizes check-ins.
    const outcome = await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() });
    expect(outcome.answer?.status).toBe(200);
    session.stop();
  });

  it("OAUTH-14 ONGOING-6 an expired access token is refreshed silently: no sign-in page, the refreshed token works and the old one does not", async () => {
    const server = await oauthServer({ accessTokenLifetimeSeconds: 60 });
    const session = await enrolled(server);
    expect((await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() })).answer?.status).toBe(200);
    const pagesBefore = server.exchanges.filter((e) => e.path === "/oauth2/authorize").length;
    server.clock.now += 61_000;
    const outcome = await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() });
    expect(outcome.answer?.status).toBe(200);
    const refreshes = server.exchanges.filter((e) => e.path === "/oauth2/token" && new URLSearchParams(e.form ?? "").get("grant_type") === "refresh_token");
    expect(refreshes.map((e) => e.status)).toEqual([200]);
    expect(server.exchanges.filter((e) => e.path === "/oauth2/authorize").length).toBe(pagesBefore);
    // The check-ins: 401 with the expired token, then 200 with the refreshed one.
    expect(server.exchanges.filter((e) => e.path === "/mdm/checkin").map((e) => e.status)).toEqual([200, 401, 200]);
    session.stop();
  });

  it("OAUTH-15 OAUTH-14 after its refresh token is revoked (RFC 7009) the device's check-in gets 401, the refresh fails and the person signs in again", async () => {
    const server = await oauthServer();
    const session = await enrolled(server);
    const refreshToken = session.snapshot().context.refreshToken;
    expect(refreshToken).not.toBeNull();
    const revoked = await server.fetch(
      new Request(`${origin}/oauth2/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `token=${refreshToken ?? ""}&client_id=adenroll` }),
    );
    expect(revoked.status).toBe(200);
    const pagesBefore = server.exchanges.filter((e) => e.method === "POST" && e.path === "/oauth2/authorize").length;
    const outcome = await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() });
    expect(outcome.answer?.status).toBe(200);
    const tokenCalls = server.exchanges.filter((e) => e.path === "/oauth2/token").map((e) => `${new URLSearchParams(e.form ?? "").get("grant_type")}:${e.status}`);
    expect(tokenCalls).toEqual(["authorization_code:200", "refresh_token:400", "authorization_code:200"]);
    expect(server.exchanges.filter((e) => e.method === "POST" && e.path === "/oauth2/authorize").length).toBe(pagesBefore + 1);
    session.stop();
  });
});

describe("OAuth 2 in the product (createAdenroll over PGlite)", () => {
  let storage: OpenedStorage;
  let identityCa: IdentityCa;
  beforeAll(async () => {
    storage = await openStorage({ memory: true });
    identityCa = await createIdentityCa({ random: seededRandom(57) });
  }, 60_000);
  afterAll(async () => storage.close());

  it("OAUTH-14 an admin's token revocation takes the refresh tokens too: the device cannot refresh, the person signs in again", async () => {
    const config = await parseConfig(
      {
        publicBaseUrl: origin,
        authentication: "oauth2",
        organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" } }],
        users: [{ userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId, password: alice.password }],
        profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001", identity: { kind: "pkcs12" } },
      },
      { baseDir: ".", source: null, scryptCost: 1_000 },
    );
    const adenroll = await createAdenroll(config, { storage, identityCa, scryptCost: 1_000, log: { info: () => {}, warn: () => {}, error: () => {} } });
    const exchanges: string[] = [];
    const wire: Fetch = async (request) => {
      const form = request.method === "POST" && request.headers.get("content-type") === "application/x-www-form-urlencoded" ? await request.clone().text() : "";
      const response = await adenroll.fetch(request);
      const grant = new URLSearchParams(form).get("grant_type");
      exchanges.push(`${request.method} ${new URL(request.url).pathname}${grant === null ? "" : ` ${grant}`} ${response.status}`);
      return response;
    };
    const session = await startDevice(
      { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: wire, person: signInPerson({ username: alice.userIdentifier, password: alice.password }, { attempts: 5 }) },
    );
    expect(session.snapshot().value).toEqual({ enrolled: "idle" });
    const [enrollment] = await adenroll.admin.listEnrollments();
    expect(enrollment !== undefined && enrollment.trusted ? enrollment.state : null).toBe("profileDelivered");
    await adenroll.admin.revokeTokens("admin:test", { enrollment: enrollment?.id });
    exchanges.length = 0;
    const outcome = await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() });
    expect(outcome.answer?.status).toBe(200);
    expect(exchanges).toEqual([
      "PUT /mdm/checkin 401",
      "POST /oauth2/token refresh_token 400",
      "GET /oauth2/authorize 200",
      "POST /oauth2/authorize 308",
      "POST /oauth2/token authorization_code 200",
      "PUT /mdm/checkin 200",
    ]);
    const audit = (await storage.audit.list({ limit: 50 })).map((e) => e.action);
    expect(audit.filter((a) => a === "oauth2.code-issued")).toHaveLength(2);
    session.stop();
  }, 60_000);
});
