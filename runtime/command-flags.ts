// The flags of a CLI command (`adenroll serve`, `device`, `check`): parsed strictly, `--help`
// answered, and one way to refuse a bad flag — the message and the usage on stderr, exit code 2;
// and the account flags the two commands that play a device share.
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { splitUserIdentifier, wellKnownPath } from "../spec/index.ts";
import { messageOf } from "./error-text.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>["values"];

export type CommandFlags<O extends Options> =
  | { readonly values: Values<O>; readonly usage: (message: string) => number }
  | { readonly exit: number };

/** `argv` read against `options`; `exit` when the command ends here (a parse error: 2, --help: 0). */
export function commandFlags<const O extends Options>(
  command: string,
  usageText: string,
  argv: readonly string[],
  options: O,
  io: { err(line: string): void; out(line: string): void },
): CommandFlags<O> {
  const usage = (message: string): number => {
    io.err(`adenroll ${command}: ${message}\n\n${usageText}`);
    return 2;
  };
  let values: Values<O>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return { exit: usage(messageOf(error)) };
  }
  if (Reflect.get(values, "help") === true) {
    io.out(usageText);
    return { exit: 0 };
  }
  return { values, usage };
}

/** The flags of a command that plays a device for a person: whose account, its password, where discovery goes. */
export const deviceAccountFlags = {
  user: { type: "string" },
  password: { type: "string" },
  "password-stdin": { type: "boolean" },
  server: { type: "string" },
  "discovery-url": { type: "string" },
} as const;

interface DeviceAccountValues {
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly "password-stdin"?: boolean | undefined;
  readonly server?: string | undefined;
  readonly "discovery-url"?: string | undefined;
}

/**
 * The account flags checked: a user identifier, one password source, http(s) URLs; the discovery
 * URL is --discovery-url, or --server's well-known URL. A problem is the message for `usage`.
 */
export function deviceAccountOf(flags: DeviceAccountValues): { readonly user: string; readonly discoveryUrl: string | undefined } | string {
  if (flags.user === undefined) return "--user is required";
  if (!splitUserIdentifier(flags.user).ok) return "--user must be user@domain with a fully qualified domain";
  if (flags.password !== undefined && flags["password-stdin"] === true) return "give --password or --password-stdin, not both";
  for (const [name, value] of [["--server", flags.server], ["--discovery-url", flags["discovery-url"]]] as const) {
    if (value !== undefined && !/^https?:$/.test(URL.parse(value)?.protocol ?? "")) return `${name} must be an http(s) URL`;
  }
  return { user: flags.user, discoveryUrl: flags["discovery-url"] ?? (flags.server === undefined ? undefined : new URL(wellKnownPath, flags.server).toString()) };
}

/**
 * The password: --password, or the first line of standard input (--password-stdin, or asked for at
 * a terminal); `{ missing }` (the message for `usage`) when neither can be had.
 */
export async function devicePassword(flags: DeviceAccountValues, user: string, stdin: () => Promise<string>, missing: string): Promise<string | { readonly missing: string }> {
  if (flags.password !== undefined) return flags.password;
  if (flags["password-stdin"] !== true && process.stdin.isTTY !== true) return { missing };
  if (process.stdin.isTTY === true) process.stderr.write(`Password for ${user}: `);
  return stdin();
}
