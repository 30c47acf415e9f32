// Proxy mode: adenroll guards every MDM request (generated authorizeMdmRequest: token, Mdm-Signature,
// unenrolled devices) and forwards the ones it lets through to another MDM, the upstream, which
// answers them. `adenroll serve --upstream URL` or the config key `upstream` selects it.
//
// The request goes on as the device sent it:
//   - same method; the same path and query appended to the upstream's path
//     (upstream http://mdm.internal:9000/base, PUT /mdm/checkin?a=1 → PUT http://mdm.internal:9000/base/mdm/checkin?a=1);
//   - the body the guard read (AuthorizedMdmRequest.body), byte for byte;
//   - every header, Authorization and Mdm-Signature included: the upstream sees the device's own
//     Bearer token (the one adenroll just checked) and may check it or the signature itself. Only
//     what belongs to one connection is not forwarded (hop-by-hop, RFC 9110 §7.6.1): Connection and
//     the headers it names, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade; and Host
//     (the upstream's), Content-Length (fetch sets it from the same bytes), Expect (the body is
//     already here). Accept-Encoding is sent as `identity`: fetch decodes a compressed answer, so a
//     compressed body could not be handed on unchanged under its Content-Encoding. Node's fetch also
//     sets Sec-Fetch-Mode, and adds Accept, Accept-Language and User-Agent when the device sent none.
// The answer comes back as the upstream gave it: status, headers (minus hop-by-hop; an upstream that
// compresses anyway is decoded by fetch, so Content-Encoding and Content-Length are dropped then) and
// the body, streamed. Redirects are handed on, not followed.
// Failures: the upstream cannot be reached (refused, DNS, TLS, reset) → 502 upstream.unavailable;
// no answer within timeoutMs → 504 upstream.timeout; an answer whose body stalls for timeoutMs is
// cut off (its status is already sent). Answers and reports carry a code and a short reason: never
// a stack, a header or the token.
import type { AuthorizedMdmRequest } from "../generated/server.generated.ts";
import { parseAuthorization } from "../spec/index.ts";
import { messageOf, systemErrorCode } from "./error-text.ts";
import { problemResponse } from "./problem.ts";

export interface UpstreamMdmOptions {
  /** The upstream MDM's base URL: absolute http(s), without query, fragment or user:password. */
  readonly upstream: string;
  /** Default: the runtime's fetch. It must decode Content-Encoding as the standard fetch does. */
  readonly fetch?: (request: Request) => Promise<Response>;
  /** How long the upstream may take to begin its answer, and at most between two chunks of its body (default 30 s). */
  readonly timeoutMs?: number;
  /** Told why a forwarded request got no answer (for the log); never given a header or the token. */
  readonly reportFailure?: (failure: UpstreamFailure) => void;
}

export interface UpstreamFailure {
  readonly code: "upstream.unavailable" | "upstream.timeout";
  /** The operation, path and reason, e.g. `checkIn PUT /mdm/checkin: connect ECONNREFUSED 10.0.0.5:9000`. */
  readonly detail: string;
}

/** An upstream URL that cannot be used; thrown by upstreamMdm when it is built. */
export class UpstreamUrlError extends Error {
  override readonly name = "UpstreamUrlError";
  readonly code = "upstream.url-invalid";
}

export const defaultUpstreamTimeoutMs = 30_000;

/** Why `value` cannot be an upstream URL, or null when it can. Never repeats a URL that carries a password. */
export function upstreamUrlProblem(value: string): string | null {
  const url = URL.parse(value);
  const hint = "expected an absolute http(s) URL without query or fragment, e.g. http://mdm.internal:9000";
  if (url === null) return `${hint}, got ${JSON.stringify(value)}`;
  if (url.username !== "" || url.password !== "") return "expected no user name or password in the upstream URL (fetch refuses them; the device's own Authorization is forwarded)";
  if (url.protocol !== "http:" && url.protocol !== "https:") return `${hint}, got the scheme ${JSON.stringify(url.protocol)}`;
  // "http://h/?" and "http://h/#" parse to an empty search and hash: look at the text too.
  if (url.search !== "" || value.includes("?")) return `${hint}: the request's own query is appended, got ${JSON.stringify(value)}`;
  if (url.hash !== "" || value.includes("#")) return `${hint}, got a fragment in ${JSON.stringify(value)}`;
  return null;
}

/** Forwards each authorized MDM request to the upstream MDM and returns its answer (see the top of this file). */
export function upstreamMdm(options: UpstreamMdmOptions): (request: AuthorizedMdmRequest) => Promise<Response> {
  const problem = upstreamUrlProblem(options.upstream);
  const base = URL.parse(options.upstream);
  if (problem !== null || base === null) throw new UpstreamUrlError(`upstream: ${problem ?? "not a URL"}`);
  const timeoutMs = options.timeoutMs ?? defaultUpstreamTimeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`upstream timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  const prefix = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
  const send = options.fetch ?? ((request: Request) => fetch(request));

  return async (authorized) => {
    const incoming = authorized.request;
    const url = new URL(incoming.url);
    const where = `${authorized.operation} ${incoming.method} ${url.pathname}`;
    const token = bearerToken(incoming.headers);
    const report = (code: UpstreamFailure["code"], reason: string) => options.reportFailure?.({ code, detail: redact(`${where}: ${reason}`, token) });

    const controller = new AbortController();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
    };
    const disarm = () => clearTimeout(timer);
    // The device went away: no one waits for the upstream's answer any more.
    const deviceGone = () => controller.abort();
    incoming.signal.addEventListener("abort", deviceGone, { once: true });
    const settle = () => {
      disarm();
      incoming.signal.removeEventListener("abort", deviceGone);
    };

    const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD";
    let answer: Response;
    arm();
    try {
      answer = await send(
        new Request(`${prefix}${url.pathname}${url.search}`, {
          method: incoming.method,
          headers: forwardedRequestHeaders(incoming.headers),
          body: hasBody ? authorized.body.slice() : null,
          redirect: "manual",
          signal: controller.signal,
        }),
      );
    } catch (error) {
      settle();
      if (timedOut) {
        report("upstream.timeout", `no answer within ${timeoutMs} ms`);
        return problemResponse("upstream.timeout", `the upstream MDM did not answer within ${timeoutMs} ms`);
      }
      if (!incoming.signal.aborted) report("upstream.unavailable", reasonOf(error));
      return problemResponse("upstream.unavailable", "the upstream MDM could not be reached");
    }
    disarm();

    const headers = withoutHopByHop(answer.headers);
    if (headers.has("content-encoding")) {
      headers.delete("content-encoding");
      headers.delete("content-length");
    }
    // 204, 205 and 304 carry no body, whatever a custom fetch hands back.
    if (answer.body === null || nullBodyStatuses.has(answer.status)) {
      await answer.body?.cancel().catch(() => undefined);
      settle();
      return new Response(null, { status: answer.status, statusText: answer.statusText, headers });
    }
    const body = stallGuarded(answer.body, {
      arm,
      disarm,
      done: settle,
      stalled: () => {
        if (timedOut) report("upstream.timeout", `the answer's body stalled for ${timeoutMs} ms`);
        else if (!incoming.signal.aborted) report("upstream.unavailable", "the answer's body broke off");
      },
    });
    return new Response(body, { status: answer.status, statusText: answer.statusText, headers });
  };
}

const nullBodyStatuses = new Set([204, 205, 304]);

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), besides those Connection names. */
const hopByHop = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"]);

/** A copy without hop-by-hop headers: the fixed ones, Proxy-*, and every header the Connection header names. */
function withoutHopByHop(source: Headers): Headers {
  const headers = new Headers(source);
  for (const name of (source.get("connection") ?? "").split(",")) {
    const trimmed = name.trim().toLowerCase();
    if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(trimmed)) headers.delete(trimmed);
  }
  for (const name of [...headers.keys()]) if (hopByHop.has(name) || name.startsWith("proxy-")) headers.delete(name);
  return headers;
}

function forwardedRequestHeaders(source: Headers): Headers {
  const headers = withoutHopByHop(source);
  // Host is the upstream's; Content-Length comes from the same bytes; the body is already read.
  for (const name of ["host", "content-length", "expect"]) headers.delete(name);
  headers.set("accept-encoding", "identity");
  return headers;
}

/**
 * The upstream's body, passed through chunk by chunk; while it waits for the next chunk the
 * deadline runs (`arm`), so a body that stalls is aborted. Waiting for the device does not count.
 */
function stallGuarded(
  body: ReadableStream<Uint8Array>,
  hooks: { readonly arm: () => void; readonly disarm: () => void; readonly done: () => void; readonly stalled: () => void },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      hooks.arm();
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        hooks.done();
        hooks.stalled();
        // Handled, not a bug: the listener logs what errors a stream, and a log carries no stack trace.
        const broken = new Error("the upstream MDM's answer broke off");
        broken.stack = `${broken.name}: ${broken.message}`;
        controller.error(broken);
        return;
      }
      hooks.disarm();
      if (next.done) {
        hooks.done();
        controller.close();
      } else {
        controller.enqueue(next.value);
      }
    },
    async cancel(reason) {
      hooks.done();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

/** The Bearer token of the request, to keep it out of any report. */
function bearerToken(headers: Headers): string | null {
  const presented = parseAuthorization(headers.get("authorization") ?? undefined);
  return presented.kind === "bearer" ? presented.token : null;
}

function redact(text: string, token: string | null): string {
  return token === null || token === "" ? text : text.split(token).join("[token]");
}

/** fetch's own error says only "fetch failed": the reason is its cause's first line (e.g. connect ECONNREFUSED 10.0.0.5:9000). */
function reasonOf(error: unknown): string {
  const cause = typeof error === "object" && error !== null && "cause" in error && error.cause !== undefined ? error.cause : error;
  const line = (messageOf(cause).split("\n")[0] ?? "").trim();
  const code = systemErrorCode(cause);
  const reason = line === "" ? (code ?? "the request failed") : code === undefined || line.includes(code) ? line : `${code}: ${line}`;
  return reason.length > 200 ? `${reason.slice(0, 200)}…` : reason;
}
