// How the device reads each answer it gets: one reader per step, each failure named by its rule id.
// Sources: DOC-SIMPLE, DOC-OAUTH and PROTOCOL.md §1–8 (see spec/rules.ts).
import { err, ok, type Result } from "../spec/result.ts";
import type { RuleId } from "../spec/rules.ts";
import { isJsonMediaType, selectServer, type EnrollmentVersion, type SelectedServer } from "../spec/service-discovery.ts";
import { WellKnownFailed } from "../spec/error-responses.ts";
import { parseChallenge, essoHeader, EssoUrl, type Challenge } from "../spec/challenge.ts";
import { EnrollmentSsoDocument } from "../spec/enrollment-sso.ts";
import { parseAuthenticationCallback } from "../spec/web-authentication.ts";
import { parseAuthorizationCallback, TokenResponse } from "../spec/oauth2.ts";
import { parseEnrollmentProfile, profileViolations, type ConfigurationProfile } from "../spec/enrollment-profile.ts";
import { parseSignedData } from "../spec/cms.ts";
import { UnrecognizedDevice } from "../spec/error-responses.ts";
import { bodyJson, header, type HttpAnswer } from "./http-answer.ts";

/** A failed reading: the rule it breaks, and for DISCOVERY-9 the message meant for the person. */
export interface Breach {
  readonly ruleId: RuleId;
  readonly message?: string;
}

const breach = (ruleId: RuleId, message?: string): { readonly ok: false; readonly error: Breach } =>
  err(message === undefined ? { ruleId } : { ruleId, message });

/** Steps 2–3. */
export function readDiscoveryAnswer(answer: HttpAnswer, supported: readonly EnrollmentVersion[]): Result<SelectedServer, Breach> {
  if (answer.status === 403) {
    const failed = WellKnownFailed.safeParse(bodyJson(answer));
    if (failed.success) return breach("DISCOVERY-9", failed.data.message ?? failed.data.description ?? "");
  }
  if (answer.status !== 200) return breach("DISCOVERY-3");
  if (!isJsonMediaType(header(answer, "content-type"))) return breach("DISCOVERY-4");
  const body = bodyJson(answer);
  if (body === undefined) return breach("DISCOVERY-5");
  const selected = selectServer(body, supported);
  return selected.ok ? selected : breach(selected.error.ruleId);
}

export interface ChallengeAnswer {
  readonly challenge: Challenge;
  readonly essoUrl: string | null;
}

/** Steps 4–5. */
export function readFirstEnrollAnswer(answer: HttpAnswer): Result<ChallengeAnswer, Breach> {
  if (answer.status === 200) return breach("ENROLL-6");
  if (answer.status !== 401) return breach("ENROLL-7");
  const challenge = parseChallenge(header(answer, "www-authenticate"));
  if (!challenge.ok) return breach(challenge.error.ruleId);
  return ok({ challenge: challenge.value, essoUrl: header(answer, essoHeader) });
}

/** Enrollment SSO document fetch (ESSO-1, ESSO-2). */
export function readSsoAnswer(url: string, answer: HttpAnswer): Result<EnrollmentSsoDocument, Breach> {
  if (!EssoUrl.safeParse(url).success) return breach("ESSO-1");
  if (answer.status !== 200) return breach("ESSO-1");
  const body = bodyJson(answer);
  if (typeof body !== "object" || body === null || Array.isArray(body)) return breach("ESSO-1");
  const document = EnrollmentSsoDocument.safeParse(body);
  return document.success ? ok(document.data) : breach("ESSO-2");
}

/** What a web authentication session (ASWebAuthenticationSession) ends with. */
export type WebAuthOutcome =
  | { readonly kind: "callback"; readonly url: string }
  | { readonly kind: "cancelled" }
  | { readonly kind: "http-error"; readonly status: number };

/** Steps 6–11, simple. */
export function readSimpleAuthOutcome(outcome: WebAuthOutcome): Result<{ accessToken: string }, Breach> {
  if (outcome.kind === "cancelled") return breach("CANCEL-1");
  if (outcome.kind === "http-error") return breach("SIMPLE-6");
  const callback = parseAuthenticationCallback(outcome.url);
  return callback.ok ? ok({ accessToken: callback.value.accessToken }) : breach(callback.error.ruleId);
}

/** Steps 6–11, OAuth 2. */
export function readAuthorizationOutcome(outcome: WebAuthOutcome, expectedState: string): Result<{ code: string }, Breach> {
  if (outcome.kind === "cancelled") return breach("CANCEL-1");
  if (outcome.kind === "http-error") return breach("SIMPLE-6");
  const callback = parseAuthorizationCallback(outcome.url, expectedState);
  return callback.ok ? ok({ code: callback.value.code }) : breach(callback.error.ruleId);
}

export interface Tokens {
  readonly accessToken: string;
  readonly refreshToken: string | null;
}

/** Steps 12–13 of the OAuth page, and the refresh of ongoing authorization (OAUTH-5). */
export function readTokenAnswer(answer: HttpAnswer): Result<Tokens, Breach> {
  if (answer.status !== 200 || !isJsonMediaType(header(answer, "content-type"))) return breach("OAUTH-5");
  const token = TokenResponse.safeParse(bodyJson(answer));
  if (!token.success) return breach("OAUTH-5");
  return ok({ accessToken: token.data.access_token, refreshToken: token.data.refresh_token ?? null });
}

/** Step 12 answer (ENROLL2-4), then the profile of step 13 (PROFILE-5, -1, -2, -3, -4). */
export function readSecondEnrollAnswer(
  answer: HttpAnswer,
  version: EnrollmentVersion,
  options: { readonly requireModeMatchesVersion: boolean },
): Result<ConfigurationProfile, Breach> {
  if (answer.status !== 200 || answer.body.length === 0) return breach("ENROLL2-4");
  const parsed = parseEnrollmentProfile(unwrapSignedProfile(answer.body));
  if (!parsed.ok) return breach("PROFILE-5");
  const violated = profileViolations(parsed.value, version, options)[0];
  return violated === undefined ? ok(parsed.value) : breach(violated);
}

/** A profile may be CMS-signed; its content is then the plist. */
function unwrapSignedProfile(body: Uint8Array): Uint8Array {
  if (body[0] !== 0x30) return body;
  const signed = parseSignedData(body);
  return signed.ok && signed.value.content !== undefined ? signed.value.content : body;
}

/** What an MDM request's answer means for ongoing authorization (PROTOCOL.md §6). */
export type MdmAnswerMeaning = "accepted" | "unauthorized" | "unenrolled" | "failed";

export function readMdmAnswer(answer: HttpAnswer): MdmAnswerMeaning {
  if (answer.status >= 200 && answer.status < 300) return "accepted";
  if (answer.status === 401) return "unauthorized";
  if (answer.status === 403 && UnrecognizedDevice.safeParse(bodyJson(answer)).success) return "unenrolled";
  return "failed";
}
