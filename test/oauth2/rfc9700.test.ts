// RFC 9700 (OAuth 2.0 Security Best Current Practice) against our authorization server: one test
// per requirement that applies to it, named after the section it enforces (with the RFC 6749,
// 7636, 8252, 8414 and 9207 sections RFC 9700 leans on) and the OAUTH rule it checks. The server
// runs in process with two public clients: the Apple device's (PKCE optional) and a PKCE-required
// one with a loopback redirect (test/oauth2/oauth2-support.ts).
import { describe, expect, it } from "vitest";
import { appleRedirectUri } from "../../spec/index.ts";
import { alice, bob, seededRandom } from "../support/fixtures.ts";
import {
  appleClient,
  authorizationUrl,
  authorizedRedirect,
  challengedEnrollment,
  checkInWith,
  enrollWith,
  interopClient,
  interopRedirectUri,
  oauthTestServer,
  openSignInPage,
  origin,
  s256,
  signIn,
  submitForm,
  tokenRequest,
  verifier,
  type OAuthTestServer,
} from "./oauth2-support.ts";

/** An authorization request of the PKCE-required client. */
async function interopParameters(extra: Readonly<Record<string, string>> = {}): Promise<Record<string, string>> {
  return { response_type: "code", client_id: interopClient.id, redirect_uri: interopRedirectUri, state: "st-1", code_challenge: await s256(verifier), code_challenge_method: "S256", ...extra };
}

const appleParameters = (extra: Readonly<Record<string, string>> = {}): Record<string, string> => ({ response_type: "code", client_id: appleClient.id, redirect_uri: appleRedirectUri, state: "st-apple", ...extra });

/** A code of the PKCE-required client, and the form that redeems it. */
async function interopCode(server: OAuthTestServer): Promise<{ readonly code: string; readonly form: Record<string, string> }> {
  const { location } = await authorizedRedirect(server, await interopParameters());
  const code = location.searchParams.get("code") ?? "";
  return { code, form: { grant_type: "authorization_code", code, redirect_uri: interopRedirectUri, client_id: interopClient.id, code_verifier: verifier } };
}

interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function tokensOf(answer: Response): Promise<Tokens> {
  expect(answer.status).toBe(200);
  const body: unknown = await answer.json();
  if (typeof body !== "object" || body === null || !("access_token" in body) || !("refresh_token" in body) || typeof body.access_token !== "string" || typeof body.refresh_token !== "string") {
    throw new Error(`not a token answer: ${JSON.stringify(body)}`);
  }
  return { access_token: body.access_token, refresh_token: body.refresh_token };
}

/** An enrolled device's tokens (the interop client's grant, then the second enroll). */
async function enrolledTokens(server: OAuthTestServer): Promise<Tokens> {
  const { form } = await interopCode(server);
  const tokens = await tokensOf(await tokenRequest(server, form));
  expect((await enrollWith(server, tokens.access_token)).status).toBe(200);
  return tokens;
}

async function errorOf(answer: Response): Promise<string> {
  const body: unknown = await answer.clone().json();
  return typeof body === "object" && body !== null && "error" in body && typeof body.error === "string" ? body.error : `(no error in ${JSON.stringify(body)})`;
}

const refresh = (server: OAuthTestServer, refreshToken: string, clientId = interopClient.id): Promise<Response> =>
  tokenRequest(server, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });

/** An answer that is an error page: HTML, the status given, and no Location anywhere. */
async function expectErrorPage(answer: Response, status = 400): Promise<void> {
  expect(answer.status).toBe(status);
  expect(answer.headers.get("location")).toBeNull();
  expect(answer.headers.get("content-type")).toMatch(/^text\/html/);
  expect(await answer.text()).not.toMatch(/code=/);
}

describe("RFC 9700 requirements that apply to the authorization server", () => {
  it("RFC 9700 §4.1.3 OAUTH-8 redirect URI exact match: a prefix, suffix, other case, extra path, added query or fragment, another port or scheme is refused with an error page, not redirected (GET and the form's POST)", async () => {
    const server = await oauthTestServer();
    const variants = [
      "http://127.0.0.1/callbac",
      "http://127.0.0.1/callback/",
      "http://127.0.0.1/callbackx",
      "http://127.0.0.1/Callback",
      "HTTP://127.0.0.1/callback",
      "http://127.0.0.1/callback/evil",
      "http://127.0.0.1/callback?next=https://evil.example",
      "http://127.0.0.1/callback#x",
      "https://127.0.0.1/callback",
      "http://localhost/callback",
      "http://127.0.0.1.evil.example/callback",
      "http://127.0.0.1@evil.example/callback",
      appleRedirectUri, // registered, but for the other client
    ];
    const { enrollment } = await challengedEnrollment(server);
    for (const redirectUri of variants) {
      await expectErrorPage(await server.fetch(new Request(authorizationUrl(enrollment, await interopParameters({ redirect_uri: redirectUri })))));
    }
    // The form posts the request back: a redirect_uri changed in it is refused just the same, and no code is issued.
    const page = await openSignInPage(server, authorizationUrl(enrollment, await interopParameters()));
    expect(page.response.status).toBe(200);
    for (const redirectUri of variants) {
      await expectErrorPage(await submitForm(server, { ...page.fields, redirect_uri: redirectUri, username: alice.userIdentifier, password: alice.password, action: "sign-in" }));
    }
    // The exact registered string still works afterwards (nothing above signed anyone in).
    const answer = await submitForm(server, { ...page.fields, username: alice.userIdentifier, password: alice.password, action: "sign-in" });
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toMatch(/^http:\/\/127\.0\.0\.1\/callback\?code=/);
  });

  // Found by this test: the loopback redirect URI is matched with its port; RFC 8252 §7.3 (MUST) and
  // RFC 9700 §4.1.3 (the one exception to exact matching) want any port allowed for a loopback IP
  // redirect URI, since a native app listens on whatever port the OS gives it. Marked failing until
  // spec/oauth2-authorization-server.ts checkAuthorizationRequest allows it.
  it("RFC 9700 §4.1.3 RFC 8252 §7.3 OAUTH-8 a loopback IP redirect URI is matched except for its port: the registered http://127.0.0.1/callback with an ephemeral port redirects there", async () => {
    const server = await oauthTestServer();
    const { location } = await authorizedRedirect(server, await interopParameters({ redirect_uri: "http://127.0.0.1:51234/callback" }));
    expect(`${location.origin}${location.pathname}`).toBe("http://127.0.0.1:51234/callback");
  });

  it("RFC 9700 §4.11.2 OAUTH-8 no open redirect: an unknown, missing or repeated client_id, or an unregistered redirect_uri, never yields a Location, whatever else the request gets wrong", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    const evil = "https://evil.example/steal";
    const requests: Record<string, string>[] = [
      { response_type: "code", client_id: "unknown-client", redirect_uri: evil, state: "s" },
      { response_type: "code", client_id: "unknown-client", redirect_uri: interopRedirectUri, state: "s" },
      { response_type: "code", redirect_uri: evil, state: "s" },
      { response_type: "code", client_id: "", redirect_uri: interopRedirectUri, state: "s" },
      { response_type: "token", client_id: interopClient.id, redirect_uri: evil, state: "s" },
      { response_type: "code", client_id: interopClient.id, redirect_uri: evil, state: "s", code_challenge_method: "plain" },
      { client_id: appleClient.id, redirect_uri: evil },
    ];
    for (const parameters of requests) {
      await expectErrorPage(await server.fetch(new Request(authorizationUrl(enrollment, parameters))));
      await expectErrorPage(await submitForm(server, { ...parameters, enrollment, username: alice.userIdentifier, password: alice.password, csrf: "x" }));
    }
    // Repeated client_id (one of them good) and repeated redirect_uri (one of them registered).
    const repeated = [`client_id=${interopClient.id}&client_id=unknown-client&redirect_uri=${encodeURIComponent(interopRedirectUri)}`, `client_id=${interopClient.id}&redirect_uri=${encodeURIComponent(interopRedirectUri)}&redirect_uri=${encodeURIComponent(evil)}`];
    for (const query of repeated) {
      await expectErrorPage(await server.fetch(new Request(`${origin}/oauth2/authorize?enrollment=${enrollment}&response_type=code&state=s&${query}`)));
    }
  });

  // Found by this test: after the person posts their credentials, the success (and error) redirect is
  // a 308, which makes a browser post the same form — username and password included — to the
  // client's http(s) redirect URI. RFC 9700 §4.12: an AS that redirects a request that may contain
  // user credentials MUST NOT use 307 (308 is its permanent twin with the same method- and
  // body-preserving semantics, RFC 9110 §15.4.9) and SHOULD use 303. Apple's flow wants 308 for the
  // device's callback scheme, which no browser follows with a body; an http(s) redirect URI should
  // get 303. Marked failing until runtime/oauth2-server.ts does that.
  it("RFC 9700 §4.12 OAUTH-6 the answer to the credentials POST is no method-preserving redirect for an http(s) redirect URI (303 See Other, not 307/308)", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    const answer = await signIn(server, authorizationUrl(enrollment, await interopParameters()));
    expect(answer.headers.get("location")).toMatch(/^http:\/\/127\.0\.0\.1\/callback\?code=/);
    expect(answer.status).toBe(303);
  });

  it("RFC 6749 §4.1.2 RFC 9700 §4.5 OAUTH-10 code replay: a second redemption gets invalid_grant and what the first gave is revoked (its access token no longer checks in, its refresh token is refused)", async () => {
    const server = await oauthTestServer();
    const { form } = await interopCode(server);
    const tokens = await tokensOf(await tokenRequest(server, form));
    expect((await enrollWith(server, tokens.access_token)).status).toBe(200);
    expect((await checkInWith(server, tokens.access_token)).status).toBe(200);
    const replay = await tokenRequest(server, form);
    expect(replay.status).toBe(400);
    expect(await errorOf(replay)).toBe("invalid_grant");
    expect((await checkInWith(server, tokens.access_token)).status).toBe(401);
    expect(await errorOf(await refresh(server, tokens.refresh_token))).toBe("invalid_grant");
  });

  it("RFC 6749 §4.1.2 OAUTH-10 code replay before the first redemption's tokens were used: the Apple client's code presented twice, the second time refused, the access token from the first no longer enrolls", async () => {
    const server = await oauthTestServer();
    const { location } = await authorizedRedirect(server, appleParameters());
    const form = { grant_type: "authorization_code", code: location.searchParams.get("code") ?? "", redirect_uri: appleRedirectUri, client_id: appleClient.id };
    const tokens = await tokensOf(await tokenRequest(server, form));
    expect(await errorOf(await tokenRequest(server, form))).toBe("invalid_grant");
    expect((await enrollWith(server, tokens.access_token)).status).toBe(401);
  });

  it("RFC 9700 §4.8.2 OAUTH-11 PKCE downgrade: a code_verifier for a code issued without code_challenge is refused, and a code issued with one is not redeemed without its verifier or with another", async () => {
    const server = await oauthTestServer();
    // The Apple client may omit PKCE; its code then takes no verifier (an attacker's injected code would).
    const { location } = await authorizedRedirect(server, appleParameters());
    const downgraded = await tokenRequest(server, { grant_type: "authorization_code", code: location.searchParams.get("code") ?? "", redirect_uri: appleRedirectUri, client_id: appleClient.id, code_verifier: verifier });
    expect(downgraded.status).toBe(400);
    expect(await errorOf(downgraded)).toBe("invalid_grant");
    // A code issued with a challenge: no verifier, a wrong one — both refused.
    for (const codeVerifier of [undefined, `${verifier}x`]) {
      const { form } = await interopCode(server);
      const { code_verifier: _dropped, ...withoutVerifier } = form;
      const answer = await tokenRequest(server, codeVerifier === undefined ? withoutVerifier : { ...form, code_verifier: codeVerifier });
      expect(answer.status).toBe(400);
      expect(await errorOf(answer)).toBe("invalid_grant");
    }
    // The Apple client sending a challenge is held to it too (PKCE enforced when sent).
    const challenged = await authorizedRedirect(server, appleParameters({ code_challenge: await s256(verifier), code_challenge_method: "S256" }));
    const missing = await tokenRequest(server, { grant_type: "authorization_code", code: challenged.location.searchParams.get("code") ?? "", redirect_uri: appleRedirectUri, client_id: appleClient.id });
    expect(await errorOf(missing)).toBe("invalid_grant");
  });

  it("RFC 9700 §2.1.1 RFC 7636 §4.2 OAUTH-11 only S256: code_challenge_method plain, a missing method (which means plain) or a method without challenge is refused back to the client with invalid_request and no code", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    const challenge = await s256(verifier);
    for (const extra of [{ code_challenge: verifier, code_challenge_method: "plain" }, { code_challenge: challenge, code_challenge_method: "" }, { code_challenge_method: "S256", code_challenge: "" }, { code_challenge: challenge, code_challenge_method: "s256" }]) {
      const parameters = { ...(await interopParameters()), ...extra };
      const answer = await server.fetch(new Request(authorizationUrl(enrollment, Object.fromEntries(Object.entries(parameters).filter(([, v]) => v !== "")))));
      expect(answer.status).toBe(303);
      const location = new URL(answer.headers.get("location") ?? "");
      expect(`${location.origin}${location.pathname}`).toBe(interopRedirectUri);
      expect(location.searchParams.get("error")).toBe("invalid_request");
      expect(location.searchParams.get("code")).toBeNull();
    }
  });

  it("RFC 9700 §2.1.1 OAUTH-11 a client registered to require PKCE is refused without a code_challenge: invalid_request back to it with its state, no sign-in page, no code", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    const { code_challenge: _c, code_challenge_method: _m, ...withoutPkce } = await interopParameters({ state: "required-pkce" });
    const answer = await server.fetch(new Request(authorizationUrl(enrollment, withoutPkce)));
    expect(answer.status).toBe(303);
    const location = new URL(answer.headers.get("location") ?? "");
    expect(location.searchParams.get("error")).toBe("invalid_request");
    expect(location.searchParams.get("state")).toBe("required-pkce");
    expect(location.searchParams.get("code")).toBeNull();
    // The form's POST is held to the same rule.
    const posted = await submitForm(server, { ...withoutPkce, enrollment, username: alice.userIdentifier, password: alice.password, csrf: "x" });
    expect(new URL(posted.headers.get("location") ?? "").searchParams.get("error")).toBe("invalid_request");
  });

  it("RFC 9700 §4.14.2 RFC 6749 §6 OAUTH-12 refresh token rotation: each refresh gives a new refresh token and a new access token; the new access token checks in and the one it replaced does not", async () => {
    const server = await oauthTestServer();
    let tokens = await enrolledTokens(server);
    const seen = new Set([tokens.refresh_token]);
    for (let i = 0; i < 3; i++) {
      const next = await tokensOf(await refresh(server, tokens.refresh_token));
      expect(seen.has(next.refresh_token)).toBe(false);
      seen.add(next.refresh_token);
      expect((await checkInWith(server, next.access_token)).status).toBe(200);
      expect((await checkInWith(server, tokens.access_token)).status).toBe(401);
      tokens = next;
    }
  });

  it("RFC 9700 §4.14.2 §2.2.2 OAUTH-12 refresh token reuse detection: presenting a rotated-away refresh token gets invalid_grant and revokes the whole family, the newest refresh token and its access token included", async () => {
    const server = await oauthTestServer();
    const first = await enrolledTokens(server);
    const second = await tokensOf(await refresh(server, first.refresh_token));
    const third = await tokensOf(await refresh(server, second.refresh_token));
    const reused = await refresh(server, first.refresh_token);
    expect(reused.status).toBe(400);
    expect(await errorOf(reused)).toBe("invalid_grant");
    expect(await errorOf(await refresh(server, third.refresh_token))).toBe("invalid_grant");
    expect((await checkInWith(server, third.access_token)).status).toBe(401);
  });

  it("RFC 9700 §4.14.2 OAUTH-12 refresh tokens are bound to their client: another registered client's client_id is refused", async () => {
    const server = await oauthTestServer();
    const tokens = await enrolledTokens(server);
    const answer = await refresh(server, tokens.refresh_token, appleClient.id);
    expect(answer.status).toBe(400);
    expect(await errorOf(answer)).toBe("invalid_grant");
  });

  it("RFC 6749 §4.1.2 RFC 9700 §4.7.1 OAUTH-6 OAUTH-9 state comes back unchanged, special characters included, on success and on the person's Cancel; the page carries it escaped", async () => {
    const server = await oauthTestServer();
    const state = `a b&c=d/é?#%20+"'<script>x</script>😀\\`;
    const { location } = await authorizedRedirect(server, await interopParameters({ state }));
    expect(location.searchParams.get("state")).toBe(state);
    expect(location.searchParams.getAll("state")).toHaveLength(1);
    const { enrollment } = await challengedEnrollment(server);
    const page = await openSignInPage(server, authorizationUrl(enrollment, await interopParameters({ state })));
    expect(page.html).not.toContain("<script>x</script>");
    expect(page.fields["state"]).toBe(state);
    const cancelled = await submitForm(server, { ...page.fields, action: "cancel" });
    const back = new URL(cancelled.headers.get("location") ?? "");
    expect(back.searchParams.get("error")).toBe("access_denied");
    expect(back.searchParams.get("state")).toBe(state);
  });

  it("RFC 6749 §5.1 §5.2 OAUTH-13 token answers, successful or not, carry Cache-Control: no-store and Pragma: no-cache", async () => {
    const server = await oauthTestServer();
    const { form } = await interopCode(server);
    const issued = await tokenRequest(server, form);
    const tokens = await tokensOf(issued.clone());
    const answers = [
      issued,
      await refresh(server, tokens.refresh_token),
      await tokenRequest(server, form), // replay: invalid_grant
      await tokenRequest(server, { grant_type: "password", username: alice.userIdentifier, password: alice.password, client_id: interopClient.id }),
      await tokenRequest(server, { grant_type: "authorization_code", code: "x", redirect_uri: interopRedirectUri, client_id: "unknown-client" }),
      await server.fetch(new Request(`${origin}/oauth2/token`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 400, 400, 401, 400]);
    for (const answer of answers) {
      expect(answer.headers.get("cache-control")).toBe("no-store");
      expect(answer.headers.get("pragma")).toBe("no-cache");
    }
  });

  it("RFC 9700 §4.16 clickjacking: the sign-in page, the page shown again after a failed sign-in and the error page forbid framing (X-Frame-Options DENY, CSP frame-ancestors 'none')", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    const page = await openSignInPage(server, authorizationUrl(enrollment, await interopParameters()));
    const failed = await submitForm(server, { ...page.fields, username: alice.userIdentifier, password: "wrong password", action: "sign-in" });
    expect(failed.status).toBe(401);
    const errorPage = await server.fetch(new Request(authorizationUrl(enrollment, { response_type: "code", client_id: "unknown-client" })));
    for (const answer of [page.response, failed, errorPage]) {
      expect(answer.headers.get("x-frame-options")).toBe("DENY");
      expect(answer.headers.get("content-security-policy")).toMatch(/(^|;)\s*frame-ancestors 'none'\s*(;|$)/);
    }
  });

  it("RFC 9700 §4.2.4 Referer: the sign-in page and the redirect carrying the code set Referrer-Policy no-referrer", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    const page = await openSignInPage(server, authorizationUrl(enrollment, await interopParameters()));
    const redirect = await submitForm(server, { ...page.fields, username: alice.userIdentifier, password: alice.password, action: "sign-in" });
    expect(redirect.headers.get("location")).toMatch(/code=/);
    for (const answer of [page.response, redirect]) expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it("RFC 6749 §10.12 CSRF on the sign-in form: a missing, wrong or other enrollment's csrf is refused with no code issued; the genuine form still works", async () => {
    // Two servers sharing the CSRF secret, whose enrollments have different references.
    const secret = new Uint8Array(32).fill(5);
    const server = await oauthTestServer({ overrides: { secret } });
    const elsewhere = await oauthTestServer({ overrides: { secret, random: seededRandom(99) } });
    const { enrollment } = await challengedEnrollment(server);
    const page = await openSignInPage(server, authorizationUrl(enrollment, await interopParameters()));
    const other = await challengedEnrollment(elsewhere);
    expect(other.enrollment).not.toBe(enrollment);
    const otherPage = await openSignInPage(elsewhere, authorizationUrl(other.enrollment, await interopParameters()));
    const credentials = { username: alice.userIdentifier, password: alice.password, action: "sign-in" };
    const { csrf: genuine, ...withoutCsrf } = page.fields;
    expect(genuine).toMatch(/\S{16,}/);
    expect(otherPage.fields["csrf"]).not.toBe(genuine);
    const refused = [
      await submitForm(server, { ...withoutCsrf, ...credentials }),
      await submitForm(server, { ...page.fields, csrf: "", ...credentials }),
      await submitForm(server, { ...page.fields, ...credentials, csrf: `${genuine ?? ""}x` }),
      await submitForm(server, { ...page.fields, ...credentials, csrf: otherPage.fields["csrf"] ?? "" }),
    ];
    for (const answer of refused) {
      expect([400, 403]).toContain(answer.status);
      expect(answer.headers.get("location")).toBeNull();
    }
    const answer = await submitForm(server, { ...page.fields, ...credentials });
    expect(answer.status).toBe(303);
    expect(new URL(answer.headers.get("location") ?? "").searchParams.get("code")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("RFC 6749 §4.1.2 OAUTH-10 code lifetime at most 60 s: a code is redeemed 59 s after it was issued, refused at 60 s — even when a longer lifetime is configured", async () => {
    const server = await oauthTestServer({ codeLifetimeSeconds: 600 });
    const early = await interopCode(server);
    server.clock.now += 59_000;
    expect((await tokenRequest(server, early.form)).status).toBe(200);
    const late = await interopCode(server);
    server.clock.now += 60_000;
    const answer = await tokenRequest(server, late.form);
    expect(answer.status).toBe(400);
    expect(await errorOf(answer)).toBe("invalid_grant");
  });

  it("RFC 6749 §4.1.3 OAUTH-10 codes are bound to their client and redirect URI: another registered client's id, or another redirect_uri, is refused", async () => {
    const server = await oauthTestServer();
    const byOtherClient = await interopCode(server);
    const answer = await tokenRequest(server, { ...byOtherClient.form, client_id: appleClient.id });
    expect(answer.status).toBe(400);
    expect(await errorOf(answer)).toBe("invalid_grant");
    const byOtherRedirect = await interopCode(server);
    expect(await errorOf(await tokenRequest(server, { ...byOtherRedirect.form, redirect_uri: appleRedirectUri }))).toBe("invalid_grant");
    const withoutRedirect = await interopCode(server);
    const { redirect_uri: _r, ...form } = withoutRedirect.form;
    expect((await tokenRequest(server, form)).status).toBe(400);
  });

  it("RFC 6749 §5.2 OAUTH-13 token endpoint errors: status 400, application/json, exactly {error, error_description} with a §5.2 code", async () => {
    const server = await oauthTestServer();
    const cases: [Record<string, string> | string, string][] = [
      [{ grant_type: "authorization_code", redirect_uri: interopRedirectUri, client_id: interopClient.id }, "invalid_request"],
      [{ grant_type: "password", username: alice.userIdentifier, password: alice.password }, "unsupported_grant_type"],
      [{ grant_type: "client_credentials", client_id: interopClient.id }, "unsupported_grant_type"],
      [{ grant_type: "authorization_code", code: "not-a-code-we-issued", redirect_uri: interopRedirectUri, client_id: interopClient.id }, "invalid_grant"],
      [{ grant_type: "refresh_token", refresh_token: "not-a-token-we-issued", client_id: interopClient.id }, "invalid_grant"],
      [`grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=${interopClient.id}`, "invalid_request"],
      [{}, "invalid_request"],
    ];
    for (const [form, error] of cases) {
      const answer = typeof form === "string"
        ? await server.fetch(new Request(`${origin}/oauth2/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form }))
        : await tokenRequest(server, form);
      expect(answer.status).toBe(400);
      expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
      const body: unknown = await answer.json();
      expect(body).toEqual({ error, error_description: expect.any(String) });
    }
  });

  // Found by this test: some error descriptions use characters RFC 6749 §5.2 does not allow in
  // error_description (%x20-21 / %x23-5B / %x5D-7E: printable ASCII without " and \) — for one,
  // "code_verifier is not 43–128 unreserved characters" has an en dash. A strict client may refuse
  // the answer. Marked failing until the descriptions in runtime/oauth2-server.ts are ASCII.
  it("RFC 6749 §5.2 OAUTH-13 error_description uses only the characters §5.2 allows (printable ASCII without quote and backslash)", async () => {
    const server = await oauthTestServer();
    const answer = await tokenRequest(server, { grant_type: "authorization_code", code: "x", redirect_uri: interopRedirectUri, client_id: interopClient.id, code_verifier: "short" });
    const body: unknown = await answer.json();
    const description = typeof body === "object" && body !== null && "error_description" in body ? body.error_description : null;
    expect(description).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/);
  });

  it("RFC 6749 §5.2 OAUTH-13 an unknown client_id gets 401 invalid_client with WWW-Authenticate, at the token endpoint (both grants) and at revocation", async () => {
    const server = await oauthTestServer();
    const answers = [
      await tokenRequest(server, { grant_type: "authorization_code", code: "x", redirect_uri: interopRedirectUri, client_id: "unknown-client" }),
      await tokenRequest(server, { grant_type: "refresh_token", refresh_token: "x", client_id: "unknown-client" }),
      await tokenRequest(server, { token: "x", client_id: "unknown-client" }, "/oauth2/revoke"),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).not.toBeNull();
      expect(await answer.json()).toEqual({ error: "invalid_client", error_description: expect.any(String) });
    }
  });

  it("RFC 8414 §2 OAUTH-16 the metadata lists exactly what is supported: code only, the two grants, S256 only, no client authentication, iss in responses", async () => {
    const server = await oauthTestServer();
    const answer = await server.fetch(new Request(`${origin}/.well-known/oauth-authorization-server`));
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await answer.json()).toEqual({
      issuer: origin,
      authorization_endpoint: `${origin}/oauth2/authorize`,
      token_endpoint: `${origin}/oauth2/token`,
      revocation_endpoint: `${origin}/oauth2/revoke`,
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      token_endpoint_auth_methods_supported: ["none"],
      revocation_endpoint_auth_methods_supported: ["none"],
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ["MDM"],
    });
  });

  it("RFC 9700 §2.1.2 OAUTH-9 no implicit grant: response_type=token (or code token) is refused back to the client with unsupported_response_type and no token", async () => {
    const server = await oauthTestServer();
    const { enrollment } = await challengedEnrollment(server);
    for (const responseType of ["token", "code token", "id_token"]) {
      const answer = await server.fetch(new Request(authorizationUrl(enrollment, await interopParameters({ response_type: responseType }))));
      expect(answer.status).toBe(303);
      const location = answer.headers.get("location") ?? "";
      expect(new URL(location).searchParams.get("error")).toBe("unsupported_response_type");
      expect(location).not.toMatch(/access_token|#/);
    }
  });

  it("RFC 9700 §2.4 no resource owner password credentials grant: grant_type=password gets unsupported_grant_type even with the right password", async () => {
    const server = await oauthTestServer();
    const answer = await tokenRequest(server, { grant_type: "password", username: bob.userIdentifier, password: bob.password, client_id: interopClient.id, scope: "MDM" });
    expect(answer.status).toBe(400);
    expect(await errorOf(answer)).toBe("unsupported_grant_type");
  });

  it("RFC 9207 §2 RFC 9700 §4.4.2.1 mix-up defense: success and error redirects carry iss equal to the metadata's issuer", async () => {
    const server = await oauthTestServer();
    const metadata: unknown = await (await server.fetch(new Request(`${origin}/.well-known/oauth-authorization-server`))).json();
    const issuer = typeof metadata === "object" && metadata !== null && "issuer" in metadata ? metadata.issuer : null;
    const { location } = await authorizedRedirect(server, await interopParameters());
    expect(location.searchParams.get("code")).not.toBeNull();
    expect(location.searchParams.get("iss")).toBe(issuer);
    const { enrollment } = await challengedEnrollment(server);
    const page = await openSignInPage(server, authorizationUrl(enrollment, appleParameters()));
    const cancelled = new URL((await submitForm(server, { ...page.fields, action: "cancel" })).headers.get("location") ?? "");
    expect(cancelled.searchParams.get("error")).toBe("access_denied");
    expect(cancelled.searchParams.get("iss")).toBe(issuer);
  });
});
