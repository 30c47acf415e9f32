// Ongoing authorization end to end (issue "Ongoing authorization", "Done when"): a simulated
// device — the `adenroll device --stay` code path, in process through main([...]) or spawned as
// `node bin/adenroll.mjs` — against the product (createAdenroll over PGlite, with the built-in
// MDM) listening on loopback. It enrolls, checks in (Authenticate, TokenUpdate), polls and receives
// a command queued through the admin API, acknowledges it, and the result is read through the
// admin API; its token is revoked → 401 with the challenge → the person signs in again and the
// device goes on; after unenrollment it gets 403 com.apple.unrecognized.device and stops. With
// SignMessage on, the same with signed requests, and tampered signatures refused (ONGOING-13);
// Ctrl-C after a revocation sends the CheckOut with the stale token, which succeeds (ONGOING-8).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdenroll, type Adenroll } from "../../runtime/app.ts";
import { adminTokenHash } from "../../runtime/admin-token.ts";
import { main } from "../../runtime/cli.ts";
import { parseConfig } from "../../runtime/config.ts";
import { hashToken } from "../../runtime/crypto.ts";
import { runDeviceCommand } from "../../runtime/device-command.ts";
import { loadOrCreateTestDeviceCa } from "../../runtime/data-folder.ts";
import { loadPemCertificates } from "../../runtime/device-signature.ts";
import { createIdentityCa, identityIssuer, type IdentityCa } from "../../runtime/identity-ca.ts";
import { identityFromPkcs12, signMdmMessage, verifyMdmSignature } from "../../runtime/mdm-signature.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import type { Io } from "../../runtime/serve.ts";
import { parsePlist } from "../../spec/index.ts";
import { seededRandom } from "../support/fixtures.ts";
import { listenOnLoopback, type LoopbackServer } from "../support/http-server.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dataDir = mkdtempSync(path.join(tmpdir(), "adenroll-ongoing-"));
const alice = { userIdentifier: "alice@example.com", password: "correct horse battery staple", managedAppleId: "alice@appleid.example.com" };
const adminToken = "b25nb2luZy1hZG1pbi10b2tlbi1mb3ItdGVzdHMtMDAx";
const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
/** The profile's MDM host: https (PROFILE-8), never reached; --mdm-origin sends the requests to loopback. */
const mdmHost = "https://mdm.example.com";

let identityCa: IdentityCa;
let testDeviceCa: Uint8Array;
beforeAll(async () => {
  identityCa = await createIdentityCa({ random: seededRandom(81) });
  testDeviceCa = (await loadOrCreateTestDeviceCa(dataDir)).ca.certificate;
}, 60_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** One MDM request as the server saw it, and its answer. */
interface Seen {
  readonly path: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly status: number;
  readonly answerHeaders: Headers;
  readonly message: Record<string, unknown>;
}

interface Running {
  readonly origin: string;
  readonly adenroll: Adenroll;
  readonly storage: OpenedStorage;
  readonly seen: Seen[];
  readonly log: string[];
  admin(method: string, route: string, body?: unknown): Promise<{ readonly status: number; readonly body: unknown }>;
  /** A request straight to the server (not recorded). */
  send(request: Request): Promise<Response>;
  close(): Promise<void>;
}

/** The product over an in-memory PGlite, on a loopback port; its MDM requests are recorded. */
async function startServer(options: { readonly signMessage: boolean }): Promise<Running> {
  const storage = await openStorage({ memory: true });
  const loopback: LoopbackServer & { setHandler(next: (request: Request) => Promise<Response>): void } = await listenOnLoopback();
  const config = await parseConfig(
    {
      publicBaseUrl: loopback.origin,
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" } }],
      users: [{ userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId, password: alice.password }],
      profile: {
        identifierPrefix: "com.example.mdm",
        topic,
        serverUrl: `${mdmHost}/mdm/server`,
        checkInUrl: `${mdmHost}/mdm/checkin`,
        identity: { kind: "pkcs12" },
        signMessage: options.signMessage,
      },
      deviceTrust: { allowTestDeviceCa: true },
      admin: { tokens: [{ name: "ops", tokenHash: await adminTokenHash(adminToken) }] },
    },
    { baseDir: dataDir, scryptCost: 1_000, random: seededRandom(82) },
  );
  const log: string[] = [];
  const adenroll = await createAdenroll(config, {
    storage,
    identityCa,
    testDeviceCa,
    scryptCost: 1_000,
    log: { info: (m) => log.push(`info: ${m}`), warn: (m) => log.push(`warn: ${m}`), error: (m) => log.push(`error: ${m}`) },
  });
  const seen: Seen[] = [];
  loopback.setHandler(async (request) => {
    const path = new URL(request.url).pathname;
    if (!path.startsWith("/mdm/")) return adenroll.fetch(request);
    const body = new Uint8Array(await request.clone().arrayBuffer());
    const response = await adenroll.fetch(request);
    const parsed = parsePlist(body);
    const message = parsed.ok && typeof parsed.value === "object" && !Array.isArray(parsed.value) && !(parsed.value instanceof Date) && !(parsed.value instanceof Uint8Array) ? parsed.value : {};
    seen.push({ path, headers: request.headers, body, status: response.status, answerHeaders: response.headers, message });
    return response;
  });
  return {
    origin: loopback.origin,
    adenroll,
    storage,
    seen,
    log,
    async admin(method, route, body) {
      const response = await fetch(`${loopback.origin}/admin/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text === "" ? null : JSON.parse(text) };
    },
    send: (request) => adenroll.fetch(request),
    async close() {
      await loopback.close();
      await storage.close();
    },
  };
}

/** Lines printed by a device run, with a way to wait for one. */
function capture(): Io & { readonly lines: string[]; waitFor(pattern: RegExp, from?: number, withinMs?: number): Promise<number> } {
  const lines: string[] = [];
  return {
    lines,
    out: (line) => void lines.push(line),
    err: (line) => void lines.push(line),
    async waitFor(pattern, from = 0, withinMs = 60_000) {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const at = lines.findIndex((line, i) => i >= from && pattern.test(line));
        if (at >= 0) return at;
        if (Date.now() > deadline) throw new Error(`no line matching ${pattern} after line ${from}:\n${lines.join("\n")}`);
        await delay(20);
      }
    },
  };
}

/** Polls every 50 ms; bounded, so that a device whose test failed half-way ends by itself. */
const fastPolls = ["--poll-interval", "0.05", "--max-polls", "2000"];

const deviceArgs = (origin: string, ...extra: string[]) => [
  "device",
  "--user",
  alice.userIdentifier,
  "--password",
  alice.password,
  "--discovery-url",
  origin,
  "--data",
  dataDir,
  "--stay",
  "--mdm-origin",
  origin,
  ...extra,
];

const EnrollmentList = (value: unknown): string => {
  const list = typeof value === "object" && value !== null && "enrollments" in value && Array.isArray(value.enrollments) ? value.enrollments : [];
  const first: unknown = list[0];
  const id = typeof first === "object" && first !== null && "id" in first ? first.id : undefined;
  if (typeof id !== "string") throw new Error(`no enrollment in ${JSON.stringify(value)}`);
  return id;
};

function commandUuidOf(value: unknown): string {
  const uuid = typeof value === "object" && value !== null && "command" in value && typeof value.command === "object" && value.command !== null && "commandUuid" in value.command ? value.command.commandUuid : undefined;
  if (typeof uuid !== "string") throw new Error(`no command in ${JSON.stringify(value)}`);
  return uuid;
}

/** The flow every device goes through, signed or not; returns the enrollment id and how the device ended. */
async function enrollCommandRevokeUnenroll(server: Running, io: ReturnType<typeof capture>, exit: Promise<number>, onEnrolled?: (id: string) => Promise<void>): Promise<string> {
  // Enrolled, then Authenticate and TokenUpdate, then polls.
  const polling = await io.waitFor(/PUT \/mdm\/server Idle → 200 \(no command\)/);
  expect(io.lines.slice(0, polling).join("\n")).toMatch(/✓ enrolled: BYOD profile for alice@appleid\.example\.com[\s\S]*PUT \/mdm\/checkin Authenticate → 200[\s\S]*PUT \/mdm\/checkin TokenUpdate → 200/);
  const id = EnrollmentList((await server.admin("GET", `/enrollments?user=${encodeURIComponent(alice.userIdentifier)}`)).body);
  const device = await server.storage.mdm.getDevice(id);
  const stored = await server.storage.enrollments.getEnrollment(id);
  // A user enrollment names itself by EnrollmentID (the one the guard bound the token to), with its push facts.
  expect(device).toMatchObject({ idKind: "EnrollmentID", topic, pushMagic: expect.any(String), pushToken: expect.any(String) });
  expect(stored?.trusted === true && stored.record.context.enrollmentId).toBe(device?.deviceId);
  expect(server.seen.find((s) => s.message["MessageType"] === "TokenUpdate")?.message).toMatchObject({ EnrollmentID: device?.deviceId, Topic: topic, PushMagic: device?.pushMagic });
  expect(server.seen.every((s) => s.message["UDID"] === undefined)).toBe(true);
  await onEnrolled?.(id);

  // A command queued through the admin API reaches the device at its next poll, and its answer comes back.
  const queued = await server.admin("POST", `/enrollments/${encodeURIComponent(id)}/commands`, { RequestType: "DeviceInformation", Queries: ["OSVersion", "DeviceName", "SerialNumber"] });
  expect(queued.status).toBe(201);
  const uuid = commandUuidOf(queued.body);
  await io.waitFor(new RegExp(`PUT /mdm/server Idle → 200: command DeviceInformation ${uuid}`));
  await io.waitFor(new RegExp(`PUT /mdm/server Acknowledged ${uuid} → 200 \\(no command\\)`));
  const shown = await server.admin("GET", `/commands/${uuid}`);
  expect(shown.status).toBe(200);
  expect(shown.body).toMatchObject({
    command: {
      commandUuid: uuid,
      enrollment: id,
      requestType: "DeviceInformation",
      status: "acknowledged",
      command: { CommandUUID: uuid, Command: { RequestType: "DeviceInformation", Queries: ["OSVersion", "DeviceName", "SerialNumber"] } },
      // Only what was asked, and nothing a user enrollment does not tell (no serial number).
      result: { Status: "Acknowledged", CommandUUID: uuid, EnrollmentID: device?.deviceId, QueryResponses: { OSVersion: "18.2", DeviceName: "Simulated iPhone" } },
    },
  });
  expect(JSON.stringify(shown.body)).not.toContain("SerialNumber\":\"");
  expect((await server.admin("GET", `/enrollments/${encodeURIComponent(id)}/commands`)).body).toMatchObject({ commands: [{ commandUuid: uuid, status: "acknowledged" }] });

  // The token is revoked: the next request gets 401 with the enrollment's challenge, the person signs
  // in again with the same password, and the request is retried with the new token (ONGOING-3).
  const current = await server.storage.enrollments.getEnrollment(id);
  const before = current?.trusted === true ? current.record.context.tokenHash : null;
  const revoked = await server.admin("POST", "/tokens/revoke", { enrollment: id });
  expect(revoked).toMatchObject({ status: 200, body: { revoked: [{ id, hadToken: true }] } });
  const challenged = await io.waitFor(/PUT \/mdm\/server Idle → 401 \(challenged\)/);
  const refused = server.seen.find((s) => s.status === 401);
  expect(refused?.answerHeaders.get("www-authenticate")).toBe(`Bearer method="apple-as-web", url="${server.origin}/authenticate/${id}"`);
  const signedIn = await io.waitFor(/→ the person signs in again, then the request is retried \(ONGOING-3\)/, challenged);
  await io.waitFor(/POST http:\/\/127\.0\.0\.1:\d+\/authenticate\/… → 308 \(callback/, signedIn);
  const retried = await io.waitFor(/PUT \/mdm\/server Idle → 200 \(no command\)/, signedIn);
  await io.waitFor(/PUT \/mdm\/server Idle → 200 \(no command\)/, retried + 1);
  const after = await server.storage.enrollments.getEnrollment(id);
  expect(after?.trusted === true && after.record.context.tokenHash).toEqual(expect.any(String));
  expect(after?.trusted === true && after.record.context.tokenHash).not.toBe(before);
  expect((await server.storage.audit.list()).map((e) => e.action)).toEqual(expect.arrayContaining(["enrollment.token-revoked", "sign-in.reauthenticated", "mdm.command-queued", "mdm.command-answered"]));

  // Unenrolled: the next request gets 403 com.apple.unrecognized.device, and the device stops (ONGOING-5).
  expect((await server.admin("POST", `/enrollments/${encodeURIComponent(id)}/unenroll`)).status).toBe(200);
  expect(await exit).toBe(1);
  const gone = await io.waitFor(/PUT \/mdm\/server Idle → 403 \(com\.apple\.unrecognized\.device\)/);
  await io.waitFor(/✗ unenrolled by the server \(ONGOING-5\)/, gone);
  const last = server.seen.at(-1);
  expect(last?.status).toBe(403);
  expect(new TextDecoder().decode(last?.body)).toContain("Idle");
  // It stopped: no CheckOut, nothing after the 403.
  expect(server.seen.filter((s) => s.message["MessageType"] === "CheckOut")).toEqual([]);
  return id;
}

describe("a simulated device that stays enrolled (adenroll device --stay)", () => {
  it("enrolls, checks in, gets a command queued by the admin API and acknowledges it; a revoked token is a 401 and a new sign-in; unenrolled it gets 403 and stops", async () => {
    const server = await startServer({ signMessage: false });
    try {
      const io = capture();
      const exit = main(deviceArgs(server.origin, ...fastPolls), io);
      await enrollCommandRevokeUnenroll(server, io, exit);
      expect(server.seen.every((s) => !s.headers.has("mdm-signature"))).toBe(true);
      // Check-ins carry the check-in media type, command reports the command channel's (PROTOCOL.md §6).
      for (const s of server.seen) expect(s.headers.get("content-type")).toBe(s.path === "/mdm/checkin" ? "application/x-apple-aspen-mdm-checkin" : "application/x-apple-aspen-mdm");
      expect(io.lines.join("\n")).not.toContain(alice.password);
    } finally {
      await server.close();
    }
  }, 120_000);

  it("ONGOING-13 with SignMessage on, the same flow with signed requests; a request with the signature removed, made by another identity or over another body is refused with 403 mdm.signature-invalid", async () => {
    const server = await startServer({ signMessage: true });
    try {
      const io = capture();
      const exit = main(deviceArgs(server.origin, ...fastPolls), io);
      await enrollCommandRevokeUnenroll(server, io, exit, async (id) => {
        expect(io.lines.join("\n")).toContain("SignMessage: every request carries an Mdm-Signature made with the profile's identity");
        // Every request so far is signed by the identity the server issued for this enrollment (pinned at profile delivery).
        const stored = await server.storage.enrollments.getEnrollment(id);
        const pinned = stored?.trusted === true ? stored.record.context.identityFingerprint : null;
        expect(pinned).toEqual(expect.any(String));
        const trust = { anchors: loadPemCertificates(identityCa.certificatePem).map((certificate) => ({ label: "ca", certificate })) };
        for (const s of server.seen) {
          const verified = await verifyMdmSignature(s.body, s.headers.get("mdm-signature"), trust);
          expect(verified.ok && verified.value.fingerprint).toBe(pinned);
        }

        // Tampering, with the device's own valid token: only the intact request is accepted.
        const idle = server.seen.findLast((s) => s.message["Status"] === "Idle");
        if (idle === undefined) throw new Error("no Idle seen");
        const replay = (headers: Record<string, string | null>, body: Uint8Array = idle.body) => {
          const sent = new Headers(idle.headers);
          for (const [name, value] of Object.entries(headers)) {
            if (value === null) sent.delete(name);
            else sent.set(name, value);
          }
          return server.send(new Request(`${server.origin}/mdm/server`, { method: "PUT", headers: sent, body: body.slice() }));
        };
        expect((await replay({})).status).toBe(200);
        const other = await identityIssuer(identityCa)({ enrollmentRef: "someone-else", commonName: "another device", userIdentifier: alice.userIdentifier });
        const otherIdentity = await identityFromPkcs12(other.data, other.password);
        const changedBody = new TextEncoder().encode(new TextDecoder().decode(idle.body).replace("<string>Idle</string>", "<string>Idle</string><key>Extra</key><string>x</string>"));
        for (const [name, answer] of [
          ["removed", await replay({ "mdm-signature": null })],
          ["another identity", await replay({ "mdm-signature": await signMdmMessage(idle.body, otherIdentity, { chain: otherIdentity.chain }) })],
          ["another body", await replay({}, changedBody)],
        ] as const) {
          expect(answer.status, name).toBe(403);
          expect(await answer.json(), name).toMatchObject({ code: "mdm.signature-invalid", rule: "ONGOING-13" });
        }
      });
      expect(server.seen.filter((s) => s.status !== 403).every((s) => s.headers.has("mdm-signature"))).toBe(true);
    } finally {
      await server.close();
    }
  }, 120_000);

  it("ONGOING-8 Ctrl-C after the token was revoked: the device checks out with its stale token, which succeeds, and exits 0 (spawned, real SIGINT)", async () => {
    const server = await startServer({ signMessage: true });
    try {
      const child = spawn(process.execPath, [path.join(root, "bin/adenroll.mjs"), ...deviceArgs(server.origin, "--poll-interval", "2")], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
      const io = capture();
      let pending = "";
      const take = (chunk: Buffer) => {
        pending += chunk.toString();
        const parts = pending.split("\n");
        pending = parts.pop() ?? "";
        for (const line of parts) io.out(line);
      };
      child.stdout.on("data", take);
      child.stderr.on("data", take);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      await io.waitFor(/PUT \/mdm\/server Idle → 200 \(no command\)/);
      const id = EnrollmentList((await server.admin("GET", "/enrollments")).body);
      const lastIdle = server.seen.findLast((s) => s.message["Status"] === "Idle");
      // Between two polls: the token is revoked, then the person removes the device (Ctrl-C).
      expect((await server.admin("POST", "/tokens/revoke", { enrollment: id })).status).toBe(200);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      await io.waitFor(/PUT \/mdm\/checkin CheckOut → 200/);
      await io.waitFor(/✓ checked out after 1 poll; the device stops/);
      const checkOut = server.seen.at(-1);
      expect(checkOut?.message["MessageType"]).toBe("CheckOut");
      // The stale token: the one the device polled with before the revocation.
      expect(checkOut?.headers.get("authorization")).toBe(lastIdle?.headers.get("authorization"));
      const staleHash = await hashToken((checkOut?.headers.get("authorization") ?? "").replace(/^Bearer /, ""));
      const stored = await server.storage.enrollments.getEnrollment(id);
      expect(stored?.trusted === true && stored.record.state).toBe("checkedOut");
      expect(stored?.trusted === true && stored.record.context.retiredTokenHashes).toContain(staleHash);
      expect((await server.storage.mdm.getDevice(id))?.checkedOutAt).toEqual(expect.any(Number));
      expect((await server.storage.audit.list()).map((e) => e.action)).toContain("mdm.checked-out");
    } finally {
      await server.close();
    }
  }, 120_000);

  it("--max-polls checks out after that many polls; --stay's options are refused without it or when malformed", async () => {
    const server = await startServer({ signMessage: false });
    try {
      const io = capture();
      expect(await runDeviceCommand([...deviceArgs(server.origin, "--poll-interval", "0", "--max-polls", "3")].slice(1), io, async () => "")).toBe(0);
      expect(io.lines.filter((l) => / Idle → 200/.test(l))).toHaveLength(3);
      await io.waitFor(/PUT \/mdm\/checkin CheckOut → 200/);
      await io.waitFor(/✓ checked out after 3 polls/);
    } finally {
      await server.close();
    }
    for (const [args, message] of [
      [["--mdm-origin", "http://127.0.0.1:1"], /--mdm-origin go(es)? with --stay/],
      [["--stay", "--mdm-origin", "http://127.0.0.1:1/mdm"], /--mdm-origin must be an http\(s\) origin/],
      [["--stay", "--poll-interval", "soon"], /--poll-interval must be a number of seconds/],
      [["--stay", "--max-polls", "0"], /--max-polls must be a whole number of at least 1/],
    ] as const) {
      const io = capture();
      expect(await runDeviceCommand(["--user", alice.userIdentifier, "--password", "x", ...args], io), args.join(" ")).toBe(2);
      expect(io.lines.join("\n")).toMatch(message);
    }
  }, 120_000);
});
