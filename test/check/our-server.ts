// Our own server for the check's tests: the demo configuration (`adenroll serve` without --config:
// a simple and an OAuth 2 organization, PKCS#12 identities, SignMessage, the test device CA trusted)
// over an in-memory PGlite, in process.
// Its fetch is what `adenroll check` talks to, directly or through a fault (faults.ts).
import { createAdenroll } from "../../runtime/app.ts";
import { createIdentityCa } from "../../runtime/identity-ca.ts";
import { demo, demoConfig } from "../../runtime/serve.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { createTestDeviceCa, type TestDeviceCa } from "../../runtime/test-device-ca.ts";

export const origin = "http://127.0.0.1:8080";
export const password = "check-password-0123456789";

export interface OurServer {
  readonly fetch: (request: Request) => Promise<Response>;
  readonly ca: TestDeviceCa;
  /** The simple sign-in account. */
  readonly user: string;
  /** The account whose organization signs in with OAuth 2 (apple-oauth2). */
  readonly oauthUser: string;
  readonly password: string;
  readonly origin: string;
  close(): Promise<void>;
}

export async function ourServer(): Promise<OurServer> {
  // The demo's configuration, with a cheap password hash (the check signs in three times per run).
  const config = await demoConfig(origin, password, process.cwd(), { scryptCost: 1024 });
  const storage: OpenedStorage = await openStorage({ memory: true });
  const ca = await createTestDeviceCa();
  const adenroll = await createAdenroll(config, {
    storage,
    identityCa: await createIdentityCa(),
    testDeviceCa: ca.certificate,
    scryptCost: 1024,
    throttle: { maxFailures: 1_000_000, windowMs: 60_000 },
  });
  return { fetch: adenroll.fetch, ca, user: demo.user, oauthUser: demo.oauthUser, password, origin, close: () => storage.close() };
}
