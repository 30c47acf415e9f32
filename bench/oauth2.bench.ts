// The OAuth 2 token endpoint against panva's oidc-provider (issue 5, item 7), on this machine, in
// one run: bench/oauth2-serve.ts (a child process) serves both on 127.0.0.1; this process sends
// the load and times only the token requests.
//
//   authorization_code   each request redeems a fresh code (PKCE S256): before each round the
//                        server process mints as many codes from each server as the round sends
//                        (adenroll's through its real sign-in, oidc-provider's through its models),
//                        so minting is never timed; every answer must be 200.
//   refresh_token        one rotation chain per connection: each answer's refresh_token is the next
//                        request's (rotation is on in both); the chains were started by a real code
//                        exchange before the rounds and go on from round to round.
//
// Each round measures both servers back to back (alternating which goes first), the same number of
// requests at the same concurrency; reported: the median of the rounds, and the median (and range)
// of the per-round paired throughput ratio adenroll ÷ oidc-provider.
//
//   node --import tsx bench/oauth2.bench.ts [--rounds 9 --requests 2000 --refresh-requests 6000 --concurrency 16 --warmup 500] [--quick]
//   npm run bench -- --only oauth2
import { fork } from "node:child_process";
import { connect } from "node:net";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { runLoad, type LoadResult } from "./load.ts";
import { codeExchangeForm, refreshForm, tokenPaths, type BenchServer } from "./oauth2-shared.ts";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "9" },
    requests: { type: "string", default: "2000" },
    // Refresh chains need no codes minted between rounds, so their rounds can be longer (steadier).
    "refresh-requests": { type: "string", default: "6000" },
    concurrency: { type: "string", default: "16" },
    warmup: { type: "string", default: "500" },
    quick: { type: "boolean", default: false },
  },
  strict: false,
});
const quick = args.quick === true;
const rounds = quick ? 1 : Number(args.rounds);
const perRound = quick ? 300 : Number(args.requests);
const refreshPerRound = quick ? 300 : Number(args["refresh-requests"]);
const concurrency = Number(args.concurrency);
const warmup = quick ? 100 : Number(args.warmup);
for (const [name, value] of Object.entries({ rounds, perRound, refreshPerRound, concurrency, warmup })) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`oauth2 bench: ${name} must be a positive integer`);
}
const servers: readonly BenchServer[] = ["adenroll", "oidc"];
const names: Record<BenchServer, string> = { adenroll: "adenroll", oidc: "oidc-provider" };

const child = fork(fileURLToPath(new URL("./oauth2-serve.ts", import.meta.url)), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
process.on("exit", () => child.kill());

function ask<T>(message: string | object, answer: z.ZodType<T>, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`oauth2 bench: no answer to ${JSON.stringify(message)} within ${timeoutMs / 1000} s`)), timeoutMs);
    const listener = (m: unknown): void => {
      const parsed = answer.safeParse(m);
      if (!parsed.success) return;
      clearTimeout(timer);
      child.off("message", listener);
      resolve(parsed.data);
    };
    child.on("message", listener);
    if (message !== "") child.send(message);
  });
}

const Tokens = z.object({ adenroll: z.array(z.string()), oidc: z.array(z.string()) });
const { ports } = await ask("", z.object({ ports: z.object({ adenroll: z.number(), oidc: z.number() }) }), 120_000);
const serverCpu = async (): Promise<number> => {
  const { cpu } = await ask("cpu", z.object({ cpu: z.object({ user: z.number(), system: z.number() }) }));
  return cpu.user + cpu.system;
};

interface Measured {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  /** Server CPU (user + system) per request, µs. */
  readonly cpuUs: number;
}

const form = { "content-type": "application/x-www-form-urlencoded" };

/** n code exchanges with the codes given, each once. */
async function exchangeCodes(server: BenchServer, codes: readonly string[]): Promise<Measured> {
  const requests = codes.map((code) => ({ headers: form, body: new TextEncoder().encode(codeExchangeForm(code)) }));
  const before = await serverCpu();
  const result: LoadResult = await runLoad({ port: ports[server], method: "POST", path: tokenPaths[server], requests, concurrency, durationMs: 600_000, maxRequests: requests.length, expectStatus: 200 });
  const cpu = (await serverCpu()) - before;
  if (result.errors > 0 || result.requests !== codes.length) throw new Error(`oauth2 bench: ${server}: ${result.errors} of ${result.requests} code exchanges did not answer 200`);
  return { rps: result.rps, p50: result.p50, p99: result.p99, requests: result.requests, cpuUs: cpu / result.requests };
}

/**
 * `perChain` refreshes on each chain, one keep-alive connection per chain, each request sent when
 * the previous answer (and its new refresh token) has arrived. The chains' next tokens are returned.
 */
async function refreshChains(server: BenchServer, chains: readonly string[], perChain: number): Promise<Measured & { readonly next: string[] }> {
  const latencies: number[] = [];
  const next = [...chains];
  const before = await serverCpu();
  const start = performance.now();
  await Promise.all(
    chains.map(
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const socket = connect({ host: "127.0.0.1", port: ports[server], noDelay: true });
          let buffer: Buffer = Buffer.alloc(0);
          let sent = 0;
          let sentAt = 0;
          const send = (): void => {
            if (sent === perChain) {
              socket.end();
              resolve();
              return;
            }
            sent++;
            const body = Buffer.from(refreshForm(next[i] ?? ""), "latin1");
            sentAt = performance.now();
            socket.write(
              Buffer.concat([
                Buffer.from(`POST ${tokenPaths[server]} HTTP/1.1\r\nHost: 127.0.0.1:${ports[server]}\r\nConnection: keep-alive\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${body.length}\r\n\r\n`, "latin1"),
                body,
              ]),
            );
          };
          socket.on("connect", send);
          socket.on("error", reject);
          socket.on("data", (chunk: Buffer) => {
            buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
            const headEnd = buffer.indexOf("\r\n\r\n");
            if (headEnd < 0) return;
            const head = buffer.toString("latin1", 0, headEnd);
            const length = /\r\ncontent-length: *(\d+)/i.exec(head);
            if (length === null) return reject(new Error(`oauth2 bench: ${server}: a refresh answer without Content-Length: ${head}`));
            const end = headEnd + 4 + Number(length[1]);
            if (buffer.length < end) return;
            latencies.push(performance.now() - sentAt);
            const status = Number(head.slice(9, 12));
            const token = z.object({ refresh_token: z.string() }).safeParse(JSON.parse(buffer.toString("utf8", headEnd + 4, end)));
            buffer = buffer.subarray(end);
            if (status !== 200 || !token.success) return reject(new Error(`oauth2 bench: ${server}: a refresh answered ${status}`));
            next[i] = token.data.refresh_token;
            send();
          });
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = (await serverCpu()) - before;
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { rps: sorted.length / seconds, p50: at(0.5), p99: at(0.99), requests: sorted.length, cpuUs: cpu / sorted.length, next };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};
const range = (xs: readonly number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");

console.log(`\nOAuth 2 token endpoint, adenroll vs oidc-provider — ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; load average ${load()} at start`);
console.log(`raw keep-alive sockets, concurrency ${concurrency}; ${rounds} round(s) per server and grant after a warm-up of ${warmup}: ${perRound} code exchanges (codes minted before each round, untimed), ${refreshPerRound} refreshes`);

// ---- authorization_code --------------------------------------------------------------------

type Samples = Record<BenchServer, Measured[]>;
const codeSamples: Samples = { adenroll: [], oidc: [] };
for (let round = -1; round < rounds; round++) {
  const n = round < 0 ? warmup : perRound;
  const minted = (await ask({ mint: n }, z.object({ minted: Tokens }))).minted;
  const order = round % 2 === 0 ? servers : [...servers].reverse();
  for (const server of order) {
    const measured = await exchangeCodes(server, minted[server]);
    if (round >= 0) codeSamples[server].push(measured);
  }
  process.stdout.write(".");
}

// ---- refresh_token -------------------------------------------------------------------------

const refreshSamples: Samples = { adenroll: [], oidc: [] };
const started = (await ask({ chains: concurrency }, z.object({ chains: Tokens }))).chains;
const chains: Record<BenchServer, string[]> = { adenroll: started.adenroll, oidc: started.oidc };
for (let round = -1; round < rounds; round++) {
  const perChain = Math.max(1, Math.round((round < 0 ? warmup : refreshPerRound) / concurrency));
  const order = round % 2 === 0 ? servers : [...servers].reverse();
  for (const server of order) {
    const measured = await refreshChains(server, chains[server], perChain);
    chains[server] = measured.next;
    if (round >= 0) refreshSamples[server].push(measured);
  }
  process.stdout.write(".");
}
process.stdout.write(`\nload average ${load()} at the end of the measurements\n\n`);
child.disconnect();

// ---- report --------------------------------------------------------------------------------

const rows: string[][] = [["grant", "server", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "requests"]];
const ratios: string[] = [];
const targets: string[] = [];
for (const [grant, samples] of [
  ["authorization_code", codeSamples],
  ["refresh_token", refreshSamples],
] as const) {
  for (const server of servers) {
    const ms = samples[server];
    rows.push([grant, names[server], median(ms.map((m) => m.rps)).toFixed(0), median(ms.map((m) => m.p50)).toFixed(2), median(ms.map((m) => m.p99)).toFixed(2), median(ms.map((m) => m.cpuUs)).toFixed(0), String(ms.reduce((n, m) => n + m.requests, 0))]);
  }
  const paired = samples.adenroll.map((m, i) => m.rps / (samples.oidc[i]?.rps ?? Number.NaN));
  const cpuPaired = samples.adenroll.map((m, i) => m.cpuUs / (samples.oidc[i]?.cpuUs ?? Number.NaN));
  const ratio = median(paired);
  ratios.push(`  ${grant.padEnd(20)} throughput ${ratio.toFixed(2)}× (${range(paired)} over rounds)   server CPU per request ${median(cpuPaired).toFixed(2)}×`);
  targets.push(`target: ${grant} ≥ 2× oidc-provider's throughput — ${ratio >= 2 ? "met" : "NOT met"} (${ratio.toFixed(2)}×)`);
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
for (const r of rows) console.log(r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "));
console.log("\nratios, adenroll ÷ oidc-provider (median of the per-round paired ratios):");
for (const line of ratios) console.log(line);
console.log("");
for (const line of targets) console.log(line);
