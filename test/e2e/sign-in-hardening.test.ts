// The sign-in page's defences: anti-CSRF token, throttling, the Cancel button, security headers.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import type { HttpAnswer } from "../../machines/index.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { cancelButtonPerson, formFields } from "../../runtime/person.ts";
import { defaultScryptCost, Directory, hashPasswordScrypt, parsePasswordHash, scryptCost, verifyPasswordHash } from "../../runtime/directory.ts";
import { renderErrorPage } from "../../runtime/sign-in-page.ts";
import { parseChallenge } from "../../spec/index.ts";
import { alice, realEnrollBody, seededRandom, testServer, type TestServer } from "../support/fixtures.ts";

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

/**
 * A web-authentication error answered as a page for the person in the web view (not problem+json):
 * the status of its code in spec/errors.ts, the page security headers, the heading that names the
 * failure, and no form or callback on it.
 */
function expectErrorPage(answer: HttpAnswer, status: number, heading: string): string {
  expect(answer.status).toBe(status);
  expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
  expect(answer.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(answer.headers["cache-control"]).toBe("no-store");
  expect(answer.headers["location"]).toBeUndefined();
  const html = new TextDecoder().decode(answer.body);
  expect(html).toMatch(/^<!DOCTYPE html>/);
  expect(html).toContain(`<h1>${heading}</h1>`);
  expect(html).toContain("Example Corp");
  expect(html).not.toContain("<form");
  expect(html).not.toContain("apple-remotemanagement-user-login");
  return html;
}

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
      expectErrorPage(answer, 403, "This sign-in page has expired");
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
    expect(expectErrorPage(right, 429, "Too many attempts")).toContain("Wait 15 minutes");
    // The window passes: the person may try again.
    server.clock.now += 16 * 60 * 1000;
    const later = await client.webAuthSubmit(server.fetch, { url, form: { username: alice.userIdentifier, password: alice.password, csrf: await csrfOf(server, url) } });
    expect(later.status).toBe(308);
  });

  it("SIMPLE-6 the page's Cancel button answers 403 with the cancelled page; an unknown link answers 404 with a page", async () => {
    const server = await testServer();
    const url = await challengeUrl(server);
    const cancelled = await client.webAuthSubmit(server.fetch, { url, form: { action: "cancel", csrf: await csrfOf(server, url) } });
    expectErrorPage(cancelled, 403, "Sign-in cancelled");
    const unknown = url.replace(/[^/]+$/, "B".repeat(43));
    expectErrorPage(await client.webAuthPage(server.fetch, { url: unknown }), 404, "This sign-in link isn&#39;t valid");
    expectErrorPage(await client.webAuthSubmit(server.fetch, { url: unknown, form: { username: alice.userIdentifier, password: alice.password, csrf: await csrfOf(server, url) } }), 404, "This sign-in link isn&#39;t valid");
    // Only web authentication answers pages: the enroll endpoint still answers problem+json.
    const enroll = await client.enroll(server.fetch, { url: "https://mdm.example.com/enroll/mdm-byod", body: new Uint8Array([1, 2, 3]) });
    expect(enroll.headers["content-type"]).toBe("application/problem+json");
  });

  it("SIMPLE-6 the page's Cancel button answers an error status, which ends the enrollment on the device", async () => {
    const server = await testServer();
    const done = await enrollDevice({ identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: server.fetch, person: cancelButtonPerson });
    expect(done.value).toBe("cancelled");
    expect(done.context.cancelReason).toBe("SIMPLE-6");
  });

  it("the error page escapes every value it shows", () => {
    const html = renderErrorPage({ organizationName: `<b>"Org"</b>`, title: `<script>x</script>`, message: `a & b <img src=x onerror=alert(1)>` });
    expect(html).not.toMatch(/<(b|script|img)\b/);
    expect(html).toContain("&lt;b&gt;&quot;Org&quot;&lt;/b&gt;");
    expect(html).toContain("<h1>&lt;script&gt;x&lt;/script&gt;</h1>");
    expect(html).toContain("a &amp; b &lt;img src=x onerror=alert(1)&gt;");
  });
});

describe("password storage", () => {
  it("hashes with scrypt into a self-describing scrypt$N$r$p$salt$hash that verifies later", async () => {
    const stored = await hashPasswordScrypt(alice.password, seededRandom(3), 1_000);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPasswordHash(stored, alice.password)).toBe(true);
    expect(await verifyPasswordHash(stored, `${alice.password} `)).toBe(false);
    // A fresh salt each time: the same password never hashes the same.
    expect(await hashPasswordScrypt(alice.password, seededRandom(4), 1_000)).not.toBe(stored);
    // Malformed or out-of-bounds stored hashes never verify (and never cost a huge scrypt).
    for (const bad of ["", "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", stored.replace("scrypt$1024", "scrypt$4194304"), stored.replace(/\$[^$]+$/, "$")]) {
      expect(parsePasswordHash(bad)).toBeNull();
      expect(await verifyPasswordHash(bad, alice.password)).toBe(false);
    }
  });

  it("costs N=2^15, r=8, p=1 by default; a small number (the tests' 1_000) means N=2^10", () => {
    expect(defaultScryptCost).toEqual({ N: 2 ** 15, r: 8, p: 1 });
    expect(scryptCost()).toEqual(defaultScryptCost);
    expect(scryptCost(1_000)).toEqual({ N: 2 ** 10, r: 8, p: 1 });
    expect(scryptCost(2 ** 15)).toEqual(defaultScryptCost);
    expect(() => scryptCost({ N: 1000, r: 8, p: 1 })).toThrow(RangeError);
  });

  it("the directory verifies the right password only, and an unknown user goes through the decoy", async () => {
    const directory = await Directory.create([alice], seededRandom(5), 1_000);
    expect(directory.cost).toEqual({ N: 2 ** 10, r: 8, p: 1 });
    expect(await directory.verify("ALICE@example.com ", alice.password)).toEqual({ userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId });
    expect(await directory.verify(alice.userIdentifier, "wrong")).toBeUndefined();
    expect(await directory.verify("mallory@example.com", "decoy")).toBeUndefined();
    expect(JSON.stringify(directory.find(alice.userIdentifier))).not.toContain("scrypt");
  });
});
