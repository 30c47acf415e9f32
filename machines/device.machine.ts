// The device (client) side of account-driven enrollment: https://developer.apple.com/documentation/devicemanagement/onboarding-users-with-account-sign-in
// Pure: every effect is a named actor that runtime/ provides (HTTP through the generated client,
// the web authentication session, the person, randomness). Each answer is read by a reader in
// device-answers.ts; a breach lands in `context.breach`, and a transition named by its rule id
// (`meta.rule`) takes the machine where the rule says: cancelled, or back to identifier entry.
import { assign, fromPromise, setup, type PromiseActorLogic } from "xstate";
import type { RuleId } from "../spec/rules.ts";
import { buildWellKnownUrl, type EnrollmentVersion, type ModelFamily, type SelectedServer } from "../spec/service-discovery.ts";
import { splitUserIdentifier, type UserIdentifier } from "../spec/user-identifier.ts";
import { EssoUrl, type Challenge } from "../spec/challenge.ts";
import { buildWebAuthUrl, callbackScheme } from "../spec/web-authentication.ts";
import { buildAuthorizationRequestUrl, type TokenRequest } from "../spec/oauth2.ts";
import { findMdmPayload, type ConfigurationProfile } from "../spec/enrollment-profile.ts";
import type { EnrollmentSsoDocument } from "../spec/enrollment-sso.ts";
import type { Result } from "../spec/result.ts";
import type { HttpAnswer } from "./http-answer.ts";
import {
  readAuthorizationOutcome,
  readDiscoveryAnswer,
  readFirstEnrollAnswer,
  readMdmAnswer,
  readSecondEnrollAnswer,
  readSimpleAuthOutcome,
  readSsoAnswer,
  readTokenAnswer,
  type Breach,
  type WebAuthOutcome,
} from "./device-answers.ts";

export interface DeviceInput {
  readonly modelFamily: ModelFamily;
  /** The device-signed enroll body (CMS SignedData), sent unchanged in steps 4 and 12 (ENROLL2-1). */
  readonly enrollBody: Uint8Array;
  /** Versions the device supports, most recent first (DISCOVERY-7). */
  readonly supportedVersions?: readonly EnrollmentVersion[];
  /** PROFILE-2 is UNCONFIRMED in Apple's text; strict by default. */
  readonly requireModeMatchesVersion?: boolean;
}

export interface PendingMdmRequest {
  readonly channel: "checkin" | "command";
  readonly messageType: string;
  readonly body: Uint8Array;
}

export interface DeviceContext {
  readonly modelFamily: ModelFamily;
  readonly enrollBody: Uint8Array;
  readonly supportedVersions: readonly EnrollmentVersion[];
  readonly requireModeMatchesVersion: boolean;
  readonly identifier: UserIdentifier | null;
  /** The last correctable identifier error (IDENT-2, IDENT-3), shown at identifier entry. */
  readonly identifierError: RuleId | null;
  readonly server: SelectedServer | null;
  readonly challenge: Challenge | null;
  readonly essoUrl: string | null;
  readonly essoDocument: EnrollmentSsoDocument | null;
  readonly oauthState: string | null;
  readonly authorizationCode: string | null;
  readonly accessToken: string | null;
  readonly refreshToken: string | null;
  readonly profile: ConfigurationProfile | null;
  /** Enrolling until the profile is installed; ongoing after (PROTOCOL.md §6). */
  readonly phase: "enrolling" | "ongoing";
  readonly pending: PendingMdmRequest | null;
  /** How often the pending request was retried after a 401 (one re-authentication per request). */
  readonly retries: number;
  readonly breach: Breach | null;
  /** The rule by which the enrollment was cancelled or an MDM request given up. */
  readonly cancelReason: RuleId | null;
  /** DISCOVERY-9: the message for the person. */
  readonly failureMessage: string | null;
  readonly lastMdmStatus: number | null;
}

export type DeviceEvent =
  | { readonly type: "SUBMIT_IDENTIFIER"; readonly identifier: string }
  | { readonly type: "CANCEL" }
  | { readonly type: "SEND_MDM"; readonly request: PendingMdmRequest };

export interface WebAuthenticateInput {
  readonly url: string;
  readonly callbackScheme: string;
  /** Prefill hint for the person (user-identifier / login_hint). */
  readonly userIdentifier: string;
}

export interface MdmRequestInput {
  readonly url: string;
  readonly request: PendingMdmRequest;
  readonly accessToken: string | null;
}

/** The named actors runtime/ provides: the network, the web authentication session, the person, randomness. */
export interface DeviceActorImplementations {
  readonly discover: PromiseActorLogic<HttpAnswer, { url: string }>;
  readonly enroll: PromiseActorLogic<HttpAnswer, { baseUrl: string; body: Uint8Array; accessToken: string | null }>;
  readonly fetchSsoDocument: PromiseActorLogic<HttpAnswer, { url: string }>;
  readonly consentToSso: PromiseActorLogic<{ accepted: boolean }, { document: EnrollmentSsoDocument }>;
  readonly webAuthenticate: PromiseActorLogic<WebAuthOutcome, WebAuthenticateInput>;
  readonly createState: PromiseActorLogic<string, void>;
  readonly requestToken: PromiseActorLogic<HttpAnswer, { tokenUrl: string; request: TokenRequest }>;
  readonly signInManagedAccount: PromiseActorLogic<{ ok: boolean }, { managedAppleId: string }>;
  readonly sendMdmRequest: PromiseActorLogic<HttpAnswer, MdmRequestInput>;
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`actor ${name} is provided by runtime/`);
};

const discoveryRules = ["DISCOVERY-3", "DISCOVERY-4", "DISCOVERY-5", "DISCOVERY-6", "DISCOVERY-7", "DISCOVERY-9"] as const;
const firstEnrollRules = ["ENROLL-6", "ENROLL-7", "ENROLL-8", "CHALLENGE-1", "CHALLENGE-4", "CHALLENGE-5", "CHALLENGE-7"] as const;
const essoRules = ["ESSO-1", "ESSO-2"] as const;
const simpleAuthRules = ["CANCEL-1", "SIMPLE-6", "SIMPLE-2", "SIMPLE-3"] as const;
const authorizationRules = ["CANCEL-1", "SIMPLE-6", "OAUTH-2", "OAUTH-3"] as const;
const tokenRules = ["OAUTH-5"] as const;
const profileRules = ["ENROLL2-4", "PROFILE-5", "PROFILE-1", "PROFILE-2", "PROFILE-3", "PROFILE-4"] as const;

/** One transition per rule: a breach of `rule` goes to `target`, named by the rule. */
function onBreach<const R extends RuleId>(rules: readonly R[], target: string) {
  const cancels = target === "cancelled" || target === "#device.cancelled";
  return rules.map((rule) => ({
    guard: { type: "breaches" as const, params: { rule } },
    target,
    actions: cancels ? ["cancelWithBreach" as const] : [],
    meta: { rule },
  }));
}

/** Keep a reading: its value through `onValue`, or its breach. */
function reading<T>(result: Result<T, Breach>, onValue: (value: T) => Partial<DeviceContext>): Partial<DeviceContext> {
  return result.ok ? { ...onValue(result.value), breach: null } : { breach: result.error };
}

function mdmUrl(profile: ConfigurationProfile | null, channel: PendingMdmRequest["channel"]): string {
  const mdm = profile === null ? undefined : findMdmPayload(profile);
  const serverUrl = typeof mdm?.ServerURL === "string" ? mdm.ServerURL : "";
  return channel === "checkin" && typeof mdm?.CheckInURL === "string" ? mdm.CheckInURL : serverUrl;
}

/** CANCEL-1: the person may cancel at any point of the enrollment (a final state ignores it). */
const personCancels = {
  CANCEL: { target: "#device.cancelled", actions: "cancelByPerson", meta: { rule: "CANCEL-1" } },
} as const;

export const deviceMachine = setup({
  types: {
    context: {} as DeviceContext,
    events: {} as DeviceEvent,
    input: {} as DeviceInput,
  },
  actors: {
    discover: fromPromise<HttpAnswer, { url: string }>(notProvided("discover")),
    enroll: fromPromise<HttpAnswer, { baseUrl: string; body: Uint8Array; accessToken: string | null }>(notProvided("enroll")),
    fetchSsoDocument: fromPromise<HttpAnswer, { url: string }>(notProvided("fetchSsoDocument")),
    consentToSso: fromPromise<{ accepted: boolean }, { document: EnrollmentSsoDocument }>(notProvided("consentToSso")),
    webAuthenticate: fromPromise<WebAuthOutcome, WebAuthenticateInput>(notProvided("webAuthenticate")),
    createState: fromPromise<string, void>(notProvided("createState")),
    requestToken: fromPromise<HttpAnswer, { tokenUrl: string; request: TokenRequest }>(notProvided("requestToken")),
    signInManagedAccount: fromPromise<{ ok: boolean }, { managedAppleId: string }>(notProvided("signInManagedAccount")),
    sendMdmRequest: fromPromise<HttpAnswer, MdmRequestInput>(notProvided("sendMdmRequest")),
  },
  guards: {
    breaches: ({ context }, params: { rule: RuleId }) => context.breach?.ruleId === params.rule,
    noBreach: ({ context }) => context.breach === null,
    isAsWeb: ({ context }) => context.challenge?.method === "apple-as-web",
    offersEsso: ({ context }) => context.essoUrl !== null && context.modelFamily !== "Mac",
    essoUrlInsecure: ({ context }) => context.essoUrl !== null && context.modelFamily !== "Mac" && !EssoUrl.safeParse(context.essoUrl).success,
    // ESSO-4 (UNCONFIRMED): a Mac ignores the header.
    essoOnMac: ({ context }) => context.essoUrl !== null && context.modelFamily === "Mac",
    ongoing: ({ context }) => context.phase === "ongoing",
  },
  actions: {
    cancelWithBreach: assign(({ context }) => ({ cancelReason: context.breach?.ruleId ?? null, failureMessage: context.breach?.message ?? null })),
    cancelByPerson: assign({ cancelReason: "CANCEL-1" }),
    giveUpPending: assign(({ context }) => ({ cancelReason: context.breach?.ruleId ?? null, pending: null, retries: 0 })),
  },
}).createMachine({
  id: "device",
  initial: "identifierEntry",
  context: ({ input }) => ({
    modelFamily: input.modelFamily,
    enrollBody: input.enrollBody,
    supportedVersions: input.supportedVersions ?? ["mdm-byod", "mdm-adde"],
    requireModeMatchesVersion: input.requireModeMatchesVersion ?? true,
    identifier: null,
    identifierError: null,
    server: null,
    challenge: null,
    essoUrl: null,
    essoDocument: null,
    oauthState: null,
    authorizationCode: null,
    accessToken: null,
    refreshToken: null,
    profile: null,
    phase: "enrolling",
    pending: null,
    retries: 0,
    breach: null,
    cancelReason: null,
    failureMessage: null,
    lastMdmStatus: null,
  }),
  states: {
    identifierEntry: {
      on: {
        SUBMIT_IDENTIFIER: {
          target: "judgingIdentifier",
          actions: assign(({ event }) => {
            const split = splitUserIdentifier(event.identifier);
            return split.ok ? { identifier: split.value, breach: null } : { identifier: null, breach: { ruleId: split.error.ruleId } };
          }),
        },
        CANCEL: { target: "cancelled", actions: assign({ cancelReason: "IDENT-4" }), meta: { rule: "IDENT-4" } },
      },
    },
    judgingIdentifier: {
      always: [
        // Correctable: back to identifier entry with the reason shown.
        { guard: { type: "breaches", params: { rule: "IDENT-2" } }, target: "identifierEntry", actions: assign({ identifierError: "IDENT-2" }), meta: { rule: "IDENT-2" } },
        { guard: { type: "breaches", params: { rule: "IDENT-3" } }, target: "identifierEntry", actions: assign({ identifierError: "IDENT-3" }), meta: { rule: "IDENT-3" } },
        { target: "discovery", actions: assign({ identifierError: null }) },
      ],
    },
    discovery: {
      on: { ...personCancels },
      invoke: {
        id: "discovery",
        src: "discover",
        input: ({ context }) => ({
          url: buildWellKnownUrl(context.identifier?.domain ?? "", {
            "user-identifier": context.identifier?.identifier ?? "",
            "model-family": context.modelFamily,
          }),
        }),
        onDone: {
          target: "judgingDiscovery",
          actions: assign(({ context, event }) =>
            reading(readDiscoveryAnswer(event.output, context.supportedVersions), (server) => ({ server })),
          ),
        },
        // A transport failure is an HTTP error to the person (DISCOVERY-3).
        onError: { target: "cancelled", actions: assign({ cancelReason: "DISCOVERY-3" }), meta: { rule: "DISCOVERY-3" } },
      },
    },
    judgingDiscovery: {
      always: [...onBreach(discoveryRules, "cancelled"), { guard: "noBreach", target: "firstEnroll" }],
    },
    firstEnroll: {
      on: { ...personCancels },
      invoke: {
        id: "firstEnroll",
        src: "enroll",
        input: ({ context }) => ({ baseUrl: context.server?.baseUrl ?? "", body: context.enrollBody, accessToken: null }),
        onDone: {
          target: "judgingFirstEnroll",
          actions: assign(({ event }) =>
            reading(readFirstEnrollAnswer(event.output), (a) => ({ challenge: a.challenge, essoUrl: a.essoUrl })),
          ),
        },
        onError: { target: "cancelled", actions: assign({ cancelReason: "ENROLL-7" }), meta: { rule: "ENROLL-7" } },
      },
    },
    judgingFirstEnroll: {
      always: [
        ...onBreach(firstEnrollRules, "cancelled"),
        // ESSO-1: an insecure URL is refused before anything is fetched from it.
        { guard: "essoUrlInsecure", target: "cancelled", actions: assign({ cancelReason: "ESSO-1" }), meta: { rule: "ESSO-1" } },
        { guard: "offersEsso", target: "enrollmentSso" },
        { guard: "essoOnMac", target: "authenticating", meta: { rule: "ESSO-4" } },
        { guard: "noBreach", target: "authenticating" },
      ],
    },
    enrollmentSso: {
      on: { ...personCancels },
      initial: "fetching",
      states: {
        fetching: {
          invoke: {
            id: "fetching",
            src: "fetchSsoDocument",
            input: ({ context }) => ({ url: context.essoUrl ?? "" }),
            onDone: {
              target: "judging",
              actions: assign(({ context, event }) =>
                reading(readSsoAnswer(context.essoUrl ?? "", event.output), (essoDocument) => ({ essoDocument })),
              ),
            },
            onError: { target: "#device.cancelled", actions: assign({ cancelReason: "ESSO-1" }), meta: { rule: "ESSO-1" } },
          },
        },
        judging: {
          always: [...onBreach(essoRules, "#device.cancelled"), { guard: "noBreach", target: "consenting" }],
        },
        consenting: {
          invoke: {
            id: "consenting",
            src: "consentToSso",
            input: ({ context }) => ({ document: context.essoDocument ?? { iTunesStoreID: 0 } }),
            onDone: [
              { guard: ({ event }) => event.output.accepted, target: "#device.authenticating" },
              { target: "#device.cancelled", actions: assign({ cancelReason: "ESSO-3" }), meta: { rule: "ESSO-3" } },
            ],
            onError: { target: "#device.cancelled", actions: assign({ cancelReason: "ESSO-3" }), meta: { rule: "ESSO-3" } },
          },
        },
      },
    },
    authenticating: {
      // Once enrolled, cancelling a re-authentication gives up the request, not the enrollment.
      on: {
        CANCEL: [
          { guard: "ongoing", target: "enrolled.idle", actions: assign({ pending: null, retries: 0, cancelReason: "CANCEL-1" }), meta: { rule: "CANCEL-1" } },
          { target: "cancelled", actions: assign({ cancelReason: "CANCEL-1" }), meta: { rule: "CANCEL-1" } },
        ],
      },
      initial: "choosing",
      states: {
        choosing: { always: [{ guard: "isAsWeb", target: "simple" }, { target: "oauth2" }] },
        simple: {
          invoke: {
            id: "simple",
            src: "webAuthenticate",
            input: ({ context }) => ({
              url: context.challenge?.method === "apple-as-web" ? buildWebAuthUrl(context.challenge.url, context.identifier?.identifier ?? "") : "",
              callbackScheme,
              userIdentifier: context.identifier?.identifier ?? "",
            }),
            onDone: {
              target: "judgingSimple",
              actions: assign(({ event }) =>
                reading(readSimpleAuthOutcome(event.output), (t) => ({ accessToken: t.accessToken, refreshToken: null })),
              ),
            },
            onError: { target: "failed", actions: assign({ breach: { ruleId: "SIMPLE-6" } }) },
          },
        },
        judgingSimple: {
          always: [...onBreach(simpleAuthRules, "failed"), { guard: "noBreach", target: "done" }],
        },
        oauth2: {
          initial: "creatingState",
          states: {
            creatingState: {
              invoke: {
                id: "creatingState",
                src: "createState",
                onDone: { target: "authorizing", actions: assign(({ event }) => ({ oauthState: event.output })) },
                onError: { target: "#device.authenticating.failed", actions: assign({ breach: { ruleId: "OAUTH-2" } }) },
              },
            },
            authorizing: {
              invoke: {
                id: "authorizing",
                src: "webAuthenticate",
                input: ({ context }) => ({
                  url:
                    context.challenge?.method === "apple-oauth2"
                      ? buildAuthorizationRequestUrl(context.challenge, { state: context.oauthState ?? "", loginHint: context.identifier?.identifier ?? "" })
                      : "",
                  callbackScheme,
                  userIdentifier: context.identifier?.identifier ?? "",
                }),
                onDone: {
                  target: "judgingAuthorization",
                  actions: assign(({ context, event }) =>
                    reading(readAuthorizationOutcome(event.output, context.oauthState ?? ""), (c) => ({ authorizationCode: c.code })),
                  ),
                },
                onError: { target: "#device.authenticating.failed", actions: assign({ breach: { ruleId: "SIMPLE-6" } }) },
              },
            },
            judgingAuthorization: {
              always: [
                ...onBreach(authorizationRules, "#device.authenticating.failed"),
                { guard: "noBreach", target: "exchanging" },
              ],
            },
            exchanging: {
              invoke: {
                id: "exchanging",
                src: "requestToken",
                input: ({ context }) => ({
                  tokenUrl: context.challenge?.method === "apple-oauth2" ? context.challenge["token-url"] : "",
                  // OAUTH-4
                  request: {
                    grant_type: "authorization_code",
                    code: context.authorizationCode ?? "",
                    redirect_uri: context.challenge?.method === "apple-oauth2" ? context.challenge["redirect-url"] : "",
                    client_id: context.challenge?.method === "apple-oauth2" ? context.challenge["client-id"] : "",
                  },
                }),
                onDone: {
                  target: "judgingToken",
                  actions: assign(({ event }) =>
                    reading(readTokenAnswer(event.output), (t) => ({ accessToken: t.accessToken, refreshToken: t.refreshToken })),
                  ),
                },
                onError: { target: "#device.authenticating.failed", actions: assign({ breach: { ruleId: "OAUTH-5" } }) },
              },
            },
            judgingToken: {
              always: [
                ...onBreach(tokenRules, "#device.authenticating.failed"),
                { guard: "noBreach", target: "#device.authenticating.done" },
              ],
            },
          },
        },
        // An authentication that fails ends the enrollment, or, once enrolled, the request waiting for it.
        failed: {
          always: [
            { guard: "ongoing", target: "#device.enrolled.idle", actions: "giveUpPending" },
            { target: "#device.cancelled", actions: "cancelWithBreach" },
          ],
        },
        done: { type: "final" },
      },
      onDone: [
        { guard: "ongoing", target: "enrolled.sending", actions: assign(({ context }) => ({ retries: context.retries + 1 })), meta: { rule: "ONGOING-3" } },
        { target: "secondEnroll", meta: { rule: "ENROLL2-1" } },
      ],
    },
    secondEnroll: {
      on: { ...personCancels },
      invoke: {
        id: "secondEnroll",
        src: "enroll",
        // ENROLL2-1: the same body, now with the token.
        input: ({ context }) => ({ baseUrl: context.server?.baseUrl ?? "", body: context.enrollBody, accessToken: context.accessToken }),
        onDone: {
          target: "judgingProfile",
          actions: assign(({ context, event }) =>
            reading(
              readSecondEnrollAnswer(event.output, context.server?.version ?? "mdm-byod", { requireModeMatchesVersion: context.requireModeMatchesVersion }),
              (profile) => ({ profile }),
            ),
          ),
        },
        onError: { target: "cancelled", actions: assign({ cancelReason: "ENROLL2-4" }), meta: { rule: "ENROLL2-4" } },
      },
    },
    judgingProfile: {
      always: [...onBreach(profileRules, "cancelled"), { guard: "noBreach", target: "managedAccountSignIn" }],
    },
    managedAccountSignIn: {
      on: { ...personCancels },
      invoke: {
        id: "managedAccountSignIn",
        src: "signInManagedAccount",
        input: ({ context }) => {
          const assigned = context.profile === null ? undefined : findMdmPayload(context.profile)?.AssignedManagedAppleID;
          return { managedAppleId: typeof assigned === "string" ? assigned : "" };
        },
        onDone: [
          { guard: ({ event }) => event.output.ok, target: "enrolled", actions: assign({ phase: "ongoing" }) },
          { target: "cancelled", actions: assign({ cancelReason: "ACCOUNT-1" }), meta: { rule: "ACCOUNT-1" } },
        ],
        onError: { target: "cancelled", actions: assign({ cancelReason: "ACCOUNT-1" }), meta: { rule: "ACCOUNT-1" } },
      },
    },
    enrolled: {
      initial: "idle",
      states: {
        idle: {
          on: {
            SEND_MDM: {
              target: "sending",
              actions: assign(({ event }) => ({ pending: event.request, retries: 0, cancelReason: null })),
              meta: { rule: "ONGOING-1" },
            },
          },
        },
        sending: {
          invoke: {
            id: "sending",
            src: "sendMdmRequest",
            // ONGOING-1: every MDM request carries the access token.
            input: ({ context }) => ({
              url: mdmUrl(context.profile, context.pending?.channel ?? "checkin"),
              request: context.pending ?? { channel: "checkin", messageType: "", body: new Uint8Array() },
              accessToken: context.accessToken,
            }),
            onDone: [
              {
                guard: ({ event }) => readMdmAnswer(event.output) === "accepted",
                target: "idle",
                actions: assign(({ event }) => ({ pending: null, retries: 0, lastMdmStatus: event.output.status })),
              },
              {
                guard: ({ event }) => readMdmAnswer(event.output) === "unenrolled",
                target: "#device.unenrolled",
                actions: assign({ cancelReason: "ONGOING-5", pending: null }),
                meta: { rule: "ONGOING-5" },
              },
              {
                guard: ({ context, event }) => readMdmAnswer(event.output) === "unauthorized" && context.pending?.messageType === "CheckOut",
                target: "idle",
                actions: assign(({ event }) => ({ pending: null, cancelReason: "ONGOING-4" as const, lastMdmStatus: event.output.status })),
                meta: { rule: "ONGOING-4" },
              },
              {
                // One re-authentication per request: a second 401 gives it up rather than loop.
                guard: ({ context, event }) => readMdmAnswer(event.output) === "unauthorized" && context.retries > 0,
                target: "idle",
                actions: assign(({ event }) => ({ pending: null, retries: 0, lastMdmStatus: event.output.status, cancelReason: "ONGOING-3" as const })),
              },
              {
                guard: ({ context, event }) => readMdmAnswer(event.output) === "unauthorized" && context.refreshToken !== null && context.challenge?.method === "apple-oauth2",
                target: "refreshing",
                meta: { rule: "ONGOING-2" },
              },
              {
                guard: ({ event }) => readMdmAnswer(event.output) === "unauthorized",
                target: "#device.authenticating",
                meta: { rule: "ONGOING-3" },
              },
              { target: "idle", actions: assign(({ event }) => ({ pending: null, retries: 0, lastMdmStatus: event.output.status })) },
            ],
            onError: { target: "idle", actions: assign({ pending: null, retries: 0 }) },
          },
        },
        refreshing: {
          invoke: {
            id: "refreshing",
            src: "requestToken",
            input: ({ context }) => ({
              tokenUrl: context.challenge?.method === "apple-oauth2" ? context.challenge["token-url"] : "",
              // ONGOING-6 (UNCONFIRMED): RFC 6749 §6 refresh at token-url.
              request: {
                grant_type: "refresh_token",
                refresh_token: context.refreshToken ?? "",
                client_id: context.challenge?.method === "apple-oauth2" ? context.challenge["client-id"] : "",
              },
            }),
            onDone: [
              {
                guard: ({ event }) => readTokenAnswer(event.output).ok,
                target: "sending",
                actions: assign(({ context, event }) => {
                  const tokens = readTokenAnswer(event.output);
                  return tokens.ok
                    ? { accessToken: tokens.value.accessToken, refreshToken: tokens.value.refreshToken ?? context.refreshToken, retries: context.retries + 1 }
                    : {};
                }),
                meta: { rule: "ONGOING-2" },
              },
              { target: "#device.authenticating", actions: assign({ refreshToken: null }), meta: { rule: "ONGOING-3" } },
            ],
            onError: { target: "#device.authenticating", actions: assign({ refreshToken: null }), meta: { rule: "ONGOING-3" } },
          },
        },
      },
    },
    cancelled: { type: "final" },
    unenrolled: { type: "final" },
  },
});

export type DeviceMachine = typeof deviceMachine;
