// The sign-in page in a real headless Chromium (Debian's `chromium`, driven by playwright-core): the
// generated server listens on loopback, the device's first enroll goes over HTTP with the real
// device body, and a person opens the challenge URL, types the password and signs in — the browser
// then navigates to apple-remotemanagement-user-login://authentication-results?access-token=…,
// whose token authorizes the second enroll. Screenshots at a 390×844 phone viewport go to
// test-output/.
//
// Without /usr/bin/chromium the tests are skipped with a message, except under CI=true, where they
// fail (.ci/chromium.sh installs it).
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { parseAuthenticationCallback, parseChallenge } from "../../spec/index.ts";
import { listenOnLoopback, type LoopbackServer } from "../support/http-server.ts";
import { alice, realEnrollBody, testServer, type TestServer } from "../support/fixtures.ts";

const chromiumPath = "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
const underCi = process.env["CI"] === "true";
const skip = !haveChromium && !underCi;
if (skip) console.warn(`sign-in browser tests skipped: ${chromiumPath} is missing (apt-get install chromium; under CI=true this fails instead)`);

const outputDir = fileURLToPath(new URL("../../test-output/", import.meta.url));
const phone = { width: 390, height: 844 } as const;
const callbackScheme = "apple-remotemanagement-user-login:";

interface Running {
  readonly origin: string;
  readonly server: TestServer;
  readonly http: LoopbackServer;
}

/** The generated server on 127.0.0.1 with that loopback URL as its public base URL. */
async function startServer(): Promise<Running> {
  const http = await listenOnLoopback();
  const server = await testServer({
    publicBaseUrl: http.origin,
    // The profile must name https URLs (step 13, PROFILE-6): the MDM service itself is elsewhere.
    profile: {
      identifierPrefix: "com.example.mdm",
      topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001",
      serverUrl: "https://mdm.example.com/mdm/server",
      checkInUrl: "https://mdm.example.com/mdm/checkin",
      identity: { kind: "scep", url: "https://mdm.example.com/scep", challenge: "scep-challenge" },
    },
  });
  http.setHandler(server.fetch);
  return { origin: http.origin, server, http };
}

/** The device's first enroll, over HTTP: 401 with the apple-as-web challenge naming the sign-in page. */
async function challengeUrl(origin: string): Promise<string> {
  const first = await client.enroll(fetch, { url: `${origin}/enroll/mdm-byod`, body: realEnrollBody });
  expect(first.status).toBe(401);
  const challenge = parseChallenge(first.headers["www-authenticate"]);
  if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("expected an apple-as-web challenge");
  expect(challenge.value.url.startsWith(`${origin}/authenticate/`)).toBe(true);
  return challenge.value.url;
}

async function screenshot(page: Page, name: string): Promise<string> {
  const path = `${outputDir}${name}`;
  await page.screenshot({ path, fullPage: false });
  console.log(`screenshot: ${path}`);
  return path;
}

/** WCAG contrast ratio of an element's text against its own background, or the card's when it has none. */
async function contrastOf(page: Page, selector: string): Promise<number> {
  return page.locator(selector).first().evaluate((element) => {
    const rgb = (value: string): [number, number, number, number] => {
      const parts = (value.match(/[\d.]+/g) ?? []).map(Number);
      return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
    };
    const luminance = ([r, g, b]: [number, number, number, number]): number => {
      const channel = (c: number): number => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    let background: Element | null = element;
    while (background !== null && rgb(getComputedStyle(background).backgroundColor)[3] === 0) background = background.parentElement;
    const fg = luminance(rgb(getComputedStyle(element).color));
    const bg = luminance(rgb(getComputedStyle(background ?? document.body).backgroundColor));
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  });
}

/** Readable in light and dark: body text, the lead, the note, both buttons (and the alert when shown) reach WCAG AA. */
async function expectReadable(page: Page): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const selector of ["h1", ".lead", "label", "input#username", ".note", "button.primary", "button.secondary", ...((await page.locator(".alert").count()) > 0 ? [".alert"] : [])]) {
      expect(await contrastOf(page, selector), `${selector} in ${scheme} mode`).toBeGreaterThanOrEqual(4.5);
    }
  }
  await page.emulateMedia({ colorScheme: "light" });
  // Nothing wider than the phone: no sideways scrolling.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width);
}

describe.skipIf(skip)("sign-in page in headless Chromium", () => {
  let browser: Browser;
  const running: Running[] = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`CI=true but ${chromiumPath} is missing: .ci/chromium.sh installs Debian's chromium`);
    mkdirSync(outputDir, { recursive: true });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    for (const { http } of running) await http.close();
  });

  /** A fresh server, a fresh browser context at phone size, and the sign-in page opened the way the device opens it. */
  async function openSignInPage(): Promise<{ readonly page: Page; readonly url: string; readonly run: Running }> {
    const run = await startServer();
    running.push(run);
    const url = await challengeUrl(run.origin);
    const context = await browser.newContext({ viewport: phone, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: "light" });
    contexts.push(context);
    const page = await context.newPage();
    // SIMPLE-1: the device replaces the query with user-identifier.
    const response = await page.goto(`${url}?user-identifier=alice%40example.com`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("default-src 'none'");
    return { page, url, run };
  }

  it("SIMPLE-4 a person signs in: the browser navigates to the callback, and its token authorizes the second enroll", async () => {
    const started = performance.now();
    const { page, run } = await openSignInPage();
    await expect(page.title()).resolves.toBe("Sign in — Example Corp");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Example Corp");
    expect(await page.getByLabel("User name").inputValue()).toBe(alice.userIdentifier);
    // Prefilled, not locked: the person may correct it.
    expect(await page.getByLabel("User name").isEditable()).toBe(true);
    expect(await page.getByRole("alert").count()).toBe(0);
    await expectReadable(page);
    await screenshot(page, "sign-in-phone.png");

    await page.getByLabel("Password").fill(alice.password);
    const callback = page.waitForRequest((request) => request.url().startsWith(callbackScheme), { timeout: 10_000 });
    const redirect = page.waitForResponse((response) => response.request().method() === "POST");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect((await redirect).status()).toBe(308);
    const location = (await callback).url();
    expect(location).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=[A-Za-z0-9_-]{43}$/);

    const parsed = parseAuthenticationCallback(location);
    if (!parsed.ok) throw new Error(`the device must read the callback: ${location}`);
    const second = await client.enroll(fetch, { url: `${run.origin}/enroll/mdm-byod`, body: realEnrollBody, accessToken: parsed.value.accessToken });
    expect(second.status, new TextDecoder().decode(second.body)).toBe(200);
    expect(second.headers["content-type"]).toBe("application/x-apple-aspen-config");
    console.log(`browser sign-in flow: ${Math.round(performance.now() - started)} ms`);
  });

  it("SIMPLE-5 a wrong password shows the form again (401) with the error above the fields, the user name kept", async () => {
    const { page } = await openSignInPage();
    await page.getByLabel("Password").fill("not the password");
    const answer = page.waitForResponse((response) => response.request().method() === "POST");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect((await answer).status()).toBe(401);
    await page.waitForLoadState("load");
    const alert = page.getByRole("alert");
    expect(await alert.isVisible()).toBe(true);
    expect(await alert.textContent()).toContain("The user name or password is wrong.");
    // Above the fields.
    const alertBox = await alert.boundingBox();
    const userBox = await page.getByLabel("User name").boundingBox();
    expect(alertBox !== null && userBox !== null && alertBox.y + alertBox.height <= userBox.y).toBe(true);
    expect(await page.getByLabel("User name").inputValue()).toBe(alice.userIdentifier);
    expect(await page.getByLabel("Password").inputValue()).toBe("");
    expect(await page.getByLabel("Password").getAttribute("aria-invalid")).toBe("true");
    await expectReadable(page);
    await screenshot(page, "sign-in-phone-error.png");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "sign-in-phone-error-dark.png");
  });

  it("every reflected value is escaped: markup in user-identifier is only text in the user field", async () => {
    const run = await startServer();
    running.push(run);
    const url = await challengeUrl(run.origin);
    const context = await browser.newContext({ viewport: phone, isMobile: true });
    contexts.push(context);
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const injected = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    expect((await page.goto(`${url}?user-identifier=${encodeURIComponent(injected)}`))?.status()).toBe(200);
    expect(await page.getByLabel("User name").inputValue()).toBe(injected);
    expect(await page.locator("script, img").count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width);
  });

  it("SIMPLE-6 Cancel shows the cancelled page with 403, and no callback", async () => {
    const { page } = await openSignInPage();
    const callbacks: string[] = [];
    page.on("request", (request) => {
      if (request.url().startsWith(callbackScheme)) callbacks.push(request.url());
    });
    const answer = page.waitForResponse((response) => response.request().method() === "POST");
    // Cancel needs no password (formnovalidate).
    await page.getByRole("button", { name: "Cancel" }).click();
    const response = await answer;
    expect(response.status()).toBe(403);
    expect(response.headers()["content-type"]).toBe("text/html; charset=utf-8");
    await page.waitForLoadState("load");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Sign-in cancelled");
    expect(await page.locator("body").innerText()).toContain("This device was not enrolled.");
    expect(await page.locator("form").count()).toBe(0);
    expect(callbacks).toEqual([]);
    await screenshot(page, "sign-in-phone-cancelled.png");
  });
});
