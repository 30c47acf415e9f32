// Where the CPU time of a profiled server went (bench/run.ts --cpu-prof DIR writes the profiles).
//
//   npx tsx bench/profile-summary.ts FILE.cpuprofile [--top 25] [--requests N]
//
// Prints the sampled time by component (self time: the library or project folder whose code was
// running, wasm counted as PGlite), the functions with the most self time, and the functions with
// the most inclusive time (time with the function anywhere on the stack; an async function's time
// after an await is not under its caller, so this undercounts callers of async work). With
// --requests, times are also per request.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";

const { values: args, positionals } = parseArgs({ options: { top: { type: "string", default: "25" }, requests: { type: "string" } }, allowPositionals: true });
const file = positionals[0];
if (file === undefined) throw new Error("usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top 25] [--requests N]");
const top = Number(args.top);
const requests = args.requests === undefined ? undefined : Number(args.requests);

const CpuProfile = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number(), columnNumber: z.number() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
const parsed = CpuProfile.safeParse(JSON.parse(readFileSync(file, "utf8")));
if (!parsed.success) throw new Error(`${file} is not a V8 CPU profile: ${parsed.error.message}`);
const profile = parsed.data;

type ProfileNode = (typeof profile.nodes)[number];
const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

function component(frame: ProfileNode["callFrame"]): string {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName.startsWith("(")) return functionName; // (garbage collector), (program), (idle), (root)
    return "V8 builtins / native";
  }
  if (url.startsWith("wasm://")) return "PGlite (wasm: PostgreSQL)";
  if (url.startsWith("node:")) return "node: (http, net, streams, timers)";
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module !== null) return module[1] === "@electric-sql/pglite" ? "PGlite (JS)" : (module[1] ?? url);
  const project = /\/(spec|machines|generated|runtime|bench|test)\/(.*)$/.exec(url);
  if (project !== null) {
    if (project[1] === "spec" && project[2] === "plist.ts") return "spec/plist.ts";
    if (project[1] === "runtime" && project[2]?.startsWith("storage/") === true) return "runtime/storage";
    return project[1] ?? url;
  }
  return url;
}
const frameName = (frame: ProfileNode["callFrame"]): string => {
  const where = frame.url === "" ? "" : ` ${frame.url.replace(/^.*\/(node_modules\/)/, "$1").replace(/^file:\/\/.*?\/(spec|machines|generated|runtime|bench)\//, "$1/")}:${frame.lineNumber + 1}`;
  return `${frame.functionName || "(anonymous)"}${where}`;
};

const self = new Map<string, number>();
const selfFn = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
let idle = 0;
let profiler = 0;
profile.samples.forEach((id, i) => {
  const dt = (profile.timeDeltas[i] ?? 0) / 1000; // ms
  const node = byId.get(id);
  if (node === undefined) return;
  if (node.callFrame.functionName === "(idle)") {
    idle += dt;
    return;
  }
  // The profiler's own work (node:inspector, e.g. stopping and handing over this profile).
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    if (byId.get(at)?.callFrame.url === "node:inspector") {
      profiler += dt;
      return;
    }
  }
  total += dt;
  const c = component(node.callFrame);
  self.set(c, (self.get(c) ?? 0) + dt);
  const f = frameName(node.callFrame);
  selfFn.set(f, (selfFn.get(f) ?? 0) + dt);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    const n = byId.get(at);
    if (n === undefined || n.callFrame.functionName === "(root)") continue;
    const name = frameName(n.callFrame);
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  }
});

const per = (ms: number): string => `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%${requests === undefined ? "" : `  ${((ms * 1000) / requests).toFixed(1).padStart(7)} µs/req`}`;
const print = (title: string, entries: Map<string, number>, n: number): void => {
  console.log(`\n${title}`);
  for (const [name, ms] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${per(ms)}  ${name}`);
};
console.log(`${file}: ${total.toFixed(0)} ms busy, ${idle.toFixed(0)} ms idle, ${profiler.toFixed(0)} ms in the profiler itself (left out)`);
print("self time by component", self, 40);
print(`self time, top ${top} functions`, selfFn, top);
print(`inclusive time, top ${top} functions`, inclusive, top);
