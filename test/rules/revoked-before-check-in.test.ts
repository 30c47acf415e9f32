// Regression: a token invalidated before the device's first check-in (so before it named itself by
// EnrollmentID) left nothing to find the enrollment by, and the device got 403
// com.apple.unrecognized.device — which unenrolls it — instead of its challenge.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import type { EnrollmentStore } from "../../machines/index.ts";
import { hashToken } from "../../runtime/crypto.ts";
import { applyServerEvent } from "../../runtime/enrollment-events.ts";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { buildPlist } from "../../spec/index.ts";
import { enrollOverHttp, signInOverHttp, testOrigin } from "../support/enroll-over-http.ts";
import { realEnrollBody, testServer, type TestServer } from "../support/fixtures.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const authenticate = new TextEncoder().encode(buildPlist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-R" }));
const checkOut = new TextEncoder().encode(buildPlist({ MessageType: "CheckOut", Topic: topic, EnrollmentID: "ENR-R" }));

async function revokedBeforeFirstCheckIn(server: TestServer, store: EnrollmentStore = server.store) {
  const device = await enrollOverHttp(server, { body: realEnrollBody });
  const applied = await applyServerEvent(store, [{ by: "token-hash", tokenHash: await hashToken(device.token) }], { type: "TOKEN_INVALIDATED" });
  expect(applied?.to).toBe("tokenInvalidated");
  return device;
}

describe("a token invalidated before the first check-in", () => {
  it("ONGOING-7 the device is challenged (401, its challenge), not told it is unenrolled; signing in again lets it check in", async () => {
    const server = await testServer();
    const device = await revokedBeforeFirstCheckIn(server);
    const refused = await client.checkIn(server.fetch, { url: `${testOrigin}/mdm/checkin`, body: authenticate, accessToken: device.token });
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe(device.challengeHeader);
    const fresh = await signInOverHttp(server, device.challengeUrl);
    expect((await client.checkIn(server.fetch, { url: `${testOrigin}/mdm/checkin`, body: authenticate, accessToken: fresh })).status).toBe(200);
  });

  it("ONGOING-8 its CheckOut with the invalidated token is accepted", async () => {
    const server = await testServer();
    const device = await revokedBeforeFirstCheckIn(server);
    expect((await client.checkIn(server.fetch, { url: `${testOrigin}/mdm/checkin`, body: checkOut, accessToken: device.token })).status).toBe(200);
  });

  it("ONGOING-7 the same over SQL storage with its cache (PGlite): the row stays findable by the old token", async () => {
    const storage = await openStorage({ memory: true });
    try {
      const server = await testServer({ store: storage.enrollments });
      const device = await revokedBeforeFirstCheckIn(server, storage.enrollments);
      const refused = await client.checkIn(server.fetch, { url: `${testOrigin}/mdm/checkin`, body: authenticate, accessToken: device.token });
      expect(refused.status).toBe(401);
      expect((await storage.enrollments.findEnrollmentByTokenHash(await hashToken(device.token)))?.trusted).toBe(true);
    } finally {
      await storage.close();
    }
  }, 60_000);
});
