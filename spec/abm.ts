// Apple Business / School Manager: registering the organization's service-discovery URL, which
// devices (iOS 18.2+, macOS 15.2+, visionOS 2.2+) are redirected to when the domain's own well-known
// request fails (PROTOCOL.md §1, "Fallback"). Apple's device-assignment API, as MDMs use it:
//   https://developer.apple.com/documentation/devicemanagement/authenticating-for-automated-device-enrollment
//   https://developer.apple.com/documentation/devicemanagement/assign-account-driven-enrollment-profile
//   (and fetch-…, remove-account-driven-enrollment-profile; examining-server-tokens;
//   interpreting-automated-device-enrollment-error-codes)
// Pure: the wire schemas, Apple's error codes, and OAuth 1.0a (RFC 5849) signature base strings
// and Authorization headers. The HMAC and all I/O are in runtime/abm.ts.
import { z } from "zod";

export const abmDefaultBaseUrl = "https://mdmenrollment.apple.com";
export const abmSessionPath = "/session";
export const abmProfilePath = "/account-driven-enrollment/profile";
/** The OAuth realm Apple's example request names. */
export const abmOAuthRealm = "ADM";

// --- The server token ---------------------------------------------------------------------------

/**
 * The server token an organization downloads from Apple Business / School Manager, once decrypted
 * (the `.p7m` is an S/MIME EnvelopedData whose content is a MIME entity holding this JSON).
 * `access_token_expiry` is an ISO 8601 time in Apple's example ("2015-01-14T21:27:41Z").
 */
export const AbmServerToken = z.object({
  consumer_key: z.string().min(1),
  consumer_secret: z.string().min(1),
  access_token: z.string().min(1),
  access_secret: z.string().min(1),
  access_token_expiry: z.string().optional(),
});
export type AbmServerToken = z.infer<typeof AbmServerToken>;

// --- Answers and requests -----------------------------------------------------------------------

/** `GET /session`: the value of later requests' `X-ADM-Auth-Session` header. */
export const AbmSessionAnswer = z.object({ auth_session_token: z.string().min(1) });

/** AccountDrivenEnrollmentProfileRequest (POST body). */
export const AbmProfileRequest = z.object({ mdm_service_discovery_url: z.string() });
export type AbmProfileRequest = z.infer<typeof AbmProfileRequest>;

/** GetAccountDrivenEnrollmentProfileResponse (GET 200). Both documented as strings; neither is marked required. */
export const AbmProfileAnswer = z.object({
  mdm_service_discovery_url: z.string().min(1),
  last_updated_timestamp: z.string().optional(),
});
export type AbmProfileAnswer = z.infer<typeof AbmProfileAnswer>;

/**
 * The codes Apple documents for these endpoints and for authentication: 400 (the profile
 * endpoints), 404 (GET: none registered), 403 (authentication). `TOKEN_EXPIRED` and
 * `EXPIRED_TOKEN` are both seen in MDMs' code for an expired server token; which one Apple sends
 * is UNCONFIRMED, so both are understood.
 */
export const abmAppleErrorCodes = [
  "MDM_SERVICE_DISCOVERY_URL_REQUIRED",
  "MDM_SERVICE_DISCOVERY_URL_NOT_VALID",
  "ORG_NOT_SUPPORTED",
  "NOT_FOUND",
  "T_C_NOT_SIGNED",
  "TOKEN_EXPIRED",
  "EXPIRED_TOKEN",
  "ACCESS_DENIED",
  "FORBIDDEN",
] as const;
export type AbmAppleErrorCode = (typeof abmAppleErrorCodes)[number];

const codeShape = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * Apple's error code in an error answer's body. The body's form is UNCONFIRMED for these
 * endpoints: MDMs handle the bare code (`ORG_NOT_SUPPORTED`), the code in quotes, and a JSON object
 * with `code` (or `error`), so all three are read. Anything else: undefined (only a code-shaped
 * string is ever returned, so it is safe to show).
 */
export function appleErrorCodeOf(body: string): string | undefined {
  const text = body.trim();
  if (text.startsWith("{")) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = z.object({ code: z.string().optional(), error: z.string().optional() }).safeParse(value);
    if (!parsed.success) return undefined;
    for (const candidate of [parsed.data.code, parsed.data.error]) if (candidate !== undefined && codeShape.test(candidate)) return candidate;
    return undefined;
  }
  const bare = text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
  return codeShape.test(bare) ? bare : undefined;
}

/**
 * Why a service-discovery URL cannot be registered, or undefined when it can. Apple requires https
 * (MDM_SERVICE_DISCOVERY_URL_NOT_VALID: "incorrectly formatted or … not the required HTTPS
 * scheme"); credentials and a fragment have no place in a URL devices are redirected to.
 */
export function discoveryUrlProblem(value: string): "required" | "not-valid" | undefined {
  if (value.trim() === "") return "required";
  const url = URL.parse(value);
  if (url === null || url.protocol !== "https:" || url.hostname === "") return "not-valid";
  if (url.username !== "" || url.password !== "" || url.hash !== "") return "not-valid";
  return undefined;
}

// --- OAuth 1.0a (RFC 5849) ----------------------------------------------------------------------

/** RFC 5849 §3.6: every octet but ALPHA, DIGIT, "-", ".", "_", "~" as %XX (upper case), UTF-8 first. */
export function oauthPercentEncode(value: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(value)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export type OAuthParameter = readonly [name: string, value: string];

/**
 * RFC 5849 §3.4.1: the signature base string of a request. `url`'s query (§3.4.1.3.1, decoded as
 * application/x-www-form-urlencoded) joins `parameters` — the oauth_* protocol parameters without
 * oauth_signature and realm, plus any form-encoded body parameters. The base string URI is the
 * scheme and host in lower case, the port only when not the default, and the path (§3.4.1.2).
 */
export function oauthSignatureBaseString(method: string, url: string, parameters: readonly OAuthParameter[]): string {
  const parsed = new URL(url);
  const baseUri = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  const all: OAuthParameter[] = [...parsed.searchParams.entries(), ...parameters];
  const normalized = all
    .filter(([name]) => name !== "oauth_signature" && name !== "realm")
    .map(([name, value]): OAuthParameter => [oauthPercentEncode(name), oauthPercentEncode(value)])
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  return [method.toUpperCase(), oauthPercentEncode(baseUri), oauthPercentEncode(normalized)].join("&");
}

/** RFC 5849 §3.4.2: the HMAC-SHA1 key is the encoded client (consumer) secret "&" the encoded token secret. */
export function oauthHmacKey(consumerSecret: string, tokenSecret: string): string {
  return `${oauthPercentEncode(consumerSecret)}&${oauthPercentEncode(tokenSecret)}`;
}

/** The oauth_* parameters of a request to be signed with HMAC-SHA1 (Apple sends oauth_version 1.0). */
export function oauthProtocolParameters(p: { consumerKey: string; token: string; timestamp: number; nonce: string }): OAuthParameter[] {
  return [
    ["oauth_consumer_key", p.consumerKey],
    ["oauth_token", p.token],
    ["oauth_signature_method", "HMAC-SHA1"],
    ["oauth_timestamp", String(Math.floor(p.timestamp))],
    ["oauth_nonce", p.nonce],
    ["oauth_version", "1.0"],
  ];
}

/** RFC 5849 §3.5.1: `OAuth realm="…", name="value", …`, values percent-encoded, on one line. */
export function oauthAuthorizationHeader(realm: string | undefined, parameters: readonly OAuthParameter[]): string {
  const items = [...(realm === undefined ? [] : [`realm="${oauthPercentEncode(realm)}"`]), ...parameters.map(([name, value]) => `${oauthPercentEncode(name)}="${oauthPercentEncode(value)}"`)];
  return `OAuth ${items.join(", ")}`;
}

/**
 * An `Authorization: OAuth …` header's parameters, decoded, in order (realm included); undefined
 * when the header is not of that form. What a server — or a test's stand-in — reads.
 */
export function parseOAuthAuthorization(header: string): OAuthParameter[] | undefined {
  const match = /^OAuth\s+(.*)$/is.exec(header.trim());
  if (match === null) return undefined;
  const rest = match[1] ?? "";
  const out: OAuthParameter[] = [];
  const item = /\s*([A-Za-z0-9_\-.~%]+)="([^"]*)"\s*(,|$)/y;
  let at = 0;
  while (at < rest.length) {
    item.lastIndex = at;
    const m = item.exec(rest);
    if (m === null) return undefined;
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(m[1] ?? "");
      value = decodeURIComponent(m[2] ?? "");
    } catch {
      return undefined;
    }
    out.push([name, value]);
    at = item.lastIndex;
  }
  return out;
}
