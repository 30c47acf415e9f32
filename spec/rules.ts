// Rules catalogue: every documented error, cancellation and validation rule of the flow.
// Sources: ../shared/protocol/apple-docs (DOC-SIMPLE, DOC-OAUTH, DOC-ONBOARD) and PROTOCOL.md §1–8.
// Each rule names where it is enforced; test/rules/rule-coverage.test.ts fails when a rule has no
// test whose name carries its id, or when a machine rule is not a named guard/transition.

export type RuleSide = "device" | "server";

export type RuleStep =
  | "identifier"
  | "discovery"
  | "first-enroll"
  | "challenge"
  | "enrollment-sso"
  | "simple-auth"
  | "oauth2-auth"
  | "second-enroll"
  | "profile"
  | "managed-account"
  | "ongoing";

/** Where a rule is enforced: a machine transition/guard (named by the rule id), or a spec schema/function. */
export type RuleEnforcement = "device-machine" | "server-machine" | "spec";

export interface Rule {
  readonly id: string;
  readonly rule: string;
  readonly source: string;
  readonly side: RuleSide;
  readonly step: RuleStep;
  readonly enforcedBy: RuleEnforcement;
  /** True where no public source states the rule outright (PROTOCOL.md UNCONFIRMED): keep it configurable. */
  readonly unconfirmed?: boolean;
}

const S = "DOC-SIMPLE";
const O = "DOC-OAUTH";
const ON = "DOC-ONBOARD";

export const rules = [
  // Step 1: identifier
  { id: "IDENT-1", side: "device", step: "identifier", enforcedBy: "spec", source: `${S} Sign in (Step 1); PROTOCOL.md §1`, rule: "The identifier is split at the last '@' into a user part and a domain part." },
  { id: "IDENT-2", side: "device", step: "identifier", enforcedBy: "device-machine", source: `${S} Sign in (Step 1); PROTOCOL.md §8`, rule: "An empty user part (or no '@' at all) is an error the person can correct by entering the identifier again." },
  { id: "IDENT-3", side: "device", step: "identifier", enforcedBy: "device-machine", source: `${S} Sign in (Step 1); PROTOCOL.md §1`, rule: "A domain part that is not a fully qualified domain name is an error the person can correct by entering the identifier again." },
  { id: "IDENT-4", side: "device", step: "identifier", enforcedBy: "device-machine", source: `${S} Sign in (Step 1)`, rule: "At identifier entry the person may cancel the enrollment instead of re-entering." },

  // Steps 2–3: service discovery
  { id: "DISCOVERY-1", side: "device", step: "discovery", enforcedBy: "spec", source: `${S} Send the well-known request (Step 2); PROTOCOL.md §1`, rule: "The client GETs https://<domain>/.well-known/com.apple.remotemanagement with the query parameters user-identifier and model-family." },
  { id: "DISCOVERY-2", side: "device", step: "discovery", enforcedBy: "spec", source: `${S} Step 2; PROTOCOL.md §1`, rule: "model-family is one of AppleTV, iPad, iPhone, Mac, RealityDevice, Watch." },
  { id: "DISCOVERY-3", side: "device", step: "discovery", enforcedBy: "device-machine", source: `${S} Process the JSON document (Step 3); PROTOCOL.md §8`, rule: "A well-known answer whose final status is not exactly 200 is an HTTP error: the client shows an error and cancels." },
  { id: "DISCOVERY-4", side: "device", step: "discovery", enforcedBy: "device-machine", source: "PROTOCOL.md §8", rule: "The well-known answer must have a JSON media type (a charset parameter is fine); any other cancels." },
  { id: "DISCOVERY-5", side: "device", step: "discovery", enforcedBy: "device-machine", source: `${S} Step 3; PROTOCOL.md §1`, rule: "A malformed well-known document (not JSON, or Servers items without string Version and BaseURL) cancels." },
  { id: "DISCOVERY-6", side: "device", step: "discovery", enforcedBy: "device-machine", source: "PROTOCOL.md §8", rule: "An empty Servers array cancels." },
  { id: "DISCOVERY-7", side: "device", step: "discovery", enforcedBy: "device-machine", source: `${S} Step 3; PROTOCOL.md §1`, rule: "The client takes the first Servers item whose Version it supports (mdm-byod, mdm-adde) and uses its BaseURL; when none is supported it cancels." },
  { id: "DISCOVERY-8", side: "device", step: "discovery", enforcedBy: "spec", source: `${S} Step 2 (redirects); PROTOCOL.md §1`, rule: "The client follows redirects of the well-known request without re-appending the original query parameters." },
  { id: "DISCOVERY-9", side: "device", step: "discovery", enforcedBy: "device-machine", source: "PROTOCOL.md §1 (ADM mdm/errors/well-known.failed.yaml)", rule: "A 403 carrying com.apple.well-known.failed shows its message to the person and cancels." },
  { id: "DISCOVERY-10", side: "server", step: "discovery", enforcedBy: "spec", source: `${S} Step 3; PROTOCOL.md §1`, rule: "A successful well-known answer is 200 application/json whose Servers holds exactly one item with Version (mdm-byod or mdm-adde) and an absolute BaseURL." },
  { id: "DISCOVERY-11", side: "server", step: "discovery", enforcedBy: "spec", source: "PROTOCOL.md §1 (ADM mdm/errors/well-known.failed.yaml)", rule: "An unknown domain or user is answered 403 with a com.apple.well-known.failed body: message for the person, description for logs." },
  { id: "DISCOVERY-12", side: "server", step: "discovery", enforcedBy: "spec", source: `${S} Step 2 (redirects)`, rule: "A redirect of the well-known request carries the user-identifier and model-family parameters itself." },

  // Steps 4–5: first enroll request
  { id: "ENROLL-1", side: "device", step: "first-enroll", enforcedBy: "spec", source: `${S} Attempt the first enrollment (Step 4); PROTOCOL.md §2`, rule: "The client POSTs to BaseURL a DER CMS SignedData, signed by its built-in identity, whose attached content is a plist with LANGUAGE, PRODUCT and VERSION." },
  { id: "ENROLL-2", side: "server", step: "first-enroll", enforcedBy: "spec", source: "PROTOCOL.md §2", rule: "The server ignores the request Content-Type (iOS 15 sends application/x-www-form-urlencoded) and parses the DER body." },
  { id: "ENROLL-3", side: "server", step: "first-enroll", enforcedBy: "spec", source: "PROTOCOL.md §2", rule: "Plist keys beyond LANGUAGE, PRODUCT and VERSION are tolerated and kept." },
  { id: "ENROLL-4", side: "server", step: "first-enroll", enforcedBy: "spec", source: `${S} Return the 401 response (Step 5); PROTOCOL.md §2`, rule: "An invalid enroll request (not CMS SignedData with an attached plist carrying the required keys) is answered 400, which halts enrollment." },
  { id: "ENROLL-5", side: "server", step: "first-enroll", enforcedBy: "server-machine", source: `${S} Step 5; PROTOCOL.md §2`, rule: "An enroll request without Authorization is answered 401 with an empty body and a WWW-Authenticate challenge." },
  { id: "ENROLL-6", side: "device", step: "first-enroll", enforcedBy: "device-machine", source: "PROTOCOL.md §8", rule: "A 200 answer to the first enroll request is rejected: the server must challenge; the client cancels." },
  { id: "ENROLL-7", side: "device", step: "first-enroll", enforcedBy: "device-machine", source: `${S} Step 5`, rule: "Any status other than 401 (such as 400 or 403) to the first enroll request halts enrollment." },
  { id: "ENROLL-8", side: "device", step: "first-enroll", enforcedBy: "device-machine", source: `${S} Step 5; ${O} Return the 401 Response`, rule: "A 401 without a valid WWW-Authenticate challenge cancels enrollment." },

  // Step 5: the challenge
  { id: "CHALLENGE-1", side: "device", step: "challenge", enforcedBy: "spec", source: `${S} Step 5; PROTOCOL.md §8`, rule: "The challenge scheme must be exactly Bearer." },
  { id: "CHALLENGE-2", side: "device", step: "challenge", enforcedBy: "spec", source: "PROTOCOL.md §3, §8", rule: "Challenge parameter values may be quoted or bare, separated with or without commas." },
  { id: "CHALLENGE-3", side: "server", step: "challenge", enforcedBy: "spec", source: "PROTOCOL.md §3 (RFC 7235)", rule: "The server emits the challenge as quoted, comma-separated auth-params." },
  { id: "CHALLENGE-4", side: "device", step: "challenge", enforcedBy: "spec", source: `${S} Step 5`, rule: "method=\"apple-as-web\" requires a url parameter with scheme http or https." },
  { id: "CHALLENGE-5", side: "device", step: "challenge", enforcedBy: "spec", source: `${O} Return the 401 Response; PROTOCOL.md §8`, rule: "method=\"apple-oauth2\" requires authorization-url, token-url, client-id and redirect-url; the client treats scope as optional." },
  { id: "CHALLENGE-6", side: "server", step: "challenge", enforcedBy: "spec", source: `${O} Return the 401 Response`, rule: "An apple-oauth2 challenge carries all six parameters; authorization-url and token-url are https, redirect-url uses the apple-remotemanagement-user-login scheme with a path." },
  { id: "CHALLENGE-7", side: "device", step: "challenge", enforcedBy: "device-machine", source: "PROTOCOL.md §8", rule: "A challenge with any other method cancels enrollment." },

  // Enrollment SSO
  { id: "ESSO-1", side: "device", step: "enrollment-sso", enforcedBy: "device-machine", source: "PROTOCOL.md §3, §8 (DOC-ESSO)", rule: "An X-Apple-MDM-ESSO value must be an https URL answering 200 with a JSON object; otherwise enrollment cancels." },
  { id: "ESSO-2", side: "device", step: "enrollment-sso", enforcedBy: "spec", source: "PROTOCOL.md §3 (DOC-ESSODOC, ADM other/esso.yaml)", rule: "The Enrollment SSO document has an integer iTunesStoreID and at least one of ConfigurationProfile and Declarations." },
  { id: "ESSO-3", side: "device", step: "enrollment-sso", enforcedBy: "device-machine", source: "PROTOCOL.md §3 (DOC-ESSO)", rule: "The person may decline Enrollment SSO, which cancels enrollment." },
  { id: "ESSO-4", side: "device", step: "enrollment-sso", enforcedBy: "device-machine", source: "PROTOCOL.md §3, §7", rule: "Enrollment SSO is not offered on macOS: a Mac ignores X-Apple-MDM-ESSO.", unconfirmed: true },
  { id: "ESSO-5", side: "server", step: "enrollment-sso", enforcedBy: "spec", source: "PROTOCOL.md §3 (DOC-ESSODOC, ADM other/esso.yaml, mdm/profiles/com.apple.extensiblesso.yaml, declarative/declarations)", rule: "The server's Enrollment SSO document and its inner profile and declarations validate against Apple's schemas: the profile holds exactly one com.apple.extensiblesso payload and otherwise only certificate payloads; the declarations are one com.apple.activation.simple naming the configurations, one com.apple.configuration.app.managed whose AppStoreID equals iTunesStoreID, and com.apple.configuration.legacy; AppIDs appear only in the developer document (X-Apple-MDM-ESSO-Developer)." },

  // Steps 6–11: simple authentication
  { id: "SIMPLE-1", side: "device", step: "simple-auth", enforcedBy: "spec", source: `${S} Implement the authentication flow (Steps 6-10); PROTOCOL.md §8`, rule: "The web-auth URL is the challenge url with its query replaced by user-identifier=<identifier>." },
  { id: "SIMPLE-2", side: "device", step: "simple-auth", enforcedBy: "spec", source: `${S} Return the authentication result (Step 11); PROTOCOL.md §8`, rule: "The session completes on a redirect to the apple-remotemanagement-user-login scheme; the first access-token query item is the token." },
  { id: "SIMPLE-3", side: "device", step: "simple-auth", enforcedBy: "device-machine", source: "PROTOCOL.md §8", rule: "A callback without an access-token item is an error that cancels enrollment." },
  { id: "SIMPLE-4", side: "server", step: "simple-auth", enforcedBy: "server-machine", source: `${S} Step 11`, rule: "Successful sign-in answers 308 with Location apple-remotemanagement-user-login://authentication-results?access-token=<token>." },
  { id: "SIMPLE-5", side: "server", step: "simple-auth", enforcedBy: "server-machine", source: `${S} Step 11`, rule: "Failed authentication answers an HTTP error status and never redirects to the callback." },
  { id: "SIMPLE-6", side: "device", step: "simple-auth", enforcedBy: "device-machine", source: `${S} Steps 6-10`, rule: "An HTTP error during web authentication ends enrollment." },
  { id: "CANCEL-1", side: "device", step: "simple-auth", enforcedBy: "device-machine", source: `${S} Steps 6-10; ${O} Send the Authorization Request`, rule: "The person may cancel the web authentication at any time, which ends the enrollment." },

  // OAuth 2 (device as public client)
  { id: "OAUTH-1", side: "device", step: "oauth2-auth", enforcedBy: "spec", source: `${O} Send the Authorization Request; PROTOCOL.md §4, §8`, rule: "The authorization request keeps authorization-url's query and adds response_type=code, client_id, redirect_uri, scope (when given), state (a UUID) and login_hint; no PKCE, no secret." },
  { id: "OAUTH-2", side: "device", step: "oauth2-auth", enforcedBy: "device-machine", source: `${O} Return the Authorization Response; PROTOCOL.md §8`, rule: "The authorization callback must carry code and the state the client sent; a missing code or another state cancels." },
  { id: "OAUTH-3", side: "device", step: "oauth2-auth", enforcedBy: "device-machine", source: "RFC 6749 §4.1.2.1; PROTOCOL.md §4", rule: "An authorization callback carrying error (such as access_denied) cancels enrollment." },
  { id: "OAUTH-4", side: "device", step: "oauth2-auth", enforcedBy: "spec", source: `${O} Send the Token Request; PROTOCOL.md §8`, rule: "The token request is form-encoded grant_type=authorization_code&code&redirect_uri&client_id." },
  { id: "OAUTH-5", side: "device", step: "oauth2-auth", enforcedBy: "device-machine", source: `${O} Send the Token Request; PROTOCOL.md §8`, rule: "A token answer must be exactly 200, JSON, token_type Bearer (any case) and an access_token; refresh_token and expires_in are optional; anything else fails." },
  { id: "OAUTH-6", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: `${O} Return the Authorization Response`, rule: "Successful authorization answers 308 to redirect-url with code and the request's state (303 to an http(s) redirect URI of another client, so that no browser re-posts the sign-in form there: RFC 9700 §4.12)." },
  { id: "OAUTH-7", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: `${O} Send the Token Request`, rule: "A token answer is 200 application/json with token_type Bearer and access_token, optionally scope, expires_in and refresh_token." },
  { id: "OAUTH-8", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: "RFC 6749 §3.1.2, §4.1.2.1; RFC 9700 §2.1, §4.1.3", rule: "The authorization endpoint answers an unknown client_id, or a redirect_uri that is not exactly one registered for that client, with an error page and never redirects." },
  { id: "OAUTH-9", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: `${O} Return the Authorization Response; RFC 6749 §4.1.2.1`, rule: "Every other authorization error, the person's Cancel included (access_denied), redirects to the registered redirect URI with error and the request's state, and no code." },
  { id: "OAUTH-10", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: "RFC 6749 §4.1.2, §4.1.3, §10.5; RFC 9700 §4.5", rule: "An authorization code is single use, lives at most 60 s and is bound to its client and redirect URI; a code presented again is refused with invalid_grant and the tokens issued from it are revoked." },
  { id: "OAUTH-11", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: "RFC 7636 §4.6; RFC 9700 §2.1.1, §4.8", rule: "PKCE: a code issued with a code_challenge (S256) is redeemed only with the matching code_verifier; a verifier for a code issued without a challenge is refused (no downgrade); a client registered to require PKCE is refused without one." },
  { id: "OAUTH-12", side: "server", step: "ongoing", enforcedBy: "spec", source: "RFC 6749 §6, §10.4; RFC 9700 §2.2.2, §4.14.2", rule: "A refresh token is rotated on every use; presenting one already used revokes its whole family, the access token issued from it included." },
  { id: "OAUTH-13", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: "RFC 6749 §5.1, §5.2", rule: "Token answers, successful or not, carry Cache-Control: no-store; an error is JSON {error, error_description} with an RFC 6749 §5.2 code, status 400 (401 for invalid_client)." },
  { id: "OAUTH-14", side: "server", step: "ongoing", enforcedBy: "server-machine", source: `${ON}; PROTOCOL.md §4, §6`, rule: "A refreshed access token replaces the enrollment's token only while the token its family last issued is still the enrollment's; after an invalidation or a newer sign-in the refresh is refused and the person signs in again." },
  { id: "OAUTH-15", side: "server", step: "ongoing", enforcedBy: "spec", source: "RFC 7009 §2.1, §2.2", rule: "Revoking a refresh token revokes its family and the access token issued with it; revoking an access token invalidates it; the answer is 200 whether or not the token was known." },
  { id: "OAUTH-16", side: "server", step: "oauth2-auth", enforcedBy: "spec", source: "RFC 8414 §2, §3", rule: "The authorization server metadata lists exactly the supported endpoints, response types (code), grant types, PKCE methods (S256) and token endpoint authentication (none)." },

  // Step 12: second enroll request
  { id: "ENROLL2-1", side: "device", step: "second-enroll", enforcedBy: "device-machine", source: `${S} Attempt the second enrollment (Step 12)`, rule: "The client repeats the same enroll body with Authorization: Bearer <access token>." },
  { id: "ENROLL2-2", side: "server", step: "second-enroll", enforcedBy: "server-machine", source: `${S} Step 12; PROTOCOL.md §5`, rule: "A missing, malformed or invalid token on the enroll request is rejected with an error status; no profile is sent." },
  { id: "ENROLL2-3", side: "server", step: "second-enroll", enforcedBy: "server-machine", source: `${S} Step 12`, rule: "A valid token is answered 200 application/x-apple-aspen-config with a Configuration profile for the authenticated person." },
  { id: "ENROLL2-4", side: "device", step: "second-enroll", enforcedBy: "device-machine", source: "PROTOCOL.md §8", rule: "The second enroll answer proceeds only when it is 200 with a non-empty body; 401 or anything else ends enrollment." },

  // Step 13: the profile
  { id: "PROFILE-1", side: "device", step: "profile", enforcedBy: "device-machine", source: `${S} Validate the enrollment profile (Step 13)`, rule: "A profile whose com.apple.mdm payload lacks EnrollmentMode, or has a value other than BYOD or ADDE, cancels." },
  { id: "PROFILE-2", side: "device", step: "profile", enforcedBy: "device-machine", source: `${S} Step 13; PROTOCOL.md §5, §8`, rule: "EnrollmentMode must match the discovered Version (mdm-byod with BYOD, mdm-adde with ADDE).", unconfirmed: true },
  { id: "PROFILE-3", side: "device", step: "profile", enforcedBy: "device-machine", source: `${S} Step 13`, rule: "A missing or invalid AssignedManagedAppleID cancels." },
  { id: "PROFILE-4", side: "device", step: "profile", enforcedBy: "device-machine", source: `${S} Step 13`, rule: "EnrollmentMode BYOD with AccessRights present cancels." },
  { id: "PROFILE-5", side: "device", step: "profile", enforcedBy: "device-machine", source: `${S} Step 12; PROTOCOL.md §5`, rule: "The answer must be a Configuration profile (plist, optionally CMS-signed) holding one com.apple.mdm payload whose IdentityCertificateUUID names an identity payload (SCEP, ACME or PKCS#12) of the same profile." },
  { id: "PROFILE-6", side: "server", step: "profile", enforcedBy: "server-machine", source: `${S} Step 13; PROTOCOL.md §5`, rule: "The server never delivers a profile that breaks PROFILE-1 to PROFILE-5: it checks its own profile first." },
  { id: "PROFILE-7", side: "server", step: "profile", enforcedBy: "server-machine", source: `${S} Step 13`, rule: "The profile's AssignedManagedAppleID is the Managed Apple Account the server maps to the authenticated user identifier." },
  { id: "PROFILE-8", side: "server", step: "profile", enforcedBy: "spec", source: "PROTOCOL.md §5 (ADM mdm/profiles/com.apple.mdm.yaml)", rule: "com.apple.mdm requires IdentityCertificateUUID, a Topic starting com.apple.mgmt. and an https ServerURL." },

  // Steps 14–18
  { id: "ACCOUNT-1", side: "device", step: "managed-account", enforcedBy: "device-machine", source: `${S} Sign in to the Managed Apple Account (Steps 14-18)`, rule: "A failed Managed Apple Account sign-in cancels enrollment." },

  // Step 19 and ongoing authorization
  { id: "ONGOING-1", side: "device", step: "ongoing", enforcedBy: "device-machine", source: `${S} Finish the enrollment (Step 19); ${ON}; PROTOCOL.md §6`, rule: "Every MDM request carries Authorization: Bearer <access token> (on macOS only user-channel requests do)." },
  { id: "ONGOING-2", side: "device", step: "ongoing", enforcedBy: "device-machine", source: `${ON} Implement the OAuth 2 flow; PROTOCOL.md §6`, rule: "On a 401 the client refreshes silently when it holds a refresh token, and retries with the new token." },
  { id: "ONGOING-3", side: "device", step: "ongoing", enforcedBy: "device-machine", source: `${ON}; PROTOCOL.md §4, §8`, rule: "Without a refresh token, or when the refresh fails, the person signs in again with the stored challenge, and the request is retried." },
  { id: "ONGOING-4", side: "device", step: "ongoing", enforcedBy: "device-machine", source: "PROTOCOL.md §6", rule: "A CheckOut is never retried after a 401." },
  { id: "ONGOING-5", side: "device", step: "ongoing", enforcedBy: "device-machine", source: "PROTOCOL.md §6 (ADM mdm/errors/unrecognized.device.yaml)", rule: "A 403 com.apple.unrecognized.device unenrolls the device." },
  { id: "ONGOING-6", side: "device", step: "ongoing", enforcedBy: "spec", source: "PROTOCOL.md §4, §8", rule: "A refresh is a form-encoded grant_type=refresh_token&refresh_token&client_id at token-url.", unconfirmed: true },
  { id: "ONGOING-7", side: "server", step: "ongoing", enforcedBy: "server-machine", source: `${ON}; PROTOCOL.md §6`, rule: "A check-in or command request whose token is missing, unknown, expired, revoked or bound to another enrollment is answered 401 with that enrollment's challenge." },
  { id: "ONGOING-8", side: "server", step: "ongoing", enforcedBy: "server-machine", source: "PROTOCOL.md §6", rule: "CheckOut is accepted with a stale token — one the enrollment had — since the device cannot recover from a 401 on it; without any of its tokens it is refused." },
  { id: "ONGOING-9", side: "server", step: "ongoing", enforcedBy: "server-machine", source: "PROTOCOL.md §6 (ADM mdm/errors/unrecognized.device.yaml)", rule: "A request from an unenrolled device is answered 403 with {\"code\":\"com.apple.unrecognized.device\"}." },
  { id: "ONGOING-10", side: "server", step: "ongoing", enforcedBy: "server-machine", source: `${ON}; PROTOCOL.md §6`, rule: "After re-authentication the new token replaces the old one for that enrollment, and the old one stops working." },
  { id: "ONGOING-11", side: "server", step: "ongoing", enforcedBy: "server-machine", source: `${ON}`, rule: "The server may invalidate a token at any time; the enrollment then requires re-authentication." },
  { id: "ONGOING-12", side: "server", step: "ongoing", enforcedBy: "server-machine", source: "PROTOCOL.md §6 (ADM mdm/profiles/com.apple.mdm.yaml SignMessage)", rule: "A macOS device-channel request carries no token: it is accepted only with a valid Mdm-Signature by the identity the enrollment was given (or pinned with its token), and refused otherwise." },
  { id: "ONGOING-13", side: "server", step: "ongoing", enforcedBy: "server-machine", source: "PROTOCOL.md §6 (ADM mdm/profiles/com.apple.mdm.yaml SignMessage)", rule: "When the profile sets SignMessage, a check-in or command request without a valid Mdm-Signature by the enrollment's identity is refused, whatever token it carries." },
] as const satisfies readonly Rule[];

export type RuleId = (typeof rules)[number]["id"];

export const ruleById: ReadonlyMap<string, Rule> = new Map(rules.map((r) => [r.id, r]));

export function isRuleId(value: string): value is RuleId {
  return ruleById.has(value);
}
