// Proxy mode over real HTTP: a device on node:http → adenroll (createAdenroll on @hono/node-server,
// embedded PGlite) → a recording upstream MDM on node:http. What adenroll lets through reaches the
// upstream exactly as the device sent it (minus hop-by-hop headers) and the upstream's answer reaches
// the device exactly; what it refuses never reaches the upstream. Then `adenroll serve --upstream`
// and the config key `upstream`, through runServe with the Node listener.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuthorizedMdmRequest } from "../../generated/server.generated.ts";
import { createAdenroll, type Adenroll, type Logger } from "../../runtime/app.ts";
import { parseConfig } from "../../runtime/config.ts";
import { loadOrCreateTestDeviceCa } from "../../runtime/data-folder.ts";
import { hashPasswordScrypt } from "../../runtime/directory.ts";
import { listenNode } from "../../runtime/node.ts";
import { UpstreamUrlError, upstreamMdm, upstreamUrlProblem } from "../../runtime/proxy.ts";
import { runServe, type FetchHandler, type Listening } from "../../runtime/serve.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody, type TestDeviceCa } from "../../runtime/test-device-ca.ts";
import { buildPlist, checkInContentType, commandContentType, parseEnrollRequestBody, type PlistValue } from "../../spec/index.ts";
import { enrollOverHttp } from "../support/enroll-over-http.ts";
import { realEnrollBody, seededRandom } from "../support/fixtures.ts";
import { closedPort, rawRequest, recordingUpstream, without, type RawAnswer, type RecordingUpstream, type UpstreamReply } from "../support/recording-upstream.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const alice = { userIdentifier: "alice@example.com", password: "correct horse battery staple", managedAppleId: "alice@appleid.example.com" };
const utf8 = new TextEncoder();
const lifetimeMs = 3600 * 1000;

/** The enroll body's plist, to be signed by other (test CA) device identities. */
const enrollPlist = (() => {
  const parsed = parseEnrollRequestBody(realEnrollBody);
  if (!parsed.ok || parsed.value.signedData.content === undefined) throw new Error("the fixture carries its plist");
  return parsed.value.signedData.content;
})();

const plist = (message: Record<string, PlistValue>): Uint8Array => utf8.encode(buildPlist(message));

/** Headers a device sends on every MDM request (those of a real one), with its token when it has one. */
function deviceHeaders(contentType: string, body: Uint8Array, token: string | null): Record<string, string> {
  return {
    "content-type": contentType,
    "content-length": String(body.length),
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    "user-agent": "MDM/1.0",
    accept: "*/*",
    "accept-language": "en-GB,en;q=0.9",
    "accept-encoding": "gzip, deflate, br",
  };
}

/** Hop-by-hop headers the proxy must not forward, in either direction (plus those Connection names). */
const hopByHop = ["connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade"];

/** The upstream's distinctive answer: a command plist with headers of its own, and hop-by-hop ones that must not come through. */
const upstreamCommand = plist({ CommandUUID: "5F1A0000-0000-4000-8000-00000000C0DE", Command: { RequestType: "DeviceInformation", Queries: ["DeviceName", "OSVersion"] } });
const upstreamHeaders = {
  "content-type": "application/xml; charset=utf-8",
  "content-length": String(upstreamCommand.length),
  "x-upstream": "recording-upstream/1",
  "cache-control": "no-store",
  date: "Sun, 22 Nov 2026 12:00:00 GMT",
};
const commandAnswer: UpstreamReply = (_, response) => {
  response.writeHead(200, { ...upstreamHeaders, connection: "keep-alive, x-upstream-hop", "x-upstream-hop": "1", "proxy-authenticate": 'Basic realm="upstream"' });
  response.end(Buffer.from(upstreamCommand));
};

let upstream: RecordingUpstream;
let listening: Listening;
let origin: string;
let storage: OpenedStorage;
let adenroll: Adenroll;
let testCa: TestDeviceCa;
/** What adenroll's MDM dependency forwards with; swapped by the failure tests. */
let mdm: (request: AuthorizedMdmRequest) => Promise<Response>;
const clock = { now: Date.UTC(2026, 10, 22) };
const logLines: string[] = [];
const log: Logger = { info: (m) => logLines.push(`info: ${m}`), warn: (m) => logLines.push(`warn: ${m}`), error: (m) => logLines.push(`error: ${m}`) };
const reportLine = (failure: { code: string; detail: string }) => logLines.push(`warn: upstream MDM: ${failure.code}: ${failure.detail}`);
const forwardTo = (base: string, timeoutMs?: number) => upstreamMdm({ upstream: base, reportFailure: reportLine, ...(timeoutMs === undefined ? {} : { timeoutMs }) });

beforeAll(async () => {
  testCa = await createTestDeviceCa({ random: seededRandom(61) });
  upstream = await recordingUpstream(commandAnswer);
  let handler: FetchHandler = () => new Response(null, { status: 503 });
  listening = await listenNode((request) => handler(request), { port: 0, hostname: "127.0.0.1" });
  origin = `http://127.0.0.1:${listening.port}`;
  const config = await parseConfig(
    {
      publicBaseUrl: origin,
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" } }],
      users: [{ userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId, password: alice.password }],
      profile: {
        identifierPrefix: "com.example.mdm",
        topic,
        serverUrl: "https://mdm.example.com/mdm/server",
        checkInUrl: "https://mdm.example.com/mdm/checkin",
        identity: { kind: "scep", url: "https://mdm.example.com/scep" },
      },
      deviceTrust: { allowTestDeviceCa: true },
    },
    { baseDir: tmpdir(), scryptCost: 1_000, random: seededRandom(62) },
  );
  storage = await openStorage({ memory: true });
  mdm = forwardTo(`${upstream.origin}/upstream/base/`);
  adenroll = await createAdenroll(config, {
    storage,
    log,
    clock: () => clock.now,
    random: seededRandom(63),
    scryptCost: 1_000,
    testDeviceCa: testCa.certificate,
    mdm: (request) => mdm(request),
  });
  handler = adenroll.fetch;
}, 60_000);

afterAll(async () => {
  await listening?.close();
  await upstream?.close();
  await storage?.close();
});

beforeEach(() => {
  mdm = forwardTo(`${upstream.origin}/upstream/base/`);
  upstream.reply = commandAnswer;
  logLines.length = 0;
});

let devices = 0;
/** A new device, enrolled over HTTP, its first Authenticate sent (and forwarded); the upstream's record emptied after. */
async function enrolledDevice() {
  const n = ++devices;
  const body = await signEnrollBody(enrollPlist, await issueDeviceIdentity(testCa, { random: seededRandom(200 + n) }));
  const enrolled = await enrollOverHttp(origin, { body, user: alice });
  const enrollmentId = `ENR-PROXY-${n}`;
  const first = await checkIn(enrolled.token, { MessageType: "Authenticate", Topic: topic, EnrollmentID: enrollmentId });
  expect(first.status, new TextDecoder().decode(first.body)).toBe(200);
  upstream.received.length = 0;
  return { ...enrolled, enrollmentId };
}

function checkIn(token: string | null, message: Record<string, PlistValue>, extra: Record<string, string> = {}, query = ""): Promise<RawAnswer> {
  const body = plist(message);
  return rawRequest(`${origin}/mdm/checkin${query}`, { method: "PUT", headers: { ...deviceHeaders(checkInContentType, body, token), ...extra }, body });
}

function report(token: string | null, message: Record<string, PlistValue>, extra: Record<string, string> = {}): Promise<RawAnswer> {
  const body = plist(message);
  return rawRequest(`${origin}/mdm/server`, { method: "PUT", headers: { ...deviceHeaders(commandContentType, body, token), ...extra }, body });
}

const json = (answer: RawAnswer): unknown => JSON.parse(new TextDecoder().decode(answer.body));

describe("proxy mode: what adenroll lets through reaches the upstream unchanged, and its answer the device", () => {
  it("check-ins and command reports: same method, path and query under the upstream's path, same headers (minus hop-by-hop), same body bytes; the device gets the upstream's status, headers and body", async () => {
    const device = await enrolledDevice();
    // Hop-by-hop headers a device or a front proxy might add, including one the Connection header names.
    const hop = { connection: "keep-alive, x-device-hop", "x-device-hop": "1", "keep-alive": "timeout=5", "proxy-authorization": "Basic cHJveHk6c2VjcmV0", te: "trailers" };
    const end = { "mdm-signature": "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCA", "x-request-id": "device-request-7" };
    const sent = [
      {
        path: "/mdm/checkin",
        query: "?source=proxy&a=%2Fb",
        contentType: checkInContentType,
        body: plist({ MessageType: "TokenUpdate", Topic: topic, EnrollmentID: device.enrollmentId, Token: new Uint8Array([0, 1, 2, 250, 255]), PushMagic: "PUSH-MAGIC-1", DeviceName: "Zoë’s iPhone ✓" }),
      },
      { path: "/mdm/server", query: "", contentType: commandContentType, body: plist({ Status: "Idle", EnrollmentID: device.enrollmentId }) },
      {
        path: "/mdm/server",
        query: "?x=1",
        contentType: commandContentType,
        body: plist({ Status: "Acknowledged", EnrollmentID: device.enrollmentId, CommandUUID: "5F1A0000-0000-4000-8000-00000000C0DE", QueryResponses: { DeviceName: "Zoë’s iPhone" } }),
      },
    ];
    for (const [i, request] of sent.entries()) {
      const headers = { ...deviceHeaders(request.contentType, request.body, device.token), ...hop, ...end };
      const answer = await rawRequest(`${origin}${request.path}${request.query}`, { method: "PUT", headers, body: request.body });

      expect(upstream.received, `request ${i}`).toHaveLength(i + 1);
      const got = upstream.received[i];
      expect(got?.method).toBe("PUT");
      expect(got?.target).toBe(`/upstream/base${request.path}${request.query}`);
      expect(got?.body).toEqual(request.body);
      // Every end-to-end header as the device sent it, Authorization and Mdm-Signature included. What
      // differs is documented in runtime/proxy.ts: Host is the upstream's, Accept-Encoding is identity,
      // and Node's fetch sets Sec-Fetch-Mode (its own connection header is the upstream leg's).
      expect(without(got?.headers ?? {}, ["connection"])).toEqual({
        ...without(headers, [...hopByHop, "x-device-hop"]),
        host: upstream.host,
        "accept-encoding": "identity",
        "sec-fetch-mode": "cors",
      });
      expect(got?.headers["authorization"]).toBe(`Bearer ${device.token}`);
      expect(got?.headers["mdm-signature"]).toBe(end["mdm-signature"]);

      expect(answer.status).toBe(200);
      expect(answer.body).toEqual(upstreamCommand);
      expect(without(answer.headers, ["connection", "keep-alive", "transfer-encoding"])).toEqual(upstreamHeaders);
    }
  });

  it("the upstream's own failure (500 with a body) reaches the device as it is", async () => {
    const device = await enrolledDevice();
    upstream.reply = (_, response) => {
      response.writeHead(500, { "content-type": "text/plain; charset=utf-8", "x-upstream-error": "queue-broken", "content-length": "21" });
      response.end("upstream queue broken");
    };
    const answer = await report(device.token, { Status: "Idle", EnrollmentID: device.enrollmentId });
    expect(upstream.received).toHaveLength(1);
    expect(answer.status).toBe(500);
    expect(new TextDecoder().decode(answer.body)).toBe("upstream queue broken");
    expect(answer.headers).toMatchObject({ "content-type": "text/plain; charset=utf-8", "x-upstream-error": "queue-broken", "content-length": "21" });
  });

  it("an upstream redirect is handed to the device, not followed", async () => {
    const device = await enrolledDevice();
    upstream.reply = (_, response) => void response.writeHead(307, { location: "https://elsewhere.example/mdm", "content-length": "0" }).end();
    const answer = await report(device.token, { Status: "Idle", EnrollmentID: device.enrollmentId });
    expect(answer.status).toBe(307);
    expect(answer.headers["location"]).toBe("https://elsewhere.example/mdm");
    expect(upstream.received).toHaveLength(1);
  });
});

describe("proxy mode: what adenroll refuses never reaches the upstream", () => {
  it("a missing, wrong, revoked or expired token gets 401 with the challenge; an unknown device 403; a bad body 400 — and the upstream receives nothing", async () => {
    const device = await enrolledDevice();
    const authenticate = { MessageType: "Authenticate", Topic: topic, EnrollmentID: device.enrollmentId };
    const other = await enrolledDevice();

    const challenged = [
      ["missing token", await checkIn(null, authenticate)],
      ["wrong token", await checkIn("d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc", authenticate)],
      ["another enrollment's token", await checkIn(other.token, authenticate)],
      ["missing token, command channel", await report(null, { Status: "Idle", EnrollmentID: device.enrollmentId })],
    ] as const;
    for (const [name, answer] of challenged) {
      expect(answer.status, name).toBe(401);
      expect(answer.headers["www-authenticate"], name).toBe(device.challengeHeader);
    }

    const unknown = [
      await checkIn(null, { MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-NOBODY" }),
      await checkIn("dW5rbm93bi10b2tlbi11bmtub3du", { MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-NOBODY" }),
      await report(null, { Status: "Idle", EnrollmentID: "ENR-NOBODY" }),
    ];
    for (const answer of unknown) {
      expect(answer.status).toBe(403);
      expect(json(answer)).toEqual({ code: "com.apple.unrecognized.device" });
    }

    const notAPlist = utf8.encode("this is not a plist");
    const bad = await rawRequest(`${origin}/mdm/checkin`, { method: "PUT", headers: deviceHeaders(checkInContentType, notAPlist, device.token), body: notAPlist });
    expect(bad.status).toBe(400);
    expect(json(bad)).toMatchObject({ code: "checkin.invalid" });
    expect(upstream.received).toHaveLength(0);

    // Revoked by the administration: challenged, and still nothing forwarded.
    await adenroll.admin.revokeTokens("admin:test", { enrollment: device.enrollmentRef });
    const revoked = await checkIn(device.token, authenticate);
    expect(revoked.status).toBe(401);
    expect(revoked.headers["www-authenticate"]).toBe(device.challengeHeader);
    expect(upstream.received).toHaveLength(0);

    // The other device's token still works: the upstream hears from it alone.
    expect((await report(other.token, { Status: "Idle", EnrollmentID: other.enrollmentId })).status).toBe(200);
    expect(upstream.received.map((r) => r.target)).toEqual(["/upstream/base/mdm/server"]);
  });

  it("an expired token is challenged and not forwarded, but CheckOut with it is forwarded (ONGOING-8)", async () => {
    const device = await enrolledDevice();
    clock.now += lifetimeMs + 1;
    const expired = await checkIn(device.token, { MessageType: "Authenticate", Topic: topic, EnrollmentID: device.enrollmentId });
    expect(expired.status).toBe(401);
    expect((await report(device.token, { Status: "Idle", EnrollmentID: device.enrollmentId })).status).toBe(401);
    expect(upstream.received).toHaveLength(0);

    upstream.reply = (_, response) => void response.writeHead(200, { "x-upstream": "checked-out", "content-length": "0" }).end();
    const checkOut = await checkIn(device.token, { MessageType: "CheckOut", Topic: topic, EnrollmentID: device.enrollmentId });
    expect(checkOut.status).toBe(200);
    expect(checkOut.headers["x-upstream"]).toBe("checked-out");
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0]?.headers["authorization"]).toBe(`Bearer ${device.token}`);
    expect(new TextDecoder().decode(upstream.received[0]?.body)).toContain("<string>CheckOut</string>");
  });
});

describe("proxy mode: the upstream fails", () => {
  it("unreachable → 502 upstream.unavailable; neither the answer nor the log holds the token or a stack", async () => {
    const device = await enrolledDevice();
    mdm = forwardTo(`http://127.0.0.1:${await closedPort()}/base`);
    const answer = await checkIn(device.token, { MessageType: "Authenticate", Topic: topic, EnrollmentID: device.enrollmentId });
    expect(answer.status).toBe(502);
    expect(answer.headers["content-type"]).toBe("application/problem+json");
    expect(json(answer)).toEqual({ code: "upstream.unavailable", title: "The upstream MDM could not be reached.", detail: "the upstream MDM could not be reached" });
    const logged = logLines.join("\n");
    expect(logged).toMatch(/warn: upstream MDM: upstream\.unavailable: checkIn PUT \/mdm\/checkin: connect ECONNREFUSED 127\.0\.0\.1:\d+/);
    for (const text of [logged, new TextDecoder().decode(answer.body)]) {
      expect(text).not.toContain(device.token);
      expect(text).not.toMatch(/\n\s+at /);
    }
  });

  it("too slow → 504 upstream.timeout after timeoutMs", async () => {
    const device = await enrolledDevice();
    const slow = await recordingUpstream((_, response) => void setTimeout(() => response.writeHead(200).end(), 5_000));
    try {
      mdm = forwardTo(slow.origin, 300);
      const started = Date.now();
      const answer = await report(device.token, { Status: "Idle", EnrollmentID: device.enrollmentId });
      const took = Date.now() - started;
      expect(answer.status).toBe(504);
      expect(json(answer)).toMatchObject({ code: "upstream.timeout" });
      expect(took).toBeGreaterThanOrEqual(300);
      expect(took).toBeLessThan(3_000);
      expect(slow.received).toHaveLength(1);
      expect(logLines.join("\n")).toContain("upstream.timeout: command PUT /mdm/server: no answer within 300 ms");
      expect(logLines.join("\n")).not.toContain(device.token);
    } finally {
      await slow.close();
    }
  });

  it("an answer whose body stalls is cut off after timeoutMs, and the stall is logged", async () => {
    const device = await enrolledDevice();
    const stalling = await recordingUpstream((_, response) => {
      response.writeHead(200, { "content-type": "application/xml", "content-length": "1000" });
      response.write("<?xml"); // then nothing
    });
    try {
      mdm = forwardTo(stalling.origin, 300);
      await expect(report(device.token, { Status: "Idle", EnrollmentID: device.enrollmentId })).rejects.toThrow();
      await expect.poll(() => logLines.join("\n")).toContain("upstream.timeout: command PUT /mdm/server: the answer's body stalled for 300 ms");
    } finally {
      await stalling.close();
    }
  });
});

describe("upstreamMdm refuses an upstream it cannot use, when it is built", () => {
  it.each([
    ["mdm.internal:9000", /expected an absolute http\(s\) URL/],
    ["/relative/path", /expected an absolute http\(s\) URL/],
    ["ftp://mdm.internal/", /the scheme "ftp:"/],
    ["http://mdm.internal/base?tenant=1", /the request's own query is appended/],
    ["http://mdm.internal/base?", /the request's own query is appended/],
    ["http://mdm.internal/base#frag", /fragment/],
    ["https://user:secret@mdm.internal/", /no user name or password/],
  ])("%s", (value, message) => {
    expect(() => upstreamMdm({ upstream: value })).toThrow(UpstreamUrlError);
    expect(() => upstreamMdm({ upstream: value })).toThrow(message);
    expect(upstreamUrlProblem(value) ?? "").not.toContain("secret");
  });

  it("accepts http and https, with or without a path, and a positive timeout only", () => {
    for (const value of ["http://127.0.0.1:9000", "https://mdm.internal/nanomdm/", "http://[::1]:8080/base"]) expect(upstreamUrlProblem(value)).toBeNull();
    expect(() => upstreamMdm({ upstream: "http://127.0.0.1:9000", timeoutMs: 0 })).toThrow(RangeError);
  });
});

// --- adenroll serve --------------------------------------------------------------------------------

interface ServeRun {
  readonly origin: string;
  readonly out: string[];
  readonly err: string[];
  stop(): Promise<number>;
}

/** runServe in process with the Node listener; resolves once it listens and has printed its start-up lines. */
async function serve(args: readonly string[]): Promise<ServeRun> {
  const out: string[] = [];
  const err: string[] = [];
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const ended = runServe(args, listenNode, { out: (line) => out.push(line), err: (line) => err.push(line) }, stopped);
  const ready = await Promise.race([
    ended.then((code) => ({ code })),
    (async () => {
      while (!out.some((line) => line.startsWith("adenroll: config "))) await new Promise((resolve) => setTimeout(resolve, 20));
      return null;
    })(),
  ]);
  if (ready !== null) throw new Error(`serve exited with ${ready.code}:\n${out.join("\n")}\n${err.join("\n")}`);
  const listeningLine = out.map((line) => /adenroll: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1]).find((o) => o !== undefined);
  return {
    origin: listeningLine ?? "",
    out,
    err,
    stop: async () => {
      stop();
      return ended;
    },
  };
}

describe("adenroll serve --upstream and the config key upstream", () => {
  let dataDir: string;
  let configFile: string;
  let caFile: TestDeviceCa;
  let recorder: RecordingUpstream;
  // A cheap scrypt cost in the hash keeps sign-in fast (the cost travels with the hash).
  let passwordHash: string;
  const config = (upstreamUrl: string | undefined) =>
    JSON.stringify({
      publicBaseUrl: "https://mdm.example.com",
      organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" } }],
      users: [{ userIdentifier: alice.userIdentifier, managedAppleId: alice.managedAppleId, passwordHash }],
      profile: { identifierPrefix: "com.example.mdm", topic, identity: { kind: "scep", url: "https://mdm.example.com/scep" } },
      deviceTrust: { allowTestDeviceCa: true },
      ...(upstreamUrl === undefined ? {} : { upstream: upstreamUrl }),
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "adenroll-proxy-"));
    configFile = path.join(dataDir, "adenroll.json");
    // The data folder's test device CA, which the server trusts and the test's devices are issued from.
    caFile = (await loadOrCreateTestDeviceCa(dataDir)).ca;
    passwordHash = await hashPasswordScrypt(alice.password, seededRandom(64), 1_000);
    recorder = await recordingUpstream(commandAnswer);
  });
  afterAll(async () => {
    await recorder.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function checkInThrough(run: ServeRun, n: number): Promise<RawAnswer> {
    const body = await signEnrollBody(enrollPlist, await issueDeviceIdentity(caFile, { random: seededRandom(400 + n) }));
    const device = await enrollOverHttp(run.origin, { body, user: alice });
    const message = plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: `ENR-SERVE-${n}` });
    return rawRequest(`${run.origin}/mdm/checkin`, { method: "PUT", headers: deviceHeaders(checkInContentType, message, device.token), body: message });
  }

  it("a bad --upstream or config upstream stops serve with exit code 2 and says why, before anything is opened", async () => {
    const err: string[] = [];
    const io = { out: () => undefined, err: (line: string) => err.push(line) };
    const emptyDir = path.join(dataDir, "never-created");
    expect(await runServe(["--port", "0", "--data", emptyDir, "--upstream", "http://mdm.internal/?tenant=1"], listenNode, io)).toBe(2);
    expect(err.join("\n")).toContain("adenroll serve: --upstream: expected an absolute http(s) URL without query or fragment");
    writeFileSync(configFile, config("https://user:secret@mdm.internal/"));
    expect(await runServe(["--port", "0", "--data", emptyDir, "--config", configFile], listenNode, io)).toBe(2);
    expect(err.join("\n")).toMatch(/upstream: expected no user name or password/);
    expect(err.join("\n")).not.toContain("secret");
  });

  it("--upstream (winning over the config's) forwards authorized requests; the start-up log names it", async () => {
    writeFileSync(configFile, config(`http://127.0.0.1:${await closedPort()}/unused`));
    const run = await serve(["--port", "0", "--data", dataDir, "--config", configFile, "--upstream", `${recorder.origin}/via-flag`]);
    try {
      expect(run.out).toContain(`adenroll: proxy mode: MDM requests adenroll authorized are forwarded to the upstream MDM ${recorder.origin}/via-flag`);
      recorder.received.length = 0;
      const answer = await checkInThrough(run, 1);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual(upstreamCommand);
      expect(recorder.received.map((r) => `${r.method} ${r.target}`)).toEqual(["PUT /via-flag/mdm/checkin"]);
      const refused = await rawRequest(`${run.origin}/mdm/checkin`, { method: "PUT", headers: deviceHeaders(checkInContentType, plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-SERVE-1" }), null), body: plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-SERVE-1" }) });
      expect(refused.status).toBe(401);
      expect(recorder.received).toHaveLength(1);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);

  it("the config key upstream alone selects proxy mode", async () => {
    writeFileSync(configFile, config(`${recorder.origin}/via-config`));
    const run = await serve(["--port", "0", "--data", dataDir, "--config", configFile]);
    try {
      expect(run.out).toContain(`adenroll: proxy mode: MDM requests adenroll authorized are forwarded to the upstream MDM ${recorder.origin}/via-config`);
      recorder.received.length = 0;
      expect((await checkInThrough(run, 2)).status).toBe(200);
      expect(recorder.received.map((r) => `${r.method} ${r.target}`)).toEqual(["PUT /via-config/mdm/checkin"]);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);
});
