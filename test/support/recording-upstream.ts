// Real HTTP on loopback for proxy tests: an upstream MDM that records every request exactly as it
// arrived (method, path and query, headers, body bytes) and answers whatever the test says; and a
// device-side client on node:http, which sends exactly the headers it is given (fetch would add its
// own) and returns the answer's headers exactly as they arrived.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";

export interface Recorded {
  readonly method: string;
  /** The request target as sent: path and query. */
  readonly target: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export type UpstreamReply = (recorded: Recorded, response: ServerResponse) => void | Promise<void>;

export interface RecordingUpstream {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  /** 127.0.0.1:PORT, the Host a request to it carries. */
  readonly host: string;
  readonly received: Recorded[];
  /** How it answers from now on. */
  reply: UpstreamReply;
  close(): Promise<void>;
}

export function headerRecord(rawHeaders: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? "").toLowerCase();
    const value = rawHeaders[i + 1] ?? "";
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

async function readAll(incoming: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return new Uint8Array(Buffer.concat(chunks));
}

export async function recordingUpstream(reply: UpstreamReply = (_, response) => void response.writeHead(200).end()): Promise<RecordingUpstream> {
  const received: Recorded[] = [];
  const upstream: { reply: UpstreamReply } = { reply };
  const server = createServer((incoming, outgoing) => {
    void (async () => {
      const recorded: Recorded = { method: incoming.method ?? "", target: incoming.url ?? "", headers: headerRecord(incoming.rawHeaders), body: await readAll(incoming) };
      received.push(recorded);
      await upstream.reply(recorded, outgoing);
    })().catch(() => outgoing.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    origin: `http://127.0.0.1:${address.port}`,
    host: `127.0.0.1:${address.port}`,
    received,
    get reply() {
      return upstream.reply;
    },
    set reply(next: UpstreamReply) {
      upstream.reply = next;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** One request over a fresh connection, with exactly these headers (node adds Host only). Rejects when the answer breaks off. */
export function rawRequest(url: string, init: { readonly method: string; readonly headers: Readonly<Record<string, string>>; readonly body?: Uint8Array }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: init.method, headers: { ...init.headers }, agent: false }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("error", reject);
      incoming.on("aborted", () => reject(new Error("the answer broke off")));
      incoming.on("end", () => {
        if (!incoming.complete) reject(new Error("the answer broke off"));
        else resolve({ status: incoming.statusCode ?? 0, headers: headerRecord(incoming.rawHeaders), body: new Uint8Array(Buffer.concat(chunks)) });
      });
    });
    outgoing.on("error", reject);
    outgoing.end(init.body === undefined ? undefined : Buffer.from(init.body));
  });
}

/** A copy without the named headers (lower-case). */
export function without(headers: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)));
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
