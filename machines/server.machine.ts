// The server's view of one enrollment: https://developer.apple.com/documentation/devicemanagement/onboarding-users-with-account-sign-in
// Pure: facts (token hash, clock) arrive in events; credentials and profiles come from the named
// actors `verifyCredentials` and `buildProfile`, which runtime/ provides. Every answer the server
// gives is `context.reply`, set by the transition that decided it; transitions carry their rule id
// in `meta.rule`.
import { and, assign, fromPromise, not, setup, type PromiseActorLogic } from "xstate";
import type { EnrollmentVersion } from "../spec/service-discovery.ts";
import { findMdmPayload, profileViolations } from "../spec/enrollment-profile.ts";
import type { RuleId } from "../spec/rules.ts";
import type { ServerErrorCode } from "../spec/errors.ts";

/** What the request presented, with the token already hashed by the runtime (tokens are never kept in clear). */
export type AuthorizationFact =
  | { readonly kind: "missing" }
  | { readonly kind: "malformed" }
  | { readonly kind: "bearer"; readonly tokenHash: string };

/**
 * The request's Mdm-Signature as the runtime found it: absent, not a valid signature of the body
 * chaining to a trusted identity CA, or valid — with the SHA-256 fingerprint of the certificate
 * that signed (ONGOING-12, ONGOING-13).
 */
export type SignatureFact =
  | { readonly kind: "absent" }
  | { readonly kind: "invalid" }
  | { readonly kind: "valid"; readonly signerFingerprint: string };

export interface DeviceFacts {
  readonly PRODUCT: string;
  readonly VERSION: string;
  readonly LANGUAGE: string;
}

export interface IssuedToken {
  readonly hash: string;
  readonly expiresAt: number;
}

export type ServerReply =
  | { readonly kind: "challenge"; readonly ruleId: RuleId }
  | { readonly kind: "profile"; readonly profile: unknown }
  | { readonly kind: "sign-in-form"; readonly failed: boolean }
  | { readonly kind: "authentication-result" }
  | { readonly kind: "acknowledged" }
  | { readonly kind: "unrecognized-device"; readonly ruleId: RuleId }
  | { readonly kind: "error"; readonly code: ServerErrorCode; readonly ruleId?: RuleId };

export type ServerReplyKind = ServerReply["kind"];

export type ServerEvent =
  | { readonly type: "ENROLL"; readonly authorization: AuthorizationFact; readonly now: number; readonly device: DeviceFacts }
  | { readonly type: "SIGN_IN_PAGE" }
  | {
      readonly type: "SIGN_IN";
      readonly username: string;
      readonly password: string;
      readonly issuedToken: IssuedToken;
      /** Whether the form carried this page's anti-CSRF token (checked by the runtime). */
      readonly csrfValid: boolean;
      /**
       * The person's identity was verified upstream (the issuer of an OpenID Connect provider) and
       * `username` is the user identifier mapped from it; there is no password to check.
       */
      readonly verifiedBy?: string;
    }
  | { readonly type: "SIGN_IN_CANCEL"; readonly csrfValid: boolean }
  | {
      readonly type: "CHECK_IN";
      readonly authorization: AuthorizationFact;
      readonly now: number;
      /** Check-in (CheckInURL) or command channel (ServerURL); both are authorized alike. */
      readonly channel: "checkin" | "command";
      /** A check-in's MessageType, or a command report's Status. */
      readonly messageType: string;
      readonly enrollmentId: string | null;
      /** The message names a user (UserID / EnrollmentUserID): the macOS user channel. */
      readonly userChannel: boolean;
      readonly signature: SignatureFact;
      /** The profile sets SignMessage: every request must be signed by the enrollment's identity (ONGOING-13). */
      readonly signatureRequired: boolean;
    }
  /**
   * ONGOING-11. With `tokenHash`, only that token is invalidated: a token revoked through OAuth 2
   * (a replayed code, a reused refresh token, RFC 7009) that a newer sign-in has replaced already
   * leaves the enrollment as it is.
   */
  | { readonly type: "TOKEN_INVALIDATED"; readonly tokenHash?: string }
  /**
   * OAuth 2 refresh (OAUTH-14): a new access token from the family whose last access token was
   * `previousTokenHash`; it replaces the enrollment's token only if that one is still the enrollment's.
   */
  | { readonly type: "TOKEN_REFRESHED"; readonly issuedToken: IssuedToken; readonly previousTokenHash: string }
  | { readonly type: "UNENROLL" };

export interface ServerInput {
  readonly id: string;
  readonly deviceKey: string;
  readonly version: EnrollmentVersion;
  readonly device: DeviceFacts;
}

export interface ServerContext extends ServerInput {
  readonly userIdentifier: string | null;
  readonly managedAppleId: string | null;
  readonly tokenHash: string | null;
  readonly tokenExpiresAt: number | null;
  readonly pendingToken: IssuedToken | null;
  /** Hashes of this enrollment's earlier tokens, newest first (a few): they authorize only a CheckOut. */
  readonly retiredTokenHashes: readonly string[];
  readonly enrollmentId: string | null;
  /**
   * SHA-256 of the identity certificate this enrollment was given (a PKCS#12 the server issued) or
   * that first signed a request carrying its valid token: what its Mdm-Signature must be made with.
   */
  readonly identityFingerprint: string | null;
  /** A profile was delivered: a later sign-in is a re-authentication, even before the first check-in. */
  readonly hasProfile: boolean;
  /** The answer to the event just handled; transient, never persisted. */
  readonly reply: ServerReply | null;
}

export type VerifyCredentialsInput = {
  readonly enrollmentRef: string;
  readonly username: string;
  readonly password: string;
  readonly expectedUser: string | null;
  /** SIGN_IN's `verifiedBy`: only the user's existence (and expectedUser) is checked. */
  readonly verifiedBy?: string;
};
/** `throttled`: too many recent failures for this enrollment or user; the password was not even tried. */
export type VerifyCredentialsOutput =
  | { readonly ok: true; readonly userIdentifier: string; readonly managedAppleId: string }
  | { readonly ok: false; readonly throttled?: boolean };
export type BuildProfileInput = {
  readonly enrollmentRef: string;
  readonly version: EnrollmentVersion;
  readonly userIdentifier: string;
  readonly managedAppleId: string;
};
/** `identityFingerprint`: the identity certificate the profile carries, when the server issued it. */
export type BuildProfileOutput = { readonly profile: unknown; readonly identityFingerprint?: string };

/** The named actors runtime/ provides. */
export interface ServerActorImplementations {
  readonly verifyCredentials: PromiseActorLogic<VerifyCredentialsOutput, VerifyCredentialsInput>;
  readonly buildProfile: PromiseActorLogic<BuildProfileOutput, BuildProfileInput>;
}

/** A Mac by its product name (MacBookPro18,1, Mac14,2, iMac21,1, Macmini9,1, VirtualMac2,1). */
function isMac(device: DeviceFacts): boolean {
  return /mac/i.test(device.PRODUCT);
}

/** The retired-token list once the current token is retired. */
function retire(context: ServerContext): string[] {
  return context.tokenHash === null ? [...context.retiredTokenHashes] : [context.tokenHash, ...context.retiredTokenHashes].slice(0, 4);
}

/** The profile a buildProfile answer carries, if it carries one. */
function builtProfile(event: { readonly type: string }): unknown {
  return "output" in event && typeof event.output === "object" && event.output !== null && "profile" in event.output ? event.output.profile : undefined;
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`actor ${name} is provided by runtime/`);
};


/** Sign-in for this enrollment: the page, then the credentials (steps 6–11). */
const signIn = {
  SIGN_IN_PAGE: { actions: "replySignInForm" },
  SIGN_IN: [
    { guard: "forgedForm", actions: { type: "replyError", params: { code: "sign-in.forged" } } },
    { target: "#enrollment.verifyingCredentials", actions: "holdIssuedToken" },
  ],
  // The person's Cancel ends the web session with an error status, which ends the enrollment.
  SIGN_IN_CANCEL: [
    { guard: "forgedForm", actions: { type: "replyError", params: { code: "sign-in.forged" } } },
    { actions: { type: "replyError", params: { code: "sign-in.cancelled" } } },
  ],
} as const;

/** Ongoing authorization on check-in (step 19, PROTOCOL.md §6). */
const checkOut = {
  guard: "isCheckOutWithOwnToken",
  target: "#enrollment.checkedOut",
  actions: ["dropToken", "replyAcknowledged"],
  meta: { rule: "ONGOING-8" },
} as const;

// Challenged, but the enrollment's token stays as it is: anyone can send a bad token naming an
// enrollment, and that must not log its device out.
const refused = { actions: { type: "replyChallenge", params: { ruleId: "ONGOING-7" } }, meta: { rule: "ONGOING-7" } } as const;

// ONGOING-13: with SignMessage on, nothing unsigned (or signed by another identity) gets in, whatever its token.
const unsigned = {
  guard: "signatureRefused",
  actions: { type: "replyError", params: { code: "mdm.signature-invalid", ruleId: "ONGOING-13" } },
  meta: { rule: "ONGOING-13" },
} as const;

/**
 * ONGOING-12: a Mac's device channel carries no token; its Mdm-Signature by the enrollment's identity
 * is what authorizes it. It does not depend on the person's token, so an invalidated token leaves it
 * working (`stay`: no state change there).
 */
function macDeviceChannel(stay: boolean) {
  const to = stay ? {} : { target: "#enrollment.enrolled" };
  return [
    {
      guard: and(["macDeviceChannel", "signedByEnrollmentIdentity", "isCheckOut"]),
      target: "#enrollment.checkedOut",
      actions: ["dropToken", "replyAcknowledged"],
      meta: { rule: "ONGOING-12" },
    },
    { guard: and(["macDeviceChannel", "signedByEnrollmentIdentity"]), ...to, actions: ["recordEnrollmentId", "replyAcknowledged"], meta: { rule: "ONGOING-12" } },
    { guard: "macDeviceChannel", actions: { type: "replyError", params: { code: "mdm.signature-invalid", ruleId: "ONGOING-12" } }, meta: { rule: "ONGOING-12" } },
  ] as const;
}

/** ONGOING-11: invalidating a token the enrollment no longer has changes nothing. */
const keepOtherToken = { guard: "namesAnotherToken", actions: "clearReply", meta: { rule: "ONGOING-11" } } as const;

const checkIn = {
  CHECK_IN: [
    unsigned,
    ...macDeviceChannel(false),
    checkOut,
    { guard: "tokenValid", target: "#enrollment.enrolled", actions: ["recordEnrollmentId", "pinIdentity", "replyAcknowledged"] },
    refused,
  ],
  TOKEN_INVALIDATED: [keepOtherToken, { target: "#enrollment.tokenInvalidated", actions: ["dropToken", "clearReply"], meta: { rule: "ONGOING-11" } }],
} as const;

/** OAUTH-14: a refresh keeps the enrollment where it is, with the new token in place of the old. */
const refresh = {
  TOKEN_REFRESHED: [
    { guard: "refreshesCurrentToken", actions: "replaceRefreshedToken", meta: { rule: "OAUTH-14" } },
    { actions: { type: "replyError", params: { code: "oauth2.invalid-grant", ruleId: "OAUTH-14" } }, meta: { rule: "OAUTH-14" } },
  ],
} as const;

/** After invalidation there is no token to accept until the person signs in again. */
const checkInWithoutToken = { CHECK_IN: [unsigned, ...macDeviceChannel(true), checkOut, refused] } as const;

/** A checked-out or unenrolled device that enrolls again starts a new lifecycle. */
const startOver = [
  { guard: "noAuthorization", target: "#enrollment.challenged", actions: ["forgetEnrollment", "recordDevice", { type: "replyChallenge", params: { ruleId: "ENROLL-5" } }], meta: { rule: "ENROLL-5" } },
  { actions: { type: "replyChallenge", params: { ruleId: "ENROLL2-2" } }, meta: { rule: "ENROLL2-2" } },
] as const;

export const serverMachine = setup({
  types: {
    context: {} as ServerContext,
    events: {} as ServerEvent,
    input: {} as ServerInput,
  },
  actors: {
    verifyCredentials: fromPromise<VerifyCredentialsOutput, VerifyCredentialsInput>(notProvided("verifyCredentials")),
    buildProfile: fromPromise<BuildProfileOutput, BuildProfileInput>(notProvided("buildProfile")),
  },
  guards: {
    noAuthorization: ({ event }) => "authorization" in event && event.authorization.kind === "missing",
    tokenValid: ({ context, event }) =>
      "authorization" in event &&
      event.authorization.kind === "bearer" &&
      context.tokenHash !== null &&
      event.authorization.tokenHash === context.tokenHash &&
      (context.tokenExpiresAt === null || event.now < context.tokenExpiresAt) &&
      // ONGOING-7: a token is bound to its enrollment; a check-in naming another one is refused.
      (event.type !== "CHECK_IN" || event.enrollmentId === null || context.enrollmentId === null || event.enrollmentId === context.enrollmentId),
    forgedForm: ({ event }) => "csrfValid" in event && !event.csrfValid,
    credentialsThrottled: ({ event }) =>
      "output" in event && typeof event.output === "object" && event.output !== null && "throttled" in event.output && event.output.throttled === true,
    hasEnrolled: ({ context }) => context.enrollmentId !== null || context.hasProfile,
    signatureRefused: ({ context, event }) =>
      event.type === "CHECK_IN" &&
      event.signatureRequired &&
      (event.signature.kind !== "valid" || (context.identityFingerprint !== null && event.signature.signerFingerprint !== context.identityFingerprint)),
    // PROTOCOL.md §6: on macOS only user-channel requests carry the token.
    macDeviceChannel: ({ context, event }) => event.type === "CHECK_IN" && event.authorization.kind === "missing" && !event.userChannel && isMac(context.device),
    signedByEnrollmentIdentity: ({ context, event }) =>
      event.type === "CHECK_IN" && event.signature.kind === "valid" && context.identityFingerprint !== null && event.signature.signerFingerprint === context.identityFingerprint,
    isCheckOut: ({ event }) => event.type === "CHECK_IN" && event.messageType === "CheckOut",
    hasToken: ({ context }) => context.tokenHash !== null,
    namesAnotherToken: ({ context, event }) => event.type === "TOKEN_INVALIDATED" && event.tokenHash !== undefined && event.tokenHash !== context.tokenHash,
    refreshesCurrentToken: ({ context, event }) => event.type === "TOKEN_REFRESHED" && context.tokenHash !== null && event.previousTokenHash === context.tokenHash,
    // ONGOING-8: a CheckOut cannot recover from a 401, so a stale token of this enrollment (current or
    // one it had before) is enough; a token it never had, or none, is not — or anyone knowing an
    // EnrollmentID could check the device out.
    isCheckOutWithOwnToken: ({ context, event }) =>
      event.type === "CHECK_IN" &&
      event.messageType === "CheckOut" &&
      event.authorization.kind === "bearer" &&
      (event.authorization.tokenHash === context.tokenHash || context.retiredTokenHashes.includes(event.authorization.tokenHash)),
    credentialsAccepted: ({ event }) =>
      "output" in event && typeof event.output === "object" && event.output !== null && "ok" in event.output && event.output.ok === true,
    profilePassesStep13: ({ context, event }) =>
      profileViolations(builtProfile(event), context.version, { requireModeMatchesVersion: true }).length === 0,
    // PROFILE-7: the Managed Apple Account is the one mapped to the signed-in user.
    profileNamesTheUser: ({ context, event }) => findMdmPayload(builtProfile(event))?.AssignedManagedAppleID === context.managedAppleId,
  },
  actions: {
    replyChallenge: assign((_, params: { ruleId: RuleId }) => ({ reply: { kind: "challenge", ruleId: params.ruleId } as const })),
    replyError: assign((_, params: { code: ServerErrorCode; ruleId?: RuleId }) => ({
      reply: params.ruleId === undefined ? { kind: "error", code: params.code } as const : { kind: "error", code: params.code, ruleId: params.ruleId } as const,
    })),
    replyAcknowledged: assign({ reply: { kind: "acknowledged" } }),
    replyUnrecognized: assign({ reply: { kind: "unrecognized-device", ruleId: "ONGOING-9" } }),
    replySignInForm: assign({ reply: { kind: "sign-in-form", failed: false } }),
    replySignInFailed: assign({ reply: { kind: "sign-in-form", failed: true } }),
    holdIssuedToken: assign(({ event }) => (event.type === "SIGN_IN" ? { pendingToken: event.issuedToken, reply: null } : {})),
    recordDevice: assign(({ event }) => (event.type === "ENROLL" ? { device: event.device } : {})),
    recordEnrollmentId: assign(({ context, event }) =>
      event.type === "CHECK_IN" && event.enrollmentId !== null ? { enrollmentId: event.enrollmentId } : { enrollmentId: context.enrollmentId },
    ),
    // An identity the server did not issue is pinned by the first request that carries this enrollment's valid token.
    pinIdentity: assign(({ context, event }) =>
      event.type === "CHECK_IN" && event.signature.kind === "valid" && context.identityFingerprint === null
        ? { identityFingerprint: event.signature.signerFingerprint }
        : { identityFingerprint: context.identityFingerprint },
    ),
    dropToken: assign(({ context }) => ({ tokenHash: null, tokenExpiresAt: null, retiredTokenHashes: retire(context) })),
    dropPendingToken: assign({ pendingToken: null }),
    replaceRefreshedToken: assign(({ context, event }) =>
      event.type === "TOKEN_REFRESHED"
        ? { retiredTokenHashes: retire(context), tokenHash: event.issuedToken.hash, tokenExpiresAt: event.issuedToken.expiresAt, reply: { kind: "acknowledged" } as const }
        : {},
    ),
    clearReply: assign({ reply: null }),
    forgetEnrollment: assign({ userIdentifier: null, managedAppleId: null, tokenHash: null, tokenExpiresAt: null, retiredTokenHashes: [], enrollmentId: null, identityFingerprint: null, hasProfile: false }),
  },
}).createMachine({
  id: "enrollment",
  initial: "new",
  context: ({ input }) => ({
    ...input,
    userIdentifier: null,
    managedAppleId: null,
    tokenHash: null,
    tokenExpiresAt: null,
    pendingToken: null,
    retiredTokenHashes: [],
    enrollmentId: null,
    identityFingerprint: null,
    hasProfile: false,
    reply: null,
  }),
  on: {
    // Sign-in outside a state that expects one (SIGN_IN_PAGE/SIGN_IN are overridden there).
    SIGN_IN_PAGE: { actions: { type: "replyError", params: { code: "sign-in.not-expected" } } },
    SIGN_IN: { actions: { type: "replyError", params: { code: "sign-in.not-expected" } } },
    SIGN_IN_CANCEL: { actions: { type: "replyError", params: { code: "sign-in.not-expected" } } },
    CHECK_IN: { actions: "replyUnrecognized", meta: { rule: "ONGOING-9" } },
    // ONGOING-11: the server may invalidate the token in any state; it then authorizes nothing.
    TOKEN_INVALIDATED: [keepOtherToken, { actions: ["dropToken", "clearReply"], meta: { rule: "ONGOING-11" } }],
    UNENROLL: { target: ".unenrolled", actions: ["dropToken", assign({ reply: { kind: "acknowledged" } })] },
    // OAUTH-14: no token to refresh outside the states below.
    TOKEN_REFRESHED: { actions: { type: "replyError", params: { code: "oauth2.invalid-grant", ruleId: "OAUTH-14" } }, meta: { rule: "OAUTH-14" } },
    // An enroll body is not secret (it can be replayed), so a token-less ENROLL only challenges: it
    // never moves an enrollment that has a profile back, which would lock its device out.
    ENROLL: [
      { guard: "noAuthorization", actions: { type: "replyChallenge", params: { ruleId: "ENROLL-5" } }, meta: { rule: "ENROLL-5" } },
      { guard: "tokenValid", target: ".buildingProfile", actions: "recordDevice", meta: { rule: "ENROLL2-3" } },
      { actions: { type: "replyChallenge", params: { ruleId: "ENROLL2-2" } }, meta: { rule: "ENROLL2-2" } },
    ],
  },
  states: {
    new: {
      on: {
        ENROLL: [
          { guard: "noAuthorization", target: "challenged", actions: ["recordDevice", { type: "replyChallenge", params: { ruleId: "ENROLL-5" } }], meta: { rule: "ENROLL-5" } },
          { target: "challenged", actions: { type: "replyChallenge", params: { ruleId: "ENROLL2-2" } }, meta: { rule: "ENROLL2-2" } },
        ],
      },
    },
    challenged: { on: { ...signIn } },
    verifyingCredentials: {
      tags: ["busy"],
      invoke: {
        id: "verifyingCredentials",
        src: "verifyCredentials",
        input: ({ context, event }) => ({
          enrollmentRef: context.id,
          username: event.type === "SIGN_IN" ? event.username : "",
          password: event.type === "SIGN_IN" ? event.password : "",
          expectedUser: context.userIdentifier,
          ...(event.type === "SIGN_IN" && event.verifiedBy !== undefined ? { verifiedBy: event.verifiedBy } : {}),
        }),
        onDone: [
          {
            guard: "credentialsThrottled",
            target: "signInFailed",
            actions: [{ type: "replyError", params: { code: "sign-in.throttled", ruleId: "SIMPLE-5" } }, "dropPendingToken"],
            meta: { rule: "SIMPLE-5" },
          },
          {
            guard: "credentialsAccepted",
            target: "signedIn",
            actions: assign(({ context, event }) => ({
              userIdentifier: event.output.ok ? event.output.userIdentifier : context.userIdentifier,
              managedAppleId: event.output.ok ? event.output.managedAppleId : context.managedAppleId,
              retiredTokenHashes: retire(context),
              tokenHash: context.pendingToken?.hash ?? null,
              tokenExpiresAt: context.pendingToken?.expiresAt ?? null,
              pendingToken: null,
              reply: { kind: "authentication-result" } as const,
            })),
            meta: { rule: "SIMPLE-4" },
          },
          { target: "signInFailed", actions: ["replySignInFailed", "dropPendingToken"], meta: { rule: "SIMPLE-5" } },
        ],
        onError: { target: "signInFailed", actions: ["replySignInFailed", "dropPendingToken"], meta: { rule: "SIMPLE-5" } },
      },
    },
    // Where a sign-in lands depends on whether the device had enrolled before it.
    signedIn: {
      always: [
        { guard: "hasEnrolled", target: "reauthenticated", meta: { rule: "ONGOING-10" } },
        { target: "authenticated" },
      ],
    },
    // A failed attempt leaves the enrollment where its facts put it: a failed sign-in at a leaked
    // web-auth URL must not change what the device's own token can do.
    signInFailed: {
      always: [
        { guard: and(["hasEnrolled", "hasToken"]), target: "enrolled" },
        { guard: "hasEnrolled", target: "tokenInvalidated" },
        { guard: "hasToken", target: "authenticated" },
        { target: "challenged" },
      ],
    },
    authenticated: {
      on: {
        ...signIn,
        ...refresh,
        TOKEN_INVALIDATED: [keepOtherToken, { target: "challenged", actions: ["dropToken", "clearReply"], meta: { rule: "ONGOING-11" } }],
      },
    },
    buildingProfile: {
      tags: ["busy"],
      invoke: {
        id: "buildingProfile",
        src: "buildProfile",
        input: ({ context }) => ({
          enrollmentRef: context.id,
          version: context.version,
          userIdentifier: context.userIdentifier ?? "",
          managedAppleId: context.managedAppleId ?? "",
        }),
        onDone: [
          {
            guard: not("profilePassesStep13"),
            target: "authenticated",
            actions: { type: "replyError", params: { code: "profile.misconfigured", ruleId: "PROFILE-6" } },
            meta: { rule: "PROFILE-6" },
          },
          {
            guard: not("profileNamesTheUser"),
            target: "authenticated",
            actions: { type: "replyError", params: { code: "profile.misconfigured", ruleId: "PROFILE-7" } },
            meta: { rule: "PROFILE-7" },
          },
          {
            target: "profileDelivered",
            // A profile carrying an identity the server issued pins it: its Mdm-Signature must be made with that one.
            actions: assign(({ context, event }) => ({
              reply: { kind: "profile", profile: event.output.profile } as const,
              identityFingerprint: event.output.identityFingerprint ?? context.identityFingerprint,
              hasProfile: true,
            })),
          },
        ],
        // A builder that fails cannot deliver a profile that passes step 13.
        onError: { target: "authenticated", actions: { type: "replyError", params: { code: "profile.misconfigured", ruleId: "PROFILE-6" } }, meta: { rule: "PROFILE-6" } },
      },
    },
    profileDelivered: { on: { ...signIn, ...checkIn, ...refresh } },
    enrolled: { on: { ...signIn, ...checkIn, ...refresh } },
    tokenInvalidated: { on: { ...signIn, ...checkInWithoutToken } },
    reauthenticated: { on: { ...signIn, ...checkIn, ...refresh } },
    checkedOut: { on: { ENROLL: startOver } },
    unenrolled: { on: { ENROLL: startOver } },
  },
});

