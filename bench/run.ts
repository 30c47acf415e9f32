// npm run bench — issue 3, item 10. In one run, on this machine:
//
//   1. starts bench/serve.ts in a child process, listening on 127.0.0.1 only: the generated server
//      (in-memory store and directory), the product app as `adenroll serve` builds it (createAdenroll,
//      examples/byod-simple.yaml, everything in an in-memory PGlite), and for each a bare Hono app
//      that answers with the very bytes that server gave;
//   2. for (a) discovery of a known user and (b) the first enroll (the real iOS 15 body, no token:
//      CMS verify + 401 challenge), measures requests per second and p99 latency against each
//      server and against its bare twin — same client, same concurrency — in many short rounds, each
//      measuring the pair back to back (in alternating order), so that the changing load of a shared
//      machine falls on both alike; reports the median of the rounds and the median of the paired
//      ratios;
//   3. for authorized MDM check-ins (issue "Ongoing authorization", item 8): the product app over
//      stores seeded with 100 and with 100 000 enrolled enrollments (bench/checkin.ts), each sent
//      TokenUpdate check-ins with the Bearer tokens of the same 100 enrollments in turn, against a
//      bare twin answering their bytes; reports each ratio and ratio(100 000) ÷ ratio(100), and
//      beside it the two stores' throughputs measured back to back in each round, one over the
//      other; and, for reference (no target), the same bare twin computing for a calibrated 5 and
//      10 µs first, and an unauthorized twin that reads and parses the check-in but looks no token up;
//   4. runs bench/device-signature.bench.ts (the cost of one signature verification), if present;
//   5. runs bench/oauth2.bench.ts: the OAuth 2 token endpoint (code exchange, refresh) against
//      panva's oidc-provider on the same machine (issue 5, item 7).
//
// Every measurement is bounded in time and in requests; the server process is stopped at the end.
//
//   npm run bench [-- --duration 1000 --rounds 9 --concurrency 16 --warmup 2000 --max-requests 400000 --verify-iterations 3000 --client raw|http]
//   npm run bench -- --quick        (1 s rounds, for a smoke test; figures are not for BENCHMARKS.md)
//   npm run bench -- --only checkin (one or more of server, checkin, signature, oauth2; default all four)
//        [--checkin-sizes 100,100000 --checkin-measured 100] [--checkin-extra: also the largest store
//        without the enrollment cache, and with all its enrollments checking in in turn]
//        [--cpu-prof DIR: then profile each server, and each bare twin once, one file each]
import { fork, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { fetchOnce, runLoad, type LoadRequest, type LoadResult } from "./load.ts";
import { benchIdentity, checkinReferenceTwins, checkinRequest, checkinRequests, checkinTarget, type CheckinStoreSpec } from "./checkin.ts";
import { enrollBodyUrl, targets } from "./targets.ts";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "1000" },
    rounds: { type: "string", default: "9" },
    concurrency: { type: "string", default: "16" },
    warmup: { type: "string", default: "2000" },
    "max-requests": { type: "string", default: "400000" },
    "verify-iterations": { type: "string", default: "3000" },
    client: { type: "string", default: "raw" },
    quick: { type: "boolean", default: false },
    only: { type: "string", default: "server,checkin,signature,oauth2" },
    "checkin-sizes": { type: "string", default: "100,100000" },
    "checkin-measured": { type: "string", default: "100" },
    "checkin-extra": { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
  },
});
const quick = args.quick === true;
const durationMs = quick ? 1000 : Number(args.duration);
const rounds = quick ? 1 : Number(args.rounds);
const concurrency = Number(args.concurrency);
const warmupMs = quick ? 500 : Number(args.warmup);
const maxRequests = Number(args["max-requests"]);
const verifyIterations = quick ? 500 : Number(args["verify-iterations"]);
const client = args.client === "http" ? "http" : "raw";
const checkinMeasured = Number(args["checkin-measured"]);
const checkinSizes = (args["checkin-sizes"] ?? "").split(",").filter((x) => x !== "").map(Number);
for (const [name, value] of Object.entries({ durationMs, rounds, concurrency, warmupMs, maxRequests, verifyIterations, checkinMeasured, ...Object.fromEntries(checkinSizes.map((n, i) => [`checkin size ${i + 1}`, n])) })) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`bench: ${name} must be a positive number`);
}
const knownParts = ["server", "checkin", "signature", "oauth2"] as const;
type Part = (typeof knownParts)[number];
const isPart = (x: string): x is Part => knownParts.some((p) => p === x);
const requested = (args.only ?? "").split(",").filter((x) => x !== "");
const unknownParts = requested.filter((x) => !isPart(x));
if (unknownParts.length > 0 || requested.length === 0) throw new Error(`bench: --only takes one or more of ${knownParts.join(", ")}`);
const parts = new Set(requested.filter(isPart));
const serverParts = ["server", "checkin"].filter((p) => isPart(p) && parts.has(p));

const enrollBody = new Uint8Array(readFileSync(enrollBodyUrl));
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};

// ---- what is measured ----------------------------------------------------------------------

/** A request (or requests sent in turn) and the status every answer must have. */
interface Workload {
  readonly method: string;
  readonly path: string;
  readonly requests: readonly LoadRequest[];
  readonly expectStatus: number;
}

interface Comparison {
  readonly label: string;
  /** checkin-reference: a reference twin of the check-in servers (no target). */
  readonly group: "server" | "checkin" | "checkin-reference";
  /** The server process's names for the server and its bare twin. */
  readonly server: string;
  readonly bare: string;
  readonly workload: Workload;
}

const sizeLabel = (n: number): string => n.toLocaleString("en-US").replace(/,/g, " ");

/** The check-in servers: one per size, and with --checkin-extra the largest again without the enrollment cache, and with every enrollment measured. */
const checkinStores: (CheckinStoreSpec & { readonly label: string })[] = [];
if (parts.has("checkin")) {
  // The target is the authorization every check-in pays (the guard: token look-up and the machine's
  // decision); what the built-in MDM then does with a TokenUpdate (an SQL write) is shown beside it.
  for (const size of checkinSizes) checkinStores.push({ name: `checkin-${size}`, size, measured: checkinMeasured, cache: true, mdm: "none", label: `check-in, ${sizeLabel(size)} stored` });
  const largest = Math.max(...checkinSizes);
  checkinStores.push({ name: `checkin-${largest}-mdm`, size: largest, measured: checkinMeasured, cache: true, mdm: "builtin", label: `check-in + built-in MDM, ${sizeLabel(largest)}` });
  if (args["checkin-extra"] === true) {
    checkinStores.push({ name: `checkin-${largest}-no-cache`, size: largest, measured: checkinMeasured, cache: false, mdm: "none", label: `check-in, ${sizeLabel(largest)}, no cache` });
    checkinStores.push({ name: `checkin-${largest}-all`, size: largest, measured: largest, cache: true, mdm: "none", label: `check-in, ${sizeLabel(largest)}, all in turn` });
  }
}
const checkinWorkloads = new Map<number, Workload>();
const checkinWorkload = (measured: number): Workload => {
  const known = checkinWorkloads.get(measured);
  if (known !== undefined) return known;
  const workload = { method: checkinTarget.method, path: checkinTarget.path, requests: checkinRequests(measured), expectStatus: checkinTarget.expectStatus };
  checkinWorkloads.set(measured, workload);
  return workload;
};

// ---- the server process -------------------------------------------------------------------

const cpuProf = args["cpu-prof"];
const child = fork(
  here("./serve.ts"),
  ["--parts", serverParts.join(","), "--checkin", JSON.stringify(checkinStores.map(({ label: _label, ...spec }) => spec))],
  { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] },
);
const stopChild = (): void => {
  if (child.connected) child.disconnect();
  setTimeout(() => child.kill(), 2000).unref();
};
process.on("exit", () => child.kill());

const Started = z.object({
  ports: z.record(z.string(), z.number()),
  statuses: z.record(z.string(), z.object({ discovery: z.number(), enroll: z.number() })),
  checkinStores: z.record(z.string(), z.object({ enrollments: z.number(), seedSeconds: z.number(), cache: z.boolean() })),
  calibration: z
    .object({
      iterationsPerUs: z.number(),
      twins: z.array(z.object({ name: z.string(), computeUs: z.number(), iterations: z.number(), measuredUs: z.number() })),
    })
    .optional(),
});
const started = await new Promise<z.infer<typeof Started>>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("bench: the server process did not start within 180 s")), 180_000);
  child.once("message", (message) => {
    clearTimeout(timer);
    const parsed = Started.safeParse(message);
    if (parsed.success) resolve(parsed.data);
    else reject(new Error(`bench: unexpected message from the server process: ${parsed.error.message}`));
  });
  child.once("exit", (code) => reject(new Error(`bench: the server process exited (${code})`)));
});
const portOf = (name: string): number => {
  const port = started.ports[name];
  if (port === undefined) throw new Error(`bench: the server process has no ${name} server`);
  return port;
};

/** Sends `message` to the server process and waits for its first answer that fits `answer`. */
function ask<T>(message: string | object, answer: z.ZodType<T>): Promise<T> {
  return new Promise((resolve) => {
    const listener = (m: unknown): void => {
      const parsed = answer.safeParse(m);
      if (!parsed.success) return;
      child.off("message", listener);
      resolve(parsed.data);
    };
    child.on("message", listener);
    child.send(message);
  });
}

const CpuMessage = z.object({ cpu: z.object({ user: z.number(), system: z.number() }) });
async function serverCpu(): Promise<number> {
  const { cpu } = await ask("cpu", CpuMessage);
  return cpu.user + cpu.system;
}

const fail = (message: string): never => {
  console.error(`bench: ${message}`);
  stopChild();
  process.exit(1);
};

const comparisons: Comparison[] = [];
if (parts.has("server")) {
  for (const target of ["discovery", "enroll"] as const) {
    for (const server of ["generated", "product"] as const) {
      const { method, path } = targets[target];
      const requests: LoadRequest[] = [method === "POST" ? { headers: { "content-type": "application/pkcs7-signature" }, body: enrollBody } : {}];
      const expectStatus = started.statuses[server]?.[target] ?? 0;
      const label = `${target === "discovery" ? "discovery" : "first enroll"}, ${server === "generated" ? "generated server" : "product app (PGlite)"}`;
      comparisons.push({ label, group: "server", server, bare: `bare-${server}`, workload: { method, path, requests, expectStatus } });
    }
  }
}
for (const store of checkinStores) {
  comparisons.push({ label: store.label, group: "checkin", server: store.name, bare: "bare-checkin", workload: checkinWorkload(store.measured) });
}
if (checkinStores.length > 0) {
  for (const twin of checkinReferenceTwins) {
    comparisons.push({ label: twin.label, group: "checkin-reference", server: twin.name, bare: "bare-checkin", workload: checkinWorkload(checkinMeasured) });
  }
}
// The per-size stores (cache on, no MDM), measured once more in each round back to back, in
// alternating order: their throughputs one over the other, free of the moments in between.
const backToBack = checkinStores.filter((store) => store.cache && store.mdm === "none" && store.measured === checkinMeasured && checkinSizes.includes(store.size));

// ---- same bytes? ---------------------------------------------------------------------------

type Answer = Awaited<ReturnType<typeof fetchOnce>>;
const shape = (a: Answer): string =>
  JSON.stringify({ status: a.status, headers: Object.entries(a.headers).filter(([k]) => k !== "date").sort(), body: a.body.toString("base64") });

for (const c of comparisons) {
  const { method, path } = c.workload;
  // Check-ins: every measured request (at most 100, spread evenly), since each names another enrollment.
  const all = c.workload.requests;
  const requests = c.group !== "server" ? Array.from({ length: Math.min(100, all.length) }, (_, i) => all[Math.floor((i * all.length) / Math.min(100, all.length))] ?? {}) : all.slice(0, 1);
  for (const r of requests) {
    const answers = [await fetchOnce(portOf(c.server), method, path, r), await fetchOnce(portOf(c.bare), method, path, r)];
    const [first, second] = answers.map(shape);
    if (first !== second) fail(`${c.label}: the server and its bare twin do not answer with the same bytes:\n  ${c.server}: ${first}\n  ${c.bare}: ${second}`);
    if (answers[0]?.status !== c.workload.expectStatus) fail(`${c.label}: answered ${answers[0]?.status}, not ${c.workload.expectStatus}`);
  }
}

if (checkinStores.length > 0) {
  // The seed is what it claims: a measured enrollment refuses a token that is not its own (401),
  // and the last filler of the store with the most fillers accepts its own (200) where it is
  // stored (403 unrecognized where it is not).
  const wrongToken = checkinRequest({ token: benchIdentity("filler", 0).token, enrollmentId: benchIdentity("measured", 0).enrollmentId }, "wrong token");
  const mostFillers = Math.max(...checkinStores.map((s) => s.size - s.measured));
  const lastFiller = checkinRequest(benchIdentity("filler", mostFillers - 1), "filler");
  for (const store of checkinStores) {
    const seeded = started.checkinStores[store.name];
    if (seeded?.enrollments !== store.size) fail(`${store.name} holds ${seeded?.enrollments} enrollments, not ${store.size}`);
    if (seeded?.cache !== store.cache) fail(`${store.name}: the enrollment cache is ${seeded?.cache === true ? "on" : "off"}, not ${store.cache ? "on" : "off"}`);
    const refused = await fetchOnce(portOf(store.name), checkinTarget.method, checkinTarget.path, wrongToken);
    if (refused.status !== 401) fail(`${store.name}: a check-in with a wrong token answered ${refused.status}, not 401`);
    if (mostFillers === 0) continue;
    const filler = await fetchOnce(portOf(store.name), checkinTarget.method, checkinTarget.path, lastFiller);
    const expected = store.size - store.measured === mostFillers ? 200 : 403;
    if (filler.status !== expected) fail(`${store.name}: a check-in of filler enrollment ${mostFillers - 1} answered ${filler.status}, not ${expected}`);
  }
}

// ---- measure -------------------------------------------------------------------------------

interface Measured extends LoadResult {
  /** Server CPU time (user + system) per request, µs. */
  readonly serverCpuUs: number;
}

/** Requests sent so far to each server: each load goes on through the workload's requests where the last stopped. */
const sent = new Map<string, number>();

async function measure(name: string, workload: Workload, ms: number): Promise<Measured> {
  const cpuBefore = await serverCpu();
  const { method, path, requests, expectStatus } = workload;
  const offset = sent.get(name) ?? 0;
  const result = await runLoad({ port: portOf(name), method, path, requests, offset, concurrency, durationMs: ms, maxRequests, expectStatus, client });
  sent.set(name, offset + result.requests);
  const cpuAfter = await serverCpu();
  if (result.errors > 0) throw new Error(`bench: ${name}: ${result.errors} answers with another status than ${expectStatus}`);
  return { ...result, serverCpuUs: (cpuAfter - cpuBefore) / result.requests };
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`adenroll bench — ${machine}; load average ${load()} at start (other processes share these cores)`);
for (const store of checkinStores) {
  const seeded = started.checkinStores[store.name];
  console.log(
    `${store.label}: ${sizeLabel(seeded?.enrollments ?? 0)} enrolled enrollments in an in-memory PGlite, enrollment cache ${seeded?.cache === true ? "on" : "off"}; ` +
      `check-ins with the tokens of ${sizeLabel(store.measured)} of them in turn; seeded and checked in ${(seeded?.seedSeconds ?? 0).toFixed(1)} s`,
  );
}
if (checkinStores.length > 0) console.log("check-ins: TokenUpdate, Authorization: Bearer, the same bytes for an enrollment every time (and in every store); every answer 200 with an empty body");
if (started.calibration !== undefined) {
  const { iterationsPerUs, twins } = started.calibration;
  console.log(
    `reference twins (no target), answering as bare-checkin: "bare + N µs computation" runs a 32-bit LCG loop calibrated in the server process at its start, ${iterationsPerUs.toFixed(1)} iterations per CPU µs (best of 5 × 10 M); ` +
      twins.map((t) => `${t.computeUs} µs = ${t.iterations} iterations, measured there at ${t.measuredUs.toFixed(2)} CPU µs per call`).join("; ") +
      `; "unauthorized check-in" reads the body and runs parseCheckInMessage, no token look-up`,
  );
}
if (comparisons.length > 0) console.log(`client ${client === "raw" ? "raw keep-alive sockets" : "node:http keep-alive agent"}, concurrency ${concurrency}, ${rounds} round(s) × ${durationMs / 1000} s per server and target after ${warmupMs / 1000} s warm-up; at most ${maxRequests} requests per round\n`);

for (const c of comparisons) {
  await measure(c.bare, c.workload, warmupMs);
  await measure(c.server, c.workload, warmupMs);
}

const samples = new Map<string, { bare: Measured[]; server: Measured[] }>();
/** Per round, the back-to-back measurements of each store in `backToBack`, by name. */
const backToBackRounds: Map<string, Measured>[] = [];
for (let round = 0; round < rounds; round++) {
  if (backToBack.length > 1) {
    const measured = new Map<string, Measured>();
    for (const store of round % 2 === 0 ? backToBack : [...backToBack].reverse()) measured.set(store.name, await measure(store.name, checkinWorkload(store.measured), durationMs));
    backToBackRounds.push(measured);
  }
  for (const c of comparisons) {
    const entry = samples.get(c.label) ?? { bare: [], server: [] };
    samples.set(c.label, entry);
    // Alternate which goes first, so that neither always runs on a warmer or cooler machine.
    if (round % 2 === 0) {
      entry.bare.push(await measure(c.bare, c.workload, durationMs));
      entry.server.push(await measure(c.server, c.workload, durationMs));
    } else {
      entry.server.push(await measure(c.server, c.workload, durationMs));
      entry.bare.push(await measure(c.bare, c.workload, durationMs));
    }
    process.stdout.write(".");
  }
}
if (comparisons.length > 0) process.stdout.write(`\nload average ${load()} at the end of the measurements\n\n`);

if (cpuProf !== undefined) {
  // After the figures, so that profiling does not touch them: each server once more, profiled.
  mkdirSync(cpuProf, { recursive: true });
  for (const c of comparisons) {
    const file = join(cpuProf, `${c.label.replace(/[^a-z0-9]+/gi, "-")}.cpuprofile`);
    await ask("profile-start", z.object({ profiling: z.literal(true) }));
    const m = await measure(c.server, c.workload, durationMs * 3);
    await ask({ profileTo: file }, z.object({ profiled: z.string() }));
    console.log(`profiled ${c.label}: ${m.requests} requests, ${m.rps.toFixed(0)} req/s, ${m.serverCpuUs.toFixed(0)} µs server CPU per request under the profiler\n  npx tsx bench/profile-summary.ts ${file} --requests ${m.requests}`);
  }
  // Each bare twin once, for comparison: what any Hono handler pays under the same profiler.
  for (const bare of new Set(comparisons.map((c) => c.bare))) {
    const c = comparisons.find((x) => x.bare === bare);
    if (c === undefined) continue;
    const file = join(cpuProf, `${bare}.cpuprofile`);
    await ask("profile-start", z.object({ profiling: z.literal(true) }));
    const m = await measure(bare, c.workload, durationMs * 3);
    await ask({ profileTo: file }, z.object({ profiled: z.string() }));
    console.log(`profiled ${bare}: ${m.requests} requests, ${m.rps.toFixed(0)} req/s, ${m.serverCpuUs.toFixed(0)} µs server CPU per request under the profiler\n  npx tsx bench/profile-summary.ts ${file} --requests ${m.requests}`);
  }
  console.log("");
}
stopChild();

const summarize = (ms: readonly Measured[]) => ({
  rps: median(ms.map((m) => m.rps)),
  p99: median(ms.map((m) => m.p99)),
  p50: median(ms.map((m) => m.p50)),
  cpu: median(ms.map((m) => m.serverCpuUs)),
  client: median(ms.map((m) => m.clientCores)),
  requests: ms.reduce((n, m) => n + m.requests, 0),
});
const range = (xs: readonly number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;

const rows: string[][] = [["target", "server", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "client cores", "requests"]];
const ratios: { label: string; group: Comparison["group"]; rps: number; rpsRounds: number[]; cpuRounds: number[]; p99: number; cpu: number; spread: string }[] = [];
for (const c of comparisons) {
  const entry = samples.get(c.label);
  if (entry === undefined) continue;
  const bare = summarize(entry.bare);
  const server = summarize(entry.server);
  // Paired: each round's server figure over the bare figure measured right next to it.
  const paired = (f: (m: Measured) => number): number[] => entry.server.map((m, i) => f(m) / f(entry.bare[i] ?? m));
  const rpsRatios = paired((m) => m.rps);
  const serverName = c.group === "checkin" ? "product (PGlite)" : c.group === "checkin-reference" ? "reference twin" : c.server;
  const row = (name: string, s: ReturnType<typeof summarize>): string[] => [c.label, name, s.rps.toFixed(0), s.p50.toFixed(2), s.p99.toFixed(2), s.cpu.toFixed(0), s.client.toFixed(2), String(s.requests)];
  rows.push(row("bare Hono", bare), row(serverName, server));
  const cpuRatios = paired((m) => m.serverCpuUs);
  ratios.push({ label: c.label, group: c.group, rps: median(rpsRatios), rpsRounds: rpsRatios, cpuRounds: cpuRatios, p99: median(paired((m) => m.p99)), cpu: median(cpuRatios), spread: range(rpsRatios) });
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
if (comparisons.length > 0) for (const r of rows) console.log(r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "));

if (comparisons.length > 0) console.log("\nratios, server ÷ its bare Hono twin (median of the per-round paired ratios; throughput range over rounds):");
for (const r of ratios.filter((x) => x.group !== "checkin-reference")) {
  console.log(`  ${r.label.padEnd(36)} throughput ${r.rps.toFixed(2)}× (${r.spread})   p99 ${r.p99.toFixed(2)}×   server CPU per request ${r.cpu.toFixed(2)}×`);
}
console.log("");
for (const r of ratios.filter((x) => x.label.startsWith("discovery"))) {
  console.log(`target: ${r.label} ≥ 0.8× the bare handler's throughput — ${r.rps >= 0.8 ? "met" : "NOT met"} (${r.rps.toFixed(2)}×)`);
}

// The targets are for the per-size stores (cache on, the same enrollments checking in);
// the --checkin-extra ones are there to show what the cache hides.
const targeted = new Set(checkinStores.filter((store) => store.cache && store.mdm === "none" && store.measured === checkinMeasured).map((store) => store.label));
const checkinRatios = ratios.filter((r) => r.group === "checkin");
const smallest = checkinRatios[0];
if (smallest !== undefined) {
  for (const r of checkinRatios.slice(1)) {
    // Per round: this store's paired ratio over the smallest store's paired ratio of the same round.
    const relative = r.rpsRounds.map((x, i) => x / (smallest.rpsRounds[i] ?? Number.NaN));
    const rel = median(relative);
    // Server CPU per request, relative to the bare twin's, compared the same way: it moves less with the machine's load.
    const cpuRelative = r.cpuRounds.map((x, i) => x / (smallest.cpuRounds[i] ?? Number.NaN));
    console.log(`  ratio(${r.label}) ÷ ratio(${smallest.label}): throughput ${rel.toFixed(2)} (${range(relative)} over rounds), server CPU per request ${median(cpuRelative).toFixed(2)} (${range(cpuRelative)})`);
    if (targeted.has(r.label)) console.log(`target: ${r.label}, ratio within 10% of ${smallest.label}'s — ${Math.abs(rel - 1) <= 0.1 ? "met" : "NOT met"} (${rel.toFixed(2)})`);
    // The same quantity measured directly: both stores back to back in each round (same bare twin, so
    // ratio(store) ÷ ratio(smallest) is throughput(store) ÷ throughput(smallest)).
    const first = backToBack[0];
    const store = backToBack.find((s) => s.label === r.label);
    if (first !== undefined && store !== undefined && store !== first && backToBackRounds.length > 0) {
      const of = (m: Map<string, Measured>, name: string, f: (x: Measured) => number): number => {
        const x = m.get(name);
        return x === undefined ? Number.NaN : f(x);
      };
      const direct = (f: (x: Measured) => number): number[] => backToBackRounds.map((m) => of(m, store.name, f) / of(m, first.name, f));
      const rps = direct((m) => m.rps);
      const cpu = direct((m) => m.serverCpuUs);
      console.log(
        `  throughput(${r.label}) ÷ throughput(${first.label}), measured back to back in each round (alternating order): ${median(rps).toFixed(2)} (${range(rps)} over rounds), server CPU per request ${median(cpu).toFixed(2)} (${range(cpu)})`,
      );
    }
  }
  for (const r of checkinRatios) {
    console.log(`${targeted.has(r.label) ? "target:" : "(no target)"} ${r.label} ≥ 0.5× the bare handler's throughput — ${r.rps >= 0.5 ? "met" : "NOT met"} (${r.rps.toFixed(2)}×)`);
  }
}
const references = ratios.filter((r) => r.group === "checkin-reference");
if (references.length > 0) {
  console.log("reference twins of the check-in (no target), each ÷ the bare check-in twin, paired in each round:");
  for (const r of references) console.log(`  (reference) ${r.label.padEnd(36)} throughput ${r.rps.toFixed(2)}× (${r.spread})   p99 ${r.p99.toFixed(2)}×   server CPU per request ${r.cpu.toFixed(2)}×`);
  const unauthorized = references.find((r) => r.label === checkinReferenceTwins.find((t) => t.kind === "parse")?.label);
  if (unauthorized !== undefined && smallest !== undefined) {
    // Ratios of medians: what authorization (token look-up, the machine's decision) adds to a handler that already parses.
    console.log(`  (reference) ${smallest.label} ÷ unauthorized check-in: throughput ${(smallest.rps / unauthorized.rps).toFixed(2)}, server CPU per request ${(smallest.cpu / unauthorized.cpu).toFixed(2)} (ratios of the medians above)`);
  }
}

// ---- device-signature verification ---------------------------------------------------------

const signatureBench = here("./device-signature.bench.ts");
if (!parts.has("signature")) {
  // not asked for
} else if (existsSync(signatureBench)) {
  console.log(`\n$ node --import tsx bench/device-signature.bench.ts ${verifyIterations}`);
  const code = await new Promise<number | null>((resolve) => {
    const run = spawn(process.execPath, ["--import", "tsx", signatureBench, String(verifyIterations)], { stdio: "inherit" });
    const timer = setTimeout(() => run.kill(), 300_000);
    run.on("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) console.log(`(device-signature bench exited with ${code})`);
} else {
  console.log("\n(bench/device-signature.bench.ts not present: no per-verification figure)");
}

// ---- OAuth 2 token endpoint vs oidc-provider (bench/oauth2.bench.ts, its own server process) --

if (parts.has("oauth2")) {
  const oauth2Args = [...(quick ? ["--quick"] : []), "--concurrency", String(concurrency)];
  console.log(`\n$ node --import tsx bench/oauth2.bench.ts ${oauth2Args.join(" ")}`);
  const code = await new Promise<number | null>((resolve) => {
    const run = spawn(process.execPath, ["--import", "tsx", here("./oauth2.bench.ts"), ...oauth2Args], { stdio: "inherit" });
    const timer = setTimeout(() => run.kill(), 1_200_000);
    run.on("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) console.log(`(oauth2 bench exited with ${code})`);
}
