// The Authorization header of enroll and MDM requests (step 12, step 19): https://developer.apple.com/documentation/devicemanagement/onboarding-users-with-account-sign-in

/** What a request presented: nothing, something unreadable, or a bearer token. */
export type PresentedAuthorization =
  | { readonly kind: "missing" }
  | { readonly kind: "malformed" }
  | { readonly kind: "bearer"; readonly token: string };

// RFC 6750 b64token.
const b64token = /^[A-Za-z0-9\-._~+/]+=*$/;

export function parseAuthorization(header: string | null | undefined): PresentedAuthorization {
  if (header === null || header === undefined || header.trim() === "") return { kind: "missing" };
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  const token = match?.[1];
  if (token === undefined || !b64token.test(token) || token.length > 4096) return { kind: "malformed" };
  return { kind: "bearer", token };
}

export function formatAuthorization(token: string): string {
  return `Bearer ${token}`;
}
