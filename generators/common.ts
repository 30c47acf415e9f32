// Shared by the generators: export-name lookup, the header line, formatting through ts-morph.
import * as spec from "../spec/index.ts";
import * as machines from "../machines/index.ts";

export const generatedDir = "generated";

export { header, format } from "./format.ts";

const specNames = new Map<unknown, string>();
for (const [name, value] of Object.entries(spec)) {
  if (!specNames.has(value)) specNames.set(value, name);
}

/** The name under which spec/index.ts exports a schema or function of the operations table. */
export function specName(value: unknown, what: string): string {
  const name = specNames.get(value);
  if (name === undefined) throw new Error(`${what} is not exported from spec/index.ts`);
  return name;
}

export function machineName(value: unknown, what: string): string {
  for (const [name, candidate] of Object.entries(machines)) if (candidate === value) return name;
  throw new Error(`${what} is not exported from machines/index.ts`);
}
