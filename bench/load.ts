// A small closed-loop load generator: `concurrency` keep-alive connections, each sending its next
// request as soon as the previous answer has been read, until the time is up or `maxRequests`
// have been sent. Records every latency (ms) and every status.
//
// Two clients, the same protocol: "raw" writes a pre-serialized HTTP/1.1 request on a net.Socket
// and reads the answer with a minimal parser (status line, Content-Length or chunked); "http" uses
// node:http with a keep-alive Agent. On a 2-core machine the node:http client costs about as much
// CPU per request as a bare Hono handler, so it caps both sides alike and hides the difference;
// the raw client costs a fraction of that, which is why it is the default (`clientCores` shows
// how busy the client was).
//
// A load may cycle through several requests (`requests`: headers and body each): the n-th request
// sent, whichever connection sends it, is requests[(offset + n) mod length], so the same bytes go
// out for the same request every time.
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";

/** One request of a load: its headers (besides Host, Connection and Content-Length) and body. */
export interface LoadRequest {
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
}

export interface LoadOptions {
  readonly port: number;
  readonly method: string;
  readonly path: string;
  /** The requests sent in turn (default: one, without body). */
  readonly requests?: readonly LoadRequest[];
  /** The first request sent is requests[offset mod length] (default 0). */
  readonly offset?: number;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxRequests: number;
  /** Every answer is expected to have this status; others are counted as errors. */
  readonly expectStatus: number;
  readonly client?: "raw" | "http";
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  /** CPU time the client (this process) used per second of wall time: 1.0 is one core busy. */
  readonly clientCores: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  return options.client === "http" ? runHttpLoad(options) : runRawLoad(options);
}

async function runHttpLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const variants = requestsOf(options).map((r) => ({ headers: headersOf(r), body: r.body }));
  const latencies = new Float64Array(options.maxRequests);
  let issued = 0;
  let completed = 0;
  let errors = 0;
  const one = (n: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const variant = variants[(n + (options.offset ?? 0)) % variants.length];
      const req = request({ agent, host: "127.0.0.1", port: options.port, method: options.method, path: options.path, headers: variant?.headers ?? {} }, (res) => {
        res.on("data", () => undefined);
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(variant?.body);
    });

  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + options.durationMs;
  const worker = async (): Promise<void> => {
    while (issued < options.maxRequests && performance.now() < deadline) {
      const n = issued++;
      const t0 = performance.now();
      let status = 0;
      try {
        status = await one(n);
      } catch {
        status = 0;
      }
      latencies[completed++] = performance.now() - t0;
      if (status !== options.expectStatus) errors++;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  agent.destroy();
  return result(latencies.subarray(0, completed), seconds, errors, cpu);
}

function result(latencies: Float64Array, seconds: number, errors: number, cpu: NodeJS.CpuUsage): LoadResult {
  const sorted = latencies.slice().sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return {
    requests: sorted.length,
    seconds,
    rps: sorted.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    errors,
    clientCores: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}

/** Reads one HTTP/1.1 answer at a time off a byte stream: its status once complete, else undefined. */
class AnswerReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** The status of the next complete answer (consumed), or undefined when more bytes are needed. */
  next(): number | undefined {
    const buf = this.#buffer;
    const headEnd = buf.indexOf("\r\n\r\n");
    if (headEnd < 0) return undefined;
    const head = buf.toString("latin1", 0, headEnd);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let end: number;
    if (length !== null) {
      end = headEnd + 4 + Number(length[1]);
      if (buf.length < end) return undefined;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      let at = headEnd + 4;
      for (;;) {
        const lineEnd = buf.indexOf("\r\n", at);
        if (lineEnd < 0) return undefined;
        const size = parseInt(buf.toString("latin1", at, lineEnd), 16);
        at = lineEnd + 2 + size + 2;
        if (buf.length < at) return undefined;
        if (size === 0) break;
      }
      end = at;
    } else {
      end = headEnd + 4; // no body (a 401 challenge, say)
    }
    this.#buffer = buf.subarray(end);
    return status;
  }
}

async function runRawLoad(options: LoadOptions): Promise<LoadResult> {
  const requestBytes = requestsOf(options).map((r) => {
    const head =
      `${options.method} ${options.path} HTTP/1.1\r\nHost: 127.0.0.1:${options.port}\r\nConnection: keep-alive\r\n` +
      Object.entries(headersOf(r)).map(([name, value]) => `${name}: ${value}\r\n`).join("") +
      "\r\n";
    return Buffer.concat([Buffer.from(head, "latin1"), r.body ?? new Uint8Array()]);
  });
  const latencies = new Float64Array(options.maxRequests);
  let issued = 0;
  let completed = 0;
  let errors = 0;
  const sockets: Socket[] = [];

  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + options.durationMs;
  const connection = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port: options.port, noDelay: true });
      sockets.push(socket);
      const reader = new AnswerReader();
      let sentAt = 0;
      const send = (): void => {
        if (issued >= options.maxRequests || performance.now() >= deadline) {
          socket.end();
          resolve();
          return;
        }
        const bytes = requestBytes[(issued++ + (options.offset ?? 0)) % requestBytes.length];
        sentAt = performance.now();
        socket.write(bytes ?? "");
      };
      socket.on("connect", send);
      socket.on("data", (chunk: Buffer) => {
        reader.push(chunk);
        for (let status = reader.next(); status !== undefined; status = reader.next()) {
          latencies[completed++] = performance.now() - sentAt;
          if (status !== options.expectStatus) errors++;
          send();
        }
      });
      socket.on("error", () => {
        errors++;
        resolve();
      });
      socket.on("close", () => resolve());
    });
  await Promise.all(Array.from({ length: options.concurrency }, connection));
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  for (const socket of sockets) socket.destroy();
  return result(latencies.subarray(0, completed), seconds, errors, cpu);
}

function requestsOf(options: LoadOptions): readonly LoadRequest[] {
  return options.requests === undefined || options.requests.length === 0 ? [{}] : options.requests;
}

/** The request's headers, with its Content-Length when it has a body. */
function headersOf(r: LoadRequest): Record<string, string> {
  return { ...r.headers, ...(r.body === undefined ? {} : { "content-length": String(r.body.length) }) };
}

/** One request, its status, headers and body (for comparing two servers' answers). */
export function fetchOnce(port: number, method: string, path: string, r: LoadRequest = {}): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const body = r.body;
    const headers = headersOf(r);
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
