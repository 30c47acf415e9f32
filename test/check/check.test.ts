// `adenroll check` against our own server in process (the demo configuration): every applicable rule
// passes; the pieces that make it work against someone else's server — the generic form filler,
// secret masking, curl replay, Mermaid labels — each on their own; and the fuzzer finds a planted
// fault, shrinks it and prints a replayable command.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../runtime/cli.ts";
import { runCheckCommand } from "../../runtime/check/command.ts";
import { exportTestDeviceCa } from "../../runtime/test-device-ca.ts";
import { faults, redirectingDiscovery } from "./faults.ts";
import { ourServer, type OurServer } from "./our-server.ts";
import * as client from "../../generated/client.generated.ts";
import { deviceEnrollBody, runCheck } from "../../runtime/check/run.ts";
import { Recorder } from "../../runtime/check/recorder.ts";
import { signInWithForms } from "../../runtime/check/sign-in.ts";
import { buildWebAuthUrl, parseAuthenticationCallback, parseChallenge, ServerWellKnownResponse } from "../../spec/index.ts";
import { curlCommand } from "../../runtime/check/fuzz.ts";
import { maskText } from "../../runtime/check/recorder.ts";
import { htmlReport, jsonReport, mermaidLabel, sequenceDiagram, textReport } from "../../runtime/check/report.ts";
import { parseForms, planForm } from "../../runtime/check/sign-in.ts";
import type { CheckReport } from "../../runtime/check/model.ts";

let server: OurServer;
let report: CheckReport;

beforeAll(async () => {
  server = await ourServer();
  report = await runCheck({ user: server.user, password: server.password, discoveryUrl: server.origin, device: { kind: "ca", ca: server.ca }, fetch: server.fetch, managedAppleId: server.user });
}, 60_000);
afterAll(async () => {
  await server.close();
});

const outcome = (id: string): string | undefined => report.results.find((r) => r.id === id)?.outcome;

describe("adenroll check against our own server", () => {
  it("fails no rule, and the device enrolled", () => {
    const failed = report.results.filter((r) => r.outcome === "fail").map((r) => `${r.id}: ${r.findings.map((f) => f.text).join(" | ")}`);
    expect(failed).toEqual([]);
    expect(report.device).toBe("a device following the protocol enrolled");
    expect(report.counts.fail).toBe(0);
  });

  it("passes the server rules of discovery, first enroll and the challenge (DISCOVERY-10, DISCOVERY-11, ENROLL-2, ENROLL-3, ENROLL-4, ENROLL-5, CHALLENGE-3)", () => {
    for (const id of ["DISCOVERY-10", "DISCOVERY-11", "ENROLL-2", "ENROLL-3", "ENROLL-4", "ENROLL-5", "CHALLENGE-3"]) expect(outcome(id), id).toBe("pass");
    // Seven invalid bodies, each its own probe: truncated, random, empty, altered, foreign CA, no VERSION, not a plist.
    expect(report.results.find((r) => r.id === "ENROLL-4")?.findings).toHaveLength(7);
  });

  it("passes sign-in, second enroll and every profile rule (SIMPLE-4, SIMPLE-5, ENROLL2-2, ENROLL2-3, PROFILE-1 to PROFILE-8)", () => {
    for (const id of ["SIMPLE-4", "SIMPLE-5", "ENROLL2-2", "ENROLL2-3", "PROFILE-1", "PROFILE-2", "PROFILE-3", "PROFILE-4", "PROFILE-5", "PROFILE-6", "PROFILE-7", "PROFILE-8"]) {
      expect(outcome(id), id).toBe("pass");
    }
  });

  it("passes ongoing authorization on check-in and the command channel (ONGOING-7, ONGOING-8, ONGOING-9, ONGOING-10, ONGOING-13)", () => {
    for (const id of ["ONGOING-7", "ONGOING-8", "ONGOING-9", "ONGOING-10", "ONGOING-13"]) expect(outcome(id), id).toBe("pass");
  });

  it("marks the OAuth 2 rules not applicable to a simple server, with the reason", () => {
    for (const id of ["CHALLENGE-6", "OAUTH-6", "OAUTH-7", "OAUTH-10", "OAUTH-12", "OAUTH-16"]) {
      const r = report.results.find((x) => x.id === id);
      expect(r?.outcome, id).toBe("not-applicable");
      expect(r?.findings[0]?.text).toMatch(/simple authentication/);
    }
    // Device-side rules are listed too, as not applicable, except those judged on the server's answers.
    expect(report.results.find((r) => r.id === "IDENT-2")?.outcome).toBe("not-applicable");
  });

  it("records every exchange with its secrets masked", () => {
    expect(report.exchanges.length).toBeGreaterThan(30);
    const all = JSON.stringify(report.exchanges);
    expect(all).not.toContain(server.password);
    expect(all).not.toMatch(/access-token=[A-Za-z0-9_-]{20,}/);
    expect(all).not.toMatch(/Bearer [A-Za-z0-9_-]{20,}/);
    expect(all).not.toMatch(/<key>Password<\/key>\s*<string>[^•<]/);
  });

  it("writes a terminal line per server rule, JSON with the same results, and an HTML page that escapes what the server said", () => {
    const lines = textReport(report);
    expect(lines.some((l) => /^ {2}pass +ENROLL-4 +DOC-SIMPLE/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes("IDENT-2"))).toBe(false);
    expect(lines.at(-1)).toMatch(/ 0 failed, /);
    const json: unknown = JSON.parse(jsonReport(report));
    expect(json).toMatchObject({ tool: "adenroll check", counts: report.counts });
    const hostile: CheckReport = { ...report, target: { ...report.target, user: "<script>alert(1)</script>@example.com" } };
    const html = htmlReport(hostile, "/* mermaid */");
    expect(html).not.toContain("<script>alert(1)");
    expect(html).toContain("&lt;script&gt;alert(1)");
    expect(html).toContain('<pre class="mermaid">sequenceDiagram');
  });
});

describe("adenroll check against our OAuth 2 organization", () => {
  it("passes the challenge, authorization, token, rotation, revocation and metadata rules (CHALLENGE-6, OAUTH-6, OAUTH-7, OAUTH-8, OAUTH-9, OAUTH-10, OAUTH-12, OAUTH-13, OAUTH-15, OAUTH-16)", async () => {
    const run = await runCheck({ user: server.oauthUser, password: server.password, discoveryUrl: server.origin, device: { kind: "ca", ca: server.ca }, fetch: server.fetch, managedAppleId: server.oauthUser });
    expect(run.target.auth).toBe("oauth2");
    expect(run.results.filter((r) => r.outcome === "fail").map((r) => `${r.id}: ${r.findings.map((f) => f.text).join(" | ")}`)).toEqual([]);
    for (const id of ["CHALLENGE-6", "OAUTH-6", "OAUTH-7", "OAUTH-8", "OAUTH-9", "OAUTH-10", "OAUTH-12", "OAUTH-13", "OAUTH-15", "OAUTH-16", "ONGOING-10", "SEC-1"]) {
      expect(run.results.find((r) => r.id === id)?.outcome, id).toBe("pass");
    }
    // Simple-sign-in rules do not apply; the refresh tokens never reach the report.
    expect(run.results.find((r) => r.id === "SIMPLE-4")?.outcome).toBe("not-applicable");
    expect(JSON.stringify(run)).not.toMatch(/"refresh_token":"[^…"]{8}/);
  }, 60_000);
});

describe("a server behind a redirect of the well-known request", () => {
  it("that carries user-identifier and model-family itself passes DISCOVERY-12, every hop recorded", async () => {
    const run = await runCheck({ user: server.user, password: server.password, discoveryUrl: server.origin, device: { kind: "ca", ca: server.ca }, fetch: redirectingDiscovery(true)(server.fetch), managedAppleId: server.user });
    expect(run.results.filter((r) => r.outcome === "fail").map((r) => r.id)).toEqual([]);
    expect(run.results.find((r) => r.id === "DISCOVERY-12")?.outcome).toBe("pass");
    const device = run.exchanges.filter((e) => e.label.startsWith("device: discovery"));
    expect(device.map((e) => ("status" in e.response ? e.response.status : 0))).toEqual([302, 200]);
  }, 60_000);
});

describe("what a machine cannot do", () => {
  it("a sign-in page that asks for a one-time code needs a person, not a failure; the token a person pastes takes the check on (SIMPLE-4)", async () => {
    // Our server, but its sign-in page asks for a second factor.
    const otpPage = (fetch: OurServer["fetch"]): OurServer["fetch"] => async (request) =>
      request.method === "GET" && new URL(request.url).pathname.startsWith("/authenticate/")
        ? new Response(`<form method="post"><label>Code <input name="otp_code" inputmode="numeric"></label><button>Verify</button></form>`, { headers: { "content-type": "text/html" } })
        : fetch(request);
    const body = await deviceEnrollBody(server.ca);
    const device = { kind: "ca", ca: server.ca, body } as const;
    const stuck = await runCheck({ user: server.user, password: server.password, discoveryUrl: server.origin, device, fetch: otpPage(server.fetch), managedAppleId: server.user, browser: "never" });
    expect(stuck.results.filter((r) => r.outcome === "fail").map((r) => r.id)).toEqual([]);
    const simple4 = stuck.results.find((r) => r.id === "SIMPLE-4");
    expect(simple4?.outcome).toBe("needs-person");
    expect(simple4?.findings[0]?.text).toMatch(/needs a person: the page asks for a one-time code .*--token/);
    expect(stuck.results.find((r) => r.id === "ONGOING-7")?.outcome).toBe("not-applicable");

    // The person signs in by hand for this device, and pastes the token.
    const discovery = await client.wellKnown(server.fetch, { origin: server.origin, query: { "user-identifier": server.user, "model-family": "iPhone" } });
    const baseUrl = ServerWellKnownResponse.parse(JSON.parse(new TextDecoder().decode(discovery.body))).Servers[0].BaseURL;
    const challenge = parseChallenge((await client.enroll(server.fetch, { url: baseUrl, body })).headers["www-authenticate"]);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("no challenge");
    const signed = await signInWithForms({ recorder: new Recorder({ fetch: server.fetch }), label: "by hand", startUrl: buildWebAuthUrl(challenge.value.url, server.user), callbackScheme: "apple-remotemanagement-user-login", username: server.user, password: server.password, browser: "never" });
    const token = signed.kind === "callback" ? parseAuthenticationCallback(signed.url) : undefined;
    if (token?.ok !== true) throw new Error("the sign-in by hand failed");
    const resumed = await runCheck({ user: server.user, password: server.password, discoveryUrl: server.origin, device, fetch: server.fetch, managedAppleId: server.user, token: token.value.accessToken });
    expect(resumed.results.filter((r) => r.outcome === "fail").map((r) => r.id)).toEqual([]);
    expect(resumed.results.find((r) => r.id === "SIMPLE-4")?.findings[0]?.text).toBe("a person signed in by hand (--token)");
    for (const id of ["ENROLL2-3", "PROFILE-4", "ONGOING-7", "ONGOING-9"]) expect(resumed.results.find((r) => r.id === id)?.outcome, id).toBe("pass");
  }, 60_000);
});

describe("the adenroll check command", () => {
  it("exits 1 and prints the failed rule with its request, answer and expectation when a rule fails (ENROLL-5)", async () => {
    const fault = faults.find((f) => f.name === "a 200 on the first enroll");
    if (fault === undefined) throw new Error("no such fault");
    const dir = mkdtempSync(path.join(tmpdir(), "adenroll-check-cli-"));
    try {
      const pem = await exportTestDeviceCa(server.ca);
      writeFileSync(path.join(dir, "ca.pem"), pem.certificatePem + pem.privateKeyPem);
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
      const argv = ["--user", server.user, "--password", server.password, "--server", server.origin, "--device-ca", path.join(dir, "ca.pem"), "--no-browser"];
      const code = await runCheckCommand(argv, io, async () => "", fault.wrap(server.fetch));
      expect(code).toBe(1);
      const text = out.join("\n");
      expect(text).toMatch(/ {2}FAIL +ENROLL-5 +DOC-SIMPLE Step 5; PROTOCOL\.md §2\n +✗ the first enroll request \(no Authorization\) answered 200, WWW-Authenticate missing\n +expected: 401 with an empty body and a valid WWW-Authenticate challenge\n +#2 POST http:\/\/127\.0\.0\.1:8080\/enroll\/mdm-byod\S* → 200/);
      expect(text).toMatch(/ 1 failed, /);
      // Bad flags: 2.
      expect(await main(["check", "--user", "nobody", "--password", "x"], io)).toBe(2);
      expect(await main(["check", "--user", server.user, "--password", "x", "--fuzz", "0"], io)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the sign-in form of a server we have never seen", () => {
  const credentials = { username: "ann@corp.example", password: "pw-123456789" };

  it("fills the password form: the user field by type or name, hidden fields kept, the non-cancel button sent", () => {
    const html = `<html><body><form id="f" action="/login?x=1" method="POST">
      <input type="hidden" name="RelayState" value="a&amp;b">
      <input type="text" name="search" value="">
      <input name="loginfmt" type="email">
      <input type='password' name='passwd'>
      <input type="checkbox" name="remember" checked>
      <button type="submit" name="op" value="cancel">Cancel</button>
      <button type="submit" name="op" value="signin">Sign in</button>
    </form></body></html>`;
    const plan = planForm(html, credentials);
    expect(plan.kind).toBe("submit");
    if (plan.kind !== "submit") return;
    expect(plan.form).toMatchObject({ action: "/login?x=1", method: "POST" });
    expect(plan.values).toEqual({ RelayState: "a&b", search: "", loginfmt: credentials.username, passwd: credentials.password, remember: "on", op: "signin" });
  });

  it("submits a user-name-first page, and hands a second factor or a script-only page on", () => {
    expect(planForm(`<form method="post"><input name="identifier" type="text"><input type="submit" value="Next"></form>`, credentials)).toMatchObject({ kind: "submit", values: { identifier: credentials.username } });
    expect(planForm(`<form method="post"><input name="otp_code" type="text" inputmode="numeric"></form>`, credentials)).toMatchObject({ kind: "needs-person" });
    expect(planForm(`<div id="app"></div><script src="/app.js"></script>`, credentials)).toEqual({ kind: "needs-script" });
    expect(parseForms(`<form><input name=a value=1><select name=s></select></form>`)[0]?.fields.map((f) => f.name)).toEqual(["a", "s"]);
  });
});

describe("what the check prints", () => {
  it("masks tokens, passwords, codes and PKCS#12 passwords", () => {
    expect(maskText("Location: x://r?access-token=abcdefghijklmnop&b=1")).toBe("Location: x://r?access-token=…mnop&b=1");
    expect(maskText("authorization: Bearer abcdefghijklmnopqrstuvwxyz")).toBe("authorization: Bearer …wxyz");
    expect(maskText("username=a&password=hunter2hunter2")).toBe("username=a&password=…ter2");
    expect(maskText("<key>Password</key><string>secret</string>")).toBe("<key>Password</key><string>•••</string>");
    expect(maskText("GET http://x/authenticate/J_33V79p5H0i0Dph59APK9jfx3DenPcr?user-identifier=a")).toBe("GET http://x/authenticate/…nPcr?user-identifier=a");
  });

  it("replays a request as curl, binary bodies through base64, the token left to the shell", () => {
    const curl = curlCommand({ method: "PUT", url: "http://127.0.0.1:1/mdm/checkin", headers: { authorization: "Bearer SECRET-TOKEN-1", "content-type": "x/y" }, body: new Uint8Array([0, 255, 39]) }, "SECRET-TOKEN-1");
    expect(curl).toBe(`printf %s 'AP8n' | base64 -d | curl -i -X PUT -H 'authorization: Bearer '"$ADENROLL_TOKEN"'' -H 'content-type: x/y' 'http://127.0.0.1:1/mdm/checkin' --data-binary @-`);
    expect(curl).not.toContain("SECRET-TOKEN-1");
  });

  it("keeps Mermaid's grammar out of message labels", () => {
    expect(mermaidLabel('a;b#c:"d"<e>')).toBe("a#59;b#35;c#58;#34;d#34;#60;e#62;");
    const diagram = sequenceDiagram(report.exchanges.slice(0, 4));
    expect(diagram.split("\n")[0]).toBe("sequenceDiagram");
    expect(diagram).toMatch(/D->>S0: \[1\] GET \/\.well-known\/com\.apple\.remotemanagement/);
  });
});

describe("fuzz mode", () => {
  it("finds a planted fault (a token-less check-in accepted), shrinks it and prints a replayable curl command (ONGOING-7)", async () => {
    const fault = faults.find((f) => f.name === "a check-in without a token accepted");
    if (fault === undefined) throw new Error("no such fault");
    const run = await runCheck({
      user: server.user,
      password: server.password,
      discoveryUrl: server.origin,
      device: { kind: "ca", ca: server.ca },
      fetch: fault.wrap(server.fetch),
      managedAppleId: server.user,
      fuzz: { runs: 25, seed: 7 },
    });
    expect(run.fuzz?.seed).toBe(7);
    expect(run.fuzz?.steps.map((s) => s.step)).toHaveLength(6);
    const found = run.fuzz?.failures.find((f) => f.ruleId === "ONGOING-7");
    expect(found?.text).toMatch(/Authorization null was accepted/);
    expect(found?.curl).toMatch(/^printf %s '[A-Za-z0-9+/=]+' \| base64 -d \| curl -i -X PUT .*'https?:\/\/[^/']+\/mdm\/checkin' --data-binary @-$/);
    expect(found?.curl).not.toContain("authorization:");
    expect(run.fuzz?.failures.map((f) => f.ruleId).every((id) => id === "ONGOING-7")).toBe(true);
  }, 60_000);
});
