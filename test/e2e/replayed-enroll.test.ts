// A captured enroll body can be replayed by anyone: it must not knock an enrolled device out.
import { describe, expect, it } from "vitest";
import { createActor, waitFor } from "xstate";
import { deviceMachine } from "../../machines/index.ts";
import { buildPlist } from "../../spec/index.ts";
import { deviceActors } from "../../runtime/device.ts";
import { signInPerson } from "../../runtime/person.ts";
import * as client from "../../generated/client.generated.ts";
import { alice, realEnrollBody, testServer } from "../support/fixtures.ts";

const authenticate = new TextEncoder().encode(
  buildPlist({ MessageType: "Authenticate", Topic: "com.apple.mgmt.External.test", EnrollmentID: "E-1", BuildVersion: "19H12", OSVersion: "15.7", ProductName: "iPhone12,1" }),
);

describe("replayed enroll request", () => {
  it("ENROLL-5 a token-less replay of the enroll body is challenged but leaves the enrollment and its token working", async () => {
    const server = await testServer();
    const actors = deviceActors({ fetch: server.fetch, person: signInPerson({ username: alice.userIdentifier, password: alice.password }) });
    const device = createActor(deviceMachine.provide({ actors }), {
      input: { modelFamily: "iPhone", enrollBody: realEnrollBody },
    });
    device.start();
    device.send({ type: "SUBMIT_IDENTIFIER", identifier: alice.userIdentifier });
    await waitFor(device, (s) => s.matches({ enrolled: "idle" }) || s.status === "done");
    device.send({ type: "SEND_MDM", request: { channel: "checkin", messageType: "Authenticate", body: authenticate } });
    const afterAuthenticate = await waitFor(device, (s) => s.matches({ enrolled: "idle" }));
    expect(afterAuthenticate.context.lastMdmStatus).toBe(200);

    const replay = await client.enroll(server.fetch, { url: "https://mdm.example.com/enroll/mdm-byod", body: realEnrollBody });
    expect(replay.status).toBe(401);

    const token = afterAuthenticate.context.accessToken;
    const checkIn = await client.checkIn(server.fetch, { url: "https://mdm.example.com/mdm/checkin", body: authenticate, accessToken: token });
    expect(checkIn.status).toBe(200);
    device.stop();
  });
});
