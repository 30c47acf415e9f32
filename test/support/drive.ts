// Drives the machines purely, with xstate's transition(): no actor runs; each invoked actor is
// answered by hand with `xstate.done.actor.<invoke id>` (or `.error.`), so tests choose every answer.
import { initialTransition, transition, type EventObject, type SnapshotFrom } from "xstate";
import { deviceMachine, serverMachine, type DeviceInput, type HttpAnswer, type ServerInput, type WebAuthOutcome } from "../../machines/index.ts";
import { buildEnrollmentProfile, formatChallenge, serializeEnrollmentProfile, type Challenge, type ConfigurationProfile, type EnrollmentMode } from "../../spec/index.ts";

export type DeviceSnapshot = SnapshotFrom<typeof deviceMachine>;
export type ServerSnapshot = SnapshotFrom<typeof serverMachine>;

const utf8 = new TextEncoder();

export function answer(
  status: number,
  options: { readonly headers?: Record<string, string>; readonly body?: string | object | Uint8Array } = {},
): HttpAnswer {
  const body = options.body;
  const bytes = body === undefined ? new Uint8Array() : body instanceof Uint8Array ? body : utf8.encode(typeof body === "string" ? body : JSON.stringify(body));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  return { status, headers, body: bytes };
}

export const asWeb: Challenge = { method: "apple-as-web", url: "https://mdm.example.com/authenticate/ref" };
export const oauth2: Challenge = {
  method: "apple-oauth2",
  "authorization-url": "https://mdm.example.com/oauth2/authorize",
  "token-url": "https://mdm.example.com/oauth2/token",
  "redirect-url": "apple-remotemanagement-user-login:/oauth2/redirection",
  "client-id": "client-1",
  scope: "mdm",
};

export function profileBody(options: { mode?: EnrollmentMode; managedAppleId?: string; accessRights?: number } = {}): Uint8Array {
  return utf8.encode(serializeEnrollmentProfile(testProfile(options)));
}

/** A profile that passes step 13 for a BYOD (or ADDE) enrollment of `managedAppleId`. */
export function testProfile(options: { mode?: EnrollmentMode; managedAppleId?: string; accessRights?: number } = {}): ConfigurationProfile {
  const mode = options.mode ?? "BYOD";
  const built = buildEnrollmentProfile({
    organizationName: "Example",
    identifierPrefix: "com.example.mdm",
    uuids: { profile: "5B0E7C1A-0000-4000-8000-000000000001", mdm: "5B0E7C1A-0000-4000-8000-000000000002", identity: "5B0E7C1A-0000-4000-8000-000000000003" },
    mdm: { ServerURL: "https://mdm.example.com/mdm/server", CheckInURL: "https://mdm.example.com/mdm/checkin", Topic: "com.apple.mgmt.External.test", ...(mode === "ADDE" && options.accessRights !== undefined ? { AccessRights: options.accessRights } : {}) },
    enrollmentMode: mode,
    assignedManagedAppleID: options.managedAppleId ?? "alice@appleid.example.com",
    identity: { kind: "scep", url: "https://mdm.example.com/scep" },
  });
  if (!built.ok) throw new Error(built.error.detail);
  return built.value;
}

/** An answer for every invoke id of the device machine that leads, step by step, to enrolled (simple flow). */
export function happyAnswers(challenge: Challenge = asWeb): Record<string, unknown> {
  const simpleCallback: WebAuthOutcome = { kind: "callback", url: "apple-remotemanagement-user-login://authentication-results?access-token=tok-1" };
  return {
    discovery: answer(200, { headers: { "content-type": "application/json" }, body: { Servers: [{ Version: "mdm-byod", BaseURL: "https://mdm.example.com/enroll/mdm-byod" }] } }),
    firstEnroll: answer(401, { headers: { "www-authenticate": formatChallenge(challenge) } }),
    fetching: answer(200, { headers: { "content-type": "application/json" }, body: { iTunesStoreID: 1, ConfigurationProfile: "AAAA" } }),
    consenting: { accepted: true },
    simple: simpleCallback,
    creatingState: "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
    // The authorization callback echoes whatever state the machine created (see answerFor).
    authorizing: null,
    exchanging: answer(200, { headers: { "content-type": "application/json" }, body: { token_type: "Bearer", access_token: "at-1", refresh_token: "rt-1", expires_in: 3600 } }),
    secondEnroll: answer(200, { headers: { "content-type": "application/x-apple-aspen-config" }, body: profileBody() }),
    managedAccountSignIn: { ok: true },
    sending: answer(200),
    refreshing: answer(200, { headers: { "content-type": "application/json" }, body: { token_type: "bearer", access_token: "at-2", refresh_token: "rt-2" } }),
  };
}

export const deviceInput: DeviceInput = { modelFamily: "iPhone", enrollBody: new Uint8Array([0x30, 0x80, 0, 0]) };

export function deviceStart(input: DeviceInput = deviceInput): DeviceSnapshot {
  return initialTransition(deviceMachine, input)[0];
}

export function deviceSend(snapshot: DeviceSnapshot, event: EventObject & Record<string, unknown>): DeviceSnapshot {
  // Done/error events of invoked actors are not in the machine's public event type.
  return transition(deviceMachine, snapshot, event as never)[0];
}

/** The ids of the actors the machine is waiting for in this snapshot. */
export function activeInvokes(snapshot: { readonly children: Record<string, unknown> }): string[] {
  return Object.keys(snapshot.children).filter((id) => snapshot.children[id] !== undefined);
}

export function deviceDone(snapshot: DeviceSnapshot, invokeId: string, output: unknown): DeviceSnapshot {
  return deviceSend(snapshot, { type: `xstate.done.actor.${invokeId}`, output });
}

export function deviceError(snapshot: DeviceSnapshot, invokeId: string, error: unknown = new Error("network")): DeviceSnapshot {
  return deviceSend(snapshot, { type: `xstate.error.actor.${invokeId}`, error });
}

/** The happy answer for an invoke, with the OAuth callback built from the state the machine sent. */
export function answerFor(snapshot: DeviceSnapshot, invokeId: string, answers: Record<string, unknown>): unknown {
  if (invokeId === "authorizing" && answers["authorizing"] === null) {
    const state = snapshot.context.oauthState ?? "";
    return { kind: "callback", url: `apple-remotemanagement-user-login:/oauth2/redirection?code=code-1&state=${encodeURIComponent(state)}` } satisfies WebAuthOutcome;
  }
  return answers[invokeId];
}

/**
 * Types `identifier` and answers every actor from `answers` (overrides over the happy path) until
 * the machine ends, is enrolled and idle, or waits for the person again; at most `maxSteps` answers.
 */
export function driveDevice(
  overrides: Record<string, unknown> = {},
  options: { readonly identifier?: string; readonly input?: DeviceInput; readonly challenge?: Challenge; readonly maxSteps?: number } = {},
): DeviceSnapshot {
  const answers = { ...happyAnswers(options.challenge), ...overrides };
  let snapshot = deviceSend(deviceStart(options.input), { type: "SUBMIT_IDENTIFIER", identifier: options.identifier ?? "alice@example.com" });
  for (let i = 0; i < (options.maxSteps ?? 40); i++) {
    const [id] = activeInvokes(snapshot);
    if (id === undefined || snapshot.status !== "active") break;
    const output = answerFor(snapshot, id, answers);
    snapshot = output instanceof Error ? deviceError(snapshot, id, output) : deviceDone(snapshot, id, output);
  }
  return snapshot;
}

export const serverInput: ServerInput = {
  id: "ref-0000000000000001",
  deviceKey: "CN=Apple iPhone Device CA|01",
  version: "mdm-byod",
  device: { PRODUCT: "iPhone12,1", VERSION: "19H12", LANGUAGE: "ja-JP" },
};

export function serverStart(input: ServerInput = serverInput): ServerSnapshot {
  return initialTransition(serverMachine, input)[0];
}

export function serverSend(snapshot: ServerSnapshot, event: EventObject & Record<string, unknown>): ServerSnapshot {
  return transition(serverMachine, snapshot, event as never)[0];
}

export function serverDone(snapshot: ServerSnapshot, invokeId: string, output: unknown): ServerSnapshot {
  return serverSend(snapshot, { type: `xstate.done.actor.${invokeId}`, output });
}

/** The CHECK_IN facts of an iOS check-in-channel request without Mdm-Signature, under a profile without SignMessage. */
export const checkInFacts = { channel: "checkin", userChannel: false, signature: { kind: "absent" }, signatureRequired: false } as const;
