// `adenroll commands …`: queue a command for an enrolled device's built-in MDM and read what the
// device answered. The admin commands' conventions (runtime/admin-command.ts): either
//   --server URL            a running server's admin API (runtime/admin-commands-api.ts), with the
//                           admin token from --admin-token-file FILE or ADENROLL_ADMIN_TOKEN;
//   --database URL / --data DIR   the storage itself (no running server may hold DIR/pglite), as admin:cli.
// The same service (runtime/mdm-commands.ts) decides and audits either way. Exit codes: 0 done, 1
// failed (unreachable, not found, conflict, refused), 2 bad usage. `--json` prints JSON for scripts
// (for `enqueue`, `--json FILE` is the command's other keys instead).
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { z } from "zod";
import { serverErrors } from "../spec/index.ts";
import { AdminError, type AdminErrorCode } from "./admin.ts";
import { adminApiPrefix } from "./admin-api.ts";
import type { AdminCommandContext } from "./admin-command.ts";
import { readAdminTokenFile } from "./admin-token.ts";
import { defaultDataDir } from "./data-folder.ts";
import { DataFolderInUseError, lockDataFolder } from "./data-lock.ts";
import { messageOf, systemErrorCode } from "./error-text.ts";
import { CommandSummary, CommandView, createCommandService } from "./mdm-commands.ts";
import { consoleIo, type Io } from "./serve.ts";
import { openStorage, type OpenedStorage } from "./storage/open-storage.ts";

const connectionHelp = `Where the data is (one of):
  --server URL             a running server's admin API; the admin token comes from
  --admin-token-file FILE    this file, or the ADENROLL_ADMIN_TOKEN environment variable
  --database URL           a postgres:// database, directly
  --data DIR               the embedded database in DIR/pglite, directly, when no server holds it
                           (default ./.adenroll)
  -h, --help               this help`;

const usages = {
  commands: `Usage: adenroll commands <enqueue|show|list> [options]

  commands enqueue ENROLLMENT --request-type T [--json FILE]
  commands show UUID
  commands list ENROLLMENT [--limit N]

Commands go to the enrolled device at its next poll of the command channel (the built-in MDM).`,
  "commands enqueue": `Usage: adenroll commands enqueue ENROLLMENT --request-type T [--json FILE] [options]

Queues a command for the device of enrollment ENROLLMENT and prints its CommandUUID.
  --request-type T         the command's RequestType, e.g. DeviceInformation, ProfileList
  --json FILE              a JSON object with the command's other keys, e.g. {"Queries": ["OSVersion"]}`,
  "commands show": `Usage: adenroll commands show UUID [--json] [options]

Shows a command: its status (queued, sent, acknowledged, error, command-format-error, not-now) and
what the device answered (plist data as base64, dates as ISO 8601).
  --json                   JSON for scripts`,
  "commands list": `Usage: adenroll commands list ENROLLMENT [--limit N] [--json] [options]

Lists the enrollment's commands, newest first.
  --limit N                at most N (1–1000, default 100)
  --json                   JSON for scripts`,
} as const;

const connectionOptions = {
  server: { type: "string" },
  "admin-token-file": { type: "string" },
  database: { type: "string" },
  data: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const specificOptions = {
  "commands enqueue": { "request-type": { type: "string" }, json: { type: "string" } },
  "commands show": { json: { type: "boolean" } },
  "commands list": { limit: { type: "string" }, json: { type: "boolean" } },
} as const;

type Operation = keyof typeof specificOptions;

function isOperation(value: string): value is Operation {
  return value in specificOptions;
}

/** A failure with its exit code: 1 (it did not work) or 2 (bad usage). */
class CommandFailure extends Error {
  override readonly name = "CommandFailure";
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

interface CommandsClient {
  enqueue(enrollment: string, command: Readonly<Record<string, unknown>>): Promise<CommandView>;
  show(commandUuid: string): Promise<CommandView>;
  list(enrollment: string, limit?: string): Promise<CommandSummary[]>;
  close(): Promise<void>;
}

/** Runs `adenroll commands …argv`; returns the exit code. */
export async function runCommandsCommand(argv: readonly string[], io: Io = consoleIo, context: AdminCommandContext = {}): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    if (sub === undefined) {
      io.err(usages.commands);
      return 2;
    }
    io.out(usages.commands);
    return 0;
  }
  const name = `commands ${sub}`;
  if (!isOperation(name)) {
    io.err(`adenroll commands: unknown subcommand ${JSON.stringify(sub)} (one of enqueue, show, list)\n\n${usages.commands}`);
    return 2;
  }
  const help = usages[name];
  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options: { ...connectionOptions, ...specificOptions[name] }, strict: true, allowPositionals: true });
  } catch (error) {
    io.err(`adenroll ${name}: ${messageOf(error)}\n\n${help}\n\n${connectionHelp}`);
    return 2;
  }
  const flags: Flags = parsed.values;
  if (flags["help"] === true) {
    io.out(`${help}\n\n${connectionHelp}`);
    return 0;
  }
  const [first, ...extra] = parsed.positionals;
  if (first === undefined || extra.length > 0) {
    io.err(`adenroll ${name}: expected ${name === "commands show" ? "UUID" : "ENROLLMENT"}, got ${parsed.positionals.length === 0 ? "none" : parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}\n\n${help}`);
    return 2;
  }
  let client: CommandsClient | undefined;
  try {
    const run = await operationOf(name, first, flags);
    client = await connect(flags, io, context);
    const result = await run(client);
    if (flags["json"] === true) io.out(JSON.stringify(result.json, null, 2));
    else for (const line of result.lines) io.out(line);
    return 0;
  } catch (error) {
    if (error instanceof CommandFailure) {
      io.err(`adenroll ${name}: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof AdminError) {
      io.err(`adenroll ${name}: ${error.message} (${error.code})`);
      return error.code === "admin.invalid" ? 2 : 1;
    }
    io.err(`adenroll ${name}: ${messageOf(error)}`);
    return 1;
  } finally {
    await client?.close().catch(() => undefined);
  }
}

type Flags = { readonly [key: string]: unknown };

function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === "string" ? value : undefined;
}

interface Outcome {
  readonly json: unknown;
  readonly lines: readonly string[];
}

const JsonObject = z.record(z.string(), z.unknown());

/** Reads what the operation needs (the --json file) before anything is opened. */
async function operationOf(name: Operation, first: string, flags: Flags): Promise<(client: CommandsClient) => Promise<Outcome>> {
  switch (name) {
    case "commands enqueue": {
      const requestType = stringFlag(flags, "request-type");
      if (requestType === undefined) throw new CommandFailure("--request-type is required", 2);
      const file = stringFlag(flags, "json");
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
      return async (client) => {
        const queued = await client.enqueue(first, command);
        return { json: { command: queued }, lines: [`queued ${shown(queued.requestType)} for enrollment ${shown(queued.enrollment)}: CommandUUID ${shown(queued.commandUuid)}`] };
      };
    }
    case "commands show":
      return async (client) => {
        const command = await client.show(first);
        return { json: { command }, lines: describeCommand(command) };
      };
    case "commands list": {
      const limit = stringFlag(flags, "limit");
      return async (client) => {
        const commands = await client.list(first, limit);
        const rows = commands.map((c) => [c.commandUuid, c.requestType, c.status, c.createdAt, c.answeredAt ?? "-"]);
        return { json: { commands }, lines: commands.length === 0 ? ["no commands"] : table(["COMMAND UUID", "REQUEST TYPE", "STATUS", "QUEUED", "ANSWERED"], rows) };
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reaching the data (as runtime/admin-command.ts does)

async function connect(flags: Flags, io: Io, context: AdminCommandContext): Promise<CommandsClient> {
  const server = stringFlag(flags, "server");
  const database = stringFlag(flags, "database");
  const data = stringFlag(flags, "data");
  const tokenFile = stringFlag(flags, "admin-token-file");
  if (server !== undefined) {
    if (database !== undefined || data !== undefined) throw new CommandFailure("--server talks to a running server: it does not go with --database or --data", 2);
    return remoteClient(server, await adminToken(tokenFile, context), io, context);
  }
  if (tokenFile !== undefined) throw new CommandFailure("--admin-token-file goes with --server", 2);
  if (database !== undefined && data !== undefined) throw new CommandFailure("give one of --database or --data", 2);
  if (database !== undefined) {
    if (!/^postgres(ql)?:\/\//i.test(database)) throw new CommandFailure(`--database must be a postgres:// URL, got ${JSON.stringify(database)}`, 2);
    const storage = await openStorage({ database }).catch((error: unknown) => {
      throw new CommandFailure(`cannot reach the database: ${messageOf(error)}`, 1);
    });
    return directClient(storage, async () => undefined, context);
  }
  const dataDir = path.resolve(data ?? defaultDataDir);
  const pgliteDir = path.join(dataDir, "pglite");
  try {
    await stat(pgliteDir);
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") throw new CommandFailure(`no embedded database in ${pgliteDir} (has \`adenroll serve --data ${dataDir}\` run there? or give --server / --database)`, 1);
    throw error;
  }
  let lock;
  try {
    lock = await lockDataFolder(dataDir, "an adenroll commands command");
  } catch (error) {
    if (error instanceof DataFolderInUseError) throw new CommandFailure(`${error.message}: while a server runs, use --server URL`, 1);
    throw error;
  }
  try {
    const storage = await openStorage({ dataDir: pgliteDir });
    return directClient(storage, () => lock.release(), context);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function adminToken(file: string | undefined, context: AdminCommandContext): Promise<string> {
  if (file !== undefined) {
    try {
      return await readAdminTokenFile(file);
    } catch (error) {
      throw new CommandFailure(`cannot read the admin token: ${messageOf(error)}`, 2);
    }
  }
  const fromEnv = (context.env ?? process.env)["ADENROLL_ADMIN_TOKEN"]?.trim();
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  throw new CommandFailure("--server needs the admin token: --admin-token-file FILE or the ADENROLL_ADMIN_TOKEN environment variable", 2);
}

function directClient(storage: OpenedStorage, release: () => Promise<void>, context: AdminCommandContext): CommandsClient {
  const service = createCommandService({
    storage,
    ...(context.now === undefined ? {} : { now: context.now }),
    ...(context.random === undefined ? {} : { random: context.random }),
  });
  return {
    enqueue: (enrollment, command) => service.enqueue("admin:cli", enrollment, command),
    show: (uuid) => service.show(uuid),
    list: (enrollment, limit) => service.list(enrollment, limit),
    async close() {
      try {
        await storage.close();
      } finally {
        await release();
      }
    },
  };
}

const commandAnswer = z.object({ command: CommandView });
const commandsAnswer = z.object({ commands: z.array(CommandSummary) });
const Problem = z.object({ code: z.string(), detail: z.string().optional(), title: z.string().optional() });
const adminCodes: readonly string[] = ["admin.not-found", "admin.invalid", "admin.conflict"] satisfies AdminErrorCode[];

function isAdminCode(code: string): code is AdminErrorCode {
  return adminCodes.includes(code);
}

function remoteClient(server: string, token: string, io: Io, context: AdminCommandContext): CommandsClient {
  const origin = URL.parse(server);
  if (origin === null || (origin.protocol !== "http:" && origin.protocol !== "https:")) throw new CommandFailure(`--server must be an http(s) URL, got ${JSON.stringify(server)}`, 2);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(origin.hostname);
  if (origin.protocol === "http:" && !loopback) io.err(`adenroll: WARNING: ${origin.origin} is plain http: the admin token crosses the network unencrypted`);
  const base = `${server.replace(/\/+$/, "")}${adminApiPrefix}`;
  const send = context.fetch ?? ((request: Request) => fetch(request));

  async function call<S extends z.ZodType>(method: string, route: string, schema: S, body?: unknown): Promise<z.output<S>> {
    const request = new Request(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let response: Response;
    try {
      response = await send(request);
    } catch (error) {
      throw new CommandFailure(`cannot reach ${origin?.origin ?? server}: ${messageOf(error)}`, 1);
    }
    const text = await response.text();
    let value: unknown;
    try {
      value = text === "" ? null : JSON.parse(text);
    } catch {
      throw new CommandFailure(`${method} ${route} → ${response.status}: the answer is not JSON (is ${server} an adenroll server?)`, 1);
    }
    if (!response.ok) {
      const p = Problem.safeParse(value);
      if (!p.success) throw new CommandFailure(`the server answered ${response.status}`, 1);
      const text = p.data.detail ?? p.data.title ?? (p.data.code in serverErrors ? p.data.code : `status ${response.status}`);
      if (isAdminCode(p.data.code)) throw new AdminError(p.data.code, text);
      if (p.data.code === "admin.unauthorized") throw new CommandFailure(`the server refused the admin token (${p.data.code})`, 1);
      throw new CommandFailure(`${text} (${p.data.code})`, 1);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new CommandFailure(`${method} ${route} → ${response.status}: an answer this client does not understand`, 1);
    return parsed.data;
  }

  const enrollmentCommands = (id: string) => `/enrollments/${encodeURIComponent(id)}/commands`;
  return {
    enqueue: async (enrollment, command) => (await call("POST", enrollmentCommands(enrollment), commandAnswer, command)).command,
    show: async (uuid) => (await call("GET", `/commands/${encodeURIComponent(uuid)}`, commandAnswer)).command,
    list: async (enrollment, limit) => (await call("GET", `${enrollmentCommands(enrollment)}${limit === undefined ? "" : `?limit=${encodeURIComponent(limit)}`}`, commandsAnswer)).commands,
    close: async () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

/** A value from storage or the network as a terminal shows it: control characters escaped. */
function shown(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cells = [header, ...rows].map((row) => row.map(shown));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd());
}

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
