// The operations table: every HTTP exchange of the flow, the single input of generators/.
// Schemas and parsers are referenced by value; the generators find their export names in spec/index.ts.
import { z } from "zod";
import type { Result } from "./result.ts";
import type { ServerErrorCode } from "./errors.ts";
import type { RuleId } from "./rules.ts";
import { wellKnownPath, WellKnownQuery, WellKnownRequest, ServerWellKnownResponse, EnrollPathParams } from "./service-discovery.ts";
import { enrollRequestMaxBytes, parseEnrollRequestBody } from "./enroll-request.ts";
import { SignInSubmission, WebAuthQuery } from "./web-authentication.ts";
import { checkInContentType, parseCheckInMessage, profileContentType, commandContentType } from "./check-in.ts";
import { parseCommandReport } from "./command-channel.ts";
import { WellKnownFailed, UnrecognizedDevice } from "./error-responses.ts";
import { AuthorizationRequest, TokenRequest, TokenResponse } from "./oauth2.ts";
import { AuthorizationServerMetadata, authorizationServerMetadataPath, RevocationRequest } from "./oauth2-authorization-server.ts";
import { EssoPathParams, ServerEnrollmentSsoDocument } from "./enrollment-sso.ts";

export type HttpMethod = "GET" | "POST" | "PUT";

/** A reply the server machine can decide (machines/server.machine.ts `ServerReply`), or an effect's outcome. */
export type ReplyKind =
  | "challenge"
  | "profile"
  | "sign-in-form"
  | "authentication-result"
  | "acknowledged"
  | "unrecognized-device"
  | "error"
  | "servers"
  | "redirect"
  | "well-known-failed"
  | "document";

export interface ResponseSpec {
  readonly status: number;
  readonly contentType?: string;
  /** A schema every body of this response must satisfy before it is sent. */
  readonly schema?: z.ZodType;
  readonly headers?: readonly string[];
  readonly description: string;
}

export type RawBodyParser = (body: Uint8Array) => Result<unknown, { code: string; detail: string }>;

export interface OperationSpec {
  /** Function name in the generated client and handler name in the generated server. */
  readonly id: string;
  readonly summary: string;
  /** Apple's step numbers and the page the step is documented on. */
  readonly steps: string;
  readonly source: string;
  readonly method: HttpMethod;
  /** Hono route pattern; the path role is what the URL is for (a BaseURL may be configured elsewhere). */
  readonly path: string;
  readonly pathRole: "well-known" | "enroll" | "web-auth" | "check-in" | "command" | "oauth2-authorize" | "oauth2-token" | "oauth2-revoke" | "oauth2-metadata" | "enrollment-sso";
  /** Served by the generated server now; false for operations whose server side arrives later. */
  readonly served: boolean;
  readonly request: {
    readonly params?: z.ZodType;
    readonly query?: z.ZodType;
    /** The query the client builds (stricter than what the server tolerates). */
    readonly clientQuery?: z.ZodType;
    /** application/x-www-form-urlencoded or multipart form. */
    readonly form?: z.ZodType;
    /** Raw body, size-limited, parsed by a spec function. */
    readonly body?: {
      readonly parser: RawBodyParser;
      readonly maxBytes: number;
      readonly error: ServerErrorCode;
      readonly rule?: RuleId;
      readonly contentType: string;
      /** The body is a device-signed CMS message whose signature the host verifies before anything else. */
      readonly deviceSigned?: boolean;
    };
    readonly formMaxBytes?: number;
    readonly bearer?: boolean;
    /** Redirect handling of the client: follow (DISCOVERY-8) or hand the redirect back (web authentication). */
    readonly redirect: "follow" | "manual";
  };
  /** Either a server-machine event (and how the enrollment is found), or a named effect of the host. */
  readonly handling:
    | { readonly kind: "event"; readonly event: "ENROLL" | "SIGN_IN_PAGE" | "SIGN_IN"; readonly locate: "device-key" | "path-ref" }
    /** An MDM request: authorized by the server machine (CHECK_IN), then handed to the host's MDM (built in, or the upstream). */
    | { readonly kind: "mdm"; readonly channel: "checkin" | "command" }
    | { readonly kind: "effect"; readonly effect: "discover" }
    /** What the host built at start for the organization the path names: the document, or the profile its legacy declaration names. */
    | { readonly kind: "effect"; readonly effect: "enrollmentSso"; readonly serves: "document" | "profile" }
    /** The OAuth 2 authorization server (runtime/oauth2-server.ts): the request goes to the host's endpoint as it came. */
    | { readonly kind: "effect"; readonly effect: "oauth2"; readonly endpoint: "authorize" | "authorizeSubmit" | "token" | "revoke" | "metadata" }
    | { readonly kind: "none" };
  readonly responses: Partial<Record<ReplyKind, ResponseSpec>>;
}

/** The path of a web-auth URL carries the enrollment's reference: the client replaces the query (SIMPLE-1). */
export const WebAuthPathParams = z.object({ ref: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/) });
export type WebAuthPathParams = z.infer<typeof WebAuthPathParams>;

const simple = "https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow";
const oauth = "https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-account-driven-enrollment-flow";
const onboarding = "https://developer.apple.com/documentation/devicemanagement/onboarding-users-with-account-sign-in";

const errorResponse: ResponseSpec = { status: 400, contentType: "application/problem+json", description: "a typed error; the status comes from spec/errors.ts" };

export const operations = [
  {
    id: "wellKnown",
    summary: "Service discovery: which service and which kind of enrollment serve this account",
    steps: "2–3",
    source: simple,
    method: "GET",
    path: wellKnownPath,
    pathRole: "well-known",
    served: true,
    request: { query: WellKnownQuery, clientQuery: WellKnownRequest, redirect: "follow" },
    handling: { kind: "effect", effect: "discover" },
    responses: {
      servers: { status: 200, contentType: "application/json", schema: ServerWellKnownResponse, description: "DISCOVERY-10" },
      redirect: { status: 302, headers: ["Location"], description: "DISCOVERY-12: the target carries the query itself" },
      "well-known-failed": { status: 403, contentType: "application/json", schema: WellKnownFailed, description: "DISCOVERY-11" },
      error: errorResponse,
    },
  },
  {
    id: "enroll",
    summary: "Enroll request: first without a token (challenged), then with one (the profile)",
    steps: "4–5, 12–13",
    source: simple,
    method: "POST",
    // The organization segment is there when the first 401 depends on it (Enrollment SSO).
    path: "/enroll/:version/:org?",
    pathRole: "enroll",
    served: true,
    request: {
      params: EnrollPathParams,
      // ENROLL-2: the server ignores Content-Type; this is what the client sends.
      body: { parser: parseEnrollRequestBody, maxBytes: enrollRequestMaxBytes, error: "enroll.body-invalid", rule: "ENROLL-4", contentType: "application/pkcs7-signature", deviceSigned: true },
      bearer: true,
      redirect: "manual",
    },
    handling: { kind: "event", event: "ENROLL", locate: "device-key" },
    responses: {
      challenge: { status: 401, headers: ["WWW-Authenticate", "X-Apple-MDM-ESSO", "X-Apple-MDM-ESSO-Developer"], description: "ENROLL-5, ENROLL2-2: empty body" },
      profile: { status: 200, contentType: profileContentType, description: "ENROLL2-3" },
      error: errorResponse,
    },
  },
  {
    id: "webAuthPage",
    summary: "Web authentication: the sign-in page the device's web session opens",
    steps: "6–10",
    source: simple,
    method: "GET",
    path: "/authenticate/:ref",
    pathRole: "web-auth",
    served: true,
    request: { params: WebAuthPathParams, query: WebAuthQuery, redirect: "manual" },
    handling: { kind: "event", event: "SIGN_IN_PAGE", locate: "path-ref" },
    responses: {
      "sign-in-form": { status: 200, contentType: "text/html; charset=utf-8", description: "the sign-in form" },
      error: errorResponse,
    },
  },
  {
    id: "webAuthSubmit",
    summary: "Web authentication: the person's credentials; success redirects to the callback scheme",
    steps: "11",
    source: simple,
    method: "POST",
    path: "/authenticate/:ref",
    pathRole: "web-auth",
    served: true,
    request: { params: WebAuthPathParams, form: SignInSubmission, formMaxBytes: 16 * 1024, redirect: "manual" },
    handling: { kind: "event", event: "SIGN_IN", locate: "path-ref" },
    responses: {
      "authentication-result": { status: 308, headers: ["Location"], description: "SIMPLE-4" },
      "sign-in-form": { status: 401, contentType: "text/html; charset=utf-8", description: "SIMPLE-5: the form again, with the failure" },
      error: errorResponse,
    },
  },
  {
    id: "checkIn",
    summary: "MDM check-in, authorized by the enrollment's access token",
    steps: "19 and after",
    source: onboarding,
    method: "PUT",
    path: "/mdm/checkin",
    pathRole: "check-in",
    served: true,
    request: {
      body: { parser: parseCheckInMessage, maxBytes: 256 * 1024, error: "checkin.invalid", contentType: checkInContentType },
      bearer: true,
      redirect: "manual",
    },
    handling: { kind: "mdm", channel: "checkin" },
    responses: {
      acknowledged: { status: 200, description: "authorized: the host's MDM answers (built in, or the upstream's answer in proxy mode)" },
      challenge: { status: 401, headers: ["WWW-Authenticate"], description: "ONGOING-7" },
      "unrecognized-device": { status: 403, contentType: "application/json", schema: UnrecognizedDevice, description: "ONGOING-9" },
      error: errorResponse,
    },
  },
  {
    id: "command",
    summary: "MDM command channel: the device reports a status (Idle, or a command's result) and gets its next command",
    steps: "19 and after",
    source: "https://developer.apple.com/documentation/devicemanagement/sending-mdm-commands-to-a-device",
    method: "PUT",
    path: "/mdm/server",
    pathRole: "command",
    served: true,
    request: {
      body: { parser: parseCommandReport, maxBytes: 4 * 1024 * 1024, error: "command.invalid", contentType: commandContentType },
      bearer: true,
      redirect: "manual",
    },
    handling: { kind: "mdm", channel: "command" },
    responses: {
      acknowledged: { status: 200, description: "authorized: the next command as a plist, or an empty body (from the host's MDM)" },
      challenge: { status: 401, headers: ["WWW-Authenticate"], description: "ONGOING-7" },
      "unrecognized-device": { status: 403, contentType: "application/json", schema: UnrecognizedDevice, description: "ONGOING-9" },
      error: errorResponse,
    },
  },
  {
    id: "oauth2Authorize",
    summary: "OAuth 2 authorization request: the sign-in page for the enrollment the authorization-url names",
    steps: "6–10 (OAuth 2)",
    source: oauth,
    method: "GET",
    path: "/oauth2/authorize",
    pathRole: "oauth2-authorize",
    served: true,
    request: { query: AuthorizationRequest, redirect: "manual" },
    handling: { kind: "effect", effect: "oauth2", endpoint: "authorize" },
    responses: {
      "sign-in-form": { status: 200, contentType: "text/html; charset=utf-8", description: "the sign-in form, posting the request back" },
      redirect: { status: 308, headers: ["Location"], description: "OAUTH-9: an error sent to the registered redirect URI" },
      error: { status: 400, contentType: "text/html; charset=utf-8", description: "OAUTH-8: unknown client or redirect URI, an error page" },
    },
  },
  {
    id: "oauth2AuthorizeSubmit",
    summary: "OAuth 2 authorization: the person's credentials; success redirects with a code",
    steps: "11 (OAuth 2)",
    source: oauth,
    method: "POST",
    path: "/oauth2/authorize",
    pathRole: "oauth2-authorize",
    served: true,
    request: { form: SignInSubmission, formMaxBytes: 16 * 1024, redirect: "manual" },
    handling: { kind: "effect", effect: "oauth2", endpoint: "authorizeSubmit" },
    responses: {
      redirect: { status: 308, headers: ["Location"], description: "OAUTH-6 (code and state), OAUTH-9 (access_denied on Cancel)" },
      "sign-in-form": { status: 401, contentType: "text/html; charset=utf-8", description: "SIMPLE-5: the form again, with the failure" },
      error: { status: 400, contentType: "text/html; charset=utf-8", description: "OAUTH-8, a forged form: an error page" },
    },
  },
  {
    id: "oauth2Token",
    summary: "OAuth 2 token request (authorization_code and refresh_token grants)",
    steps: "12–13 (OAuth 2), refresh",
    source: oauth,
    method: "POST",
    path: "/oauth2/token",
    pathRole: "oauth2-token",
    served: true,
    request: { form: TokenRequest, formMaxBytes: 16 * 1024, redirect: "manual" },
    handling: { kind: "effect", effect: "oauth2", endpoint: "token" },
    responses: {
      document: { status: 200, contentType: "application/json", schema: TokenResponse, description: "OAUTH-7, OAUTH-13: never cached" },
      error: { status: 400, contentType: "application/json", description: "OAUTH-13: RFC 6749 §5.2 JSON (401 for invalid_client)" },
    },
  },
  {
    id: "oauth2Revoke",
    summary: "OAuth 2 token revocation (RFC 7009)",
    steps: "any time after 13",
    source: "https://www.rfc-editor.org/rfc/rfc7009",
    method: "POST",
    path: "/oauth2/revoke",
    pathRole: "oauth2-revoke",
    served: true,
    request: { form: RevocationRequest, formMaxBytes: 16 * 1024, redirect: "manual" },
    handling: { kind: "effect", effect: "oauth2", endpoint: "revoke" },
    responses: {
      acknowledged: { status: 200, description: "OAUTH-15: whether or not the token was known" },
      error: { status: 400, contentType: "application/json", description: "OAUTH-13: RFC 6749 §5.2 JSON" },
    },
  },
  {
    id: "oauth2Metadata",
    summary: "OAuth 2 authorization server metadata (RFC 8414)",
    steps: "—",
    source: "https://www.rfc-editor.org/rfc/rfc8414",
    method: "GET",
    path: authorizationServerMetadataPath,
    pathRole: "oauth2-metadata",
    served: true,
    request: { redirect: "follow" },
    handling: { kind: "effect", effect: "oauth2", endpoint: "metadata" },
    responses: {
      document: { status: 200, contentType: "application/json", schema: AuthorizationServerMetadata, description: "OAUTH-16" },
      error: errorResponse,
    },
  },
  {
    id: "enrollmentSsoDocument",
    summary: "Enrollment SSO document: the SSO app, its associated domains, and its profile or declarations",
    steps: "5 (Enrollment SSO)",
    source: "https://developer.apple.com/documentation/devicemanagement/enrollmentssodocument",
    method: "GET",
    path: "/esso/:org",
    pathRole: "enrollment-sso",
    served: true,
    request: { params: EssoPathParams, redirect: "follow" },
    handling: { kind: "effect", effect: "enrollmentSso", serves: "document" },
    responses: {
      document: { status: 200, contentType: "application/json", schema: ServerEnrollmentSsoDocument, description: "ESSO-5" },
      error: errorResponse,
    },
  },
  {
    id: "enrollmentSsoProfile",
    summary: "Enrollment SSO profile: what the document's com.apple.configuration.legacy declaration installs",
    steps: "5 (Enrollment SSO)",
    source: "https://developer.apple.com/documentation/devicemanagement/legacyprofile",
    method: "GET",
    path: "/esso/:org/profile",
    pathRole: "enrollment-sso",
    served: true,
    request: { params: EssoPathParams, redirect: "follow" },
    handling: { kind: "effect", effect: "enrollmentSso", serves: "profile" },
    responses: {
      profile: { status: 200, contentType: profileContentType, description: "ESSO-5: the document's ConfigurationProfile, byte for byte" },
      error: errorResponse,
    },
  },
] as const satisfies readonly OperationSpec[];

export type OperationId = (typeof operations)[number]["id"];
