// The MDM guard alone (generated authorizeMdmRequest), in process, without HTTP: what an authorized
// check-in costs above what every Hono handler pays. Requests are light stand-ins for what
// @hono/node-server hands the app (headers looked up by name, the body read in one go), built before
// each batch, so only the guard is timed; the product app is bench/serve.ts's check-in server
// (examples/byod-simple.yaml, in-memory PGlite, enrollment cache, `mdm` answering 200).
//
//   npx tsx bench/checkin-guard.bench.ts [--size 100] [--measured 100] [--batches 300]
//
// Figures: the median batch's process CPU time and wall time per call, µs.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { authorizeMdmRequest } from "../generated/server.generated.ts";
import { createAdenroll } from "../runtime/app.ts";
import { loadConfigFile } from "../runtime/config.ts";
import { createIdentityCa } from "../runtime/identity-ca.ts";
import { openStorage } from "../runtime/storage/open-storage.ts";
import { seededRandom } from "../test/support/fixtures.ts";
import { checkinRequests, checkinTarget, seedEnrollments } from "./checkin.ts";

const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "100" },
    measured: { type: "string", default: "100" },
    batches: { type: "string", default: "300" },
  },
});
const size = Number(args.size);
const measured = Number(args.measured);
const batches = Number(args.batches);

const storage = await openStorage({ memory: true });
await seedEnrollments(storage.db, size, measured, Date.now() + 86_400_000, Date.now());
const config = await loadConfigFile(fileURLToPath(new URL("../examples/byod-simple.yaml", import.meta.url)), { scryptCost: 1_000 });
const random = seededRandom(11);
const adenroll = await createAdenroll(config, {
  storage,
  random,
  scryptCost: 1_000,
  identityCa: await createIdentityCa({ random }),
  mdm: async () => new Response(null, { status: 200 }),
  log: { info: () => undefined, warn: () => undefined, error: (message) => console.error(message) },
});
const requests = checkinRequests(measured);

/** What the guard reads of a request, as @hono/node-server's lightweight request answers it. */
function lightRequest(r: { readonly headers: Record<string, string>; readonly body: Uint8Array }): Request {
  const headers = new Map(Object.entries({ ...r.headers, "content-length": String(r.body.byteLength) }));
  const light = {
    url: `http://127.0.0.1${checkinTarget.path}`,
    method: checkinTarget.method,
    headers: { get: (name: string) => headers.get(name.toLowerCase()) ?? null },
    arrayBuffer: async () => r.body.slice().buffer,
  };
  // A stand-in, not inbound data: the guard touches only what is above.
  return light as unknown as Request;
}

const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function time(label: string, call: (request: Request) => Promise<unknown>): Promise<void> {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let b = 0; b < batches + 20; b++) {
    const batch = requests.map(lightRequest);
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (const request of batch) await call(request);
    const used = process.cpuUsage(cpuStart);
    if (b < 20) continue;
    wall.push(((performance.now() - start) * 1000) / batch.length);
    cpu.push((used.user + used.system) / batch.length);
  }
  console.log(`${median(cpu).toFixed(1).padStart(11)}  ${median(wall).toFixed(1).padStart(12)}  ${label}`);
}

console.log(`${size} enrollments stored, ${measured} checking in, ${batches} batches of ${measured}`);
console.log("CPU µs/call  wall µs/call");
await time("authorizeMdmRequest (the guard), allowed", async (request) => {
  const decision = await authorizeMdmRequest(adenroll.host, request, "checkIn");
  if (!decision.allowed) throw new Error(`bench: refused with ${decision.response.status}`);
});
await time("app.fetch(PUT /mdm/checkin) (Hono routing + guard + mdm)", async (request) => {
  const response = await adenroll.app.fetch(request);
  if (response.status !== 200) throw new Error(`bench: answered ${response.status}`);
});
console.log(storage.enrollmentCache?.stats());
await storage.close();
