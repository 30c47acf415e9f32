// `adenroll serve` as a separate process (node bin/adenroll.mjs serve), and a simulated device that
// talks to it over real HTTP step by step — enroll, sign in, profile, check-ins — keeping every
// access token it is given (the 308's access-token). For the end-to-end tests that need several
// instances, or a process killed mid-load.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadOrCreateAdminToken, readAdminTokenFile } from "../../runtime/admin-token.ts";
import { ensureDataDir, loadOrCreateSecret, loadOrCreateTestDeviceCa } from "../../runtime/data-folder.ts";
import { loadOrCreateIdentityCa } from "../../runtime/identity-ca.ts";
import { formFields } from "../../runtime/person.ts";
import { issueDeviceIdentity, signEnrollBody, type TestDeviceCa } from "../../runtime/test-device-ca.ts";
import { buildPlist, checkInContentType, parseAuthenticationCallback, parseChallenge } from "../../spec/index.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = path.join(root, "bin/adenroll.mjs");

/** examples/byod-simple.yaml's user and APNs topic. */
export const byodSimple = {
  user: "alice@example.com",
  password: "correct horse battery staple",
  topic: "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001",
} as const;

/**
 * A data folder with everything `serve` would create at first start (sign-in secret, test device
 * CA, identity CA, admin token), made before any instance starts so that instances sharing it
 * never race to create different ones. Returns the test CA and the admin token.
 */
export async function prepareDataFolder(dataDir: string): Promise<{ readonly testCa: TestDeviceCa; readonly adminToken: string }> {
  await ensureDataDir(dataDir);
  await loadOrCreateSecret(dataDir);
  await loadOrCreateIdentityCa(dataDir);
  const { ca } = await loadOrCreateTestDeviceCa(dataDir);
  const { file } = await loadOrCreateAdminToken(dataDir);
  return { testCa: ca, adminToken: await readAdminTokenFile(file) };
}

/** examples/byod-simple.yaml with the test device CA allowed, written into `dir`; its path. */
export function writeByodSimpleConfig(dir: string): string {
  const file = path.join(dir, "adenroll.yaml");
  const example = readFileSync(path.join(root, "examples/byod-simple.yaml"), "utf8");
  writeFileSync(file, `${example}\ndeviceTrust:\n  allowTestDeviceCa: true\n`);
  return file;
}

export interface Served {
  readonly origin: string;
  readonly child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  /** Resolves with the exit code (null after a signal) and the signal. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `adenroll serve --port 0 …args` and waits for its "listening on" line (printed once it serves). */
export async function serve(args: readonly string[], timeoutMs = 50_000): Promise<Served> {
  const child = spawn(process.execPath, [bin, "serve", "--port", "0", ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  let err = "";
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}\n${err}`)), timeoutMs);
    void exited.then(({ code }) => reject(new Error(`the server exited with ${code}:\n${out}\n${err}`)));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const listening = /adenroll: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (listening?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(listening[1]);
      }
    });
  });
  return {
    origin,
    child,
    out: () => out,
    err: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A device the test CA vouches for, enrolling by hand over HTTP (the body it signs names a fresh identity). */
export class SimulatedDevice {
  /** The reference of its enrollment on the server (the sign-in path's), once it enrolled. */
  ref: string | undefined;
  /** Every access token it was given, oldest first. */
  readonly tokens: string[] = [];
  /** The EnrollmentID its check-ins carry (a user enrollment's). */
  readonly enrollmentId = randomUUID().toUpperCase();
  readonly #body: Promise<Uint8Array>;

  constructor(ca: TestDeviceCa) {
    this.#body = (async () => {
      const identity = await issueDeviceIdentity(ca);
      const plist = new TextEncoder().encode(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C152" }));
      return signEnrollBody(plist, identity);
    })();
  }

  /** Steps 4–5: the first enroll request; remembers the enrollment's reference from the challenge. */
  async firstEnroll(origin: string): Promise<string> {
    const response = await fetch(`${origin}/enroll/mdm-byod`, { method: "POST", headers: { "content-type": "application/pkcs7-signature" }, body: (await this.#body).slice() });
    await response.arrayBuffer();
    if (response.status !== 401) throw new Error(`first enroll: ${response.status}, not 401`);
    const challenge = parseChallenge(response.headers.get("www-authenticate"));
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("first enroll: no apple-as-web challenge");
    const ref = new URL(challenge.value.url).pathname.split("/").pop();
    if (ref === undefined || ref === "") throw new Error("first enroll: the challenge names no sign-in page");
    this.ref = ref;
    return ref;
  }

  /** The sign-in page (GET), for its form's fields (the anti-CSRF token). */
  async signInPage(origin: string): Promise<Record<string, string>> {
    const response = await fetch(`${origin}/authenticate/${this.#ref()}?user-identifier=${encodeURIComponent(byodSimple.user)}`);
    const html = await response.text();
    if (response.status !== 200) throw new Error(`sign-in page: ${response.status}`);
    return formFields(html);
  }

  /** Posts the sign-in form with the page's fields; the access token from the 308, or null with the status otherwise. */
  async submitSignIn(origin: string, fields: Record<string, string>): Promise<{ readonly status: number; readonly token: string | null }> {
    const form = new URLSearchParams({ ...fields, username: byodSimple.user, password: byodSimple.password });
    const response = await fetch(`${origin}/authenticate/${this.#ref()}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      redirect: "manual",
    });
    await response.arrayBuffer();
    if (response.status !== 308) return { status: response.status, token: null };
    const callback = parseAuthenticationCallback(response.headers.get("location") ?? "");
    if (!callback.ok) throw new Error("sign-in: the 308 carries no access token");
    this.tokens.push(callback.value.accessToken);
    return { status: 308, token: callback.value.accessToken };
  }

  /** Steps 6–11: page and form; the new access token. */
  async signIn(origin: string): Promise<string> {
    const { status, token } = await this.submitSignIn(origin, await this.signInPage(origin));
    if (token === null) throw new Error(`sign-in: ${status}, not 308`);
    return token;
  }

  /** Steps 12–13: the second enroll request, with the token; the status (200: the profile). */
  async secondEnroll(origin: string, token: string): Promise<number> {
    const response = await fetch(`${origin}/enroll/mdm-byod`, {
      method: "POST",
      headers: { "content-type": "application/pkcs7-signature", authorization: `Bearer ${token}` },
      body: (await this.#body).slice(),
    });
    await response.arrayBuffer();
    return response.status;
  }

  /** First enroll, sign-in, profile: enrolled with a token. */
  async enroll(origin: string): Promise<string> {
    await this.firstEnroll(origin);
    const token = await this.signIn(origin);
    const status = await this.secondEnroll(origin, token);
    if (status !== 200) throw new Error(`second enroll: ${status}, not 200`);
    return token;
  }

  /** PUT /mdm/checkin with this token (Authenticate or TokenUpdate); the status. */
  async checkIn(origin: string, token: string, messageType: "Authenticate" | "TokenUpdate" = "TokenUpdate"): Promise<number> {
    const message =
      messageType === "Authenticate"
        ? { MessageType: "Authenticate", Topic: byodSimple.topic, EnrollmentID: this.enrollmentId }
        : { MessageType: "TokenUpdate", Topic: byodSimple.topic, EnrollmentID: this.enrollmentId, PushMagic: "00000000-0000-4000-8000-000000000001", Token: new Uint8Array(32) };
    const response = await fetch(`${origin}/mdm/checkin`, {
      method: "PUT",
      headers: { "content-type": checkInContentType, authorization: `Bearer ${token}` },
      body: new TextEncoder().encode(buildPlist(message)),
    });
    await response.arrayBuffer();
    return response.status;
  }

  #ref(): string {
    if (this.ref === undefined) throw new Error("the device has not enrolled yet");
    return this.ref;
  }
}
