// Anti-CSRF tokens for the sign-in form: stateless, HMAC-SHA-256 over the enrollment reference and
// an expiry, so any instance sharing the secret can check them and nothing is stored.
import { base64url, constantTimeEqual } from "./crypto.ts";

export interface CsrfTokens {
  issue(enrollmentRef: string, now: number): Promise<string>;
  check(enrollmentRef: string, token: string, now: number): Promise<boolean>;
}

export function csrfTokens(secret: Uint8Array, lifetimeMs = 15 * 60 * 1000): CsrfTokens {
  const key = crypto.subtle.importKey("raw", secret.slice(), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = async (ref: string, expiry: number): Promise<Uint8Array> =>
    new Uint8Array(await crypto.subtle.sign("HMAC", await key, new TextEncoder().encode(`sign-in|${ref}|${expiry}`)));
  return {
    async issue(ref, now) {
      const expiry = now + lifetimeMs;
      return `${expiry}.${base64url(await mac(ref, expiry))}`;
    },
    async check(ref, token, now) {
      const match = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
      if (match === null) return false;
      const expiry = Number(match[1]);
      if (!(expiry > now)) return false;
      const expected = base64url(await mac(ref, expiry));
      return constantTimeEqual(new TextEncoder().encode(expected), new TextEncoder().encode(match[2] ?? ""));
    },
  };
}
