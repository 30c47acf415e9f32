// `adenroll abm set-discovery-url URL | get | clear` through main([...]) with a captured Io, against
// the loopback stand-in for Apple (--api), with a .p7m server token made here and the MDM server's
// key (--token, --key): exit codes 0 (done), 1 (Apple refused or unreachable), 2 (bad usage), lines
// and --json, and the token's secrets in no output.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AdminCommandContext } from "../../runtime/admin-command.ts";
import { main } from "../../runtime/cli.ts";
import type { AbmServerToken } from "../../spec/abm.ts";
import { seededRandom } from "../support/fixtures.ts";
import { startAppleStandIn, type StandIn } from "./apple-stand-in.ts";
import { envelope, mdmServerIdentity, smime, tokenMime } from "./token-files.ts";

const token: AbmServerToken = {
  consumer_key: "CK_c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
  consumer_secret: "CS_5ec12e7c0n5umer5ecre7000000000000000000",
  access_token: "AT_O4242424242O0123456789abcdef0123456789abcdefO1800000000000",
  access_secret: "AS_5ec12e7acce555ecre70000000000000000000",
  access_token_expiry: "2027-06-01T00:00:00Z",
};
const secrets = [token.consumer_secret, token.access_secret];
const now = () => Date.UTC(2026, 2, 1, 9, 30, 0);

const dir = mkdtempSync(path.join(tmpdir(), "adenroll-abm-cli-"));
const mdm = mdmServerIdentity();
const files = { p7m: path.join(dir, "server-token.p7m"), key: path.join(dir, "mdm-server.key"), json: path.join(dir, "server-token.json") };
const discoveryUrl = "https://mdm.example.com/.well-known/com.apple.remotemanagement";

let standIn: StandIn;
beforeAll(async () => {
  writeFileSync(files.p7m, smime(envelope(tokenMime(token), [mdm.certificate])));
  writeFileSync(files.key, mdm.keyPem);
  writeFileSync(files.json, JSON.stringify(token));
  standIn = await startAppleStandIn({ token, now });
});
afterEach(() => {
  standIn.options.orgSupported = true;
  delete standIn.options.sessionForbidden;
});
afterAll(async () => {
  await standIn.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

const ran: Ran[] = [];
/** One stream for all runs: a nonce never repeats at the same timestamp (the stand-in refuses that, as Apple does). */
const random = seededRandom(11);

async function adenroll(args: readonly string[], context: AdminCommandContext = {}): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["abm", ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, { now, random, ...context });
  const result = { code, out: out.join("\n"), err: err.join("\n") };
  ran.push(result);
  return result;
}

const withP7m = () => ["--token", files.p7m, "--key", files.key, "--api", standIn.origin];

describe("adenroll abm", () => {
  it("set-discovery-url, get, clear, get — with the .p7m and the key, in lines", async () => {
    const set = await adenroll(["set-discovery-url", discoveryUrl, ...withP7m()]);
    expect(set, set.err).toMatchObject({ code: 0, err: "" });
    expect(set.out).toBe(`registered ${discoveryUrl}: Apple Business Manager sends devices there when their account's domain does not answer discovery`);
    expect(standIn.registered?.url).toBe(discoveryUrl);
    expect(await adenroll(["get", ...withP7m()])).toMatchObject({ code: 0, out: `${discoveryUrl}  (last updated 2026-03-01T09:30:00.000Z)` });
    expect(await adenroll(["clear", ...withP7m()])).toMatchObject({ code: 0, out: "cleared: no service-discovery URL is registered now" });
    expect(standIn.registered).toBeUndefined();
    expect(await adenroll(["get", ...withP7m()])).toMatchObject({ code: 0, out: "none registered" });
  });

  it("--json, with the decrypted JSON token", async () => {
    const flags = ["--token", files.json, "--api", standIn.origin, "--json"];
    const set = await adenroll(["set-discovery-url", discoveryUrl, ...flags]);
    expect(set.code, set.err).toBe(0);
    expect(JSON.parse(set.out)).toEqual({ registered: true, mdmServiceDiscoveryUrl: discoveryUrl });
    expect(JSON.parse((await adenroll(["get", ...flags])).out)).toEqual({ mdmServiceDiscoveryUrl: discoveryUrl, lastUpdated: "2026-03-01T09:30:00.000Z" });
    expect(JSON.parse((await adenroll(["clear", ...flags])).out)).toEqual({ cleared: true });
    expect(JSON.parse((await adenroll(["get", ...flags])).out)).toEqual({ mdmServiceDiscoveryUrl: null, lastUpdated: null });
  });

  it("exit 1 when Apple refuses: the organization is not supported, the terms are not signed; exit 1 when unreachable", async () => {
    standIn.options.orgSupported = false;
    const org = await adenroll(["set-discovery-url", discoveryUrl, ...withP7m()]);
    expect(org.code).toBe(1);
    expect(org.err).toMatch(/^adenroll abm set-discovery-url: Apple does not support .* \(abm\.org-not-supported\)$/);
    standIn.options.orgSupported = true;
    standIn.options.sessionForbidden = "T_C_NOT_SIGNED";
    const terms = await adenroll(["get", ...withP7m()]);
    expect(terms.code).toBe(1);
    expect(terms.err).toMatch(/accept Apple's latest terms and conditions in Apple Business Manager .*\(abm\.terms-not-signed\)$/);
    const unreachable = await adenroll(["get", "--token", files.json, "--api", "http://127.0.0.1:9"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toMatch(/abm\.unavailable/);
  });

  it("exit 2 for bad usage, before anything is sent", async () => {
    const before = standIn.requests.length;
    const cases: [string[], RegExp][] = [
      [[], /^Usage: adenroll abm/],
      [["register"], /unknown subcommand "register"/],
      [["get"], /--token FILE is required/],
      [["set-discovery-url", ...withP7m()], /expected the URL, got none/],
      [["get", "extra", ...withP7m()], /expected no arguments/],
      [["set-discovery-url", "http://mdm.example.com/", ...withP7m()], /must be an absolute https URL/],
      [["set-discovery-url", "", ...withP7m()], /must be an absolute https URL/],
      [["get", "--token", files.p7m, "--api", standIn.origin], /encrypted \(\.p7m\): give the MDM server's private key/],
      [["get", "--token", path.join(dir, "missing.p7m"), "--key", files.key], /cannot read the server token .*missing\.p7m.*no such file/],
      [["get", "--token", files.p7m, "--key", files.json], /not an unencrypted PEM RSA private key/],
      [["get", "--token", files.json, "--api", "http://apple.example.com"], /--api must be https/],
      [["get", "--token", files.json, "--api", "not a url"], /--api must be an http\(s\) URL/],
      [["get", "--token", files.json, "--protocol-version", "seven"], /--protocol-version is a number/],
      [["get", "--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await adenroll(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(message);
    }
    expect(standIn.requests.length).toBe(before);
    expect(await adenroll(["--help"])).toMatchObject({ code: 0, out: expect.stringContaining("set-discovery-url URL") });
    const top = await main(["--help"], { out: (l) => ran.push({ code: 0, out: l, err: "" }), err: () => undefined });
    expect(top).toBe(0);
    expect(ran.at(-1)?.out).toMatch(/\n {2}abm {12}register, show or clear the service-discovery URL/);
  });

  it("the token's secrets appear in no output, and the .p7m's key was really needed", async () => {
    const wrongKey = path.join(dir, "other.key");
    writeFileSync(wrongKey, mdmServerIdentity("other").keyPem);
    const r = await adenroll(["get", "--token", files.p7m, "--key", wrongKey, "--api", standIn.origin]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/could not be decrypted with this private key .*\(abm\.token-invalid\)$/);
    for (const { out, err } of ran) for (const secret of secrets) expect(out + err).not.toContain(secret);
  });
});
