// What parsing a plist costs: spec/plist.ts's own reader against the plist@5 + @xmldom/xmldom
// reader it replaced (kept for the tests in test/support/plist-reference.ts), on the plists the
// server reads most: the TokenUpdate bench/run.ts sends (every MDM check-in is one of these) and
// the plist of the real enroll body (test/fixtures/, read on every enroll).
//
//   npx tsx bench/plist.bench.ts [--batches 200] [--batch 100]
//
// Each reader parses the same bytes in batches, the two interleaved so that load from elsewhere on
// a shared machine hits both alike; the figures are the median batch's process CPU time and wall
// time per parse, in µs. Both readers' results are checked equal before timing.
import { readFileSync } from "node:fs";
import { isDeepStrictEqual, parseArgs } from "node:util";
import { parseSignedData } from "../spec/cms.ts";
import { buildPlist, parsePlist } from "../spec/plist.ts";
import { parsePlistOld } from "../test/support/plist-reference.ts";
import { benchIdentity, checkinRequest } from "./checkin.ts";

const { values: args } = parseArgs({
  options: {
    batches: { type: "string", default: "200" },
    batch: { type: "string", default: "100" },
  },
});
const batches = Number(args.batches);
const batchSize = Number(args.batch);

const enrollBody = new Uint8Array(readFileSync(new URL("../test/fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url)));
const signed = parseSignedData(enrollBody);
if (!signed.ok || signed.value.content === undefined) throw new Error("bench: the fixture enroll body has no content");

const cases: readonly { readonly name: string; readonly body: Uint8Array; readonly batch: number }[] = [
  { name: "TokenUpdate (bench/checkin.ts, as bench/run.ts sends it)", body: checkinRequest(benchIdentity("measured", 0), "measured 0").body, batch: batchSize },
  { name: "enroll body's plist (test/fixtures/enroll-body.ios15-iphone12-1.der)", body: signed.value.content, batch: batchSize },
  {
    name: "a 70 000-byte <data> (a large profile's size)",
    body: new TextEncoder().encode(buildPlist({ PayloadContent: Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256) })),
    batch: Math.max(1, Math.floor(batchSize / 100)),
  },
];

interface Timing {
  readonly cpu: number;
  readonly wall: number;
}

function timeBatch(parse: (body: Uint8Array) => unknown, body: Uint8Array, n: number): Timing {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < n; i++) parse(body);
  const wall = (performance.now() - wall0) * 1000;
  const cpu = process.cpuUsage(cpu0);
  return { cpu: (cpu.user + cpu.system) / n, wall: wall / n };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

// xmldom reports nothing for these well-formed plists; keep the old reader's console quiet anyway.
const quiet = (body: Uint8Array) => {
  const original = console.error;
  console.error = () => {};
  try {
    return parsePlistOld(body);
  } finally {
    console.error = original;
  }
};

console.log(`node ${process.version}; ${batches} batches of ${batchSize} (interleaved), median per parse, µs`);
console.log("| plist | bytes | old CPU | old wall | new CPU | new wall | old ÷ new (CPU) |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const { name, body, batch } of cases) {
  const fresh = parsePlist(body);
  const old = quiet(body);
  if (!fresh.ok || !isDeepStrictEqual(fresh, old)) throw new Error(`bench: the readers disagree on ${name}`);
  for (let i = 0; i < 20; i++) {
    timeBatch(quiet, body, batch);
    timeBatch(parsePlist, body, batch);
  }
  const oldRuns: Timing[] = [];
  const newRuns: Timing[] = [];
  for (let i = 0; i < batches; i++) {
    oldRuns.push(timeBatch(quiet, body, batch));
    newRuns.push(timeBatch(parsePlist, body, batch));
  }
  const oc = median(oldRuns.map((t) => t.cpu));
  const ow = median(oldRuns.map((t) => t.wall));
  const nc = median(newRuns.map((t) => t.cpu));
  const nw = median(newRuns.map((t) => t.wall));
  console.log(`| ${name} | ${body.length} | ${oc.toFixed(1)} | ${ow.toFixed(1)} | ${nc.toFixed(1)} | ${nw.toFixed(1)} | ${(oc / nc).toFixed(1)} |`);
}
