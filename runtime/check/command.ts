// `adenroll check`: flags, the device's identity (the test device CA or a captured body), the run,
// and the three outputs. Exit 0 when no rule failed, 1 when one did (or the check could not run),
// 2 for bad flags.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Fetch } from "../../generated/client.generated.ts";
import { ModelFamily } from "../../spec/index.ts";
import { defaultDataDir, readTestDeviceCaFile, testDeviceCaFileName } from "../data-folder.ts";
import { readStdinLine } from "../device-command.ts";
import { messageOf } from "../error-text.ts";
import { consoleIo, type Io } from "../serve.ts";
import { htmlReport, jsonReport, mermaidBundle, textReport } from "./report.ts";
import { deviceEnrollBody, runCheck, type CheckOptions } from "./run.ts";
import { commandFlags, deviceAccountFlags, deviceAccountOf, devicePassword } from "../command-flags.ts";

export const checkUsage = `Usage: adenroll check --user USER@DOMAIN [--password PW | --password-stdin] [options]

Plays a device through account-driven enrollment against a server, probes every documented
server-side rule with deliberate deviations, and reports pass / fail / not applicable per rule id.
Exits 0 when no rule failed, 1 when one did, 2 for bad flags.

Options:
  --user ID             the account to enroll (user@domain)
  --password PW         its password, typed into the server's sign-in page
  --password-stdin      read the password from the first line of standard input
  --server URL          ask this server's well-known URL instead of https://<domain>
  --discovery-url URL   where the well-known request goes (an origin gets the well-known path)
  --auth simple|oauth2  what the server is expected to use (the check follows its challenge)
  --token T             an access token a person obtained by hand: the sign-in is skipped
  --browser             sign in with headless Chromium (playwright-core) even when forms would do
  --no-browser          never start Chromium: pages that need a script need a person
  --chromium PATH       the Chromium binary (default $ADENROLL_CHROMIUM or /usr/bin/chromium)
  --device-ca FILE      the test device CA that the server trusts (default DATA/test-device-ca.pem)
  --data DIR            the server's data folder, to find its test device CA (default ./.adenroll)
  --enroll-body FILE    the device's enroll body: a captured one (a real device's), or one kept
                        with --save-body (then --token: the same device the person signed in for)
  --save-body FILE      keep the device's enroll body (to sign in by hand and come back with --token)
  --model-family F      iPhone (default), iPad, Mac, RealityDevice, AppleTV or Watch
  --mdm-origin URL      send MDM requests to this origin instead of the profile's host
  --managed-apple-id ID the account the profile must assign (PROFILE-7); else a person confirms it
  --report FILE.html    write the HTML report (summary, rules, sequence diagram, every exchange)
  --json FILE           write the report as JSON (for CI)
  --fuzz N              then send N generated deviations per step (fast-check), judged by the rules
  --seed S              the fuzz seed (default: random, printed)
  --all                 also list device-side rules on the terminal
  -h, --help            this help`;

/** Runs `adenroll check`; `fetch` replaces the network (tests run it against a server in process). */
export async function runCheckCommand(argv: readonly string[], io: Io = consoleIo, stdin: () => Promise<string> = readStdinLine, fetch?: Fetch): Promise<number> {
  const parsed = commandFlags("check", checkUsage, argv, {
    ...deviceAccountFlags,
    auth: { type: "string" },
    token: { type: "string" },
    browser: { type: "boolean" },
    "no-browser": { type: "boolean" },
    chromium: { type: "string" },
    "device-ca": { type: "string" },
    data: { type: "string", default: defaultDataDir },
    "enroll-body": { type: "string" },
    "save-body": { type: "string" },
    "model-family": { type: "string", default: "iPhone" },
    "mdm-origin": { type: "string" },
    "managed-apple-id": { type: "string" },
    report: { type: "string" },
    json: { type: "string" },
    fuzz: { type: "string" },
    seed: { type: "string" },
    all: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, io);
  if ("exit" in parsed) return parsed.exit;
  const { values: flags, usage } = parsed;
  const account = deviceAccountOf(flags);
  if (typeof account === "string") return usage(account);
  const family = ModelFamily.safeParse(flags["model-family"]);
  if (!family.success) return usage(`--model-family must be one of ${ModelFamily.options.join(", ")}`);
  if (flags.auth !== undefined && flags.auth !== "simple" && flags.auth !== "oauth2") return usage("--auth must be simple or oauth2");
  if (flags.browser === true && flags["no-browser"] === true) return usage("give --browser or --no-browser, not both");
  const mdmOrigin = flags["mdm-origin"];
  if (mdmOrigin !== undefined && !/^https?:$/.test(URL.parse(mdmOrigin)?.protocol ?? "")) return usage("--mdm-origin must be an http(s) URL");
  const fuzzRuns = flags.fuzz === undefined ? undefined : Number(flags.fuzz);
  if (fuzzRuns !== undefined && !(Number.isInteger(fuzzRuns) && fuzzRuns >= 1 && fuzzRuns <= 1_000_000)) return usage("--fuzz must be a whole number of runs per step (1–1000000)");
  const seed = flags.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(flags.seed);
  if (!Number.isInteger(seed)) return usage("--seed must be an integer");
  const { user, discoveryUrl } = account;

  // A token got by hand stands in for the sign-in, and so for the password.
  const password = flags.token !== undefined && flags.password === undefined ? "" : await devicePassword(flags, user, stdin, "--password, --password-stdin or --token is required");
  if (typeof password !== "string") return usage(password.missing);

  let device: CheckOptions["device"];
  try {
    const body = flags["enroll-body"] === undefined ? undefined : new Uint8Array(await readFile(flags["enroll-body"]));
    const caFile = path.resolve(flags["device-ca"] ?? path.join(flags.data, testDeviceCaFileName));
    // A captured body alone is enough; the test CA (when there is one) also signs the probes' bodies.
    const ca = await readTestDeviceCaFile(caFile).catch((error: unknown) => {
      if (body !== undefined && flags["device-ca"] === undefined) return undefined;
      throw new Error(`${messageOf(error)}. Give the test device CA the server trusts (--device-ca FILE, or --data DIR of an adenroll server), or a captured body (--enroll-body FILE).`);
    });
    if (ca === undefined) device = { kind: "captured", body: body ?? new Uint8Array() };
    else device = { kind: "ca", ca, body: body ?? (await deviceEnrollBody(ca, family.data)) };
    if (flags["save-body"] !== undefined) {
      await writeFile(flags["save-body"], device.body ?? new Uint8Array());
      io.out(`  the device's enroll body: ${flags["save-body"]} (--enroll-body ${flags["save-body"]} --token T runs again as this device)`);
    }
  } catch (error) {
    io.err(`adenroll check: ${messageOf(error)}`);
    return 1;
  }

  let report;
  try {
    report = await runCheck({
      user,
      password,
      ...(discoveryUrl === undefined ? {} : { discoveryUrl }),
      ...(flags.auth === "simple" || flags.auth === "oauth2" ? { auth: flags.auth } : {}),
      modelFamily: family.data,
      device,
      ...(flags["mdm-origin"] === undefined ? {} : { mdmOrigin: new URL(flags["mdm-origin"]).origin }),
      ...(flags["managed-apple-id"] === undefined ? {} : { managedAppleId: flags["managed-apple-id"] }),
      browser: flags.browser === true ? "always" : flags["no-browser"] === true ? "never" : "auto",
      ...(flags.chromium === undefined ? {} : { chromiumPath: flags.chromium }),
      ...(flags.token === undefined ? {} : { token: flags.token }),
      ...(fuzzRuns === undefined ? {} : { fuzz: { runs: fuzzRuns, seed } }),
      progress: (line) => io.out(line),
      ...(fetch === undefined ? {} : { fetch }),
    });
  } catch (error) {
    io.err(`adenroll check: the check could not run: ${messageOf(error)}`);
    return 1;
  }
  for (const line of textReport(report, { all: flags.all === true })) io.out(line);
  try {
    if (flags.json !== undefined) {
      await writeFile(flags.json, jsonReport(report));
      io.out(`  JSON report: ${flags.json}`);
    }
    if (flags.report !== undefined) {
      const mermaid = await mermaidBundle();
      await writeFile(flags.report, htmlReport(report, mermaid));
      io.out(`  HTML report: ${flags.report}${mermaid === undefined ? " (mermaid is not installed: the diagram is shown as text)" : ""}`);
    }
  } catch (error) {
    io.err(`adenroll check: the report could not be written: ${messageOf(error)}`);
    return 1;
  }
  if (report.fuzz !== undefined) io.out(`  replay the fuzz run: --fuzz ${report.fuzz.runsPerStep} --seed ${report.fuzz.seed}`);
  return report.counts.fail > 0 ? 1 : 0;
}
