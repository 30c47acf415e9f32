// The built-in MDM (runtime/mdm.ts) over a real storage (PGlite in memory), given requests as the
// generated guard hands them over: check-in facts recorded (never an UnlockToken), CheckOut
// recorded, other messages answered empty; the command queue served on Idle, answers recorded only
// on the enrollment's own commands, NotNow answered empty and the command handed out again.
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import type { AuthorizedMdmRequest } from "../../generated/server.generated.ts";
import { serverMachine, type ServerContext } from "../../machines/index.ts";
import { builtInMdm, commandResponseContentType } from "../../runtime/mdm.ts";
import type { AuditEvent } from "../../runtime/server-host.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { UntrustedRecordError } from "../../runtime/storage/roles.ts";
import { buildPlist, MdmCommand, parseCheckInMessage, parseCommandReport, parsePlist, type PlistValue } from "../../spec/index.ts";
import { OPEN_TIMEOUT, mdmCommand } from "../storage/storage.suite.ts";

const topic = "com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001";
const t0 = Date.UTC(2026, 10, 22, 12);

let storage: OpenedStorage;
beforeAll(async () => {
  storage = await openStorage({ memory: true });
}, OPEN_TIMEOUT);
afterAll(() => storage.close());
beforeEach(async () => {
  await sql`truncate table adenroll_mdm_devices, adenroll_mdm_commands, adenroll_audit_log restart identity`.execute(storage.db);
});

function enrollment(id: string, enrollmentId: string): ServerContext {
  const input = { id, deviceKey: `device:${id}`, version: "mdm-byod", device: { PRODUCT: "iPhone17,2", VERSION: "22C152", LANGUAGE: "en" } } as const;
  return { ...createActor(serverMachine, { input }).getSnapshot().context, enrollmentId };
}

const alice = enrollment("e-alice", "ENR-ALICE");
const bob = enrollment("e-bob", "ENR-BOB");

/** A check-in as the guard lets it through: parsed by the spec's own parser. */
function checkIn(who: ServerContext, message: Record<string, PlistValue>): AuthorizedMdmRequest {
  const body = new TextEncoder().encode(buildPlist({ Topic: topic, EnrollmentID: who.enrollmentId ?? "", ...message }));
  const parsed = parseCheckInMessage(body);
  if (!parsed.ok) throw new Error(parsed.error.detail);
  const messageType = parsed.value.message.MessageType;
  return { operation: "checkIn", channel: "checkin", request: new Request("https://mdm.example.com/mdm/checkin", { method: "PUT" }), body, message: parsed.value.message, messageType, enrollment: who };
}

/** A command-channel report as the guard lets it through. */
function report(who: ServerContext, message: Record<string, PlistValue>): AuthorizedMdmRequest {
  const body = new TextEncoder().encode(buildPlist({ EnrollmentID: who.enrollmentId ?? "", ...message }));
  const parsed = parseCommandReport(body);
  if (!parsed.ok) throw new Error(parsed.error.detail);
  return { operation: "command", channel: "command", request: new Request("https://mdm.example.com/mdm/server", { method: "PUT" }), body, message: parsed.value.message, messageType: parsed.value.message.MessageType, enrollment: who };
}

function mdm() {
  const audit: AuditEvent[] = [];
  const log: string[] = [];
  let clock = t0;
  const handle = builtInMdm({ store: storage.mdm, now: () => ++clock, audit: (event) => void audit.push(event), log: (line) => void log.push(line) });
  return { handle, audit, log };
}

/** The command a response carries, or null for an empty 200. */
async function commandIn(response: Response): Promise<MdmCommand | null> {
  expect(response.status).toBe(200);
  const body = new Uint8Array(await response.arrayBuffer());
  if (body.length === 0) return null;
  expect(response.headers.get("content-type")).toBe(commandResponseContentType);
  const parsed = parsePlist(body);
  if (!parsed.ok) throw new Error(parsed.error.detail);
  return MdmCommand.parse(parsed.value);
}

async function queue(who: ServerContext, uuid: string, requestType = "DeviceInformation"): Promise<void> {
  expect(await storage.mdm.enqueueCommand(mdmCommand(uuid, who.id, requestType), t0)).toBe(true);
}

describe("check-in", () => {
  it("Authenticate and TokenUpdate record the device's facts; the UnlockToken is never stored", async () => {
    const { handle } = mdm();
    const authenticated = await handle(checkIn(alice, { MessageType: "Authenticate", OSVersion: "18.2" }));
    expect(authenticated.status).toBe(200);
    expect(await authenticated.text()).toBe("");
    expect(await storage.mdm.getDevice(alice.id)).toMatchObject({ deviceId: "ENR-ALICE", idKind: "EnrollmentID", topic, pushMagic: null, pushToken: null });

    const token = Uint8Array.from({ length: 32 }, (_, i) => i);
    const unlock = new TextEncoder().encode("UNLOCK-TOKEN-SECRET-BYTES");
    const updated = await handle(checkIn(alice, { MessageType: "TokenUpdate", PushMagic: "MAGIC-1", Token: token, UnlockToken: unlock }));
    expect(updated.status).toBe(200);
    expect(await storage.mdm.getDevice(alice.id)).toMatchObject({ pushMagic: "MAGIC-1", pushToken: Buffer.from(token).toString("base64") });
    const everything = JSON.stringify((await sql`select * from adenroll_mdm_devices`.execute(storage.db)).rows);
    expect(everything).not.toContain(Buffer.from(unlock).toString("base64"));
    expect(everything).not.toContain("UNLOCK-TOKEN-SECRET-BYTES");
  });

  it("a device enrollment is recorded by its UDID", async () => {
    const { handle } = mdm();
    const adde = enrollment("e-adde", "00008120-0123456789ABCDEF");
    const body = new TextEncoder().encode(buildPlist({ MessageType: "Authenticate", Topic: topic, UDID: "00008120-0123456789ABCDEF" }));
    const parsed = parseCheckInMessage(body);
    if (!parsed.ok) throw new Error(parsed.error.detail);
    await handle({ operation: "checkIn", channel: "checkin", request: new Request("https://x/"), body, message: parsed.value.message, messageType: "Authenticate", enrollment: adde });
    expect(await storage.mdm.getDevice("e-adde")).toMatchObject({ deviceId: "00008120-0123456789ABCDEF", idKind: "UDID" });
  });

  it("CheckOut is recorded and audited; the push facts go", async () => {
    const { handle, audit } = mdm();
    await handle(checkIn(alice, { MessageType: "TokenUpdate", PushMagic: "MAGIC-1", Token: new Uint8Array([1, 2, 3]) }));
    const out = await handle(checkIn(alice, { MessageType: "CheckOut" }));
    expect(out.status).toBe(200);
    expect(await out.text()).toBe("");
    const device = await storage.mdm.getDevice(alice.id);
    expect(device).toMatchObject({ pushMagic: null, pushToken: null });
    expect(device?.checkedOutAt).toEqual(expect.any(Number));
    expect(audit).toEqual([{ actor: "device:ENR-ALICE", action: "mdm.checked-out", subject: alice.id, detail: {} }]);
  });

  it("any other message (GetToken, DeclarativeManagement) is answered 200 with an empty body, nothing recorded", async () => {
    const { handle } = mdm();
    for (const messageType of ["GetToken", "DeclarativeManagement"]) {
      const response = await handle(checkIn(alice, { MessageType: messageType }));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("");
    }
    expect(await storage.mdm.getDevice(alice.id)).toBeNull();
  });

  it("UserAuthenticate (a Mac's user channel) is answered 410: this MDM keeps no per-user channel", async () => {
    const { handle } = mdm();
    const response = await handle(checkIn(alice, { MessageType: "UserAuthenticate", UserID: "U-1" }));
    expect(response.status).toBe(410);
    expect(await storage.mdm.getDevice(alice.id)).toBeNull();
  });
});

describe("command channel", () => {
  it("Idle gets the oldest queued command as an XML plist and marks it sent; with none, 200 empty", async () => {
    const { handle } = mdm();
    expect(await commandIn(await handle(report(alice, { Status: "Idle" })))).toBeNull();
    await queue(alice, "C-1");
    await queue(alice, "C-2", "ProfileList");
    const first = await commandIn(await handle(report(alice, { Status: "Idle" })));
    expect(first).toEqual({ CommandUUID: "C-1", Command: { RequestType: "DeviceInformation" } });
    expect(await storage.mdm.getCommand("C-1")).toMatchObject({ status: "sent", sentAt: expect.any(Number) });
    // Idle again without an answer to C-1 (the answer was lost): C-1 is sent again, not skipped.
    expect((await commandIn(await handle(report(alice, { Status: "Idle" }))))?.CommandUUID).toBe("C-1");
  });

  it("Acknowledged, Error and CommandFormatError are recorded with the report, and the next command comes back at once", async () => {
    const { handle, audit } = mdm();
    for (const uuid of ["C-1", "C-2", "C-3"]) await queue(alice, uuid);
    await handle(report(alice, { Status: "Idle" }));
    const ack = await handle(report(alice, { Status: "Acknowledged", CommandUUID: "C-1", QueryResponses: { OSVersion: "18.2" } }));
    expect((await commandIn(ack))?.CommandUUID).toBe("C-2");
    const stored = await storage.mdm.getCommand("C-1");
    expect(stored?.status).toBe("acknowledged");
    const result = parsePlist(stored?.result ?? "");
    expect(result.ok && result.value).toMatchObject({ Status: "Acknowledged", CommandUUID: "C-1", QueryResponses: { OSVersion: "18.2" } });
    const error = await handle(report(alice, { Status: "Error", CommandUUID: "C-2", ErrorChain: [{ ErrorCode: 12021, ErrorDomain: "MCMDMErrorDomain" }] }));
    expect((await commandIn(error))?.CommandUUID).toBe("C-3");
    expect(await storage.mdm.getCommand("C-2")).toMatchObject({ status: "error" });
    expect(await commandIn(await handle(report(alice, { Status: "CommandFormatError", CommandUUID: "C-3" })))).toBeNull();
    expect(await storage.mdm.getCommand("C-3")).toMatchObject({ status: "command-format-error" });
    expect(audit.map((e) => [e.action, e.detail["status"]])).toEqual([
      ["mdm.command-answered", "acknowledged"],
      ["mdm.command-answered", "error"],
      ["mdm.command-answered", "command-format-error"],
    ]);
  });

  it("NotNow is recorded and answered 200 empty; the command is handed out again at the next Idle", async () => {
    const { handle } = mdm();
    await queue(alice, "C-1");
    await queue(alice, "C-2");
    await handle(report(alice, { Status: "Idle" }));
    expect(await commandIn(await handle(report(alice, { Status: "NotNow", CommandUUID: "C-1" })))).toBeNull();
    expect(await storage.mdm.getCommand("C-1")).toMatchObject({ status: "not-now" });
    expect((await commandIn(await handle(report(alice, { Status: "Idle" }))))?.CommandUUID).toBe("C-1");
  });

  it("an answer naming another enrollment's command is ignored and logged; the device still gets its own next command", async () => {
    const { handle, log, audit } = mdm();
    await queue(bob, "C-BOB");
    await handle(report(bob, { Status: "Idle" }));
    await queue(alice, "C-ALICE");
    const forged = await handle(report(alice, { Status: "Acknowledged", CommandUUID: "C-BOB", QueryResponses: { OSVersion: "forged" } }));
    expect((await commandIn(forged))?.CommandUUID).toBe("C-ALICE");
    expect(await storage.mdm.getCommand("C-BOB")).toMatchObject({ status: "sent", result: null });
    expect(log).toEqual([expect.stringMatching(/ignored the Acknowledged report on command "C-BOB"/)]);
    expect(audit).toEqual([{ actor: "device:ENR-ALICE", action: "mdm.answer-ignored", subject: alice.id, detail: { commandUuid: "C-BOB", status: "acknowledged" } }]);
  });

  it("a macOS user-channel report gets no command from the device's queue", async () => {
    const { handle } = mdm();
    await queue(alice, "C-1");
    expect(await commandIn(await handle(report(alice, { Status: "Idle", UserID: "501-USER" })))).toBeNull();
    expect(await storage.mdm.getCommand("C-1")).toMatchObject({ status: "queued" });
  });

  it("a stored command whose plist was changed behind the store's back is not sent", async () => {
    const { handle } = mdm();
    await queue(alice, "C-1");
    await sql`update adenroll_mdm_commands set command = replace(command, 'C-1', 'C-X') where command_uuid = 'C-1'`.execute(storage.db);
    await expect(handle(report(alice, { Status: "Idle" }))).rejects.toThrow(UntrustedRecordError);
  });
});
