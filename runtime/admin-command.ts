// The administration commands: `adenroll users …`, `adenroll enrollments …`, `adenroll tokens
// revoke …`, `adenroll audit list` and `adenroll admin-token`. Two ways to the data:
//   --server URL            the admin API of a running server (runtime/admin-api.ts), with the admin
//                           token from --admin-token-file FILE or ADENROLL_ADMIN_TOKEN;
//   --database URL / --data DIR   the storage itself (PostgreSQL, or the embedded PGlite in DIR/pglite,
//                           which no running server may hold), acting as admin:cli.
// Either way the same admin service decides and audits. Exit codes: 0 done, 1 failed (unreachable,
// not found, conflict, refused), 2 bad usage. Human-readable lines by default; --json for scripts.
// The connection, flags, output and exit codes are runtime/admin-cli-common.ts's (shared with
// `adenroll commands`).
import process from "node:process";
import { parseArgs } from "node:util";
import { z } from "zod";
import {
  AuditView,
  createAdminService,
  EnrollmentChange,
  EnrollmentView,
  RevokeResult,
  UserView,
  type AdminService,
  type EnrollmentQuery,
  type RevokeTarget,
} from "./admin.ts";
import { clockAndRandom, CommandFailure, parseOperation, runOperation, shown, stringFlag, subcommandOf, table, type AdminApiCall, type AdminCommandContext, type DataAccess, type Flags, type Prepared } from "./admin-cli-common.ts";
import { newAdminToken } from "./admin-token.ts";
import { readStdinLine } from "./device-command.ts";
import { messageOf } from "./error-text.ts";
import { consoleIo, type Io } from "./serve.ts";
import type { OpenedStorage } from "./storage/open-storage.ts";

export type { AdminCommandContext } from "./admin-cli-common.ts";

export const adminCommandNames = ["users", "enrollments", "tokens", "audit", "admin-token"] as const;

const usages = {
  users: `Usage: adenroll users <add|list|remove|set-password> [options]

  users add USER --managed-apple-id M [--password-stdin] [--enrollment-type mdm-byod|mdm-adde]
  users list
  users remove USER            (users added by administration; config users live in the config file)
  users set-password USER --password-stdin

Passwords are read from the first line of standard input (at least 8 characters) and stored as scrypt hashes.`,
  "users add": `Usage: adenroll users add USER --managed-apple-id M [--password-stdin] [--enrollment-type mdm-byod|mdm-adde] [options]

Adds a user who is kept across restarts (the configuration does not name it).
  --managed-apple-id M     the Managed Apple Account the profile names
  --password-stdin         read the password from the first line of standard input (at least 8 characters);
                           without it the user has no password here
  --enrollment-type T      mdm-byod or mdm-adde instead of the domain's`,
  "users list": `Usage: adenroll users list [options]

Lists the users: identifier, Managed Apple Account, enrollment type, password, source (config or admin).`,
  "users remove": `Usage: adenroll users remove USER [options]

Removes a user added by administration (a configuration's user is removed from the config file).
Its enrolled devices keep their tokens until they expire: \`adenroll tokens revoke --user USER\` ends them now.`,
  "users set-password": `Usage: adenroll users set-password USER --password-stdin [options]

Sets the password of a user added by administration, read from the first line of standard input.`,
  enrollments: `Usage: adenroll enrollments <list|show|unenroll> [options]

  enrollments list [--user U] [--state S] [--limit N]
  enrollments show ID
  enrollments unenroll ID      the device's next request gets 403 com.apple.unrecognized.device`,
  "enrollments list": `Usage: adenroll enrollments list [--user U] [--state S] [--limit N] [options]

Lists enrollments, most recently changed first.
  --user U                 only this user's
  --state S                only those in this state of the server machine (e.g. enrolled, tokenInvalidated)
  --limit N                at most N (1–1000, default 100)`,
  "enrollments show": `Usage: adenroll enrollments show ID [options]

Shows one enrollment (a token hash is shown by its first characters only).`,
  "enrollments unenroll": `Usage: adenroll enrollments unenroll ID [options]

Unenrolls the device: its next request is answered 403 {"code":"com.apple.unrecognized.device"}.`,
  tokens: `Usage: adenroll tokens revoke (--user U | --enrollment ID) [options]

Invalidates the access token of each of the user's enrollments, or of one: the device's next request
is answered 401 with its challenge, and the person must sign in again.`,
  "tokens revoke": `Usage: adenroll tokens revoke (--user U | --enrollment ID) [options]

Invalidates the access token of each of the user's enrollments, or of one: the device's next request
is answered 401 with its challenge, and the person must sign in again.
  --user U                 every enrollment of this user
  --enrollment ID          this enrollment`,
  audit: `Usage: adenroll audit list [--limit N] [options]

Shows the audit log, newest first: when, who, what, on what.`,
  "audit list": `Usage: adenroll audit list [--limit N] [options]

Shows the audit log, newest first: when, who, what, on what.
  --limit N                at most N entries (1–1000, default 100)`,
  "admin-token": `Usage: adenroll admin-token [--name NAME] [--json]

Prints a new admin token (256 random bits) and its SHA-256 for the config file's admin.tokens.
The token is shown once: keep it where the admin client reads it (--admin-token-file, ADENROLL_ADMIN_TOKEN).
  --name NAME              the name the audit log shows as admin:NAME (default admin)
  --json                   JSON for scripts
  -h, --help               this help`,
} as const;

type UsageKey = keyof typeof usages;

const subcommands: Readonly<Record<string, readonly string[]>> = {
  users: ["add", "list", "remove", "set-password"],
  enrollments: ["list", "show", "unenroll"],
  tokens: ["revoke"],
  audit: ["list"],
};

const specificOptions = {
  "users add": { "managed-apple-id": { type: "string" }, "password-stdin": { type: "boolean" }, "enrollment-type": { type: "string" } },
  "users list": {},
  "users remove": {},
  "users set-password": { "password-stdin": { type: "boolean" } },
  "enrollments list": { user: { type: "string" }, state: { type: "string" }, limit: { type: "string" } },
  "enrollments show": {},
  "enrollments unenroll": {},
  "tokens revoke": { user: { type: "string" }, enrollment: { type: "string" } },
  "audit list": { limit: { type: "string" } },
} as const;

type Operation = keyof typeof specificOptions;

/** How many positional arguments (after the subcommand) each operation takes. */
const positionals: Readonly<Record<Operation, readonly string[]>> = {
  "users add": ["USER"],
  "users list": [],
  "users remove": ["USER"],
  "users set-password": ["USER"],
  "enrollments list": [],
  "enrollments show": ["ID"],
  "enrollments unenroll": ["ID"],
  "tokens revoke": [],
  "audit list": [],
};

function isOperation(value: string): value is Operation {
  return value in specificOptions;
}

function isUsageKey(value: string): value is UsageKey {
  return value in usages;
}

/** The operations, whether over HTTP or on storage. */
interface AdminClient {
  listUsers(): Promise<UserView[]>;
  addUser(input: { userIdentifier: string; managedAppleId: string; password?: string; enrollmentType?: string }): Promise<UserView>;
  removeUser(userIdentifier: string): Promise<UserView>;
  setPassword(userIdentifier: string, password: string): Promise<UserView>;
  listEnrollments(query: EnrollmentQuery): Promise<EnrollmentView[]>;
  showEnrollment(id: string): Promise<EnrollmentView>;
  unenroll(id: string): Promise<EnrollmentChange>;
  revokeTokens(target: RevokeTarget): Promise<RevokeResult>;
  listAudit(limit?: string): Promise<AuditView[]>;
}

/** Runs `adenroll <command> …argv` for an administration command; returns the exit code. */
export async function runAdminCommand(command: string, argv: readonly string[], io: Io = consoleIo, context: AdminCommandContext = {}): Promise<number> {
  if (command === "admin-token") return runAdminToken(argv, io, context);
  const group = isUsageKey(command) ? command : undefined;
  if (group === undefined) {
    io.err(`adenroll: unknown command ${JSON.stringify(command)}`);
    return 2;
  }
  const subcommand = subcommandOf(argv, usages[group], io);
  if (typeof subcommand === "number") return subcommand;
  const { sub, rest } = subcommand;
  const name = `${command} ${sub}`;
  if (!isOperation(name)) {
    io.err(`adenroll ${command}: unknown subcommand ${JSON.stringify(sub)} (one of ${(subcommands[command] ?? []).join(", ")})\n\n${usages[group]}`);
    return 2;
  }
  const help = usages[name];
  const parsed = parseOperation(name, rest, specificOptions[name], help, io);
  if (typeof parsed === "number") return parsed;
  const expected = positionals[name];
  if (parsed.positionals.length !== expected.length) {
    io.err(`adenroll ${name}: expected ${expected.length === 0 ? "no arguments" : expected.join(" ")}, got ${parsed.positionals.length === 0 ? "none" : parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}\n\n${help}`);
    return 2;
  }
  return runOperation(name, parsed.flags, io, context, adminAccess, () => operationOf(name, parsed.positionals, parsed.flags, context));
}

// ---------------------------------------------------------------------------------------------
// The operations

/** Reads what the operation needs (a password from stdin, say) before anything is opened. */
async function operationOf(name: Operation, args: readonly string[], flags: Flags, context: AdminCommandContext): Promise<Prepared<AdminClient>> {
  const [first = ""] = args;
  const readPassword = async (): Promise<string> => {
    const password = await (context.stdin ?? readPasswordLine)();
    if (password.length < 8) throw new CommandFailure("the password must have at least 8 characters", 2);
    return password;
  };
  switch (name) {
    case "users add": {
      const managedAppleId = stringFlag(flags, "managed-apple-id");
      if (managedAppleId === undefined) throw new CommandFailure("--managed-apple-id is required", 2);
      const enrollmentType = stringFlag(flags, "enrollment-type");
      if (enrollmentType !== undefined && enrollmentType !== "mdm-byod" && enrollmentType !== "mdm-adde") throw new CommandFailure("--enrollment-type is mdm-byod or mdm-adde", 2);
      const password = flags["password-stdin"] === true ? await readPassword() : undefined;
      const input = { userIdentifier: first, managedAppleId, ...(password === undefined ? {} : { password }), ...(enrollmentType === undefined ? {} : { enrollmentType }) };
      return {
        async run(client) {
          const user = await client.addUser(input);
          return { json: { user }, lines: [`added ${describeUser(user)}`] };
        },
      };
    }
    case "users list":
      return {
        async run(client) {
          const users = await client.listUsers();
          const rows = users.map((u) => [u.userIdentifier, u.managedAppleId, u.enrollmentType ?? "(domain's)", u.hasPassword ? "password" : "no password", u.source]);
          return { json: { users }, lines: users.length === 0 ? ["no users"] : table(["USER", "MANAGED APPLE ID", "TYPE", "PASSWORD", "SOURCE"], rows) };
        },
      };
    case "users remove":
      return {
        async run(client) {
          const user = await client.removeUser(first);
          return { json: { user }, lines: [`removed ${shown(user.userIdentifier)}`] };
        },
      };
    case "users set-password": {
      if (flags["password-stdin"] !== true) throw new CommandFailure("--password-stdin is required (a password is never taken from the command line)", 2);
      const password = await readPassword();
      return {
        async run(client) {
          const user = await client.setPassword(first, password);
          return { json: { user }, lines: [`password set for ${shown(user.userIdentifier)}`] };
        },
      };
    }
    case "enrollments list": {
      const user = stringFlag(flags, "user");
      const state = stringFlag(flags, "state");
      const limit = stringFlag(flags, "limit");
      const query: EnrollmentQuery = { ...(user === undefined ? {} : { user }), ...(state === undefined ? {} : { state }), ...(limit === undefined ? {} : { limit }) };
      return {
        async run(client) {
          const enrollments = await client.listEnrollments(query);
          const rows = enrollments.map((e) =>
            e.trusted ? [e.id, e.state, e.userIdentifier ?? "-", e.version, `${e.product} ${e.osVersion}`, e.updatedAt] : [e.id, "UNTRUSTED", e.problem, "", "", e.updatedAt],
          );
          return { json: { enrollments }, lines: enrollments.length === 0 ? ["no enrollments"] : table(["ID", "STATE", "USER", "TYPE", "DEVICE", "UPDATED"], rows) };
        },
      };
    }
    case "enrollments show":
      return {
        async run(client) {
          const enrollment = await client.showEnrollment(first);
          return { json: { enrollment }, lines: describeEnrollment(enrollment) };
        },
      };
    case "enrollments unenroll":
      return {
        async run(client) {
          const change = await client.unenroll(first);
          return {
            json: { change },
            lines: [`unenrolled ${shown(change.id)} (${shown(change.from)} → ${shown(change.to)}): its device's next request gets 403 com.apple.unrecognized.device`],
          };
        },
      };
    case "tokens revoke": {
      const user = stringFlag(flags, "user");
      const enrollment = stringFlag(flags, "enrollment");
      if ((user === undefined) === (enrollment === undefined)) throw new CommandFailure("give exactly one of --user U or --enrollment ID", 2);
      const target: RevokeTarget = user !== undefined ? { user } : { enrollment: enrollment ?? "" };
      return {
        async run(client) {
          const result = await client.revokeTokens(target);
          const lines = result.revoked.map(
            (c) => `${c.hadToken ? "revoked the token of" : "no token to revoke in"} ${shown(c.id)} (${shown(c.userIdentifier ?? "-")}; ${shown(c.from)} → ${shown(c.to)})`,
          );
          for (const s of result.skipped) lines.push(`skipped ${shown(s.id)}: ${shown(s.problem)}`);
          const n = result.revoked.filter((c) => c.hadToken).length;
          lines.push(`${n} token(s) revoked: ${n === 0 ? "nothing to do" : "those devices get 401 with their challenge until the person signs in again"}`);
          return { json: result, lines };
        },
      };
    }
    case "audit list": {
      const limit = stringFlag(flags, "limit");
      return {
        async run(client) {
          const entries = await client.listAudit(limit);
          const rows = entries.map((e) => [e.at, e.actor, e.action, e.subject, JSON.stringify(e.detail)]);
          return { json: { entries }, lines: entries.length === 0 ? ["the audit log is empty"] : table(["AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"], rows) };
        },
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reaching the data

/** Acts on storage directly, as `actor`. */
function directClient(storage: OpenedStorage, actor: string, context: AdminCommandContext): AdminClient {
  const service: AdminService = createAdminService({
    storage,
    ...clockAndRandom(context),
    ...(context.scryptCost === undefined ? {} : { scryptCost: context.scryptCost }),
  });
  return {
    listUsers: () => service.listUsers(),
    addUser: (input) => service.addUser(actor, input),
    removeUser: (id) => service.removeUser(actor, id),
    setPassword: (id, password) => service.setPassword(actor, id, password),
    listEnrollments: (query) => service.listEnrollments(query),
    showEnrollment: (id) => service.showEnrollment(id),
    unenroll: (id) => service.unenroll(actor, id),
    revokeTokens: (target) => service.revokeTokens(actor, target),
    listAudit: (limit) => service.listAudit(limit),
  };
}

/** Talks to a running server's admin API. */
function remoteClient(call: AdminApiCall): AdminClient {
  const user = (id: string) => `/users/${encodeURIComponent(id)}`;
  const enrollment = (id: string) => `/enrollments/${encodeURIComponent(id)}`;
  return {
    listUsers: async () => (await call("GET", "/users", usersAnswer)).users,
    addUser: async (input) => (await call("POST", "/users", userAnswer, input)).user,
    removeUser: async (id) => (await call("DELETE", user(id), userAnswer)).user,
    setPassword: async (id, password) => (await call("PUT", `${user(id)}/password`, userAnswer, { password })).user,
    async listEnrollments(query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
      const search = params.size === 0 ? "" : `?${params.toString()}`;
      return (await call("GET", `/enrollments${search}`, enrollmentsAnswer)).enrollments;
    },
    showEnrollment: async (id) => (await call("GET", enrollment(id), enrollmentAnswer)).enrollment,
    unenroll: async (id) => (await call("POST", `${enrollment(id)}/unenroll`, changeAnswer)).change,
    revokeTokens: (target) => call("POST", "/tokens/revoke", RevokeResult, target),
    listAudit: async (limit) => (await call("GET", `/audit${limit === undefined ? "" : `?limit=${encodeURIComponent(limit)}`}`, auditAnswer)).entries,
  };
}

const adminAccess: DataAccess<AdminClient> = {
  holder: "an adenroll admin command",
  plainHttpRisk: "the admin token and any password cross the network unencrypted",
  direct: directClient,
  remote: remoteClient,
};

const usersAnswer = z.object({ users: z.array(UserView) });
const userAnswer = z.object({ user: UserView });
const enrollmentsAnswer = z.object({ enrollments: z.array(EnrollmentView) });
const enrollmentAnswer = z.object({ enrollment: EnrollmentView });
const changeAnswer = z.object({ change: EnrollmentChange });
const auditAnswer = z.object({ entries: z.array(AuditView) });
// ---------------------------------------------------------------------------------------------
// admin-token

async function runAdminToken(argv: readonly string[], io: Io, context: AdminCommandContext): Promise<number> {
  let flags;
  try {
    flags = parseArgs({ args: [...argv], options: { name: { type: "string", default: "admin" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    io.err(`adenroll admin-token: ${messageOf(error)}\n\n${usages["admin-token"]}`);
    return 2;
  }
  if (flags.help === true) {
    io.out(usages["admin-token"]);
    return 0;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(flags.name)) {
    io.err("adenroll admin-token: --name is letters, digits, '.', '_' or '-' (at most 64)");
    return 2;
  }
  const { token, tokenHash } = await newAdminToken(context.random);
  if (flags.json === true) {
    io.out(JSON.stringify({ name: flags.name, token, tokenHash }, null, 2));
    return 0;
  }
  for (const line of [
    `token      ${token}`,
    `tokenHash  ${tokenHash}`,
    "",
    "The token is shown once: give it to the admin client (--admin-token-file FILE, or ADENROLL_ADMIN_TOKEN).",
    "Add its hash to the config file:",
    "",
    "admin:",
    "  tokens:",
    `    - name: ${flags.name}`,
    `      tokenHash: ${tokenHash}`,
  ])
    io.out(line);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Output

function describeUser(user: UserView): string {
  return `${shown(user.userIdentifier)} (${shown(user.managedAppleId)}; ${user.enrollmentType ?? "the domain's enrollment type"}; ${user.hasPassword ? "with a password" : "no password"})`;
}

function describeEnrollment(e: EnrollmentView): string[] {
  if (!e.trusted) return [`id                ${shown(e.id)}`, `UNTRUSTED         ${shown(e.problem)}`, `updated           ${e.updatedAt}`];
  const rows: [string, string][] = [
    ["id", e.id],
    ["state", e.state],
    ["user", e.userIdentifier ?? "-"],
    ["managed apple id", e.managedAppleId ?? "-"],
    ["type", e.version],
    ["device", `${e.product} ${e.osVersion}`],
    ["enrollment id", e.enrollmentId ?? "-"],
    ["token", e.token === null ? "none" : `sha256 ${e.token.hashPrefix}… (expires ${e.token.expiresAt ?? "never"})`],
    ["updated", e.updatedAt],
  ];
  return rows.map(([key, value]) => `${key.padEnd(17)} ${shown(value)}`);
}

// ---------------------------------------------------------------------------------------------
// Passwords from standard input

/** The first line of standard input; on a terminal it is prompted for and not echoed. */
async function readPasswordLine(): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY !== true) return readStdinLine();
  process.stderr.write("Password: ");
  return new Promise((resolve, reject) => {
    let typed = "";
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error === undefined) resolve(typed);
      else reject(error);
    };
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === "\r" || c === "\n" || c === "\u0004") return done();
        if (c === "\u0003") return done(new CommandFailure("cancelled", 1));
        if (c === "\u007f" || c === "\b") typed = typed.slice(0, -1);
        else typed += c;
      }
    };
    stdin.on("data", onData);
  });
}
