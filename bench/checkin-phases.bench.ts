// Where an authorized check-in's time goes, step by step, in one process and without HTTP: each
// step of the check-in route timed alone over the same TokenUpdate requests bench/run.ts sends,
// against the product app over an in-memory PGlite seeded as bench/serve.ts seeds it.
//
//   npx tsx bench/checkin-phases.bench.ts [--size 100000] [--measured 100] [--iterations 2000]
//
// Each step runs in batches of 100 (one per measured enrollment); the figures are the median
// batch's process CPU time and wall time per call, so that a burst of load from elsewhere on a
// shared machine moves them less (CPU time least). The
// steps overlap the route only roughly (the route may do them differently as it changes): the last
// line, the whole route through `app.request` (Hono, no socket), is the figure to compare with.
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Hono } from "hono";
import { EnrollmentRecord, serverMachine, stepWithoutActors, type ServerEvent } from "../machines/index.ts";
import { createAdenroll } from "../runtime/app.ts";
import { loadConfigFile } from "../runtime/config.ts";
import { base64url, hashToken } from "../runtime/crypto.ts";
import { createIdentityCa } from "../runtime/identity-ca.ts";
import { openStorage } from "../runtime/storage/open-storage.ts";
import { parseAuthorization, parseCheckInMessage, parsePlist, readCheckInMessage } from "../spec/index.ts";
import { seededRandom } from "../test/support/fixtures.ts";
import { benchEnrollment, benchIdentity, checkinRequests, checkinTarget, seedEnrollments } from "./checkin.ts";

const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "100000" },
    measured: { type: "string", default: "100" },
    iterations: { type: "string", default: "2000" },
  },
});
const size = Number(args.size);
const measured = Number(args.measured);
const iterations = Number(args.iterations);
const tokenExpiresAt = Date.now() + 86_400_000;

const t0 = performance.now();
const storage = await openStorage({ memory: true });
await seedEnrollments(storage.db, size, measured, tokenExpiresAt, Date.now());
const config = await loadConfigFile(fileURLToPath(new URL("../examples/byod-simple.yaml", import.meta.url)), { scryptCost: 1_000 });
const random = seededRandom(11);
const adenroll = await createAdenroll(config, { storage, random, scryptCost: 1_000, identityCa: await createIdentityCa({ random }) });
console.log(`${size} enrollments seeded, product app built in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${measured} enrollments checking in; ${iterations} calls per step`);

const requests = checkinRequests(measured);
const identities = Array.from({ length: measured }, (_, i) => benchIdentity("measured", i));
const records = await Promise.all(identities.map((_, i) => benchEnrollment("measured", i, tokenExpiresAt).then((e) => e.record)));
const bodies = requests.map((r) => r.body);
const frozenRecords = records.map((r) => deepFreeze(structuredClone(r)));
const plists = bodies.map((b) => {
  const parsed = parsePlist(b);
  if (!parsed.ok) throw new Error("bench: a check-in body does not parse");
  return parsed.value;
});

/** The TokenUpdate check-in of measured enrollment i, as the route builds its event. */
function tokenUpdate(r: EnrollmentRecord, i: number): ServerEvent {
  return {
    type: "CHECK_IN",
    authorization: { kind: "bearer", tokenHash: r.context.tokenHash ?? "" },
    now: Date.now(),
    channel: "checkin",
    messageType: "TokenUpdate",
    enrollmentId: at(identities, i).enrollmentId,
    userChannel: false,
    signature: { kind: "absent" },
    signatureRequired: false,
  };
}

/**
 * Median over batches of the time per call of `step(i)`, i cycling over the measured enrollments:
 * process CPU time (every thread: WebCrypto's digest runs on the thread pool) and wall time, µs.
 */
async function time(step: (i: number) => unknown): Promise<{ readonly cpu: number; readonly wall: number }> {
  const batch = measured;
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let done = 0; done < iterations + 5 * batch; done += batch) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let i = 0; i < batch; i++) await step(i);
    const used = process.cpuUsage(cpuStart);
    // The first batches warm the JIT up and are not counted.
    if (done < 5 * batch) continue;
    wall.push(((performance.now() - start) * 1000) / batch);
    cpu.push((used.user + used.system) / batch);
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  return { cpu: median(cpu), wall: median(wall) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze(Reflect.get(value, key));
  }
  return value;
}

const at = <T>(xs: readonly T[], i: number): T => {
  const x = xs[i % xs.length];
  if (x === undefined) throw new Error("bench: empty list");
  return x;
};
const headerOf = (i: number): string => at(requests, i).headers["authorization"] ?? "";
const logic = serverMachine.provide({ actors: adenroll.host.actors });
const bare = new Hono();
bare.put(checkinTarget.path, () => new Response(null, { status: 200 }));

const steps: [string, (i: number) => unknown][] = [
  ["parseAuthorization + hashToken (node:crypto one-shot hash, as runtime/crypto.ts)", async (i) => {
    const presented = parseAuthorization(headerOf(i));
    if (presented.kind === "bearer") await hashToken(presented.token);
  }],
  ["  the same hash with node:crypto createHash (a Hash object per call), for comparison", (i) => {
    const presented = parseAuthorization(headerOf(i));
    if (presented.kind === "bearer") base64url(createHash("sha256").update(presented.token).digest());
  }],
  ["parseCheckInMessage (plist + Zod)", (i) => parseCheckInMessage(at(bodies, i))],
  ["  parsePlist alone (spec/plist.ts: the flat Apple-layout path)", (i) => parsePlist(at(bodies, i))],
  ["  readCheckInMessage alone (Zod on the parsed dictionary)", (i) => readCheckInMessage(at(plists, i))],
  ["EnrollmentRecord.safeParse of a stored record (Zod)", (i) => EnrollmentRecord.safeParse(at(records, i))],
  ["serverMachine.provide({ actors }) (runEnrollment, every request)", () => serverMachine.provide({ actors: adenroll.host.actors })],
  ["serverMachine.resolveState of a stored record", (i) => {
    const r = at(records, i);
    return serverMachine.resolveState({ value: r.state, context: r.context });
  }],
  ["  a provided logic's createActor + start + stop (an actor per request)", (i) => {
    const r = at(records, i);
    const { createActor } = xstate;
    const actor = createActor(logic, { snapshot: serverMachine.resolveState({ value: r.state, context: r.context }), input: r.context });
    actor.start();
    actor.stop();
  }],
  ["stepWithoutActors: the machine's CHECK_IN step, computed without an actor (a context that can change)", (i) => {
    const r = at(records, i);
    return stepWithoutActors(r.state, r.context, tokenUpdate(r, i));
  }],
  ["  the same step replayed from a deep-frozen context (as the enrollment cache hands it out)", (i) => {
    const r = at(frozenRecords, i);
    return stepWithoutActors(r.state, r.context, tokenUpdate(r, i));
  }],
  ["a Request with the body, read whole (undici, as the route reads it)", async (i) => {
    const r = at(requests, i);
    await new Request(`http://127.0.0.1${checkinTarget.path}`, { method: checkinTarget.method, headers: r.headers, body: r.body.slice() }).arrayBuffer();
  }],
  ["storage.enrollments.transact, by enrollment-id, record unchanged", (i) =>
    storage.enrollments.transact([{ by: "enrollment-id", enrollmentId: at(identities, i).enrollmentId }], async (found) => ({ save: null, result: found }), { optimistic: true })],
  ["  the same without optimistic (the SQL store's read)", (i) =>
    storage.enrollments.transact([{ by: "enrollment-id", enrollmentId: at(identities, i).enrollmentId }], async (found) => ({ save: null, result: found }))],
  ["  SELECT of the row by enrollment_id (Kysely + PGlite)", (i) =>
    storage.db.selectFrom("adenroll_enrollments").selectAll().where("enrollment_id", "=", at(identities, i).enrollmentId).executeTakeFirst()],
  ["storage.mdm.recordTokenUpdate (runtime/mdm.ts, every TokenUpdate: an SQL upsert)", (i) =>
    storage.mdm.recordTokenUpdate(
      { enrollmentRef: at(records, i).context.id, deviceId: at(identities, i).enrollmentId, idKind: "EnrollmentID", topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001", pushMagic: "magic", pushToken: "dG9rZW4=" },
      Date.now(),
    )],
  ["floor: a bare Hono app.request(PUT) answering 200 without reading the body", async (i) => {
    const r = at(requests, i);
    const response = await bare.request(new Request(`http://127.0.0.1${checkinTarget.path}`, { method: checkinTarget.method, headers: r.headers, body: r.body.slice() }));
    await response.arrayBuffer();
  }],
  ["the whole route: app.request(PUT /mdm/checkin), 200", async (i) => {
    const r = at(requests, i);
    const response = await adenroll.app.request(new Request(`http://127.0.0.1${checkinTarget.path}`, { method: checkinTarget.method, headers: r.headers, body: r.body.slice() }));
    if (response.status !== 200) throw new Error(`bench: the check-in answered ${response.status}`);
    await response.arrayBuffer();
  }],
];

const xstate = await import("xstate");
console.log("CPU µs/call  wall µs/call");
for (const [label, step] of steps) {
  const t = await time(step);
  console.log(`${t.cpu.toFixed(1).padStart(11)}  ${t.wall.toFixed(1).padStart(12)}  ${label}`);
}
await storage.close();
