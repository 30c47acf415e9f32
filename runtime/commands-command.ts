// `adenroll commands …`: queue a command for an enrolled device's built-in MDM and read what the
// device answered. The admin commands' conventions (runtime/admin-cli-common.ts, shared with
// runtime/admin-command.ts): either
//   --server URL            a running server's admin API (runtime/admin-commands-api.ts), with the
//                           admin token from --admin-token-file FILE or ADENROLL_ADMIN_TOKEN;
//   --database URL / --data DIR   the storage itself (no running server may hold DIR/pglite), as admin:cli.
// The same service (runtime/mdm-commands.ts) decides and audits either way. Exit codes: 0 done, 1
// failed (unreachable, not found, conflict, refused), 2 bad usage. `--json` prints JSON for scripts.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { clockAndRandom, CommandFailure, parseOperation, runOperation, shown, stringFlag, subcommandOf, table, type AdminApiCall, type AdminCommandContext, type DataAccess, type Flags, type Prepared } from "./admin-cli-common.ts";
import { messageOf } from "./error-text.ts";
import { CommandSummary, CommandView, createCommandService } from "./mdm-commands.ts";
import { consoleIo, type Io } from "./serve.ts";
import type { OpenedStorage } from "./storage/open-storage.ts";

const usages = {
  commands: `Usage: adenroll commands <enqueue|show|list> [options]

  commands enqueue ENROLLMENT --request-type T [--keys FILE]
  commands show UUID
  commands list ENROLLMENT [--limit N]

Commands go to the enrolled device at its next poll of the command channel (the built-in MDM).`,
  "commands enqueue": `Usage: adenroll commands enqueue ENROLLMENT --request-type T [--keys FILE] [--json] [options]

Queues a command for the device of enrollment ENROLLMENT and prints its CommandUUID.
  --request-type T         the command's RequestType, e.g. DeviceInformation, ProfileList
  --keys FILE              a JSON object with the command's other keys, e.g. {"Queries": ["OSVersion"]}`,
  "commands show": `Usage: adenroll commands show UUID [--json] [options]

Shows a command: its status (queued, sent, acknowledged, error, command-format-error, not-now) and
what the device answered (plist data as base64, dates as ISO 8601).`,
  "commands list": `Usage: adenroll commands list ENROLLMENT [--limit N] [--json] [options]

Lists the enrollment's commands, newest first.
  --limit N                at most N (1–1000, default 100)`,
} as const;

const specificOptions = {
  "commands enqueue": { "request-type": { type: "string" }, keys: { type: "string" } },
  "commands show": {},
  "commands list": { limit: { type: "string" } },
} as const;

type Operation = keyof typeof specificOptions;

function isOperation(value: string): value is Operation {
  return value in specificOptions;
}

interface CommandsClient {
  enqueue(enrollment: string, command: Readonly<Record<string, unknown>>): Promise<CommandView>;
  show(commandUuid: string): Promise<CommandView>;
  list(enrollment: string, limit?: string): Promise<CommandSummary[]>;
}

/** Runs `adenroll commands …argv`; returns the exit code. */
export async function runCommandsCommand(argv: readonly string[], io: Io = consoleIo, context: AdminCommandContext = {}): Promise<number> {
  const subcommand = subcommandOf(argv, usages.commands, io);
  if (typeof subcommand === "number") return subcommand;
  const { sub, rest } = subcommand;
  const name = `commands ${sub}`;
  if (!isOperation(name)) {
    io.err(`adenroll commands: unknown subcommand ${JSON.stringify(sub)} (one of enqueue, show, list)\n\n${usages.commands}`);
    return 2;
  }
  const help = usages[name];
  const parsed = parseOperation(name, rest, specificOptions[name], help, io);
  if (typeof parsed === "number") return parsed;
  const [first, ...extra] = parsed.positionals;
  if (first === undefined || extra.length > 0) {
    io.err(`adenroll ${name}: expected ${name === "commands show" ? "UUID" : "ENROLLMENT"}, got ${parsed.positionals.length === 0 ? "none" : parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}\n\n${help}`);
    return 2;
  }
  return runOperation(name, parsed.flags, io, context, commandsAccess, () => operationOf(name, first, parsed.flags));
}

const JsonObject = z.record(z.string(), z.unknown());

/** Reads what the operation needs (the --keys file) before anything is opened. */
async function operationOf(name: Operation, first: string, flags: Flags): Promise<Prepared<CommandsClient>> {
  switch (name) {
    case "commands enqueue": {
      const requestType = stringFlag(flags, "request-type");
      if (requestType === undefined) throw new CommandFailure("--request-type is required", 2);
      const file = stringFlag(flags, "keys");
      let keys: Record<string, unknown> = {};
      if (file !== undefined) {
        let value: unknown;
        try {
          value = JSON.parse(await readFile(file, "utf8"));
        } catch (error) {
          throw new CommandFailure(`cannot read the command's keys from ${file}: ${messageOf(error)}`, 2);
        }
        const object = JsonObject.safeParse(value);
        if (!object.success || Array.isArray(value)) throw new CommandFailure(`${file} must hold a JSON object: the command's keys besides RequestType`, 2);
        keys = object.data;
        if (keys["RequestType"] !== undefined && keys["RequestType"] !== requestType) throw new CommandFailure(`${file} names RequestType ${JSON.stringify(keys["RequestType"])}, not ${requestType}`, 2);
      }
      const command = { ...keys, RequestType: requestType };
      return {
        async run(client) {
          const queued = await client.enqueue(first, command);
          return { json: { command: queued }, lines: [`queued ${shown(queued.requestType)} for enrollment ${shown(queued.enrollment)}: CommandUUID ${shown(queued.commandUuid)}`] };
        },
      };
    }
    case "commands show":
      return {
        async run(client) {
          const command = await client.show(first);
          return { json: { command }, lines: describeCommand(command) };
        },
      };
    case "commands list": {
      const limit = stringFlag(flags, "limit");
      return {
        async run(client) {
          const commands = await client.list(first, limit);
          const rows = commands.map((c) => [c.commandUuid, c.requestType, c.status, c.createdAt, c.answeredAt ?? "-"]);
          return { json: { commands }, lines: commands.length === 0 ? ["no commands"] : table(["COMMAND UUID", "REQUEST TYPE", "STATUS", "QUEUED", "ANSWERED"], rows) };
        },
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reaching the data

/** Acts on storage directly, as `actor`. */
function directClient(storage: OpenedStorage, actor: string, context: AdminCommandContext): CommandsClient {
  const service = createCommandService({ storage, ...clockAndRandom(context) });
  return {
    enqueue: (enrollment, command) => service.enqueue(actor, enrollment, command),
    show: (uuid) => service.show(uuid),
    list: (enrollment, limit) => service.list(enrollment, limit),
  };
}

const commandAnswer = z.object({ command: CommandView });
const commandsAnswer = z.object({ commands: z.array(CommandSummary) });

/** Talks to a running server's admin API (runtime/admin-commands-api.ts). */
function remoteClient(call: AdminApiCall): CommandsClient {
  const enrollmentCommands = (id: string) => `/enrollments/${encodeURIComponent(id)}/commands`;
  return {
    enqueue: async (enrollment, command) => (await call("POST", enrollmentCommands(enrollment), commandAnswer, command)).command,
    show: async (uuid) => (await call("GET", `/commands/${encodeURIComponent(uuid)}`, commandAnswer)).command,
    list: async (enrollment, limit) => (await call("GET", `${enrollmentCommands(enrollment)}${limit === undefined ? "" : `?limit=${encodeURIComponent(limit)}`}`, commandsAnswer)).commands,
  };
}

const commandsAccess: DataAccess<CommandsClient> = {
  holder: "an adenroll commands command",
  plainHttpRisk: "the admin token crosses the network unencrypted",
  direct: directClient,
  remote: remoteClient,
};

// ---------------------------------------------------------------------------------------------
// Output

function describeCommand(c: CommandView): string[] {
  const rows: [string, string][] = [
    ["command uuid", c.commandUuid],
    ["enrollment", c.enrollment],
    ["request type", c.requestType],
    ["status", c.status],
    ["queued", c.createdAt],
    ["sent", c.sentAt ?? "-"],
    ["answered", c.answeredAt ?? "-"],
  ];
  const lines = rows.map(([key, value]) => `${key.padEnd(13)} ${shown(value)}`);
  lines.push("command", ...indented(c.command));
  lines.push(c.result === null ? "result        none yet" : "result", ...(c.result === null ? [] : indented(c.result)));
  return lines;
}

function indented(value: unknown): string[] {
  return JSON.stringify(value, null, 2).split("\n").map((line) => `  ${shown(line)}`);
}
