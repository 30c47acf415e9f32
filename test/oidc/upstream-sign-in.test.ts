// Sign-in through an external OpenID Connect provider, end to end: the simulated device's web session
// goes from our sign-in page to panva's oidc-provider (in this process, on loopback), signs in
// there, and comes back to our callback, which redeems the code with openid-client and finishes
// the sign-in — simple web authentication (the access token on the callback scheme) or OAuth 2 (an
// authorization code for the device). A provider identity that is not the identifier the device
// sent is refused, and so is a callback whose state or cookie is not this browser's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hono } from "hono";
import { createServer } from "../../generated/server.generated.ts";
import { EnrollmentRecord } from "../../machines/index.ts";
import type { Fetch } from "../../generated/client.generated.ts";
import { startDevice, webAuthenticationSession } from "../../runtime/device.ts";
import { secureRandomBytes } from "../../runtime/crypto.ts";
import { Directory } from "../../runtime/directory.ts";
import { MemoryEnrollmentStore } from "../../runtime/memory-store.ts";
import { signInPerson, upstreamPerson } from "../../runtime/person.ts";
import { createServerHost, type AuditEvent, type OrganizationRoute, type ServerOptions } from "../../runtime/server-host.ts";
import { MemoryOAuthStore } from "../../runtime/storage/memory-oauth-store.ts";
import type { IdentityProviderSettings } from "../../runtime/upstream-sign-in.ts";
import { appleRedirectUri, buildPlist, parseEnrollRequestBody, findMdmPayload } from "../../spec/index.ts";
import { alice, bob, realEnrollBody } from "../support/fixtures.ts";
import { startIdentityProvider, type TestIdentityProvider } from "./identity-provider.ts";

const origin = "https://mdm.example.com";
const callbackUrl = `${origin}/authenticate/upstream/callback`;
// carol is in the directory but signs in only through the provider.
const carol = { userIdentifier: "carol@example.com", password: "carol's unused password here", managedAppleId: "carol@appleid.example.com" };

let idp: TestIdentityProvider;
beforeAll(async () => {
  idp = await startIdentityProvider({
    redirectUris: [callbackUrl],
    accounts: {
      "alice@example.com": { email: "alice@example.com", email_verified: true },
      "carol@example.com": { email: " Carol@Example.com", email_verified: true },
      "bob@corp.example": { email: "bob@corp.example", email_verified: true },
      "alice-unverified": { email: "alice@example.com", email_verified: false },
    },
  });
});
afterAll(() => idp.close());

const settings = (overrides: Partial<IdentityProviderSettings> = {}): IdentityProviderSettings => ({
  issuer: idp.issuer,
  clientId: idp.clientId,
  clientSecret: idp.clientSecret,
  name: "Example Login",
  ...overrides,
});

interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly location: string | null;
  readonly setCookie: readonly string[];
}

interface UpstreamServer {
  /** The device's network: our server (and the domains' discovery) in process, the provider on loopback. */
  readonly fetch: Fetch;
  readonly exchanges: Exchange[];
  readonly store: MemoryEnrollmentStore;
  readonly audit: AuditEvent[];
}

/**
 * Our server built with createServerHost (the upstream routes mounted as createAdenroll mounts
 * them): example.com signs in through the provider, corp.example with passwords.
 */
async function upstreamServer(options: { readonly organizations?: readonly OrganizationRoute[]; readonly extra?: Partial<ServerOptions> } = {}): Promise<UpstreamServer> {
  const directory = await Directory.create([alice, bob, carol], secureRandomBytes, 1_000);
  const store = new MemoryEnrollmentStore();
  const audit: AuditEvent[] = [];
  const host = createServerHost({
    publicBaseUrl: origin,
    organizationName: "Example Corp",
    organizations: options.organizations ?? [
      { name: "Example Corp", domains: { "example.com": "mdm-byod" }, identityProvider: settings() },
      { name: "Corp", domains: { "corp.example": "mdm-adde" } },
    ],
    directory,
    profile: {
      identifierPrefix: "com.example.mdm",
      topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001",
      identity: { kind: "scep", url: "https://mdm.example.com/scep", challenge: "scep-challenge" },
    },
    store,
    audit: (event) => {
      audit.push(event);
    },
    ...options.extra,
  });
  const app: Hono = createServer(host);
  const upstream = host.upstreamSignIn;
  if (upstream !== undefined) app.get("/authenticate/upstream/*", (c) => upstream.fetch(c.req.raw));
  const exchanges: Exchange[] = [];
  return {
    store,
    audit,
    exchanges,
    async fetch(request) {
      const url = new URL(request.url);
      // Discovery (https://example.com/.well-known/…) and our pages are the app; loopback is the provider.
      const response = url.hostname === "127.0.0.1" || url.hostname === "localhost" ? await fetch(request) : await app.request(request);
      exchanges.push({ method: request.method, url: request.url, status: response.status, location: response.headers.get("location"), setCookie: response.headers.getSetCookie() });
      return response;
    },
  };
}

const authenticate = () =>
  new TextEncoder().encode(
    buildPlist({ MessageType: "Authenticate", Topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001", EnrollmentID: "E-OIDC-1", OSVersion: "17.4", BuildVersion: "21E219", ProductName: "iPhone15,2" }),
  );

async function storedEnrollment(store: MemoryEnrollmentStore): Promise<{ state: string; context: Record<string, unknown> } | null> {
  const parsed = parseEnrollRequestBody(realEnrollBody);
  if (!parsed.ok) throw new Error("fixture must parse");
  const found = await store.transact([{ by: "device-key", deviceKey: parsed.value.deviceKey }], async (record) => ({ save: null, result: record ?? null }));
  const record = EnrollmentRecord.safeParse(found);
  return record.success ? { state: record.data.state, context: { ...record.data.context } } : null;
}

/** A device that enrolls `identifier`, its person signing in at the provider as `login`. */
async function enrollThroughProvider(server: UpstreamServer, identifier: string, login: string) {
  const person = upstreamPerson({ username: login, password: "any password: the development login takes any" });
  const session = await startDevice({ identifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: server.fetch, person });
  return { session, person };
}

describe("sign-in through an OpenID Connect provider (oidc-provider on loopback)", () => {
  it("simple web authentication: the page offers only the provider, the person signs in there, the profile is delivered and the token works", async () => {
    const server = await upstreamServer();
    const { session, person } = await enrollThroughProvider(server, alice.userIdentifier, "alice@example.com");
    expect(session.snapshot().value).toEqual({ enrolled: "idle" });
    const mdm = findMdmPayload(session.snapshot().context.profile);
    expect(mdm?.AssignedManagedAppleID).toBe(alice.managedAppleId);
    // Our page: the provider's button, no password field.
    const ours = person.pagesSeen[0];
    expect(ours?.url).toMatch(/^https:\/\/mdm\.example\.com\/authenticate\//);
    expect(ours?.html).toContain("Continue with Example Login");
    expect(ours?.html).not.toContain('type="password"');
    // Then the provider's login page, prefilled from login_hint with the identifier the device sent.
    expect(person.pagesSeen[1]?.url.startsWith(idp.issuer)).toBe(true);
    expect(person.pagesSeen[1]?.html).toContain('value="alice@example.com"');
    // The start sent the person to the provider with PKCE S256, state, nonce and login_hint.
    const start = server.exchanges.find((e) => e.url.startsWith(`${origin}/authenticate/upstream/start`));
    expect(start?.status).toBe(303);
    const authorization = new URL(start?.location ?? "");
    expect(authorization.origin).toBe(idp.issuer);
    expect(Object.fromEntries(authorization.searchParams)).toMatchObject({
      response_type: "code",
      client_id: idp.clientId,
      redirect_uri: callbackUrl,
      code_challenge_method: "S256",
      login_hint: alice.userIdentifier,
      scope: "openid email",
    });
    for (const name of ["state", "nonce", "code_challenge"]) expect(authorization.searchParams.get(name)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The pending sign-in cookie: sealed, HttpOnly, Secure, SameSite=Lax, short-lived; cleared at the callback.
    expect(start?.setCookie[0]).toMatch(/^__Host-adenroll-upstream=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=600$/);
    expect(start?.setCookie[0]).not.toContain("alice");
    const callback = server.exchanges.find((e) => e.url.startsWith(callbackUrl));
    expect(callback?.status).toBe(308);
    expect(callback?.location).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=[A-Za-z0-9_-]{43}$/);
    expect(callback?.setCookie).toContain("__Host-adenroll-upstream=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0");
    // The access token authorizes check-ins.
    const outcome = await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() });
    expect(outcome.answer?.status).toBe(200);
    session.stop();
    // Audited with the provider that verified the person.
    expect(server.audit.find((e) => e.action === "sign-in.succeeded")).toMatchObject({ actor: alice.userIdentifier, detail: { verifiedBy: idp.issuer, managedAppleId: alice.managedAppleId } });
  });

  it("the provider's claim is compared trimmed and in lower case", async () => {
    const server = await upstreamServer();
    const { session } = await enrollThroughProvider(server, carol.userIdentifier, "carol@example.com");
    expect(session.snapshot().value).toEqual({ enrolled: "idle" });
    expect(findMdmPayload(session.snapshot().context.profile)?.AssignedManagedAppleID).toBe(carol.managedAppleId);
    session.stop();
  });

  it("an identity that does not match the identifier the device sent is refused: error page, no token, the enrollment still waits", async () => {
    const server = await upstreamServer({
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod", "corp.example": "mdm-byod" }, identityProvider: settings() }],
    });
    // bob is a user here too, but the device is enrolling alice.
    const { session } = await enrollThroughProvider(server, alice.userIdentifier, "bob@corp.example");
    expect(session.snapshot().value).not.toEqual({ enrolled: "idle" });
    expect(session.snapshot().context.accessToken).toBeNull();
    session.stop();
    const callback = server.exchanges.find((e) => e.url.startsWith(callbackUrl));
    expect(callback?.status).toBe(403);
    expect(callback?.location).toBeNull();
    const stored = await storedEnrollment(server.store);
    expect(stored?.state).toBe("challenged");
    expect(stored?.context).toMatchObject({ userIdentifier: null, tokenHash: null, pendingToken: null });
    expect(server.audit.find((e) => e.action === "sign-in.failed")).toMatchObject({ actor: alice.userIdentifier, detail: { signedInAs: "bob@corp.example", verifiedBy: idp.issuer } });
    expect(server.audit.some((e) => e.action === "sign-in.succeeded")).toBe(false);
  });

  it("an e-mail address the provider has not verified is refused", async () => {
    const server = await upstreamServer();
    const { session } = await enrollThroughProvider(server, alice.userIdentifier, "alice-unverified");
    expect(session.snapshot().context.accessToken).toBeNull();
    session.stop();
    expect(server.exchanges.find((e) => e.url.startsWith(callbackUrl))?.status).toBe(400);
  });

  it("a callback with a tampered state, a tampered cookie, or in another browser (no cookie) is refused; the right one still succeeds after", async () => {
    const server = await upstreamServer();
    // Drive the web session by hand up to the provider's redirect back to us.
    const held: { callback: string | null; cookie: string | null } = { callback: null, cookie: null };
    const wire: Fetch = async (request) => {
      const response = await server.fetch(request);
      const location = response.headers.get("location");
      if (location?.startsWith(callbackUrl) === true) {
        held.callback = location;
        // Stop here: the session sees no redirect it can follow.
        return new Response("held", { status: 418 });
      }
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith("__Host-adenroll-upstream="));
      if (cookie !== undefined) held.cookie = cookie.split(";")[0] ?? null;
      return response;
    };
    const first = await server.fetch(new Request(`${origin}/enroll/mdm-byod`, { method: "POST", body: realEnrollBody }));
    const pageUrl = /url="([^"]+)"/.exec(first.headers.get("www-authenticate") ?? "")?.[1];
    expect(pageUrl).toBeDefined();
    const outcome = await webAuthenticationSession(wire, upstreamPerson({ username: "alice@example.com", password: "x" }), `${pageUrl ?? ""}?user-identifier=alice%40example.com`);
    expect(outcome).toEqual({ kind: "http-error", status: 418 });
    const callback = new URL(held.callback ?? "");
    const cookie = held.cookie ?? "";
    expect(cookie).toMatch(/^__Host-adenroll-upstream=/);
    const get = (url: URL | string, cookieHeader: string | null) => server.fetch(new Request(url, { headers: cookieHeader === null ? {} : { cookie: cookieHeader } }));

    // Another browser: the provider's answer without the pending sign-in's cookie.
    expect((await get(callback, null)).status).toBe(400);
    // A tampered state.
    const tamperedState = new URL(callback);
    const state = callback.searchParams.get("state") ?? "";
    tamperedState.searchParams.set("state", `${state.slice(0, -1)}${state.endsWith("A") ? "B" : "A"}`);
    expect((await get(tamperedState, cookie)).status).toBe(400);
    // No state.
    const noState = new URL(callback);
    noState.searchParams.delete("state");
    expect((await get(noState, cookie)).status).toBe(400);
    // A tampered cookie (one character of the sealed value changed).
    const value = cookie.slice(cookie.indexOf("=") + 1);
    const flipped = `${value.slice(0, 20)}${value[20] === "A" ? "B" : "A"}${value.slice(21)}`;
    expect((await get(callback, `__Host-adenroll-upstream=${flipped}`)).status).toBe(400);
    // None of them issued anything.
    expect((await storedEnrollment(server.store))?.context).toMatchObject({ tokenHash: null, pendingToken: null });
    // The real browser's answer still completes the sign-in.
    const real = await get(callback, cookie);
    expect(real.status).toBe(308);
    expect(real.headers.get("location")).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=/);
    // The code is spent: the same answer again fails at the provider, and nothing more is issued.
    const replay = await get(callback, cookie);
    expect(replay.status).toBe(400);
    expect(replay.headers.get("location")).toBeNull();
  });

  it("a configuration whose issuer is not the provider's own fails closed: nobody is sent to the provider", async () => {
    // localhost reaches the same provider, whose metadata names 127.0.0.1 as its issuer.
    const wrongIssuer = idp.issuer.replace("127.0.0.1", "localhost");
    const server = await upstreamServer({
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" }, identityProvider: settings({ issuer: wrongIssuer }) }],
    });
    const { session, person } = await enrollThroughProvider(server, alice.userIdentifier, "alice@example.com");
    expect(session.snapshot().context.accessToken).toBeNull();
    session.stop();
    const start = server.exchanges.find((e) => e.url.startsWith(`${origin}/authenticate/upstream/start`));
    expect(start?.status).toBe(502);
    expect(start?.location).toBeNull();
    expect(server.exchanges.some((e) => e.url.startsWith(idp.issuer) && e.url.includes("/auth"))).toBe(false);
    expect(person.pagesSeen.every((p) => p.url.startsWith(origin))).toBe(true);
  });

  it("password sign-in is refused for an organization that signs in through its provider, even posted by hand", async () => {
    const server = await upstreamServer();
    const person = signInPerson({ username: carol.userIdentifier, password: carol.password });
    const session = await startDevice({ identifier: carol.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: server.fetch, person });
    expect(session.snapshot().context.accessToken).toBeNull();
    session.stop();
    const posted = server.exchanges.find((e) => e.method === "POST" && /\/authenticate\/[A-Za-z0-9_-]+$/.test(e.url));
    expect(posted?.status).toBe(401);
    expect(server.audit.find((e) => e.action === "sign-in.failed")?.detail["reason"]).toMatch(/password sign-in is off/);
  });

  it("with passwordSignIn the page offers both, and the password form still works", async () => {
    const server = await upstreamServer({
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" }, identityProvider: settings({ passwordSignIn: true }) }],
    });
    const person = signInPerson({ username: alice.userIdentifier, password: alice.password });
    const session = await startDevice({ identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: server.fetch, person });
    expect(session.snapshot().value).toEqual({ enrolled: "idle" });
    expect(person.pagesSeen[0]?.html).toContain("Continue with Example Login");
    expect(person.pagesSeen[0]?.html).toContain('type="password"');
    session.stop();
  });

  it("the local password directory still signs in an organization without a provider", async () => {
    const server = await upstreamServer();
    const person = signInPerson({ username: bob.userIdentifier, password: bob.password });
    const session = await startDevice({ identifier: bob.userIdentifier, modelFamily: "iPad", enrollBody: realEnrollBody }, { fetch: server.fetch, person });
    expect(session.snapshot().value).toEqual({ enrolled: "idle" });
    expect(person.pagesSeen[0]?.html).not.toContain("Continue with");
    expect(findMdmPayload(session.snapshot().context.profile)?.EnrollmentMode).toBe("ADDE");
    session.stop();
  });

  it("the Managed Apple Account may come from a claim of the provider", async () => {
    const provider = await startIdentityProvider({
      redirectUris: [callbackUrl],
      accounts: { "alice@example.com": { email: "alice@example.com", email_verified: true, managed_apple_id: "alice.smith@appleid.example.com" } },
      scopeClaims: { apple: ["managed_apple_id"] },
    });
    try {
      const server = await upstreamServer({
        organizations: [
          {
            name: "Example Corp",
            domains: { "example.com": "mdm-byod" },
            identityProvider: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, scopes: "openid email apple", managedAppleIdClaim: "managed_apple_id" },
          },
        ],
      });
      const { session } = await enrollThroughProvider(server, alice.userIdentifier, "alice@example.com");
      expect(session.snapshot().value).toEqual({ enrolled: "idle" });
      expect(findMdmPayload(session.snapshot().context.profile)?.AssignedManagedAppleID).toBe("alice.smith@appleid.example.com");
      session.stop();
    } finally {
      await provider.close();
    }
  });

  it("OAuth 2: the authorization endpoint's page hands the sign-in to the provider, and the device gets its code, token and profile", async () => {
    const oauth = new MemoryOAuthStore();
    const server = await upstreamServer({
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" }, authentication: "oauth2", identityProvider: settings() }],
      extra: { oauth2: { clients: [{ id: "adenroll", redirectUris: [appleRedirectUri], pkce: "optional" }], store: oauth } },
    });
    const { session, person } = await enrollThroughProvider(server, alice.userIdentifier, "alice@example.com");
    expect(session.snapshot().value).toEqual({ enrolled: "idle" });
    expect(session.snapshot().context.challenge?.method).toBe("apple-oauth2");
    expect(person.pagesSeen[0]?.url).toMatch(/^https:\/\/mdm\.example\.com\/oauth2\/authorize\?/);
    expect(person.pagesSeen[0]?.html).toContain("Continue with Example Login");
    // The provider's callback ends in our authorization response: a code for the device's redirect URI.
    const callback = server.exchanges.find((e) => e.url.startsWith(callbackUrl));
    expect(callback?.status).toBe(308);
    const location = new URL(callback?.location ?? "");
    expect(`${location.protocol}${location.pathname}`).toBe(appleRedirectUri);
    expect(location.searchParams.get("code")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get("iss")).toBe(origin);
    expect(session.snapshot().context.refreshToken).not.toBeNull();
    const outcome = await session.send({ channel: "checkin", messageType: "Authenticate", body: authenticate() });
    expect(outcome.answer?.status).toBe(200);
    session.stop();
  });

  it("OAUTH-9 OAuth 2: a mismatched identity is refused there too — back to the device's redirect URI as access_denied with its state, with no code", async () => {
    const oauth = new MemoryOAuthStore();
    const server = await upstreamServer({
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod", "corp.example": "mdm-byod" }, authentication: "oauth2", identityProvider: settings() }],
      extra: { oauth2: { clients: [{ id: "adenroll", redirectUris: [appleRedirectUri], pkce: "optional" }], store: oauth } },
    });
    const { session } = await enrollThroughProvider(server, alice.userIdentifier, "bob@corp.example");
    expect(session.snapshot().context.accessToken).toBeNull();
    session.stop();
    const callback = server.exchanges.find((e) => e.url.startsWith(callbackUrl));
    expect(callback?.status).toBe(308);
    const location = new URL(callback?.location ?? "x:");
    expect(`${location.protocol}${location.pathname}`).toBe(appleRedirectUri);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toMatch(/^[0-9A-F-]{36}$/);
    expect(location.searchParams.has("code")).toBe(false);
    // The device read the callback as the person's refusal (OAUTH-3) and gave up.
    expect(session.snapshot().context.cancelReason).toBe("OAUTH-3");
    expect(server.exchanges.some((e) => e.location?.startsWith(appleRedirectUri) === true && e.location.includes("code="))).toBe(false);
  });
});

describe("the start link", () => {
  it("refuses a link whose anti-CSRF token is not this enrollment's", async () => {
    const server = await upstreamServer();
    const first = await server.fetch(new Request(`${origin}/enroll/mdm-byod`, { method: "POST", body: realEnrollBody }));
    const pageUrl = /url="([^"]+)"/.exec(first.headers.get("www-authenticate") ?? "")?.[1] ?? "";
    const ref = pageUrl.split("/").pop() ?? "";
    const answer = await server.fetch(new Request(`${origin}/authenticate/upstream/start?enrollment=${ref}&csrf=${"9".repeat(13)}.${"A".repeat(43)}&user-identifier=alice%40example.com`));
    expect(answer.status).toBe(403);
    expect(answer.headers.get("location")).toBeNull();
    expect(answer.headers.getSetCookie()).toEqual([]);
  });
});
