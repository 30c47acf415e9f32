// Commands for the built-in MDM (runtime/mdm.ts), as an administrator queues and reads them: one
// service behind the admin HTTP routes (runtime/admin-commands-api.ts) and the CLI's direct mode
// (runtime/commands-command.ts). Failures are AdminErrors (runtime/admin.ts), every enqueue is in
// the audit log, and what comes back is plain JSON described by the schemas below (the CLI parses
// the API's answers with them). A plist value becomes JSON as: <data> → base64 string, <date> → ISO
// 8601 string, everything else as it is.
import { z } from "zod";
import { MdmCommand, buildPlist, parsePlist, plistMaxDepth, type PlistValue } from "../spec/index.ts";
import { AdminError, Limit } from "./admin.ts";
import { newUuid, secureRandomBytes, type RandomBytes } from "./crypto.ts";
import { MdmCommandStatus, type Storage, type StoredMdmCommand } from "./storage/roles.ts";

/** The largest command accepted (an InstallProfile carries a whole profile). */
export const maxCommandBytes = 256 * 1024;

/** Enrollments whose device will never ask for a command again. */
const finished: readonly string[] = ["checkedOut", "unenrolled"];

export const CommandSummary = z.object({
  commandUuid: z.string(),
  enrollment: z.string(),
  requestType: z.string(),
  status: MdmCommandStatus,
  createdAt: z.string(),
  sentAt: z.string().nullable(),
  answeredAt: z.string().nullable(),
});
export type CommandSummary = z.infer<typeof CommandSummary>;

export const CommandView = CommandSummary.extend({
  /** The command as the device gets it. */
  command: z.json(),
  /** The device's last report on it (Status, CommandUUID, and what it answered), or null. */
  result: z.json().nullable(),
});
export type CommandView = z.infer<typeof CommandView>;

export interface CommandServiceOptions {
  readonly storage: Storage;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly random?: RandomBytes;
}

export interface CommandService {
  /**
   * Queues a command for the enrollment's device: `input` is the command dictionary
   * ({RequestType, …}) or a whole command ({Command: {RequestType, …}, CommandUUID?}), decoded from
   * JSON or from a plist. A CommandUUID is made up when none is given.
   */
  enqueue(actor: string, enrollmentId: string, input: unknown): Promise<CommandView>;
  show(commandUuid: string): Promise<CommandView>;
  /** The enrollment's commands, newest first. */
  list(enrollmentId: string, limit?: unknown): Promise<CommandSummary[]>;
}

export function createCommandService(options: CommandServiceOptions): CommandService {
  const { storage } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandomBytes;

  async function knownEnrollment(id: string): Promise<void> {
    const stored = await storage.enrollments.getEnrollment(id);
    if (stored === null) throw new AdminError("admin.not-found", `no enrollment ${JSON.stringify(id)}`);
  }

  return {
    async enqueue(actor, enrollmentId, input) {
      const { commandUuid, command } = commandOf(input, () => newUuid(random));
      const stored = await storage.enrollments.getEnrollment(enrollmentId);
      if (stored === null) throw new AdminError("admin.not-found", `no enrollment ${JSON.stringify(enrollmentId)}`);
      if (!stored.trusted) throw new AdminError("admin.conflict", `enrollment ${JSON.stringify(enrollmentId)} fails its checks: ${stored.problem}`);
      if (finished.includes(stored.record.state)) {
        throw new AdminError("admin.conflict", `enrollment ${JSON.stringify(enrollmentId)} is ${stored.record.state}: its device asks for no more commands`);
      }
      const plist = buildPlist({ CommandUUID: commandUuid, Command: command });
      if (new TextEncoder().encode(plist).length > maxCommandBytes) throw new AdminError("admin.invalid", `the command is larger than ${maxCommandBytes} bytes`);
      const at = now();
      const queued = await storage.mdm.enqueueCommand({ commandUuid, enrollmentRef: enrollmentId, requestType: command.RequestType, command: plist }, at);
      if (!queued) throw new AdminError("admin.conflict", `a command with CommandUUID ${JSON.stringify(commandUuid)} exists already`);
      await storage.audit.append({ at, actor, action: "mdm.command-queued", subject: enrollmentId, detail: { commandUuid, requestType: command.RequestType } });
      const view = await storage.mdm.getCommand(commandUuid);
      if (view === null) throw new Error(`command ${commandUuid} was queued but does not read back`);
      return commandView(view);
    },

    async show(commandUuid) {
      const stored = await storage.mdm.getCommand(commandUuid);
      if (stored === null) throw new AdminError("admin.not-found", `no command ${JSON.stringify(commandUuid)}`);
      return commandView(stored);
    },

    async list(enrollmentId, limit) {
      const n = limit === undefined ? 100 : parseLimit(limit);
      await knownEnrollment(enrollmentId);
      return (await storage.mdm.listCommands(enrollmentId, { limit: n })).map(commandSummary);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// What goes in

const RequestType = z
  .string()
  .min(1, "expected a RequestType")
  .max(128)
  .regex(/^[A-Za-z0-9._-]+$/, "expected a RequestType such as DeviceInformation");

const CommandUuid = z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, "expected printable ASCII without spaces");

type CommandDict = { readonly RequestType: string } & { readonly [key: string]: PlistValue };

/** The command dictionary and its CommandUUID; an AdminError (admin.invalid) for anything else. */
function commandOf(input: unknown, newCommandUuid: () => string): { readonly commandUuid: string; readonly command: CommandDict } {
  const value = asPlistValue(input, "(command)", 0);
  if (!isDict(value)) throw invalid("expected a dictionary: the command ({\"RequestType\": …}) or {\"Command\": {…}, \"CommandUUID\"?: …}");
  let dict: { readonly [key: string]: PlistValue } = value;
  let commandUuid = newCommandUuid();
  if ("Command" in value) {
    const extra = Object.keys(value).filter((key) => key !== "Command" && key !== "CommandUUID");
    if (extra.length > 0) throw invalid(`a whole command has only Command and CommandUUID, not ${extra.join(", ")}`);
    const inner = value["Command"];
    if (!isDict(inner)) throw invalid("Command: expected a dictionary");
    dict = inner;
    if (value["CommandUUID"] !== undefined) {
      const given = CommandUuid.safeParse(value["CommandUUID"]);
      if (!given.success) throw invalid(`CommandUUID: ${given.error.issues.map((i) => i.message).join("; ")}`);
      commandUuid = given.data;
    }
  }
  const requestType = RequestType.safeParse(dict["RequestType"]);
  if (!requestType.success) throw invalid(`RequestType: ${requestType.error.issues.map((i) => i.message).join("; ")}`);
  const command = { ...dict, RequestType: requestType.data };
  // What the device will parse: the same check the store makes before it writes.
  if (!MdmCommand.safeParse({ CommandUUID: commandUuid, Command: command }).success) throw invalid("not an MDM command");
  return { commandUuid, command };
}

function invalid(message: string): AdminError {
  return new AdminError("admin.invalid", message);
}

function isDict(value: PlistValue): value is { [key: string]: PlistValue } {
  return typeof value === "object" && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array);
}

// Outside XML 1.0 Char: such a character cannot be in a plist.
const notXmlChar = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A decoded JSON or plist value as a plist value; null, NaN, Infinity and the like are refused with their path. */
function asPlistValue(value: unknown, path: string, depth: number): PlistValue {
  if (typeof value === "string") {
    if (notXmlChar.test(value)) throw invalid(`${path}: a character a plist cannot hold`);
    return value;
  }
  if (typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw invalid(`${path}: expected a finite number`);
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) throw invalid(`${path}: an integer beyond 2^53`);
    return value;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(`${path}: an invalid date`);
    return value;
  }
  if (value instanceof Uint8Array) return value;
  if (depth >= plistMaxDepth) throw invalid(`${path}: nested deeper than ${plistMaxDepth} levels`);
  if (Array.isArray(value)) return value.map((item, i) => asPlistValue(item, `${path}[${i}]`, depth + 1));
  if (typeof value === "object" && value !== null) {
    const out: { [key: string]: PlistValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === "__proto__" || notXmlChar.test(key)) throw invalid(`${path}: a key a plist cannot hold`);
      out[key] = asPlistValue(item, `${path}.${key}`, depth + 1);
    }
    return out;
  }
  throw invalid(`${path}: ${value === null ? "null is not a plist value (leave the key out)" : `unexpected ${typeof value}`}`);
}

function parseLimit(value: unknown): number {
  const parsed = Limit.safeParse(value);
  if (!parsed.success) throw invalid(`limit: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// What comes out

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A plist value as JSON: data as base64, dates as ISO 8601. */
export function plistToJson(value: PlistValue): Json {
  if (value instanceof Uint8Array) {
    let binary = "";
    for (const byte of value) binary += String.fromCharCode(byte);
    return btoa(binary);
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plistToJson);
  if (typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(value)) out[key] = plistToJson(item);
    return out;
  }
  return value;
}

/** A stored plist as JSON; one that does not parse (it always did when it was stored) as its text. */
function plistTextToJson(text: string): Json {
  const parsed = parsePlist(text);
  return parsed.ok ? plistToJson(parsed.value) : text;
}

const iso = (at: number | null): string | null => (at === null ? null : new Date(at).toISOString());

export function commandSummary(stored: StoredMdmCommand): CommandSummary {
  return {
    commandUuid: stored.commandUuid,
    enrollment: stored.enrollmentRef,
    requestType: stored.requestType,
    status: stored.status,
    createdAt: new Date(stored.createdAt).toISOString(),
    sentAt: iso(stored.sentAt),
    answeredAt: iso(stored.answeredAt),
  };
}

export function commandView(stored: StoredMdmCommand): CommandView {
  return { ...commandSummary(stored), command: plistTextToJson(stored.command), result: stored.result === null ? null : plistTextToJson(stored.result) };
}
