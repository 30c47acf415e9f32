// Discovery answers are reused for the same query for a few seconds, then decided again.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { testServer } from "../support/fixtures.ts";

describe("discovery answer cache", () => {
  it("DISCOVERY-11 the same query within the TTL gets the same answer without a new decision; after it, a new one", async () => {
    const decided: string[] = [];
    const server = await testServer({ discoveryCacheMs: 5_000, reportRejected: (_operation, reason) => decided.push(reason.detail) });
    const ask = (user: string) => client.wellKnown(server.fetch, { origin: "https://example.com", query: { "user-identifier": user, "model-family": "iPhone" } });
    const first = await ask("mallory@example.com");
    const again = await ask("mallory@example.com");
    expect(first.status).toBe(403);
    expect(again.status).toBe(403);
    expect(new TextDecoder().decode(again.body)).toBe(new TextDecoder().decode(first.body));
    expect(decided).toEqual(["unknown user"]);
    await ask("eve@example.com");
    expect(decided).toEqual(["unknown user", "unknown user"]);
    server.clock.now += 5_001;
    await ask("mallory@example.com");
    expect(decided).toHaveLength(3);
  });
});
