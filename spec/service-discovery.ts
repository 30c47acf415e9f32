// Service discovery (steps 2–3): https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow
import { z } from "zod";
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";
import { hasControlCharacter } from "./user-identifier.ts";

export const wellKnownPath = "/.well-known/com.apple.remotemanagement";

/** DISCOVERY-2: the families a device sends. */
export const ModelFamily = z.enum(["AppleTV", "iPad", "iPhone", "Mac", "RealityDevice", "Watch"]);
export type ModelFamily = z.infer<typeof ModelFamily>;

export const EnrollmentVersion = z.enum(["mdm-byod", "mdm-adde"]);
export type EnrollmentVersion = z.infer<typeof EnrollmentVersion>;

/**
 * An organization's name in URLs: lower-case letters, digits and inner hyphens (e.g. "example-corp").
 * A BaseURL carries it when the first 401 depends on the organization (Enrollment SSO), since the
 * user is not known before sign-in.
 */
export const OrganizationSlug = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "lower-case letters, digits and inner hyphens, at most 63");
export type OrganizationSlug = z.infer<typeof OrganizationSlug>;

/** The BaseURL our server hands out names the kind of enrollment it decided on, and optionally the organization. */
export const EnrollPathParams = z.object({ version: EnrollmentVersion, org: OrganizationSlug.optional() });
export type EnrollPathParams = z.infer<typeof EnrollPathParams>;

/** What a device sends (DISCOVERY-1, DISCOVERY-2). */
export const WellKnownRequest = z.object({
  "user-identifier": z.string().min(3).max(320),
  "model-family": ModelFamily,
});
export type WellKnownRequest = z.infer<typeof WellKnownRequest>;

/**
 * What the server accepts: model-family is kept open, because Apple adds families (Watch and
 * RealityDevice came later) and refusing an unknown one would lock out a new device class.
 */
export const WellKnownQuery = z.object({
  "user-identifier": z.string().min(3).max(320).refine((value) => !hasControlCharacter(value), "holds a control character"),
  "model-family": z.string().min(1).max(64),
});
export type WellKnownQuery = z.infer<typeof WellKnownQuery>;

const absoluteHttpUrl = z.string().refine((value) => {
  const url = URL.parse(value);
  return url !== null && (url.protocol === "https:" || url.protocol === "http:");
}, "an absolute http(s) URL");

/** Device-side reading of the document (DISCOVERY-5): Version and BaseURL strings, other keys ignored. */
export const WellKnownResponse = z.looseObject({
  Servers: z.array(z.looseObject({ Version: z.string(), BaseURL: z.string() })),
});
export type WellKnownResponse = z.infer<typeof WellKnownResponse>;

/** DISCOVERY-10: what our server sends — exactly one item, a known Version, an absolute BaseURL. */
export const ServerWellKnownResponse = z.object({
  Servers: z.tuple([z.object({ Version: EnrollmentVersion, BaseURL: absoluteHttpUrl })]),
});
export type ServerWellKnownResponse = z.infer<typeof ServerWellKnownResponse>;

/** DISCOVERY-1: the URL a device asks. */
export function buildWellKnownUrl(domain: string, request: WellKnownRequest): string {
  const url = new URL(`https://${domain}${wellKnownPath}`);
  url.searchParams.set("user-identifier", request["user-identifier"]);
  url.searchParams.set("model-family", request["model-family"]);
  return url.toString();
}

/** DISCOVERY-8: a redirect is followed as-is; the original query is not carried over. */
export function followRedirect(currentUrl: string, location: string): string | null {
  const next = URL.parse(location, currentUrl);
  return next === null ? null : next.toString();
}

/** DISCOVERY-12: a server-side redirect of the well-known request carries the parameters itself. */
export function buildDiscoveryRedirect(target: string, query: WellKnownQuery): string {
  const url = new URL(target);
  url.searchParams.set("user-identifier", query["user-identifier"]);
  url.searchParams.set("model-family", query["model-family"]);
  return url.toString();
}

/** DISCOVERY-4: any JSON media type, parameters (charset) allowed. */
export function isJsonMediaType(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const essence = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return essence === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(essence);
}

export interface DiscoveryError {
  readonly code: "discovery.malformed" | "discovery.no-servers" | "discovery.unsupported-version";
  readonly ruleId: RuleId;
  readonly detail: string;
}

export interface SelectedServer {
  readonly version: EnrollmentVersion;
  readonly baseUrl: string;
}

/** DISCOVERY-5, -6, -7: read the document and take the first item whose Version the device supports. */
export function selectServer(
  body: unknown,
  supported: readonly EnrollmentVersion[],
): Result<SelectedServer, DiscoveryError> {
  const parsed = WellKnownResponse.safeParse(body);
  if (!parsed.success) {
    return err({ code: "discovery.malformed", ruleId: "DISCOVERY-5", detail: parsed.error.issues[0]?.message ?? "malformed" });
  }
  if (parsed.data.Servers.length === 0) {
    return err({ code: "discovery.no-servers", ruleId: "DISCOVERY-6", detail: "Servers is empty" });
  }
  for (const server of parsed.data.Servers) {
    const version = EnrollmentVersion.safeParse(server.Version);
    const base = URL.parse(server.BaseURL);
    if (version.success && supported.includes(version.data) && base !== null && /^https?:$/.test(base.protocol)) {
      return ok({ version: version.data, baseUrl: base.toString() });
    }
  }
  return err({ code: "discovery.unsupported-version", ruleId: "DISCOVERY-7", detail: "no Servers item with a supported Version and an absolute BaseURL" });
}
