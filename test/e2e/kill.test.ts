// Durability: `adenroll serve` is SIGKILLed in the middle of a load of simulated devices (several at
// a time: enroll, sign in, profile, check-ins, some re-authenticating), then started again on the
// same data. Every access token the load was given (each 308's access-token) must still authorize
// what it is for — a check-in once the profile was delivered, the profile request before that —
// unless a later token of the same enrollment superseded it (one the load saw, or one whose 308 the
// kill swallowed: the stored enrollment then names a token nobody received and keeps this one as
// retired). Every stored enrollment must parse. Against the embedded PGlite (data folder) and a
// PostgreSQL (skipped locally without one, a failure in CI).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, describe, expect, test } from "vitest";
import { hashToken } from "../../runtime/crypto.ts";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import type { TestDeviceCa } from "../../runtime/test-device-ca.ts";
import { createTestDatabase, inCI, postgresAdminUrl, probePostgres } from "../storage/storage.suite.ts";
import { prepareDataFolder, serve, SimulatedDevice, writeByodSimpleConfig, type Served } from "../support/serve-process.ts";

const probe = await probePostgres();
if (!probe.ok) {
  test.runIf(inCI)(`PostgreSQL is reachable at ${postgresAdminUrl} (required in CI)`, () => {
    throw new Error(`PostgreSQL is not reachable at ${postgresAdminUrl}: ${probe.reason}`);
  });
}

/** Devices enrolling at once. */
const CONCURRENCY = 4;
/** Tokens the load must have been given before the kill. */
const TOKENS_BEFORE_KILL = 10;

interface Loaded {
  readonly device: SimulatedDevice;
  /** Whether a second enroll answered 200 (the device holds a profile). */
  profiled: boolean;
}

/**
 * What one device of the load does until `stopped()`: enroll, check in, and every other device signs
 * in again once (a new token; the old one retires) and checks in with it. Errors end it (the kill).
 */
async function deviceLoop(origin: string, ca: TestDeviceCa, devices: Loaded[], stopped: () => boolean): Promise<void> {
  for (let n = 0; !stopped(); n++) {
    const loaded: Loaded = { device: new SimulatedDevice(ca), profiled: false };
    devices.push(loaded);
    const { device } = loaded;
    try {
      await device.firstEnroll(origin);
      const token = await device.signIn(origin);
      if ((await device.secondEnroll(origin, token)) !== 200) throw new Error("second enroll refused");
      loaded.profiled = true;
      if ((await device.checkIn(origin, token, "Authenticate")) !== 200) throw new Error("Authenticate refused");
      if ((await device.checkIn(origin, token)) !== 200) throw new Error("TokenUpdate refused");
      if (n % 2 === 1) {
        const renewed = await device.signIn(origin);
        if ((await device.checkIn(origin, renewed)) !== 200) throw new Error("TokenUpdate with the new token refused");
      }
    } catch (error) {
      if (stopped()) return;
      throw error;
    }
  }
}

const backends = [
  { name: "PGlite (data folder)", available: true, database: async () => undefined },
  { name: "PostgreSQL", available: probe.ok, database: async () => createTestDatabase() },
];

describe.each(backends)("adenroll serve killed mid-load: $name", (backend) => {
  const dir = mkdtempSync(path.join(tmpdir(), "adenroll-kill-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.skipIf(!backend.available)("every token the load was given still authorizes, unless superseded; every stored enrollment parses", async () => {
    const database = await backend.database();
    const dataDir = path.join(dir, "data");
    const { testCa } = await prepareDataFolder(dataDir);
    const args = ["--config", writeByodSimpleConfig(dir), "--data", dataDir, ...(database === undefined ? [] : ["--database", database.url])];
    let server: Served | undefined;
    try {
      let started = performance.now();
      server = await serve(args);
      const startMs = performance.now() - started;
      const origin = server.origin;
      started = performance.now();

      // The load, several devices at a time, until the kill.
      let killed = false;
      const devices: Loaded[] = [];
      const workers = Array.from({ length: CONCURRENCY }, () => deviceLoop(origin, testCa, devices, () => killed));
      const tokensGiven = () => devices.reduce((n, d) => n + d.device.tokens.length, 0);
      const loadFailed = Promise.all(workers).then(() => {
        throw new Error("the load ended before the kill");
      });
      while (tokensGiven() < TOKENS_BEFORE_KILL) await Promise.race([delay(5), loadFailed]);
      // Land the kill at an arbitrary point of the requests in flight.
      await delay(Math.floor(Math.random() * 40));
      killed = true;
      server.child.kill("SIGKILL");
      expect((await server.exited).signal).toBe("SIGKILL");
      await Promise.all(workers);
      const loadMs = performance.now() - started;

      started = performance.now();
      server = await serve(args);
      const restartMs = performance.now() - started;
      const again = server.origin;
      // For each device: what its newest token still does; every older one is refused.
      const newest = new Map<SimulatedDevice, { token: string; status: number }>();
      for (const { device, profiled } of devices) {
        const token = device.tokens.at(-1);
        if (token === undefined) continue;
        let status: number;
        if (profiled) status = await device.checkIn(again, token);
        else {
          // It has no profile yet: the token is for the profile request; then it checks in.
          status = await device.secondEnroll(again, token);
          if (status === 200) status = await device.checkIn(again, token, "Authenticate");
        }
        newest.set(device, { token, status });
        for (const older of device.tokens.slice(0, -1)) expect(await device.checkIn(again, older)).toBe(401);
      }
      await server.stop();
      server = undefined;

      // What is stored, read with the server stopped (PGlite is one process's).
      const storage = await openStorage(database === undefined ? { dataDir: path.join(dataDir, "pglite") } : { database: database.url, enrollmentCache: false });
      try {
        const stored = await storage.enrollments.listEnrollments({ limit: 10_000 });
        expect(stored.filter((e) => !e.trusted)).toEqual([]);
        let superseded = 0;
        for (const [device, { token, status }] of newest) {
          const enrollment = stored.find((e) => e.id === device.ref);
          if (enrollment === undefined || !enrollment.trusted) throw new Error(`the enrollment ${device.ref ?? "?"} that issued a token is gone`);
          const { tokenHash, retiredTokenHashes } = enrollment.record.context;
          const hash = await hashToken(token);
          if (tokenHash === hash) {
            expect(status, `the newest token of ${device.ref ?? "?"}`).toBe(200);
          } else {
            // A later sign-in committed, its 308 lost to the kill: a token no device received.
            superseded++;
            expect(status).toBe(401);
            expect(retiredTokenHashes).toContain(hash);
            const received = await Promise.all(devices.flatMap((d) => d.device.tokens).map((t) => hashToken(t)));
            expect(received).not.toContain(tokenHash);
          }
        }
        // At most the sign-ins in flight at the kill can have been swallowed.
        expect(superseded).toBeLessThanOrEqual(CONCURRENCY);
        const tokens = devices.reduce((n, d) => n + d.device.tokens.length, 0);
        console.log(
          `${backend.name}: started in ${Math.round(startMs)} ms, killed after ${Math.round(loadMs)} ms of load, restarted in ${Math.round(restartMs)} ms; ${devices.length} devices, ${tokens} tokens given, ` +
            `${newest.size - superseded} newest tokens authorize after the restart, ${superseded} superseded by a sign-in whose answer the kill swallowed; ` +
            `${stored.length} stored enrollments, all trusted`,
        );
      } finally {
        await storage.close();
      }
    } finally {
      await server?.stop();
      await database?.drop();
    }
  }, 120_000);
});
