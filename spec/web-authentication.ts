// Simple authentication (steps 6–11): https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow
// Also PROTOCOL.md §4 and §8 (the query is replaced; the first access-token item is the token).
import { z } from "zod";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";
import { hasControlCharacter } from "./user-identifier.ts";

/** The ASWebAuthenticationSession callback scheme (DOC-SIMPLE, DOC-OAUTH). */
export const callbackScheme = "apple-remotemanagement-user-login";

// --- Query helpers, shared with oauth2.ts ---------------------------------------------------

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Percent-encodes a query name or value so that an RFC 3986 reader (the device's URLComponents)
 * and a form reader (URLSearchParams) decode the same string: `+`, `&`, `=`, `#`, `%` and space
 * are encoded, while `:`, `/`, `?` and `@` stay literal as in Apple's examples
 * (`user-identifier=user01@example.com`, `redirect_uri=apple-remotemanagement-user-login:/oauth2/redirection`).
 * Lone surrogates become U+FFFD instead of throwing.
 */
export function encodeQueryComponent(value: string): string {
  return encodeURIComponent(value.replace(loneSurrogate, "\uFFFD")).replace(/%(?:3A|2F|3F|40)/g, (m) => decodeURIComponent(m));
}

/** Appends `name=value` items to a URL's query, keeping its existing query items and fragment. */
export function appendQuery(url: string, items: readonly (readonly [string, string])[]): string {
  if (items.length === 0) return url;
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? "" : url.slice(hash);
  const query = items.map(([name, value]) => `${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`).join("&");
  const separator = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&";
  return `${base}${separator}${query}${fragment}`;
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The first query item called `name`, decoded as the device decodes it (RFC 3986 percent-decoding:
 * `+` stays `+`). An item without `=` has the value "". Undefined when there is no such item.
 */
export function firstQueryValue(url: URL, name: string): string | undefined {
  for (const item of url.search.slice(1).split("&")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const itemName = decodeComponent(eq < 0 ? item : item.slice(0, eq));
    if (itemName === name) return eq < 0 ? "" : decodeComponent(item.slice(eq + 1));
  }
  return undefined;
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

// --- Steps 6–10 -------------------------------------------------------------------------------

/**
 * SIMPLE-1: the web-auth URL is the challenge url with its query REPLACED by
 * `user-identifier=<id>` (the device drops the url's own query, so state must live in the path);
 * scheme, authority and path are kept verbatim, the fragment is dropped.
 */
export function buildWebAuthUrl(challengeUrl: string, userIdentifier: string): string {
  const trimmed = challengeUrl.trim();
  const hash = trimmed.indexOf("#");
  const withoutFragment = hash < 0 ? trimmed : trimmed.slice(0, hash);
  const question = withoutFragment.indexOf("?");
  const base = question < 0 ? withoutFragment : withoutFragment.slice(0, question);
  return appendQuery(base, [["user-identifier", userIdentifier]]);
}

/** The query our sign-in page accepts (the device sends user-identifier; the page may prefill it). */
export const WebAuthQuery = z.object({ "user-identifier": z.string().max(320).optional() });
export type WebAuthQuery = z.infer<typeof WebAuthQuery>;

/** The sign-in POST of our simple web authentication page (Apple's example: username, password). */
export const SimpleSignInForm = z.object({
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
});
export type SimpleSignInForm = z.infer<typeof SimpleSignInForm>;

/**
 * What our sign-in page posts: the credentials, or the person's Cancel, each with the page's
 * anti-CSRF token. (SimpleSignInForm is Apple's example form; a client filling a foreign page sends that.)
 */
export const SignInSubmission = z.union([
  z.object({ action: z.literal("cancel"), csrf: z.string().max(512) }),
  z.object({
    action: z.literal("sign-in").optional(),
    csrf: z.string().max(512),
    username: z.string().min(1).max(320).refine((value) => !hasControlCharacter(value), "holds a control character"),
    password: z.string().min(1).max(1024),
  }),
]);
export type SignInSubmission = z.infer<typeof SignInSubmission>;

// --- Step 11 ----------------------------------------------------------------------------------

/** SIMPLE-4: the Location of the 308 that completes a successful sign-in. */
export function buildAuthenticationResultUrl(accessToken: string): string {
  return appendQuery(`${callbackScheme}://authentication-results`, [["access-token", accessToken]]);
}

export interface AuthenticationCallbackError {
  readonly code: "callback.scheme" | "callback.no-token";
  readonly ruleId: RuleId;
  readonly detail: string;
}

/**
 * SIMPLE-2: the session completes on a URL with the callback scheme (the host is not checked);
 * the first access-token item is the token. SIMPLE-3: none, or an empty one, is an error.
 */
export function parseAuthenticationCallback(url: string): Result<{ accessToken: string }, AuthenticationCallbackError> {
  const parsed = parseUrl(url);
  if (parsed === undefined || parsed.protocol !== `${callbackScheme}:`) {
    return err({ code: "callback.scheme", ruleId: "SIMPLE-2", detail: `not a ${callbackScheme} URL` });
  }
  const accessToken = firstQueryValue(parsed, "access-token");
  if (accessToken === undefined || accessToken === "") {
    return err({ code: "callback.no-token", ruleId: "SIMPLE-3", detail: "the callback carries no access-token" });
  }
  return ok({ accessToken });
}
