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
//   3. runs bench/device-signature.bench.ts (the cost of one signature verification), if present.
//
// Every measurement is bounded in time and in requests; the server process is stopped at the end.
//
//   npm run bench [-- --duration 1000 --rounds 9 --concurrency 16 --warmup 2000 --max-requests 400000 --verify-iterations 3000 --client raw|http]
//   npm run bench -- --quick        (1 s rounds, for a smoke test; figures are not for BENCHMARKS.md)
import { fork, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fetchOnce, runLoad, type LoadResult } from "./load.ts";
import { enrollBodyUrl, targets, type TargetName } from "./targets.ts";

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
for (const [name, value] of Object.entries({ durationMs, rounds, concurrency, warmupMs, maxRequests, verifyIterations })) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`bench: ${name} must be a positive number`);
}

const enrollBody = new Uint8Array(readFileSync(enrollBodyUrl));
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

type Server = "generated" | "product" | "bare-generated" | "bare-product";

// ---- the server process -------------------------------------------------------------------

const child = fork(here("./serve.ts"), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
const stopChild = (): void => {
  if (child.connected) child.disconnect();
  setTimeout(() => child.kill(), 2000).unref();
};
process.on("exit", () => child.kill());

const started = await new Promise<{ ports: Record<Server, number>; statuses: Record<string, Record<TargetName, number>> }>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("bench: the server process did not start within 60 s")), 60_000);
  child.once("message", (message) => {
    clearTimeout(timer);
    resolve(message as { ports: Record<Server, number>; statuses: Record<string, Record<TargetName, number>> });
  });
  child.once("exit", (code) => reject(new Error(`bench: the server process exited (${code})`)));
});
const { ports } = started;

function serverCpu(): Promise<number> {
  return new Promise((resolve) => {
    child.once("message", (message) => {
      const { cpu } = message as { cpu: NodeJS.CpuUsage };
      resolve(cpu.user + cpu.system);
    });
    child.send("cpu");
  });
}

// ---- same bytes? ---------------------------------------------------------------------------

const bodyOf = (target: TargetName): Uint8Array | undefined => (targets[target].method === "POST" ? enrollBody : undefined);

for (const [target, name] of (Object.keys(targets) as TargetName[]).flatMap((t) => (["generated", "product"] as const).map((n) => [t, n] as const))) {
  const { method, path } = targets[target];
  const servers: Server[] = [name, `bare-${name}`];
  const answers = await Promise.all(servers.map((s) => fetchOnce(ports[s], method, path, bodyOf(target))));
  const shape = (a: (typeof answers)[number]): string =>
    JSON.stringify({ status: a.status, headers: Object.entries(a.headers).filter(([k]) => k !== "date").sort(), body: a.body.toString("base64") });
  const [first, ...others] = answers.map(shape);
  if (others.some((o) => o !== first)) {
    console.error(`bench: ${target}: the servers do not answer with the same bytes:\n${answers.map((a, i) => `  ${servers[i]}: ${shape(a)}`).join("\n")}`);
    stopChild();
    process.exit(1);
  }
}

// ---- measure -------------------------------------------------------------------------------

interface Measured extends LoadResult {
  /** Server CPU time (user + system) per request, µs. */
  readonly serverCpuUs: number;
}

async function measure(server: Server, target: TargetName, ms: number): Promise<Measured> {
  const { method, path } = targets[target];
  const expectStatus = started.statuses[server.replace(/^bare-/, "")]?.[target] ?? 0;
  const cpuBefore = await serverCpu();
  const body = bodyOf(target);
  const result = await runLoad({ port: ports[server], method, path, ...(body === undefined ? {} : { body }), concurrency, durationMs: ms, maxRequests, expectStatus, client });
  const cpuAfter = await serverCpu();
  if (result.errors > 0) throw new Error(`bench: ${server} ${target}: ${result.errors} answers with another status than ${expectStatus}`);
  return { ...result, serverCpuUs: (cpuAfter - cpuBefore) / result.requests };
}

const comparisons: { readonly label: string; readonly target: TargetName; readonly server: "generated" | "product" }[] = [
  { label: "discovery, generated server", target: "discovery", server: "generated" },
  { label: "discovery, product app (PGlite)", target: "discovery", server: "product" },
  { label: "first enroll, generated server", target: "enroll", server: "generated" },
  { label: "first enroll, product app (PGlite)", target: "enroll", server: "product" },
];

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`adenroll bench — ${machine}; load average ${load()} at start (other processes share these cores)`);
console.log(`client ${client === "raw" ? "raw keep-alive sockets" : "node:http keep-alive agent"}, concurrency ${concurrency}, ${rounds} round(s) × ${durationMs / 1000} s per server and target after ${warmupMs / 1000} s warm-up; at most ${maxRequests} requests per round\n`);

for (const c of comparisons) {
  await measure(`bare-${c.server}`, c.target, warmupMs);
  await measure(c.server, c.target, warmupMs);
}

const samples = new Map<string, { bare: Measured[]; server: Measured[] }>();
for (let round = 0; round < rounds; round++) {
  for (const c of comparisons) {
    const entry = samples.get(c.label) ?? { bare: [], server: [] };
    samples.set(c.label, entry);
    // Alternate which goes first, so that neither always runs on a warmer or cooler machine.
    if (round % 2 === 0) {
      entry.bare.push(await measure(`bare-${c.server}`, c.target, durationMs));
      entry.server.push(await measure(c.server, c.target, durationMs));
    } else {
      entry.server.push(await measure(c.server, c.target, durationMs));
      entry.bare.push(await measure(`bare-${c.server}`, c.target, durationMs));
    }
    process.stdout.write(".");
  }
}
process.stdout.write(`\nload average ${load()} at the end of the measurements\n\n`);
stopChild();

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};
const summarize = (ms: readonly Measured[]) => ({
  rps: median(ms.map((m) => m.rps)),
  p99: median(ms.map((m) => m.p99)),
  p50: median(ms.map((m) => m.p50)),
  cpu: median(ms.map((m) => m.serverCpuUs)),
  client: median(ms.map((m) => m.clientCores)),
  requests: ms.reduce((n, m) => n + m.requests, 0),
});

const rows: string[][] = [["target", "server", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "client cores", "requests"]];
const ratios: { label: string; rps: number; p99: number; cpu: number; spread: string }[] = [];
for (const c of comparisons) {
  const entry = samples.get(c.label);
  if (entry === undefined) continue;
  const bare = summarize(entry.bare);
  const server = summarize(entry.server);
  // Paired: each round's server figure over the bare figure measured right next to it.
  const paired = (f: (m: Measured) => number): number[] => entry.server.map((m, i) => f(m) / f(entry.bare[i] ?? m));
  const rpsRatios = paired((m) => m.rps);
  const row = (name: string, s: ReturnType<typeof summarize>): string[] => [c.label, name, s.rps.toFixed(0), s.p50.toFixed(2), s.p99.toFixed(2), s.cpu.toFixed(0), s.client.toFixed(2), String(s.requests)];
  rows.push(row("bare Hono", bare), row(c.server, server));
  const sorted = [...rpsRatios].sort((a, b) => a - b);
  ratios.push({
    label: c.label,
    rps: median(rpsRatios),
    p99: median(paired((m) => m.p99)),
    cpu: median(paired((m) => m.serverCpuUs)),
    spread: `${(sorted[0] ?? Number.NaN).toFixed(2)}–${(sorted[sorted.length - 1] ?? Number.NaN).toFixed(2)}`,
  });
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
for (const r of rows) console.log(r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "));

console.log("\nratios, server ÷ its bare Hono twin (median of the per-round paired ratios; throughput range over rounds):");
for (const r of ratios) {
  console.log(`  ${r.label.padEnd(36)} throughput ${r.rps.toFixed(2)}× (${r.spread})   p99 ${r.p99.toFixed(2)}×   server CPU per request ${r.cpu.toFixed(2)}×`);
}
console.log("");
for (const r of ratios.filter((x) => x.label.startsWith("discovery"))) {
  console.log(`target: ${r.label} ≥ 0.8× the bare handler's throughput — ${r.rps >= 0.8 ? "met" : "NOT met"} (${r.rps.toFixed(2)}×)`);
}

// ---- device-signature verification ---------------------------------------------------------

const signatureBench = here("./device-signature.bench.ts");
if (existsSync(signatureBench)) {
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
