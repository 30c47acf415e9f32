// The built-in MDM's commands through the admin API (runtime/admin-commands-api.ts) of the product
// (createAdenroll: app.fetch) over PGlite in memory, and through `adenroll commands …` (main([...])
// with a captured Io: --server over the app's fetch, and --data on the embedded database directly).
// Without a valid admin token every route answers 401 and nothing is queued; an unknown enrollment
// or command is 404, a bad body 400; every enqueue is audited; the device gets the command at its
// next Idle through the product's own MDM route.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AdminCommandContext } from "../../runtime/admin-command.ts";
import { main } from "../../runtime/cli.ts";
import { hashToken } from "../../runtime/crypto.ts";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { buildPlist, MdmCommand, parsePlist } from "../../spec/index.ts";
import { admin, adminTestBed, adminToken, enrollmentRecord, origin, putEnrollment, type Answer } from "./admin-fixtures.ts";

const deviceToken = "ZGV2aWNlLXRva2VuLWZvci1jb21tYW5kcy10ZXN0cw";
const bed = adminTestBed(async (storage) => {
  await putEnrollment(storage, enrollmentRecord("e-alice", { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", tokenHash: await hashToken(deviceToken), tokenExpiresAt: Date.now() + 3_600_000, enrollmentId: "ENR-A" }));
  await putEnrollment(storage, enrollmentRecord("e-gone", { userIdentifier: "alice@example.com", enrollmentId: "ENR-GONE" }, "unenrolled"));
});
const fetch = bed.fetch;

function expectProblem(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get("content-type")).toBe("application/problem+json");
  expect(answer.body).toMatchObject({ code });
  expect(answer.headers.get("cache-control")).toBe("no-store");
}

/** A raw request to the admin API with a body of any type. */
async function post(pathname: string, body: string | Uint8Array, contentType: string, token: string | null = adminToken): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": contentType };
  if (token !== null) headers["authorization"] = `Bearer ${token}`;
  const response = await fetch(new Request(`${origin}/admin/v1${pathname}`, { method: "POST", headers, body: typeof body === "string" ? body : body.slice() }));
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === "" ? null : JSON.parse(text), text };
}

/** What "nothing changed" compares: the queue and the audit log. */
async function snapshot(): Promise<unknown> {
  return { commands: (await sql`select * from adenroll_mdm_commands`.execute(bed.storage.db)).rows, audit: await bed.storage.audit.list() };
}

const Queued = z.object({ command: z.object({ commandUuid: z.string(), command: MdmCommand }) });

/** The CommandUUID of an answer that carries a command (the one in its plist, too). */
const uuidOf = (answer: Answer): string => {
  const parsed = Queued.safeParse(answer.body);
  if (!parsed.success) throw new Error(`no command in ${answer.text}`);
  expect(parsed.data.command.command.CommandUUID).toBe(parsed.data.command.commandUuid);
  return parsed.data.command.commandUuid;
};

describe("the admin API's command routes", () => {
  it("without a valid admin token: 401 on every route, nothing queued", async () => {
    await post("/enrollments/e-alice/commands", JSON.stringify({ RequestType: "ProfileList" }), "application/json");
    const before = await snapshot();
    for (const token of [null, "not-the-admin-token-0123456789"]) {
      expectProblem(await post("/enrollments/e-alice/commands", JSON.stringify({ RequestType: "DeviceInformation" }), "application/json", token), 401, "admin.unauthorized");
      expectProblem(await admin(fetch, "GET", "/enrollments/e-alice/commands", { token }), 401, "admin.unauthorized");
      expectProblem(await admin(fetch, "GET", "/commands/anything", { token }), 401, "admin.unauthorized");
    }
    expect(await snapshot()).toEqual(before);
  });

  it("POST queues a JSON command: 201 with its CommandUUID and Location, audited; GET reads it back, alone and in the list", async () => {
    const answer = await admin(fetch, "POST", "/enrollments/e-alice/commands", { body: { RequestType: "DeviceInformation", Queries: ["OSVersion", "DeviceName"] } });
    expect(answer.status, answer.text).toBe(201);
    const uuid = uuidOf(answer);
    expect(uuid).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(answer.headers.get("location")).toBe(`/admin/v1/commands/${uuid}`);
    expect(answer.body).toEqual({
      command: {
        commandUuid: uuid,
        enrollment: "e-alice",
        requestType: "DeviceInformation",
        status: "queued",
        command: { CommandUUID: uuid, Command: { RequestType: "DeviceInformation", Queries: ["OSVersion", "DeviceName"] } },
        result: null,
        createdAt: expect.any(String),
        sentAt: null,
        answeredAt: null,
      },
    });
    expect(await admin(fetch, "GET", `/commands/${uuid}`)).toMatchObject({ status: 200, body: answer.body });
    expect((await admin(fetch, "GET", "/enrollments/e-alice/commands")).body).toEqual({ commands: [expect.objectContaining({ commandUuid: uuid, status: "queued" })] });
    expect(await bed.storage.audit.list()).toEqual([expect.objectContaining({ actor: "admin:ops", action: "mdm.command-queued", subject: "e-alice", detail: { commandUuid: uuid, requestType: "DeviceInformation" } })]);
    // The admin API's own routes are still there, behind these.
    expect((await admin(fetch, "GET", "/enrollments/e-alice")).status).toBe(200);
    expectProblem(await admin(fetch, "GET", "/nowhere"), 404, "not-found");
  });

  it("POST takes a plist too, a whole command with its own CommandUUID, and <data> comes back as base64; a taken CommandUUID is 409", async () => {
    const plist = buildPlist({ CommandUUID: "MY-UUID-1", Command: { RequestType: "InstallProfile", Payload: new Uint8Array([1, 2, 3, 4]) } });
    const answer = await post("/enrollments/e-alice/commands", plist, "application/x-apple-plist");
    expect(answer.status, answer.text).toBe(201);
    expect(answer.body).toMatchObject({ command: { commandUuid: "MY-UUID-1", requestType: "InstallProfile", command: { CommandUUID: "MY-UUID-1", Command: { RequestType: "InstallProfile", Payload: "AQIDBA==" } } } });
    const stored = parsePlist((await bed.storage.mdm.getCommand("MY-UUID-1"))?.command ?? "");
    expect(stored.ok && stored.value).toEqual({ CommandUUID: "MY-UUID-1", Command: { RequestType: "InstallProfile", Payload: new Uint8Array([1, 2, 3, 4]) } });
    expect((await post("/enrollments/e-alice/commands", buildPlist({ RequestType: "ProfileList" }), "application/xml")).status).toBe(201);
    const before = await snapshot();
    expectProblem(await post("/enrollments/e-alice/commands", plist, "text/xml"), 409, "admin.conflict");
    expect(await snapshot()).toEqual(before);
  });

  it("an unknown enrollment or command is 404; an unenrolled one takes no command (409); nothing is queued", async () => {
    const before = await snapshot();
    expectProblem(await admin(fetch, "POST", "/enrollments/e-nobody/commands", { body: { RequestType: "ProfileList" } }), 404, "admin.not-found");
    expectProblem(await admin(fetch, "GET", "/enrollments/e-nobody/commands"), 404, "admin.not-found");
    expectProblem(await admin(fetch, "GET", "/commands/no-such-command"), 404, "admin.not-found");
    expectProblem(await admin(fetch, "POST", "/enrollments/e-gone/commands", { body: { RequestType: "ProfileList" } }), 409, "admin.conflict");
    expect(await snapshot()).toEqual(before);
  });

  it("a bad body is 400 (too large: 413), nothing queued", async () => {
    const before = await snapshot();
    const bad: readonly (readonly [string, string, string])[] = [
      ["text/plain", "RequestType=ProfileList", "a command as application/json"],
      ["application/json", "{not json", "not JSON"],
      ["application/json", "", "expected a command"],
      ["application/json", JSON.stringify(["ProfileList"]), "expected a dictionary"],
      ["application/json", JSON.stringify({ Queries: ["OSVersion"] }), "RequestType"],
      ["application/json", JSON.stringify({ RequestType: "Device Information" }), "RequestType"],
      ["application/json", JSON.stringify({ RequestType: "DeviceInformation", Queries: null }), "null is not a plist value"],
      ["application/json", JSON.stringify({ RequestType: "DeviceInformation", Name: "a\u0001b" }), "a character a plist cannot hold"],
      ["application/json", JSON.stringify({ Command: { RequestType: "ProfileList" }, Extra: 1 }), "only Command and CommandUUID"],
      ["application/json", JSON.stringify({ Command: "ProfileList" }), "Command: expected a dictionary"],
      ["application/x-apple-plist", "<plist><dict><key>RequestType</key>", "not a plist"],
    ];
    for (const [type, body, detail] of bad) {
      const answer = await post("/enrollments/e-alice/commands", body, type);
      expectProblem(answer, 400, "admin.invalid");
      expect(answer.text, body).toContain(detail);
    }
    expectProblem(await post("/enrollments/e-alice/commands", JSON.stringify({ RequestType: "X", Data: "x".repeat(300 * 1024) }), "application/json"), 413, "request.too-large");
    expectProblem(await admin(fetch, "GET", "/enrollments/e-alice/commands?limit=0"), 400, "admin.invalid");
    expectProblem(await admin(fetch, "GET", "/enrollments/e-alice/commands?state=queued"), 400, "admin.invalid");
    expect(await snapshot()).toEqual(before);
  });

  it("the device gets the queued command at its next Idle through the product's MDM route, and its answer is readable", async () => {
    const queued = await admin(fetch, "POST", "/enrollments/e-alice/commands", { body: { RequestType: "ProfileList" } });
    const uuid = uuidOf(queued);
    const report = (message: Record<string, string>) =>
      fetch(new Request(`${origin}/mdm/server`, { method: "PUT", headers: { authorization: `Bearer ${deviceToken}`, "content-type": "application/x-apple-aspen-mdm" }, body: buildPlist({ EnrollmentID: "ENR-A", ...message }) }));
    const idle = await report({ Status: "Idle" });
    expect(idle.status).toBe(200);
    expect(idle.headers.get("content-type")).toBe("application/xml");
    const sent = parsePlist(new Uint8Array(await idle.arrayBuffer()));
    expect(sent.ok && sent.value).toEqual({ CommandUUID: uuid, Command: { RequestType: "ProfileList" } });
    expect((await admin(fetch, "GET", `/commands/${uuid}`)).body).toMatchObject({ command: { status: "sent", sentAt: expect.any(String) } });
    const ack = await report({ Status: "Acknowledged", CommandUUID: uuid });
    expect(ack.status).toBe(200);
    expect(await ack.text()).toBe("");
    expect((await admin(fetch, "GET", `/commands/${uuid}`)).body).toMatchObject({ command: { status: "acknowledged", result: { Status: "Acknowledged", CommandUUID: uuid, EnrollmentID: "ENR-A" } } });
    // Without the device's token the queue is not reached (the guard answers first).
    await admin(fetch, "POST", "/enrollments/e-alice/commands", { body: { RequestType: "ProfileList" } });
    const stranger = await fetch(new Request(`${origin}/mdm/server`, { method: "PUT", headers: { "content-type": "application/x-apple-aspen-mdm" }, body: buildPlist({ EnrollmentID: "ENR-A", Status: "Idle" }) }));
    expect(stranger.status).toBe(401);
    expect((await admin(fetch, "GET", "/enrollments/e-alice/commands")).body).toMatchObject({ commands: [{ status: "queued" }, { status: "acknowledged" }] });
  });
});

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function adenroll(args: readonly string[], context: AdminCommandContext = {}): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, { env: {}, ...context });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("adenroll commands", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "adenroll-commands-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--server: enqueue (with --keys FILE), show and list through the admin API; exit codes 0, 1, 2", async () => {
    const remote = ["--server", origin];
    const context = { env: { ADENROLL_ADMIN_TOKEN: adminToken }, fetch };
    const keys = path.join(dir, "queries.json");
    writeFileSync(keys, JSON.stringify({ Queries: ["OSVersion"] }));
    const queued = await adenroll(["commands", "enqueue", "e-alice", "--request-type", "DeviceInformation", "--keys", keys, ...remote], context);
    expect(queued, queued.err).toMatchObject({ code: 0 });
    const uuid = /CommandUUID (\S+)$/.exec(queued.out)?.[1] ?? "";
    expect(queued.out).toBe(`queued DeviceInformation for enrollment e-alice: CommandUUID ${uuid}`);
    expect(await bed.storage.mdm.getCommand(uuid)).toMatchObject({ requestType: "DeviceInformation", status: "queued" });
    const shown = await adenroll(["commands", "show", uuid, "--json", ...remote], context);
    expect(JSON.parse(shown.out)).toMatchObject({ command: { commandUuid: uuid, command: { Command: { RequestType: "DeviceInformation", Queries: ["OSVersion"] } }, result: null } });
    const human = await adenroll(["commands", "show", uuid, ...remote], context);
    expect(human.out).toMatch(/^command uuid  \S+\nenrollment    e-alice\nrequest type  DeviceInformation\nstatus        queued\n/);
    expect(human.out).toContain("result        none yet");
    const listed = await adenroll(["commands", "list", "e-alice", ...remote], context);
    expect(listed.out.split("\n")).toEqual([expect.stringMatching(/^COMMAND UUID +REQUEST TYPE +STATUS +QUEUED +ANSWERED$/), expect.stringMatching(new RegExp(`^${uuid} +DeviceInformation +queued +\\S+ +-$`))]);
    expect(await bed.storage.audit.list()).toEqual([expect.objectContaining({ actor: "admin:ops", action: "mdm.command-queued" })]);
    // --json prints JSON here too; the old `--json FILE` is now a stray argument (2), not the keys.
    const asJson = await adenroll(["commands", "enqueue", "e-alice", "--request-type", "ProfileList", "--json", ...remote], context);
    expect(asJson, asJson.err).toMatchObject({ code: 0 });
    expect(JSON.parse(asJson.out)).toMatchObject({ command: { enrollment: "e-alice", requestType: "ProfileList", status: "queued" } });
    expect(await adenroll(["commands", "enqueue", "e-alice", "--request-type", "DeviceInformation", "--json", keys, ...remote], context)).toMatchObject({ code: 2, err: expect.stringMatching(/expected ENROLLMENT/) });

    expect(await adenroll(["commands", "show", "nope", ...remote], context)).toMatchObject({ code: 1, err: expect.stringMatching(/no command "nope" \(admin\.not-found\)/) });
    expect(await adenroll(["commands", "enqueue", "e-alice", "--request-type", "Device Information", ...remote], context)).toMatchObject({ code: 2 });
    expect(await adenroll(["commands", "enqueue", "e-alice", ...remote], context)).toMatchObject({ code: 2, err: expect.stringMatching(/--request-type is required/) });
    expect(await adenroll(["commands", "list", ...remote], context)).toMatchObject({ code: 2 });
    expect(await adenroll(["commands", "enqueue", "e-alice", "--request-type", "ProfileList", ...remote], { fetch })).toMatchObject({ code: 2, err: expect.stringMatching(/needs the admin token/) });
    expect(await adenroll(["commands", "list", "e-alice", ...remote], { env: { ADENROLL_ADMIN_TOKEN: "not-the-admin-token-0123456789" }, fetch })).toMatchObject({ code: 1, err: expect.stringMatching(/refused the admin token/) });
    expect(await adenroll(["commands"])).toMatchObject({ code: 2 });
    expect(await adenroll(["commands", "frobnicate"])).toMatchObject({ code: 2 });
  });

  it("--data: queues on the embedded database directly, as admin:cli", async () => {
    const dataDir = path.join(dir, "direct");
    mkdirSync(dataDir, { recursive: true });
    const direct = await openStorage({ dataDir: path.join(dataDir, "pglite") });
    await putEnrollment(direct, enrollmentRecord("e-bob", { userIdentifier: "bob@example.com", enrollmentId: "ENR-B" }));
    await direct.close();
    const queued = await adenroll(["commands", "enqueue", "e-bob", "--request-type", "SecurityInfo", "--data", dataDir]);
    expect(queued, queued.err).toMatchObject({ code: 0 });
    const listed = await adenroll(["commands", "list", "e-bob", "--json", "--data", dataDir]);
    expect(JSON.parse(listed.out)).toMatchObject({ commands: [{ enrollment: "e-bob", requestType: "SecurityInfo", status: "queued" }] });
    const again = await openStorage({ dataDir: path.join(dataDir, "pglite") });
    try {
      expect(await again.audit.list()).toEqual([expect.objectContaining({ actor: "admin:cli", action: "mdm.command-queued", subject: "e-bob" })]);
    } finally {
      await again.close();
    }
  }, 60_000);
});
