#!/usr/bin/env node
// The `adenroll` command on Node: Node 20 cannot import TypeScript, so runtime/cli.ts is loaded
// through tsx's ESM loader. (Deno runs runtime/cli.ts directly.)
import { register } from "tsx/esm/api";

register();
const { main } = await import("../runtime/cli.ts");
process.exitCode = await main(process.argv.slice(2));
