// panva's oidc-provider — a certified OpenID Connect implementation, not a mock — running in the
// test process on loopback as the upstream identity provider. Its development login and consent
// pages stand in for a real provider's: any login name signs in as that account, with any password.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { type ClaimsParameterMember } from "oidc-provider";

export interface TestIdentityProvider {
  /** http://127.0.0.1:PORT */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Login names whose claims were read (findAccount). */
  readonly accountsRead: string[];
  close(): Promise<void>;
}

export interface TestAccount {
  readonly email?: string;
  readonly email_verified?: boolean;
  readonly [claim: string]: unknown;
}

/** Starts the provider on 127.0.0.1 at a free port, with one confidential client for `redirectUris`. */
export async function startIdentityProvider(options: {
  readonly redirectUris: readonly string[];
  /** Login name → its claims. */
  readonly accounts: Readonly<Record<string, TestAccount>>;
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Extra claims the scopes release (besides email). */
  readonly scopeClaims?: Readonly<Record<string, readonly string[]>>;
}): Promise<TestIdentityProvider> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = options.clientId ?? "adenroll-test";
  const clientSecret = options.clientSecret ?? "a client secret of the test provider, long enough";
  const accountsRead: string[] = [];
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [...options.redirectUris],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    claims: { openid: ["sub"], email: ["email", "email_verified"], ...Object.fromEntries(Object.entries(options.scopeClaims ?? {}).map(([k, v]) => [k, [...v]])) },
    scopes: ["openid", "email", "offline_access", ...Object.keys(options.scopeClaims ?? {})],
    pkce: { required: () => true },
    // Its own signing key and lifetimes (its quick-start defaults only add warnings to the log).
    jwks: { keys: [{ ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }), use: "sig", alg: "RS256", kid: "test" }] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
    cookies: { keys: ["test cookie key, not a secret"] },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, id) {
      const account = options.accounts[id];
      if (account === undefined) return undefined;
      accountsRead.push(id);
      return {
        accountId: id,
        async claims(_use: string, _scope: string, _claims: Record<string, ClaimsParameterMember | null>, _rejected: string[]) {
          return { sub: id, ...account };
        },
      };
    },
  });
  // Its warnings about development-only features are expected here.
  provider.on("server_error", (_ctx, error) => {
    console.error("oidc-provider server_error", error);
  });
  server.on("request", provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    accountsRead,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
