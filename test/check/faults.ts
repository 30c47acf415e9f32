// Deliberately broken variants of our own server, for proving that `adenroll check` catches each
// fault under the right rule id and nothing else: every fault is a Request → Response wrapper
// around the real server's fetch that breaks exactly one rule and leaves the rest as it was.
import { buildPlist, parseEnrollRequestBody, parsePlist, type PlistValue } from "../../spec/index.ts";

export type ServerFetch = (request: Request) => Promise<Response>;

export interface Fault {
  readonly name: string;
  /** The rule the fault breaks: the only one the check may report as failed. */
  readonly ruleId: string;
  wrap(server: ServerFetch): ServerFetch;
}

const isEnroll = (r: Request): boolean => r.method === "POST" && /^\/enroll\//.test(new URL(r.url).pathname);
const isSignIn = (r: Request): boolean => /^\/authenticate\//.test(new URL(r.url).pathname);
const isMdm = (r: Request): boolean => r.method === "PUT" && /^\/mdm\//.test(new URL(r.url).pathname);
const challengeFor = (r: Request): string => `Bearer method="apple-as-web", url="${new URL(r.url).origin}/authenticate/${"f".repeat(43)}"`;

async function withHeaders(response: Response, change: (h: Headers) => void, status = response.status): Promise<Response> {
  const headers = new Headers(response.headers);
  change(headers);
  const body = [204, 304].includes(status) ? null : await response.arrayBuffer();
  return new Response(body, { status, headers });
}

async function errorCode(response: Response): Promise<string | undefined> {
  const text = await response.clone().text();
  return /"code"\s*:\s*"([^"]+)"/.exec(text)?.[1];
}

/** The profile's com.apple.mdm payload changed by `edit` (the demo's profiles are unsigned XML). */
function editProfile(edit: (mdm: Record<string, PlistValue>) => void): (server: ServerFetch) => ServerFetch {
  return (server) => async (request) => {
    const response = await server(request);
    if (!isEnroll(request) || response.status !== 200) return response;
    const parsed = parsePlist(new Uint8Array(await response.arrayBuffer()));
    if (!parsed.ok || typeof parsed.value !== "object" || Array.isArray(parsed.value) || parsed.value instanceof Date || parsed.value instanceof Uint8Array) throw new Error("the fault expects an unsigned profile");
    const content = parsed.value["PayloadContent"];
    for (const payload of Array.isArray(content) ? content : []) {
      if (typeof payload === "object" && !Array.isArray(payload) && !(payload instanceof Date) && !(payload instanceof Uint8Array) && payload["PayloadType"] === "com.apple.mdm") edit(payload);
    }
    return new Response(buildPlist(parsed.value), { status: 200, headers: response.headers });
  };
}

const isWellKnown = (r: Request): boolean => new URL(r.url).pathname === "/.well-known/com.apple.remotemanagement";

/** The organization's web server sends the well-known request on with a redirect (hop=1 marks the second leg). */
export function redirectingDiscovery(keepQuery: boolean): (server: ServerFetch) => ServerFetch {
  return (server) => async (request) => {
    const url = new URL(request.url);
    if (!isWellKnown(request) || url.searchParams.get("hop") === "1") return server(request);
    const next = new URL(`${url.origin}${url.pathname}?hop=1`);
    if (keepQuery) for (const [k, v] of url.searchParams) next.searchParams.set(k, v);
    return new Response(null, { status: 302, headers: { location: next.toString() } });
  };
}

export const faults: readonly Fault[] = [
  {
    name: "a well-known redirect without the query",
    ruleId: "DISCOVERY-12",
    wrap: redirectingDiscovery(false),
  },
  {
    name: "a 200 on the first enroll",
    ruleId: "ENROLL-5",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (isEnroll(request) && !request.headers.has("authorization") && response.status === 401) return new Response(null, { status: 200 });
      return response;
    },
  },
  {
    name: "a 401 without a challenge on the first enroll",
    ruleId: "ENROLL-5",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (isEnroll(request) && !request.headers.has("authorization") && response.status === 401) return withHeaders(response, (h) => h.delete("www-authenticate"));
      return response;
    },
  },
  {
    name: "challenge parameters without commas",
    ruleId: "CHALLENGE-3",
    wrap: (server) => async (request) => {
      const response = await server(request);
      const challenge = response.headers.get("www-authenticate");
      if (challenge === null) return response;
      return withHeaders(response, (h) => h.set("www-authenticate", challenge.replace(/", /g, '" ')));
    },
  },
  {
    name: "no signature check on the enroll body",
    ruleId: "ENROLL-4",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (isEnroll(request) && response.status === 400 && (await errorCode(response)) === "enroll.signature-invalid") {
        return new Response(null, { status: 401, headers: { "www-authenticate": challengeFor(request) } });
      }
      return response;
    },
  },
  {
    name: "the iOS 15 Content-Type refused",
    ruleId: "ENROLL-2",
    wrap: (server) => async (request) => {
      if (isEnroll(request) && request.headers.get("content-type") === "application/x-www-form-urlencoded") return new Response(null, { status: 415 });
      return server(request);
    },
  },
  {
    name: "extra plist keys refused",
    ruleId: "ENROLL-3",
    wrap: (server) => async (request) => {
      if (isEnroll(request)) {
        const parsed = parseEnrollRequestBody(new Uint8Array(await request.clone().arrayBuffer()));
        if (parsed.ok && Object.keys(parsed.value.info).length > 3) return new Response(null, { status: 400 });
      }
      return server(request);
    },
  },
  {
    name: "discovery answers 200 for an unknown user",
    ruleId: "DISCOVERY-11",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (new URL(request.url).pathname.startsWith("/.well-known/") && response.status === 403) {
        return Response.json({ Servers: [{ Version: "mdm-byod", BaseURL: `${new URL(request.url).origin}/enroll/mdm-byod` }] });
      }
      return response;
    },
  },
  {
    name: "the sign-in succeeds with 302 instead of 308",
    ruleId: "SIMPLE-4",
    wrap: (server) => async (request) => {
      const response = await server(request);
      return isSignIn(request) && response.status === 308 ? withHeaders(response, () => undefined, 302) : response;
    },
  },
  {
    name: "a wrong password redirects to the callback",
    ruleId: "SIMPLE-5",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (isSignIn(request) && request.method === "POST" && response.status === 401) {
        return new Response(null, { status: 308, headers: { location: `apple-remotemanagement-user-login://authentication-results?access-token=${"x".repeat(43)}` } });
      }
      return response;
    },
  },
  {
    name: "an unescaped user-identifier on the sign-in page",
    ruleId: "SEC-1",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (!isSignIn(request) || request.method !== "GET" || response.status !== 200) return response;
      const who = new URL(request.url).searchParams.get("user-identifier") ?? "";
      const html = (await response.text()).replace("</main>", `<p>Signing in as ${who}</p></main>`);
      return new Response(html, { status: 200, headers: response.headers });
    },
  },
  {
    name: "any token gets a profile on the second enroll",
    ruleId: "ENROLL2-2",
    wrap: (server) => {
      // The last profile a valid token got, served again for any other token (without asking the
      // server, whose enrollment would otherwise move on to a new identity).
      let delivered: { body: ArrayBuffer; headers: Headers } | undefined;
      return async (request) => {
        const authorized = isEnroll(request) && request.headers.has("authorization");
        const response = await server(request);
        if (!authorized) return response;
        if (response.status === 200) {
          delivered = { body: await response.clone().arrayBuffer(), headers: new Headers(response.headers) };
          return response;
        }
        return delivered === undefined ? response : new Response(delivered.body.slice(0), { status: 200, headers: delivered.headers });
      };
    },
  },
  {
    name: "the profile served as text/plain",
    ruleId: "ENROLL2-3",
    wrap: (server) => async (request) => {
      const response = await server(request);
      return isEnroll(request) && response.status === 200 ? withHeaders(response, (h) => h.set("content-type", "text/plain")) : response;
    },
  },
  {
    name: "AccessRights in a BYOD profile",
    ruleId: "PROFILE-4",
    wrap: editProfile((mdm) => {
      mdm["AccessRights"] = 8191;
    }),
  },
  {
    name: "EnrollmentMode ADDE for mdm-byod",
    ruleId: "PROFILE-2",
    wrap: editProfile((mdm) => {
      mdm["EnrollmentMode"] = "ADDE";
    }),
  },
  {
    name: "a check-in without a token accepted",
    ruleId: "ONGOING-7",
    wrap: (server) => async (request) => (isMdm(request) && !request.headers.has("authorization") ? new Response(null, { status: 200 }) : server(request)),
  },
  {
    name: "a stale token accepted on check-in after re-authentication",
    ruleId: "ONGOING-10",
    wrap: (server) => {
      const byRef = new Map<string, string>();
      const replaced = new Map<string, string>();
      return async (request) => {
        if (isMdm(request)) {
          const old = /^Bearer (\S+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
          const current = old === undefined ? undefined : replaced.get(old);
          if (current !== undefined) {
            const headers = new Headers(request.headers);
            headers.set("authorization", `Bearer ${current}`);
            return server(new Request(request, { headers }));
          }
          return server(request);
        }
        const response = await server(request);
        const token = /access-token=([^&]+)/.exec(response.headers.get("location") ?? "")?.[1];
        if (isSignIn(request) && token !== undefined) {
          const ref = new URL(request.url).pathname;
          const before = byRef.get(ref);
          if (before !== undefined) replaced.set(before, token);
          byRef.set(ref, token);
        }
        return response;
      };
    },
  },
  {
    name: "no 403 unrecognized device after unenroll",
    ruleId: "ONGOING-9",
    wrap: (server) => async (request) => {
      const response = await server(request);
      if (isMdm(request) && response.status === 403 && (await errorCode(response)) === "com.apple.unrecognized.device") {
        return new Response(null, { status: 401, headers: { "www-authenticate": challengeFor(request) } });
      }
      return response;
    },
  },
  {
    name: "an unsigned request accepted under SignMessage",
    ruleId: "ONGOING-13",
    wrap: (server) => async (request) => (isMdm(request) && request.headers.has("authorization") && !request.headers.has("mdm-signature") ? new Response(null, { status: 200 }) : server(request)),
  },
];

const isTokenRequest = (r: Request): boolean => r.method === "POST" && new URL(r.url).pathname === "/oauth2/token";

/** Faults of the OAuth 2 authorization server, checked with the OAuth 2 account (ServerOptions: oauthUser). */
export const oauthFaults: readonly Fault[] = [
  {
    name: "an authorization code accepted twice",
    ruleId: "OAUTH-10",
    wrap: (server) => {
      const answered = new Map<string, { body: ArrayBuffer; headers: Headers }>();
      return async (request) => {
        if (!isTokenRequest(request)) return server(request);
        const form = new URLSearchParams(await request.clone().text());
        const code = form.get("grant_type") === "authorization_code" ? form.get("code") : null;
        const seen = code === null ? undefined : answered.get(code);
        if (seen !== undefined) return new Response(seen.body.slice(0), { status: 200, headers: seen.headers });
        const response = await server(request);
        if (code !== null && response.status === 200) answered.set(code, { body: await response.clone().arrayBuffer(), headers: new Headers(response.headers) });
        return response;
      };
    },
  },
  {
    name: "refresh tokens that never rotate",
    ruleId: "OAUTH-12",
    wrap: (server) => {
      // The client keeps its first refresh token; behind it, the server's rotated one is used.
      const latest = new Map<string, string>();
      return async (request) => {
        if (!isTokenRequest(request)) return server(request);
        const form = new URLSearchParams(await request.clone().text());
        const presented = form.get("grant_type") === "refresh_token" ? form.get("refresh_token") : null;
        if (presented === null) return server(request);
        form.set("refresh_token", latest.get(presented) ?? presented);
        const response = await server(new Request(request.url, { method: "POST", headers: request.headers, body: form.toString() }));
        if (response.status !== 200) return response;
        const json: unknown = await response.json();
        if (typeof json !== "object" || json === null || !("refresh_token" in json) || typeof json.refresh_token !== "string") return Response.json(json, { headers: response.headers });
        latest.set(presented, json.refresh_token);
        return Response.json({ ...json, refresh_token: presented }, { headers: response.headers });
      };
    },
  },
];
