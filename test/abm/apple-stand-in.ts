// A stand-in for Apple's device-assignment API on 127.0.0.1 (node:http), answering as Apple's
// documentation describes ("Authenticating for Automated Device Enrollment", "Interpreting … error
// codes", and the three account-driven-enrollment profile endpoints):
//   GET /session — OAuth 1.0a: 400 for a missing, duplicated or unsupported parameter; 401 for an
//     unknown consumer key or token, a bad signature (recomputed here from the known secrets, with
//     node:crypto's HMAC — not the client's), a stale timestamp or a reused nonce; 403
//     T_C_NOT_SIGNED / TOKEN_EXPIRED when told to; else {"auth_session_token": …}.
//   /account-driven-enrollment/profile — X-ADM-Auth-Session required (401 when unknown or expired:
//     a session serves `sessionLifetime` requests); POST / GET / DELETE on in-memory state, 400
//     MDM_SERVICE_DISCOVERY_URL_REQUIRED / _NOT_VALID / ORG_NOT_SUPPORTED, GET 404 NOT_FOUND.
//   Optionally a new X-ADM-Auth-Session in an answer ("periodically issues a new …"), after which
//   the old one is refused.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { oauthHmacKey, oauthSignatureBaseString, parseOAuthAuthorization, type AbmServerToken } from "../../spec/abm.ts";

export interface StandInOptions {
  readonly token: AbmServerToken;
  /** Milliseconds; OAuth timestamps must be within 5 minutes of it. */
  readonly now: () => number;
  /** How many profile requests a session serves before it answers 401 (default: unlimited). */
  sessionLifetime?: number;
  /** Every Nth profile answer carries a new X-ADM-Auth-Session, and the old one stops working. */
  rotateSessionEvery?: number;
  orgSupported?: boolean;
  /** /session answers 403 with this code (T_C_NOT_SIGNED, TOKEN_EXPIRED…). */
  sessionForbidden?: string;
  /** How error codes are written: the bare code (text/plain) or {"code": …} (application/json). */
  errorBody?: "bare" | "json";
  /** Which URLs Apple accepts (default: absolute https). */
  acceptsUrl?: (url: string) => boolean;
}

export interface StandInRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
  status: number;
}

export interface StandIn {
  readonly origin: string;
  readonly options: StandInOptions;
  readonly requests: StandInRequest[];
  /** How many sessions /session has issued. */
  sessionsIssued: number;
  registered: { url: string; lastUpdated: string } | undefined;
  close(): Promise<void>;
}

const profilePath = "/account-driven-enrollment/profile";

export async function startAppleStandIn(options: StandInOptions): Promise<StandIn> {
  const sessions = new Map<string, { remaining: number }>();
  const seenNonces = new Set<string>();
  let answered = 0;
  const state: StandIn = {
    origin: "",
    options,
    requests: [],
    sessionsIssued: 0,
    registered: undefined,
    close: async () => undefined,
  };

  function error(res: ServerResponse, record: StandInRequest, status: number, code: string): void {
    record.status = status;
    if ((options.errorBody ?? "bare") === "json") {
      res.writeHead(status, { "content-type": "application/json;charset=UTF8" }).end(JSON.stringify({ code, message: code.toLowerCase().replace(/_/g, " ") }));
    } else res.writeHead(status, { "content-type": "text/plain;charset=UTF8" }).end(code);
  }

  function json(res: ServerResponse, record: StandInRequest, status: number, value: unknown, headers: Record<string, string> = {}): void {
    record.status = status;
    res.writeHead(status, { "content-type": "application/json;charset=UTF8", ...headers }).end(value === undefined ? "" : JSON.stringify(value));
  }

  function session(res: ServerResponse, record: StandInRequest, url: string): void {
    const header = record.headers["authorization"];
    const params = header === undefined ? undefined : parseOAuthAuthorization(header);
    if (params === undefined) return error(res, record, 400, "MISSING_AUTHORIZATION");
    const map = new Map<string, string>();
    for (const [name, value] of params) {
      if (map.has(name)) return error(res, record, 400, "DUPLICATED_OAUTH_PARAMETER");
      map.set(name, value);
    }
    for (const required of ["oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_signature", "oauth_timestamp", "oauth_nonce"]) {
      if (!map.has(required)) return error(res, record, 400, "MISSING_OAUTH_PARAMETER");
    }
    if (map.get("oauth_signature_method") !== "HMAC-SHA1") return error(res, record, 400, "UNSUPPORTED_SIGNATURE_METHOD");
    if (map.has("oauth_version") && map.get("oauth_version") !== "1.0") return error(res, record, 400, "UNSUPPORTED_OAUTH_PARAMETER");
    if (map.get("realm") !== "ADM") return error(res, record, 400, "UNSUPPORTED_OAUTH_PARAMETER");
    if (map.get("oauth_consumer_key") !== options.token.consumer_key || map.get("oauth_token") !== options.token.access_token) return error(res, record, 401, "UNAUTHORIZED");
    const timestamp = Number(map.get("oauth_timestamp"));
    if (!Number.isInteger(timestamp) || Math.abs(timestamp - options.now() / 1000) > 300) return error(res, record, 401, "UNAUTHORIZED");
    const nonceKey = `${timestamp}:${map.get("oauth_nonce")}`;
    if (seenNonces.has(nonceKey)) return error(res, record, 401, "UNAUTHORIZED");
    const signed = params.filter(([name]) => name !== "oauth_signature" && name !== "realm");
    const base = oauthSignatureBaseString("GET", url, signed);
    const expected = createHmac("sha1", oauthHmacKey(options.token.consumer_secret, options.token.access_secret)).update(base).digest();
    const given = Buffer.from(map.get("oauth_signature") ?? "", "base64");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return error(res, record, 401, "UNAUTHORIZED");
    seenNonces.add(nonceKey);
    if (options.sessionForbidden !== undefined) return error(res, record, 403, options.sessionForbidden);
    const token = randomBytes(24).toString("hex");
    sessions.set(token, { remaining: options.sessionLifetime ?? Number.POSITIVE_INFINITY });
    state.sessionsIssued++;
    json(res, record, 200, { auth_session_token: token });
  }

  function profile(res: ServerResponse, record: StandInRequest): void {
    const token = record.headers["x-adm-auth-session"];
    const current = token === undefined ? undefined : sessions.get(token);
    if (token === undefined || current === undefined || current.remaining <= 0) {
      if (token !== undefined) sessions.delete(token);
      return error(res, record, 401, "UNAUTHORIZED");
    }
    current.remaining--;
    const extra: Record<string, string> = {};
    answered++;
    if (options.rotateSessionEvery !== undefined && answered % options.rotateSessionEvery === 0) {
      const next = randomBytes(24).toString("hex");
      sessions.delete(token);
      sessions.set(next, current);
      extra["x-adm-auth-session"] = next;
    }
    if (options.orgSupported === false) return error(res, record, 400, "ORG_NOT_SUPPORTED");
    switch (record.method) {
      case "POST": {
        let body: unknown;
        try {
          body = JSON.parse(record.body);
        } catch {
          return error(res, record, 400, "MALFORMED_REQUEST_BODY");
        }
        const url = typeof body === "object" && body !== null && "mdm_service_discovery_url" in body ? body.mdm_service_discovery_url : undefined;
        if (typeof url !== "string" || url === "") return error(res, record, 400, "MDM_SERVICE_DISCOVERY_URL_REQUIRED");
        const accepts = options.acceptsUrl ?? ((u: string) => URL.parse(u)?.protocol === "https:");
        if (!accepts(url)) return error(res, record, 400, "MDM_SERVICE_DISCOVERY_URL_NOT_VALID");
        state.registered = { url, lastUpdated: new Date(options.now()).toISOString() };
        return json(res, record, 200, undefined, extra);
      }
      case "GET":
        if (state.registered === undefined) return error(res, record, 404, "NOT_FOUND");
        return json(res, record, 200, { mdm_service_discovery_url: state.registered.url, last_updated_timestamp: state.registered.lastUpdated }, extra);
      case "DELETE":
        state.registered = undefined;
        return json(res, record, 200, undefined, extra);
      default:
        record.status = 405;
        res.writeHead(405).end();
    }
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(", ") : value;
      const record: StandInRequest = { method: req.method ?? "GET", path: url.pathname, headers, body: Buffer.concat(chunks).toString("utf8"), status: 0 };
      state.requests.push(record);
      if (url.pathname === "/session" && record.method === "GET") return session(res, record, url.href);
      if (url.pathname === profilePath) return profile(res, record);
      record.status = 404;
      res.writeHead(404, { "content-type": "text/html" }).end("<html><body>No such page</body></html>");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return Object.assign(state, {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  });
}
