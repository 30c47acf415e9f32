// The MDM guard mounted in an app of one's own, over real HTTP: a separate Hono app runs
// mdmGuardMiddleware in front of its own /mdm/* handlers and hands everything else (enrollment) to
// adenroll's generated app; both share one host. Refusals are the guard's answers and never reach
// the app's handler; allowed requests reach it with the enrollment and a body it can still read.
// Then the plain function form, createMdmGuard, on in-process Requests.
import { Hono } from "hono";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createServer, type ServerHost } from "../../generated/server.generated.ts";
import { Directory } from "../../runtime/directory.ts";
import { createMdmGuard, mdmGuardMiddleware, mdmOperationOf, type MdmGuardEnv } from "../../runtime/guard.ts";
import { MemoryEnrollmentStore } from "../../runtime/memory-store.ts";
import { listenNode } from "../../runtime/node.ts";
import type { Listening } from "../../runtime/serve.ts";
import { createServerHost } from "../../runtime/server-host.ts";
import { createTestDeviceCa, issueDeviceIdentity, signEnrollBody, type TestDeviceCa } from "../../runtime/test-device-ca.ts";
import { buildPlist, checkInContentType, commandContentType, parseEnrollRequestBody, type PlistValue } from "../../spec/index.ts";
import { enrollOverHttp } from "../support/enroll-over-http.ts";
import { alice, realEnrollBody, seededRandom } from "../support/fixtures.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const utf8 = new TextEncoder();
const plist = (message: Record<string, PlistValue>): Uint8Array<ArrayBuffer> => utf8.encode(buildPlist(message));
const enrollPlist = (() => {
  const parsed = parseEnrollRequestBody(realEnrollBody);
  if (!parsed.ok || parsed.value.signedData.content === undefined) throw new Error("the fixture carries its plist");
  return parsed.value.signedData.content;
})();

/** What the app's own handler saw, per request it was given. */
interface Seen {
  readonly path: string;
  readonly operation: string;
  readonly messageType: string;
  readonly userIdentifier: string | null;
  readonly enrollmentId: string | null;
  readonly guardBody: Uint8Array;
  /** The body as the handler reads it from the request (c.req.arrayBuffer()). */
  readonly readBody: Uint8Array;
  readonly contentType: string | null;
}

let testCa: TestDeviceCa;
let host: ServerHost;
let listening: Listening;
let origin: string;
const seen: Seen[] = [];
const rejected: string[] = [];
const clock = { now: Date.UTC(2026, 10, 22) };

beforeAll(async () => {
  testCa = await createTestDeviceCa({ random: seededRandom(71) });
  let handler: (request: Request) => Response | Promise<Response> = () => new Response(null, { status: 503 });
  listening = await listenNode((request) => handler(request), { port: 0, hostname: "127.0.0.1" });
  origin = `http://127.0.0.1:${listening.port}`;
  const random = seededRandom(72);
  host = createServerHost({
    publicBaseUrl: origin,
    organizationName: "Example Corp",
    domains: { "example.com": "mdm-byod" },
    directory: await Directory.create([alice], random, 1_000),
    profile: { identifierPrefix: "com.example.mdm", topic, serverUrl: "https://mdm.example.com/mdm/server", checkInUrl: "https://mdm.example.com/mdm/checkin", identity: { kind: "scep", url: "https://mdm.example.com/scep" } },
    deviceTrust: { testCa: testCa.certificate },
    store: new MemoryEnrollmentStore(),
    random,
    now: () => clock.now,
    reportRejected: (operation, reason) => rejected.push(`${operation}: ${reason.code}`),
  });

  // The app of one's own: its MDM under /mdm/*, guarded; adenroll's enrollment for everything else.
  const enrollment = createServer(host);
  const app = new Hono<MdmGuardEnv>();
  app.use("/mdm/*", mdmGuardMiddleware(host));
  app.put("/mdm/*", async (c) => {
    const authorized = c.get("adenroll");
    seen.push({
      path: c.req.path,
      operation: authorized.operation,
      messageType: authorized.messageType,
      userIdentifier: authorized.enrollment.userIdentifier,
      enrollmentId: authorized.enrollment.enrollmentId,
      guardBody: authorized.body,
      readBody: new Uint8Array(await c.req.arrayBuffer()),
      contentType: c.req.header("content-type") ?? null,
    });
    return c.body(plist({ Handled: authorized.messageType }), 200, { "content-type": "application/xml", "x-handled-by": "my-mdm" });
  });
  app.all("*", (c) => enrollment.fetch(c.req.raw));
  handler = (request) => app.fetch(request);
}, 60_000);

afterAll(() => listening?.close());

beforeEach(() => {
  seen.length = 0;
  rejected.length = 0;
});

let devices = 0;
async function enrolledDevice() {
  const n = ++devices;
  const body = await signEnrollBody(enrollPlist, await issueDeviceIdentity(testCa, { random: seededRandom(300 + n) }));
  const enrolled = await enrollOverHttp(origin, { body, user: alice });
  return { ...enrolled, enrollmentId: `ENR-GUARD-${n}` };
}

function put(path: string, contentType: string, body: Uint8Array<ArrayBuffer>, token: string | null): Promise<Response> {
  return fetch(`${origin}${path}`, { method: "PUT", headers: { "content-type": contentType, ...(token === null ? {} : { authorization: `Bearer ${token}` }) }, body });
}

describe("mdmGuardMiddleware in an app of one's own", () => {
  it("an allowed request reaches the app's handler with its enrollment, parsed message and a body it can still read", async () => {
    const device = await enrolledDevice();
    const authenticate = plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: device.enrollmentId });
    const answer = await put("/mdm/checkin", checkInContentType, authenticate, device.token);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-handled-by")).toBe("my-mdm");
    expect(await answer.text()).toContain("<string>Authenticate</string>");

    const idle = plist({ Status: "Idle", EnrollmentID: device.enrollmentId });
    // Any path under the mount: the operation comes from the Content-Type.
    expect((await put("/mdm/anything/else", commandContentType, idle, device.token)).status).toBe(200);

    expect(seen).toEqual([
      { path: "/mdm/checkin", operation: "checkIn", messageType: "Authenticate", userIdentifier: alice.userIdentifier, enrollmentId: device.enrollmentId, guardBody: authenticate, readBody: authenticate, contentType: checkInContentType },
      { path: "/mdm/anything/else", operation: "command", messageType: "Idle", userIdentifier: alice.userIdentifier, enrollmentId: device.enrollmentId, guardBody: idle, readBody: idle, contentType: commandContentType },
    ]);
  });

  it("refusals are the guard's own answers — 401 with the challenge, 403 unrecognized device, 400, 415 — and the handler never runs", async () => {
    const device = await enrolledDevice();
    const authenticate = plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: device.enrollmentId });
    expect((await put("/mdm/checkin", checkInContentType, authenticate, device.token)).status).toBe(200);
    seen.length = 0;

    for (const token of [null, "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc"]) {
      const answer = await put("/mdm/checkin", checkInContentType, authenticate, token);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toBe(device.challengeHeader);
    }
    const expired = clock.now;
    clock.now += 3600 * 1000 + 1;
    const late = await put("/mdm/server", commandContentType, plist({ Status: "Idle", EnrollmentID: device.enrollmentId }), device.token);
    clock.now = expired;
    expect(late.status).toBe(401);

    const unknown = await put("/mdm/checkin", checkInContentType, plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: "ENR-NOBODY" }), null);
    expect(unknown.status).toBe(403);
    expect(await unknown.json()).toEqual({ code: "com.apple.unrecognized.device" });

    const invalid = await put("/mdm/server", commandContentType, plist({ Status: "Acknowledged", EnrollmentID: device.enrollmentId }), device.token);
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ code: "command.invalid" });

    const wrongType = await put("/mdm/checkin", "text/plain", authenticate, device.token);
    expect(wrongType.status).toBe(415);
    expect(wrongType.headers.get("content-type")).toBe("application/problem+json");
    expect(await wrongType.json()).toEqual({
      code: "request.unsupported-media-type",
      title: "The request's Content-Type is not an MDM check-in or command-channel one.",
      detail: `expected ${checkInContentType} or ${commandContentType}`,
    });
    expect(rejected).toContain("mdm: request.unsupported-media-type");

    expect(seen).toEqual([]);
  });
});

describe("createMdmGuard, the function form", () => {
  const request = (contentType: string | null, body: Uint8Array<ArrayBuffer>, token: string | null) =>
    new Request("https://mdm.example.com/my/own/path", {
      method: "PUT",
      headers: { ...(contentType === null ? {} : { "content-type": contentType }), ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body,
    });

  it("decides from the Content-Type: check-in or command, parameters and case ignored; anything else is 415", async () => {
    const device = await enrolledDevice();
    const guard = createMdmGuard(host);
    const checkIn = plist({ MessageType: "Authenticate", Topic: topic, EnrollmentID: device.enrollmentId });

    const allowed = await guard(request("Application/X-Apple-Aspen-MDM-Checkin; charset=utf-8", checkIn, device.token));
    if (!allowed.allowed) throw new Error(`refused: ${allowed.response.status}`);
    expect(allowed.request).toMatchObject({ operation: "checkIn", channel: "checkin", messageType: "Authenticate", body: checkIn });
    expect(allowed.request.enrollment).toMatchObject({ userIdentifier: alice.userIdentifier, enrollmentId: device.enrollmentId });

    const command = await guard(request(commandContentType, plist({ Status: "NotNow", EnrollmentID: device.enrollmentId, CommandUUID: "C-1" }), device.token));
    expect(command.allowed && command.request.operation === "command" && command.request.messageType === "NotNow").toBe(true);

    const refused = await guard(request(checkInContentType, checkIn, null));
    expect(refused.allowed).toBe(false);
    if (!refused.allowed) expect(refused.response.status).toBe(401);

    for (const contentType of [null, "application/json", "application/x-apple-aspen-mdm-checkin-extra", "application/x-apple-aspen-config"]) {
      const decision = await guard(request(contentType, checkIn, device.token));
      expect(decision.allowed, String(contentType)).toBe(false);
      if (!decision.allowed) expect(decision.response.status).toBe(415);
    }
  });

  it("mdmOperationOf names the operation of each MDM media type only", () => {
    expect(mdmOperationOf(checkInContentType)).toBe("checkIn");
    expect(mdmOperationOf(` ${commandContentType} ;charset=utf-8`)).toBe("command");
    expect(mdmOperationOf("application/x-apple-aspen-mdm-checkinx")).toBeNull();
    expect(mdmOperationOf(null)).toBeNull();
  });
});
