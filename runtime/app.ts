// The product's wiring: a loaded configuration and a storage become the generated Hono app.
//
//   enrollments  → storage.enrollments (the server machine's snapshots)
//   users        → storage.users, seeded from the configuration at start (StoredUserDirectory)
//   throttling   → storage.sessions (failure counts shared by every instance)
//   audit        → storage.audit: every sign-in success, failure and lockout, every profile delivery
//   device trust → Apple Root CA, plus the test CA only when the configuration allows it
//
// The host itself is built in runtime/server-host.ts; this file only chooses its parts.
import type { Hono } from "hono";
import { createServer, type ServerHost } from "../generated/server.generated.ts";
import type { AdenrollConfig } from "./config.ts";
import { secureRandomBytes, type RandomBytes } from "./crypto.ts";
import type { ScryptCost } from "./directory.ts";
import { createIdentityCa, identityIssuer, type IdentityCa } from "./identity-ca.ts";
import { loadProfileSigner } from "./profile-signing.ts";
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
}

export interface Adenroll {
  readonly app: Hono;
  readonly fetch: (request: Request) => Promise<Response>;
  readonly host: ServerHost;
  /** Users removed from storage at start because the configuration no longer names them. */
  readonly removedUsers: readonly string[];
}

/** Builds the server for `config` over `storage`: seeds the users, then the host and the Hono app. */
export async function createAdenroll(config: AdenrollConfig, deps: AdenrollDependencies): Promise<Adenroll> {
  const log = deps.log ?? silentLogger;
  const random = deps.random ?? secureRandomBytes;
  const now = deps.clock ?? Date.now;
  const { storage } = deps;

  const directory = new StoredUserDirectory(storage.users, random, deps.scryptCost, { ...defaultLookupCache, now });
  const removedUsers = await directory.seed(config.users);
  if (removedUsers.length > 0) log.info(`removed ${removedUsers.length} user(s) the configuration no longer names: ${removedUsers.join(", ")}`);

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
  if (p.identity.kind === "pkcs12") {
    let ca = p.identity.ca ?? deps.identityCa;
    if (ca === undefined) {
      log.warn("no identity CA was given: a throwaway one is generated for this run (identities it issues will not chain to anything after a restart)");
      ca = await createIdentityCa({ now, random });
    }
    identity = { kind: "pkcs12-per-enrollment", issue: identityIssuer(ca, { now, random, keyBits: p.identity.keyBits, validityDays: p.identity.validityDays }) };
  } else {
    identity = p.identity;
  }
  const sign = p.signing === undefined ? undefined : await loadProfileSigner(p.signing, now);
  const { identity: _identityConfig, signing: _signing, ...profileKeys } = p;

  const host = createServerHost({
    publicBaseUrl: config.publicBaseUrl,
    organizationName: config.organizationName,
    organizations: config.organizations,
    directory,
    ...(config.discoveryFailedMessage === undefined ? {} : { discoveryFailedMessage: config.discoveryFailedMessage }),
    // The configuration's profile keys are the host's, but for the identity and the signer it builds.
    profile: { ...profileKeys, identity, ...(sign === undefined ? {} : { sign }) },
    tokenLifetimeSeconds: config.tokenLifetimeSeconds,
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
  return { app, host, removedUsers, fetch: async (request) => app.fetch(request) };
}
