// Shared setup of the OAuth 2 interop and RFC 9700 tests: the in-process server with OAuth 2 for
// everyone and two registered public clients (the Apple device's, and a PKCE-required one with an
// http loopback redirect, RFC 8252 §7.3), a real first enroll for the `enrollment` item, and the
// sign-in page filled as a browser would (GET the page, POST its hidden fields with credentials).
import { expect } from "vitest";
import { formFields } from "../../runtime/person.ts";
import type { ServerOptions } from "../../runtime/server-host.ts";
import { MemoryOAuthStore } from "../../runtime/storage/memory-oauth-store.ts";
import { appleRedirectUri, buildPlist, checkInContentType, parseChallenge, type OAuthClient } from "../../spec/index.ts";
import { alice, realEnrollBody, testServer, type TestServer } from "../support/fixtures.ts";

export const origin = "https://mdm.example.com";
export const appleClient: OAuthClient = { id: "adenroll", redirectUris: [appleRedirectUri], pkce: "optional" };
export const interopRedirectUri = "http://127.0.0.1/callback";
export const interopClient: OAuthClient = { id: "interop-client", redirectUris: [interopRedirectUri], pkce: "required" };

export interface OAuthTestServer extends TestServer {
  readonly oauth: MemoryOAuthStore;
}

export async function oauthTestServer(options: { readonly accessTokenLifetimeSeconds?: number; readonly codeLifetimeSeconds?: number; readonly clients?: readonly OAuthClient[]; readonly overrides?: Partial<ServerOptions> } = {}): Promise<OAuthTestServer> {
  const oauth = new MemoryOAuthStore();
  const server = await testServer({
    ...options.overrides,
    authentication: "oauth2",
    oauth2: {
      clients: options.clients ?? [appleClient, interopClient],
      store: oauth,
      accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3600,
      ...(options.codeLifetimeSeconds === undefined ? {} : { codeLifetimeSeconds: options.codeLifetimeSeconds }),
    },
  });
  return { ...server, oauth };
}

/** The first enroll (the real device body, no token): its 401's apple-oauth2 authorization-url. */
export async function challengedEnrollment(server: TestServer): Promise<{ readonly authorizationUrl: URL; readonly enrollment: string }> {
  const answer = await server.fetch(new Request(`${origin}/enroll/mdm-byod`, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: realEnrollBody }));
  expect(answer.status).toBe(401);
  const challenge = parseChallenge(answer.headers.get("www-authenticate") ?? "");
  if (!challenge.ok || challenge.value.method !== "apple-oauth2") throw new Error(`not an apple-oauth2 challenge: ${answer.headers.get("www-authenticate")}`);
  const authorizationUrl = new URL(challenge.value["authorization-url"]);
  const enrollment = authorizationUrl.searchParams.get("enrollment");
  if (enrollment === null) throw new Error("the authorization-url names no enrollment");
  return { authorizationUrl, enrollment };
}

/** The authorization endpoint with the enrollment item and the given parameters, in this order. */
export function authorizationUrl(enrollment: string, parameters: Readonly<Record<string, string>>): URL {
  const url = new URL(`${origin}/oauth2/authorize`);
  url.searchParams.set("enrollment", enrollment);
  for (const [name, value] of Object.entries(parameters)) url.searchParams.append(name, value);
  return url;
}

export async function openSignInPage(server: TestServer, url: URL | string): Promise<{ readonly response: Response; readonly html: string; readonly fields: Record<string, string> }> {
  const response = await server.fetch(new Request(url));
  const html = await response.text();
  return { response, html, fields: formFields(html) };
}

/** Posts the sign-in form (its fields as given) to the authorization endpoint. */
export async function submitForm(server: TestServer, fields: Readonly<Record<string, string>>): Promise<Response> {
  return server.fetch(new Request(`${origin}/oauth2/authorize`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() }));
}

/** Opens the page of an authorization request and signs alice in: the answer to the form's POST. */
export async function signIn(server: TestServer, url: URL | string, credentials: { readonly username: string; readonly password: string } = { username: alice.userIdentifier, password: alice.password }): Promise<Response> {
  const page = await openSignInPage(server, url);
  expect(page.response.status).toBe(200);
  return submitForm(server, { ...page.fields, username: credentials.username, password: credentials.password, action: "sign-in" });
}

/** A whole authorization for a fresh enrollment: the 303's Location (an http redirect URI: RFC 9700 §4.12). */
export async function authorizedRedirect(server: TestServer, parameters: Readonly<Record<string, string>>): Promise<{ readonly location: URL; readonly enrollment: string }> {
  const { enrollment } = await challengedEnrollment(server);
  const answer = await signIn(server, authorizationUrl(enrollment, parameters));
  // OAUTH-6: 308 to Apple's callback scheme, 303 to an http(s) redirect URI (RFC 9700 §4.12).
  expect(answer.status).toBe(/^https?:/.test(parameters["redirect_uri"] ?? "") ? 303 : 308);
  return { location: new URL(answer.headers.get("location") ?? ""), enrollment };
}

export async function tokenRequest(server: TestServer, form: Readonly<Record<string, string>>, path = "/oauth2/token"): Promise<Response> {
  return server.fetch(new Request(`${origin}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() }));
}

/** The second enroll, authorized by an access token. */
export async function enrollWith(server: TestServer, accessToken: string): Promise<Response> {
  return server.fetch(
    new Request(`${origin}/enroll/mdm-byod`, { method: "POST", headers: { "content-type": "application/pkcs7-signature", authorization: `Bearer ${accessToken}` }, body: realEnrollBody }),
  );
}

const authenticateBody = new TextEncoder().encode(
  buildPlist({ MessageType: "Authenticate", Topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001", EnrollmentID: "E-OAUTH-RFC", OSVersion: "17.4", BuildVersion: "21E219", ProductName: "iPhone15,2" }),
);

/** An MDM check-in (Authenticate) authorized by an access token. */
export async function checkInWith(server: TestServer, accessToken: string): Promise<Response> {
  return server.fetch(new Request(`${origin}/mdm/checkin`, { method: "PUT", headers: { "content-type": checkInContentType, authorization: `Bearer ${accessToken}` }, body: authenticateBody }));
}

/** BASE64URL(SHA-256(verifier)) (RFC 7636 §4.2). */
export async function s256(verifier: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return Buffer.from(digest).toString("base64url");
}

export const verifier = "dBjftJeZ4CVP-mJ92ZZ1E9pdX8ORPqCc4dZcH0kStbwBu6M2FGa"; // 51 unreserved characters
