// The runtime side of the device machine: its named actors over the generated client, a web
// authentication session (what ASWebAuthenticationSession does) and a person who answers it.
import { createActor, fromPromise, waitFor, type SnapshotFrom } from "xstate";
import { callbackScheme, type ModelFamily, type TokenRequest, type EnrollmentSsoDocument } from "../spec/index.ts";
import { deviceMachine, type DeviceActorImplementations, type DeviceInput, type WebAuthOutcome, type HttpAnswer, type MdmRequestInput, type PendingMdmRequest } from "../machines/index.ts";
import * as client from "../generated/client.generated.ts";
import type { Fetch } from "../generated/client.generated.ts";
import { newUuid, secureRandomBytes, type RandomBytes } from "./crypto.ts";

/** A page the person sees in the web session, and what they do with it. */
export interface WebPage {
  readonly url: string;
  readonly status: number;
  readonly html: string;
}

export type PersonAction =
  | { readonly kind: "submit"; readonly action: string; readonly fields: Readonly<Record<string, string>> }
  /** Follows a link (a GET): "Continue with <identity provider>", say. */
  | { readonly kind: "follow"; readonly url: string }
  | { readonly kind: "cancel" };

export interface Person {
  /** Answers a page of the web authentication session. */
  onPage(page: WebPage): PersonAction | Promise<PersonAction>;
  consentToSso?(document: EnrollmentSsoDocument): boolean | Promise<boolean>;
  signInManagedAccount?(managedAppleId: string): boolean | Promise<boolean>;
}

/** How MDM requests leave the device, once it is enrolled (the machine decides what they mean). */
export interface MdmTransport {
  /** The Mdm-Signature header for a body (the profile's SignMessage), or null to send it unsigned. */
  sign?(body: Uint8Array): Promise<string | null>;
  /** Where a request for the profile's ServerURL / CheckInURL really goes (a simulator's stand-in). */
  url?(url: string): string;
  /** Every MDM answer with its body and where it came from: the machine keeps only what it means (a command is in the body). */
  answered?(request: PendingMdmRequest, answer: HttpAnswer, url: string): void;
}

export interface DeviceRuntimeOptions {
  readonly fetch: Fetch;
  readonly person: Person;
  readonly random?: RandomBytes;
  /** Most redirects and pages a web session goes through before it gives up. */
  readonly maxWebSteps?: number;
  readonly mdm?: MdmTransport;
}

/** What a simulated device of each family says it is (enroll body, Authenticate): a current model and OS. */
export const simulatedProducts: Readonly<Record<ModelFamily, { readonly product: string; readonly version: string; readonly osVersion: string }>> = {
  iPhone: { product: "iPhone17,2", version: "22C152", osVersion: "18.2" },
  iPad: { product: "iPad16,3", version: "22C152", osVersion: "18.2" },
  Mac: { product: "Mac15,3", version: "24C101", osVersion: "15.2" },
  RealityDevice: { product: "RealityDevice14,1", version: "22N842", osVersion: "2.2" },
  AppleTV: { product: "AppleTV14,1", version: "22K154", osVersion: "18.2" },
  Watch: { product: "Watch7,1", version: "22S560", osVersion: "11.2" },
};

const utf8 = new TextDecoder();

function isCallback(location: string): boolean {
  return location.toLowerCase().startsWith(`${callbackScheme}:`);
}

interface StoredCookie {
  readonly name: string;
  readonly value: string;
  /** The host that set it (host-only), or the Domain attribute's domain. */
  readonly domain: string;
  readonly hostOnly: boolean;
  readonly path: string;
  readonly secure: boolean;
  /** SameSite; none when the attribute is absent or unknown (Safari's default, unlike Chrome's Lax). */
  readonly sameSite: "strict" | "lax" | "none";
  /** Milliseconds since the epoch; null: until the session ends. */
  readonly expiresAt: number | null;
}

/** What the cookie rules need of a request (RFC 6265bis §5.8.3): a navigation of the web view. */
export interface CookieRequest {
  /** Same-site: started by the session itself, or by a page of the target's site with no other site in between. */
  readonly sameSite: boolean;
  readonly method: "GET" | "POST";
}

/** An IPv4 or bracketed IPv6 host (URL.hostname's forms): Domain never widens it (RFC 6265 §5.1.3). */
const isIpHost = (host: string): boolean => host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);

/** RFC 6265 §5.1.3: the host is the domain, or a name under it (never for an IP address). */
function domainMatches(host: string, domain: string): boolean {
  return host === domain || (!isIpHost(host) && host.endsWith(`.${domain}`));
}

/**
 * A URL's site, schemeful: the scheme and, for want of a public suffix list, the host's last two
 * labels (the host itself for an IP address or a single label). `a.example.co.uk` and
 * `b.co.uk` therefore count as one site: the simulator sends cookies more often than Safari there.
 */
export function siteOf(url: URL): string {
  const host = url.hostname.toLowerCase();
  const labels = host.split(".");
  return `${url.protocol}//${isIpHost(host) || labels.length <= 2 ? host : labels.slice(-2).join(".")}`;
}

/**
 * The session's cookies, as a browser keeps them (RFC 6265 §5.2–5.4): host-only or for a Domain
 * the host is in, Path, Secure (set and sent only over https), Max-Age and Expires, the __Host- and
 * __Secure- prefixes, SameSite (every request is a top-level navigation of the web view: Strict
 * cookies go only with same-site requests, Lax ones also with cross-site GETs); like a browser, not
 * per port. Without a public suffix list, a Domain of one label (`com`, `localhost`) is refused
 * unless it is the host itself (then host-only), a Domain such as `co.uk` is not recognised as a
 * suffix, and sites are guessed (siteOf). The session is ephemeral, like ASWebAuthenticationSession
 * with an ephemeral browser session.
 */
export class CookieJar {
  /** By name, domain and path: a cookie's identity (RFC 6265 §5.3 step 11). */
  readonly #cookies = new Map<string, StoredCookie>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Keeps the Set-Cookie headers of an answer from `url`. */
  store(url: URL, setCookies: readonly string[]): void {
    const https = url.protocol === "https:";
    const host = url.hostname.toLowerCase();
    for (const line of setCookies) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = defaultCookiePath(url.pathname);
      let pathGiven = false;
      let secure = false;
      let sameSite: StoredCookie["sameSite"] = "none";
      let expiresAt: number | null = null;
      let domainAttribute: string | null = null;
      for (const attribute of attributes) {
        const [key = "", ...rest] = attribute.split("=");
        const v = rest.join("=").trim();
        switch (key.trim().toLowerCase()) {
          case "domain": {
            // The last one counts; a leading dot is ignored; an empty one is no attribute (§5.2.3).
            const domain = v.replace(/^\./, "").toLowerCase();
            domainAttribute = domain === "" ? null : domain;
            break;
          }
          case "path":
            if (v.startsWith("/")) {
              path = v;
              pathGiven = true;
            }
            break;
          case "secure":
            secure = true;
            break;
          case "samesite": {
            const mode = v.toLowerCase();
            sameSite = mode === "strict" || mode === "lax" ? mode : "none";
            break;
          }
          case "max-age": {
            const seconds = Number(v);
            if (/^-?\d+$/.test(v)) expiresAt = seconds <= 0 ? 0 : this.now() + seconds * 1000;
            break;
          }
          case "expires": {
            const at = Date.parse(v);
            if (!Number.isNaN(at) && expiresAt === null) expiresAt = at;
            break;
          }
        }
      }
      // A Secure cookie is never set over http, nor a __Host-/__Secure- one; those need Secure, and
      // __Host- also Path=/ and no Domain (RFC 6265bis §4.1.3).
      if ((secure || name.startsWith("__Host-") || name.startsWith("__Secure-")) && !https) continue;
      if ((name.startsWith("__Host-") || name.startsWith("__Secure-")) && !secure) continue;
      if (name.startsWith("__Host-") && (domainAttribute !== null || !pathGiven || path !== "/")) continue;
      let domain = host;
      let hostOnly = true;
      if (domainAttribute !== null && domainAttribute !== host) {
        // Another host's domain, or a single label (no public suffix list: `com`, `localhost`): ignored whole.
        if (!domainMatches(host, domainAttribute) || !domainAttribute.includes(".")) continue;
        domain = domainAttribute;
        hostOnly = false;
      } else if (domainAttribute !== null && !isIpHost(host)) {
        hostOnly = !domainAttribute.includes(".");
      }
      const key = `${name}\u0000${domain}\u0000${path}`;
      if (expiresAt !== null && expiresAt <= this.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, domain, hostOnly, path, secure, sameSite, expiresAt });
    }
  }

  /** The Cookie header for a request to `url` (by default one the session started itself), or null. */
  header(url: URL, request: CookieRequest = { sameSite: true, method: "GET" }): string | null {
    const host = url.hostname.toLowerCase();
    const now = this.now();
    const sent: StoredCookie[] = [];
    for (const cookie of this.#cookies.values()) {
      if (cookie.expiresAt !== null && cookie.expiresAt <= now) continue;
      if (!(cookie.hostOnly ? host === cookie.domain : domainMatches(host, cookie.domain))) continue;
      if (cookie.secure && url.protocol !== "https:") continue;
      if (!request.sameSite && (cookie.sameSite === "strict" || (cookie.sameSite === "lax" && request.method !== "GET"))) continue;
      if (!(url.pathname === cookie.path || url.pathname.startsWith(cookie.path.endsWith("/") ? cookie.path : `${cookie.path}/`))) continue;
      sent.push(cookie);
    }
    // Longer paths first (RFC 6265 §5.4 step 2); otherwise in the order they were set.
    sent.sort((a, b) => b.path.length - a.path.length);
    return sent.length === 0 ? null : sent.map((c) => `${c.name}=${c.value}`).join("; ");
  }
}

/**
 * One web view's cookies over a session: the jar, and which navigation each request belongs to —
 * the session's own start (as if typed: same-site), or the one the person started on a page (a
 * link or a form), same-site while it stays on that page's site (RFC 6265bis §5.2.1: a redirect
 * through another site makes the rest of the chain cross-site).
 */
export class WebViewCookies {
  readonly jar: CookieJar;
  #initiator: string | null = null;
  #crossed = false;

  constructor(now?: () => number) {
    this.jar = new CookieJar(now);
  }

  /** The person acted on the page at `pageUrl`: the requests that follow are that page's navigation. */
  navigateFrom(pageUrl: string | URL): void {
    this.#initiator = siteOf(new URL(pageUrl));
    this.#crossed = false;
  }

  /** `request` with the Cookie header this step of the navigation carries (the jar's, replacing any). */
  attach(request: Request): Request {
    const target = new URL(request.url);
    if (this.#initiator !== null && siteOf(target) !== this.#initiator) this.#crossed = true;
    const cookie = this.jar.header(target, { sameSite: this.#initiator === null || !this.#crossed, method: request.method === "GET" ? "GET" : "POST" });
    const headers = new Headers(request.headers);
    if (cookie === null) headers.delete("cookie");
    else headers.set("cookie", cookie);
    return new Request(request, { headers });
  }

  /** Keeps the cookies an answer to a request for `url` sets. */
  keep(url: string | URL, response: Response): void {
    this.jar.store(new URL(url), response.headers.getSetCookie());
  }
}

function defaultCookiePath(pathname: string): string {
  const last = pathname.lastIndexOf("/");
  return last <= 0 ? "/" : pathname.slice(0, last);
}

/**
 * A web authentication session: GET the start URL, follow redirects (to any origin), show pages
 * to the person and post what they submit (or follow the link they choose), keeping cookies as a
 * browser does (CookieJar), until a redirect lands on the callback scheme (PROTOCOL.md §8: any redirect status does)
 * or the person cancels. Every redirect is followed with a GET, as browsers do after a 303.
 */
export async function webAuthenticationSession(
  fetch: Fetch,
  person: Person,
  startUrl: string,
  maxSteps = 20,
): Promise<WebAuthOutcome> {
  const cookies = new WebViewCookies();
  const send = async (url: string, init: { readonly method: "GET" } | { readonly method: "POST"; readonly form: string }): Promise<HttpAnswer> => {
    const request = new Request(url, {
      method: init.method,
      redirect: "manual",
      ...(init.method === "POST" ? { headers: { "content-type": "application/x-www-form-urlencoded" }, body: init.form } : {}),
    });
    const response = await fetch(cookies.attach(request));
    cookies.keep(url, response);
    return client.toAnswer(response);
  };
  let url = startUrl;
  let answer: HttpAnswer = await send(url, { method: "GET" });
  for (let step = 0; step < maxSteps; step++) {
    if (answer.status >= 300 && answer.status < 400) {
      const location = answer.headers["location"];
      if (location === undefined) return { kind: "http-error", status: answer.status };
      if (isCallback(location)) return { kind: "callback", url: location };
      url = new URL(location, url).toString();
      answer = await send(url, { method: "GET" });
      continue;
    }
    const html = utf8.decode(answer.body);
    if (answer.status !== 200 && answer.status !== 401) return { kind: "http-error", status: answer.status };
    const action = await person.onPage({ url, status: answer.status, html });
    if (action.kind === "cancel") return { kind: "cancelled" };
    cookies.navigateFrom(url);
    if (action.kind === "follow") {
      url = new URL(action.url, url).toString();
      answer = await send(url, { method: "GET" });
      continue;
    }
    url = new URL(action.action, url).toString();
    // A browser posts whatever fields the page's form has; so does this session.
    answer = await send(url, { method: "POST", form: new URLSearchParams(Object.entries(action.fields)).toString() });
  }
  return { kind: "http-error", status: 508 };
}

/** The device machine's named actors, over HTTP through the generated client. */
export function deviceActors(options: DeviceRuntimeOptions): DeviceActorImplementations {
  const { fetch, person } = options;
  const random = options.random ?? secureRandomBytes;
  return {
    discover: fromPromise<HttpAnswer, { url: string }>(async ({ input }) => {
      const url = new URL(input.url);
      const query = {
        "user-identifier": url.searchParams.get("user-identifier") ?? "",
        "model-family": url.searchParams.get("model-family") ?? "",
      };
      return client.wellKnown(fetch, { origin: url.origin, query: { ...query, "model-family": modelFamilyOf(query["model-family"]) } });
    }),
    enroll: fromPromise<HttpAnswer, { baseUrl: string; body: Uint8Array; accessToken: string | null }>(({ input }) =>
      client.enroll(fetch, { url: input.baseUrl, body: input.body, accessToken: input.accessToken }),
    ),
    fetchSsoDocument: fromPromise<HttpAnswer, { url: string }>(async ({ input }) => client.toAnswer(await fetch(new Request(input.url)))),
    consentToSso: fromPromise<{ accepted: boolean }, { document: EnrollmentSsoDocument }>(async ({ input }) => ({
      accepted: (await person.consentToSso?.(input.document)) ?? true,
    })),
    webAuthenticate: fromPromise<WebAuthOutcome, { url: string; callbackScheme: string; userIdentifier: string }>(({ input }) =>
      webAuthenticationSession(fetch, person, input.url, options.maxWebSteps),
    ),
    createState: fromPromise<string, void>(async () => newUuid(random)),
    requestToken: fromPromise<HttpAnswer, { tokenUrl: string; request: TokenRequest }>(({ input }) =>
      client.oauth2Token(fetch, { url: input.tokenUrl, form: input.request }),
    ),
    signInManagedAccount: fromPromise<{ ok: boolean }, { managedAppleId: string }>(async ({ input }) => ({
      ok: (await person.signInManagedAccount?.(input.managedAppleId)) ?? true,
    })),
    sendMdmRequest: fromPromise<HttpAnswer, MdmRequestInput>(async ({ input }) => {
      const { request } = input;
      const signature = (await options.mdm?.sign?.(request.body)) ?? null;
      const sent = { url: options.mdm?.url?.(input.url) ?? input.url, body: request.body, accessToken: input.accessToken, signature };
      // Check-ins and command reports differ in their Content-Type (PROTOCOL.md §6).
      const answer = request.channel === "checkin" ? await client.checkIn(fetch, sent) : await client.command(fetch, sent);
      options.mdm?.answered?.(request, answer, sent.url);
      return answer;
    }),
  };
}

function modelFamilyOf(value: string): ModelFamily {
  const families: readonly ModelFamily[] = ["AppleTV", "iPad", "iPhone", "Mac", "RealityDevice", "Watch"];
  return families.find((f) => f === value) ?? "iPhone";
}

export type DeviceSnapshot = SnapshotFrom<typeof deviceMachine>;

/** Starts the device machine with runtime actors, types the identifier, and waits until enrolled or ended. */
export async function enrollDevice(
  input: DeviceInput & { readonly identifier: string },
  options: DeviceRuntimeOptions & { readonly onStep?: (snapshot: DeviceSnapshot) => void },
): Promise<DeviceSnapshot> {
  const session = await startDevice(input, options);
  const settled = session.snapshot();
  session.stop();
  return settled;
}

/** What became of one MDM request: the machine after it, and the last answer the server gave (null: none arrived). */
export interface MdmOutcome {
  readonly snapshot: DeviceSnapshot;
  readonly answer: HttpAnswer | null;
}

/** A device that went through enrollment and keeps running: its MDM requests go through the machine. */
export interface DeviceSession {
  snapshot(): DeviceSnapshot;
  /**
   * Sends one MDM request (SEND_MDM) and waits until the machine is idle again or has ended: a 401
   * has it sign in again and retry (ONGOING-3), a 403 com.apple.unrecognized.device ends it (ONGOING-5).
   */
  send(request: PendingMdmRequest): Promise<MdmOutcome>;
  stop(): void;
}

/** Starts the device machine, types the identifier and waits until enrolled or ended; the machine keeps running. */
export async function startDevice(
  input: DeviceInput & { readonly identifier: string },
  options: DeviceRuntimeOptions & { readonly onStep?: (snapshot: DeviceSnapshot) => void; readonly mdmTimeoutMs?: number },
): Promise<DeviceSession> {
  // The last MDM answer, kept from the actor (a holder, not a let: it changes inside callbacks).
  const last: { answer: HttpAnswer | null } = { answer: null };
  const mdm: MdmTransport = {
    ...options.mdm,
    answered(request, answer, url) {
      last.answer = answer;
      options.mdm?.answered?.(request, answer, url);
    },
  };
  const actor = createActor(deviceMachine.provide({ actors: deviceActors({ ...options, mdm }) }), { input });
  if (options.onStep !== undefined) actor.subscribe(options.onStep);
  actor.start();
  actor.send({ type: "SUBMIT_IDENTIFIER", identifier: input.identifier });
  await waitFor(actor, (s) => s.status === "done" || s.matches("enrolled") || s.matches("identifierEntry"), { timeout: 60_000 });
  return {
    snapshot: () => actor.getSnapshot(),
    async send(request) {
      if (!actor.getSnapshot().matches({ enrolled: "idle" })) throw new Error("the device is not enrolled and idle: it sends no MDM request");
      last.answer = null;
      actor.send({ type: "SEND_MDM", request });
      // A re-authentication (a web sign-in) happens inside: allow for it.
      const snapshot = await waitFor(actor, (s) => s.status === "done" || s.matches({ enrolled: "idle" }), { timeout: options.mdmTimeoutMs ?? 120_000 });
      return { snapshot, answer: last.answer };
    },
    stop: () => actor.stop(),
  };
}
