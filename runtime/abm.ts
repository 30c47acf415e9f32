// Apple Business / School Manager fallback discovery: registers, reads and clears the
// organization's service-discovery URL with Apple's device-assignment API (PROTOCOL.md §1,
// spec/abm.ts), using the server token the organization downloads from Apple Business Manager.
//
// Sessions: `GET /session` signed with OAuth 1.0a (HMAC-SHA1, the token's consumer and access
// secrets) answers an `auth_session_token`, sent as `X-ADM-Auth-Session` on later requests. A 401
// means the session expired: a new one is started and the request retried once. Apple "periodically
// issues a new X-ADM-Auth-Session in its response to other service calls": it replaces the old one.
// The token's secrets never appear in an error, a log line or the CLI's output.
import { readFile } from "node:fs/promises";
import { readCapped } from "./capped-body.ts";
import forge from "node-forge";
import {
  abmDefaultBaseUrl,
  abmOAuthRealm,
  abmProfilePath,
  AbmProfileAnswer,
  AbmServerToken,
  abmSessionPath,
  AbmSessionAnswer,
  appleErrorCodeOf,
  discoveryUrlProblem,
  oauthAuthorizationHeader,
  oauthHmacKey,
  oauthProtocolParameters,
  oauthSignatureBaseString,
  type OAuthParameter,
} from "../spec/abm.ts";
import { secureRandomBytes, type RandomBytes } from "./crypto.ts";
import { messageOf, systemErrorCode } from "./error-text.ts";

export type AbmErrorCode =
  /** No URL given (refused here, or Apple's MDM_SERVICE_DISCOVERY_URL_REQUIRED). */
  | "abm.url-required"
  /** Not an https URL (refused here, or Apple's MDM_SERVICE_DISCOVERY_URL_NOT_VALID). */
  | "abm.url-not-valid"
  /** Apple's ORG_NOT_SUPPORTED. */
  | "abm.org-not-supported"
  /** Apple's NOT_FOUND (getDiscoveryUrl answers it as "none registered" instead). */
  | "abm.not-found"
  /** 401: Apple refused the server token's OAuth signature, or a new session right after one. */
  | "abm.unauthorized"
  /** 403 ACCESS_DENIED (or another 403): this token may not do this. */
  | "abm.access-denied"
  /** 403 T_C_NOT_SIGNED: an administrator must accept Apple's new terms in Apple Business Manager. */
  | "abm.terms-not-signed"
  /** The token's access_token_expiry has passed, or Apple says so (403): download a new one. */
  | "abm.token-expired"
  /** The token file cannot be read, decrypted or understood. */
  | "abm.token-invalid"
  /** Another 400 from Apple (its code is in the message). */
  | "abm.rejected"
  /** Apple could not be reached, timed out, or answered something unexpected (5xx, 429…). */
  | "abm.unavailable";

export class AbmError extends Error {
  override readonly name = "AbmError";
  constructor(
    readonly code: AbmErrorCode,
    message: string,
    /** The HTTP status and Apple's error code, when Apple answered. */
    readonly answer: { readonly status?: number; readonly appleCode?: string } = {},
  ) {
    super(message);
  }
}

/** What Apple holds for the organization. */
export interface AbmDiscoveryRegistration {
  readonly url: string;
  /** Apple's last_updated_timestamp, as Apple wrote it. */
  readonly lastUpdated?: string;
}

export interface AbmClient {
  /** POST: registers (or replaces) the URL. Refuses an empty or non-https URL before calling Apple. */
  setDiscoveryUrl(url: string): Promise<void>;
  /** GET: the registered URL, or null when none is (Apple's 404 NOT_FOUND). */
  getDiscoveryUrl(): Promise<AbmDiscoveryRegistration | null>;
  /** DELETE: none is registered afterwards. */
  clearDiscoveryUrl(): Promise<void>;
}

export interface AbmClientOptions {
  readonly token: AbmServerToken;
  readonly fetch?: (request: Request) => Promise<Response>;
  /** Milliseconds since the epoch: OAuth timestamps, the token's expiry. */
  readonly now?: () => number;
  /** OAuth nonces. */
  readonly random?: RandomBytes;
  /** Default https://mdmenrollment.apple.com; tests point it at a stand-in. */
  readonly baseUrl?: string;
  /**
   * X-Server-Protocol-Version. Apple's pages for these endpoints do not say which version they
   * need (UNCONFIRMED); 7 is what MDMs send for them, and it can be changed here.
   */
  readonly protocolVersion?: string;
  readonly userAgent?: string;
  /** Per request (default 30 s). */
  readonly timeoutMs?: number;
}

/** Apple's answers are small; anything larger is not one of them. */
const maxAnswerBytes = 64 * 1024;

export function abmClient(options: AbmClientOptions): AbmClient {
  const token = options.token;
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandomBytes;
  const base = (options.baseUrl ?? abmDefaultBaseUrl).replace(/\/+$/, "");
  const protocolVersion = options.protocolVersion ?? "7";
  const userAgent = options.userAgent ?? "adenroll";
  const timeoutMs = options.timeoutMs ?? 30_000;
  let session: string | undefined;

  function checkExpiry(): void {
    const expiry = token.access_token_expiry === undefined ? Number.NaN : Date.parse(token.access_token_expiry);
    if (Number.isFinite(expiry) && expiry <= now()) {
      throw new AbmError("abm.token-expired", `the server token expired at ${new Date(expiry).toISOString()}: download a new one from Apple Business Manager (the MDM server's page)`);
    }
  }

  async function exchange(request: Request): Promise<{ status: number; body: string; headers: Headers }> {
    let response: Response;
    try {
      response = await send(request);
    } catch (error) {
      throw new AbmError("abm.unavailable", `cannot reach ${new URL(request.url).origin}: ${messageOf(error)}`);
    }
    let body: string;
    try {
      body = await readCappedText(response, maxAnswerBytes);
    } catch (error) {
      throw new AbmError("abm.unavailable", `${request.method} ${new URL(request.url).pathname} → ${response.status}: ${messageOf(error)}`, { status: response.status });
    }
    return { status: response.status, body, headers: response.headers };
  }

  async function startSession(): Promise<string> {
    const url = `${base}${abmSessionPath}`;
    const oauth = oauthProtocolParameters({ consumerKey: token.consumer_key, token: token.access_token, timestamp: Math.floor(now() / 1000), nonce: hex(random(16)) });
    const signature = await oauthHmacSha1Signature("GET", url, oauth, token.consumer_secret, token.access_secret);
    const authorization = oauthAuthorizationHeader(abmOAuthRealm, [...oauth, ["oauth_signature", signature]]);
    const answer = await exchange(new Request(url, { method: "GET", headers: { authorization, accept: "application/json", "user-agent": userAgent }, signal: AbortSignal.timeout(timeoutMs) }));
    if (answer.status === 401) {
      throw new AbmError("abm.unauthorized", "Apple refused the server token (GET /session → 401: wrong or revoked token, or this machine's clock is off): download a new token from Apple Business Manager", { status: 401 });
    }
    if (answer.status === 403) throw abmErrorOf(answer.status, answer.body, "GET /session");
    if (answer.status === 400) {
      // Apple: unsupported, missing or duplicated OAuth parameters — this client's request, not the organization's token.
      const code = appleErrorCodeOf(answer.body);
      throw new AbmError("abm.unavailable", `GET /session → 400${code === undefined ? "" : ` ${code}`}: Apple refused this client's OAuth request`, code === undefined ? { status: 400 } : { status: 400, appleCode: code });
    }
    if (answer.status < 200 || answer.status > 299) {
      throw new AbmError("abm.unavailable", `GET /session → ${answer.status}: no session (is ${base} Apple's device-assignment API?)`, { status: answer.status });
    }
    const parsed = AbmSessionAnswer.safeParse(parseJson(answer.body));
    if (!parsed.success) throw new AbmError("abm.unavailable", `GET /session → ${answer.status}: not a session answer`, { status: answer.status });
    return parsed.data.auth_session_token;
  }

  /** One request with the session; a 401 starts a new session and retries once. */
  async function call(method: "GET" | "POST" | "DELETE", body?: unknown): Promise<{ status: number; body: string }> {
    checkExpiry();
    const url = `${base}${abmProfilePath}`;
    const attempt = async (sessionToken: string) => {
      const headers: Record<string, string> = {
        "x-adm-auth-session": sessionToken,
        "x-server-protocol-version": protocolVersion,
        accept: "application/json",
        "user-agent": userAgent,
      };
      if (body !== undefined) headers["content-type"] = "application/json;charset=UTF8";
      const answer = await exchange(
        new Request(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(timeoutMs) }),
      );
      const renewed = answer.headers.get("x-adm-auth-session");
      if (renewed !== null && renewed.trim() !== "") session = renewed.trim();
      return answer;
    };
    session ??= await startSession();
    let answer = await attempt(session);
    if (answer.status === 401) {
      session = undefined;
      session = await startSession();
      answer = await attempt(session);
      if (answer.status === 401) {
        session = undefined;
        throw new AbmError("abm.unauthorized", `${method} ${abmProfilePath} → 401 with a new session`, { status: 401 });
      }
    }
    return answer;
  }

  const where = (method: string) => `${method} ${abmProfilePath}`;

  return {
    async setDiscoveryUrl(url) {
      const problem = discoveryUrlProblem(url);
      if (problem === "required") throw new AbmError("abm.url-required", "a service-discovery URL is required");
      if (problem === "not-valid") throw new AbmError("abm.url-not-valid", "the service-discovery URL must be an absolute https URL (no user name, password or #fragment)");
      const answer = await call("POST", { mdm_service_discovery_url: url });
      if (answer.status < 200 || answer.status > 299) throw abmErrorOf(answer.status, answer.body, where("POST"));
    },
    async getDiscoveryUrl() {
      const answer = await call("GET");
      if (answer.status === 404) {
        // Documented: 404 NOT_FOUND. A 404 with some other body is not Apple's answer (a wrong --api?).
        const code = appleErrorCodeOf(answer.body);
        if (code === "NOT_FOUND" || answer.body.trim() === "") return null;
      }
      if (answer.status < 200 || answer.status > 299) throw abmErrorOf(answer.status, answer.body, where("GET"));
      const parsed = AbmProfileAnswer.safeParse(parseJson(answer.body));
      if (!parsed.success) throw new AbmError("abm.unavailable", `${where("GET")} → ${answer.status}: not an account-driven enrollment profile answer`, { status: answer.status });
      const { mdm_service_discovery_url: registered, last_updated_timestamp: lastUpdated } = parsed.data;
      return lastUpdated === undefined ? { url: registered } : { url: registered, lastUpdated };
    },
    async clearDiscoveryUrl() {
      const answer = await call("DELETE");
      // Documented answers are 200 and 400; a 404 NOT_FOUND (UNCONFIRMED) means there was nothing to clear.
      if (answer.status === 404 && appleErrorCodeOf(answer.body) === "NOT_FOUND") return;
      if (answer.status < 200 || answer.status > 299) throw abmErrorOf(answer.status, answer.body, where("DELETE"));
    },
  };
}

/** Apple's error answer as an AbmError (`where`: "POST /…", for the message). */
export function abmErrorOf(status: number, body: string, where: string): AbmError {
  const appleCode = appleErrorCodeOf(body);
  const answer = appleCode === undefined ? { status } : { status, appleCode };
  const said = `${where} → ${status}${appleCode === undefined ? "" : ` ${appleCode}`}`;
  if (status === 400) {
    if (appleCode === "MDM_SERVICE_DISCOVERY_URL_REQUIRED") return new AbmError("abm.url-required", `Apple says the service-discovery URL is missing (${said})`, answer);
    if (appleCode === "MDM_SERVICE_DISCOVERY_URL_NOT_VALID") return new AbmError("abm.url-not-valid", `Apple refused the service-discovery URL: it must be a well-formed https URL (${said})`, answer);
    if (appleCode === "ORG_NOT_SUPPORTED") return new AbmError("abm.org-not-supported", `Apple does not support account-driven enrollment service discovery for this organization (${said})`, answer);
    return new AbmError("abm.rejected", `Apple refused the request (${said})`, answer);
  }
  if (status === 401) return new AbmError("abm.unauthorized", `Apple refused the session (${said})`, answer);
  if (status === 403) {
    if (appleCode === "T_C_NOT_SIGNED") return new AbmError("abm.terms-not-signed", `an administrator must accept Apple's latest terms and conditions in Apple Business Manager (${said})`, answer);
    if (appleCode === "TOKEN_EXPIRED" || appleCode === "EXPIRED_TOKEN") return new AbmError("abm.token-expired", `the server token has expired: download a new one from Apple Business Manager (${said})`, answer);
    return new AbmError("abm.access-denied", `this server token may not do this (${said})`, answer);
  }
  if (status === 404) return new AbmError("abm.not-found", `nothing is registered (${said})`, answer);
  return new AbmError("abm.unavailable", `Apple did not do it (${said})`, answer);
}

// ---------------------------------------------------------------------------------------------
// OAuth 1.0a signing (the base string and header are spec/abm.ts's)

/** RFC 5849 §3.4.2: base64 of HMAC-SHA1(encoded consumer secret & encoded token secret, base string). */
export async function oauthHmacSha1Signature(method: string, url: string, parameters: readonly OAuthParameter[], consumerSecret: string, tokenSecret: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(oauthHmacKey(consumerSecret, tokenSecret)), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(oauthSignatureBaseString(method, url, parameters))));
  let binary = "";
  for (const byte of mac) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// ---------------------------------------------------------------------------------------------
// The server token

/**
 * The server token from its file: the decrypted JSON, or the `.p7m` Apple Business Manager hands
 * out (S/MIME: MIME headers and base64; PEM `PKCS7`; or DER/BER) with the PEM private key of the
 * certificate uploaded for the MDM server. Errors are `abm.token-invalid`, never quoting the file.
 */
export async function loadAbmServerToken(tokenFile: string, keyFile?: string): Promise<AbmServerToken> {
  const data = await readOrFail(tokenFile, "the server token");
  const keyPem = keyFile === undefined ? undefined : new TextDecoder().decode(await readOrFail(keyFile, "the private key"));
  return parseAbmServerToken(data, keyPem);
}

async function readOrFail(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    const why = systemErrorCode(error) === "ENOENT" ? "no such file" : messageOf(error);
    throw new AbmError("abm.token-invalid", `cannot read ${what} (${file}): ${why}`);
  }
}

export function parseAbmServerToken(data: Uint8Array, privateKeyPem?: string): AbmServerToken {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(data);
  // Decrypted already: the JSON, or the decrypted MIME entity (an encrypted token never shows its keys).
  if (data[0] !== 0x30 && text.includes("consumer_key")) return tokenFromText(text);
  if (privateKeyPem === undefined) throw new AbmError("abm.token-invalid", "the server token is encrypted (.p7m): give the MDM server's private key (PEM) too");
  let key: forge.pki.rsa.PrivateKey;
  try {
    key = forge.pki.privateKeyFromPem(privateKeyPem);
  } catch {
    throw new AbmError("abm.token-invalid", "the private key is not an unencrypted PEM RSA private key");
  }
  const der = envelopeBytes(data, text);
  let lastProblem = "it holds no recipient";
  // Each attempt parses afresh: a failed decryption may leave a content key behind.
  for (let i = 0; ; i++) {
    const envelope = envelopeOf(der);
    const recipient = envelope.recipients[i];
    if (recipient === undefined) break;
    try {
      envelope.decrypt(recipient, key);
    } catch (error) {
      lastProblem = messageOf(error);
      continue;
    }
    const content = envelope.content;
    if (content === undefined) continue;
    const bytes = typeof content === "string" ? content : content.getBytes();
    try {
      return tokenFromText(new TextDecoder().decode(Uint8Array.from(bytes, (c) => c.charCodeAt(0))));
    } catch (error) {
      // A wrong key can survive the RSA padding check by chance; what comes out is not a token.
      lastProblem = messageOf(error);
    }
  }
  throw new AbmError("abm.token-invalid", `the server token could not be decrypted with this private key (is it the key of the certificate uploaded to Apple Business Manager for this MDM server?): ${lastProblem}`);
}

/** The CMS bytes (as forge's binary string) of a .p7m in any of its usual wrappings. */
function envelopeBytes(data: Uint8Array, text: string): string {
  const pem = /-----BEGIN (?:PKCS7|CMS)-----([\s\S]*?)-----END (?:PKCS7|CMS)-----/.exec(text);
  if (pem !== null) return base64Binary(pem[1] ?? "");
  if (data[0] === 0x30) return binaryOf(data);
  const split = /\r?\n\r?\n/.exec(text);
  const body = split !== null && /^[\w-]+\s*:/.test(text) ? text.slice(split.index + split[0].length) : text;
  return base64Binary(body);
}

function base64Binary(value: string): string {
  const compact = value.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new AbmError("abm.token-invalid", "the server token is neither JSON nor an S/MIME (.p7m) message");
  try {
    return atob(compact);
  } catch {
    throw new AbmError("abm.token-invalid", "the server token's base64 is damaged");
  }
}

function envelopeOf(der: string): forge.pkcs7.PkcsEnvelopedData {
  let message;
  try {
    // BER with indefinite lengths, as S/MIME tools write it, is read too.
    message = forge.pkcs7.messageFromAsn1(forge.asn1.fromDer(der));
  } catch (error) {
    throw new AbmError("abm.token-invalid", `the server token is not a CMS EnvelopedData message: ${messageOf(error)}`);
  }
  if (!("recipients" in message)) throw new AbmError("abm.token-invalid", "the server token is a CMS message, but not an encrypted (EnvelopedData) one");
  return message;
}

/**
 * The token JSON in the decrypted content: a MIME entity (`Content-Type: text/plain…`, a transfer
 * encoding, a blank line), its body possibly wrapped in `-----BEGIN MESSAGE-----` lines, its JSON
 * possibly folded over several lines (Apple's sample is).
 */
function tokenFromText(text: string): AbmServerToken {
  let body = text;
  const headerEnd = /\r?\n\r?\n/.exec(body);
  if (!body.trimStart().startsWith("{") && headerEnd !== null && /^[\w-]+\s*:/.test(body)) {
    const headers = body.slice(0, headerEnd.index);
    body = body.slice(headerEnd.index + headerEnd[0].length);
    const encoding = /^content-transfer-encoding\s*:\s*([\w-]+)/im.exec(headers)?.[1]?.toLowerCase();
    if (encoding === "base64") body = new TextDecoder().decode(Uint8Array.from(base64Binary(body), (c) => c.charCodeAt(0)));
    else if (encoding === "quoted-printable") body = decodeQuotedPrintable(body);
  }
  body = body.replace(/-----(?:BEGIN|END) MESSAGE-----/g, "").replace(/[\r\n]+/g, "").trim();
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new AbmError("abm.token-invalid", "the server token's content is not JSON");
  }
  const parsed = AbmServerToken.safeParse(value);
  if (!parsed.success) {
    const missing = parsed.error.issues.map((issue) => issue.path.join(".")).filter((p) => p !== "");
    throw new AbmError("abm.token-invalid", `the server token lacks ${missing.length === 0 ? "its fields" : missing.join(", ")} (expected consumer_key, consumer_secret, access_token, access_secret)`);
  }
  return parsed.data;
}

function decodeQuotedPrintable(value: string): string {
  const bytes: number[] = [];
  const text = value.replace(/=\r?\n/g, "");
  for (let i = 0; i < text.length; i++) {
    const hexPair = text.slice(i + 1, i + 3);
    if (text[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hexPair)) {
      bytes.push(Number.parseInt(hexPair, 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

// ---------------------------------------------------------------------------------------------

function binaryOf(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The body as text, refusing more than `limit` bytes. */
async function readCappedText(response: Response, limit: number): Promise<string> {
  // An answer may come compressed: its Content-Length is not the length it decodes to, so it is
  // read as it streams, never whole on the strength of that header.
  const read = await readCapped({ headers: new Headers(), body: response.body, arrayBuffer: () => response.arrayBuffer() }, limit);
  if (!read.ok && read.reason === "too-large") throw new Error(`the answer is larger than ${limit} bytes`);
  if (!read.ok) throw new Error("the answer broke off before its end");
  return read.bytes === null ? "" : new TextDecoder().decode(read.bytes);
}
