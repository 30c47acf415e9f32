// The benchmark's server process (started by bench/run.ts, never on its own). On 127.0.0.1 only,
// with @hono/node-server as runtime/node.ts serves the product, it listens with:
//
//   generated        the generated server (generated/server.generated.ts) over createServerHost,
//                    with the in-memory enrollment store and user directory;
//   product          the app `adenroll serve` builds (runtime/app.ts createAdenroll) from
//                    examples/byod-simple.yaml over an in-memory PGlite: enrollments, users,
//                    throttling and audit in storage;
//   bare-<name>      for each of them, a bare Hono app answering each benchmarked request with the
//                    very bytes that server gave (status, headers, body), without looking at it.
//
// Tells the parent its ports (IPC) once listening; answers "cpu" with its CPU time so far.
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createServer } from "../generated/server.generated.ts";
import { createAdenroll } from "../runtime/app.ts";
import { loadConfigFile } from "../runtime/config.ts";
import { createServerHost } from "../runtime/server-host.ts";
import { Directory } from "../runtime/directory.ts";
import { createIdentityCa } from "../runtime/identity-ca.ts";
import { MemoryEnrollmentStore } from "../runtime/memory-store.ts";
import { openStorage } from "../runtime/storage/open-storage.ts";
import { enrollBodyUrl, targets, type TargetName } from "./targets.ts";
import { seededRandom } from "../test/support/fixtures.ts";

const realEnrollBody = new Uint8Array(readFileSync(enrollBodyUrl));


const reportError = (error: unknown): void => console.error("bench server: unexpected failure", error);

async function generatedApp(): Promise<Hono> {
  const random = seededRandom(7);
  const directory = await Directory.create([{ userIdentifier: "alice@example.com", password: "correct horse battery staple", managedAppleId: "alice@appleid.example.com" }], random, 1_000);
  return createServer(
    createServerHost({
      publicBaseUrl: "https://mdm.example.com",
      organizationName: "Example Corp",
      domains: { "example.com": "mdm-byod" },
      directory,
      profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001", identity: { kind: "scep", url: "https://mdm.example.com/scep" } },
      store: new MemoryEnrollmentStore(),
      random,
      reportError,
    }),
  );
}

async function productApp(): Promise<{ app: Hono; close: () => Promise<void> }> {
  const storage = await openStorage({ memory: true });
  const config = await loadConfigFile(fileURLToPath(new URL("../examples/byod-simple.yaml", import.meta.url)), { scryptCost: 1_000 });
  const random = seededRandom(11);
  const adenroll = await createAdenroll(config, {
    storage,
    random,
    scryptCost: 1_000,
    identityCa: await createIdentityCa({ random }),
    log: { info: () => undefined, warn: () => undefined, error: (message) => reportError(message) },
  });
  return { app: adenroll.app, close: () => storage.close() };
}

interface Recorded {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Uint8Array<ArrayBuffer> | null;
}

async function record(app: Hono, name: TargetName): Promise<Recorded> {
  const { method, path } = targets[name];
  const response = await app.request(new Request(`http://127.0.0.1${path}`, { method, ...(method === "POST" ? { body: realEnrollBody } : {}) }));
  const body = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: [...response.headers], body: body.length === 0 ? null : body };
}

/**
 * A Hono app with the same routes, each returning a recorded answer without looking at the
 * request — written the cheapest way @hono/node-server knows (a plain header record).
 */
function bareApp(answers: Record<TargetName, Recorded>): Hono {
  const app = new Hono();
  const reply = (r: Recorded) => {
    const headers = Object.fromEntries(r.headers);
    return () => new Response(r.body, { status: r.status, headers });
  };
  app.get("/.well-known/com.apple.remotemanagement", reply(answers.discovery));
  app.post("/enroll/:version", reply(answers.enroll));
  return app;
}

function listen(app: Hono): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => resolve(info.port));
    server.once("error", reject);
  });
}

const generated = await generatedApp();
const product = await productApp();
const ports: Record<string, number> = {};
const statuses: Record<string, Record<TargetName, number>> = {};
for (const [name, app] of [["generated", generated], ["product", product.app]] as const) {
  // The first enroll creates the enrollment; every later one (what is measured) finds it and is challenged again.
  const answers = { discovery: await record(app, "discovery"), enroll: await record(app, "enroll") };
  statuses[name] = { discovery: answers.discovery.status, enroll: answers.enroll.status };
  ports[name] = await listen(app);
  ports[`bare-${name}`] = await listen(bareApp(answers));
}

process.on("message", (message) => {
  if (message === "cpu") process.send?.({ cpu: process.cpuUsage() });
});
process.on("disconnect", () => {
  void product.close().finally(() => process.exit(0));
});
process.send?.({ ports, statuses });
