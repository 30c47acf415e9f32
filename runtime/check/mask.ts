// What a report of `adenroll check` must never show whole: tokens, passwords, codes, the profile's
// PKCS#12 password and the sign-in path's enrollment reference.

/** The last four characters of a secret, the rest masked. */
export function maskSecret(value: string): string {
  return value.length <= 8 ? "…" : `…${value.slice(-4)}`;
}

/** Masks what a report must never show: bearer tokens, passwords, codes, access tokens in URLs. */
export function maskText(text: string): string {
  return text
    .replace(/(Bearer\s+)([A-Za-z0-9._~+/=-]{6,})/gi, (_, scheme: string, token: string) => `${scheme}${maskSecret(token)}`)
    .replace(/((?:^|[?&])(?:access-token|access_token|refresh_token|code|password|client_secret|token)=)([^&\s"'<]+)/gi, (_, key: string, value: string) => `${key}${maskSecret(decodeURIComponentSafe(value))}`)
    // No closing quote needed: a shortened text may end inside the value.
    .replace(/("(?:access_token|refresh_token|id_token)"\s*:\s*")([^"]+)/g, (_, a: string, v: string) => `${a}${maskSecret(v)}`)
    .replace(/(<key>Password<\/key>\s*<string>)([^<]*)(<\/string>)/g, "$1•••$3")
    // The sign-in path's enrollment reference lets anyone open that enrollment's sign-in: never shown whole.
    .replace(/(\/authenticate\/)([A-Za-z0-9_-]{16,64})/g, (_, prefix: string, ref: string) => `${prefix}${maskSecret(ref)}`);
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
