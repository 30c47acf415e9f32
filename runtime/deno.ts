// Deno entry: serves the adenroll Hono app with Deno.serve. `deno run -A runtime/deno.ts [serve options]`
// (what `adenroll serve` does on Deno; see runtime/serve.ts for the options).
import { runServe, type Listen } from "./serve.ts";

declare const Deno: {
  serve(options: { port: number; hostname: string; onListen(addr: { port: number }): void }, handler: (request: Request) => Response | Promise<Response>): { shutdown(): Promise<void> };
  args: string[];
  exit(code: number): never;
};

export const listenDeno: Listen = (fetch, { port, hostname }) =>
  new Promise((resolve) => {
    const server = Deno.serve({ port, hostname, onListen: (addr) => resolve({ port: addr.port, close: () => server.shutdown() }) }, fetch);
  });

if ((import.meta as { main?: boolean }).main === true) Deno.exit(await runServe(Deno.args, listenDeno));
