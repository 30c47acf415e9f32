// OAuth 2 as the device uses it (steps 6–13): https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-account-driven-enrollment-flow
// Also RFC 6749 (§4.1 authorization code grant, §5 token responses, §6 refresh) and PROTOCOL.md §4, §8.
import { z } from "zod";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";
import type { OAuth2Challenge } from "./challenge.ts";
import { appendQuery, callbackScheme, encodeQueryComponent, firstQueryValue } from "./web-authentication.ts";

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

// --- Authorization request (steps 6–10) -------------------------------------------------------

/**
 * The authorization request's query as an authorization server reads it. The device sends no PKCE
 * (PROTOCOL.md §8); whether it ever sends scope or PKCE is UNCONFIRMED, so both are accepted and
 * neither is required.
 */
export const AuthorizationRequest = z.object({
  response_type: z.literal("code"),
  client_id: z.string().min(1),
  redirect_uri: z.string().refine((v) => parseUrl(v) !== undefined, { error: "an absolute URI" }),
  state: z.string().optional(),
  login_hint: z.string().optional(),
  scope: z.string().optional(),
  code_challenge: z.string().optional(),
  code_challenge_method: z.enum(["plain", "S256"]).optional(),
});
export type AuthorizationRequest = z.infer<typeof AuthorizationRequest>;

/**
 * OAUTH-1: authorization-url with its own query items kept, then response_type=code, client_id,
 * redirect_uri, scope (only when the challenge has a non-empty one), state and login_hint.
 * No PKCE, no client secret.
 */
export function buildAuthorizationRequestUrl(challenge: OAuth2Challenge, p: { state: string; loginHint: string }): string {
  const scope = challenge.scope;
  return appendQuery(challenge["authorization-url"], [
    ["response_type", "code"],
    ["client_id", challenge["client-id"]],
    ["redirect_uri", challenge["redirect-url"]],
    ...(scope !== undefined && scope !== "" ? [["scope", scope] as const] : []),
    ["state", p.state],
    ["login_hint", p.loginHint],
  ]);
}

/** RFC 6749 §4.1.2.1: the error codes of an authorization error response. */
export const AuthorizationErrorCode = z.enum([
  "invalid_request",
  "unauthorized_client",
  "access_denied",
  "unsupported_response_type",
  "invalid_scope",
  "server_error",
  "temporarily_unavailable",
]);
export type AuthorizationErrorCode = z.infer<typeof AuthorizationErrorCode>;

// --- Authorization response (step 11) ---------------------------------------------------------

export interface AuthorizationCallbackError {
  readonly code: "oauth2.callback-error" | "oauth2.no-code" | "oauth2.state-mismatch" | "oauth2.scheme";
  readonly ruleId: RuleId;
  readonly detail: string;
  /** The OAuth error code the callback carried (oauth2.callback-error only), e.g. access_denied. */
  readonly error?: string;
}

/**
 * Reads the URL the web session completed on. OAUTH-3: an `error` item (kept in `error`).
 * OAUTH-2: a state other than the one sent (compared exactly), or no code. The first item of
 * each name counts; values are percent-decoded as the device does (`+` stays `+`).
 */
export function parseAuthorizationCallback(url: string, expectedState: string): Result<{ code: string }, AuthorizationCallbackError> {
  const parsed = parseUrl(url);
  if (parsed === undefined || parsed.protocol !== `${callbackScheme}:`) {
    return err({ code: "oauth2.scheme", ruleId: "OAUTH-2", detail: `not a ${callbackScheme} URL` });
  }
  const error = firstQueryValue(parsed, "error");
  if (error !== undefined && error !== "") {
    const description = firstQueryValue(parsed, "error_description");
    const detail = description === undefined || description === "" ? `authorization failed: ${error}` : `authorization failed: ${error}: ${description}`;
    return err({ code: "oauth2.callback-error", ruleId: "OAUTH-3", detail, error });
  }
  const state = firstQueryValue(parsed, "state");
  if (state !== expectedState) {
    return err({
      code: "oauth2.state-mismatch",
      ruleId: "OAUTH-2",
      detail: state === undefined ? "the callback carries no state" : "the callback's state is not the one sent",
    });
  }
  const code = firstQueryValue(parsed, "code");
  if (code === undefined || code === "") {
    return err({ code: "oauth2.no-code", ruleId: "OAUTH-2", detail: "the callback carries no code" });
  }
  return ok({ code });
}

/** OAUTH-6 (server side): the Location of the 308 — redirect-url, its query kept, plus code and state. */
export function buildAuthorizationResponseUrl(redirectUri: string, p: { code: string; state?: string }): string {
  return appendQuery(redirectUri, [["code", p.code], ...(p.state !== undefined ? [["state", p.state] as const] : [])]);
}

// --- Token request (steps 12–13; refresh) -----------------------------------------------------

/** OAUTH-4. code_verifier is accepted for PKCE clients; the device sends none. */
export const AuthorizationCodeTokenRequest = z.object({
  grant_type: z.literal("authorization_code"),
  code: z.string().min(1),
  redirect_uri: z.string().min(1),
  client_id: z.string().min(1),
  code_verifier: z.string().min(1).optional(),
});
export type AuthorizationCodeTokenRequest = z.infer<typeof AuthorizationCodeTokenRequest>;

/** ONGOING-6 (UNCONFIRMED: RFC 6749 §6 presumed). The device sends client_id; RFC 6749 lets a public client omit it. */
export const RefreshTokenRequest = z.object({
  grant_type: z.literal("refresh_token"),
  refresh_token: z.string().min(1),
  client_id: z.string().min(1).optional(),
  scope: z.string().optional(),
});
export type RefreshTokenRequest = z.infer<typeof RefreshTokenRequest>;

export const TokenRequest = z.discriminatedUnion("grant_type", [AuthorizationCodeTokenRequest, RefreshTokenRequest]);
export type TokenRequest = z.infer<typeof TokenRequest>;

/** OAUTH-4 / ONGOING-6: the form-encoded body, grant_type first, then a fixed key order. */
export function encodeTokenRequest(req: TokenRequest): string {
  const pairs: (readonly [string, string])[] =
    req.grant_type === "authorization_code"
      ? [
          ["grant_type", req.grant_type],
          ["code", req.code],
          ["redirect_uri", req.redirect_uri],
          ["client_id", req.client_id],
          ...(req.code_verifier !== undefined ? [["code_verifier", req.code_verifier] as const] : []),
        ]
      : [
          ["grant_type", req.grant_type],
          ["refresh_token", req.refresh_token],
          ...(req.client_id !== undefined ? [["client_id", req.client_id] as const] : []),
          ...(req.scope !== undefined ? [["scope", req.scope] as const] : []),
        ];
  return pairs.map(([name, value]) => `${name}=${encodeQueryComponent(value)}`).join("&");
}

/** RFC 6749 §5.2: the error codes of a token error response. */
export const TokenErrorCode = z.enum([
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
]);
export type TokenErrorCode = z.infer<typeof TokenErrorCode>;

export interface TokenRequestError {
  readonly code: "oauth2.invalid-request" | "oauth2.unsupported-grant-type";
  readonly ruleId: RuleId;
  readonly detail: string;
  /** The RFC 6749 §5.2 error the token endpoint answers with. */
  readonly error: TokenErrorCode;
}

/**
 * Reads an application/x-www-form-urlencoded token request (server side). RFC 6749 §3.1: a
 * parameter without a value counts as omitted, and none may be repeated.
 */
export function parseTokenRequestForm(body: string): Result<TokenRequest, TokenRequestError> {
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (value === "") continue;
    if (fields.has(name)) {
      return err({ code: "oauth2.invalid-request", ruleId: "OAUTH-4", detail: `parameter ${name} is repeated`, error: "invalid_request" });
    }
    fields.set(name, value);
  }
  const grantType = fields.get("grant_type");
  const ruleId: RuleId = grantType === "refresh_token" ? "ONGOING-6" : "OAUTH-4";
  if (grantType === undefined) {
    return err({ code: "oauth2.invalid-request", ruleId, detail: "grant_type is missing", error: "invalid_request" });
  }
  if (grantType !== "authorization_code" && grantType !== "refresh_token") {
    return err({ code: "oauth2.unsupported-grant-type", ruleId, detail: `grant_type ${JSON.stringify(grantType)} is not supported`, error: "unsupported_grant_type" });
  }
  const parsed = TokenRequest.safeParse(Object.fromEntries(fields));
  if (parsed.success) return ok(parsed.data);
  const detail = parsed.error.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`).join("; ");
  return err({ code: "oauth2.invalid-request", ruleId, detail, error: "invalid_request" });
}

// --- Token response ---------------------------------------------------------------------------

/**
 * OAUTH-5 (device) / OAUTH-7 (server): token_type Bearer in any case and an access_token;
 * expires_in, refresh_token and scope optional. Unknown members are kept (RFC 6749 §5.1).
 */
export const TokenResponse = z.looseObject({
  token_type: z.string().refine((v) => v.toLowerCase() === "bearer", { error: 'token_type must be "Bearer" (any case)' }),
  access_token: z.string().min(1),
  expires_in: z.int().positive().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof TokenResponse>;

/** RFC 6749 §5.2: the JSON body of a 400/401 token answer. */
export const TokenErrorResponse = z.object({
  error: TokenErrorCode,
  error_description: z.string().optional(),
  error_uri: z.string().optional(),
});
export type TokenErrorResponse = z.infer<typeof TokenErrorResponse>;
