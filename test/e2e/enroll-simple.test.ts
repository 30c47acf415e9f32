// End to end, in process: the device machine with the generated client against the generated
// server, enrolling the real iOS 15 body through the simple flow.
import { describe, expect, it } from "vitest";
import { enrollDevice } from "../../runtime/device.ts";
import { cancellingPerson, signInPerson } from "../../runtime/person.ts";
import { findMdmPayload, profileViolations, parseEnrollRequestBody } from "../../spec/index.ts";
import { alice, bob, realEnrollBody, testServer } from "../support/fixtures.ts";

describe("simple account-driven enrollment, end to end", () => {
  it("enrolls the real device body: discovery → 401 → sign-in → callback → second enroll → profile passing step 13", async () => {
    const server = await testServer();
    const person = signInPerson({ username: alice.userIdentifier, password: alice.password });
    const steps: string[] = [];
    const done = await enrollDevice(
      { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: server.fetch, person, onStep: (s) => steps.push(JSON.stringify(s.value)) },
    );
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(done.context.cancelReason).toBeNull();
    expect(done.context.server).toEqual({ version: "mdm-byod", baseUrl: "https://mdm.example.com/enroll/mdm-byod" });
    expect(done.context.challenge?.method).toBe("apple-as-web");
    // The sign-in page was shown prefilled with the identifier (user-identifier query, SIMPLE-1).
    expect(person.pagesSeen[0]?.url).toMatch(/^https:\/\/mdm\.example\.com\/authenticate\/[A-Za-z0-9_-]{43}\?user-identifier=alice(%40|@)example\.com$/);
    expect(person.pagesSeen[0]?.html).toContain('value="alice@example.com"');
    const profile = done.context.profile;
    expect(profileViolations(profile, "mdm-byod", { requireModeMatchesVersion: true })).toEqual([]);
    const mdm = findMdmPayload(profile);
    expect(mdm?.AssignedManagedAppleID).toBe(alice.managedAppleId);
    expect(mdm?.EnrollmentMode).toBe("BYOD");
    expect(mdm?.AccessRights).toBeUndefined();
    for (const state of ['"discovery"', '"firstEnroll"', '{"authenticating":"simple"}', '"secondEnroll"', '"managedAccountSignIn"']) {
      expect(steps).toContain(state);
    }
    // The server keeps one enrollment, found by the device's signer, with the profile delivered.
    const parsed = parseEnrollRequestBody(realEnrollBody);
    if (!parsed.ok) throw new Error("fixture must parse");
    const stored = await server.store.transact([{ by: "device-key", deviceKey: parsed.value.deviceKey }], async (found) => ({ save: null, result: found }));
    expect(stored).toMatchObject({ state: "profileDelivered", context: { userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId, reply: null } });
    expect(JSON.stringify(stored)).not.toContain(done.context.accessToken ?? "no token");
  });

  it("enrolls an ADDE user with AccessRights in the profile", async () => {
    const server = await testServer();
    const done = await enrollDevice(
      { identifier: bob.userIdentifier, modelFamily: "iPad", enrollBody: realEnrollBody },
      { fetch: server.fetch, person: signInPerson({ username: bob.userIdentifier, password: bob.password }) },
    );
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(findMdmPayload(done.context.profile)).toMatchObject({ EnrollmentMode: "ADDE", AccessRights: 8191, AssignedManagedAppleID: bob.managedAppleId });
  });

  it("CANCEL-1 a person who cancels the sign-in ends the enrollment", async () => {
    const server = await testServer();
    const done = await enrollDevice(
      { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: server.fetch, person: cancellingPerson },
    );
    expect(done.value).toBe("cancelled");
    expect(done.context.cancelReason).toBe("CANCEL-1");
  });

  it("DISCOVERY-9 an unknown user gets com.apple.well-known.failed and its message is kept for the person", async () => {
    const server = await testServer();
    const done = await enrollDevice(
      { identifier: "mallory@example.com", modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: server.fetch, person: cancellingPerson },
    );
    expect(done.context.cancelReason).toBe("DISCOVERY-9");
    expect(done.context.failureMessage).toMatch(/can't enroll/);
  });

  it("SIMPLE-5 a wrong password shows the form again with 401, and the person can give up", async () => {
    const server = await testServer();
    const person = signInPerson({ username: alice.userIdentifier, password: "wrong" });
    const done = await enrollDevice(
      { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: server.fetch, person },
    );
    expect(person.pagesSeen.map((p) => p.status)).toEqual([200, 401]);
    expect(person.pagesSeen[1]?.html).toContain("wrong");
    expect(done.context.cancelReason).toBe("CANCEL-1");
  });
});
