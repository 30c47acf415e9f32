// Another MDM imports adenroll by name: the exports map must resolve every entry point.
import { describe, expect, it } from "vitest";

describe("package exports", () => {
  it("resolves adenroll/spec, /machines, /client, /server and the root by the package's own name", async () => {
    const spec = await import("adenroll/spec");
    const machines = await import("adenroll/machines");
    const client = await import("adenroll/client");
    const server = await import("adenroll/server");
    const root = await import("adenroll");
    expect(spec.rules.length).toBeGreaterThan(30);
    expect(spec.operations.map((op) => op.id)).toContain("enroll");
    expect(machines.deviceMachine.id).toBe("device");
    expect(machines.serverMachine.id).toBe("enrollment");
    expect(typeof client.enroll).toBe("function");
    expect(typeof server.createServer).toBe("function");
    expect(typeof root.createServerHost).toBe("function");
    expect(typeof root.enrollDevice).toBe("function");
  });
});
