// An enrolled device, then the operator through the admin API: after `tokens revoke` its next
// check-in is answered 401 with its WWW-Authenticate challenge (and signing in again at that URL
// restores it); after `enrollments unenroll`, 403 {"code":"com.apple.unrecognized.device"}.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { formFields, signInPerson } from "../../runtime/person.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { parseAuthenticationCallback, parseChallenge } from "../../spec/index.ts";
import { realEnrollBody } from "../support/fixtures.ts";
import { admin, checkIn, emptyStorage, passwords, start, testConfig, type Started } from "./admin-fixtures.ts";

let storage: OpenedStorage;
beforeAll(async () => {
  storage = await openStorage({ memory: true });
}, 60_000);
afterAll(() => storage.close());

/** The real iOS device enrolls as alice and makes its first check-in; returns its token and enrollment. */
async function enrolledDevice(server: Started) {
  const fetch = (request: Request) => server.adenroll.fetch(request);
  const done = await enrollDevice(
    { identifier: "alice@example.com", modelFamily: "iPhone", enrollBody: realEnrollBody },
    { fetch, person: signInPerson({ username: "alice@example.com", password: passwords.alice }) },
  );
  expect(done.value).toEqual({ enrolled: "idle" });
  const token = done.context.accessToken;
  if (token === null || token === undefined) throw new Error("no access token");
  const first = await fetch(checkIn(token, { MessageType: "Authenticate", EnrollmentID: "ENR-E2E" }));
  expect(first.status).toBe(200);
  const listed = await admin(fetch, "GET", "/enrollments?user=alice@example.com");
  const [enrollment] = (listed.body as { enrollments: { id: string; state: string }[] }).enrollments;
  if (enrollment === undefined) throw new Error("no enrollment listed");
  expect(enrollment.state).toBe("enrolled");
  return { fetch, token, id: enrollment.id };
}

describe("an enrolled device and the operator", () => {
  it("tokens revoke --enrollment: the next check-in gets 401 with the enrollment's challenge; signing in again restores it", async () => {
    const server = await start(await testConfig(), await emptyStorage(storage));
    const { fetch, token, id } = await enrolledDevice(server);
    const revoked = await admin(fetch, "POST", "/tokens/revoke", { body: { enrollment: id } });
    expect(revoked.body).toMatchObject({ revoked: [{ id, from: "enrolled", to: "tokenInvalidated", hadToken: true }] });

    const refused = await fetch(checkIn(token, { MessageType: "Authenticate", EnrollmentID: "ENR-E2E" }));
    expect(refused.status).toBe(401);
    const challenge = parseChallenge(refused.headers.get("www-authenticate") ?? undefined);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error(`not an apple-as-web challenge: ${refused.headers.get("www-authenticate")}`);
    expect(challenge.value.url).toMatch(/^https:\/\/mdm\.example\.com\/authenticate\/[A-Za-z0-9_-]+$/);

    // The person signs in again at the challenge's URL: a new token, and check-in works again.
    const page = await client.webAuthPage(fetch, { url: challenge.value.url });
    const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
    const submitted = await client.webAuthSubmit(fetch, { url: challenge.value.url, form: { username: "alice@example.com", password: passwords.alice, csrf } });
    const callback = parseAuthenticationCallback(submitted.headers["location"] ?? "");
    if (!callback.ok) throw new Error(`no new token: ${submitted.status}`);
    expect(callback.value.accessToken).not.toBe(token);
    expect((await fetch(checkIn(callback.value.accessToken, { MessageType: "Authenticate", EnrollmentID: "ENR-E2E" }))).status).toBe(200);
    expect((await fetch(checkIn(token, { MessageType: "Authenticate", EnrollmentID: "ENR-E2E" }))).status).toBe(401);

    const audit = await storage.audit.list();
    expect(audit.find((e) => e.action === "enrollment.token-revoked")).toMatchObject({ actor: "admin:ops", subject: id, detail: { from: "enrolled", to: "tokenInvalidated" } });
    expect(JSON.stringify(audit)).not.toContain(token);
  });

  it("tokens revoke --user revokes each of the user's enrollments", async () => {
    const server = await start(await testConfig(), await emptyStorage(storage));
    const { fetch, token } = await enrolledDevice(server);
    expect((await admin(fetch, "POST", "/tokens/revoke", { body: { user: "ALICE@example.com" } })).body).toMatchObject({ revoked: [{ hadToken: true }] });
    expect((await fetch(checkIn(token, { MessageType: "Authenticate", EnrollmentID: "ENR-E2E" }))).status).toBe(401);
  });

  it('enrollments unenroll: the next check-in gets 403 {"code":"com.apple.unrecognized.device"}', async () => {
    const server = await start(await testConfig(), await emptyStorage(storage));
    const { fetch, token, id } = await enrolledDevice(server);
    expect((await admin(fetch, "POST", `/enrollments/${id}/unenroll`)).body).toMatchObject({ change: { id, from: "enrolled", to: "unenrolled" } });
    const answer = await fetch(checkIn(token, { MessageType: "Authenticate", EnrollmentID: "ENR-E2E" }));
    expect(answer.status).toBe(403);
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(await answer.json()).toEqual({ code: "com.apple.unrecognized.device" });
    expect((await storage.audit.list())[0]).toMatchObject({ actor: "admin:ops", action: "enrollment.unenrolled", subject: id });
  });
});
