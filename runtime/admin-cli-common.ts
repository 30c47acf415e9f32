// What the administration commands share: `adenroll users|enrollments|tokens|audit …`
// (runtime/admin-command.ts) and `adenroll commands …` (runtime/commands-command.ts). Either
//   --server URL            a running server's admin API, with the admin token from
//                           --admin-token-file FILE or ADENROLL_ADMIN_TOKEN;
//   --database URL / --data DIR   the storage itself (no running server may hold DIR/pglite).
// Exit codes: 0 done, 1 failed (unreachable, not found, conflict, refused), 2 bad usage.
// Human-readable lines by default; --json for scripts.
import { stat } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";
import { serverErrors } from "../spec/index.ts";
import { AdminError, type AdminErrorCode } from "./admin.ts";
import { adminApiPrefix } from "./admin-api.ts";
import { readAdminTokenFile } from "./admin-token.ts";
import type { RandomBytes } from "./crypto.ts";
import { defaultDataDir } from "./data-folder.ts";
import { DataFolderInUseError, lockDataFolder } from "./data-lock.ts";
import type { ScryptCost } from "./directory.ts";
import { messageOf, systemErrorCode } from "./error-text.ts";
import type { Io } from "./serve.ts";
import { openStorage, type OpenedStorage } from "./storage/open-storage.ts";

/** What the commands take from outside besides their arguments (injected by tests). */
export interface AdminCommandContext {
  /** The first line of standard input (--password-stdin); default: the process's, without echo on a terminal. */
  readonly stdin?: () => Promise<string>;
  /** The environment (ADENROLL_ADMIN_TOKEN); default: the process's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly fetch?: (request: Request) => Promise<Response>;
  readonly random?: RandomBytes;
  /** scrypt cost of passwords hashed in direct mode (default: production). */
  readonly scryptCost?: number | ScryptCost;
  readonly now?: () => number;
}

export const connectionHelp = `Where the data is (one of):
  --server URL             a running server's admin API; the admin token comes from
  --admin-token-file FILE    this file, or the ADENROLL_ADMIN_TOKEN environment variable
  --database URL           a postgres:// database, directly
  --data DIR               the embedded database in DIR/pglite, directly, when no server holds it
                           (default ./.adenroll)
Output:
  --json                   JSON for scripts instead of lines
  -h, --help               this help`;

/** parseArgs's option declarations. */
export type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

const connectionOptions = {
  server: { type: "string" },
  "admin-token-file": { type: "string" },
  database: { type: "string" },
  data: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionsConfig;

/** A failure with its exit code: 1 (it did not work) or 2 (bad usage). */
export class CommandFailure extends Error {
  override readonly name = "CommandFailure";
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

export type Flags = { readonly [key: string]: unknown };

export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === "string" ? value : undefined;
}

/** What an operation prints: `json` with --json, else `lines`. */
export interface Outcome {
  readonly json: unknown;
  readonly lines: readonly string[];
}

/** An operation whose input has been read (a password from stdin, say), to run once the data is reached. */
export interface Prepared<C> {
  run(client: C): Promise<Outcome>;
}

// ---------------------------------------------------------------------------------------------
// Arguments

/**
 * The subcommand and its arguments. Without one, or with --help, -h or help, the group's usage is
 * printed (to stderr with 2, to stdout with 0) and the exit code is returned instead.
 */
export function subcommandOf(argv: readonly string[], usage: string, io: Io): { readonly sub: string; readonly rest: readonly string[] } | number {
  const [sub, ...rest] = argv;
  if (sub === undefined) {
    io.err(usage);
    return 2;
  }
  if (sub === "--help" || sub === "-h" || sub === "help") {
    io.out(usage);
    return 0;
  }
  return { sub, rest };
}

/**
 * `name`'s flags (the connection's and `options`) and positionals. On bad usage (2) or --help (0)
 * what there is to say has been printed and the exit code is returned instead.
 */
export function parseOperation(name: string, args: readonly string[], options: OptionsConfig, help: string, io: Io): { readonly flags: Flags; readonly positionals: readonly string[] } | number {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { ...connectionOptions, ...options }, strict: true, allowPositionals: true });
  } catch (error) {
    io.err(`adenroll ${name}: ${messageOf(error)}\n\n${help}\n\n${connectionHelp}`);
    return 2;
  }
  const flags: Flags = parsed.values;
  if (flags["help"] === true) {
    io.out(`${help}\n\n${connectionHelp}`);
    return 0;
  }
  return { flags, positionals: parsed.positionals };
}

/**
 * Prepares the operation (before anything is opened), reaches the data, runs it and prints its
 * outcome; returns the exit code. Failures are printed as `adenroll NAME: …`.
 */
export async function runOperation<C>(name: string, flags: Flags, io: Io, context: AdminCommandContext, access: DataAccess<C>, prepare: () => Promise<Prepared<Connected<C>>>): Promise<number> {
  let client: Connected<C> | undefined;
  try {
    const prepared = await prepare();
    client = await connect(flags, io, context, access);
    const result = await prepared.run(client);
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

// ---------------------------------------------------------------------------------------------
// Reaching the data

/** A request to the admin API (under adminApiPrefix): its answer parsed with `schema`, or the error to report. */
export type AdminApiCall = <S extends z.ZodType>(method: string, route: string, schema: S, body?: unknown) => Promise<z.output<S>>;

/** How one command family reaches the data. */
export interface DataAccess<C> {
  /** Who holds the data folder meanwhile, as its lock names it (e.g. "an adenroll admin command"). */
  readonly holder: string;
  /** The warning's end for a plain-http --server (e.g. "the admin token crosses the network unencrypted"). */
  readonly plainHttpRisk: string;
  /** The client over storage, acting as `actor` (admin:cli), with the context's clock and randomness. */
  readonly direct: (storage: OpenedStorage, actor: string, context: AdminCommandContext) => C;
  /** The client over a running server's admin API. */
  readonly remote: (call: AdminApiCall) => C;
}

export type Connected<C> = C & { close(): Promise<void> };

async function connect<C>(flags: Flags, io: Io, context: AdminCommandContext, access: DataAccess<C>): Promise<Connected<C>> {
  const server = stringFlag(flags, "server");
  const database = stringFlag(flags, "database");
  const data = stringFlag(flags, "data");
  const tokenFile = stringFlag(flags, "admin-token-file");
  if (server !== undefined) {
    if (database !== undefined || data !== undefined) throw new CommandFailure("--server talks to a running server: it does not go with --database or --data", 2);
    const call = adminApiCaller(server, await adminToken(tokenFile, context), io, context, access.plainHttpRisk);
    return { ...access.remote(call), close: async () => undefined };
  }
  if (tokenFile !== undefined) throw new CommandFailure("--admin-token-file goes with --server", 2);
  if (database !== undefined && data !== undefined) throw new CommandFailure("give one of --database or --data", 2);
  if (database !== undefined) {
    if (!/^postgres(ql)?:\/\//i.test(database)) throw new CommandFailure(`--database must be a postgres:// URL, got ${JSON.stringify(database)}`, 2);
    const storage = await openStorage({ database }).catch((error: unknown) => {
      throw new CommandFailure(`cannot reach the database: ${messageOf(error)}`, 1);
    });
    return directClient(access, storage, context, async () => undefined);
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
    lock = await lockDataFolder(dataDir, access.holder);
  } catch (error) {
    if (error instanceof DataFolderInUseError) throw new CommandFailure(`${error.message}: while a server runs, use --server URL`, 1);
    throw error;
  }
  try {
    const storage = await openStorage({ dataDir: pgliteDir });
    return directClient(access, storage, context, () => lock.release());
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/** Acts on storage directly, as admin:cli; closing it closes the storage, then releases the data folder. */
function directClient<C>(access: DataAccess<C>, storage: OpenedStorage, context: AdminCommandContext, release: () => Promise<void>): Connected<C> {
  return {
    ...access.direct(storage, "admin:cli", context),
    async close() {
      try {
        await storage.close();
      } finally {
        await release();
      }
    },
  };
}

/** The context's clock and randomness as the services take them (unset: the services' own). */
export function clockAndRandom(context: AdminCommandContext): { readonly now?: () => number; readonly random?: RandomBytes } {
  return { ...(context.now === undefined ? {} : { now: context.now }), ...(context.random === undefined ? {} : { random: context.random }) };
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

/** Requests to a running server's admin API with the admin token; warns when it would cross the network in clear. */
function adminApiCaller(server: string, token: string, io: Io, context: AdminCommandContext, plainHttpRisk: string): AdminApiCall {
  const origin = URL.parse(server);
  if (origin === null || (origin.protocol !== "http:" && origin.protocol !== "https:")) throw new CommandFailure(`--server must be an http(s) URL, got ${JSON.stringify(server)}`, 2);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(origin.hostname);
  if (origin.protocol === "http:" && !loopback) io.err(`adenroll: WARNING: ${origin.origin} is plain http: ${plainHttpRisk}`);
  const base = `${server.replace(/\/+$/, "")}${adminApiPrefix}`;
  const send = context.fetch ?? ((request: Request) => fetch(request));

  return async function call<S extends z.ZodType>(method: string, route: string, schema: S, body?: unknown): Promise<z.output<S>> {
    const request = new Request(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let response: Response;
    try {
      response = await send(request);
    } catch (error) {
      throw new CommandFailure(`cannot reach ${origin.origin}: ${messageOf(error)}`, 1);
    }
    const text = await response.text();
    let value: unknown;
    try {
      value = text === "" ? null : JSON.parse(text);
    } catch {
      throw new CommandFailure(`${request.method} ${route} → ${response.status}: the answer is not JSON (is ${server} an adenroll server?)`, 1);
    }
    if (!response.ok) throw problemOf(response.status, value);
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new CommandFailure(`${request.method} ${route} → ${response.status}: an answer this client does not understand`, 1);
    return parsed.data;
  };
}

const Problem = z.object({ code: z.string(), detail: z.string().optional(), title: z.string().optional() });

const adminCodes: readonly string[] = ["admin.not-found", "admin.invalid", "admin.conflict"] satisfies AdminErrorCode[];

function isAdminCode(code: string): code is AdminErrorCode {
  return adminCodes.includes(code);
}

/** A problem answer as the error the direct mode would have thrown. */
function problemOf(status: number, value: unknown): Error {
  const p = Problem.safeParse(value);
  if (!p.success) return new CommandFailure(`the server answered ${status}`, 1);
  const { code } = p.data;
  const text = p.data.detail ?? p.data.title ?? (code in serverErrors ? code : `status ${status}`);
  if (isAdminCode(code)) return new AdminError(code, text);
  if (code === "admin.unauthorized") return new CommandFailure(`the server refused the admin token (${code})`, 1);
  return new CommandFailure(`${text} (${code})`, 1);
}

// ---------------------------------------------------------------------------------------------
// Output

/** A value from storage or the network as a terminal shows it: control characters escaped. */
export function shown(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Columns padded to their widest cell, every cell shown(). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cells = [header, ...rows].map((row) => row.map(shown));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd());
}
