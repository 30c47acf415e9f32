// Interop with an OAuth 2 client the project did not write: panva's oauth4webapi runs discovery,
// the authorization request (PKCE S256 and state), the authorization response check (state and
// RFC 9207 iss), the code exchange, refresh with rotation, reuse detection and RFC 7009 revocation
// against our authorization server in process. Its requests reach the app through `customFetch`;
// the endpoints are https (https://mdm.example.com routed to the app), so no insecure requests are
// allowed. The client is a second registered one (PKCE required, a loopback redirect, RFC 8252 §7.3);
// the person fills our real sign-in page in between, as a browser would.
import * as oauth from "oauth4webapi";
import { describe, expect, it } from "vitest";
import {
  challengedEnrollment,
  checkInWith,
  enrollWith,
  interopClient,
  interopRedirectUri,
  oauthTestServer,
  openSignInPage,
  origin,
  signIn,
  submitForm,
  type OAuthTestServer,
} from "./oauth2-support.ts";

const client: oauth.Client = { client_id: interopClient.id, token_endpoint_auth_method: "none" };
const clientAuth = oauth.None();

/** oauth4webapi's transport: every request goes to the app in process. */
function transport(server: OAuthTestServer): { [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<string, unknown>) => Promise<Response> } {
  return {
    [oauth.customFetch]: async (url, init) => {
      const body = init.body === undefined || init.body === null ? null : init.body instanceof URLSearchParams ? init.body.toString() : String(init.body);
      return server.fetch(new Request(url, { method: init.method, headers: init.headers, body }));
    },
  };
}

async function discover(server: OAuthTestServer): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(origin);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...transport(server) }));
}

/** oauth4webapi's authorization request for the enrollment a real first enroll created. */
async function authorizationRequest(server: OAuthTestServer, as: oauth.AuthorizationServer): Promise<{ readonly url: URL; readonly state: string; readonly codeVerifier: string }> {
  const { enrollment } = await challengedEnrollment(server);
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint ?? "");
  url.searchParams.set("client_id", client.client_id);
  url.searchParams.set("redirect_uri", interopRedirectUri);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", "MDM");
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", state);
  // Our authorization-url's own item (the 401 names the enrollment the sign-in is for).
  url.searchParams.set("enrollment", enrollment);
  return { url, state, codeVerifier };
}

/** The whole grant: discovery, authorization, sign-in, the authorization response, the code exchange. */
async function grant(server: OAuthTestServer): Promise<{ readonly as: oauth.AuthorizationServer; readonly tokens: oauth.TokenEndpointResponse; readonly location: URL }> {
  const as = await discover(server);
  const request = await authorizationRequest(server, as);
  const answer = await signIn(server, request.url);
  expect(answer.status).toBe(303);
  const location = new URL(answer.headers.get("location") ?? "");
  const parameters = oauth.validateAuthResponse(as, client, location, request.state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, parameters, interopRedirectUri, request.codeVerifier, transport(server));
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  return { as, tokens, location };
}

/** What oauth4webapi makes of an OAuth error answer: its `error` code. */
async function oauthError(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError) return e.error;
    throw e;
  }
  throw new Error("expected an OAuth error answer");
}

describe("oauth4webapi (a client we did not write) against the authorization server", () => {
  it("OAUTH-16 discovery: oauth4webapi reads the RFC 8414 metadata, checks its issuer, and refuses it for another expected issuer", async () => {
    const server = await oauthTestServer();
    const as = await discover(server);
    expect(as.issuer).toBe(origin);
    expect(as.token_endpoint).toBe(`${origin}/oauth2/token`);
    expect(as.code_challenge_methods_supported).toEqual(["S256"]);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    // The issuer check is oauth4webapi's: the same document for another issuer is refused.
    const other = new URL("https://other.example.com");
    const answer = await transport(server)[oauth.customFetch](`${origin}/.well-known/oauth-authorization-server`, { method: "GET", headers: {}, body: undefined, redirect: "manual" });
    await expect(oauth.processDiscoveryResponse(other, answer)).rejects.toThrow(/issuer/i);
  });

  it("OAUTH-6 OAUTH-7 OAUTH-11 the whole grant: oauth4webapi's request (PKCE S256, state), our sign-in form, validateAuthResponse with iss, the code exchange; the access token enrolls and checks in", async () => {
    const server = await oauthTestServer();
    const { tokens, location } = await grant(server);
    expect(`${location.origin}${location.pathname}`).toBe(interopRedirectUri);
    expect(location.searchParams.get("iss")).toBe(origin);
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.scope).toBe("MDM");
    // The second enroll, then a check-in, with the access token oauth4webapi obtained.
    expect((await enrollWith(server, tokens.access_token)).status).toBe(200);
    expect((await checkInWith(server, tokens.access_token)).status).toBe(200);
  });

  it("OAUTH-9 the person's Cancel comes back as access_denied: validateAuthResponse (state and iss checked) raises it", async () => {
    const server = await oauthTestServer();
    const as = await discover(server);
    const request = await authorizationRequest(server, as);
    const page = await openSignInPage(server, request.url);
    const answer = await submitForm(server, { ...page.fields, action: "cancel" });
    const location = new URL(answer.headers.get("location") ?? "");
    expect(location.searchParams.get("state")).toBe(request.state);
    let error: unknown;
    try {
      oauth.validateAuthResponse(as, client, location, request.state);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(oauth.AuthorizationResponseError);
    expect(error instanceof oauth.AuthorizationResponseError ? error.error : null).toBe("access_denied");
  });

  it("OAUTH-12 OAUTH-14 refreshTokenGrantRequest rotates the refresh token; reusing the old one gets invalid_grant and revokes the family: the newest refresh token and its access token fail too", async () => {
    const server = await oauthTestServer();
    const { as, tokens } = await grant(server);
    expect((await enrollWith(server, tokens.access_token)).status).toBe(200);
    const first = tokens.refresh_token ?? "";
    const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, first, transport(server)));
    // Rotation: a new refresh token and a new access token; the new one works, the old one no longer.
    expect(refreshed.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(refreshed.refresh_token).not.toBe(first);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect((await checkInWith(server, refreshed.access_token)).status).toBe(200);
    expect((await checkInWith(server, tokens.access_token)).status).toBe(401);
    // Reuse of the rotated-away token.
    expect(await oauthError(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, first, transport(server))))).toBe("invalid_grant");
    // The family is gone: the newest refresh token is refused, and the access token it gave no longer checks in.
    expect(await oauthError(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token ?? "", transport(server))))).toBe("invalid_grant");
    expect((await checkInWith(server, refreshed.access_token)).status).toBe(401);
  });

  it("OAUTH-15 revocationRequest of the refresh token (RFC 7009): processRevocationResponse accepts the answer; the refresh token and its access token stop working; an unknown token is accepted too", async () => {
    const server = await oauthTestServer();
    const { as, tokens } = await grant(server);
    expect((await enrollWith(server, tokens.access_token)).status).toBe(200);
    const refreshToken = tokens.refresh_token ?? "";
    await expect(oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, refreshToken, transport(server)))).resolves.toBeUndefined();
    expect(await oauthError(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, transport(server))))).toBe("invalid_grant");
    expect((await checkInWith(server, tokens.access_token)).status).toBe(401);
    // RFC 7009 §2.2: an invalid token is no error.
    await expect(oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, "not-a-token-we-issued", transport(server)))).resolves.toBeUndefined();
  });
});
