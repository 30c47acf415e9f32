// Every request the check sends goes through here: it is recorded (for the report's sequence
// diagram and the failures' evidence) with secrets masked — tokens, passwords, codes and the
// profile's PKCS#12 password never reach a report. (The web session's cookies are the session's:
// runtime/device.ts WebViewCookies.)
import type { Fetch } from "../../generated/client.generated.ts";
import { fetchFailureOf } from "../error-text.ts";
import { maskSecret, maskText } from "./mask.ts";
import type { Exchange } from "./model.ts";

export { maskSecret, maskText };

const textTypes = /json|html|xml|text|plist|x-www-form-urlencoded|aspen-config|aspen-mdm/i;
const maxShown = 12_000;

function shownBody(bytes: Uint8Array, contentType: string | null): string {
  if (bytes.length === 0) return "";
  const looksText = textTypes.test(contentType ?? "") || (bytes[0] === 0x3c /* < */ || bytes[0] === 0x7b /* { */);
  if (looksText) {
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, maxShown));
    return maskText(text) + (bytes.length > maxShown ? `\n… (${bytes.length} bytes in all)` : "");
  }
  const head = bytes.subarray(0, 1536);
  let binary = "";
  for (const b of head) binary += String.fromCharCode(b);
  return `base64:${btoa(binary)}${bytes.length > head.length ? `… (${bytes.length} bytes in all)` : ""}`;
}

function headersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => {
    out[key.toLowerCase()] = key.toLowerCase() === "authorization" || key.toLowerCase() === "cookie" || key.toLowerCase() === "set-cookie" || key.toLowerCase() === "location" || key.toLowerCase() === "www-authenticate" ? maskText(maskCookie(key, value)) : value;
  });
  return out;
}

function maskCookie(key: string, value: string): string {
  if (key.toLowerCase() !== "cookie" && key.toLowerCase() !== "set-cookie") return value;
  return value.replace(/=([^;,\s]{9,})/g, (_, v: string) => `=${maskSecret(v)}`);
}

export interface RecorderOptions {
  readonly fetch?: Fetch;
  /** Per request; the check's probes never wait longer. */
  readonly timeoutMs?: number;
}

export class Recorder {
  readonly exchanges: Exchange[] = [];
  readonly #base: Fetch;
  readonly #timeoutMs: number;
  #next = 1;

  constructor(options: RecorderOptions = {}) {
    this.#base = options.fetch ?? ((request) => fetch(request));
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** A fetch whose exchanges are recorded under `label`. */
  as(label: string): Fetch {
    return (request) => this.send(label, request);
  }

  /** The id the next exchange will get (to point at what a probe is about to send). */
  get nextId(): number {
    return this.#next;
  }

  /** The exchanges recorded from `from` (an earlier nextId) on. */
  since(from: number): number[] {
    return this.exchanges.filter((e) => e.id >= from).map((e) => e.id);
  }

  /** Records an exchange the check did not send itself (a headless browser's). */
  record(label: string, request: Exchange["request"], response: Exchange["response"], ms: number): number {
    const id = this.#next++;
    this.exchanges.push({ id, label, request, response, ms });
    return id;
  }

  /**
   * Sends and records one request. A request whose redirect mode is "follow" (the well-known
   * request's) is followed here hop by hop, so that every hop is recorded and an in-process fetch
   * (which follows nothing) behaves like the network's.
   */
  async send(label: string, request: Request): Promise<Response> {
    if (request.redirect !== "follow") return this.#sendOne(label, request);
    const body = request.body === null ? null : await request.arrayBuffer();
    let current = new Request(request, { redirect: "manual", ...(body === null ? {} : { body }) });
    let response = await this.#sendOne(label, current);
    for (let hop = 0; hop < 10; hop++) {
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || location === null) return response;
      const next = URL.parse(location, current.url);
      if (next === null || !/^https?:$/.test(next.protocol)) return response;
      const keepMethod = response.status === 307 || response.status === 308;
      const headers = new Headers(current.headers);
      if (!keepMethod) headers.delete("content-type");
      current = new Request(next, { method: keepMethod ? current.method : "GET", headers, redirect: "manual", ...(keepMethod && body !== null ? { body } : {}) });
      response = await this.#sendOne(label, current);
    }
    return response;
  }

  async #sendOne(label: string, sent: Request): Promise<Response> {
    const id = this.#next++;
    const started = performance.now();
    const requestBytes = sent.body === null ? new Uint8Array() : new Uint8Array(await sent.clone().arrayBuffer());
    const shownRequest = {
      method: sent.method,
      url: maskText(sent.url),
      headers: headersOf(sent.headers),
      body: shownBody(requestBytes, sent.headers.get("content-type")),
      bodyBytes: requestBytes.length,
    };
    let response: Response;
    try {
      response = await this.#base(new Request(sent, { signal: AbortSignal.timeout(this.#timeoutMs) }));
    } catch (error) {
      this.exchanges.push({ id, label, request: shownRequest, response: { error: fetchFailureOf(error) }, ms: performance.now() - started });
      throw error;
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    this.exchanges.push({
      id,
      label,
      request: shownRequest,
      response: { status: response.status, headers: headersOf(response.headers), body: shownBody(bytes, response.headers.get("content-type")), bodyBytes: bytes.length },
      ms: performance.now() - started,
    });
    // A fresh Response: the body was read for the record. Statuses a Response cannot carry (1xx) are kept as 599.
    const init = { status: response.status >= 200 && response.status <= 599 ? response.status : 599, statusText: response.statusText, headers: response.headers };
    const nullBody = [204, 205, 304].includes(init.status);
    const copy = new Response(nullBody ? null : bytes, init);
    Object.defineProperty(copy, "url", { value: response.url || sent.url });
    return copy;
  }
}
