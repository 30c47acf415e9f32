// The `adenroll` command end to end, as a person runs it: `serve` (the demo, on a free port, in a
// temporary data folder) in one process, `device` in another, over real HTTP on loopback; and a
// bad configuration, which stops `serve` with exit code 2 and the key's path.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPasswordHash } from "../../runtime/directory.ts";

/** Each of `steps` appears in `text`, in this order. */
function expectInOrder(text: string, steps: readonly string[]): void {
  let from = 0;
  for (const step of steps) {
    const at = text.indexOf(step, from);
    expect(at, `${step}\n---\n${text}`).toBeGreaterThanOrEqual(0);
    from = at;
  }
}

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = path.join(root, "bin/adenroll.mjs");
const dataDir = mkdtempSync(path.join(tmpdir(), "adenroll-cli-"));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/adenroll.mjs …args` to the end, with `input` on its stdin. */
function run(args: readonly string[], input = ""): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

interface Served {
  readonly child: ChildProcessWithoutNullStreams;
  readonly origin: string;
  readonly password: string;
  out(): string;
  err(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `adenroll serve --port 0 --data DIR` and waits until it has printed its demo banner. */
async function serve(data: string): Promise<Served> {
  const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--data", data], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  let err = "";
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const { origin, password } = await new Promise<{ origin: string; password: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}\n${err}`)), 50_000);
    void exited.then((code) => reject(new Error(`the server exited with ${code}:\n${out}\n${err}`)));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const listening = /adenroll: listening on (http:\/\/127\.0\.0\.1:(\d+)) \(port \2\)/.exec(out);
      const shown = /password {6}(\S+)/.exec(out);
      if (listening !== null && shown !== null && /Stop with Ctrl-C/.test(out)) {
        clearTimeout(timer);
        resolve({ origin: listening[1] ?? "", password: shown[1] ?? "" });
      }
    });
  });
  return {
    child,
    origin,
    password,
    out: () => out,
    err: () => err,
    stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

let server: Served;
let serverOut = "";
let serverErr = "";
let origin = "";
let password = "";

beforeAll(async () => {
  server = await serve(dataDir);
  ({ origin, password } = server);
  serverOut = server.out();
  serverErr = server.err();
}, 60_000);

afterAll(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

describe("adenroll serve (the demo) and adenroll device", () => {
  it("serve prints the bound port, the demo user's one-time password, the URLs and the second-terminal command; warns about the test CA", () => {
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(password).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect(serverOut).toContain("demo user     demo@example.com");
    expect(serverOut).toContain(`curl -i '${origin}/.well-known/com.apple.remotemanagement?user-identifier=demo@example.com&model-family=iPhone'`);
    expect(serverOut).toContain(`npx adenroll device --user demo@example.com --password-stdin --discovery-url ${origin} --data ${JSON.stringify(dataDir)}`);
    expect(serverOut).toContain(`embedded PGlite in ${path.join(dataDir, "pglite")}`);
    expect(serverErr).toMatch(/WARNING: !!! deviceTrust\.allowTestDeviceCa is ON/);
  });

  it("device enrolls a simulated iPhone through the demo server, printing each step, and exits 0", async () => {
    const result = await run(["device", "--user", "demo@example.com", "--password-stdin", "--discovery-url", origin, "--data", dataDir], `${password}\n`);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const steps = [
      "→ service discovery",
      `GET ${origin}/.well-known/com.apple.remotemanagement?user-identifier=demo%40example.com&model-family=iPhone → 200`,
      "→ first enroll request",
      `POST ${origin}/enroll/mdm-byod → 401 (Bearer method="apple-as-web"`,
      "→ web sign-in",
      `POST ${origin}/authenticate/… → 308 (callback apple-remotemanagement-user-login://authentication-results, access token hidden)`,
      "→ second enroll request",
      `POST ${origin}/enroll/mdm-byod → 200 (application/x-apple-aspen-config)`,
      "✓ enrolled: BYOD profile for demo@example.com (mdm-byod)",
      "identity com.apple.security.pkcs12",
    ];
    expectInOrder(result.stdout, steps);
    expect(result.stdout).not.toContain(password);
    expect(result.stdout).not.toMatch(/access-token=/);
  }, 60_000);

  it("CHALLENGE-6 OAUTH-6 device enrolls demo@oauth.example.com through the demo's OAuth 2 organization, never printing the code or a token", async () => {
    const result = await run(["device", "--user", "demo@oauth.example.com", "--password-stdin", "--discovery-url", origin, "--data", dataDir], `${password}\n`);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const steps = [
      `POST ${origin}/enroll/mdm-byod/example-oauth → 401 (Bearer method="apple-oauth2", authorization-url="${origin}/oauth2/authorize?enrollment=`,
      `token-url="${origin}/oauth2/token", redirect-url="apple-remotemanagement-user-login:/oauth2/redirection", client-id="adenroll", scope="MDM")`,
      "→ web sign-in",
      `GET ${origin}/oauth2/authorize?enrollment=`,
      `POST ${origin}/oauth2/authorize → 308 (callback apple-remotemanagement-user-login:/oauth2/redirection with an authorization code, hidden)`,
      `POST ${origin}/oauth2/token → 200 (application/json)`,
      "→ second enroll request",
      `POST ${origin}/enroll/mdm-byod/example-oauth → 200 (application/x-apple-aspen-config)`,
      "✓ enrolled: BYOD profile for demo@oauth.example.com (mdm-byod)",
    ];
    expectInOrder(result.stdout, steps);
    expect(result.stdout).not.toContain(password);
    expect(result.stdout).not.toMatch(/code=|access_token|refresh_token/);
  }, 60_000);

  it("device with a wrong password exits non-zero naming the rule", async () => {
    const result = await run(["device", "--user", "demo@example.com", "--password", "not the password", "--discovery-url", origin, "--data", dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/✗ not enrolled: cancelled by rule CANCEL-1/);
  }, 60_000);

  it("device for an unknown account exits non-zero with DISCOVERY-9 and the server's message", async () => {
    const result = await run(["device", "--user", "nobody@example.com", "--password", "whatever-password", "--server", origin, "--data", dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cancelled by rule DISCOVERY-9: This account can't enroll a device here/);
  }, 60_000);

  it("device without a test CA, or with bad flags, says what to do", async () => {
    const noCa = await run(["device", "--user", "demo@example.com", "--password", "x-password", "--discovery-url", origin, "--data", path.join(dataDir, "nowhere")]);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toMatch(/no test device CA at .*nowhere\/test-device-ca\.pem.*Start the demo server first/);
    const noUser = await run(["device", "--password", "x"]);
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toMatch(/--user is required/);
    const family = await run(["device", "--user", "a@example.com", "--password", "x", "--model-family", "Toaster"]);
    expect(family.code).toBe(2);
    expect(family.stderr).toMatch(/--model-family must be one of AppleTV, iPad, iPhone, Mac, RealityDevice, Watch/);
  }, 60_000);
});

describe("adenroll serve, stopped and started again", () => {
  it("stops cleanly on SIGTERM; the next start reuses the data folder's CAs and database, with a new one-time password", async () => {
    expect(await server.stop()).toBe(0);
    expect(server.out()).toMatch(/adenroll: stopping \(SIGTERM\)/);
    expect(server.out()).toMatch(/identity-ca\.pem \(created now\)/);
    const again = await serve(dataDir);
    server = again;
    expect(again.out()).not.toMatch(/created now/);
    expect(again.err()).not.toMatch(/created now/);
    expect(again.password).not.toBe(password);
    const result = await run(["device", "--user", "demo@example.com", "--password-stdin", "--discovery-url", again.origin, "--data", dataDir], `${again.password}\n`);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const old = await run(["device", "--user", "demo@example.com", "--password", password, "--discovery-url", again.origin, "--data", dataDir]);
    expect(old.code).toBe(1);
  }, 90_000);
});

describe("adenroll hash-password", () => {
  it("prints a scrypt hash of the password read from stdin, for a user's passwordHash", async () => {
    const result = await run(["hash-password"], "correct horse battery staple\n");
    expect(result.code).toBe(0);
    const hash = result.stdout.trim();
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPasswordHash(hash, "correct horse battery staple")).toBe(true);
    expect((await run(["hash-password"], "short\n")).code).toBe(2);
  }, 60_000);
});

describe("adenroll serve with a bad configuration", () => {
  it("exits 2 and names the bad key and what was expected", async () => {
    const file = path.join(dataDir, "bad.yaml");
    writeFileSync(
      file,
      [
        "publicBaseUrl: https://mdm.example.com",
        "organizations:",
        "  - name: Example Corp",
        "    domains:",
        "      example.com: byod",
        "profile:",
        "  identifierPrefix: com.example.mdm",
        "  topic: com.apple.mgmt.External.x",
        "  identity: { kind: pkcs12 }",
        "",
      ].join("\n"),
    );
    const result = await run(["serve", "--port", "0", "--config", file, "--data", path.join(dataDir, "bad-data")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`adenroll: the config file ${file} is not valid:\n  - organizations[0].domains["example.com"]: Invalid option: expected one of "mdm-byod"|"mdm-adde", got "byod"`);
    expect(result.stdout).not.toMatch(/listening/);
  }, 60_000);

  it("exits 2 for an unknown flag, with the usage", async () => {
    const result = await run(["serve", "--prot", "8080"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--prot'[\s\S]*Usage: adenroll serve/);
  }, 60_000);
});
