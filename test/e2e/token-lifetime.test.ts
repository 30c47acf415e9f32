// Token lifetime per organization (issue "Ongoing authorization", item 5): a short lifetime forces
// periodic re-authentication; another organization's tokens keep the server's default.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { buildPlist } from "../../spec/index.ts";
import { alice, bob, realEnrollBody, testServer } from "../support/fixtures.ts";
import { enrollOverHttp, signInOverHttp, testOrigin } from "../support/enroll-over-http.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody } from "../../runtime/test-device-ca.ts";
import { seededRandom } from "../support/fixtures.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const deviceCa = await createTestDeviceCa({ random: seededRandom(61) });

const checkIn = (server: Awaited<ReturnType<typeof testServer>>, token: string, enrollmentId: string) =>
  client.checkIn(server.fetch, { url: `${testOrigin}/mdm/checkin`, body: new TextEncoder().encode(buildPlist({ MessageType: "TokenUpdate", Topic: topic, EnrollmentID: enrollmentId, PushMagic: "pm", Token: new Uint8Array([1]) })), accessToken: token });

describe("token lifetime per organization", () => {
  it("ONGOING-7 a token of an organization with a 60 s lifetime is refused after 60 s (401, its challenge) while another organization's default-lifetime token still works; signing in again restores it", async () => {
    const server = await testServer({
      domains: {},
      organizations: [
        { name: "Short-lived", domains: { "example.com": "mdm-byod" }, tokenLifetimeSeconds: 60 },
        { name: "Default", domains: { "corp.example": "mdm-byod" } },
      ],
      deviceTrust: { testCa: deviceCa.certificate },
    });
    const bobBody = await signEnrollBody(
      new TextEncoder().encode(buildPlist({ CHALLENGE: "", LANGUAGE: "en", PRODUCT: "iPhone14,2", SERIAL: "SERB", UDID: "UDID-B", VERSION: "23A344" })),
      await issueDeviceIdentity(deviceCa, { random: seededRandom(62) }),
    );
    const short = await enrollOverHttp(server, { body: realEnrollBody, user: alice });
    const long = await enrollOverHttp(server, { body: bobBody, user: bob, version: bob.version });
    expect((await checkIn(server, short.token, "E-ALICE")).status).toBe(200);
    expect((await checkIn(server, long.token, "E-BOB")).status).toBe(200);

    server.clock.now += 59_000;
    expect((await checkIn(server, short.token, "E-ALICE")).status).toBe(200);
    server.clock.now += 2_000;
    const expired = await checkIn(server, short.token, "E-ALICE");
    expect(expired.status).toBe(401);
    expect(expired.headers["www-authenticate"]).toBe(short.challengeHeader);
    expect((await checkIn(server, long.token, "E-BOB")).status).toBe(200);

    const fresh = await signInOverHttp(server, short.challengeUrl, alice);
    expect((await checkIn(server, fresh, "E-ALICE")).status).toBe(200);
    expect((await checkIn(server, short.token, "E-ALICE")).status).toBe(401);
  });
});
