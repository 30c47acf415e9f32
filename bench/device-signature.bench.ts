// Cost of verifying the device signature of an enroll body (issue 3: at most 1 ms per body).
//
//   npx tsx bench/device-signature.bench.ts [iterations]      (default 5000, after 500 warm-up)
//
// Verifies the real iOS 15 body (test/fixtures/) against Apple Root CA again and again, and, in the
// same run, only parses it (spec/cms.ts parseSignedData) as a baseline. What the caches keep
// between iterations is what a server keeps between devices (the Apple intermediates and root,
// their keys, the links between them); the signer's certificate is parsed, its key imported and
// its link to the Device CA checked afresh each time, as for a new device. Prints mean and p99.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { loadPemCertificates, verifyDeviceSignature, type TrustStore } from "../runtime/device-signature.ts";
import { parseSignedData } from "../spec/cms.ts";

const iterations = Number(process.argv[2] ?? 5000);
const warmUp = 500;
const body = new Uint8Array(readFileSync(new URL("../test/fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url)));
const root = loadPemCertificates(readFileSync(new URL("../test/fixtures/apple-iphone-device-ca-fullchain.pem", import.meta.url), "utf8"))[2];
if (root === undefined) throw new Error("Apple Root CA missing from the fixture chain");
const trust: TrustStore = { anchors: [{ label: "apple", certificate: root }] };

interface Stats {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { mean: samples.reduce((s, x) => s + x, 0) / samples.length, p50: at(0.5), p99: at(0.99) };
}

/**
 * Both costs sampled in alternation, so that a change of machine load (other processes) falls on
 * both alike and the ratio stays meaningful.
 */
async function measure(runs: readonly (() => unknown)[]): Promise<Stats[]> {
  for (let i = 0; i < warmUp; i++) for (const run of runs) await run();
  const samples = runs.map((): number[] => []);
  for (let i = 0; i < iterations; i++) {
    for (const [k, run] of runs.entries()) {
      const t = performance.now();
      await run();
      samples[k]?.push(performance.now() - t);
    }
  }
  return samples.map(stats);
}

const first = await verifyDeviceSignature(body, trust);
if (!first.ok) {
  console.error(`the real body does not verify: ${first.error.code}: ${first.error.detail}`);
  process.exit(1);
}

const [verify, parse] = (await measure([
  async () => {
    if (!(await verifyDeviceSignature(body, trust)).ok) throw new Error("verification failed");
  },
  () => {
    if (!parseSignedData(body).ok) throw new Error("parse failed");
  },
])) as [Stats, Stats];

const us = (ms: number): string => `${(ms * 1000).toFixed(1).padStart(7)} µs`;
console.log(`device-signature bench: ${iterations} iterations after ${warmUp} warm-up; ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} CPUs)`);
console.log(`  verify (real body, Apple Root CA)  mean ${us(verify.mean)}  p50 ${us(verify.p50)}  p99 ${us(verify.p99)}`);
console.log(`  parse only (parseSignedData)       mean ${us(parse.mean)}  p50 ${us(parse.p50)}  p99 ${us(parse.p99)}`);
console.log(`  verify / parse                     mean ${(verify.mean / parse.mean).toFixed(2)}×  p50 ${(verify.p50 / parse.p50).toFixed(2)}×  p99 ${(verify.p99 / parse.p99).toFixed(2)}×`);
console.log(`  target ≤ 1 ms per body: ${verify.mean <= 1 ? "met" : "NOT met"} (mean), ${verify.p99 <= 1 ? "met" : "not met"} (p99)`);
