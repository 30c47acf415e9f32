// Server error codes and their HTTP statuses — the one place where a failure becomes a status.
// Stable codes: clients, logs and the compliance suite match on them, never on prose.
import type { RuleId } from "./rules.ts";

export const serverErrors = {
  "not-found": { status: 404, title: "Not found." },
  "request.too-large": { status: 413, title: "The request body is too large." },
  "request.invalid": { status: 400, title: "The request is not valid." },
  "enroll.signature-invalid": { status: 400, title: "The enroll request is not signed by a trusted device identity." },
  "enroll.body-invalid": { status: 400, title: "The enroll request body is not a device-signed CMS message with a plist." },
  "sign-in.failed": { status: 401, title: "The user name or password is wrong." },
  "sign-in.unknown": { status: 404, title: "This sign-in link is not known or has expired." },
  "sign-in.not-expected": { status: 409, title: "This enrollment is not waiting for a sign-in." },
  "sign-in.forged": { status: 403, title: "The sign-in form expired or did not come from this server. Start the enrollment again." },
  "sign-in.throttled": { status: 429, title: "Too many failed sign-in attempts. Start the enrollment again later." },
  "sign-in.cancelled": { status: 403, title: "The sign-in was cancelled." },
  "sign-in.identity-mismatch": { status: 403, title: "The account signed in at the identity provider is not the one this device is enrolling." },
  "sign-in.upstream-invalid": { status: 400, title: "The identity provider's answer is missing, expired, or not for this browser." },
  "sign-in.upstream-unavailable": { status: 502, title: "The identity provider could not be reached." },
  "discovery.unknown": { status: 403, title: "No device management service is known for this account." },
  "device.unrecognized": { status: 403, title: "The device is not enrolled." },
  "profile.misconfigured": { status: 500, title: "The server could not build a valid enrollment profile." },
  "checkin.invalid": { status: 400, title: "The check-in message is not valid." },
  "command.invalid": { status: 400, title: "The command-channel report is not valid." },
  "mdm.signature-invalid": { status: 403, title: "The request is not signed by this enrollment's device identity." },
  "admin.unauthorized": { status: 401, title: "A valid admin token is required." },
  "admin.not-found": { status: 404, title: "No such user or enrollment." },
  "admin.invalid": { status: 400, title: "The administration request is not valid." },
  "admin.conflict": { status: 409, title: "The change conflicts with what is stored." },
  "request.unsupported-media-type": { status: 415, title: "The request's Content-Type is not an MDM check-in or command-channel one." },
  "upstream.unavailable": { status: 502, title: "The upstream MDM could not be reached." },
  "upstream.timeout": { status: 504, title: "The upstream MDM did not answer in time." },
  "oauth2.invalid-request": { status: 400, title: "The OAuth 2 request is missing a parameter, repeats one, or is malformed.", oauth: "invalid_request" },
  "oauth2.invalid-client": { status: 401, title: "The client is not registered here.", oauth: "invalid_client" },
  "oauth2.invalid-grant": { status: 400, title: "The authorization code or refresh token is invalid, expired, used or revoked.", oauth: "invalid_grant" },
  "oauth2.unsupported-grant-type": { status: 400, title: "This grant type is not supported.", oauth: "unsupported_grant_type" },
  "oauth2.unauthorized-client": { status: 400, title: "This client may not use this grant.", oauth: "unauthorized_client" },
  "oauth2.invalid-authorization-request": { status: 400, title: "The sign-in link names an unknown client or a redirect URI not registered for it." },
  "internal": { status: 500, title: "Internal error." },
} as const satisfies Record<string, { status: number; title: string; oauth?: string }>;

export type ServerErrorCode = keyof typeof serverErrors;

export interface ServerError {
  readonly code: ServerErrorCode;
  readonly ruleId?: RuleId;
  readonly detail?: string;
}

export function statusOf(code: ServerErrorCode): number {
  return serverErrors[code].status;
}

/** The codes an OAuth 2 token or revocation endpoint answers with (RFC 6749 §5.2). */
export type OAuthErrorCode = { [K in ServerErrorCode]: (typeof serverErrors)[K] extends { oauth: string } ? K : never }[ServerErrorCode];

/**
 * OAUTH-13: an OAuth 2 error as the token endpoint answers it — RFC 6749 §5.2 JSON, never cached;
 * the status and the OAuth code come from the table above.
 */
export function oauthErrorAnswer(code: OAuthErrorCode, description?: string): { readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string } {
  const entry = serverErrors[code];
  const body = JSON.stringify({ error: entry.oauth, error_description: description ?? entry.title });
  const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache" };
  // RFC 6749 §5.2: a 401 invalid_client names the authentication scheme the client may use.
  if (entry.status === 401) headers["www-authenticate"] = 'Basic realm="oauth2"';
  return { status: entry.status, headers, body };
}
