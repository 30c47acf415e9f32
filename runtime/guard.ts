// adenroll's MDM guard for an app of your own: the same check the generated /mdm/checkin and
// /mdm/server routes make (authorizeMdmRequest: the Bearer token, or a Mac device channel's
// Mdm-Signature, judged by the server machine on the enrollment the request names), mounted in
// front of your MDM's handlers. The operation comes from the Content-Type, so any path works.
//
//   createMdmGuard(host)       (request) => MdmDecision: { allowed, request } or { allowed: false, response }
//   mdmGuardMiddleware(host)   Hono middleware: answers refusals itself (400, 401 + challenge,
//                              403 com.apple.unrecognized.device, 415); lets the rest through with
//                              c.get("adenroll") set and c.req.raw rebuilt from the bytes it read,
//                              so the handler can read the body again (c.req.arrayBuffer(), c.req.raw).
import type { MiddlewareHandler } from "hono";
import { authorizeMdmRequest, type AuthorizedMdmRequest, type MdmDecision, type MdmOperation, type ServerHost } from "../generated/server.generated.ts";
import { checkInContentType, commandContentType } from "../spec/index.ts";
import { problemResponse } from "./problem.ts";

/** The Hono environment the middleware provides: `c.get("adenroll")` is the request it let through. */
export interface MdmGuardEnv {
  Variables: { adenroll: AuthorizedMdmRequest };
}

/** The MDM operation a Content-Type stands for (parameters and case ignored), or null. */
export function mdmOperationOf(contentType: string | null): MdmOperation | null {
  const mediaType = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType === checkInContentType) return "checkIn";
  if (mediaType === commandContentType) return "command";
  return null;
}

/** The guard as a function: its decision on one request (whose body it reads). */
export function createMdmGuard(host: ServerHost): (request: Request) => Promise<MdmDecision> {
  return async (request) => {
    const operation = mdmOperationOf(request.headers.get("content-type"));
    if (operation === null) {
      host.reportRejected?.("mdm", { code: "request.unsupported-media-type", detail: "" });
      return { allowed: false, response: problemResponse("request.unsupported-media-type", `expected ${checkInContentType} or ${commandContentType}`) };
    }
    return authorizeMdmRequest(host, request, operation);
  };
}

/**
 * The guard as Hono middleware. A refused request gets the guard's answer and goes no further; an
 * allowed one reaches the next handler with `c.get("adenroll")` (its enrollment, parsed message and
 * body bytes) and a `c.req.raw` whose body is the same bytes, still unread.
 */
export function mdmGuardMiddleware(host: ServerHost): MiddlewareHandler<MdmGuardEnv> {
  const guard = createMdmGuard(host);
  return async (c, next) => {
    const decision = await guard(c.req.raw);
    if (!decision.allowed) return decision.response;
    const raw = c.req.raw;
    c.set("adenroll", decision.request);
    c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body: decision.request.body.slice(), signal: raw.signal });
    return next();
  };
}
