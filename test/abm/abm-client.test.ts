// The Apple Business Manager client (runtime/abm.ts) against a loopback stand-in that answers as
// Apple's documentation describes (./apple-stand-in.ts): OAuth 1.0a sessions whose signature the
// stand-in recomputes with its own HMAC, expired and renewed sessions, the profile endpoints'
// POST / GET / DELETE with their 400 codes and 404, and the 403s that ask the organization to act.
import { afterEach, describe, expect, it } from "vitest";
import { abmClient, abmErrorOf, AbmError, oauthHmacSha1Signature, type AbmClientOptions } from "../../runtime/abm.ts";
import { abmOAuthRealm, oauthAuthorizationHeader, oauthProtocolParameters, type AbmServerToken } from "../../spec/abm.ts";
import { seededRandom } from "../support/fixtures.ts";
import { startAppleStandIn, type StandIn, type StandInOptions } from "./apple-stand-in.ts";

const token: AbmServerToken = {
  consumer_key: "CK_3a1f0c9e5b7d4e2f8a6c1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f",
  consumer_secret: "CS_9f8e7d6c5b4a39281706f5e4d3c2b1a0",
  access_token: "AT_O1234567890O0a1b2c3d4e5f60718293a4b5c6d7e8f9O1767225600000",
  access_secret: "AS_0f1e2d3c4b5a69788796a5b4c3d2e1f0",
  access_token_expiry: "2027-01-15T12:00:00Z",
};
const secrets = [token.consumer_secret, token.access_secret];

const clock = { now: Date.UTC(2026, 0, 15, 12, 0, 0) };
const now = () => clock.now;

let standIn: StandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

async function setup(options: Partial<StandInOptions> = {}, client: Partial<AbmClientOptions> = {}) {
  const s = await startAppleStandIn({ token, now, ...options });
  standIn = s;
  return { s, client: abmClient({ token, now, random: seededRandom(3), baseUrl: s.origin, ...client }) };
}

async function failure(promise: Promise<unknown>): Promise<AbmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AbmError) {
      for (const secret of secrets) expect(error.message).not.toContain(secret);
      return error;
    }
    throw error;
  }
  throw new Error("expected an AbmError");
}

const paths = (s: StandIn) => s.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

describe("registering, reading and clearing the service-discovery URL", () => {
  it("POST, GET, DELETE, GET: one session for all of them, with Apple's headers", async () => {
    const { s, client } = await setup();
    expect(await client.getDiscoveryUrl()).toBeNull();
    await client.setDiscoveryUrl("https://mdm.example.com/.well-known/com.apple.remotemanagement");
    expect(s.registered?.url).toBe("https://mdm.example.com/.well-known/com.apple.remotemanagement");
    expect(await client.getDiscoveryUrl()).toEqual({ url: "https://mdm.example.com/.well-known/com.apple.remotemanagement", lastUpdated: "2026-01-15T12:00:00.000Z" });
    await client.clearDiscoveryUrl();
    expect(s.registered).toBeUndefined();
    expect(await client.getDiscoveryUrl()).toBeNull();
    expect(paths(s)).toEqual([
      "GET /session 200",
      "GET /account-driven-enrollment/profile 404",
      "POST /account-driven-enrollment/profile 200",
      "GET /account-driven-enrollment/profile 200",
      "DELETE /account-driven-enrollment/profile 200",
      "GET /account-driven-enrollment/profile 404",
    ]);
    const [sessionRequest, , post] = s.requests;
    expect(sessionRequest?.headers["authorization"]).toMatch(/^OAuth realm="ADM", oauth_consumer_key="CK_[0-9a-f]+", oauth_token="AT_[0-9A-Za-z]+", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1768478400", oauth_nonce="[0-9a-f]{32}", oauth_version="1.0", oauth_signature="[A-Za-z0-9%]+"$/);
    expect(post?.headers["x-server-protocol-version"]).toBe("7");
    expect(post?.headers["content-type"]).toMatch(/^application\/json/);
    expect(JSON.parse(post?.body ?? "")).toEqual({ mdm_service_discovery_url: "https://mdm.example.com/.well-known/com.apple.remotemanagement" });
    for (const r of s.requests) for (const secret of secrets) expect(JSON.stringify(r.headers) + r.body).not.toContain(secret);
  });

  it("the protocol version is configurable", async () => {
    const { s, client } = await setup({}, { protocolVersion: "9" });
    await client.setDiscoveryUrl("https://mdm.example.com/");
    expect(s.requests.at(-1)?.headers["x-server-protocol-version"]).toBe("9");
  });
});

describe("sessions", () => {
  it("an expired session (401) starts a new one and the request is retried once, transparently", async () => {
    const { s, client } = await setup({ sessionLifetime: 2 });
    await client.setDiscoveryUrl("https://a.example.com/");
    expect(await client.getDiscoveryUrl()).toMatchObject({ url: "https://a.example.com/" });
    await client.setDiscoveryUrl("https://b.example.com/");
    expect(await client.getDiscoveryUrl()).toMatchObject({ url: "https://b.example.com/" });
    expect(s.sessionsIssued).toBe(2);
    expect(paths(s)).toEqual([
      "GET /session 200",
      "POST /account-driven-enrollment/profile 200",
      "GET /account-driven-enrollment/profile 200",
      "POST /account-driven-enrollment/profile 401",
      "GET /session 200",
      "POST /account-driven-enrollment/profile 200",
      "GET /account-driven-enrollment/profile 200",
    ]);
    // Each session request is signed anew: never the same nonce twice.
    const nonces = s.requests.filter((r) => r.path === "/session").map((r) => /oauth_nonce="([^"]+)"/.exec(r.headers["authorization"] ?? "")?.[1]);
    expect(new Set(nonces).size).toBe(2);
  });

  it("a 401 right after a new session is not retried again: abm.unauthorized", async () => {
    const { s, client } = await setup({ sessionLifetime: 0 });
    expect((await failure(client.getDiscoveryUrl())).code).toBe("abm.unauthorized");
    expect(paths(s)).toEqual(["GET /session 200", "GET /account-driven-enrollment/profile 401", "GET /session 200", "GET /account-driven-enrollment/profile 401"]);
  });

  it("a new X-ADM-Auth-Session in an answer replaces the old one", async () => {
    const { s, client } = await setup({ rotateSessionEvery: 1 });
    await client.setDiscoveryUrl("https://mdm.example.com/");
    await client.getDiscoveryUrl();
    await client.clearDiscoveryUrl();
    expect(s.sessionsIssued).toBe(1);
    expect(s.requests.every((r) => r.status === 200)).toBe(true);
  });

  it("a wrong secret or consumer key: /session answers 401, the profile is never asked", async () => {
    for (const wrong of [{ ...token, access_secret: "AS_wrong" }, { ...token, consumer_secret: "CS_wrong" }, { ...token, consumer_key: "CK_other" }]) {
      const s = await startAppleStandIn({ token, now });
      try {
        const error = await failure(abmClient({ token: wrong, now, baseUrl: s.origin }).setDiscoveryUrl("https://mdm.example.com/"));
        expect(error.code).toBe("abm.unauthorized");
        expect(error.message).toMatch(/download a new token/);
        expect(paths(s)).toEqual(["GET /session 401"]);
      } finally {
        await s.close();
      }
    }
  });

  it("a clock more than five minutes off is refused by Apple (401)", async () => {
    const { s } = await setup();
    const error = await failure(abmClient({ token, now: () => clock.now - 3_600_000, baseUrl: s.origin }).getDiscoveryUrl());
    expect(error.code).toBe("abm.unauthorized");
    expect(error.message).toMatch(/clock/);
  });

  it("the stand-in refuses a replayed nonce and a missing realm: the checks the client passes are real", async () => {
    const { s } = await setup();
    const url = `${s.origin}/session`;
    const oauth = oauthProtocolParameters({ consumerKey: token.consumer_key, token: token.access_token, timestamp: clock.now / 1000, nonce: "00ff" });
    const signature = await oauthHmacSha1Signature("GET", url, oauth, token.consumer_secret, token.access_secret);
    const signed = oauthAuthorizationHeader(abmOAuthRealm, [...oauth, ["oauth_signature", signature]]);
    const ask = (authorization: string) => fetch(url, { headers: { authorization } }).then((r) => r.status);
    expect(await ask(signed)).toBe(200);
    expect(await ask(signed)).toBe(401);
    expect(await ask(oauthAuthorizationHeader(undefined, [...oauth, ["oauth_signature", signature]]))).toBe(400);
  });
});

describe("what Apple refuses", () => {
  it("a URL that is empty, not https, or carries credentials or a fragment is refused before calling Apple", async () => {
    const { s, client } = await setup();
    expect((await failure(client.setDiscoveryUrl(""))).code).toBe("abm.url-required");
    for (const url of ["http://mdm.example.com/", "mdm.example.com", "https://user:pw@mdm.example.com/", "https://mdm.example.com/#x", "ftp://mdm.example.com/"]) {
      expect((await failure(client.setDiscoveryUrl(url))).code, url).toBe("abm.url-not-valid");
    }
    expect(s.requests).toEqual([]);
  });

  it("400 MDM_SERVICE_DISCOVERY_URL_NOT_VALID for a URL Apple will not take", async () => {
    const { s, client } = await setup({ acceptsUrl: (u) => !u.includes(".invalid") });
    const error = await failure(client.setDiscoveryUrl("https://mdm.example.invalid/"));
    expect(error).toMatchObject({ code: "abm.url-not-valid", answer: { status: 400, appleCode: "MDM_SERVICE_DISCOVERY_URL_NOT_VALID" } });
    expect(s.registered).toBeUndefined();
  });

  it("400 ORG_NOT_SUPPORTED on each of POST, GET and DELETE, with the code in JSON or bare", async () => {
    const forms: ("bare" | "json")[] = ["bare", "json"];
    for (const errorBody of forms) {
      const { client } = await setup({ orgSupported: false, errorBody });
      for (const run of [() => client.setDiscoveryUrl("https://mdm.example.com/"), () => client.getDiscoveryUrl(), () => client.clearDiscoveryUrl()]) {
        expect(await failure(run()), errorBody).toMatchObject({ code: "abm.org-not-supported", answer: { status: 400, appleCode: "ORG_NOT_SUPPORTED" } });
      }
      await standIn?.close();
      standIn = undefined;
    }
  });

  it("400 MDM_SERVICE_DISCOVERY_URL_REQUIRED: the stand-in's answer to a body without the URL, and the client's reading of it", async () => {
    const { s } = await setup();
    const url = `${s.origin}/session`;
    const oauth = oauthProtocolParameters({ consumerKey: token.consumer_key, token: token.access_token, timestamp: clock.now / 1000, nonce: "0a0b" });
    const signature = await oauthHmacSha1Signature("GET", url, oauth, token.consumer_secret, token.access_secret);
    const session = await fetch(url, { headers: { authorization: oauthAuthorizationHeader(abmOAuthRealm, [...oauth, ["oauth_signature", signature]]) } }).then((r) => r.json());
    const answer = await fetch(`${s.origin}/account-driven-enrollment/profile`, { method: "POST", headers: { "x-adm-auth-session": session.auth_session_token, "content-type": "application/json" }, body: "{}" });
    const body = await answer.text();
    expect([answer.status, body]).toEqual([400, "MDM_SERVICE_DISCOVERY_URL_REQUIRED"]);
    expect(abmErrorOf(answer.status, body, "POST /account-driven-enrollment/profile")).toMatchObject({ code: "abm.url-required" });
  });

  it("every documented code, in each body form MDMs have seen, maps to its stable code", () => {
    const cases: [number, string, string][] = [
      [400, "MDM_SERVICE_DISCOVERY_URL_REQUIRED", "abm.url-required"],
      [400, "MDM_SERVICE_DISCOVERY_URL_NOT_VALID", "abm.url-not-valid"],
      [400, "ORG_NOT_SUPPORTED", "abm.org-not-supported"],
      [400, "SOMETHING_NEW", "abm.rejected"],
      [404, "NOT_FOUND", "abm.not-found"],
      [403, "T_C_NOT_SIGNED", "abm.terms-not-signed"],
      [403, "TOKEN_EXPIRED", "abm.token-expired"],
      [403, "EXPIRED_TOKEN", "abm.token-expired"],
      [403, "ACCESS_DENIED", "abm.access-denied"],
      [401, "UNAUTHORIZED", "abm.unauthorized"],
      [503, "", "abm.unavailable"],
      [429, "TOO_MANY_REQUESTS", "abm.unavailable"],
    ];
    for (const [status, code, expected] of cases) {
      for (const body of [code, `"${code}"`, JSON.stringify({ code }), JSON.stringify({ error: code, message: "x" })]) {
        expect(abmErrorOf(status, body, "X").code, `${status} ${body}`).toBe(expected);
      }
    }
    // Only a code-shaped string is ever taken from a body.
    expect(abmErrorOf(400, "<html>\u001b[31mORG_NOT_SUPPORTED</html>", "X")).toMatchObject({ code: "abm.rejected", answer: { status: 400 } });
    expect(abmErrorOf(400, "<html>", "X").answer.appleCode).toBeUndefined();
  });

  it("403 T_C_NOT_SIGNED and TOKEN_EXPIRED from /session: the organization must act", async () => {
    const { client } = await setup({ sessionForbidden: "T_C_NOT_SIGNED" });
    const terms = await failure(client.getDiscoveryUrl());
    expect(terms.code).toBe("abm.terms-not-signed");
    expect(terms.message).toMatch(/terms and conditions in Apple Business Manager/);
    await standIn?.close();
    const second = await setup({ sessionForbidden: "TOKEN_EXPIRED", errorBody: "json" });
    expect((await failure(second.client.getDiscoveryUrl())).code).toBe("abm.token-expired");
  });

  it("a token past its access_token_expiry is refused without calling Apple", async () => {
    const { s } = await setup();
    const error = await failure(abmClient({ token: { ...token, access_token_expiry: "2026-01-15T11:59:59Z" }, now, baseUrl: s.origin }).getDiscoveryUrl());
    expect(error.code).toBe("abm.token-expired");
    expect(s.requests).toEqual([]);
  });

  it("a wrong base URL, an unreachable one, and an oversized answer: abm.unavailable", async () => {
    const { s } = await setup();
    const wrong = await failure(abmClient({ token, now, baseUrl: `${s.origin}/not-apple` }).getDiscoveryUrl());
    expect(wrong).toMatchObject({ code: "abm.unavailable", answer: { status: 404 } });
    const port = new URL(s.origin).port;
    await s.close();
    standIn = undefined;
    expect((await failure(abmClient({ token, now, baseUrl: `http://127.0.0.1:${port}` }).getDiscoveryUrl())).code).toBe("abm.unavailable");
    const huge = async () => new Response("x".repeat(200_000), { status: 200 });
    expect((await failure(abmClient({ token, now, baseUrl: "https://apple.invalid", fetch: huge }).getDiscoveryUrl())).message).toMatch(/larger than/);
  });

  it("a GET answer that is not the documented object: abm.unavailable", async () => {
    let first = true;
    const fake = async (request: Request) => {
      if (first) {
        first = false;
        return Response.json({ auth_session_token: "s" });
      }
      expect(request.headers.get("x-adm-auth-session")).toBe("s");
      return Response.json({ url: "https://mdm.example.com/" });
    };
    expect((await failure(abmClient({ token, now, baseUrl: "https://apple.invalid", fetch: fake }).getDiscoveryUrl())).code).toBe("abm.unavailable");
  });
});
