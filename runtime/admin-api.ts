// The admin HTTP API, mounted by runtime/app.ts under /admin/v1: JSON in and out over the admin
// service (runtime/admin.ts). Every request needs `Authorization: Bearer <admin token>` — checked
// before anything else is read, so a request without one changes nothing — and every answer is
// uncacheable. Errors are application/problem+json with stable codes whose statuses come from
// spec/errors.ts.
//
//   GET    /users                       → { users }
//   POST   /users                       { userIdentifier, managedAppleId, password?, enrollmentType? } → 201 { user }
//   DELETE /users/:user                 → { user }                       (users added by administration only)
//   PUT    /users/:user/password        { password } → { user }
//   GET    /enrollments?user=&state=&limit= → { enrollments }
//   GET    /enrollments/:id             → { enrollment }
//   POST   /enrollments/:id/unenroll    → { change }                     (UNENROLL: the device then gets 403)
//   POST   /tokens/revoke               { user } | { enrollment } → { revoked, skipped } (TOKEN_INVALIDATED: 401)
//   GET    /audit?limit=                → { entries }
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { readCapped } from "./capped-body.ts";
import { z } from "zod";
import { serverErrors, type ServerErrorCode } from "../spec/index.ts";
import { AdminError, type AdminService } from "./admin.ts";
import type { AdminIdentity } from "./admin-token.ts";

/** The largest request body the admin API reads. */
export const adminBodyLimit = 16 * 1024;

export const adminApiPrefix = "/admin/v1";

export interface AdminApiOptions {
  readonly service: AdminService;
  /** Who the request's Authorization header names, or null. */
  readonly authenticate: (authorization: string | undefined) => Promise<AdminIdentity | null>;
  /** Called with an unexpected failure (never with a request body). */
  readonly reportError?: (error: unknown) => void;
}

/** A request the admin token let through carries who it names. */
export type AdminEnv = { Variables: { admin: AdminIdentity } };

/** The service checks the password itself (its length); here only the body's shape. */
const PasswordBody = z.strictObject({ password: z.unknown() });

/** Every admin answer: never cached, never sniffed. */
const adminHeaders = { "cache-control": "no-store", pragma: "no-cache", "x-content-type-options": "nosniff" } as const;

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...adminHeaders, "content-type": "application/json" } });
}

export function problem(code: ServerErrorCode, detail?: string): Response {
  const { status, title } = serverErrors[code];
  const headers: Record<string, string> = { ...adminHeaders, "content-type": "application/problem+json" };
  if (code === "admin.unauthorized") headers["www-authenticate"] = 'Bearer realm="adenroll admin"';
  return new Response(JSON.stringify({ code, title, ...(detail === undefined ? {} : { detail }) }), { status, headers });
}

/** 401 unless the Authorization header names an admin, who is then the request's (`adminActor`). */
export function adminAuthorization(authenticate: AdminApiOptions["authenticate"]): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const admin = await authenticate(c.req.header("authorization"));
    if (admin === null) return problem("admin.unauthorized");
    c.set("admin", admin);
    await next();
    return undefined;
  };
}

/** Who the audit log names for the request: admin:<token name>. */
export function adminActor(c: Context<AdminEnv>): string {
  return `admin:${c.get("admin").name}`;
}

/** An AdminError as its problem; anything else is reported and answered 500. */
export function adminErrorAnswer(reportError: AdminApiOptions["reportError"]): (error: Error) => Response {
  return (error) => {
    if (error instanceof AdminError) return problem(error.code, error.message);
    reportError?.(error);
    return problem("internal");
  };
}

export function createAdminApi(options: AdminApiOptions): Hono<AdminEnv> {
  const { service } = options;
  const api = new Hono<AdminEnv>();

  api.use("*", adminAuthorization(options.authenticate));

  api.get("/users", async () => json(200, { users: await service.listUsers() }));
  api.post("/users", async (c) => {
    const body = await readJson(c.req.raw);
    if (body instanceof Response) return body;
    return json(201, { user: await service.addUser(adminActor(c), body) });
  });
  api.delete("/users/:user", async (c) => json(200, { user: await service.removeUser(adminActor(c), c.req.param("user")) }));
  api.put("/users/:user/password", async (c) => {
    const body = await readJson(c.req.raw);
    if (body instanceof Response) return body;
    const request = PasswordBody.safeParse(body);
    if (!request.success) return problem("admin.invalid", 'expected {"password": "…"}');
    return json(200, { user: await service.setPassword(adminActor(c), c.req.param("user"), request.data.password) });
  });

  api.get("/enrollments", async (c) => json(200, { enrollments: await service.listEnrollments(queryOf(c.req.raw)) }));
  api.get("/enrollments/:id", async (c) => json(200, { enrollment: await service.showEnrollment(c.req.param("id")) }));
  api.post("/enrollments/:id/unenroll", async (c) => json(200, { change: await service.unenroll(adminActor(c), c.req.param("id")) }));
  api.post("/tokens/revoke", async (c) => {
    const body = await readJson(c.req.raw);
    if (body instanceof Response) return body;
    return json(200, await service.revokeTokens(adminActor(c), body));
  });

  api.get("/audit", async (c) => {
    const query = queryOf(c.req.raw);
    const unknown = Object.keys(query).filter((k) => k !== "limit");
    if (unknown.length > 0) return problem("admin.invalid", `unknown query parameter(s): ${unknown.join(", ")}`);
    return json(200, { entries: await service.listAudit(query["limit"]) });
  });

  api.all("*", () => problem("not-found"));
  api.onError(adminErrorAnswer(options.reportError));
  return api;
}

/** The first value of each query item. */
function queryOf(request: Request): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of new URL(request.url).searchParams) if (!(key in query)) query[key] = value;
  return query;
}

/** The body as JSON: application/json, at most adminBodyLimit bytes; otherwise the problem to answer. */
async function readJson(request: Request): Promise<unknown> {
  if (mediaTypeOf(request) !== "application/json") return problem("admin.invalid", "expected a JSON body (content-type: application/json)");
  const bytes = await readBodyBytes(request, adminBodyLimit);
  if (bytes instanceof Response) return bytes;
  if (bytes === null) return problem("admin.invalid", "expected a JSON body");
  return jsonOf(bytes);
}

/** The request's media type, lower case, without parameters ("" without a content-type). */
export function mediaTypeOf(request: Request): string {
  return (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * The request body's bytes, at most `limit` of them (refused by its content-length first, then as
 * it streams), null when it has none; otherwise the problem to answer (413, or 400 when it broke off).
 */
export async function readBodyBytes(request: Request, limit: number): Promise<Uint8Array | null | Response> {
  const read = await readCapped(request, limit);
  if (read.ok) return read.bytes;
  return read.reason === "too-large" ? problem("request.too-large", `at most ${limit} bytes`) : problem("admin.invalid", "the request body broke off before its end");
}

/** UTF-8 JSON bytes decoded, or the problem to answer. */
export function jsonOf(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return problem("admin.invalid", "the body is not JSON");
  }
}
