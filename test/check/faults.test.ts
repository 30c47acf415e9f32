// Proof that `adenroll check` catches faults: each deliberately broken variant of our own server
// (faults.ts: one rule broken each; the OAuth 2 ones checked with the OAuth 2 organization's
// account) is reported failed under exactly that rule id, and no other rule fails. One in-process
// server serves every variant; each run enrolls fresh devices.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckReport } from "../../runtime/check/model.ts";
import { runCheck } from "../../runtime/check/run.ts";
import { faults, oauthFaults, type Fault } from "./faults.ts";
import { ourServer, type OurServer } from "./our-server.ts";

let server: OurServer;
const reports = new Map<string, CheckReport>();
beforeAll(async () => {
  server = await ourServer();
  // Four runs at a time: key generation and password hashing run off the main thread.
  const queue: [Fault, string][] = [...faults.map((f): [Fault, string] => [f, server.user]), ...oauthFaults.map((f): [Fault, string] => [f, server.oauthUser])];
  const lane = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [fault, user] = next;
      reports.set(fault.name, await runCheck({ user, password: server.password, discoveryUrl: server.origin, device: { kind: "ca", ca: server.ca }, fetch: fault.wrap(server.fetch), managedAppleId: user }));
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
}, 120_000);
afterAll(async () => {
  await server.close();
});

describe("each fault is reported under its rule id and nothing else fails", () => {
  it("covers at least ten faults and ten different rules", () => {
    expect(faults.length).toBeGreaterThanOrEqual(10);
    expect(new Set(faults.map((f) => f.ruleId)).size).toBeGreaterThanOrEqual(10);
  });

  for (const fault of [...faults, ...oauthFaults]) {
    it(`${fault.name}: reported under ${fault.ruleId} alone`, () => {
      const report = reports.get(fault.name);
      if (report === undefined) throw new Error("the check did not run");
      const failed = report.results.filter((r) => r.outcome === "fail");
      expect(failed.map((r) => r.id), failed.map((r) => `${r.id}: ${r.findings.map((f) => f.text).join(" | ")}`).join("\n")).toEqual([fault.ruleId]);
      // The failure names what was sent and what the rule expected.
      const finding = failed[0]?.findings.find((f) => f.outcome === "fail");
      expect(finding?.expected).toBeTruthy();
    });
  }
});
