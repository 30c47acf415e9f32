// The sign-in page's defences: anti-CSRF token, throttling, the Cancel button, security headers.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { cancelButtonPerson, formFields } from "../../runtime/person.ts";
import { parseChallenge } from "../../spec/index.ts";
import { alice, realEnrollBody, testServer, type TestServer } from "../support/fixtures.ts";

async function challengeUrl(server: TestServer): Promise<string> {
  const first = await client.enroll(server.fetch, { url: "https://mdm.example.com/enroll/mdm-byod", body: realEnrollBody });
  const challenge = parseChallenge(first.headers["www-authenticate"]);
  if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("expected an apple-as-web challenge");
  return challenge.value.url;
}

async function csrfOf(server: TestServer, url: string): Promise<string> {
  const page = await client.webAuthPage(server.fetch, { url });
  return formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
}

const problemCode = (body: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(body)).code;

describe("sign-in page defences", () => {
  it("serves the page with CSP, frame-ancestors 'none', no-store and no referrer", async () => {
    const server = await testServer();
    const page = await client.webAuthPage(server.fetch, { url: `${await challengeUrl(server)}?user-identifier=${encodeURIComponent('"><script>alert(1)</script>')}` });
    expect(page.status).toBe(200);
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(page.headers["cache-control"]).toBe("no-store");
    expect(page.headers["referrer-policy"]).toBe("no-referrer");
    const html = new TextDecoder().decode(page.body);
    expect(html).not.toContain("<script>");
    expect(html).toContain("&quot;&gt;&lt;script&gt;");
  });

  it("SIMPLE-5 a form without this page's anti-CSRF token is refused (403) and never redirects", async () => {
    const server = await testServer();
    const url = await challengeUrl(server);
    for (const csrf of ["", "123.abc", `${Date.UTC(2030, 0, 1)}.${"A".repeat(43)}`]) {
      const answer = await client.webAuthSubmit(server.fetch, { url, form: { username: alice.userIdentifier, password: alice.password, csrf } });
      expect(answer.status).toBe(403);
      expect(problemCode(answer.body)).toBe("sign-in.forged");
      expect(answer.headers["location"]).toBeUndefined();
    }
  });

  it("SIMPLE-5 a token issued for another enrollment's page does not pass", async () => {
    const server = await testServer();
    const url = await challengeUrl(server);
    const other = url.replace(/[^/]+$/, "A".repeat(43));
    const csrf = await csrfOf(server, url);
    const forged = await client.webAuthSubmit(server.fetch, { url: other, form: { username: alice.userIdentifier, password: alice.password, csrf } });
    expect([403, 404]).toContain(forged.status);
  });

  it("SIMPLE-5 after five failed attempts even the right password is not tried (429)", async () => {
    const server = await testServer();
    const url = await challengeUrl(server);
    for (let i = 0; i < 5; i++) {
      const wrong = await client.webAuthSubmit(server.fetch, { url, form: { username: alice.userIdentifier, password: `wrong-${i}`, csrf: await csrfOf(server, url) } });
      expect(wrong.status).toBe(401);
    }
    const right = await client.webAuthSubmit(server.fetch, { url, form: { username: alice.userIdentifier, password: alice.password, csrf: await csrfOf(server, url) } });
    expect(right.status).toBe(429);
    expect(problemCode(right.body)).toBe("sign-in.throttled");
    expect(right.headers["location"]).toBeUndefined();
    // The window passes: the person may try again.
    server.clock.now += 16 * 60 * 1000;
    const later = await client.webAuthSubmit(server.fetch, { url, form: { username: alice.userIdentifier, password: alice.password, csrf: await csrfOf(server, url) } });
    expect(later.status).toBe(308);
  });

  it("SIMPLE-6 the page's Cancel button answers an error status, which ends the enrollment on the device", async () => {
    const server = await testServer();
    const done = await enrollDevice({ identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: server.fetch, person: cancelButtonPerson });
    expect(done.value).toBe("cancelled");
    expect(done.context.cancelReason).toBe("SIMPLE-6");
  });
});
