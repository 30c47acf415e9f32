// The OAuth 2 authorization server for devices (public clients): https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-account-driven-enrollment-flow
// RFC 6749 (code and refresh grants), RFC 7636 (PKCE), RFC 7009, RFC 8414, RFC 9207, RFC 9700. The
// decisions are spec/oauth2-authorization-server.ts's and the server machine's (SIGN_IN, TOKEN_REFRESHED,
// TOKEN_INVALIDATED); this file reads requests, keeps codes and refresh-token families, and answers.
import {
  authorizationErrorLocation,
  authorizationFormFields,
  authorizationSuccessLocation,
  buildAuthorizationServerMetadata,
  checkAuthorizationRequest,
  checkCodeRedemption,
  isCodeVerifier,
  maxCodeLifetimeMs,
  oauthErrorAnswer,
  parseTokenRequestForm,
  RevocationRequest,
  serverErrors,
  SignInSubmission,
  type TokenResponse,
  type AuthorizationRedirectError,
  type CheckedAuthorizationRequest,
  type OAuthClient,
  type OAuthErrorCode,
  type ServerErrorCode,
  type TokenRequest,
} from "../spec/index.ts";
import type { ServerContext, ServerEvent } from "../machines/index.ts";
import { runEnrollmentEvent, type OAuth2Endpoints, type ServerHost } from "../generated/server.generated.ts";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { base64url, hashTokenNow, newToken, sha256Bytes, type RandomBytes } from "./crypto.ts";
import { readCapped } from "./capped-body.ts";
import { pageHeaders } from "./sign-in-page.ts";
import type { AuthorizationCodeRecord, OAuthStore, RefreshFamilyRecord } from "./storage/roles.ts";

export interface OAuth2ServerOptions {
  /** The issuer: the server's public base URL (https), without a trailing slash. */
  readonly issuer: string;
  readonly clients: readonly OAuthClient[];
  /** Scopes the metadata lists (the device's scope first). */
  readonly scopes: readonly string[];
  readonly store: OAuthStore;
  readonly accessTokenLifetimeMs: number;
  readonly refreshTokenLifetimeMs: number;
  /** At most 60 s (OAUTH-10). */
  readonly codeLifetimeMs: number;
  readonly random: RandomBytes;
  readonly now: () => number;
  readonly audit?: (event: OAuth2AuditEvent) => void | Promise<void>;
  readonly reportRejected?: (operation: string, reason: { readonly code: string; readonly detail: string }) => void;
}

/** One audit event (runtime/server-host.ts AuditEvent's shape); never a code or a token. */
export interface OAuth2AuditEvent {
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

/** The endpoints, and the way back in for a sign-in an upstream identity provider verified. */
export interface OAuth2Server extends OAuth2Endpoints {
  completeVerifiedSignIn(fields: Readonly<Record<string, string>>, identity: { readonly userIdentifier: string; readonly verifiedBy: string }): Promise<Response>;
  failVerifiedSignIn(fields: Readonly<Record<string, string>>, error: "access_denied" | "temporarily_unavailable", description: string): Promise<Response>;
}

/** Forms are small: a sign-in, a token or a revocation request. */
const formMaxBytes = 16 * 1024;


type FormRead = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly code: "request.too-large" | "request.invalid"; readonly detail: string };

/** A form's fields in order; the token endpoint reads the text itself (parseTokenRequestForm). */
function formPairs(text: string): [string, string][] {
  return [...new URLSearchParams(text)];
}

// Stateless between calls (no streaming): one for all.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An application/x-www-form-urlencoded body, size-limited while it streams (RFC 6749 §3.2). */
async function readForm(request: Request): Promise<FormRead> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return { ok: false, code: "request.invalid", detail: "expected content-type application/x-www-form-urlencoded" };
  const read = await readCapped(request, formMaxBytes);
  if (!read.ok) return read.reason === "too-large" ? { ok: false, code: "request.too-large", detail: `at most ${formMaxBytes} bytes` } : { ok: false, code: "request.invalid", detail: "the body broke off before its end" };
  const bytes = read.bytes ?? new Uint8Array();
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, code: "request.invalid", detail: "the body is not UTF-8" };
  }
  return { ok: true, text };
}

function queryPairs(request: Request): [string, string][] {
  return [...new URL(request.url).searchParams];
}

/**
 * OAUTH-6: 308 to the device's callback scheme (what Apple documents; nothing follows it with a
 * body). To an http(s) redirect URI 303, so that a browser never re-posts the sign-in form's
 * credentials there (RFC 9700 §4.12: 307, and 308 alike, would).
 */
function redirect(location: string): Response {
  const status = /^https?:/i.test(location) ? 303 : 308;
  return new Response(null, { status, headers: { location, "cache-control": "no-store", "referrer-policy": "no-referrer" } });
}

function tokenError(code: OAuthErrorCode, description?: string): Response {
  const answer = oauthErrorAnswer(code, description);
  return new Response(answer.body, { status: answer.status, headers: { ...answer.headers } });
}

/** BASE64URL(SHA-256(verifier)): what an S256 code_challenge is (RFC 7636 §4.2). */
function s256(verifier: string): string {
  // The same computation as a token's hash.
  return hashTokenNow(verifier);
}

// The access token a code stands for is sealed (AES-256-GCM) under a key derived from the code: the
// database holds nothing a reader could use, and only the code's holder can open it. node:crypto,
// synchronous: WebCrypto's queued jobs cost a turn of the event loop each on the token endpoint.
function sealKey(code: string): Buffer {
  return sha256Bytes(`adenroll oauth2 code seal\u0000${code}`);
}

function seal(code: string, token: string, context: string, random: RandomBytes): string {
  const iv = random(12);
  const cipher = createCipheriv("aes-256-gcm", sealKey(code), iv);
  cipher.setAAD(Buffer.from(context, "utf8"));
  const sealed = Buffer.concat([cipher.update(token, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return base64url(Buffer.concat([iv, sealed]));
}

function unseal(code: string, sealed: string, context: string): string | null {
  try {
    const bytes = Buffer.from(sealed, "base64url");
    if (bytes.length < 12 + 16) return null;
    const decipher = createDecipheriv("aes-256-gcm", sealKey(code), bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}

/**
 * The OAuth 2 endpoints over one host. `hostOf` gives the finished host (this server is part of
 * it): the machine runs on the host's enrollments with the host's actors.
 */
export function createOAuth2Server(hostOf: () => ServerHost, options: OAuth2ServerOptions): OAuth2Server {
  const { store, random, now, issuer } = options;
  const codeLifetimeMs = Math.min(options.codeLifetimeMs, maxCodeLifetimeMs);
  const metadata = JSON.stringify(buildAuthorizationServerMetadata(issuer, options.scopes));

  const audit = async (event: OAuth2AuditEvent): Promise<void> => {
    try {
      await options.audit?.(event);
    } catch {
      // The audit sink's failure is the host's to report; the grant's outcome does not depend on it.
    }
  };

  async function errorPage(code: ServerErrorCode, detail: string): Promise<Response> {
    options.reportRejected?.("oauth2Authorize", { code, detail });
    const html = await hostOf().renderErrorPage(code, serverErrors[code].title);
    return new Response(html, { status: serverErrors[code].status, headers: pageHeaders() });
  }

  const redirectError = (e: AuthorizationRedirectError): Response => {
    options.reportRejected?.("oauth2Authorize", { code: e.error, detail: e.description });
    return redirect(authorizationErrorLocation(e, issuer));
  };

  const failFor = (checked: CheckedAuthorizationRequest, error: AuthorizationRedirectError["error"], description: string): Response =>
    redirectError({ kind: "redirect", ruleId: "OAUTH-9", redirectUri: checked.redirectUri, state: checked.state, error, description });

  /** The page's form may end in a redirect to the client (browsers apply form-action to it). */
  function formActionSource(redirectUri: string): string[] {
    const url = URL.parse(redirectUri);
    if (url === null) return [];
    return [url.protocol === "http:" || url.protocol === "https:" ? url.origin : url.protocol];
  }

  async function signInPage(enrollment: ServerContext, checked: CheckedAuthorizationRequest, userIdentifier: string | null, failed: boolean): Promise<Response> {
    const html = await hostOf().renderSignInPage(enrollment, {
      userIdentifier,
      failed,
      now: now(),
      form: { action: `${issuer}/oauth2/authorize`, fields: authorizationFormFields(checked) },
    });
    return new Response(html, { status: failed ? 401 : 200, headers: pageHeaders(formActionSource(checked.redirectUri)) });
  }

  /** The parts of the authorization request common to the page and the form (OAUTH-8, -9, -11). */
  function checkRequest(pairs: readonly (readonly [string, string])[]): { readonly ok: true; readonly checked: CheckedAuthorizationRequest & { readonly enrollmentRef: string } } | { readonly ok: false; readonly response: Promise<Response> | Response } {
    const checked = checkAuthorizationRequest(pairs, options.clients);
    if (!checked.ok) {
      const e = checked.error;
      return { ok: false, response: e.kind === "page" ? errorPage("oauth2.invalid-authorization-request", e.detail) : redirectError(e) };
    }
    const ref = checked.value.enrollmentRef;
    // Our authorization-url names the enrollment; a request without it did not come from a 401 of ours.
    if (ref === null) return { ok: false, response: failFor(checked.value, "invalid_request", "the authorization request names no enrollment (use the authorization-url of the 401)") };
    return { ok: true, checked: { ...checked.value, enrollmentRef: ref } };
  }

  async function run(ref: string, event: ServerEvent): Promise<ServerContext | null> {
    return runEnrollmentEvent(hostOf(), { by: "id", id: ref }, event);
  }

  async function authorize(request: Request): Promise<Response> {
    const read = checkRequest(queryPairs(request));
    if (!read.ok) return read.response;
    const { checked } = read;
    const enrollment = await run(checked.enrollmentRef, { type: "SIGN_IN_PAGE" });
    if (enrollment === null) return failFor(checked, "invalid_request", "this sign-in link is not known or has expired");
    const reply = enrollment.reply;
    if (reply?.kind !== "sign-in-form") return failFor(checked, "invalid_request", "this enrollment is not waiting for a sign-in");
    return signInPage(enrollment, checked, checked.loginHint, false);
  }

  async function authorizeSubmit(request: Request): Promise<Response> {
    const form = await readForm(request);
    if (!form.ok) return errorPage(form.code, form.detail);
    const pairs = formPairs(form.text);
    const read = checkRequest(pairs);
    if (!read.ok) return read.response;
    const { checked } = read;
    const fields: Record<string, string> = {};
    for (const [name, value] of pairs) if ((name === "csrf" || name === "action" || name === "username" || name === "password") && !(name in fields)) fields[name] = value;
    const submission = SignInSubmission.safeParse(fields);
    if (!submission.success) return errorPage("request.invalid", "the sign-in form is incomplete");
    const at = now();
    const csrfValid = await hostOf().checkSignInCsrf(checked.enrollmentRef, submission.data.csrf, at);
    if (submission.data.action === "cancel") {
      const enrollment = await run(checked.enrollmentRef, { type: "SIGN_IN_CANCEL", csrfValid });
      if (enrollment === null) return failFor(checked, "invalid_request", "this sign-in link is not known or has expired");
      const reply = enrollment.reply;
      if (reply?.kind === "error" && reply.code === "sign-in.forged") return errorPage("sign-in.forged", "the form's anti-CSRF token is not valid");
      // OAUTH-9: the person's Cancel goes back to the client as access_denied.
      return failFor(checked, "access_denied", "the person cancelled the sign-in");
    }
    return signIn(checked, { username: submission.data.username, password: submission.data.password, csrfValid });
  }

  /**
   * The SIGN_IN of an authorization request, and its answer: the code (OAUTH-6), the form again, or
   * an error. `verifiedBy`: the identity was verified upstream (an OpenID Connect provider) already.
   */
  async function signIn(
    checked: CheckedAuthorizationRequest & { readonly enrollmentRef: string },
    credentials: { readonly username: string; readonly password: string; readonly csrfValid: boolean; readonly verifiedBy?: string },
  ): Promise<Response> {
    const at = now();
    const { username, csrfValid } = credentials;
    const accessToken = newToken(random);
    const accessTokenHash = hashTokenNow(accessToken);
    const accessTokenExpiresAt = at + options.accessTokenLifetimeMs;
    const enrollment = await run(checked.enrollmentRef, {
      type: "SIGN_IN",
      username,
      password: credentials.password,
      issuedToken: { hash: accessTokenHash, expiresAt: accessTokenExpiresAt },
      csrfValid,
      ...(credentials.verifiedBy === undefined ? {} : { verifiedBy: credentials.verifiedBy }),
    });
    if (enrollment === null) return failFor(checked, "invalid_request", "this sign-in link is not known or has expired");
    const reply = enrollment.reply;
    if (reply?.kind === "sign-in-form") return signInPage(enrollment, checked, username, true);
    if (reply?.kind === "error") {
      if (reply.code === "sign-in.forged") return errorPage("sign-in.forged", "the form's anti-CSRF token is not valid");
      if (reply.code === "sign-in.throttled") return failFor(checked, "access_denied", "too many failed sign-in attempts; try again later");
      return failFor(checked, "invalid_request", "this enrollment is not waiting for a sign-in");
    }
    if (reply?.kind !== "authentication-result" || enrollment.userIdentifier === null) return failFor(checked, "server_error", "the sign-in ended without a result");
    // OAUTH-6, OAUTH-10: a single-use code for the token the machine now holds.
    const code = newToken(random);
    const codeHash = await hostOf().hashToken(code);
    const record: AuthorizationCodeRecord = {
      codeHash,
      enrollmentRef: checked.enrollmentRef,
      clientId: checked.client.id,
      redirectUri: checked.redirectUri,
      scope: checked.scope,
      codeChallenge: checked.codeChallenge,
      userIdentifier: enrollment.userIdentifier,
      sealedAccessToken: seal(code, accessToken, codeHash, random),
      accessTokenHash,
      accessTokenExpiresAt,
      createdAt: at,
      expiresAt: at + codeLifetimeMs,
      redeemedAt: null,
    };
    await store.putCode(record);
    await audit({ actor: enrollment.userIdentifier, action: "oauth2.code-issued", subject: checked.enrollmentRef, detail: { clientId: checked.client.id, pkce: checked.codeChallenge !== null } });
    return redirect(authorizationSuccessLocation({ redirectUri: checked.redirectUri, code, state: checked.state, issuer }));
  }

  /** Revokes a family and the access token it last issued, if the enrollment still has it (OAUTH-10, -12, -15). */
  async function revokeFamily(family: RefreshFamilyRecord, reason: string): Promise<void> {
    await store.revokeFamily(family.familyId, now());
    await run(family.enrollmentRef, { type: "TOKEN_INVALIDATED", tokenHash: family.accessTokenHash });
    await audit({ actor: "system", action: "oauth2.family-revoked", subject: family.enrollmentRef, detail: { clientId: family.clientId, reason } });
  }

  function tokenAnswer(body: { accessToken: string; expiresAt: number; refreshToken: string; scope: string | null }): Response {
    // OAUTH-7: built here to the TokenResponse type (the compiler checks it); OAUTH-13: never cached.
    const answer: TokenResponse = {
      access_token: body.accessToken,
      token_type: "Bearer",
      expires_in: Math.max(1, Math.floor((body.expiresAt - now()) / 1000)),
      refresh_token: body.refreshToken,
      ...(body.scope === null ? {} : { scope: body.scope }),
    };
    return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache" } });
  }

  async function authorizationCodeGrant(request: Extract<TokenRequest, { grant_type: "authorization_code" }>): Promise<Response> {
    if (!options.clients.some((c) => c.id === request.client_id)) return tokenError("oauth2.invalid-client", "client_id names no registered client");
    if (request.code_verifier !== undefined && !isCodeVerifier(request.code_verifier)) return tokenError("oauth2.invalid-request", "code_verifier is not 43 to 128 unreserved characters");
    const at = now();
    const codeHash = hashTokenNow(request.code);
    const redeemed = await store.redeemCode(codeHash, at);
    if (redeemed === null) return tokenError("oauth2.invalid-grant", "the authorization code is not known");
    const { code } = redeemed;
    if (redeemed.status === "replayed") {
      // OAUTH-10: a code presented twice was stolen or leaked: whatever it gave is taken back.
      const family = await store.revokeFamilyOfCode(codeHash, at);
      await run(code.enrollmentRef, { type: "TOKEN_INVALIDATED", tokenHash: family?.accessTokenHash ?? code.accessTokenHash });
      await audit({ actor: "system", action: "oauth2.code-replayed", subject: code.enrollmentRef, detail: { clientId: code.clientId } });
      return tokenError("oauth2.invalid-grant", "the authorization code was used already");
    }
    const verifierChallenge = request.code_verifier === undefined ? null : s256(request.code_verifier);
    const checked = checkCodeRedemption(code, { clientId: request.client_id, redirectUri: request.redirect_uri, verifierChallenge }, at);
    if (!checked.ok) return tokenError(checked.error.code, checked.error.detail);
    const accessToken = unseal(request.code, code.sealedAccessToken, codeHash);
    if (accessToken === null) return tokenError("oauth2.invalid-grant", "the authorization code cannot be opened");
    const refreshToken = newToken(random);
    const family: RefreshFamilyRecord = {
      familyId: newToken(random),
      enrollmentRef: code.enrollmentRef,
      clientId: code.clientId,
      userIdentifier: code.userIdentifier,
      scope: code.scope,
      codeHash,
      accessTokenHash: code.accessTokenHash,
      createdAt: at,
      expiresAt: at + options.refreshTokenLifetimeMs,
      revokedAt: null,
    };
    await store.createFamily(family, hashTokenNow(refreshToken));
    await audit({ actor: code.userIdentifier, action: "oauth2.token-issued", subject: code.enrollmentRef, detail: { clientId: code.clientId, grant: "authorization_code" } });
    return tokenAnswer({ accessToken, expiresAt: code.accessTokenExpiresAt, refreshToken, scope: code.scope });
  }

  async function refreshTokenGrant(request: Extract<TokenRequest, { grant_type: "refresh_token" }>): Promise<Response> {
    if (request.client_id !== undefined && !options.clients.some((c) => c.id === request.client_id)) return tokenError("oauth2.invalid-client", "client_id names no registered client");
    const at = now();
    const usedHash = hashTokenNow(request.refresh_token);
    const found = await store.findRefreshToken(usedHash);
    if (found === null) return tokenError("oauth2.invalid-grant", "the refresh token is not known");
    const { family } = found;
    if (request.client_id !== undefined && request.client_id !== family.clientId) return tokenError("oauth2.invalid-grant", "the refresh token was issued to another client");
    if (family.revokedAt !== null) return tokenError("oauth2.invalid-grant", "the refresh token was revoked");
    if (found.used) {
      // OAUTH-12: a rotated refresh token came back — one of its two holders is not the device.
      await revokeFamily(family, "refresh token reused");
      return tokenError("oauth2.invalid-grant", "the refresh token was used already");
    }
    if (at >= family.expiresAt) return tokenError("oauth2.invalid-grant", "the refresh token has expired");
    const accessToken = newToken(random);
    const accessTokenHash = hashTokenNow(accessToken);
    const accessTokenExpiresAt = at + options.accessTokenLifetimeMs;
    const refreshToken = newToken(random);
    const rotated = await store.rotateRefreshToken(usedHash, { refreshTokenHash: hashTokenNow(refreshToken), accessTokenHash, expiresAt: at + options.refreshTokenLifetimeMs }, at);
    if (!rotated) {
      // Another request rotated the same token first: the same reuse, seen from the other side.
      await revokeFamily(family, "refresh token reused concurrently");
      return tokenError("oauth2.invalid-grant", "the refresh token was used already");
    }
    // OAUTH-14: the machine puts the new token in place of the family's last one — or refuses.
    const enrollment = await run(family.enrollmentRef, { type: "TOKEN_REFRESHED", issuedToken: { hash: accessTokenHash, expiresAt: accessTokenExpiresAt }, previousTokenHash: family.accessTokenHash });
    if (enrollment === null || enrollment.reply?.kind !== "acknowledged") {
      await store.revokeFamily(family.familyId, at);
      await audit({ actor: "system", action: "oauth2.refresh-refused", subject: family.enrollmentRef, detail: { clientId: family.clientId } });
      return tokenError("oauth2.invalid-grant", "the enrollment's token was revoked or replaced; sign in again");
    }
    await audit({ actor: family.userIdentifier, action: "oauth2.token-issued", subject: family.enrollmentRef, detail: { clientId: family.clientId, grant: "refresh_token" } });
    return tokenAnswer({ accessToken, expiresAt: accessTokenExpiresAt, refreshToken, scope: family.scope });
  }

  async function token(request: Request): Promise<Response> {
    const form = await readForm(request);
    if (!form.ok) return tokenError("oauth2.invalid-request", form.detail);
    const parsed = parseTokenRequestForm(form.text);
    if (!parsed.ok) return tokenError(parsed.error.error === "unsupported_grant_type" ? "oauth2.unsupported-grant-type" : "oauth2.invalid-request", parsed.error.detail);
    return parsed.value.grant_type === "authorization_code" ? authorizationCodeGrant(parsed.value) : refreshTokenGrant(parsed.value);
  }

  async function revoke(request: Request): Promise<Response> {
    const form = await readForm(request);
    if (!form.ok) return tokenError("oauth2.invalid-request", form.detail);
    const fields: Record<string, string> = {};
    for (const [name, value] of formPairs(form.text)) {
      if (name in fields) return tokenError("oauth2.invalid-request", `${name} is repeated`);
      if (value !== "") fields[name] = value;
    }
    const parsed = RevocationRequest.safeParse(fields);
    if (!parsed.success) return tokenError("oauth2.invalid-request", "token is missing");
    const clientId = parsed.data.client_id;
    if (clientId !== undefined && !options.clients.some((c) => c.id === clientId)) return tokenError("oauth2.invalid-client", "client_id names no registered client");
    const hash = await hostOf().hashToken(parsed.data.token);
    const ok = new Response(null, { status: 200, headers: { "cache-control": "no-store" } });
    // OAUTH-15: a refresh token takes its family with it; an access token just stops working.
    const refresh = parsed.data.token_type_hint === "access_token" ? null : await store.findRefreshToken(hash);
    if (refresh !== null) {
      if (clientId !== undefined && clientId !== refresh.family.clientId) return tokenError("oauth2.unauthorized-client", "the token was issued to another client");
      if (refresh.family.revokedAt === null) await revokeFamily(refresh.family, "revoked (RFC 7009)");
      return ok;
    }
    const family = await store.findFamilyByAccessToken(hash);
    if (family !== null && clientId !== undefined && clientId !== family.clientId) return tokenError("oauth2.unauthorized-client", "the token was issued to another client");
    const enrollment = await runEnrollmentEvent(hostOf(), { by: "token-hash", tokenHash: hash }, { type: "TOKEN_INVALIDATED", tokenHash: hash });
    if (enrollment !== null) await audit({ actor: "system", action: "oauth2.access-token-revoked", subject: enrollment.id, detail: {} });
    return ok;
  }

  /** Finishes an authorization request whose person an upstream identity provider verified (its parameters as the sign-in form carried them). */
  async function completeVerifiedSignIn(fields: Readonly<Record<string, string>>, identity: { readonly userIdentifier: string; readonly verifiedBy: string }): Promise<Response> {
    const read = checkRequest(Object.entries(fields));
    if (!read.ok) return read.response;
    return signIn(read.checked, { username: identity.userIdentifier, password: "", csrfValid: true, verifiedBy: identity.verifiedBy });
  }

  /** OAUTH-9: an authorization whose upstream sign-in was refused or failed goes back to the client with an error and its state. */
  async function failVerifiedSignIn(fields: Readonly<Record<string, string>>, error: "access_denied" | "temporarily_unavailable", description: string): Promise<Response> {
    const read = checkRequest(Object.entries(fields));
    if (!read.ok) return read.response;
    return failFor(read.checked, error, description);
  }

  return {
    completeVerifiedSignIn,
    failVerifiedSignIn,
    authorize,
    authorizeSubmit,
    token,
    revoke,
    async metadata() {
      return new Response(metadata, { status: 200, headers: { "content-type": "application/json", "cache-control": "max-age=300" } });
    },
  };
}
