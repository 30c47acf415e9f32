// What the token-endpoint benchmark's two processes agree on (bench/oauth2.bench.ts, bench/oauth2-serve.ts).

/** The one public client both servers register: PKCE S256 required, a loopback redirect (RFC 8252 §7.3). */
export const benchClient = { id: "bench-client", redirectUri: "http://127.0.0.1/callback" } as const;

/** The PKCE code_verifier of every code (43–128 unreserved characters; both servers hash it the same way). */
export const benchVerifier = "bench-verifier-0123456789abcdefghijklmnopqrstuvwxyz";

export const benchUser = { userIdentifier: "alice@example.com", password: "correct horse battery staple", managedAppleId: "alice@appleid.example.com" };

/** The token endpoints, per server. */
export const tokenPaths = { adenroll: "/oauth2/token", oidc: "/token" } as const;
export type BenchServer = keyof typeof tokenPaths;

/** The form of a code exchange. */
export function codeExchangeForm(code: string): string {
  return new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: benchClient.redirectUri, client_id: benchClient.id, code_verifier: benchVerifier }).toString();
}

/** The form of a refresh. */
export function refreshForm(refreshToken: string): string {
  return new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: benchClient.id }).toString();
}
