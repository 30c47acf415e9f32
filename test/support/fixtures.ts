// Shared test setup: the real device body, a deterministic in-process server, and its fetch.
import { readFileSync } from "node:fs";
import { createServer } from "../../generated/server.generated.ts";
import { createServerHost, type ServerOptions } from "../../runtime/server-host.ts";
import { Directory } from "../../runtime/directory.ts";
import { MemoryEnrollmentStore } from "../../runtime/memory-store.ts";
import type { Fetch } from "../../generated/client.generated.ts";

/** The real iOS 15 enroll body (see test/fixtures/README.md). */
export const realEnrollBody = new Uint8Array(readFileSync(new URL("../fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url)));

/** Repeatable randomness: a counter through a simple mixing function (tests only). */
export function seededRandom(seed = 1): (length: number) => Uint8Array {
  let state = seed >>> 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
      out[i] = state & 0xff;
    }
    return out;
  };
}

export const alice = { userIdentifier: "alice@example.com", password: "correct horse battery staple", managedAppleId: "alice@appleid.example.com" };
export const bob = { userIdentifier: "bob@corp.example", password: "another long passphrase", managedAppleId: "bob@corp.example", version: "mdm-adde" as const };

export interface TestServer {
  readonly fetch: Fetch;
  readonly store: MemoryEnrollmentStore;
  readonly clock: { now: number };
}

export async function testServer(overrides: Partial<ServerOptions> = {}): Promise<TestServer> {
  const random = seededRandom(7);
  const directory = await Directory.create([alice, bob], random, 1_000);
  const store = new MemoryEnrollmentStore();
  const clock = { now: Date.UTC(2026, 10, 22) };
  const app = createServer(
    createServerHost({
      publicBaseUrl: "https://mdm.example.com",
      organizationName: "Example Corp",
      domains: { "example.com": "mdm-byod", "corp.example": "mdm-byod" },
      directory,
      profile: {
        identifierPrefix: "com.example.mdm",
        topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001",
        identity: { kind: "scep", url: "https://mdm.example.com/scep", challenge: "scep-challenge" },
        accessRights: 8191,
      },
      store,
      random,
      now: () => clock.now,
      ...overrides,
    }),
  );
  return { fetch: (request) => app.request(request), store, clock };
}
