// What every answer of the generated server must look like, whatever was sent (issue 3, item 9):
// never a 5xx and never a thrown exception; a 4xx carries a clear error body — problem+json with a
// code from spec/errors.ts, Apple's own JSON error bodies where the protocol defines them, the HTML
// error page on the web-authentication paths, or an empty 401 with the configured challenge.
import { expect } from "vitest";
import { serverErrors, ServerWellKnownResponse, UnrecognizedDevice, WellKnownFailed, type ServerErrorCode } from "../../spec/index.ts";

export const base = "https://mdm.example.com";

export type Route = "well-known" | "enroll" | "web-auth-page" | "web-auth-submit" | "check-in" | "none";

/** The route the generated server gives this method and path (Hono: exact paths, one segment per parameter). */
export function routeOf(method: string, pathname: string): Route {
  const get = method === "GET" || method === "HEAD";
  if (pathname === "/.well-known/com.apple.remotemanagement" && get) return "well-known";
  if (/^\/enroll\/[^/]+$/.test(pathname) && method === "POST") return "enroll";
  if (/^\/authenticate\/[^/]+$/.test(pathname) && get) return "web-auth-page";
  if (/^\/authenticate\/[^/]+$/.test(pathname) && method === "POST") return "web-auth-submit";
  if (pathname === "/mdm/checkin" && method === "PUT") return "check-in";
  return "none";
}

/**
 * The statuses each route may answer to requests the fuzzers send. 2xx/3xx only where a valid
 * request can get them: discovery of a known user, the sign-in page of a known enrollment, the
 * redirect after the right password; enroll 200 and check-in 200 need the device's own token, so
 * the tests that send it widen the set.
 */
export const statusesOf: Record<Route, readonly number[]> = {
  "well-known": [200, 400, 403],
  enroll: [400, 401, 404, 413],
  "web-auth-page": [200, 400, 404, 409],
  "web-auth-submit": [308, 400, 401, 403, 404, 409, 413, 429],
  "check-in": [400, 401, 403, 413],
  none: [404],
};

export interface Answer {
  readonly method: string;
  readonly url: URL;
  readonly route: Route;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** Unexpected failures the server reported (ServerOptions.reportError): there must be none. */
export const reported: unknown[] = [];
export const reportError = (error: unknown): void => {
  reported.push(error);
};

export type Fetch = (request: Request) => Response | Promise<Response>;

/** Sends one request and judges the answer; a thrown exception fails the property as it is. */
export async function send(fetch: Fetch, request: Request, statuses?: readonly number[]): Promise<Answer> {
  const url = new URL(request.url);
  const method = request.method;
  // Each answer is judged with what this request alone made the server report (so that shrinking
  // a failing property keeps pointing at a request that fails).
  reported.length = 0;
  const response = await fetch(request);
  const answer: Answer = { method, url, route: routeOf(method, url.pathname), status: response.status, headers: response.headers, text: await response.text() };
  expectClean(answer, statuses ?? statusesOf[answer.route]);
  return answer;
}

const pageHeaders = {
  "content-security-policy": /frame-ancestors 'none'/,
  "cache-control": /^no-store$/,
  "referrer-policy": /^no-referrer$/,
  "x-content-type-options": /^nosniff$/,
} as const;

const challengeHeader = /^Bearer method="apple-as-web", url="https:\/\/mdm\.example\.com\/authenticate\/[A-Za-z0-9_-]{16,64}"$/;

export function expectClean(a: Answer, statuses: readonly number[]): void {
  const what = `${a.method} ${a.url.pathname.slice(0, 80)} → ${a.status} ${a.headers.get("content-type") ?? "(no content-type)"} ${a.text.slice(0, 160)}`;
  expect(reported.map((e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))), `reported as unexpected failures (${what})`).toEqual([]);
  expect(a.status, what).toBeGreaterThanOrEqual(200);
  expect(a.status, what).toBeLessThan(500);
  expect(statuses, what).toContain(a.status);
  if (a.method === "HEAD") expect(a.text, what).toBe("");
  const type = a.headers.get("content-type");
  const html = type === "text/html; charset=utf-8";
  if (html) {
    // Only the web-authentication paths answer in HTML, always with the page security headers.
    expect(a.route === "web-auth-page" || a.route === "web-auth-submit", what).toBe(true);
    for (const [name, pattern] of Object.entries(pageHeaders)) expect(a.headers.get(name) ?? "", `${name} (${what})`).toMatch(pattern);
    if (a.method !== "HEAD") {
      expect(a.text, what).toMatch(/^<!DOCTYPE html>\n/);
      expect(a.text.toLowerCase(), what).not.toContain("<script");
      expect(a.text, what).toMatch(/<\/html>\n$/);
    }
  }

  if (a.status >= 400) {
    if (a.route === "web-auth-page" || a.route === "web-auth-submit") {
      // A person in a web view reads words, not JSON: every failure there is a page.
      expect(html, `web-authentication failures are HTML pages (${what})`).toBe(true);
      const form = a.route === "web-auth-submit" && a.status === 401;
      if (a.method !== "HEAD") {
        if (form) expect(a.text, what).toContain('role="alert"');
        else expect(a.text, what).not.toContain("<form");
        expect(a.text, what).not.toContain("apple-remotemanagement-user-login");
      }
      expect(a.headers.get("location"), what).toBeNull();
      return;
    }
    if (type === "application/problem+json") {
      if (a.method === "HEAD") return;
      const body: unknown = JSON.parse(a.text);
      expect(body, what).toMatchObject({ code: expect.any(String), title: expect.any(String) });
      const code = (body as { code: string }).code;
      expect(Object.keys(serverErrors), what).toContain(code);
      const known = serverErrors[code as ServerErrorCode];
      expect(a.status, what).toBe(known.status);
      expect((body as { title: string }).title, what).toBe(known.title);
      return;
    }
    if (a.status === 401) {
      // The challenge (ENROLL-5, ENROLL2-2, ONGOING-7): no body, the configured WWW-Authenticate.
      expect(a.route === "enroll" || a.route === "check-in", what).toBe(true);
      expect(a.headers.get("www-authenticate") ?? "", what).toMatch(challengeHeader);
      expect(a.text, what).toBe("");
      return;
    }
    if (a.status === 403 && type === "application/json") {
      expect(a.route === "well-known" || a.route === "check-in", what).toBe(true);
      if (a.method === "HEAD") return;
      const body: unknown = JSON.parse(a.text);
      expect((a.route === "well-known" ? WellKnownFailed : UnrecognizedDevice).safeParse(body).success, what).toBe(true);
      return;
    }
    throw new Error(`an error answer without a clear body: ${what}`);
  }

  // 2xx and 3xx: only the documented answers of valid requests.
  switch (a.route) {
    case "well-known":
      expect(type, what).toBe("application/json");
      if (a.method !== "HEAD") expect(ServerWellKnownResponse.safeParse(JSON.parse(a.text)).success, what).toBe(true);
      return;
    case "web-auth-page":
      expect(html, what).toBe(true);
      if (a.method !== "HEAD") expect(a.text, what).toContain("<form");
      return;
    case "web-auth-submit":
      expect(a.status, what).toBe(308);
      expect(a.headers.get("location") ?? "", what).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=[A-Za-z0-9_-]{22,}$/);
      return;
    case "enroll":
      expect(type, what).toBe("application/x-apple-aspen-config");
      return;
    case "check-in":
      expect(a.status, what).toBe(200);
      expect(a.text, what).toBe("");
      return;
    case "none":
      throw new Error(`an unknown path answered ${what}`);
  }
}

/**
 * A sent value that opens a tag must not come back raw — unless the page holds it anyway (a value
 * of "<p" is in every page). Quotes are judged by inputValue and skeleton instead: a raw `" x`
 * occurs in any HTML.
 */
export function expectNotReflected(text: string, value: string, baseline: string): void {
  if (/<[a-zA-Z!/?]/.test(value) && !baseline.includes(value)) expect(text, "a sent tag came back raw").not.toContain(value);
}

/** `<input … name="NAME" … value="…">`: the value attribute of the named input, decoded as a browser would. */
export function inputValue(html: string, name: string): string | undefined {
  for (const tag of html.match(/<input\b[^>]*>/g) ?? []) {
    if (!new RegExp(`\\bname="${name}"`).test(tag)) continue;
    const value = /\bvalue="([^"]*)"/.exec(tag)?.[1];
    return value === undefined ? "" : decodeEntities(value);
  }
  return undefined;
}

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (e.startsWith("#x") || e.startsWith("#X")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return named[e.toLowerCase()] ?? "";
  });
}

/**
 * The page's structure: each tag's name and attribute names, in order (quoted values blanked), so
 * an injected tag or an attribute broken out of its quotes changes it while escaped text does not.
 * `autofocus` is left out: the page moves it to the password field once a user name is known.
 */
export function skeleton(html: string): string {
  return (html.match(/<\/?[a-zA-Z!][^>]*>/g) ?? [])
    .map((tag) => {
      const bare = tag.replace(/"[^"]*"/g, '""');
      const name = /^<\/?[a-zA-Z!][a-zA-Z0-9-]*/.exec(bare)?.[0] ?? "<?";
      return [name, ...Array.from(bare.matchAll(/\s([a-zA-Z-]+)(?==|\s|>|\/)/g), (m) => m[1]).filter((n) => n !== "autofocus")].join(" ");
    })
    .join("\n");
}
