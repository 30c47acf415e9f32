// The flags of a CLI command (`adenroll serve`, `device`, `check`): parsed strictly, `--help`
// answered, and one way to refuse a bad flag — the message and the usage on stderr, exit code 2.
import { parseArgs, type ParseArgsConfig } from "node:util";
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
