// The product's wiring: a loaded configuration and a storage become the generated Hono app.
//
//   enrollments  → storage.enrollments (the server machine's snapshots)
//   users        → storage.users, seeded from the configuration at start (StoredUserDirectory)
//   throttling   → storage.sessions (failure counts shared by every instance)
//   audit        → storage.audit: every sign-in success, failure and lockout, every profile delivery
//   device trust → Apple Root CA, plus the test CA only when the configuration allows it
//   admin        → the admin API under /admin/v1 (runtime/admin-api.ts), authorized by the
//                  configuration's admin tokens, or the data folder's when it names none
//   sign-in      → the password directory, and/or an OpenID Connect provider per organization
//                  (runtime/upstream-sign-in.ts, mounted at /authenticate/upstream/)
//   MDM          → the built-in MDM (runtime/mdm.ts) over storage.mdm unless deps.mdm answers; its
//                  commands are queued through /admin/v1 (runtime/admin-commands-api.ts)
//
// The host itself is built in runtime/server-host.ts; this file only chooses its parts.
import type { Hono } from "hono";
import { createServer, type AuthorizedMdmRequest, type ServerHost } from "../generated/server.generated.ts";
import { createAdminService, type AdminService } from "./admin.ts";
import { adminApiPrefix, createAdminApi } from "./admin-api.ts";
import { adminAuthenticator } from "./admin-token.ts";
import { createAdminCommandsApi } from "./admin-commands-api.ts";
import { builtInMdm } from "./mdm.ts";
import { createCommandService } from "./mdm-commands.ts";
import type { AdenrollConfig, AdminTokenConfig } from "./config.ts";
import { secureRandomBytes, type RandomBytes } from "./crypto.ts";
import type { ScryptCost } from "./directory.ts";
import { createIdentityCa, identityIssuer, type IdentityCa } from "./identity-ca.ts";
import { loadProfileSigner } from "./profile-signing.ts";
import { loadPemCertificates } from "./device-signature.ts";
import { createServerHost, type IdentitySource } from "./server-host.ts";
import type { Storage } from "./storage/roles.ts";
import { StoredFailureCounter, type ThrottlePolicy } from "./throttle.ts";
import { defaultLookupCache, StoredUserDirectory } from "./user-directory.ts";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface AdenrollDependencies {
  readonly storage: Storage;
  /** Milliseconds since the epoch (default Date.now). */
  readonly clock?: () => number;
  readonly random?: RandomBytes;
  readonly log?: Logger;
  /** The built-in CA for PKCS#12 identities when the configuration names none (runtime/identity-ca.ts). */
  readonly identityCa?: IdentityCa;
  /** The test device CA (DER) when the configuration allows one and names no file. */
  readonly testDeviceCa?: Uint8Array;
  /** Keys the sign-in form's anti-CSRF tokens; instances behind one name must share it. */
  readonly secret?: Uint8Array;
  /** scrypt cost of the decoy hash an unknown user is checked against (default: production). */
  readonly scryptCost?: number | ScryptCost;
  readonly throttle?: ThrottlePolicy;
  /** Answers authorized MDM requests: the built-in MDM by default, or an upstream MDM (proxy mode). */
  readonly mdm?: (request: AuthorizedMdmRequest) => Promise<Response>;
  /** Admin API tokens used when the configuration names none (the data folder's, runtime/serve.ts). */
  readonly adminTokens?: readonly AdminTokenConfig[];
}

export interface Adenroll {
  readonly app: Hono;
  readonly fetch: (request: Request) => Promise<Response>;
  readonly host: ServerHost;
  /** Users removed from storage at start because the configuration no longer names them. */
  readonly removedUsers: readonly string[];
  /** Users added by administration that the configuration names: the configuration's from now on. */
  readonly adoptedUsers: readonly string[];
  /** The administration behind /admin/v1. */
  readonly admin: AdminService;
  /**
   * Drops what has expired: OAuth 2 codes and refresh-token families, sign-in failures older than
   * {@link housekeepingKeepMs}, spent anti-CSRF nonces. Idempotent, any instance may run it;
   * `adenroll serve` runs it every 5 minutes — an app that embeds adenroll calls it itself.
   */
  readonly housekeeping: () => Promise<void>;
}

/** How long sign-in failures are kept for housekeeping (the throttles look back less far). */
export const housekeepingKeepMs = 86_400_000;

/** Builds the server for `config` over `storage`: seeds the users, then the host and the Hono app. */
export async function createAdenroll(config: AdenrollConfig, deps: AdenrollDependencies): Promise<Adenroll> {
  const log = deps.log ?? silentLogger;
  const random = deps.random ?? secureRandomBytes;
  const now = deps.clock ?? Date.now;
  const { storage } = deps;

  const directory = new StoredUserDirectory(storage.users, random, deps.scryptCost, { ...defaultLookupCache, now });
  const { removed: removedUsers, adopted: adoptedUsers } = await directory.seedFromConfig(config.users);
  if (removedUsers.length > 0) log.info(`removed ${removedUsers.length} user(s) the configuration no longer names: ${removedUsers.join(", ")}`);
  if (adoptedUsers.length > 0) log.warn(`user(s) added by administration are also named by the configuration, which wins from now on: ${adoptedUsers.join(", ")}`);

  let testCa: Uint8Array | undefined;
  if (config.deviceTrust.allowTestDeviceCa) {
    testCa = config.deviceTrust.testDeviceCa ?? deps.testDeviceCa;
    if (testCa === undefined) throw new Error("deviceTrust.allowTestDeviceCa is true, but no test device CA was given (deviceTrust.testDeviceCa, or the data folder's)");
    log.warn(
      "!!! deviceTrust.allowTestDeviceCa is ON: enroll bodies signed by the TEST device CA are accepted, so anyone holding its key can enroll a simulated device. Never run production like this. !!!",
    );
  }

  const p = config.profile;
  let identity: IdentitySource;
  // Whose certificates may sign MDM requests: the CAs behind SCEP/ACME identities, and the built-in one.
  const identityAnchors = p.identityCaCertificates.map((certificate, i) => ({ label: `identity-ca-${i}`, certificate }));
  if (p.identity.kind === "pkcs12") {
    let ca = p.identity.ca ?? deps.identityCa;
    if (ca === undefined) {
      log.warn("no identity CA was given: a throwaway one is generated for this run (identities it issues will not chain to anything after a restart)");
      ca = await createIdentityCa({ now, random });
    }
    identity = { kind: "pkcs12-per-enrollment", issue: identityIssuer(ca, { now, random, keyBits: p.identity.keyBits, validityDays: p.identity.validityDays }) };
    for (const certificate of loadPemCertificates(ca.certificatePem)) identityAnchors.push({ label: "builtin-identity-ca", certificate });
  } else {
    identity = p.identity;
  }
  const sign = p.signing === undefined ? undefined : await loadProfileSigner(p.signing, now);
  const { identity: _identityConfig, signing: _signing, identityCaCertificates: _identityCas, ...profileKeys } = p;

  const host = createServerHost({
    publicBaseUrl: config.publicBaseUrl,
    organizationName: config.organizationName,
    organizations: config.organizations,
    directory,
    ...(config.discoveryFailedMessage === undefined ? {} : { discoveryFailedMessage: config.discoveryFailedMessage }),
    // The configuration's profile keys are the host's, but for the identity and the signer it builds.
    profile: { ...profileKeys, identity, ...(sign === undefined ? {} : { sign }) },
    tokenLifetimeSeconds: config.tokenLifetimeSeconds,
    authentication: config.authentication,
    ...(config.identityProvider === undefined ? {} : { identityProvider: config.identityProvider }),
    ...(config.oauth2 === undefined
      ? {}
      : {
          oauth2: {
            clients: config.oauth2.clients.map((c) => ({ id: c.id, redirectUris: [...c.redirectUris], pkce: c.pkce })),
            scope: config.oauth2.scope,
            store: storage.oauth,
            accessTokenLifetimeSeconds: config.oauth2.accessTokenLifetimeSeconds,
            refreshTokenLifetimeSeconds: config.oauth2.refreshTokenLifetimeSeconds,
            codeLifetimeSeconds: config.oauth2.codeLifetimeSeconds,
          },
        }),
    identityTrust: { anchors: identityAnchors },
    // The built-in MDM unless another answers (an upstream MDM, in proxy mode).
    mdm:
      deps.mdm ??
      builtInMdm({
        store: storage.mdm,
        now,
        async audit(event) {
          await storage.audit.append({ at: now(), ...event, detail: { ...event.detail } });
        },
        log: (message) => log.info(`mdm: ${message}`),
      }),
    ...(deps.secret === undefined ? {} : { secret: deps.secret }),
    failures: new StoredFailureCounter(storage.sessions),
    ...(deps.throttle === undefined ? {} : { throttle: deps.throttle }),
    ...(testCa === undefined ? {} : { deviceTrust: { testCa } }),
    store: storage.enrollments,
    random,
    now,
    async audit(event) {
      await storage.audit.append({ at: now(), ...event, detail: { ...event.detail } });
    },
    reportRejected(operation, reason) {
      log.info(`refused ${operation}: ${reason.code}${reason.detail === "" ? "" : ` (${reason.detail})`}`);
    },
    reportError(error) {
      log.error(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    },
  });
  const app = createServer(host);
  // Sign-in through an OpenID Connect provider: its start link and callback (runtime/upstream-sign-in.ts).
  const upstream = host.upstreamSignIn;
  if (upstream !== undefined) app.get("/authenticate/upstream/*", (c) => upstream.fetch(c.req.raw));

  // The admin API rides on the same app, under its own prefix: the generated routes stay as they are.
  const domains = new Set(config.organizations.flatMap((o) => Object.keys(o.domains)));
  const admin = createAdminService({
    storage,
    now,
    random,
    ...(deps.scryptCost === undefined ? {} : { scryptCost: deps.scryptCost }),
    servesDomain: (domain) => domains.has(domain),
    onUserChanged: (userIdentifier) => directory.forget(userIdentifier),
  });
  const adminTokens = config.admin.tokens.length > 0 ? config.admin.tokens : (deps.adminTokens ?? []);
  // The built-in MDM's command routes, mounted first: the admin API ends with a catch-all 404.
  app.route(
    adminApiPrefix,
    createAdminCommandsApi({
      service: createCommandService({ storage, now, random }),
      authenticate: adminAuthenticator(adminTokens),
      reportError: (error) => log.error(`unexpected error in the admin API: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
    }),
  );
  app.route(
    adminApiPrefix,
    createAdminApi({
      service: admin,
      authenticate: adminAuthenticator(adminTokens),
      reportError: (error) => log.error(`unexpected error in the admin API: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
    }),
  );
  const housekeeping = async (): Promise<void> => {
    const at = now();
    await storage.oauth.prune(at);
    await storage.sessions.prune(at - housekeepingKeepMs);
  };
  return { app, host, removedUsers, adoptedUsers, admin, housekeeping, fetch: async (request) => app.fetch(request) };
}
