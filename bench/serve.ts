// The benchmark's server process (started by bench/run.ts, never on its own). On 127.0.0.1 only,
// with @hono/node-server as runtime/node.ts serves the product, it listens with:
//
//   generated        the generated server (generated/server.generated.ts) over createServerHost,
//                    with the in-memory enrollment store and user directory;
//   product          the app `adenroll serve` builds (runtime/app.ts createAdenroll) from
//                    examples/byod-simple.yaml over an in-memory PGlite: enrollments, users,
//                    throttling and audit in storage;
//   bare-<name>      for each of them, a bare Hono app answering each benchmarked request with the
//                    very bytes that server gave (status, headers, body), without looking at it;
//   checkin-…        for authorized check-ins (bench/checkin.ts), the same product app over its own
//                    in-memory PGlite seeded with enrolled enrollments (--checkin: a JSON array of
//                    { name, size, measured, cache }), and bare-checkin, answering PUT /mdm/checkin
//                    with the bytes they gave;
//   reference twins  beside bare-checkin, answering with the same bytes (checkinReferenceTwins):
//                    bare-checkin-5us and -10us first compute for that long (a loop calibrated in
//                    this process at its start), checkin-unauthorized reads and parses the body as
//                    the product does (parseCheckInMessage) without looking any token up.
//
//   node --import tsx bench/serve.ts [--parts server,checkin] [--checkin '[{"name":"checkin-100","size":100,"measured":100,"cache":true}]']
//
// Tells the parent its ports (IPC) once listening; answers "cpu" with its CPU time so far, and
// profiles itself between "profile-start" and { profileTo } (node:inspector).
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { z } from "zod";
import { createServer } from "../generated/server.generated.ts";
import { createAdenroll } from "../runtime/app.ts";
import { loadConfigFile } from "../runtime/config.ts";
import { createServerHost } from "../runtime/server-host.ts";
import { Directory } from "../runtime/directory.ts";
import { createIdentityCa, type IdentityCa } from "../runtime/identity-ca.ts";
import { MemoryEnrollmentStore } from "../runtime/memory-store.ts";
import { openStorage, type OpenedStorage } from "../runtime/storage/open-storage.ts";
import { enrollBodyUrl, targets, type TargetName } from "./targets.ts";
import { parseCheckInMessage } from "../spec/index.ts";
import { CheckinStoreSpec, checkinReferenceTwins, checkinRequests, checkinTarget, seedEnrollments, verifySeed } from "./checkin.ts";
import { seededRandom } from "../test/support/fixtures.ts";

const realEnrollBody = new Uint8Array(readFileSync(enrollBodyUrl));

const { values: args } = parseArgs({
  options: {
    parts: { type: "string", default: "server,checkin" },
    /** A JSON array of CheckinStoreSpec (bench/checkin.ts). */
    checkin: { type: "string", default: JSON.stringify([100, 100_000].map((size) => ({ name: `checkin-${size}`, size, measured: 100, cache: true }))) },
  },
});
const parts = new Set((args.parts ?? "").split(","));
const checkinSpecs = z.array(CheckinStoreSpec).safeParse(JSON.parse(args.checkin ?? "[]"));
if (!checkinSpecs.success || checkinSpecs.data.some((spec) => spec.measured > spec.size)) throw new Error("bench server: --checkin is a JSON array of { name, size, measured ≤ size, cache }");
/** Seeded tokens stay valid for the whole run (a day). */
const tokenExpiresAt = Date.now() + 86_400_000;

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

let identityCa: Promise<IdentityCa> | undefined;

async function productApp(
  seed?: (storage: OpenedStorage) => Promise<void>,
  options: { readonly cache?: boolean; readonly mdm?: "builtin" | "none" } = {},
): Promise<{ app: Hono; close: () => Promise<void>; storage: OpenedStorage }> {
  const storage = await openStorage({ memory: true, ...(options.cache === false ? { enrollmentCache: false } : {}) });
  await seed?.(storage);
  const config = await loadConfigFile(fileURLToPath(new URL("../examples/byod-simple.yaml", import.meta.url)), { scryptCost: 1_000 });
  const random = seededRandom(11);
  // One CA for every product server: generating its RSA key is the slowest part of a start.
  identityCa ??= createIdentityCa({ random: seededRandom(11) });
  const adenroll = await createAdenroll(config, {
    storage,
    random,
    scryptCost: 1_000,
    identityCa: await identityCa,
    ...(options.mdm === "none" ? { mdm: async () => new Response(null, { status: 200 }) } : {}),
    log: { info: () => undefined, warn: () => undefined, error: (message) => reportError(message) },
  });
  return { app: adenroll.app, close: () => storage.close(), storage };
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

/** The bare twin of the check-in servers: PUT /mdm/checkin answered with their recorded answer. */
function bareCheckinApp(answer: Recorded): Hono {
  const app = new Hono();
  const headers = Object.fromEntries(answer.headers);
  app.put(checkinTarget.path, () => new Response(answer.body, { status: answer.status, headers }));
  return app;
}

// ---- calibrated computation (the "bare + N µs" reference twins) ------------------------------

let burnt = 0;

/** `iterations` steps of a 32-bit LCG: pure computation, nothing allocated, kept (burnt) so it is not optimized away. */
function burn(iterations: number): void {
  let x = burnt;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  burnt = x;
}

const cpuMicros = (): number => {
  const used = process.cpuUsage();
  return used.user + used.system;
};

/** Iterations of `burn` per µs of this process's CPU time: the best of 5 runs of 10 M (CPU time, so that other processes' load moves it less). */
function calibrateBurn(): number {
  burn(1_000_000);
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < 5; k++) {
    const t0 = cpuMicros();
    burn(10_000_000);
    best = Math.min(best, cpuMicros() - t0);
  }
  return 10_000_000 / best;
}

/** CPU µs per call of burn(iterations), over 2 000 calls: what the twin's handler spends computing. */
function timeBurn(iterations: number): number {
  const t0 = cpuMicros();
  for (let k = 0; k < 2000; k++) burn(iterations);
  return (cpuMicros() - t0) / 2000;
}

/** The bare check-in twin that first computes for `iterations` (a calibrated number of µs). */
function computingCheckinApp(answer: Recorded, iterations: number): Hono {
  const app = new Hono();
  const headers = Object.fromEntries(answer.headers);
  app.put(checkinTarget.path, () => {
    burn(iterations);
    return new Response(answer.body, { status: answer.status, headers });
  });
  return app;
}

/**
 * The check-in twin without authorization: the body read in one go (as the generated readBody
 * reads one with a Content-Length) and parsed with parseCheckInMessage, as the product's route
 * does; no token look-up. A body that does not parse gets 400, which bench/run.ts would see.
 */
function unauthorizedCheckinApp(answer: Recorded): Hono {
  const app = new Hono();
  const headers = Object.fromEntries(answer.headers);
  app.put(checkinTarget.path, async (c) => {
    const parsed = parseCheckInMessage(new Uint8Array(await c.req.raw.arrayBuffer()));
    if (!parsed.ok) return new Response(null, { status: 400 });
    return new Response(answer.body, { status: answer.status, headers });
  });
  return app;
}

function listen(app: Hono): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => resolve(info.port));
    server.once("error", reject);
  });
}

const ports: Record<string, number> = {};
const statuses: Record<string, Record<TargetName, number>> = {};
const closers: (() => Promise<void>)[] = [];
if (parts.has("server")) {
  const generated = await generatedApp();
  const product = await productApp();
  closers.push(product.close);
  for (const [name, app] of [["generated", generated], ["product", product.app]] as const) {
    // The first enroll creates the enrollment; every later one (what is measured) finds it and is challenged again.
    const answers = { discovery: await record(app, "discovery"), enroll: await record(app, "enroll") };
    statuses[name] = { discovery: answers.discovery.status, enroll: answers.enroll.status };
    ports[name] = await listen(app);
    ports[`bare-${name}`] = await listen(bareApp(answers));
  }
}

/** What the check-in servers hold: enrollments stored and seconds spent seeding them, per server. */
const checkinStores: Record<string, { readonly enrollments: number; readonly seedSeconds: number; readonly cache: boolean }> = {};
/** The computation twins' calibration, done first (before any store is built), for bench/run.ts to print. */
let calibration: { readonly iterationsPerUs: number; readonly twins: { readonly name: string; readonly computeUs: number; readonly iterations: number; readonly measuredUs: number }[] } | undefined;
if (parts.has("checkin")) {
  const iterationsPerUs = calibrateBurn();
  calibration = {
    iterationsPerUs,
    twins: checkinReferenceTwins
      .filter((twin) => twin.kind === "computation")
      .map((twin) => {
        const iterations = Math.round(twin.computeUs * iterationsPerUs);
        return { name: twin.name, computeUs: twin.computeUs, iterations, measuredUs: timeBurn(iterations) };
      }),
  };
  const first = checkinRequests(1)[0];
  if (first === undefined) throw new Error("bench server: no check-in request");
  let recorded: Recorded | undefined;
  for (const spec of checkinSpecs.data) {
    const t0 = performance.now();
    const product = await productApp(
      async (storage) => {
        await seedEnrollments(storage.db, spec.size, spec.measured, tokenExpiresAt, Date.now());
        await verifySeed(storage, spec.size, spec.measured, tokenExpiresAt);
      },
      { cache: spec.cache, mdm: spec.mdm },
    );
    const seedSeconds = (performance.now() - t0) / 1000;
    closers.push(product.close);
    const counted = await product.storage.db.selectFrom("adenroll_enrollments").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
    checkinStores[spec.name] = { enrollments: Number(counted?.n ?? 0), seedSeconds, cache: product.storage.enrollmentCache !== undefined };
    const { method, path } = checkinTarget;
    const response = await product.app.request(new Request(`http://127.0.0.1${path}`, { method, headers: first.headers, body: first.body.slice() }));
    const body = new Uint8Array(await response.arrayBuffer());
    recorded ??= { status: response.status, headers: [...response.headers], body: body.length === 0 ? null : body };
    ports[spec.name] = await listen(product.app);
  }
  if (recorded !== undefined) {
    ports["bare-checkin"] = await listen(bareCheckinApp(recorded));
    for (const twin of calibration?.twins ?? []) ports[twin.name] = await listen(computingCheckinApp(recorded, twin.iterations));
    for (const twin of checkinReferenceTwins) if (twin.kind === "parse") ports[twin.name] = await listen(unauthorizedCheckinApp(recorded));
  }
}

// A CPU profile of this process between "profile-start" and { profileTo: file } (bench/run.ts --cpu-prof).
const ProfileStop = z.object({ profileTo: z.string() });
const profiler = new Session();
const post = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) => profiler.post(method, params, (error, result) => (error === null ? resolve(result) : reject(error))));

process.on("message", (message) => {
  if (message === "cpu") process.send?.({ cpu: process.cpuUsage() });
  if (message === "profile-start") {
    profiler.connect();
    void post("Profiler.enable")
      .then(() => post("Profiler.setSamplingInterval", { interval: 100 }))
      .then(() => post("Profiler.start"))
      .then(() => process.send?.({ profiling: true }), reportError);
  }
  const stop = ProfileStop.safeParse(message);
  if (stop.success) {
    void post("Profiler.stop")
      .then((result) => {
        const stopped = z.object({ profile: z.unknown() }).safeParse(result);
        writeFileSync(stop.data.profileTo, JSON.stringify(stopped.success ? stopped.data.profile : null));
        profiler.disconnect();
        process.send?.({ profiled: stop.data.profileTo });
      }, reportError);
  }
});
process.on("disconnect", () => {
  void Promise.all(closers.map((close) => close())).finally(() => process.exit(0));
});
process.send?.({ ports, statuses, checkinStores, ...(calibration === undefined ? {} : { calibration }) });
