// The admin routes of the built-in MDM's commands, under the admin API's prefix (/admin/v1) and
// behind the same admin tokens (runtime/admin-token.ts), checked before anything else is read: a
// request without a valid one gets 401 and changes nothing. Answers and problems are the admin
// API's (runtime/admin-api.ts `json`, `problem`).
//
//   POST /enrollments/:id/commands   a command as JSON ({"RequestType": …, …}) or as a plist
//                                    (application/x-apple-plist, application/xml, text/xml)
//                                    → 201 { command } with Location /admin/v1/commands/:uuid
//   GET  /commands/:uuid             → { command }            (its status and the device's result)
//   GET  /enrollments/:id/commands?limit=  → { commands }     (newest first)
//
// runtime/app.ts mounts these before the admin API, whose catch-all answers 404 to any other path.
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { parsePlist } from "../spec/index.ts";
import { AdminError } from "./admin.ts";
import { adminApiPrefix, json, problem } from "./admin-api.ts";
import type { AdminIdentity } from "./admin-token.ts";
import { maxCommandBytes, type CommandService } from "./mdm-commands.ts";

export interface AdminCommandsApiOptions {
  readonly service: CommandService;
  /** Who the request's Authorization header names, or null (runtime/admin-token.ts adminAuthenticator). */
  readonly authenticate: (authorization: string | undefined) => Promise<AdminIdentity | null>;
  /** Called with an unexpected failure (never with a request body). */
  readonly reportError?: (error: unknown) => void;
}

type Env = { Variables: { admin: AdminIdentity } };

const plistTypes: readonly string[] = ["application/x-apple-plist", "application/xml", "text/xml"];

export function createAdminCommandsApi(options: AdminCommandsApiOptions): Hono<Env> {
  const { service } = options;
  const api = new Hono<Env>();
  const actor = (c: Context<Env>) => `admin:${c.get("admin").name}`;

  // Per route, not "*": the admin API behind these routes authenticates its own.
  const authorized: MiddlewareHandler<Env> = async (c, next) => {
    const admin = await options.authenticate(c.req.header("authorization"));
    if (admin === null) return problem("admin.unauthorized");
    c.set("admin", admin);
    await next();
    return undefined;
  };

  api.post("/enrollments/:id/commands", authorized, async (c) => {
    const body = await readCommand(c.req.raw);
    if (body instanceof Response) return body;
    const command = await service.enqueue(actor(c), c.req.param("id"), body);
    const response = json(201, { command });
    response.headers.set("location", `${adminApiPrefix}/commands/${encodeURIComponent(command.commandUuid)}`);
    return response;
  });
  api.get("/enrollments/:id/commands", authorized, async (c) => {
    const query = new URL(c.req.url).searchParams;
    const unknown = [...query.keys()].filter((k) => k !== "limit");
    if (unknown.length > 0) return problem("admin.invalid", `unknown query parameter(s): ${unknown.join(", ")}`);
    return json(200, { commands: await service.list(c.req.param("id"), query.get("limit") ?? undefined) });
  });
  api.get("/commands/:uuid", authorized, async (c) => json(200, { command: await service.show(c.req.param("uuid")) }));

  api.onError((error) => {
    if (error instanceof AdminError) return problem(error.code, error.message);
    options.reportError?.(error);
    return problem("internal");
  });
  return api;
}

/** The body as a decoded JSON or plist value, at most maxCommandBytes; otherwise the problem to answer. */
async function readCommand(request: Request): Promise<unknown> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const isJson = type === "application/json";
  if (!isJson && !plistTypes.includes(type)) return problem("admin.invalid", `expected a command as application/json or as a plist (${plistTypes.join(", ")})`);
  const bytes = await readBytes(request);
  if (bytes instanceof Response) return bytes;
  if (bytes.length === 0) return problem("admin.invalid", "expected a command in the body");
  if (isJson) {
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      return problem("admin.invalid", "the body is not JSON");
    }
  }
  const parsed = parsePlist(bytes);
  return parsed.ok ? parsed.value : problem("admin.invalid", `the body is not a plist: ${parsed.error.detail}`);
}

async function readBytes(request: Request): Promise<Uint8Array | Response> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxCommandBytes) return problem("request.too-large", `at most ${maxCommandBytes} bytes`);
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      return problem("admin.invalid", "the request body broke off before its end");
    }
    if (next.done) break;
    size += next.value.byteLength;
    if (size > maxCommandBytes) {
      await reader.cancel().catch(() => undefined);
      return problem("request.too-large", `at most ${maxCommandBytes} bytes`);
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
