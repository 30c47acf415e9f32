// The admin routes of the built-in MDM's commands, under the admin API's prefix (/admin/v1) and
// behind the same admin tokens (runtime/admin-token.ts), checked before anything else is read: a
// request without a valid one gets 401 and changes nothing. Answers, problems, the token check and
// the size-limited body reader are the admin API's (runtime/admin-api.ts).
//
//   POST /enrollments/:id/commands   a command as JSON ({"RequestType": …, …}) or as a plist
//                                    (application/x-apple-plist, application/xml, text/xml)
//                                    → 201 { command } with Location /admin/v1/commands/:uuid
//   GET  /commands/:uuid             → { command }            (its status and the device's result)
//   GET  /enrollments/:id/commands?limit=  → { commands }     (newest first)
//
// runtime/app.ts mounts these before the admin API, whose catch-all answers 404 to any other path.
import { Hono } from "hono";
import { parsePlist } from "../spec/index.ts";
import { adminActor, adminApiPrefix, adminAuthorization, adminErrorAnswer, json, jsonOf, mediaTypeOf, problem, readBodyBytes, type AdminEnv } from "./admin-api.ts";
import type { AdminIdentity } from "./admin-token.ts";
import { maxCommandBytes, type CommandService } from "./mdm-commands.ts";

export interface AdminCommandsApiOptions {
  readonly service: CommandService;
  /** Who the request's Authorization header names, or null (runtime/admin-token.ts adminAuthenticator). */
  readonly authenticate: (authorization: string | undefined) => Promise<AdminIdentity | null>;
  /** Called with an unexpected failure (never with a request body). */
  readonly reportError?: (error: unknown) => void;
}

const plistTypes: readonly string[] = ["application/x-apple-plist", "application/xml", "text/xml"];

export function createAdminCommandsApi(options: AdminCommandsApiOptions): Hono<AdminEnv> {
  const { service } = options;
  const api = new Hono<AdminEnv>();

  // Per route, not "*": the admin API behind these routes authenticates its own.
  const authorized = adminAuthorization(options.authenticate);

  api.post("/enrollments/:id/commands", authorized, async (c) => {
    const body = await readCommand(c.req.raw);
    if (body instanceof Response) return body;
    const command = await service.enqueue(adminActor(c), c.req.param("id"), body);
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

  api.onError(adminErrorAnswer(options.reportError));
  return api;
}

/** The body as a decoded JSON or plist value, at most maxCommandBytes; otherwise the problem to answer. */
async function readCommand(request: Request): Promise<unknown> {
  const type = mediaTypeOf(request);
  const isJson = type === "application/json";
  if (!isJson && !plistTypes.includes(type)) return problem("admin.invalid", `expected a command as application/json or as a plist (${plistTypes.join(", ")})`);
  const bytes = await readBodyBytes(request, maxCommandBytes);
  if (bytes instanceof Response) return bytes;
  if (bytes === null || bytes.length === 0) return problem("admin.invalid", "expected a command in the body");
  if (isJson) return jsonOf(bytes);
  const parsed = parsePlist(bytes);
  return parsed.ok ? parsed.value : problem("admin.invalid", `the body is not a plist: ${parsed.error.detail}`);
}
