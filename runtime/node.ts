// Node entry: serves the adenroll Hono app with @hono/node-server. `npx tsx runtime/node.ts [serve options]`
// (what `adenroll serve` does on Node; see runtime/serve.ts for the options).
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { runServe, type Listen } from "./serve.ts";

export const listenNode: Listen = (fetch, { port, hostname }) =>
  new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, (info) => resolve({ port: info.port, close: () => new Promise((done) => server.close(() => done())) }));
    server.once("error", reject);
  });

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await runServe(process.argv.slice(2), listenNode);
