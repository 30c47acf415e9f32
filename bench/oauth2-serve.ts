// The token-endpoint benchmark's server process (started by bench/oauth2.bench.ts, never on its
// own). On 127.0.0.1 only, it listens with:
//
//   adenroll   the generated server over createServerHost with OAuth 2 (runtime/oauth2-server.ts),
//              in-memory enrollment and OAuth stores, @hono/node-server as runtime/node.ts serves;
//   oidc       panva's oidc-provider (its own Koa app on node:http), its models in a Map adapter
//              (its default memory adapter is an LRU of 1 000 entries, which would drop pre-minted
//              codes), one public client, PKCE S256 (its default for public clients), refresh
//              tokens rotated (its default for public clients), opaque access tokens, no ID token
//              (scope offline_access, no openid).
//
// Both serve the same public client (id, loopback redirect URI, PKCE S256 with the same verifier).
// Codes and refresh tokens are single use, so the parent asks for fresh ones before each timed
// phase, the same number from each server:
//   { mint: n }     → { minted: { adenroll: string[], oidc: string[] } }   n authorization codes each:
//                     adenroll's through its real sign-in (the 401's authorization URL, the page's
//                     form posted with the person's credentials), oidc-provider's saved through its
//                     own models (Grant, AuthorizationCode) as its adapter documentation describes;
//   { chains: n }   → { chains: { adenroll: string[], oidc: string[] } }   n refresh tokens each, of
//                     n distinct grants (adenroll: n simulated devices, each its own enrollment),
//                     each obtained by a real code exchange;
//   "cpu"           → { cpu } this process's CPU time so far.
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import Provider, { type Adapter, type AdapterPayload } from "oidc-provider";
import { z } from "zod";
import { createServer } from "../generated/server.generated.ts";
import { secureRandomBytes } from "../runtime/crypto.ts";
import { Directory } from "../runtime/directory.ts";
import { MemoryEnrollmentStore } from "../runtime/memory-store.ts";
import { formFields } from "../runtime/person.ts";
import { createServerHost } from "../runtime/server-host.ts";
import { MemoryOAuthStore } from "../runtime/storage/memory-oauth-store.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody, type TestDeviceCa } from "../runtime/test-device-ca.ts";
import { appleRedirectUri, buildPlist, parseChallenge } from "../spec/index.ts";
import { benchClient, benchUser, benchVerifier, codeExchangeForm } from "./oauth2-shared.ts";

const reportError = (error: unknown): void => console.error("oauth2 bench server: unexpected failure", error);

// ---- adenroll ------------------------------------------------------------------------------

const base = "https://mdm.example.com";
const deviceCa: TestDeviceCa = await createTestDeviceCa();
const directory = await Directory.create([benchUser], secureRandomBytes, 1_000);
const app = createServer(
  createServerHost({
    publicBaseUrl: base,
    organizationName: "Example Corp",
    domains: { "example.com": "mdm-byod" },
    directory,
    profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001", identity: { kind: "scep", url: "https://mdm.example.com/scep" } },
    store: new MemoryEnrollmentStore(),
    deviceTrust: { testCa: deviceCa.certificate },
    authentication: "oauth2",
    oauth2: {
      clients: [
        { id: "adenroll", redirectUris: [appleRedirectUri], pkce: "optional" },
        { id: benchClient.id, redirectUris: [benchClient.redirectUri], pkce: "required" },
      ],
      store: new MemoryOAuthStore(),
    },
    reportError,
  }),
);

const enrollPlist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" }));

/** A simulated device's first enroll: the sign-in page's form (csrf and the request's hidden fields). */
async function signInForm(body: Uint8Array, challenge: string): Promise<Record<string, string>> {
  const first = await app.request(`${base}/enroll/mdm-byod`, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: body.slice() });
  const parsed = parseChallenge(first.headers.get("www-authenticate") ?? "");
  if (first.status !== 401 || !parsed.ok || parsed.value.method !== "apple-oauth2") throw new Error(`oauth2 bench server: the first enroll answered ${first.status}`);
  const url = new URL(parsed.value["authorization-url"]);
  for (const [name, value] of Object.entries({ response_type: "code", client_id: benchClient.id, redirect_uri: benchClient.redirectUri, state: "bench", code_challenge: challenge, code_challenge_method: "S256" })) url.searchParams.set(name, value);
  const page = await app.request(url.toString());
  if (page.status !== 200) throw new Error(`oauth2 bench server: the sign-in page answered ${page.status}`);
  return { ...formFields(await page.text()), username: benchUser.userIdentifier, password: benchUser.password, action: "sign-in" };
}

async function adenrollCode(form: Readonly<Record<string, string>>): Promise<string> {
  const answer = await app.request(`${base}/oauth2/authorize`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
  const code = new URL(answer.headers.get("location") ?? "x:").searchParams.get("code");
  if (answer.status !== 303 || code === null) throw new Error(`oauth2 bench server: the sign-in answered ${answer.status} ${answer.headers.get("location")}`);
  return code;
}

let mintDevice: { readonly body: Uint8Array; form?: Record<string, string> } | undefined;

/** n codes of one simulated device (each sign-in replaces the last one's token; the code exchange does not look at it). */
async function adenrollCodes(n: number, challenge: string): Promise<string[]> {
  mintDevice ??= { body: await signEnrollBody(enrollPlist, await issueDeviceIdentity(deviceCa)) };
  const codes: string[] = [];
  for (let i = 0; i < n; i++) {
    // A first enroll again puts the enrollment back to waiting for a sign-in.
    mintDevice.form = await signInForm(mintDevice.body, challenge);
    codes.push(await adenrollCode(mintDevice.form));
  }
  return codes;
}

/** n refresh tokens of n devices (a refresh runs the enrollment's machine: each chain needs its own enrollment). */
async function adenrollChains(n: number, challenge: string): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = await signEnrollBody(enrollPlist, await issueDeviceIdentity(deviceCa));
    const code = await adenrollCode(await signInForm(body, challenge));
    const answer = await app.request(`${base}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: codeExchangeForm(code),
    });
    tokens.push(refreshTokenOf(await answer.json()));
  }
  return tokens;
}

const refreshTokenOf = (body: unknown): string => {
  const parsed = z.object({ refresh_token: z.string() }).safeParse(body);
  if (!parsed.success) throw new Error(`oauth2 bench server: no refresh token in ${JSON.stringify(body)}`);
  return parsed.data.refresh_token;
};

// ---- oidc-provider -------------------------------------------------------------------------

/** oidc-provider's models in plain Maps (its adapter interface), kept until they expire. */
const oidcStore = new Map<string, Map<string, { payload: AdapterPayload; expiresAt: number }>>();
class MapAdapter implements Adapter {
  readonly #items: Map<string, { payload: AdapterPayload; expiresAt: number }>;
  constructor(model: string) {
    const items = oidcStore.get(model) ?? new Map();
    oidcStore.set(model, items);
    this.#items = items;
  }
  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    this.#items.set(id, { payload, expiresAt: Date.now() + expiresIn * 1000 });
  }
  async find(id: string): Promise<AdapterPayload | undefined> {
    const item = this.#items.get(id);
    if (item === undefined || item.expiresAt <= Date.now()) return undefined;
    return item.payload;
  }
  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined;
  }
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    for (const item of this.#items.values()) if (item.payload.uid === uid) return item.payload;
    return undefined;
  }
  async consume(id: string): Promise<void> {
    const item = this.#items.get(id);
    if (item !== undefined) item.payload = { ...item.payload, consumed: Math.floor(Date.now() / 1000) };
  }
  async destroy(id: string): Promise<void> {
    this.#items.delete(id);
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, item] of this.#items) if (item.payload.grantId === grantId) this.#items.delete(id);
  }
}

const oidcHttp = createHttpServer();
const oidcPort = await new Promise<number>((resolve, reject) =>
  oidcHttp.listen(0, "127.0.0.1", () => {
    const address = oidcHttp.address();
    if (typeof address === "object" && address !== null) resolve(address.port);
    else reject(new Error("oauth2 bench server: oidc-provider's server has no port"));
  }),
);
const provider = new Provider(`http://127.0.0.1:${oidcPort}`, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: benchClient.id,
      token_endpoint_auth_method: "none",
      application_type: "native",
      redirect_uris: [benchClient.redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
  ],
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  // As long-lived as adenroll's defaults, so that no token expires during a run.
  ttl: { AuthorizationCode: 60, AccessToken: 3600, RefreshToken: 30 * 86_400, Grant: 30 * 86_400 },
  features: { revocation: { enabled: true } },
});
provider.on("server_error", (_ctx, error) => reportError(error));
oidcHttp.on("request", provider.callback());

const foundClient = await provider.Client.find(benchClient.id);
if (foundClient === undefined) throw new Error("oauth2 bench server: oidc-provider has no bench client");
const oidcClient = foundClient;

async function oidcCode(challenge: string): Promise<string> {
  const grant = new provider.Grant({ accountId: benchUser.userIdentifier, clientId: benchClient.id });
  grant.addOIDCScope("offline_access");
  const grantId = await grant.save();
  return new provider.AuthorizationCode({
    accountId: benchUser.userIdentifier,
    client: oidcClient,
    grantId,
    redirectUri: benchClient.redirectUri,
    scope: "offline_access",
    codeChallenge: challenge,
    codeChallengeMethod: "S256",
    // @types/oidc-provider requires it; the AuthorizationCode model does not store it.
    gty: "authorization_code",
  }).save();
}

async function oidcChains(n: number, challenge: string): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const code = await oidcCode(challenge);
    const answer = await fetch(`http://127.0.0.1:${oidcPort}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: codeExchangeForm(code),
    });
    tokens.push(refreshTokenOf(await answer.json()));
  }
  return tokens;
}

// ---- listen and answer ---------------------------------------------------------------------

const adenrollPort = await new Promise<number>((resolve) => {
  serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => resolve(info.port));
});

const challenge = Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(benchVerifier))).toString("base64url");
const Mint = z.object({ mint: z.number().int().positive() });
const Chains = z.object({ chains: z.number().int().positive() });

process.on("message", (message) => {
  if (message === "cpu") {
    process.send?.({ cpu: process.cpuUsage() });
    return;
  }
  const mint = Mint.safeParse(message);
  if (mint.success) {
    void (async () => ({ adenroll: await adenrollCodes(mint.data.mint, challenge), oidc: await Promise.all(Array.from({ length: mint.data.mint }, () => oidcCode(challenge))) }))().then(
      (minted) => process.send?.({ minted }),
      reportError,
    );
    return;
  }
  const chains = Chains.safeParse(message);
  if (chains.success) {
    void (async () => ({ adenroll: await adenrollChains(chains.data.chains, challenge), oidc: await oidcChains(chains.data.chains, challenge) }))().then((started) => process.send?.({ chains: started }), reportError);
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ ports: { adenroll: adenrollPort, oidc: oidcPort } });
