// The OAuth 2 authorization server's decisions (steps 6–13, refresh): https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-account-driven-enrollment-flow
// Also RFC 6749, RFC 7636 (PKCE), RFC 7009 (revocation), RFC 8414 (metadata), RFC 9207 (iss), RFC 9700.
// Pure: hashes and clocks arrive as arguments; runtime/oauth2-server.ts does the I/O.
import { z } from "zod";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";
import type { OAuthErrorCode } from "./errors.ts";
import { appendQuery, callbackScheme } from "./web-authentication.ts";
import type { AuthorizationErrorCode } from "./oauth2.ts";

/** The redirect URI registered for Apple devices unless configured otherwise (CHALLENGE-6: the callback scheme with a path). */
export const appleRedirectUri = `${callbackScheme}:/oauth2/redirection`;

/** OAUTH-10: no authorization code lives longer than this. */
export const maxCodeLifetimeMs = 60_000;

/** A registered public client: the device (no PKCE, PROTOCOL.md §8), or another one that may be made to use PKCE. */
export const OAuthClient = z.object({
  id: z.string().min(1).max(200),
  /** Exact strings; a redirect_uri matches one only if it is equal to it (OAUTH-8). */
  redirectUris: z.array(z.string().min(1)).min(1),
  /** OAUTH-11: "required" refuses an authorization request without a code_challenge. */
  pkce: z.enum(["optional", "required"]),
});
export type OAuthClient = z.infer<typeof OAuthClient>;

/** The authorization request as the server keeps it between the sign-in page and the form it posts. */
export interface CheckedAuthorizationRequest {
  readonly client: OAuthClient;
  readonly redirectUri: string;
  readonly state: string | null;
  readonly loginHint: string | null;
  readonly scope: string | null;
  /** The S256 code_challenge, or null when the client sent none. */
  readonly codeChallenge: string | null;
  /** The enrollment the authorization-url names (its `enrollment` query item). */
  readonly enrollmentRef: string | null;
}

/** OAUTH-8: shown as a page, never redirected — the redirect URI cannot be trusted. */
export interface AuthorizationPageError {
  readonly kind: "page";
  readonly ruleId: RuleId;
  readonly detail: string;
}

/** OAUTH-9: sent back to the (registered) redirect URI with the request's state. */
export interface AuthorizationRedirectError {
  readonly kind: "redirect";
  readonly ruleId: RuleId;
  readonly redirectUri: string;
  readonly state: string | null;
  readonly error: AuthorizationErrorCode;
  readonly description: string;
}

export type AuthorizationRequestError = AuthorizationPageError | AuthorizationRedirectError;

/** The parameters of an authorization request (and of the form its sign-in page posts back). */
export const authorizationParameters = [
  "response_type",
  "client_id",
  "redirect_uri",
  "state",
  "login_hint",
  "scope",
  "code_challenge",
  "code_challenge_method",
  "enrollment",
] as const;

/** RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~]; an S256 challenge is 43 base64url characters. */
const pkceValue = /^[A-Za-z0-9\-._~]{43,128}$/;
const enrollmentRefPattern = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Checks an authorization request (RFC 6749 §4.1.1, §3.1: no parameter twice). `pairs` are the
 * query's (or the posted form's) name/value pairs in order. The client and redirect URI are checked
 * first: until both are known good, nothing is redirected (OAUTH-8).
 */
export function checkAuthorizationRequest(
  pairs: readonly (readonly [string, string])[],
  clients: readonly OAuthClient[],
): Result<CheckedAuthorizationRequest, AuthorizationRequestError> {
  const values = new Map<string, string[]>();
  for (const [name, value] of pairs) {
    if (!(authorizationParameters as readonly string[]).includes(name)) continue;
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const one = (name: string): string | undefined => {
    const found = values.get(name);
    return found === undefined || found.length !== 1 || found[0] === "" ? undefined : found[0];
  };
  const repeated = (name: string): boolean => (values.get(name)?.length ?? 0) > 1;

  const clientId = one("client_id");
  if (repeated("client_id") || clientId === undefined) return err({ kind: "page", ruleId: "OAUTH-8", detail: "client_id is missing or repeated" });
  const client = clients.find((c) => c.id === clientId);
  if (client === undefined) return err({ kind: "page", ruleId: "OAUTH-8", detail: "client_id names no registered client" });
  const given = one("redirect_uri");
  if (repeated("redirect_uri")) return err({ kind: "page", ruleId: "OAUTH-8", detail: "redirect_uri is repeated" });
  // RFC 6749 §3.1.2.3: a client with one registered URI may omit it; RFC 9700 §4.1.3: exact string match.
  const redirectUri = given ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
  if (redirectUri === undefined) return err({ kind: "page", ruleId: "OAUTH-8", detail: "redirect_uri is missing and the client has several" });
  if (!client.redirectUris.some((registered) => redirectUriMatches(registered, redirectUri))) {
    return err({ kind: "page", ruleId: "OAUTH-8", detail: "redirect_uri is not one registered for this client" });
  }

  const stateValues = values.get("state") ?? [];
  const state = stateValues.length === 1 && stateValues[0] !== "" ? (stateValues[0] ?? null) : null;
  const fail = (ruleId: RuleId, error: AuthorizationErrorCode, description: string): Result<never, AuthorizationRequestError> =>
    err({ kind: "redirect", ruleId, redirectUri, state: stateValues.length > 1 ? null : state, error, description });

  for (const name of authorizationParameters) if (repeated(name)) return fail("OAUTH-9", "invalid_request", `${name} is repeated`);
  const responseType = one("response_type");
  if (responseType === undefined) return fail("OAUTH-9", "invalid_request", "response_type is missing");
  if (responseType !== "code") return fail("OAUTH-9", "unsupported_response_type", "only response_type=code is supported");

  const challenge = one("code_challenge");
  const method = one("code_challenge_method");
  if (challenge === undefined && method !== undefined) return fail("OAUTH-11", "invalid_request", "code_challenge_method without code_challenge");
  if (challenge !== undefined && method !== "S256") return fail("OAUTH-11", "invalid_request", "code_challenge_method must be S256");
  if (challenge !== undefined && !pkceValue.test(challenge)) return fail("OAUTH-11", "invalid_request", "code_challenge is not a base64url S256 value");
  if (challenge === undefined && client.pkce === "required") return fail("OAUTH-11", "invalid_request", "this client must use PKCE (code_challenge with S256)");

  const enrollment = one("enrollment");
  if (enrollment !== undefined && !enrollmentRefPattern.test(enrollment)) return fail("OAUTH-9", "invalid_request", "the enrollment item of the authorization URL is malformed");
  return ok({
    client,
    redirectUri,
    state,
    loginHint: one("login_hint") ?? null,
    scope: one("scope") ?? null,
    codeChallenge: challenge ?? null,
    enrollmentRef: enrollment ?? null,
  });
}

/**
 * OAUTH-8: the exact string registered — except that a loopback IP redirect URI (http://127.0.0.1,
 * http://[::1]) matches with any port, since a native app listens on the port it gets (RFC 8252
 * §7.3, RFC 9700 §4.1.3). Everything else of it (path, query) must be the same.
 */
export function redirectUriMatches(registered: string, given: string): boolean {
  if (registered === given) return true;
  // Still a string comparison: only the port may differ, and only for the two loopback IP literals.
  const withPort = /^(http:\/\/(?:127\.0\.0\.1|\[::1\])):([0-9]{1,5})([/?].*)?$/.exec(given);
  if (withPort === null) return false;
  const port = Number(withPort[2]);
  return port >= 1 && port <= 65535 && registered === `${withPort[1]}${withPort[3] ?? ""}`;
}

/** The request's parameters again, for the hidden fields of the sign-in form that posts it back. */
export function authorizationFormFields(request: CheckedAuthorizationRequest): Readonly<Record<string, string>> {
  const fields: Record<string, string> = { response_type: "code", client_id: request.client.id, redirect_uri: request.redirectUri };
  if (request.state !== null) fields["state"] = request.state;
  if (request.loginHint !== null) fields["login_hint"] = request.loginHint;
  if (request.scope !== null) fields["scope"] = request.scope;
  if (request.codeChallenge !== null) {
    fields["code_challenge"] = request.codeChallenge;
    fields["code_challenge_method"] = "S256";
  }
  if (request.enrollmentRef !== null) fields["enrollment"] = request.enrollmentRef;
  return fields;
}

/** OAUTH-6 (+ RFC 9207 iss): the Location of a successful authorization. */
export function authorizationSuccessLocation(p: { readonly redirectUri: string; readonly code: string; readonly state: string | null; readonly issuer: string }): string {
  return appendQuery(p.redirectUri, [["code", p.code], ...(p.state === null ? [] : [["state", p.state] as const]), ["iss", p.issuer]]);
}

/** OAUTH-9 (+ RFC 9207 iss): the Location of an authorization error. */
export function authorizationErrorLocation(e: AuthorizationRedirectError, issuer: string): string {
  return appendQuery(e.redirectUri, [
    ["error", e.error],
    ["error_description", e.description],
    ...(e.state === null ? [] : [["state", e.state] as const]),
    ["iss", issuer],
  ]);
}

// --- Token endpoint ---------------------------------------------------------------------------

/** What is stored of an authorization code, as far as redeeming it is concerned. */
export interface IssuedCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly codeChallenge: string | null;
  readonly expiresAt: number;
}

export interface TokenGrantError {
  readonly code: OAuthErrorCode;
  readonly ruleId: RuleId;
  readonly detail: string;
}

/**
 * OAUTH-10, OAUTH-11: whether a (first) redemption of a code may have its tokens. `verifierChallenge`
 * is BASE64URL(SHA-256(code_verifier)) computed by the runtime, or null when no verifier was sent.
 */
export function checkCodeRedemption(
  code: IssuedCode,
  request: { readonly clientId: string; readonly redirectUri: string; readonly verifierChallenge: string | null },
  now: number,
): Result<void, TokenGrantError> {
  if (now >= code.expiresAt) return err({ code: "oauth2.invalid-grant", ruleId: "OAUTH-10", detail: "the authorization code has expired" });
  if (request.clientId !== code.clientId) return err({ code: "oauth2.invalid-grant", ruleId: "OAUTH-10", detail: "the authorization code was issued to another client" });
  if (request.redirectUri !== code.redirectUri) return err({ code: "oauth2.invalid-grant", ruleId: "OAUTH-10", detail: "redirect_uri is not the one of the authorization request" });
  if (code.codeChallenge === null && request.verifierChallenge !== null) {
    return err({ code: "oauth2.invalid-grant", ruleId: "OAUTH-11", detail: "a code_verifier for a code issued without code_challenge" });
  }
  if (code.codeChallenge !== null && request.verifierChallenge === null) return err({ code: "oauth2.invalid-grant", ruleId: "OAUTH-11", detail: "code_verifier is missing" });
  if (code.codeChallenge !== null && request.verifierChallenge !== code.codeChallenge) return err({ code: "oauth2.invalid-grant", ruleId: "OAUTH-11", detail: "code_verifier does not match code_challenge" });
  return ok(undefined);
}

/** RFC 7636 §4.1: what a code_verifier may be. */
export function isCodeVerifier(value: string): boolean {
  return pkceValue.test(value);
}

/** RFC 7009 §2.1: the revocation request's form. */
export const RevocationRequest = z.object({
  token: z.string().min(1),
  token_type_hint: z.string().optional(),
  client_id: z.string().min(1).optional(),
});
export type RevocationRequest = z.infer<typeof RevocationRequest>;

// --- Metadata ---------------------------------------------------------------------------------

/** OAUTH-16: RFC 8414 authorization server metadata, exactly what this server supports. */
export const AuthorizationServerMetadata = z.object({
  issuer: z.url(),
  authorization_endpoint: z.url(),
  token_endpoint: z.url(),
  revocation_endpoint: z.url(),
  response_types_supported: z.tuple([z.literal("code")]),
  response_modes_supported: z.tuple([z.literal("query")]),
  grant_types_supported: z.tuple([z.literal("authorization_code"), z.literal("refresh_token")]),
  token_endpoint_auth_methods_supported: z.tuple([z.literal("none")]),
  revocation_endpoint_auth_methods_supported: z.tuple([z.literal("none")]),
  code_challenge_methods_supported: z.tuple([z.literal("S256")]),
  authorization_response_iss_parameter_supported: z.literal(true),
  scopes_supported: z.array(z.string()).optional(),
});
export type AuthorizationServerMetadata = z.infer<typeof AuthorizationServerMetadata>;

/** The well-known path of the metadata (RFC 8414 §3) for an issuer without a path. */
export const authorizationServerMetadataPath = "/.well-known/oauth-authorization-server";

export function buildAuthorizationServerMetadata(issuer: string, scopes: readonly string[]): AuthorizationServerMetadata {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth2/authorize`,
    token_endpoint: `${issuer}/oauth2/token`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: true,
    ...(scopes.length === 0 ? {} : { scopes_supported: [...scopes] }),
  };
}
