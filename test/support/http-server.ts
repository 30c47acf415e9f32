// A tiny adapter from node:http to a fetch handler (the generated Hono app's `fetch`): tests that need
// a real socket — a browser, say — listen on loopback with it. No server package needed.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface LoopbackServer {
  /** http://127.0.0.1:PORT, no trailing slash. */
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 at a free port and answers every request with `handler`. The handler may be
 * given later (`setHandler`) when it needs the origin first — a server whose public base URL is this
 * loopback address, for instance.
 */
export async function listenOnLoopback(handler?: FetchHandler): Promise<LoopbackServer & { setHandler(next: FetchHandler): void }> {
  let current: FetchHandler | undefined = handler;
  const server = createServer((incoming, outgoing) => {
    serve(incoming, outgoing, current).catch((error: unknown) => {
      if (!outgoing.headersSent) outgoing.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      outgoing.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    setHandler(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

async function serve(incoming: IncomingMessage, outgoing: ServerResponse, handler: FetchHandler | undefined): Promise<void> {
  if (handler === undefined) {
    outgoing.writeHead(503).end();
    return;
  }
  const response = await handler(toRequest(incoming));
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === "set-cookie") return;
    headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  outgoing.writeHead(response.status, response.statusText, headers);
  if (response.body === null || incoming.method === "HEAD") {
    outgoing.end();
    return;
  }
  outgoing.end(new Uint8Array(await response.arrayBuffer()));
}

/** The incoming message as a web Request: same method, URL (on the Host it was sent to), headers and body. */
function toRequest(incoming: IncomingMessage): Request {
  const host = incoming.headers.host ?? "127.0.0.1";
  const url = new URL(incoming.url ?? "/", `http://${host}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const method = incoming.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    ...(hasBody ? { body: Readable.toWeb(incoming) as ReadableStream<Uint8Array>, duplex: "half" } : {}),
  } as RequestInit);
}
