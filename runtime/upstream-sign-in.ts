// Sign-in through an external OpenID Connect provider (the "upstream"), for both sign-in methods:
// the sign-in page links to /authenticate/upstream/start, which sends the person to the provider
// (authorization code + PKCE S256 + state + nonce, login_hint = the identifier the device sent);
// the provider comes back to /authenticate/upstream/callback, where openid-client redeems the code
// (issuer, audience, nonce, PKCE and ID token signature checks are its job), the configured claim is
// compared with the identifier the device sent, and the sign-in is finished as the password form
// would (simple: 308 to the callback scheme with an access token; OAuth 2: the authorization code).
//
// The pending sign-in lives in the person's browser only: a cookie sealed with AES-GCM under a key
// derived from the host's secret (instances behind one name share it), HttpOnly, SameSite=Lax,
// Secure (and __Host-) on https, and short-lived. Nothing is stored server-side.
import * as oidc from "openid-client";
import { z } from "zod";
import { buildAuthenticationResultUrl, isManagedAppleID, serverErrors, splitUserIdentifier, type ServerErrorCode } from "../spec/index.ts";
import { runEnrollmentEvent, type ServerHost } from "../generated/server.generated.ts";
import { base64url, constantTimeEqual, newToken, type RandomBytes } from "./crypto.ts";
import { pageHeaders } from "./sign-in-page.ts";

/** An audit event, as runtime/server-host.ts's AuditEvent (not imported: server-host imports this file). */
export interface UpstreamAuditEvent {
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

/** One OpenID Connect provider the sign-in can be handed to (config: `identityProvider`). */
export interface IdentityProviderSettings {
  /** The provider's issuer identifier: https, or http on a loopback address (tests). */
  readonly issuer: string;
  readonly clientId: string;
  /** Absent: a public client (PKCE only). */
  readonly clientSecret?: string;
  /** Space-separated; must include openid. Default "openid email". */
  readonly scopes?: string;
  /** The claim that holds the user identifier (default "email"). */
  readonly userClaim?: string;
  /** The claim that holds the Managed Apple Account; absent: the directory's. */
  readonly managedAppleIdClaim?: string;
  /** Whether the page still offers the password form (default false: only the provider). */
  readonly passwordSignIn?: boolean;
  /** The button reads "Continue with <name>" (default: the issuer's host name). */
  readonly name?: string;
}

/** What a configured provider resolves to: defaults filled in. */
export interface ResolvedIdentityProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly scopes: string;
  readonly userClaim: string;
  readonly managedAppleIdClaim: string | undefined;
  readonly passwordSignIn: boolean;
  readonly name: string;
}

export const upstreamStartPath = "/authenticate/upstream/start";
export const upstreamCallbackPath = "/authenticate/upstream/callback";

const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** Why a provider's settings cannot be used (empty: they can). */
export function identityProviderProblems(settings: IdentityProviderSettings): string[] {
  const problems: string[] = [];
  const url = URL.parse(settings.issuer);
  if (url === null) problems.push("issuer: expected an absolute URL");
  else {
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackHosts.has(url.hostname))) problems.push("issuer: expected https (http only on a loopback address, for tests)");
    if (url.search !== "" || url.hash !== "") problems.push("issuer: expected no query or fragment");
    if (url.username !== "" || url.password !== "") problems.push("issuer: expected no user name or password in the URL");
  }
  if (!/^[\x21-\x7e]{1,200}$/.test(settings.clientId)) problems.push("clientId: expected 1–200 printable characters without spaces");
  if (settings.clientSecret !== undefined && settings.clientSecret.length === 0) problems.push("clientSecret: expected a non-empty secret, or none for a public client");
  const scopes = (settings.scopes ?? "openid email").split(" ").filter((s) => s !== "");
  if (!scopes.includes("openid")) problems.push('scopes: expected "openid" among them');
  if (scopes.some((s) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) problems.push("scopes: expected space-separated scope tokens (RFC 6749 §3.3)");
  for (const key of ["userClaim", "managedAppleIdClaim"] as const) {
    const claim = settings[key];
    if (claim !== undefined && !/^[A-Za-z0-9_.:-]{1,100}$/.test(claim)) problems.push(`${key}: expected a claim name`);
  }
  return problems;
}

/** Checks and fills in the defaults; throws with every problem. */
export function resolveIdentityProvider(settings: IdentityProviderSettings, where = "identityProvider"): ResolvedIdentityProvider {
  const problems = identityProviderProblems(settings);
  if (problems.length > 0) throw new Error(`${where}: ${problems.join("; ")}`);
  const issuer = settings.issuer;
  return {
    issuer,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    scopes: (settings.scopes ?? "openid email").split(" ").filter((s) => s !== "").join(" "),
    userClaim: settings.userClaim ?? "email",
    managedAppleIdClaim: settings.managedAppleIdClaim,
    passwordSignIn: settings.passwordSignIn ?? false,
    name: settings.name ?? new URL(issuer).hostname,
  };
}

/**
 * Identities the upstream sign-in verified, for the SIGN_IN it is sending right now: the host's
 * verifyCredentials accepts a `verifiedBy` sign-in only when it is here (and takes the Managed
 * Apple Account the provider named, if configured). In process and per request: safe with several
 * instances.
 */
export class VerifiedIdentities {
  readonly #entries = new Map<string, { readonly managedAppleId: string | null }>();
  static key(enrollmentRef: string, userIdentifier: string, issuer: string): string {
    return `${enrollmentRef}\u0000${userIdentifier.toLowerCase()}\u0000${issuer}`;
  }
  /** Holds the identity while `run` runs. */
  async during<T>(key: string, value: { readonly managedAppleId: string | null }, run: () => Promise<T>): Promise<T> {
    this.#entries.set(key, value);
    try {
      return await run();
    } finally {
      this.#entries.delete(key);
    }
  }
  get(key: string): { readonly managedAppleId: string | null } | undefined {
    return this.#entries.get(key);
  }
}

export interface UpstreamSignInOptions {
  /** The server's public base URL, without a trailing slash: the callback is under it. */
  readonly baseUrl: string;
  /** The host's secret: the cookie key is derived from it. */
  readonly secret: Uint8Array;
  /** Every configured provider (the cookie names one by issuer and client). */
  readonly providers: readonly ResolvedIdentityProvider[];
  /** The provider of the organization a user identifier belongs to. */
  providerFor(userIdentifier: string | null): ResolvedIdentityProvider | undefined;
  /** The finished host (this sign-in is part of it). */
  hostOf(): ServerHost;
  /** The OAuth 2 server's way back in for an authorization request whose person was verified here. */
  readonly completeOAuth?: (fields: Readonly<Record<string, string>>, identity: { readonly userIdentifier: string; readonly verifiedBy: string }) => Promise<Response>;
  /** Sends a refused or failed OAuth 2 authorization back to its client (OAUTH-9: access_denied, or temporarily_unavailable). */
  readonly failOAuth?: (fields: Readonly<Record<string, string>>, error: "access_denied" | "temporarily_unavailable", description: string) => Promise<Response>;
  readonly verified: VerifiedIdentities;
  readonly random: RandomBytes;
  readonly now: () => number;
  readonly audit: (event: UpstreamAuditEvent) => Promise<void>;
  /** How long the person has at the provider (default 10 minutes). */
  readonly pendingLifetimeMs?: number;
  /** The HTTP client for the provider (default: the platform's fetch). */
  readonly fetch?: (request: Request) => Promise<Response>;
  readonly reportRejected?: (operation: string, reason: { readonly code: string; readonly detail: string }) => void;
  readonly reportError?: (error: unknown) => void;
}

export interface UpstreamSignIn {
  /** The URL a sign-in page links to: `authorization` is the OAuth 2 request the page carries (absent: simple). */
  startUrl(p: { readonly enrollmentRef: string; readonly csrf: string; readonly userIdentifier: string | null; readonly authorization?: Readonly<Record<string, string>> }): string;
  /** Answers GET /authenticate/upstream/start and /authenticate/upstream/callback; anything else: 404. */
  fetch(request: Request): Promise<Response>;
}


/** The pending sign-in, as sealed in the cookie. */
const Pending = z.strictObject({
  v: z.literal(1),
  ref: z.string().min(1).max(200),
  /** The identifier the device sent, normalised: the provider's identity must be this one. */
  identifier: z.string().min(3).max(320),
  issuer: z.string().max(2048),
  clientId: z.string().max(200),
  state: z.string().min(43).max(64),
  nonce: z.string().min(43).max(64),
  verifier: z.string().min(43).max(128),
  expiresAt: z.number().int(),
  /** The OAuth 2 authorization request the page carried (absent: simple web authentication). */
  authorization: z.record(z.string().max(64), z.string().max(2048)).optional(),
});
type Pending = z.infer<typeof Pending>;

const StartQuery = z.strictObject({
  enrollment: z.string().min(1).max(200),
  csrf: z.string().min(1).max(200),
  "user-identifier": z.string().max(320).optional(),
  authorization: z.string().max(4096).optional(),
});

const CallbackQuery = z.object({ state: z.string().max(200).optional(), error: z.string().max(200).optional() });

/** Lower-case and trimmed: how identifiers are compared. */
export function normaliseIdentifier(value: string): string {
  return value.trim().toLowerCase();
}

class Refusal extends Error {
  constructor(
    readonly code: ServerErrorCode,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export function createUpstreamSignIn(options: UpstreamSignInOptions): UpstreamSignIn {
  const { baseUrl, random, now } = options;
  const https = baseUrl.toLowerCase().startsWith("https://");
  // __Host-: Secure, Path=/, no Domain — no sibling host can set or overwrite it.
  const cookieName = https ? "__Host-adenroll-upstream" : "adenroll-upstream";
  const cookieAttributes = `Path=/; HttpOnly; SameSite=Lax${https ? "; Secure" : ""}`;
  const lifetimeMs = options.pendingLifetimeMs ?? 10 * 60_000;
  const callbackUrl = `${baseUrl}${upstreamCallbackPath}`;
  const key = deriveCookieKey(options.secret);
  const aad = new TextEncoder().encode(`${cookieName}|v1`);
  const configurations = new Map<string, Promise<oidc.Configuration>>();

  const providerKey = (p: { readonly issuer: string; readonly clientId: string }): string => `${p.issuer}\u0000${p.clientId}`;
  const byKey = new Map(options.providers.map((p) => [providerKey(p), p]));

  /** The provider's metadata, discovered once (again after a failure). */
  function configurationOf(provider: ResolvedIdentityProvider): Promise<oidc.Configuration> {
    const k = providerKey(provider);
    const cached = configurations.get(k);
    if (cached !== undefined) return cached;
    const insecure = new URL(provider.issuer).protocol === "http:";
    const clientAuth = provider.clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(provider.clientSecret);
    const discovered = oidc
      .discovery(new URL(provider.issuer), provider.clientId, undefined, clientAuth, {
        // http only for a loopback issuer (identityProviderProblems refuses any other).
        execute: [...(insecure ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks],
        timeout: 10,
        ...(options.fetch === undefined ? {} : { [oidc.customFetch]: wrapFetch(options.fetch) }),
      })
      .catch((error: unknown) => {
        configurations.delete(k);
        throw error;
      });
    configurations.set(k, discovered);
    return discovered;
  }

  async function seal(pending: Pending): Promise<string> {
    const iv = random(12);
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: iv.slice(), additionalData: aad }, await key, new TextEncoder().encode(JSON.stringify(pending))));
    const out = new Uint8Array(iv.length + sealed.length);
    out.set(iv, 0);
    out.set(sealed, iv.length);
    return base64url(out);
  }

  async function unseal(value: string): Promise<Pending | null> {
    if (!/^[A-Za-z0-9_-]{40,6000}$/.test(value)) return null;
    try {
      const bytes = Uint8Array.from(atob(value.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: aad }, await key, bytes.slice(12));
      const parsed = Pending.safeParse(JSON.parse(new TextDecoder().decode(plain)));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  const clearCookie = `${cookieName}=; ${cookieAttributes}; Max-Age=0`;

  async function errorPage(code: ServerErrorCode, detail: string, operation: string, clear: boolean): Promise<Response> {
    options.reportRejected?.(operation, { code, detail });
    const html = await options.hostOf().renderErrorPage(code, serverErrors[code].title);
    return new Response(html, { status: serverErrors[code].status, headers: { ...pageHeaders(), ...(clear ? { "set-cookie": clearCookie } : {}) } });
  }

  function startUrl(p: { readonly enrollmentRef: string; readonly csrf: string; readonly userIdentifier: string | null; readonly authorization?: Readonly<Record<string, string>> }): string {
    const query = new URLSearchParams({ enrollment: p.enrollmentRef, csrf: p.csrf });
    if (p.userIdentifier !== null) query.set("user-identifier", p.userIdentifier);
    if (p.authorization !== undefined) query.set("authorization", new URLSearchParams(Object.entries(p.authorization)).toString());
    return `${baseUrl}${upstreamStartPath}?${query.toString()}`;
  }

  async function start(request: Request): Promise<Response> {
    const operation = "upstreamStart";
    const url = new URL(request.url);
    const pairs = [...url.searchParams];
    if (new Set(pairs.map(([name]) => name)).size !== pairs.length) return errorPage("request.invalid", "a parameter is repeated", operation, false);
    const query = StartQuery.safeParse(Object.fromEntries(pairs));
    if (!query.success) return errorPage("request.invalid", "the start link is incomplete", operation, false);
    const ref = query.data.enrollment;
    const at = now();
    if (!(await options.hostOf().checkSignInCsrf(ref, query.data.csrf, at))) return errorPage("sign-in.forged", "the start link's anti-CSRF token is not valid", operation, false);
    let authorization: Record<string, string> | undefined;
    if (query.data.authorization !== undefined) {
      const fields = [...new URLSearchParams(query.data.authorization)];
      authorization = Object.fromEntries(fields);
      if (options.completeOAuth === undefined || Object.keys(authorization).length !== fields.length || authorization["enrollment"] !== ref) {
        return errorPage("request.invalid", "the start link's authorization request is not one this server can finish", operation, false);
      }
    }
    // The identifier the device sent: user-identifier (simple), login_hint (OAuth 2).
    const sent = authorization === undefined ? query.data["user-identifier"] : authorization["login_hint"];
    const identifier = sent === undefined ? "" : normaliseIdentifier(sent);
    if (!splitUserIdentifier(identifier).ok) return errorPage("request.invalid", "the device sent no user identifier to compare the provider's identity with", operation, false);
    const provider = options.providerFor(identifier);
    if (provider === undefined) return errorPage("request.invalid", "no identity provider signs in this account", operation, false);
    // The enrollment must be waiting for a sign-in before the person is sent away.
    const enrollment = await runEnrollmentEvent(options.hostOf(), { by: "id", id: ref }, { type: "SIGN_IN_PAGE" });
    if (enrollment === null) return errorPage("sign-in.unknown", "no such enrollment", operation, false);
    if (enrollment.reply?.kind !== "sign-in-form") return errorPage("sign-in.not-expected", "the enrollment is not waiting for a sign-in", operation, false);
    let configuration: oidc.Configuration;
    try {
      configuration = await configurationOf(provider);
    } catch (error) {
      options.reportError?.(error);
      return errorPage("sign-in.upstream-unavailable", `discovery of ${provider.issuer} failed: ${describe(error)}`, operation, false);
    }
    const pending: Pending = {
      v: 1,
      ref,
      identifier,
      issuer: provider.issuer,
      clientId: provider.clientId,
      state: newToken(random),
      nonce: newToken(random),
      verifier: newToken(random),
      expiresAt: at + lifetimeMs,
      ...(authorization === undefined ? {} : { authorization }),
    };
    const location = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: callbackUrl,
      scope: provider.scopes,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: "S256",
      login_hint: identifier,
    });
    const cookie = `${cookieName}=${await seal(pending)}; ${cookieAttributes}; Max-Age=${Math.floor(lifetimeMs / 1000)}`;
    return new Response(null, { status: 303, headers: { location: location.href, "set-cookie": cookie, "cache-control": "no-store", "referrer-policy": "no-referrer" } });
  }

  /** The claim as a string, from the ID token or else the UserInfo endpoint. */
  async function claimOf(configuration: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, name: string, userInfo: { value: oidc.UserInfoResponse | undefined }): Promise<unknown> {
    const idToken = tokens.claims();
    if (idToken === undefined) throw new Refusal("sign-in.upstream-invalid", "the provider returned no ID token");
    if (name in idToken) return idToken[name];
    if (userInfo.value === undefined) userInfo.value = await oidc.fetchUserInfo(configuration, tokens.access_token, idToken.sub);
    return userInfo.value[name];
  }

  async function callback(request: Request): Promise<Response> {
    const operation = "upstreamCallback";
    const url = new URL(request.url);
    const sealed = cookieValue(request.headers.get("cookie"), cookieName);
    const pending = sealed === undefined ? null : await unseal(sealed);
    if (pending === null) return errorPage("sign-in.upstream-invalid", sealed === undefined ? "no pending sign-in in this browser" : "the pending sign-in cookie is not ours", operation, true);
    if (now() >= pending.expiresAt) return errorPage("sign-in.upstream-invalid", "the pending sign-in expired", operation, true);
    const query = CallbackQuery.safeParse(Object.fromEntries(url.searchParams));
    const state = query.success ? query.data.state : undefined;
    const utf8 = new TextEncoder();
    if (state === undefined || !constantTimeEqual(utf8.encode(state), utf8.encode(pending.state))) return errorPage("sign-in.upstream-invalid", "the state does not match this browser's pending sign-in", operation, true);
    // From here the pending sign-in is this browser's own: an OAuth 2 authorization it belongs to
    // hears of a refusal through its redirect URI (OAUTH-9), as the device expects, not a page.
    const refuse = async (code: ServerErrorCode, detail: string, error: "access_denied" | "temporarily_unavailable" = "access_denied"): Promise<Response> => {
      if (pending.authorization === undefined || options.failOAuth === undefined) return errorPage(code, detail, operation, true);
      options.reportRejected?.(operation, { code, detail });
      const response = await options.failOAuth(pending.authorization, error, serverErrors[code].title);
      const headers = new Headers(response.headers);
      headers.append("set-cookie", clearCookie);
      return new Response(response.body, { status: response.status, headers });
    };
    if (query.success && query.data.error !== undefined) return refuse("sign-in.upstream-invalid", `the provider answered ${query.data.error}`);
    const provider = byKey.get(providerKey(pending));
    if (provider === undefined || options.providerFor(pending.identifier) !== provider) return refuse("sign-in.upstream-invalid", "the pending sign-in names a provider that no longer signs in this account");

    let identity: { readonly userIdentifier: string; readonly managedAppleId: string | null };
    try {
      const configuration = await configurationOf(provider);
      // Redeemed at the URL the provider was given (the public one, whatever proxy is in front).
      const current = new URL(`${callbackUrl}${url.search}`);
      const tokens = await oidc.authorizationCodeGrant(configuration, current, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true });
      const userInfo: { value: oidc.UserInfoResponse | undefined } = { value: undefined };
      const claimed = await claimOf(configuration, tokens, provider.userClaim, userInfo);
      if (typeof claimed !== "string") throw new Refusal("sign-in.upstream-invalid", `the provider's answer has no ${provider.userClaim} claim`);
      // An e-mail address the provider says it has not verified is nobody's identity.
      if (provider.userClaim === "email") {
        const verified = await claimOf(configuration, tokens, "email_verified", userInfo);
        if (verified !== undefined && verified !== true) throw new Refusal("sign-in.upstream-invalid", "the provider has not verified this e-mail address");
      }
      const userIdentifier = normaliseIdentifier(claimed);
      if (userIdentifier !== pending.identifier) {
        await options.audit({
          actor: pending.identifier,
          action: "sign-in.failed",
          subject: pending.ref,
          detail: { reason: "the identity provider signed in another account", verifiedBy: provider.issuer, signedInAs: userIdentifier.slice(0, 320) },
        });
        throw new Refusal("sign-in.identity-mismatch", "the provider's identity is not the identifier the device sent");
      }
      let managedAppleId: string | null = null;
      if (provider.managedAppleIdClaim !== undefined) {
        const value = await claimOf(configuration, tokens, provider.managedAppleIdClaim, userInfo);
        if (typeof value !== "string" || !isManagedAppleID(value.trim())) throw new Refusal("sign-in.upstream-invalid", `the provider's ${provider.managedAppleIdClaim} claim is not a Managed Apple Account`);
        managedAppleId = value.trim();
      }
      identity = { userIdentifier, managedAppleId };
    } catch (error) {
      if (error instanceof Refusal) return refuse(error.code, error.detail);
      // A provider that cannot be reached is not the person's fault; anything else is a refused answer.
      const unreachable = error instanceof TypeError || (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError"));
      if (unreachable) options.reportError?.(error);
      return unreachable ? refuse("sign-in.upstream-unavailable", describe(error), "temporarily_unavailable") : refuse("sign-in.upstream-invalid", describe(error));
    }

    const verifiedKey = VerifiedIdentities.key(pending.ref, identity.userIdentifier, provider.issuer);
    const finish = async (): Promise<Response> => {
      if (pending.authorization !== undefined) {
        if (options.completeOAuth === undefined) return errorPage("request.invalid", "OAuth 2 is not served here", operation, true);
        return options.completeOAuth(pending.authorization, { userIdentifier: identity.userIdentifier, verifiedBy: provider.issuer });
      }
      return finishSimple(pending.ref, identity.userIdentifier, provider.issuer);
    };
    const response = await options.verified.during(verifiedKey, { managedAppleId: identity.managedAppleId }, finish);
    // The pending sign-in is spent, whatever came of it.
    const headers = new Headers(response.headers);
    headers.append("set-cookie", clearCookie);
    return new Response(response.body, { status: response.status, headers });
  }

  /** Simple web authentication: SIGN_IN with the verified identity and a new token, answered as POST /authenticate/:ref answers. */
  async function finishSimple(ref: string, userIdentifier: string, issuer: string): Promise<Response> {
    const operation = "upstreamCallback";
    const host = options.hostOf();
    const at = host.now();
    const issued = await host.issueToken(at, userIdentifier);
    const enrollment = await runEnrollmentEvent(host, { by: "id", id: ref }, {
      type: "SIGN_IN",
      username: userIdentifier,
      password: "",
      issuedToken: { hash: issued.hash, expiresAt: issued.expiresAt },
      csrfValid: true,
      verifiedBy: issuer,
    });
    if (enrollment === null) return errorPage("sign-in.unknown", "no such enrollment", operation, false);
    const reply = enrollment.reply;
    if (reply?.kind === "authentication-result") {
      return new Response(null, { status: 308, headers: { location: buildAuthenticationResultUrl(issued.token), "cache-control": "no-store", "referrer-policy": "no-referrer" } });
    }
    // Verified upstream, refused here: not a user of this directory, or not the one who enrolled the device.
    if (reply?.kind === "sign-in-form") return errorPage("sign-in.identity-mismatch", "the verified account cannot sign in this enrollment", operation, false);
    if (reply?.kind === "error") return errorPage(reply.code, "the enrollment refused the sign-in", operation, false);
    return errorPage("internal", "the sign-in ended without a result", operation, false);
  }

  return {
    startUrl,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (request.method !== "GET") return new Response(null, { status: 405, headers: { allow: "GET" } });
      try {
        if (path === upstreamStartPath) return await start(request);
        if (path === upstreamCallbackPath) return await callback(request);
      } catch (error) {
        options.reportError?.(error);
        return errorPage("internal", "the upstream sign-in failed unexpectedly", "upstream", true);
      }
      return errorPage("not-found", "no such page", "upstream", false);
    },
  };
}

/** AES-256-GCM key for the pending-sign-in cookie: HKDF-SHA-256 of the host's secret. */
async function deriveCookieKey(secret: Uint8Array): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", secret.slice(), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("adenroll"), info: new TextEncoder().encode("upstream sign-in cookie v1") },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** A cookie's value from a Cookie header (the first of that name). */
function cookieValue(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function wrapFetch(f: (request: Request) => Promise<Response>): oidc.CustomFetch {
  return (url, init) =>
    f(
      new Request(url, {
        method: init.method,
        headers: init.headers,
        redirect: init.redirect,
        ...(init.body === undefined || init.body === null ? {} : { body: init.body instanceof Uint8Array ? new Uint8Array(init.body) : init.body }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      }),
    );
}

/** What went wrong, for the log: openid-client's code and message (never a token: it puts none in them). */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = "code" in error && typeof error.code === "string" ? `${error.code}: ` : "";
    return `${code}${error.message}`.slice(0, 300);
  }
  return "unknown error";
}
