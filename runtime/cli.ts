// The `adenroll` command: `serve` (the enrollment server), `device` (a simulated device enrolling
// over HTTP), `hash-password` (a scrypt hash for the config's users) and the administration commands
// (`users`, `enrollments`, `tokens`, `audit`, `admin-token`: runtime/admin-command.ts;
// `commands`: runtime/commands-command.ts) and `abm` (the service-discovery URL at Apple Business
// Manager: runtime/abm-command.ts). On Node it runs through
// bin/adenroll.mjs (tsx); Deno runs this file directly: `deno run -A runtime/cli.ts serve`.
import process from "node:process";
import { runAbmCommand } from "./abm-command.ts";
import { runAdminCommand, type AdminCommandContext } from "./admin-command.ts";
import { runCheckCommand } from "./check/command.ts";
import { runCommandsCommand } from "./commands-command.ts";
import { runDeviceCommand } from "./device-command.ts";
import { hashPasswordScrypt } from "./directory.ts";
import { secureRandomBytes } from "./crypto.ts";
import { readStdinLine } from "./device-command.ts";
import { consoleIo, runServe, type Io, type Listen } from "./serve.ts";

export const usage = `Usage: adenroll <command> [options]

Commands:
  serve          start the enrollment server (a demo when no --config is given)
  device         enroll a simulated device against a server, over HTTP
  check          probe a server (ours or any other) against every documented rule of the protocol
  hash-password  read a password from standard input, print its scrypt hash for the config

Administration (of a running server with --server URL, or of its storage with --database / --data):
  users          add, list, remove users; set a user's password
  enrollments    list, show, unenroll enrollments
  tokens         revoke the access tokens of a user's or an enrollment's devices
  audit          list the audit log
  admin-token    print a new admin API token and its hash for the config
  commands       queue MDM commands for an enrolled device, read what it answered

Apple Business / School Manager (with the organization's server token):
  abm            register, show or clear the service-discovery URL devices fall back to

Run \`adenroll <command> --help\` for a command's options.`;

/** The runtime's HTTP listener: Deno.serve on Deno, @hono/node-server on Node. */
async function platformListen(): Promise<Listen> {
  if ("Deno" in globalThis) return (await import("./deno.ts")).listenDeno;
  return (await import("./node.ts")).listenNode;
}

export async function main(argv: readonly string[], io: Io = consoleIo, context: AdminCommandContext = {}): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "users":
    case "enrollments":
    case "tokens":
    case "audit":
    case "admin-token":
      return runAdminCommand(command, rest, io, context);
    case "commands":
      return runCommandsCommand(rest, io, context);
    case "abm":
      return runAbmCommand(rest, io, context);
    case "serve":
      return runServe(rest, await platformListen(), io);
    case "device":
      return runDeviceCommand(rest, io);
    case "check":
      return runCheckCommand(rest, io);
    case "hash-password": {
      if (rest.includes("--help") || rest.includes("-h")) {
        io.out("Usage: echo 'the password' | adenroll hash-password\nPrints scrypt$N$r$p$salt$hash for a user's passwordHash in the config.");
        return 0;
      }
      if (process.stdin.isTTY === true) process.stderr.write("Password: ");
      const password = await readStdinLine();
      if (password.length < 8) {
        io.err("adenroll hash-password: the password must have at least 8 characters");
        return 2;
      }
      io.out(await hashPasswordScrypt(password, secureRandomBytes));
      return 0;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.out(usage);
      return command === undefined ? 2 : 0;
    default:
      io.err(`adenroll: unknown command ${JSON.stringify(command)}\n\n${usage}`);
      return 2;
  }
}

if ((import.meta as { main?: boolean }).main === true) {
  process.exit(await main(process.argv.slice(2)));
}
