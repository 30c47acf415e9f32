// The built-in MDM's storage role over Kysely (PostgreSQL or PGlite, the same SQL): device facts
// from check-ins and the command queue (tables from migration 006-mdm). Every statement is one
// atomic SQL statement, so it needs no enrollment lock: handing out the next command (the oldest
// unanswered one) marks it sent in the same UPDATE. Every row read back is parsed
// with Zod, and a stored command must still be the plist its columns describe before it is trusted.
import type { Kysely } from "kysely";
import { z } from "zod";
import { MdmCommand, parsePlist } from "../../spec/index.ts";
import {
  MdmCommandStatus,
  MdmDeviceIdKind,
  MdmDeviceRecord,
  StoredMdmCommand,
  UntrustedRecordError,
  type MdmAnswerStatus,
  type MdmDeviceFacts,
  type MdmStore,
} from "./roles.ts";
import type { Database } from "./schema.ts";

const DEVICES = "adenroll_mdm_devices";
const COMMANDS = "adenroll_mdm_commands";

const DEVICE_COLUMNS = ["enrollment_ref", "device_id", "id_kind", "topic", "push_magic", "push_token", "checked_out_at", "updated_at"] as const;
const COMMAND_COLUMNS = ["command_uuid", "enrollment_ref", "request_type", "command", "status", "result", "created_at", "sent_at", "answered_at"] as const;

const DeviceRow = z.object({
  enrollment_ref: z.string(),
  device_id: z.string(),
  id_kind: MdmDeviceIdKind,
  topic: z.string(),
  push_magic: z.string().nullable(),
  push_token: z.string().nullable(),
  checked_out_at: z.date().nullable(),
  updated_at: z.date(),
});

const CommandRow = z.object({
  command_uuid: z.string(),
  enrollment_ref: z.string(),
  request_type: z.string(),
  command: z.string(),
  status: MdmCommandStatus,
  result: z.string().nullable(),
  created_at: z.date(),
  sent_at: z.date().nullable(),
  answered_at: z.date().nullable(),
});

export class SqlMdmStore implements MdmStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async recordAuthenticate(facts: MdmDeviceFacts, at: number): Promise<void> {
    const values = { ...deviceValues(facts), push_magic: null, push_token: null, checked_out_at: null, updated_at: new Date(at) };
    await this.#db
      .insertInto(DEVICES)
      .values({ enrollment_ref: facts.enrollmentRef, ...values })
      .onConflict((conflict) => conflict.column("enrollment_ref").doUpdateSet(values))
      .execute();
  }

  async recordTokenUpdate(facts: MdmDeviceFacts & { readonly pushMagic: string; readonly pushToken: string }, at: number): Promise<void> {
    const values = { ...deviceValues(facts), push_magic: facts.pushMagic, push_token: facts.pushToken, checked_out_at: null, updated_at: new Date(at) };
    await this.#db
      .insertInto(DEVICES)
      .values({ enrollment_ref: facts.enrollmentRef, ...values })
      .onConflict((conflict) => conflict.column("enrollment_ref").doUpdateSet(values))
      .execute();
  }

  async recordCheckOut(enrollmentRef: string, at: number): Promise<boolean> {
    const rows = await this.#db
      .updateTable(DEVICES)
      .set({ push_magic: null, push_token: null, checked_out_at: new Date(at), updated_at: new Date(at) })
      .where("enrollment_ref", "=", enrollmentRef)
      .returning("enrollment_ref")
      .execute();
    return rows.length > 0;
  }

  async getDevice(enrollmentRef: string): Promise<MdmDeviceRecord | null> {
    const row = await this.#db.selectFrom(DEVICES).select(DEVICE_COLUMNS).where("enrollment_ref", "=", enrollmentRef).executeTakeFirst();
    return row === undefined ? null : parseDevice(row);
  }

  async enqueueCommand(command: { readonly commandUuid: string; readonly enrollmentRef: string; readonly requestType: string; readonly command: string }, at: number): Promise<boolean> {
    // Refused before it is written: a command that would not read back trusted is never queued.
    const problem = commandProblem(command.command, command.commandUuid, command.requestType);
    if (problem !== null) throw new Error(`refusing to queue command ${command.commandUuid}: ${problem}`);
    const rows = await this.#db
      .insertInto(COMMANDS)
      .values({
        command_uuid: command.commandUuid,
        enrollment_ref: command.enrollmentRef,
        request_type: command.requestType,
        command: command.command,
        status: "queued",
        result: null,
        created_at: new Date(at),
        sent_at: null,
        answered_at: null,
        updated_at: new Date(at),
      })
      .onConflict((conflict) => conflict.column("command_uuid").doNothing())
      .returning("command_uuid")
      .execute();
    return rows.length > 0;
  }

  async nextCommand(enrollmentRef: string, at: number): Promise<StoredMdmCommand | null> {
    const oldest = this.#db
      .selectFrom(COMMANDS)
      .select("command_uuid")
      .where("enrollment_ref", "=", enrollmentRef)
      // A command sent whose answer never came is sent again: an Idle poll means the device holds none.
      .where("status", "in", ["queued", "sent", "not-now"])
      .orderBy("seq")
      .limit(1)
      // Waits for a concurrent hand-out (never skips to a newer command: the order is the queue's).
      .forUpdate();
    const row = await this.#db
      .updateTable(COMMANDS)
      .set({ status: "sent", sent_at: new Date(at), updated_at: new Date(at) })
      .where("command_uuid", "=", oldest)
      .returning(COMMAND_COLUMNS)
      .executeTakeFirst();
    return row === undefined ? null : parseCommand(row);
  }

  async recordAnswer(enrollmentRef: string, commandUuid: string, status: MdmAnswerStatus, report: string, at: number): Promise<boolean> {
    const rows = await this.#db
      .updateTable(COMMANDS)
      .set({ status: MdmCommandStatus.parse(status), result: report, answered_at: new Date(at), updated_at: new Date(at) })
      .where("command_uuid", "=", commandUuid)
      .where("enrollment_ref", "=", enrollmentRef)
      .returning("command_uuid")
      .execute();
    return rows.length > 0;
  }

  async getCommand(commandUuid: string): Promise<StoredMdmCommand | null> {
    const row = await this.#db.selectFrom(COMMANDS).select(COMMAND_COLUMNS).where("command_uuid", "=", commandUuid).executeTakeFirst();
    return row === undefined ? null : parseCommand(row);
  }

  async listCommands(enrollmentRef: string, options: { readonly limit?: number } = {}): Promise<StoredMdmCommand[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a limit is a positive integer, not ${limit}`);
    const rows = await this.#db.selectFrom(COMMANDS).select(COMMAND_COLUMNS).where("enrollment_ref", "=", enrollmentRef).orderBy("seq", "desc").limit(limit).execute();
    return rows.map(parseCommand);
  }
}

function deviceValues(facts: MdmDeviceFacts) {
  return { device_id: facts.deviceId, id_kind: MdmDeviceIdKind.parse(facts.idKind), topic: facts.topic };
}

function parseDevice(raw: unknown): MdmDeviceRecord {
  const row = DeviceRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(DEVICES, "?", `unexpected row: ${summarize(row.error)}`);
  const r = row.data;
  const record = MdmDeviceRecord.safeParse({
    enrollmentRef: r.enrollment_ref,
    deviceId: r.device_id,
    idKind: r.id_kind,
    topic: r.topic,
    pushMagic: r.push_magic,
    pushToken: r.push_token,
    checkedOutAt: r.checked_out_at?.getTime() ?? null,
    updatedAt: r.updated_at.getTime(),
  });
  if (!record.success) throw new UntrustedRecordError(DEVICES, r.enrollment_ref, summarize(record.error));
  return record.data;
}

function parseCommand(raw: unknown): StoredMdmCommand {
  const row = CommandRow.safeParse(raw);
  if (!row.success) throw new UntrustedRecordError(COMMANDS, "?", `unexpected row: ${summarize(row.error)}`);
  const r = row.data;
  const record = StoredMdmCommand.safeParse({
    commandUuid: r.command_uuid,
    enrollmentRef: r.enrollment_ref,
    requestType: r.request_type,
    command: r.command,
    status: r.status,
    result: r.result,
    createdAt: r.created_at.getTime(),
    sentAt: r.sent_at?.getTime() ?? null,
    answeredAt: r.answered_at?.getTime() ?? null,
  });
  if (!record.success) throw new UntrustedRecordError(COMMANDS, r.command_uuid, summarize(record.error));
  const problem = commandProblem(r.command, r.command_uuid, r.request_type);
  if (problem !== null) throw new UntrustedRecordError(COMMANDS, r.command_uuid, problem);
  return record.data;
}

/** Why a stored command plist is not the command its columns name; null when it is. */
function commandProblem(plist: string, commandUuid: string, requestType: string): string | null {
  const parsed = parsePlist(plist);
  if (!parsed.ok) return `its plist does not parse: ${parsed.error.detail}`;
  const command = MdmCommand.safeParse(parsed.value);
  if (!command.success) return `its plist is not an MDM command: ${summarize(command.error)}`;
  if (command.data.CommandUUID !== commandUuid) return "its plist names another CommandUUID";
  if (command.data.Command.RequestType !== requestType) return "its plist names another RequestType";
  return null;
}

function summarize(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}
