// Emits generated/server.generated.ts: a Hono app with one route per served operation of
// spec/operations.ts. Each route parses the request with the operation's spec schemas, turns it into
// a server-machine event, runs the machine on the stored enrollment, and turns the machine's reply
// into the HTTP answer the operations table names.
import { operations, type OperationSpec, type ResponseSpec } from "../spec/operations.ts";
import { serverMachine } from "../machines/server.machine.ts";
import { format, header, machineName, specName } from "./common.ts";

export const serverFile = "generated/server.generated.ts";

type Handling = OperationSpec["handling"];

function literal(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * How a route's failures are answered: operations a person sees in the device's web view (web
 * authentication) answer an HTML page, every other one application/problem+json.
 */
function failWith(op: OperationSpec): "fail" | "problem" {
  return op.pathRole === "web-auth" ? "fail" : "problem";
}

function repliesTable(op: OperationSpec): string {
  const entries = Object.entries(op.responses)
    .filter((entry): entry is [string, ResponseSpec] => entry[1] !== undefined)
    .map(([kind, response]) => {
      const parts = [`status: ${response.status}`];
      if (response.contentType !== undefined) parts.push(`contentType: ${literal(response.contentType)}`);
      return `${literal(kind)}: { ${parts.join(", ")} }`;
    });
  return `{ ${entries.join(", ")} }`;
}

/** Statements that parse the request into `params`, `query`, `body`, `form` and `authorization`. */
function parseStatements(op: OperationSpec, used: Set<string>): string[] {
  const lines: string[] = [];
  const { request } = op;
  const fail = failWith(op);
  if (fail === "fail") lines.push(`const fail: Fail = (error) => errorPage(host, error);`);
  if (request.params !== undefined) {
    const name = specName(request.params, `${op.id} params`);
    used.add(name);
    lines.push(
      `const params = ${name}.safeParse(c.req.param());`,
      `if (!params.success) return ${fail}({ code: "not-found", detail: issues(params.error) });`,
    );
    // A path naming an organization names one the host serves, or nothing at all.
    if (op.path.includes("/:org?")) {
      lines.push(
        `if (params.data.org !== undefined && host.servesOrganization?.(params.data.org) !== true) return ${fail}({ code: "not-found", detail: "no such organization" });`,
      );
    }
  }
  if (request.query !== undefined) {
    const name = specName(request.query, `${op.id} query`);
    used.add(name);
    lines.push(
      `const query = ${name}.safeParse(queryOf(c.req.raw));`,
      `if (!query.success) return ${fail}({ code: "request.invalid", detail: issues(query.error) });`,
    );
  }
  if (request.body !== undefined) {
    const parser = specName(request.body.parser, `${op.id} body parser`);
    used.add(parser);
    const rule = request.body.rule === undefined ? "" : `, ruleId: ${literal(request.body.rule)}`;
    lines.push(
      `const raw = await readBody(c.req.raw, ${request.body.maxBytes});`,
      `if (!raw.ok) return ${fail}(raw.error);`,
      `const body = ${parser}(raw.value);`,
      `if (!body.ok) return ${fail}({ code: ${literal(request.body.error)}${rule}, detail: body.error.detail });`,
    );
    if (request.body.deviceSigned === true) {
      // Nothing is stored for a body no trusted device signed.
      lines.push(
        `const signature = await host.verifyDeviceSignature(raw.value);`,
        `if (!signature.ok) {`,
        `  host.reportRejected?.(${literal(op.id)}, signature.error);`,
        `  return ${fail}({ code: "enroll.signature-invalid"${rule}, detail: signature.error.code });`,
        `}`,
      );
    }
  }
  if (request.form !== undefined) {
    const name = specName(request.form, `${op.id} form`);
    used.add(name);
    lines.push(
      `const fields = await readForm(c.req.raw, ${request.formMaxBytes ?? 16 * 1024});`,
      `if (!fields.ok) return ${fail}(fields.error);`,
      `const form = ${name}.safeParse(fields.value);`,
      `if (!form.success) return ${fail}({ code: "request.invalid", detail: issues(form.error) });`,
    );
  }
  if (request.bearer === true) {
    lines.push(`const authorization = await authorizationFact(host, c.req.header("authorization"));`);
  }
  const usesClock = request.bearer === true || (op.handling.kind === "event" && op.handling.event === "SIGN_IN");
  // (an effect's route has read the clock already, for its answer cache)
  if (usesClock) lines.push(`const now = host.now();`);
  return lines;
}

/** Statements that build `event`, `locators`, `create` and `extras` for a machine-handled operation. */
function eventStatements(op: OperationSpec, handling: Extract<Handling, { kind: "event" }>, used: Set<string>): string[] {
  const lines: string[] = [];
  switch (handling.event) {
    case "ENROLL":
      lines.push(
        `const device = { PRODUCT: body.value.info.PRODUCT, VERSION: body.value.info.VERSION, LANGUAGE: body.value.info.LANGUAGE };`,
        `const event: ServerEvent = { type: "ENROLL", authorization, now, device };`,
        `const create = (): ServerInput => ({ id: host.newReference(), deviceKey: body.value.deviceKey, version: params.data.version, device });`,
        // The user is not known before sign-in: the organization the BaseURL names picks the first 401's extras.
        `const extras: Extras = { organization: params.data.org ?? null };`,
      );
      break;
    case "SIGN_IN_PAGE":
      lines.push(
        `const event: ServerEvent = { type: "SIGN_IN_PAGE" };`,
        `const create = undefined;`,
        `const extras: Extras = { userIdentifier: query.data["user-identifier"] ?? null };`,
      );
      break;
    case "SIGN_IN":
      lines.push(
        `const csrfValid = await host.checkSignInCsrf(params.data.ref, form.data.csrf, now);`,
        `const issued = await host.issueToken(now, form.data.action === "cancel" ? null : form.data.username);`,
        `const event: ServerEvent = form.data.action === "cancel" ? { type: "SIGN_IN_CANCEL", csrfValid } : { type: "SIGN_IN", username: form.data.username, password: form.data.password, issuedToken: { hash: issued.hash, expiresAt: issued.expiresAt }, csrfValid };`,
        `const create = undefined;`,
        `const extras: Extras = { issuedToken: issued.token, userIdentifier: form.data.action === "cancel" ? null : form.data.username };`,
      );
      break;
  }
  switch (handling.locate) {
    case "device-key":
      lines.push(`const locators: EnrollmentLocator[] = [{ by: "device-key", deviceKey: body.value.deviceKey }];`);
      break;
    case "path-ref":
      lines.push(`const locators: EnrollmentLocator[] = [{ by: "id", id: params.data.ref }];`);
      break;
  }
  const fail = failWith(op);
  const failArgument = fail === "fail" ? ", fail" : "";
  const notFound = handling.locate === "path-ref" ? `return ${fail}({ code: "sign-in.unknown" });` : `return ${fail}({ code: "internal" });`;
  // A token-less enroll only challenges (ENROLL-5) and the sign-in page only shows the form: pure
  // steps, which the enrollment cache may answer from a cached record (a device enrolling again, or
  // a replayed body, reads nothing).
  const options =
    handling.event === "ENROLL" ? `, authorization.kind === "bearer" ? {} : { optimistic: true }` : handling.event === "SIGN_IN_PAGE" ? ", { optimistic: true }" : "";
  lines.push(
    `const enrollment = await runEnrollment(host, locators, event, create${options});`,
    `if (enrollment === null) ${notFound}`,
    `return answer(host, enrollment, replies.${op.id}, extras${failArgument});`,
  );
  return lines;
}

function effectStatements(op: OperationSpec, handling: Exclude<Extract<Handling, { kind: "effect" }>, { effect: "oauth2" }>, used: Set<string>): string[] {
  if (handling.effect === "discover") {
    return [
      `const decision = await host.${handling.effect}(query.data);`,
      `const answered = answerDiscovery(decision, replies.${op.id});`,
      `if (answered === null) return problem({ code: "internal", detail: "the discovery decision does not fit its schema" });`,
      `effectAnswers.put(cacheKey, answered, now);`,
      `return toResponse(answered);`,
    ];
  }
  // Enrollment SSO: what the host built at start for the organization the path names.
  const lines = [`const served = host.enrollmentSso === undefined ? undefined : await host.enrollmentSso(params.data.org);`];
  if (handling.serves === "document") {
    const response = op.responses.document;
    if (response?.schema === undefined || response.contentType === undefined) throw new Error(`${op.id}: an Enrollment SSO document needs a schema and a media type`);
    const name = specName(response.schema, `${op.id} document schema`);
    used.add(name);
    lines.push(
      `if (served === undefined) return problem({ code: "not-found" });`,
      `const document = ${name}.safeParse(served.document);`,
      `if (!document.success) return problem({ code: "internal", detail: "the Enrollment SSO document does not fit its schema" });`,
      `return new Response(JSON.stringify(document.data), { status: ${response.status}, headers: { "content-type": ${literal(response.contentType)} } });`,
    );
  } else {
    const response = op.responses.profile;
    if (response?.contentType === undefined) throw new Error(`${op.id}: an Enrollment SSO profile needs a media type`);
    lines.push(
      `if (served === undefined) return problem({ code: "not-found" });`,
      `return new Response(served.profile.slice(), { status: ${response.status}, headers: { "content-type": ${literal(response.contentType)} } });`,
    );
  }
  return lines;
}

/** An effect's answer depends on the query alone: the same query within the TTL gets the same bytes. */
function effectCacheStatements(): string[] {
  return [
    `const cacheKey = queryKeyOf(c.req.raw);`,
    `const now = host.now();`,
    `const cached = effectAnswers.get(cacheKey, now);`,
    `if (cached !== undefined) return toResponse(cached);`,
  ];
}

/** An MDM route: the guard decides, the host's MDM (built in, or the upstream) answers what it lets through. */
function mdmStatements(op: OperationSpec): string[] {
  return [
    `const decision = await authorizeMdmRequest(host, c.req.raw, ${literal(op.id)});`,
    `if (!decision.allowed) return decision.response;`,
    `return host.handleMdm === undefined ? new Response(null, { status: 200 }) : host.handleMdm(decision.request);`,
  ];
}

/**
 * The guard's parsing per MDM operation: read the body (size-limited) and parse it with the
 * operation's spec parser.
 */
function mdmParseCase(op: OperationSpec, handling: Extract<Handling, { kind: "mdm" }>, used: Set<string>): string {
  const body = op.request.body;
  if (body === undefined || op.request.bearer !== true) throw new Error(`${op.id}: an MDM operation has a body and a bearer token`);
  const parser = specName(body.parser, `${op.id} body parser`);
  used.add(parser);
  return [
    `    case ${literal(op.id)}: {`,
    `      const raw = await readBody(request, ${body.maxBytes});`,
    `      if (!raw.ok) return { allowed: false, response: problem(raw.error) };`,
    `      const parsed = ${parser}(raw.value);`,
    `      if (!parsed.ok) return { allowed: false, response: problem({ code: ${literal(body.error)}, detail: parsed.error.detail }) };`,
    `      return { channel: ${literal(handling.channel)}, body: raw.value, message: parsed.value.message, table: replies.${op.id} };`,
    `    }`,
  ].join("\n");
}

/** An OAuth 2 endpoint: the host's authorization server reads the request itself (RFC 6749 §3.1: repeated parameters, its own error format). */
function oauth2Statements(handling: Extract<Handling, { kind: "effect"; effect: "oauth2" }>): string[] {
  return [`return host.oauth2 === undefined ? problem({ code: "not-found" }) : host.oauth2.${handling.endpoint}(c.req.raw);`];
}

function route(op: OperationSpec, used: Set<string>): string {
  const { handling } = op;
  const delegated = handling.kind === "mdm" || (handling.kind === "effect" && handling.effect === "oauth2");
  const body = [...(handling.kind === "effect" && handling.effect === "discover" ? effectCacheStatements() : []), ...(delegated ? [] : parseStatements(op, used))];
  if (handling.kind === "event") body.push(...eventStatements(op, handling, used));
  else if (handling.kind === "effect" && handling.effect === "oauth2") body.push(...oauth2Statements(handling));
  else if (handling.kind === "effect") body.push(...effectStatements(op, handling, used));
  else if (handling.kind === "mdm") body.push(...mdmStatements(op));
  return [
    `  // ${op.id}: ${op.summary} (steps ${op.steps}; ${op.source})`,
    `  app.on(${literal(op.method)}, ${literal(op.path)}, async (c) => {`,
    ...body.map((line) => `    ${line}`),
    `  });`,
  ].join("\n");
}

export function generateServer(): string {
  const used = new Set<string>();
  const served: readonly OperationSpec[] = operations.filter((op) => op.served);
  const routes = served.map((op) => route(op, used));
  const mdmOps = served.flatMap((op) => (op.handling.kind === "mdm" ? [{ op, handling: op.handling }] : []));
  const mdmCases = mdmOps.map(({ op, handling }) => mdmParseCase(op, handling, used));
  const mdmIds = mdmOps.map(({ op }) => literal(op.id)).join(" | ");
  const discovery: OperationSpec | undefined = served.find((op) => op.handling.kind === "effect" && op.handling.effect === "discover");
  const serversSchema = discovery?.responses.servers?.schema;
  const failedSchema = discovery?.responses["well-known-failed"]?.schema;
  if (serversSchema === undefined || failedSchema === undefined) throw new Error("the discovery operation needs servers and well-known-failed schemas");
  const serversName = specName(serversSchema, "servers schema");
  const failedName = specName(failedSchema, "well-known-failed schema");
  const essoDocument: OperationSpec | undefined = served.find((op) => op.handling.kind === "effect" && op.handling.effect === "enrollmentSso" && op.handling.serves === "document");
  const essoSchema = essoDocument?.responses.document?.schema;
  if (essoSchema === undefined) throw new Error("the Enrollment SSO document operation needs a document schema");
  const essoName = specName(essoSchema, "Enrollment SSO document schema");
  const machine = machineName(serverMachine, "the server machine");
  const valueImports = [
    ...new Set([
      ...used,
      serversName,
      failedName,
      essoName,
      "buildAuthenticationResultUrl",
      "buildUnrecognizedDevice",
      "checkInEnrollmentId",
      "isUserChannel",
      "mdmSignatureHeader",
      "essoHeader",
      "essoDeveloperHeader",
      "formatChallenge",
      "parseAuthorization",
      "serverErrors",
    ]),
  ].sort();
  const table = served.map((op) => `  ${op.id}: ${repliesTable(op)},`).join("\n");

  const text = `${header("generators/server.generator.ts")}import { Hono } from "hono";
import { createActor, waitFor } from "xstate";
import type { z } from "zod";
import { ${valueImports.join(", ")} } from "../spec/index.ts";
import type { Challenge, ServerError, ServerErrorCode${used.has("WellKnownQuery") ? "" : ", WellKnownQuery"} } from "../spec/index.ts";
import { ${machine}, readEnrollmentRecord, stepWithoutActors, toRecord } from "../machines/index.ts";
import type { AuthorizationFact, EnrollmentLocator, EnrollmentStore, ServerActorImplementations, ServerContext, ServerEvent, ServerInput, ServerReplyKind, SignatureFact, TransactOptions } from "../machines/index.ts";

/** What the discovery effect decided for one account (DISCOVERY-10, -11, -12). */
export type DiscoveryDecision =
  | { readonly kind: "servers"; readonly document: z.infer<typeof ${serversName}> }
  | { readonly kind: "redirect"; readonly location: string }
  | { readonly kind: "well-known-failed"; readonly body: z.infer<typeof ${failedName}> };

/** What the host built at start for an organization with Enrollment SSO (ESSO-5). */
export interface EnrollmentSsoServed {
  /** The JSON document announced by X-Apple-MDM-ESSO (or -Developer); checked against its schema again before it is sent. */
  readonly document: z.infer<typeof ${essoName}>;
  /** The inner profile's bytes, served at /esso/<org>/profile (what the legacy declaration's ProfileURL names). */
  readonly profile: Uint8Array;
}

/** The OAuth 2 endpoints (OAUTH-6 to -16): each reads its request as it came and answers it whole. */
export interface OAuth2Endpoints {
  authorize(request: Request): Promise<Response>;
  authorizeSubmit(request: Request): Promise<Response>;
  token(request: Request): Promise<Response>;
  revoke(request: Request): Promise<Response>;
  metadata(request: Request): Promise<Response>;
}

/** What the request tells about the enrollment before anyone signed in: the organization its enroll URL names. */
export interface ChallengeHint {
  readonly organization: string | null;
}

/** Everything the generated server needs from runtime/: storage, effects, clock, randomness. */
export interface ServerHost {
  readonly store: EnrollmentStore;
  /** The server machine's named actors (verifyCredentials, buildProfile). */
  readonly actors: ServerActorImplementations;
  now(): number;
  /** A fresh unguessable reference (≥128 bits) for a new enrollment. */
  newReference(): string;
  hashToken(token: string): Promise<string>;
  /** A new access token for the user who is signing in (null: unknown yet); its lifetime may depend on the user's organization. */
  issueToken(now: number, userIdentifier: string | null): Promise<{ readonly token: string; readonly hash: string; readonly expiresAt: number }>;
  discover(query: WellKnownQuery): Promise<DiscoveryDecision>;
  /** Whether an organization's name in URLs (/enroll/<version>/<org>) is one this server serves. */
  servesOrganization?(organization: string): boolean;
  /** The OAuth 2 authorization server (absent: its endpoints answer 404). */
  readonly oauth2?: OAuth2Endpoints;
  /** The Enrollment SSO document and profile of the organization a URL names (undefined: it offers none). */
  enrollmentSso?(organization: string): Promise<EnrollmentSsoServed | undefined>;
  /**
   * A 401's challenge, and the Enrollment SSO document's URL to announce beside it: with
   * X-Apple-MDM-ESSO, or X-Apple-MDM-ESSO-Developer when \`essoDeveloper\`.
   */
  challengeFor(enrollment: ServerContext, hint?: ChallengeHint): { readonly challenge: Challenge; readonly essoUrl?: string; readonly essoDeveloper?: boolean };
  /** The sign-in page, carrying an anti-CSRF token bound to this enrollment. */
  renderSignInPage(
    enrollment: ServerContext,
    view: {
      readonly userIdentifier: string | null;
      readonly failed: boolean;
      readonly now: number;
      /** Where the form posts and what it carries besides the credentials (the OAuth 2 authorization request); default: the web-auth URL. */
      readonly form?: { readonly action: string; readonly fields: Readonly<Record<string, string>> };
    },
  ): Promise<string>;
  /** Whether a posted anti-CSRF token is one this server issued for this enrollment and has not expired. */
  checkSignInCsrf(enrollmentRef: string, token: string, now: number): Promise<boolean>;
  /** The HTML page that ends web authentication with an error: a person in the web view reads words, not JSON. */
  renderErrorPage(code: ServerErrorCode, title: string): Promise<string>;
  serializeProfile(profile: unknown, enrollment: ServerContext): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * How long the answer of an effect operation (discovery) is reused for the same query; 0 or unset:
   * never. Discovery decides from the query alone, so this is safe up to how fresh routing must be.
   */
  readonly effectCacheMs?: number;
  /** Verifies a device-signed body (CMS signature and chain to a trusted anchor). */
  verifyDeviceSignature(body: Uint8Array): Promise<{ readonly ok: true } | { readonly ok: false; readonly error: { readonly code: string; readonly detail: string } }>;
  /**
   * Checks a request's Mdm-Signature header (null: none): a detached CMS signature of the body whose
   * signer chains to a trusted identity CA. Absent: every request counts as unsigned.
   */
  verifyMdmSignature?(body: Uint8Array, header: string | null): Promise<SignatureFact>;
  /** The profile sets SignMessage: every MDM request must be signed by its enrollment's identity (ONGOING-13). */
  readonly mdmSignatureRequired?: boolean;
  /** Answers an authorized MDM request: the built-in MDM, or the upstream in proxy mode. Absent: 200 with an empty body. */
  handleMdm?(request: AuthorizedMdmRequest): Promise<Response>;
  /** Told why a request was refused (for the log); never given a token or password. */
  reportRejected?(operation: string, reason: { readonly code: string; readonly detail: string }): void;
  /** Called with an unexpected failure; never with a request body, token or password. */
  reportError?(error: unknown): void;
}

type ReplyTable = Readonly<Partial<Record<ServerReplyKind | "servers" | "redirect" | "well-known-failed" | "document", { readonly status: number; readonly contentType?: string }>>>;

/** Statuses and media types per operation and reply, from spec/operations.ts. */
const replies = {
${table}
} as const satisfies Record<string, ReplyTable>;

/** Every sign-in and web-authentication error page: no framing, no caching, no referrer, no script, forms only to us and the callback. */
const pageSecurityHeaders = {
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' apple-remotemanagement-user-login:; frame-ancestors 'none'; base-uri 'none'",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
} as const;

interface Extras {
  readonly issuedToken?: string;
  readonly userIdentifier?: string | null;
  /** The organization the enroll URL names (ChallengeHint). */
  readonly organization?: string | null;
}

/** The MDM operations the guard knows. */
export type MdmOperation = ${mdmIds};

/** An MDM request the guard let through, for the host's MDM to answer. */
export interface AuthorizedMdmRequest {
  readonly operation: MdmOperation;
  readonly channel: "checkin" | "command";
  /** The request as it arrived; its body has been read: it is \`body\`, byte for byte. */
  readonly request: Request;
  readonly body: Uint8Array;
  /** The parsed check-in message or command report (a command report's Status is its MessageType). */
  readonly message: Readonly<Record<string, unknown>>;
  readonly messageType: string;
  /** The enrollment as the server machine left it (never a token in clear). */
  readonly enrollment: ServerContext;
}

/** The guard's decision: let the request through, or the answer that refuses it (400, 401 + challenge, 403). */
export type MdmDecision = { readonly allowed: true; readonly request: AuthorizedMdmRequest } | { readonly allowed: false; readonly response: Response };

/**
 * The guard of every MDM request (ONGOING-7 to -13): parses the body, checks the token (or, on a
 * Mac's device channel, the signature) with the server machine on the enrollment the request names,
 * and stores what the machine decided. Usable on its own, e.g. in front of another MDM.
 */
export async function authorizeMdmRequest(host: ServerHost, request: Request, operation: MdmOperation): Promise<MdmDecision> {
  const read = await readMdmRequest(request, operation);
  if ("allowed" in read) return read;
  const { channel, body, message, table } = read;
  // authorizationFact inlined: one async step fewer on every MDM request.
  const presented = parseAuthorization(request.headers.get("authorization") ?? undefined);
  const authorization: AuthorizationFact = presented.kind === "bearer" ? { kind: "bearer", tokenHash: await host.hashToken(presented.token) } : presented;
  const header = request.headers.get(mdmSignatureHeader);
  const signature: SignatureFact = host.verifyMdmSignature === undefined ? { kind: "absent" } : await host.verifyMdmSignature(body, header);
  const enrollmentId = checkInEnrollmentId({ message });
  const messageType = typeof message["MessageType"] === "string" ? message["MessageType"] : "";
  const event: ServerEvent = {
    type: "CHECK_IN",
    authorization,
    now: host.now(),
    channel,
    messageType,
    enrollmentId,
    userChannel: isUserChannel(message),
    signature,
    signatureRequired: host.mdmSignatureRequired === true,
  };
  // The message's own identity first: a token must not pull a request into another enrollment.
  const locators: EnrollmentLocator[] = [];
  if (enrollmentId !== null) locators.push({ by: "enrollment-id", enrollmentId });
  if (authorization.kind === "bearer") locators.push({ by: "token-hash", tokenHash: authorization.tokenHash });
  if (signature.kind === "valid") locators.push({ by: "identity", fingerprint: signature.signerFingerprint });
  // The machine decides alone (no actor runs), so a cached copy may answer when nothing changes.
  const enrollment = await runEnrollment(host, locators, event, undefined, { optimistic: true });
  if (enrollment === null || enrollment.reply?.kind !== "acknowledged") {
    if (enrollment !== null && enrollment.reply?.kind === "error") host.reportRejected?.(operation, { code: enrollment.reply.code, detail: enrollment.reply.ruleId ?? "" });
    return { allowed: false, response: await answer(host, enrollment, table, {}) };
  }
  return { allowed: true, request: { operation, channel, request, body, message, messageType, enrollment } };
}

async function readMdmRequest(
  request: Request,
  operation: MdmOperation,
): Promise<{ readonly allowed: false; readonly response: Response } | { readonly channel: "checkin" | "command"; readonly body: Uint8Array; readonly message: Readonly<Record<string, unknown>>; readonly table: ReplyTable }> {
  switch (operation) {
${mdmCases.join("\n")}
  }
}

export function createServer(host: ServerHost): Hono {
  const app = new Hono();
  const effectAnswers = answerCache(host.effectCacheMs ?? 0);
${routes.join("\n\n")}

  app.notFound(() => problem({ code: "not-found" }));
  app.onError((error) => {
    host.reportError?.(error);
    return problem({ code: "internal" });
  });
  return app;
}

/** A typed failure as application/problem+json; its status comes from spec/errors.ts. */
function problem(error: ServerError): Response {
  const { status, title } = serverErrors[error.code];
  const body = { code: error.code, title, ...(error.ruleId === undefined ? {} : { rule: error.ruleId }), ...(error.detail === undefined ? {} : { detail: error.detail }) };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/problem+json" } });
}

/** How a route answers a typed failure. */
type Fail = (error: ServerError) => Response | Promise<Response>;

/**
 * A typed failure of web authentication as an HTML page for the person in the device's web view,
 * with the page security headers; its status comes from spec/errors.ts, its detail is never shown.
 */
async function errorPage(host: ServerHost, error: ServerError): Promise<Response> {
  const { status, title } = serverErrors[error.code];
  const headers: Record<string, string> = { ...pageSecurityHeaders, "content-type": "text/html; charset=utf-8" };
  return new Response(await host.renderErrorPage(error.code, title), { status, headers });
}

function issues(error: z.ZodError): string {
  return error.issues.map((issue) => \`\${issue.path.map(String).join(".") || "(request)"}: \${issue.message}\`).join("; ");
}

/** The first value of each query item, decoded as URLSearchParams does (request.url is already serialized: no full URL parse needed). */
function queryOf(request: Request): Record<string, string> {
  const query: Record<string, string> = {};
  const url = request.url;
  const start = url.indexOf("?");
  if (start < 0) return query;
  const hash = url.indexOf("#", start);
  for (const [key, value] of new URLSearchParams(url.slice(start + 1, hash < 0 ? undefined : hash))) if (!(key in query)) query[key] = value;
  return query;
}

export type Read<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ServerError };

/** What a body is read from: a Request, or a Response (runtime/capped-body.ts reads both through this). */
export type BodySource = Pick<Request, "headers" | "body" | "arrayBuffer">;

/**
 * Reads at most maxBytes of the body; a larger one is refused before it is read whole. A body that
 * breaks off (the client went away mid-request) is the request's fault: request.invalid, not internal.
 */
export async function readBody(request: BodySource, maxBytes: number): Promise<Read<Uint8Array>> {
  const length = request.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > maxBytes) return { ok: false, error: { code: "request.too-large", detail: \`at most \${maxBytes} bytes\` } };
  // A declared length within the limit is read in one go (on Node the server's direct read, far
  // cheaper than a web stream, which merely touching \`request.body\` builds); the HTTP layer holds
  // the body to that length.
  if (length !== null && /^[0-9]+$/.test(length)) {
    try {
      const bytes = new Uint8Array(await request.arrayBuffer());
      if (bytes.byteLength > maxBytes) return { ok: false, error: { code: "request.too-large", detail: \`at most \${maxBytes} bytes\` } };
      return { ok: true, value: bytes };
    } catch {
      return { ok: false, error: { code: "request.invalid", detail: "the request body broke off before its end" } };
    }
  }
  if (request.body === null) return { ok: true, value: new Uint8Array() };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      return { ok: false, error: { code: "request.invalid", detail: "the request body broke off before its end" } };
    }
    if (next.done) break;
    size += next.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return { ok: false, error: { code: "request.too-large", detail: \`at most \${maxBytes} bytes\` } };
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, value: bytes };
}

/** A url-encoded or multipart form as its first value per field (files are refused). */
async function readForm(request: Request, maxBytes: number): Promise<Read<Record<string, string>>> {
  const raw = await readBody(request, maxBytes);
  if (!raw.ok) return raw;
  let data: FormData;
  try {
    data = await new Response(raw.value.slice(), { headers: { "content-type": request.headers.get("content-type") ?? "" } }).formData();
  } catch {
    return { ok: false, error: { code: "request.invalid", detail: "the body is not a form" } };
  }
  const fields: Record<string, string> = {};
  for (const [key, value] of data) {
    if (typeof value !== "string") return { ok: false, error: { code: "request.invalid", detail: "files are not accepted" } };
    if (!(key in fields)) fields[key] = value;
  }
  return { ok: true, value: fields };
}

async function authorizationFact(host: ServerHost, value: string | undefined): Promise<AuthorizationFact> {
  const presented = parseAuthorization(value);
  return presented.kind === "bearer" ? { kind: "bearer", tokenHash: await host.hashToken(presented.token) } : presented;
}

/** The server machine with a host's actors, built once per set of actors (building it costs more than a check-in). */
const providedLogic = new WeakMap<ServerActorImplementations, ReturnType<typeof ${machine}.provide>>();
function logicFor(actors: ServerActorImplementations): ReturnType<typeof ${machine}.provide> {
  let logic = providedLogic.get(actors);
  if (logic === undefined) {
    logic = ${machine}.provide({ actors });
    providedLogic.set(actors, logic);
  }
  return logic;
}

/**
 * Runs one server-machine event on a stored enrollment (its named actors included) and stores what
 * the machine decided: for endpoints the host serves itself (the OAuth 2 authorization server).
 * Null when no enrollment is found.
 */
export function runEnrollmentEvent(host: ServerHost, locator: EnrollmentLocator, event: ServerEvent): Promise<ServerContext | null> {
  // Events that start no actor are a pure step: the machine's actor-free step, through the cache.
  const pure = event.type === "TOKEN_REFRESHED" || event.type === "TOKEN_INVALIDATED" || event.type === "SIGN_IN_PAGE";
  return runEnrollment(host, [locator], event, undefined, pure ? { optimistic: true } : {});
}

/**
 * Runs the server machine for one event on the enrollment the locators find (or a new one when
 * \`create\` is given), waits until its named actors have settled, and stores the result.
 */
function runEnrollment(
  host: ServerHost,
  locators: readonly EnrollmentLocator[],
  event: ServerEvent,
  create: (() => ServerInput) | undefined,
  options: TransactOptions = {},
): Promise<ServerContext | null> {
  // Not async itself: the store's promise is the answer (one step fewer on every MDM request).
  const logic = logicFor(host.actors);
  return host.store.transact(locators, async (found) => {
    let actor;
    if (found === null || found === undefined) {
      if (create === undefined) return { save: null, result: null };
      actor = createActor(logic, { input: create() });
    } else {
      // Parsed once per cached copy: the enrollment cache hands out the same frozen record until it changes.
      const record = readEnrollmentRecord(found);
      if (!record.success) throw new Error(\`a stored enrollment is unreadable: \${issues(record.error)}\`);
      // A step that starts no actor (an MDM request) is computed synchronously, without an actor.
      const stepped = options.optimistic === true ? stepWithoutActors(record.data.state, record.data.context, event) : null;
      if (stepped !== null) return { save: stepped.record, result: stepped.context };
      actor = createActor(logic, { snapshot: ${machine}.resolveState({ value: record.data.state, context: record.data.context }), input: record.data.context });
    }
    actor.start();
    actor.send(event);
    const settled = await waitFor(actor, (snapshot) => !snapshot.hasTag("busy"), { timeout: 30_000 });
    actor.stop();
    return { save: toRecord(String(settled.value), settled.context), result: settled.context };
  }, options);
}

/** The machine's reply as HTTP, with the status and media type the operation defines for it; failures through \`fail\`. */
async function answer(host: ServerHost, enrollment: ServerContext | null, table: ReplyTable, extras: Extras, fail: Fail = problem): Promise<Response> {
  const reply = enrollment === null ? ({ kind: "unrecognized-device", ruleId: "ONGOING-9" } as const) : enrollment.reply;
  if (reply === null) return fail({ code: "internal", detail: "the machine decided no answer" });
  const spec = table[reply.kind];
  if (spec === undefined) return fail({ code: "internal", detail: \`this operation has no \${reply.kind} answer\` });
  // A plain record, not a Headers object: @hono/node-server writes it without converting it.
  const headers: Record<string, string> = {};
  if (spec.contentType !== undefined) headers["content-type"] = spec.contentType;
  switch (reply.kind) {
    case "challenge": {
      if (enrollment === null) return fail({ code: "internal" });
      const { challenge, essoUrl, essoDeveloper } = host.challengeFor(enrollment, { organization: extras.organization ?? null });
      headers["www-authenticate"] = formatChallenge(challenge);
      if (essoUrl !== undefined) headers[essoDeveloper === true ? essoDeveloperHeader : essoHeader] = essoUrl;
      return new Response(null, { status: spec.status, headers });
    }
    case "profile": {
      if (enrollment === null) return fail({ code: "internal" });
      return new Response(await host.serializeProfile(reply.profile, enrollment), { status: spec.status, headers });
    }
    case "sign-in-form": {
      if (enrollment === null) return fail({ code: "internal" });
      for (const [name, value] of Object.entries(pageSecurityHeaders)) headers[name] = value;
      const page = await host.renderSignInPage(enrollment, { userIdentifier: extras.userIdentifier ?? null, failed: reply.failed, now: host.now() });
      return new Response(page, { status: spec.status, headers });
    }
    case "authentication-result":
      if (extras.issuedToken === undefined) return fail({ code: "internal" });
      headers["location"] = buildAuthenticationResultUrl(extras.issuedToken);
      headers["cache-control"] = "no-store";
      return new Response(null, { status: spec.status, headers });
    case "acknowledged":
      return new Response(null, { status: spec.status, headers });
    case "unrecognized-device":
      return new Response(JSON.stringify(buildUnrecognizedDevice()), { status: spec.status, headers });
    case "error":
      return fail(reply);
  }
}

/** An answer as plain data, so that it can be kept and sent again. */
interface PlainAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | null;
}

function toResponse(answer: PlainAnswer): Response {
  // A plain record, not a Headers object: @hono/node-server writes it without converting it.
  return new Response(answer.body, { status: answer.status, headers: { ...answer.headers } });
}

/** The raw query string: equal strings parse to equal queries. */
function queryKeyOf(request: Request): string {
  const url = request.url;
  const start = url.indexOf("?");
  if (start < 0) return "";
  const hash = url.indexOf("#", start);
  return url.slice(start + 1, hash < 0 ? undefined : hash);
}

/** Effect answers by query, for host.effectCacheMs (0: none), at most 10 000 of them, oldest evicted first. */
function answerCache(ttlMs: number) {
  const answers = new Map<string, { readonly answer: PlainAnswer; readonly at: number }>();
  return {
    get(key: string, now: number): PlainAnswer | undefined {
      const hit = answers.get(key);
      return hit !== undefined && now - hit.at < ttlMs ? hit.answer : undefined;
    },
    put(key: string, answer: PlainAnswer, now: number): void {
      if (ttlMs <= 0 || key.length > 2048) return;
      answers.delete(key);
      while (answers.size >= 10_000) {
        const oldest = answers.keys().next();
        if (oldest.done === true) break;
        answers.delete(oldest.value);
      }
      answers.set(key, { answer, at: now });
    },
  };
}

/** DISCOVERY-10/-11/-12: the effect's decision, checked against the schema before it is sent; null when it does not fit. */
function answerDiscovery(decision: DiscoveryDecision, table: ReplyTable): PlainAnswer | null {
  const spec = table[decision.kind];
  if (spec === undefined) return null;
  const headers: Record<string, string> = {};
  if (spec.contentType !== undefined) headers["content-type"] = spec.contentType;
  switch (decision.kind) {
    case "servers": {
      const document = ${serversName}.safeParse(decision.document);
      return document.success ? { status: spec.status, headers, body: JSON.stringify(document.data) } : null;
    }
    case "redirect":
      headers["location"] = decision.location;
      return { status: spec.status, headers, body: null };
    case "well-known-failed": {
      const body = ${failedName}.safeParse(decision.body);
      return body.success ? { status: spec.status, headers, body: JSON.stringify(body.data) } : null;
    }
  }
}
`;
  return format(serverFile, text);
}
