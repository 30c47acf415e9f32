// The WWW-Authenticate challenge (step 5): https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow
// Also: https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-account-driven-enrollment-flow
// (apple-oauth2 parameters), PROTOCOL.md §3 and §8 (what devices tolerate), RFC 7235 §2.1 / §4.1.
import { z } from "zod";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";

// --- URL checks (pure WHATWG URL; no Node or Deno APIs) ---------------------------------------

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * A value that can travel inside an HTTP quoted-string (RFC 9110 §5.6.4: HTAB, SP, VCHAR,
 * obs-text). Rejecting the rest also keeps CR/LF out of a header the server emits.
 */
const headerSafe = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Absolute per WHATWG URL, with no characters the URL parser would silently drop. */
function isAbsoluteUrl(value: string): boolean {
  return headerSafe.test(value) && !/^[\t ]|[\t ]$/.test(value) && parseUrl(value) !== undefined;
}

/** `http://` or `https://` spelt out (WHATWG would also read `https:host` or `https:\\host`), and a host. */
function isHttpUrl(value: string, schemes: readonly ("http:" | "https:")[]): boolean {
  if (!headerSafe.test(value) || !/^https?:\/\//i.test(value)) return false;
  const url = parseUrl(value);
  return url !== undefined && url.hostname !== "" && schemes.some((s) => s === url.protocol);
}

/** http on a loopback host: tolerated where https is required, for demos and tests on one machine. */
export function isLoopbackHttp(url: string): boolean {
  const parsed = parseUrl(url);
  return parsed !== undefined && parsed.protocol === "http:" && (parsed.hostname === "127.0.0.1" || parsed.hostname === "localhost" || parsed.hostname === "[::1]");
}

/** The ASWebAuthenticationSession callback scheme (DOC-SIMPLE, DOC-OAUTH). */
const callbackUrlScheme = "apple-remotemanagement-user-login:";

// --- Schemas ---------------------------------------------------------------------------------

/** CHALLENGE-4: the web-auth URL, http or https (https recommended). */
const HttpOrHttpsUrl = z.string().refine((v) => isHttpUrl(v, ["http:", "https:"]), {
  error: "an absolute URL with scheme http or https",
});
/** Device-side tolerance (PROTOCOL.md §8): the OAuth URLs are only checked for being absolute. */
const AbsoluteUrl = z.string().refine(isAbsoluteUrl, { error: "an absolute URL" });

export const AsWebChallenge = z.object({
  method: z.literal("apple-as-web"),
  url: HttpOrHttpsUrl,
});
export type AsWebChallenge = z.infer<typeof AsWebChallenge>;

/** CHALLENGE-5: the device-side reading — scope optional, URLs only absolute. */
export const OAuth2Challenge = z.object({
  method: z.literal("apple-oauth2"),
  "authorization-url": AbsoluteUrl,
  "token-url": AbsoluteUrl,
  "redirect-url": AbsoluteUrl,
  "client-id": z.string().min(1),
  scope: z.string().optional(),
});
export type OAuth2Challenge = z.infer<typeof OAuth2Challenge>;

export const Challenge = z.discriminatedUnion("method", [AsWebChallenge, OAuth2Challenge]);
export type Challenge = z.infer<typeof Challenge>;

/** RFC 6749 §3.1, §3.1.2, §3.2: endpoint URIs MUST NOT include a fragment component. */
const noFragment = (value: string): boolean => !value.includes("#");

const HttpsEndpoint = z
  .string()
  .refine((v) => isHttpUrl(v, ["https:"]) && noFragment(v), { error: "an absolute https URL without a fragment" });

/** `apple-remotemanagement-user-login:` plus a path naming the redirection endpoint (e.g. `…:/oauth2/redirection`). */
const CallbackRedirectUrl = z.string().refine(
  (v) => {
    if (!headerSafe.test(v) || !noFragment(v)) return false;
    const url = parseUrl(v);
    return url !== undefined && url.protocol === callbackUrlScheme && url.pathname !== "" && url.pathname !== "/";
  },
  { error: "an apple-remotemanagement-user-login URL with a path and no fragment" },
);

const HeaderSafeText = z
  .string()
  .min(1)
  .refine((v) => headerSafe.test(v), { error: "printable characters only (it travels in a quoted-string)" });

/**
 * CHALLENGE-6: what our server emits for apple-oauth2 — all six parameters (DOC-OAUTH marks scope
 * required), https endpoints, and a redirect-url on the callback scheme with a path.
 */
export const ServerOAuth2Challenge = z.object({
  method: z.literal("apple-oauth2"),
  "authorization-url": HttpsEndpoint,
  "token-url": HttpsEndpoint,
  "redirect-url": CallbackRedirectUrl,
  "client-id": HeaderSafeText,
  scope: HeaderSafeText,
});
export type ServerOAuth2Challenge = z.infer<typeof ServerOAuth2Challenge>;

/** Any challenge our server may emit: apple-as-web as is, apple-oauth2 in its strict form. */
export const ServerChallenge = z.discriminatedUnion("method", [AsWebChallenge, ServerOAuth2Challenge]);
export type ServerChallenge = z.infer<typeof ServerChallenge>;

// --- Enrollment SSO header (PROTOCOL.md §3, DOC-ESSO) ---------------------------------------

/** Sent beside the challenge on the 401 when Enrollment SSO is offered (iOS/iPadOS 16+, visionOS 2+). */
export const essoHeader = "X-Apple-MDM-ESSO";
/** Test variant, honoured only with the device's Enrollment SSO developer setting on. */
export const essoDeveloperHeader = "X-Apple-MDM-ESSO-Developer";
/** ESSO-1: the header value is an absolute https URL. */
export const EssoUrl = z.string().refine((v) => isHttpUrl(v, ["https:"]), { error: "an absolute https URL" });
export type EssoUrl = z.infer<typeof EssoUrl>;

// --- RFC 7235 tokenizer -----------------------------------------------------------------------

export interface ChallengeError {
  readonly code: "challenge.missing" | "challenge.syntax" | "challenge.scheme" | "challenge.method" | "challenge.params";
  readonly ruleId: RuleId;
  readonly detail: string;
}

export interface AuthParams {
  /** The auth-scheme as sent (case preserved; RFC 7235 makes it case-insensitive, the device does not). */
  readonly scheme: string;
  /** Parameter names lowercased; for a repeated name the first value wins. */
  readonly params: Record<string, string>;
}

const isTchar = (c: string): boolean => c !== "" && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(c);
// SP and HTAB are RFC whitespace; CR/LF are tolerated as the remains of a folded header.
const isWhitespace = (c: string): boolean => c === " " || c === "\t" || c === "\r" || c === "\n";

const syntaxError = (detail: string): { readonly ok: false; readonly error: ChallengeError } =>
  err({ code: "challenge.syntax", ruleId: "ENROLL-8", detail });

/**
 * One challenge: `scheme [ 1*SP auth-param *( [","] OWS auth-param ) ]`. Tolerant where devices are
 * (CHALLENGE-2): values quoted (with quoted-pair escapes) or bare, commas optional, extra
 * whitespace and empty list elements accepted. A bare value runs to the next whitespace or comma.
 * token68 credentials and lists of several challenges are not supported (syntax error).
 */
export function parseAuthParams(header: string): Result<AuthParams, ChallengeError> {
  const n = header.length;
  let i = 0;
  const at = (k: number): string => header.charAt(k);
  const skipWhitespace = (): void => {
    while (i < n && isWhitespace(at(i))) i++;
  };

  skipWhitespace();
  const schemeStart = i;
  while (i < n && isTchar(at(i))) i++;
  if (i === schemeStart) return syntaxError(`expected an auth-scheme at offset ${i}`);
  const scheme = header.slice(schemeStart, i);
  if (i < n && !isWhitespace(at(i))) return syntaxError(`unexpected ${JSON.stringify(at(i))} after the auth-scheme at offset ${i}`);

  const params = new Map<string, string>();
  let needSeparator = false;
  for (;;) {
    const before = i;
    while (i < n && (isWhitespace(at(i)) || at(i) === ",")) i++;
    if (i >= n) break;
    if (needSeparator && i === before) return syntaxError(`expected whitespace or "," before offset ${i}`);

    const nameStart = i;
    while (i < n && isTchar(at(i))) i++;
    if (i === nameStart) return syntaxError(`unexpected ${JSON.stringify(at(i))} at offset ${i}`);
    const name = header.slice(nameStart, i).toLowerCase();
    skipWhitespace();
    if (at(i) !== "=") return syntaxError(`expected "=" after parameter ${name} at offset ${i}`);
    i++;
    skipWhitespace();

    let value = "";
    if (at(i) === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = at(i);
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === "\\") {
          if (i + 1 >= n) break;
          value += at(i + 1);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      if (!closed) return syntaxError(`unterminated quoted-string for parameter ${name}`);
    } else {
      const valueStart = i;
      while (i < n && !isWhitespace(at(i)) && at(i) !== "," && at(i) !== '"') i++;
      value = header.slice(valueStart, i);
      if (value === "") return syntaxError(`missing value for parameter ${name} at offset ${i}`);
      if (value.startsWith("=")) return syntaxError(`token68 credentials are not auth-params (offset ${valueStart})`);
    }
    if (!params.has(name)) params.set(name, value);
    needSeparator = true;
  }
  return ok({ scheme, params: Object.fromEntries(params) });
}

// --- The challenge ----------------------------------------------------------------------------

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`).join("; ");
}

const oauth2Required = ["authorization-url", "token-url", "redirect-url", "client-id"] as const;

/**
 * Reads a WWW-Authenticate value as the device does (PROTOCOL.md §8): ENROLL-8 when missing or
 * unparsable, CHALLENGE-1 scheme not exactly `Bearer`, CHALLENGE-7 unknown method, CHALLENGE-4 /
 * CHALLENGE-5 missing or invalid parameters. Unknown parameters are ignored.
 */
export function parseChallenge(header: string | null | undefined): Result<Challenge, ChallengeError> {
  if (header === null || header === undefined || header.trim() === "") {
    return err({ code: "challenge.missing", ruleId: "ENROLL-8", detail: "no WWW-Authenticate challenge" });
  }
  const parsed = parseAuthParams(header);
  if (!parsed.ok) return parsed;
  const { scheme, params } = parsed.value;
  // Case-sensitive on purpose: the device compares the scheme with "Bearer" exactly.
  if (scheme !== "Bearer") {
    return err({ code: "challenge.scheme", ruleId: "CHALLENGE-1", detail: `scheme ${JSON.stringify(scheme)} is not exactly "Bearer"` });
  }
  const method = params["method"];
  if (method === "apple-as-web") {
    const challenge = AsWebChallenge.safeParse(params);
    return challenge.success
      ? ok(challenge.data)
      : err({ code: "challenge.params", ruleId: "CHALLENGE-4", detail: `apple-as-web: ${describeIssues(challenge.error)}` });
  }
  if (method === "apple-oauth2") {
    const missing = oauth2Required.filter((key) => params[key] === undefined);
    if (missing.length > 0) {
      return err({ code: "challenge.params", ruleId: "CHALLENGE-5", detail: `apple-oauth2: missing ${missing.join(", ")}` });
    }
    const challenge = OAuth2Challenge.safeParse(params);
    return challenge.success
      ? ok(challenge.data)
      : err({ code: "challenge.params", ruleId: "CHALLENGE-5", detail: `apple-oauth2: ${describeIssues(challenge.error)}` });
  }
  return err({
    code: "challenge.method",
    ruleId: "CHALLENGE-7",
    detail: method === undefined ? "no method parameter" : `unsupported method ${JSON.stringify(method)}`,
  });
}

const quote = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * CHALLENGE-3: `Bearer method="…", url="…"` — every value quoted (`"` and `\` escaped), comma
 * separated, keys in a fixed order (Apple's table order, method first). The inverse of parseChallenge.
 */
export function formatChallenge(challenge: Challenge): string {
  const pairs: (readonly [string, string])[] =
    challenge.method === "apple-as-web"
      ? [
          ["method", challenge.method],
          ["url", challenge.url],
        ]
      : [
          ["method", challenge.method],
          ["authorization-url", challenge["authorization-url"]],
          ["token-url", challenge["token-url"]],
          ["redirect-url", challenge["redirect-url"]],
          ["client-id", challenge["client-id"]],
          ...(challenge.scope !== undefined ? [["scope", challenge.scope] as const] : []),
        ];
  return `Bearer ${pairs.map(([key, value]) => `${key}=${quote(value)}`).join(", ")}`;
}
