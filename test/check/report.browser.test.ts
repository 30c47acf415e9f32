// `adenroll check` against the demo server as `adenroll serve` runs it (a separate process, real
// HTTP), signing in through headless Chromium (--browser; the form filler's own path is tested in
// check.test.ts): every applicable rule passes, and the HTML report opens in headless Chromium with
// its sequence diagram rendered by the inlined Mermaid (a screenshot is kept in test-output/).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { main } from "../../runtime/cli.ts";
import { chromiumFlags } from "../../runtime/check/sign-in.ts";
import { demo } from "../../runtime/serve.ts";
import { serve, type Served } from "../support/serve-process.ts";

const chromiumPath = "/usr/bin/chromium";
const skipBrowser = !existsSync(chromiumPath) && process.env["CI"] !== "true";
if (skipBrowser) console.warn(`check report browser tests skipped: ${chromiumPath} is missing (under CI=true this fails instead)`);
const outputDir = fileURLToPath(new URL("../../test-output/", import.meta.url));

/** What the test reads of the JSON report. */
const CheckJson = z.object({
  results: z.array(z.object({ id: z.string(), outcome: z.string() })),
  exchanges: z.array(z.object({ label: z.string(), request: z.object({ method: z.string() }) })),
});

let served: Served;
let dir: string;
let password: string;
const reportFile = (): string => path.join(dir, "report.html");

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "adenroll-check-"));
  served = await serve(["--data", path.join(dir, "data")]);
  // The banner with the one-time password follows the "listening" line.
  for (let i = 0; i < 100 && !/password\s+\S+/.test(served.out()); i++) await new Promise((r) => setTimeout(r, 100));
  const match = /password\s+(\S+)/.exec(served.out());
  if (match?.[1] === undefined) throw new Error(`no demo password in:\n${served.out()}`);
  password = match[1];
}, 60_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("adenroll check against the demo server", () => {
  it("passes every applicable rule, signing in through Chromium (SIMPLE-4), exits 0 and writes the HTML and JSON reports", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      ["check", "--user", demo.user, "--password", password, "--server", served.origin, "--data", path.join(dir, "data"), "--mdm-origin", served.origin, "--managed-apple-id", demo.user, "--report", reportFile(), "--json", path.join(dir, "report.json"), ...(skipBrowser ? [] : ["--browser", "--chromium", chromiumPath])],
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    expect(err).toEqual([]);
    expect(code, out.join("\n")).toBe(0);
    expect(out.join("\n")).toMatch(/ 0 failed, 0 need a person, /);
    const json: unknown = JSON.parse(readFileSync(path.join(dir, "report.json"), "utf8"));
    expect(json).toMatchObject({ counts: { fail: 0, "needs-person": 0 }, target: { auth: "simple" } });
    const parsed = CheckJson.parse(json);
    expect(parsed.results.find((r) => r.id === "SIMPLE-4")?.outcome).toBe("pass");
    // The sign-in form was posted by Chromium, its requests recorded through the interception.
    if (!skipBrowser) expect(parsed.exchanges.some((e) => e.label.includes("(Chromium)") && e.request.method === "POST")).toBe(true);
    // Self-contained: Mermaid inlined, nothing loaded from elsewhere.
    const html = readFileSync(reportFile(), "utf8");
    expect(html.length).toBeGreaterThan(1_000_000);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
  }, 60_000);

  it.skipIf(skipBrowser)("the HTML report opens in headless Chromium with the sequence diagram rendered (screenshot in test-output/)", async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumFlags });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(pathToFileURL(reportFile()).toString());
      await page.waitForSelector("body[data-diagram]", { timeout: 20_000 });
      expect(await page.getAttribute("body", "data-diagram")).toBe("rendered");
      expect(await page.locator(".mermaid svg").count()).toBe(1);
      // One message line per request and one per answer.
      expect(await page.locator(".mermaid svg .messageText").count()).toBeGreaterThan(40);
      expect(await page.locator("#rule-ENROLL-4 .outcome").textContent()).toBe("pass");
      await page.locator("details#x1 > summary").click();
      expect(await page.locator("details#x1 pre").first().isVisible()).toBe(true);
      expect(errors).toEqual([]);
      await page.evaluate(() => window.scrollTo(0, 0));
      mkdirSync(outputDir, { recursive: true });
      const shot = path.join(outputDir, "check-report.png");
      await page.screenshot({ path: shot, fullPage: false });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
