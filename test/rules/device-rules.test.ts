// One focused test per device-machine rule: the machine driven purely (test/support/drive.ts) with
// one answer overridden, or run for real with recording actors where what the machine *sends* is
// the point (ENROLL2-1, ONGOING-1, ONGOING-2). Each test asserts the end state and cancelReason.
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, waitFor } from "xstate";
import { deviceMachine, type DeviceInput, type HttpAnswer, type MdmRequestInput, type PendingMdmRequest, type WebAuthOutcome } from "../../machines/index.ts";
import { essoHeader, formatChallenge, type EnrollmentSsoDocument, type TokenRequest } from "../../spec/index.ts";
import {
  activeInvokes,
  answer,
  answerFor,
  asWeb,
  deviceDone,
  deviceError,
  deviceInput,
  deviceSend,
  deviceStart,
  driveDevice,
  happyAnswers,
  oauth2,
  profileBody,
  type DeviceSnapshot,
} from "../support/drive.ts";

const json = { "content-type": "application/json" };
const aspen = { "content-type": "application/x-apple-aspen-config" };
const baseUrl = "https://mdm.example.com/enroll/mdm-byod";
const essoUrl = "https://mdm.example.com/esso/document";

function discovery(body: unknown, headers: Record<string, string> = json): HttpAnswer {
  return answer(200, { headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

/** A 401 with the challenge and an X-Apple-MDM-ESSO header. */
function challengedWithEsso(url: string = essoUrl): HttpAnswer {
  return answer(401, { headers: { "www-authenticate": formatChallenge(asWeb), [essoHeader]: url } });
}

const checkInRequest: PendingMdmRequest = { channel: "checkin", messageType: "Authenticate", body: new Uint8Array([1]) };
const checkOutRequest: PendingMdmRequest = { channel: "checkin", messageType: "CheckOut", body: new Uint8Array([2]) };
const unauthorized = answer(401, { headers: { "www-authenticate": formatChallenge(asWeb) } });

/** Answers the pending actors with the happy answers until the machine waits for something else. */
function settle(snapshot: DeviceSnapshot, answers: Record<string, unknown>, stopAt: readonly string[] = []): DeviceSnapshot {
  let current = snapshot;
  for (let i = 0; i < 20; i++) {
    const [id] = activeInvokes(current);
    if (id === undefined || current.status !== "active" || stopAt.includes(id)) break;
    const output = answerFor(current, id, answers);
    current = output instanceof Error ? deviceError(current, id, output) : deviceDone(current, id, output);
  }
  return current;
}

/** An enrolled device (simple flow by default), idle. */
function enrolled(challenge = asWeb): DeviceSnapshot {
  const snapshot = driveDevice({}, { challenge });
  expect(snapshot.value).toEqual({ enrolled: "idle" });
  return snapshot;
}

function expectCancelled(snapshot: DeviceSnapshot, rule: string): void {
  expect(snapshot.value).toBe("cancelled");
  expect(snapshot.status).toBe("done");
  expect(snapshot.context.cancelReason).toBe(rule);
}

// --- Running the machine for real, recording what each actor was given ---------------------------

interface Recorded {
  readonly discover: { url: string }[];
  readonly enroll: { baseUrl: string; body: Uint8Array; accessToken: string | null }[];
  readonly webAuthenticate: { url: string; callbackScheme: string; userIdentifier: string }[];
  readonly requestToken: { tokenUrl: string; request: TokenRequest }[];
  readonly signInManagedAccount: { managedAppleId: string }[];
  readonly sendMdmRequest: MdmRequestInput[];
}

/**
 * The device machine with every actor answering from `happyAnswers` (plus overrides; an array is
 * answered in turn, one element per call), recording each input.
 */
function recordingDevice(options: { readonly challenge?: typeof asWeb | typeof oauth2; readonly overrides?: Record<string, unknown>; readonly input?: DeviceInput } = {}) {
  const answers: Record<string, unknown> = { ...happyAnswers(options.challenge), ...options.overrides };
  const calls: Record<string, number> = {};
  const next = <T>(id: string): T => {
    const value = answers[id];
    const n = calls[id] ?? 0;
    calls[id] = n + 1;
    return (Array.isArray(value) ? value[Math.min(n, value.length - 1)] : value) as T;
  };
  const recorded: Recorded = { discover: [], enroll: [], webAuthenticate: [], requestToken: [], signInManagedAccount: [], sendMdmRequest: [] };
  const logic = deviceMachine.provide({
    actors: {
      discover: fromPromise<HttpAnswer, { url: string }>(async ({ input }) => {
        recorded.discover.push(input);
        return next("discovery");
      }),
      enroll: fromPromise<HttpAnswer, { baseUrl: string; body: Uint8Array; accessToken: string | null }>(async ({ input }) => {
        recorded.enroll.push(input);
        return next(input.accessToken === null ? "firstEnroll" : "secondEnroll");
      }),
      fetchSsoDocument: fromPromise<HttpAnswer, { url: string }>(async () => next("fetching")),
      consentToSso: fromPromise<{ accepted: boolean }, { document: EnrollmentSsoDocument }>(async () => next("consenting")),
      webAuthenticate: fromPromise<WebAuthOutcome, { url: string; callbackScheme: string; userIdentifier: string }>(async ({ input }) => {
        recorded.webAuthenticate.push(input);
        if (input.url.includes("response_type=code")) {
          const state = new URL(input.url).searchParams.get("state") ?? "";
          return { kind: "callback", url: `apple-remotemanagement-user-login:/oauth2/redirection?code=code-1&state=${encodeURIComponent(state)}` };
        }
        return next("simple");
      }),
      createState: fromPromise<string, void>(async () => next("creatingState")),
      requestToken: fromPromise<HttpAnswer, { tokenUrl: string; request: TokenRequest }>(async ({ input }) => {
        recorded.requestToken.push(input);
        return next(input.request.grant_type === "refresh_token" ? "refreshing" : "exchanging");
      }),
      signInManagedAccount: fromPromise<{ ok: boolean }, { managedAppleId: string }>(async ({ input }) => {
        recorded.signInManagedAccount.push(input);
        return next("managedAccountSignIn");
      }),
      sendMdmRequest: fromPromise<HttpAnswer, MdmRequestInput>(async ({ input }) => {
        recorded.sendMdmRequest.push(input);
        return next("sending");
      }),
    },
  });
  const actor = createActor(logic, { input: options.input ?? deviceInput });
  return { actor, recorded };
}

const settledOrIdle = (s: DeviceSnapshot) => s.status === "done" || s.matches({ enrolled: "idle" }) || s.matches("identifierEntry");

// --- Step 1 -------------------------------------------------------------------------------------

describe("identifier entry", () => {
  it("IDENT-2 an identifier without '@' or with an empty user part returns to identifier entry with the error, and a corrected one proceeds", () => {
    for (const bad of ["example.com", "@example.com", "  @example.com"]) {
      const rejected = deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: bad });
      expect(rejected.value).toBe("identifierEntry");
      expect(rejected.status).toBe("active");
      expect(rejected.context.identifierError).toBe("IDENT-2");
      expect(rejected.context.cancelReason).toBeNull();
      const retried = deviceSend(rejected, { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
      expect(retried.value).toBe("discovery");
      expect(retried.context.identifierError).toBeNull();
      expect(retried.context.identifier).toEqual({ identifier: "alice@example.com", user: "alice", domain: "example.com" });
    }
  });

  it("IDENT-3 a domain that is not a fully qualified domain name returns to identifier entry with the error, and a corrected one proceeds", () => {
    for (const bad of ["alice@localhost", "alice@exa_mple.com", "alice@192.168.0.1", "alice@-example.com"]) {
      const rejected = deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: bad });
      expect(rejected.value).toBe("identifierEntry");
      expect(rejected.context.identifierError).toBe("IDENT-3");
      const retried = deviceSend(rejected, { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
      expect(retried.value).toBe("discovery");
      expect(retried.context.identifierError).toBeNull();
    }
  });

  it("IDENT-4 the person cancels at identifier entry, first or after a correctable error", () => {
    expectCancelled(deviceSend(deviceStart(), { type: "CANCEL" }), "IDENT-4");
    const afterError = deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "example.com" });
    expectCancelled(deviceSend(afterError, { type: "CANCEL" }), "IDENT-4");
  });
});

// --- Steps 2–3 -----------------------------------------------------------------------------------

describe("service discovery", () => {
  it("DISCOVERY-3 a final status other than exactly 200, or a transport failure, cancels", () => {
    for (const status of [201, 204, 302, 404, 500]) {
      expectCancelled(driveDevice({ discovery: answer(status, { headers: json, body: { Servers: [{ Version: "mdm-byod", BaseURL: baseUrl }] } }) }), "DISCOVERY-3");
    }
    expectCancelled(driveDevice({ discovery: answer(403, { headers: json, body: { code: "other" } }) }), "DISCOVERY-3");
    expectCancelled(driveDevice({ discovery: new Error("TLS failure") }), "DISCOVERY-3");
  });

  it("DISCOVERY-4 a document without a JSON media type cancels; a charset parameter or +json is fine", () => {
    const document = { Servers: [{ Version: "mdm-byod", BaseURL: baseUrl }] };
    for (const headers of [{ "content-type": "text/plain" }, { "content-type": "text/html; charset=utf-8" }, {}]) {
      expectCancelled(driveDevice({ discovery: discovery(document, headers) }), "DISCOVERY-4");
    }
    for (const contentType of ["application/json; charset=utf-8", "Application/JSON", "application/vnd.example+json"]) {
      const snapshot = driveDevice({ discovery: discovery(document, { "content-type": contentType }) });
      expect(snapshot.value).toEqual({ enrolled: "idle" });
    }
  });

  it("DISCOVERY-5 a malformed document (not JSON, Servers missing, items without string Version and BaseURL) cancels", () => {
    for (const body of ["not json", "{", { servers: [] }, { Servers: [{ Version: "mdm-byod" }] }, { Servers: [{ Version: 1, BaseURL: baseUrl }] }, { Servers: "mdm-byod" }]) {
      expectCancelled(driveDevice({ discovery: discovery(body) }), "DISCOVERY-5");
    }
  });

  it("DISCOVERY-6 an empty Servers array cancels", () => {
    expectCancelled(driveDevice({ discovery: discovery({ Servers: [] }) }), "DISCOVERY-6");
  });

  it("DISCOVERY-7 the first supported Version is taken; none supported cancels", () => {
    const mixed = { Servers: [{ Version: "mdm-future", BaseURL: "https://other.example.com/x" }, { Version: "mdm-adde", BaseURL: "https://mdm.example.com/enroll/mdm-adde" }, { Version: "mdm-byod", BaseURL: baseUrl }] };
    const chosen = driveDevice({ discovery: discovery(mixed), secondEnroll: answer(200, { headers: aspen, body: profileBody({ mode: "ADDE", accessRights: 8191 }) }) });
    expect(chosen.value).toEqual({ enrolled: "idle" });
    expect(chosen.context.server).toEqual({ version: "mdm-adde", baseUrl: "https://mdm.example.com/enroll/mdm-adde" });

    expectCancelled(driveDevice({ discovery: discovery({ Servers: [{ Version: "mdm-future", BaseURL: baseUrl }] }) }), "DISCOVERY-7");
    const byodOnly: DeviceInput = { ...deviceInput, supportedVersions: ["mdm-byod"] };
    expectCancelled(driveDevice({ discovery: discovery({ Servers: [{ Version: "mdm-adde", BaseURL: baseUrl }] }) }, { input: byodOnly }), "DISCOVERY-7");
  });

  it("DISCOVERY-9 a 403 com.apple.well-known.failed cancels and keeps its message for the person (machine)", () => {
    const failed = answer(403, { headers: json, body: { code: "com.apple.well-known.failed", message: "Ask IT.", description: "unknown user" } });
    const snapshot = driveDevice({ discovery: failed });
    expectCancelled(snapshot, "DISCOVERY-9");
    expect(snapshot.context.failureMessage).toBe("Ask IT.");
  });
});

// --- Steps 4–5 -----------------------------------------------------------------------------------

describe("first enroll request", () => {
  it("ENROLL-6 a 200 to the first enroll request cancels", () => {
    expectCancelled(driveDevice({ firstEnroll: answer(200, { headers: aspen, body: profileBody() }) }), "ENROLL-6");
  });

  it("ENROLL-7 any status other than 401 (400, 403, 500, a redirect) or a transport failure halts enrollment", () => {
    for (const status of [400, 403, 404, 500, 302]) expectCancelled(driveDevice({ firstEnroll: answer(status) }), "ENROLL-7");
    expectCancelled(driveDevice({ firstEnroll: new Error("connection reset") }), "ENROLL-7");
  });

  it("ENROLL-8 a 401 without a readable WWW-Authenticate challenge cancels (machine)", () => {
    expectCancelled(driveDevice({ firstEnroll: answer(401) }), "ENROLL-8");
    expectCancelled(driveDevice({ firstEnroll: answer(401, { headers: { "www-authenticate": 'Bearer method="apple-as-web' } }) }), "ENROLL-8");
  });

  it("CHALLENGE-7 a challenge with another method, or none, cancels (machine)", () => {
    expectCancelled(driveDevice({ firstEnroll: answer(401, { headers: { "www-authenticate": 'Bearer method="apple-sso", url="https://mdm.example.com/x"' } }) }), "CHALLENGE-7");
    expectCancelled(driveDevice({ firstEnroll: answer(401, { headers: { "www-authenticate": 'Bearer url="https://mdm.example.com/x"' } }) }), "CHALLENGE-7");
  });
});

// --- Enrollment SSO --------------------------------------------------------------------------------

describe("Enrollment SSO", () => {
  it("ESSO-1 an X-Apple-MDM-ESSO that is not https, does not answer 200, answers no JSON object or fails cancels", () => {
    const good = happyAnswers()["fetching"];
    expectCancelled(driveDevice({ firstEnroll: challengedWithEsso("http://mdm.example.com/esso"), fetching: good }), "ESSO-1");
    expectCancelled(driveDevice({ firstEnroll: challengedWithEsso(), fetching: answer(404, { headers: json, body: { iTunesStoreID: 1, ConfigurationProfile: "AAAA" } }) }), "ESSO-1");
    expectCancelled(driveDevice({ firstEnroll: challengedWithEsso(), fetching: answer(200, { headers: json, body: [1, 2] }) }), "ESSO-1");
    expectCancelled(driveDevice({ firstEnroll: challengedWithEsso(), fetching: answer(200, { headers: json, body: "not json" }) }), "ESSO-1");
    expectCancelled(driveDevice({ firstEnroll: challengedWithEsso(), fetching: new Error("unreachable") }), "ESSO-1");
    // The valid case goes on to consent and enrolls.
    const accepted = driveDevice({ firstEnroll: challengedWithEsso() });
    expect(accepted.value).toEqual({ enrolled: "idle" });
    expect(accepted.context.essoDocument).toEqual({ iTunesStoreID: 1, ConfigurationProfile: "AAAA" });
  });

  it("ESSO-1 an http X-Apple-MDM-ESSO URL is refused before anything is fetched from it", () => {
    let s = deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
    s = deviceDone(s, "discovery", happyAnswers()["discovery"]);
    s = deviceDone(s, "firstEnroll", challengedWithEsso("http://attacker.example/esso"));
    expect(s.value).toBe("cancelled");
    expect(s.context.cancelReason).toBe("ESSO-1");
    expect(Object.keys(s.children)).toEqual([]);
  });

  it("ESSO-3 the person declines Enrollment SSO and enrollment cancels", () => {
    const consenting = settle(deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" }), { ...happyAnswers(), firstEnroll: challengedWithEsso() }, ["consenting"]);
    expect(consenting.value).toEqual({ enrollmentSso: "consenting" });
    expectCancelled(deviceDone(consenting, "consenting", { accepted: false }), "ESSO-3");
    expectCancelled(deviceError(consenting, "consenting", new Error("dismissed")), "ESSO-3");
    expect(deviceDone(consenting, "consenting", { accepted: true }).value).toEqual({ authenticating: "simple" });
  });

  it("ESSO-4 a Mac ignores X-Apple-MDM-ESSO: no document is fetched, authentication starts at once", () => {
    const challenged = (modelFamily: DeviceInput["modelFamily"]) => {
      let s = deviceSend(deviceStart({ ...deviceInput, modelFamily }), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
      s = deviceDone(s, "discovery", happyAnswers()["discovery"]);
      return deviceDone(s, "firstEnroll", challengedWithEsso());
    };
    const mac = challenged("Mac");
    expect(mac.value).toEqual({ authenticating: "simple" });
    expect(activeInvokes(mac)).toEqual(["simple"]);
    expect(mac.context.cancelReason).toBeNull();
    // Any other family fetches the document first.
    expect(challenged("iPhone").value).toEqual({ enrollmentSso: "fetching" });
    // And the Mac enrolls without ever consenting (a declining answer is never asked for).
    const done = driveDevice({ firstEnroll: challengedWithEsso(), consenting: { accepted: false } }, { input: { ...deviceInput, modelFamily: "Mac" } });
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(done.context.essoDocument).toBeNull();
  });
});

// --- Steps 6–11 ------------------------------------------------------------------------------------

describe("web authentication", () => {
  it("SIMPLE-3 a callback without an access-token item cancels (machine)", () => {
    const noToken: WebAuthOutcome = { kind: "callback", url: "apple-remotemanagement-user-login://authentication-results?token=x" };
    expectCancelled(driveDevice({ simple: noToken }), "SIMPLE-3");
  });

  it("SIMPLE-6 an HTTP error during web authentication, or the session failing, ends enrollment", () => {
    expectCancelled(driveDevice({ simple: { kind: "http-error", status: 500 } }), "SIMPLE-6");
    expectCancelled(driveDevice({ simple: new Error("session failed") }), "SIMPLE-6");
    expectCancelled(driveDevice({ authorizing: { kind: "http-error", status: 404 } }, { challenge: oauth2 }), "SIMPLE-6");
  });

  it("CANCEL-1 the person cancels the web session, or at any step of the enrollment (machine)", () => {
    expectCancelled(driveDevice({ simple: { kind: "cancelled" } }), "CANCEL-1");
    expectCancelled(driveDevice({ authorizing: { kind: "cancelled" } }, { challenge: oauth2 }), "CANCEL-1");
    const discovering = deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
    expectCancelled(deviceSend(discovering, { type: "CANCEL" }), "CANCEL-1");
  });

  it("OAUTH-2 an authorization callback with another state or without code cancels (machine)", () => {
    expectCancelled(driveDevice({ authorizing: { kind: "callback", url: "apple-remotemanagement-user-login:/oauth2/redirection?code=c&state=forged" } }, { challenge: oauth2 }), "OAUTH-2");
    const withoutCode = settle(deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" }), happyAnswers(oauth2), ["authorizing"]);
    const state = withoutCode.context.oauthState ?? "";
    expect(state).not.toBe("");
    expectCancelled(deviceDone(withoutCode, "authorizing", { kind: "callback", url: `apple-remotemanagement-user-login:/oauth2/redirection?state=${state}` }), "OAUTH-2");
  });

  it("OAUTH-3 an authorization callback carrying error cancels (machine)", () => {
    const waiting = settle(deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" }), happyAnswers(oauth2), ["authorizing"]);
    const state = waiting.context.oauthState ?? "";
    expectCancelled(deviceDone(waiting, "authorizing", { kind: "callback", url: `apple-remotemanagement-user-login:/oauth2/redirection?error=access_denied&state=${state}` }), "OAUTH-3");
  });

  it("OAUTH-5 a token answer that is not 200 JSON with token_type Bearer and an access_token fails; any case of bearer passes", () => {
    const bad = [
      answer(400, { headers: json, body: { error: "invalid_grant" } }),
      answer(201, { headers: json, body: { token_type: "Bearer", access_token: "at" } }),
      answer(200, { headers: { "content-type": "text/plain" }, body: { token_type: "Bearer", access_token: "at" } }),
      answer(200, { headers: json, body: { token_type: "mac", access_token: "at" } }),
      answer(200, { headers: json, body: { token_type: "Bearer" } }),
      answer(200, { headers: json, body: "not json" }),
      new Error("token endpoint unreachable"),
    ];
    for (const exchanging of bad) expectCancelled(driveDevice({ exchanging }, { challenge: oauth2 }), "OAUTH-5");
    const lower = driveDevice({ exchanging: answer(200, { headers: json, body: { token_type: "bearer", access_token: "at-9" } }) }, { challenge: oauth2 });
    expect(lower.value).toEqual({ enrolled: "idle" });
    expect(lower.context.accessToken).toBe("at-9");
    expect(lower.context.refreshToken).toBeNull();
  });
});

// --- Steps 12–18 -----------------------------------------------------------------------------------

describe("second enroll request and profile", () => {
  it("ENROLL2-1 after authentication the second enroll is spawned, and it sends the same body with the token", async () => {
    // Pure: once the callback is read the machine is in secondEnroll with its actor spawned.
    const authenticating = settle(deviceSend(deviceStart(), { type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" }), happyAnswers(), ["simple"]);
    const afterAuth = deviceDone(authenticating, "simple", happyAnswers()["simple"]);
    expect(afterAuth.value).toBe("secondEnroll");
    expect(activeInvokes(afterAuth)).toEqual(["secondEnroll"]);
    expect(afterAuth.context.accessToken).toBe("tok-1");

    // For real: what the enroll actor was given, both times.
    const body = new Uint8Array([0x30, 0x80, 1, 2, 3, 0, 0]);
    const { actor, recorded } = recordingDevice({ input: { modelFamily: "iPhone", enrollBody: body } });
    actor.start();
    actor.send({ type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
    const done = await waitFor(actor, settledOrIdle);
    actor.stop();
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(recorded.enroll).toHaveLength(2);
    const [first, second] = recorded.enroll;
    expect(first).toEqual({ baseUrl, body, accessToken: null });
    expect(second).toEqual({ baseUrl, body, accessToken: "tok-1" });
    expect(second?.body).toBe(first?.body);
  });

  it("ENROLL2-4 a second enroll answer that is not 200 with a body, or fails, ends enrollment", () => {
    for (const secondEnroll of [unauthorized, answer(403), answer(500, { body: "error" }), answer(200, { headers: aspen }), new Error("reset")]) {
      expectCancelled(driveDevice({ secondEnroll }), "ENROLL2-4");
    }
  });

  const xml = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const bytes = (text: string) => new TextEncoder().encode(text);
  const withMode = (text: string, mode: string) => text.replace(/(<key>EnrollmentMode<\/key>\s*<string>)[^<]*(<\/string>)/, `$1${mode}$2`);

  it("PROFILE-1 a profile whose EnrollmentMode is not BYOD or ADDE cancels (machine)", () => {
    const original = xml(profileBody());
    const broken = withMode(original, "Supervised");
    expect(broken).not.toBe(original);
    expectCancelled(driveDevice({ secondEnroll: answer(200, { headers: aspen, body: bytes(broken) }) }), "PROFILE-1");
  });

  it("PROFILE-2 an ADDE profile after mdm-byod discovery cancels; with the check off it enrolls (machine)", () => {
    const adde = answer(200, { headers: aspen, body: profileBody({ mode: "ADDE" }) });
    expectCancelled(driveDevice({ secondEnroll: adde }), "PROFILE-2");
    expect(driveDevice({ secondEnroll: adde }, { input: { ...deviceInput, requireModeMatchesVersion: false } }).value).toEqual({ enrolled: "idle" });
  });

  it("PROFILE-3 an invalid AssignedManagedAppleID cancels (machine)", () => {
    const original = xml(profileBody());
    const broken = original.replace("<string>alice@appleid.example.com</string>", "<string>not-an-account</string>");
    expect(broken).not.toBe(original);
    expectCancelled(driveDevice({ secondEnroll: answer(200, { headers: aspen, body: bytes(broken) }) }), "PROFILE-3");
  });

  it("PROFILE-4 a BYOD profile carrying AccessRights cancels (machine)", () => {
    const original = xml(profileBody({ mode: "ADDE", accessRights: 8191 }));
    const broken = withMode(original, "BYOD");
    expect(broken).toContain("<key>AccessRights</key>");
    expectCancelled(driveDevice({ secondEnroll: answer(200, { headers: aspen, body: bytes(broken) }) }), "PROFILE-4");
  });

  it("PROFILE-5 an answer that is not a Configuration profile cancels (machine)", () => {
    expectCancelled(driveDevice({ secondEnroll: answer(200, { headers: aspen, body: "not a profile" }) }), "PROFILE-5");
    const original = xml(profileBody());
    const orphan = original.replace(/(<key>IdentityCertificateUUID<\/key>\s*<string>)[^<]*(<\/string>)/, "$10000-NOT-A-PAYLOAD$2");
    expect(orphan).not.toBe(original);
    expectCancelled(driveDevice({ secondEnroll: answer(200, { headers: aspen, body: bytes(orphan) }) }), "PROFILE-5");
  });

  it("ACCOUNT-1 a failed Managed Apple Account sign-in cancels enrollment", () => {
    const profileRead = driveDevice({}, { maxSteps: 4 });
    expect(profileRead.value).toBe("managedAccountSignIn");
    expectCancelled(deviceDone(profileRead, "managedAccountSignIn", { ok: false }), "ACCOUNT-1");
    expectCancelled(deviceError(profileRead, "managedAccountSignIn", new Error("sign-in failed")), "ACCOUNT-1");
    expect(driveDevice({ managedAccountSignIn: { ok: false } }).context.cancelReason).toBe("ACCOUNT-1");
  });

  it("ACCOUNT-1 the sign-in is asked for the profile's AssignedManagedAppleID", async () => {
    const { actor, recorded } = recordingDevice({ overrides: { managedAccountSignIn: { ok: false } } });
    actor.start();
    actor.send({ type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
    const done = await waitFor(actor, settledOrIdle);
    actor.stop();
    expectCancelled(done, "ACCOUNT-1");
    expect(recorded.signInManagedAccount).toEqual([{ managedAppleId: "alice@appleid.example.com" }]);
  });
});

// --- Step 19 and ongoing authorization ---------------------------------------------------------------

describe("ongoing authorization", () => {
  it("ONGOING-1 every MDM request carries the access token, to CheckInURL or ServerURL by channel", async () => {
    const { actor, recorded } = recordingDevice();
    actor.start();
    actor.send({ type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
    await waitFor(actor, settledOrIdle);
    actor.send({ type: "SEND_MDM", request: checkInRequest });
    await waitFor(actor, (s) => s.matches({ enrolled: "idle" }) && s.context.lastMdmStatus !== null);
    const command: PendingMdmRequest = { channel: "command", messageType: "Idle", body: new Uint8Array([3]) };
    actor.send({ type: "SEND_MDM", request: command });
    await waitFor(actor, (s) => s.matches({ enrolled: "idle" }) && recorded.sendMdmRequest.length === 2);
    actor.stop();
    expect(recorded.sendMdmRequest).toEqual([
      { url: "https://mdm.example.com/mdm/checkin", request: checkInRequest, accessToken: "tok-1" },
      { url: "https://mdm.example.com/mdm/server", request: command, accessToken: "tok-1" },
    ]);
  });

  it("ONGOING-2 a 401 with a refresh token refreshes silently and retries with the new token", async () => {
    if (oauth2.method !== "apple-oauth2") throw new Error("the oauth2 fixture is an apple-oauth2 challenge");
    // Pure: sending → refreshing → sending → idle, never asking the person.
    let s = deviceSend(enrolled(oauth2), { type: "SEND_MDM", request: checkInRequest });
    s = deviceDone(s, "sending", unauthorized);
    expect(s.value).toEqual({ enrolled: "refreshing" });
    s = deviceDone(s, "refreshing", happyAnswers()["refreshing"]);
    expect(s.value).toEqual({ enrolled: "sending" });
    expect(s.context).toMatchObject({ accessToken: "at-2", refreshToken: "rt-2", retries: 1 });
    s = deviceDone(s, "sending", answer(200));
    expect(s.value).toEqual({ enrolled: "idle" });
    expect(s.context).toMatchObject({ pending: null, cancelReason: null, lastMdmStatus: 200 });

    // For real: the refresh request and the retried request's token.
    const { actor, recorded } = recordingDevice({ challenge: oauth2, overrides: { sending: [answer(200), unauthorized, answer(200)] } });
    actor.start();
    actor.send({ type: "SUBMIT_IDENTIFIER", identifier: "alice@example.com" });
    await waitFor(actor, settledOrIdle);
    actor.send({ type: "SEND_MDM", request: checkInRequest });
    await waitFor(actor, (s2) => s2.matches({ enrolled: "idle" }) && recorded.sendMdmRequest.length === 1);
    actor.send({ type: "SEND_MDM", request: checkInRequest });
    const done = await waitFor(actor, (s2) => s2.matches({ enrolled: "idle" }) && recorded.sendMdmRequest.length === 3);
    actor.stop();
    expect(recorded.sendMdmRequest.map((r) => r.accessToken)).toEqual(["at-1", "at-1", "at-2"]);
    expect(recorded.requestToken.map((r) => r.request)).toEqual([
      { grant_type: "authorization_code", code: "code-1", redirect_uri: oauth2["redirect-url"], client_id: oauth2["client-id"] },
      { grant_type: "refresh_token", refresh_token: "rt-1", client_id: oauth2["client-id"] },
    ]);
    expect(recorded.webAuthenticate).toHaveLength(1);
    expect(done.context.cancelReason).toBeNull();
  });

  it("ONGOING-3 without a refresh token the person signs in again with the stored challenge and the request is retried", () => {
    let s = deviceSend(enrolled(), { type: "SEND_MDM", request: checkInRequest });
    s = deviceDone(s, "sending", unauthorized);
    expect(s.value).toEqual({ authenticating: "simple" });
    expect(s.context.challenge).toEqual(asWeb);
    s = deviceDone(s, "simple", { kind: "callback", url: "apple-remotemanagement-user-login://authentication-results?access-token=tok-2" });
    expect(s.value).toEqual({ enrolled: "sending" });
    expect(s.context).toMatchObject({ accessToken: "tok-2", retries: 1, pending: checkInRequest });
    s = deviceDone(s, "sending", answer(200));
    expect(s.value).toEqual({ enrolled: "idle" });
    expect(s.context).toMatchObject({ pending: null, cancelReason: null });
  });

  it("ONGOING-3 a failed refresh falls back to signing in again; a second 401 gives the request up", () => {
    let s = deviceSend(enrolled(oauth2), { type: "SEND_MDM", request: checkInRequest });
    s = deviceDone(s, "sending", unauthorized);
    s = deviceDone(s, "refreshing", answer(400, { headers: json, body: { error: "invalid_grant" } }));
    expect(s.value).toEqual({ authenticating: { oauth2: "creatingState" } });
    expect(s.context.refreshToken).toBeNull();
    s = settle(s, happyAnswers(oauth2), ["sending"]);
    expect(s.value).toEqual({ enrolled: "sending" });
    expect(s.context.retries).toBe(1);
    // Still refused after re-authentication: given up, no loop, still enrolled.
    s = deviceDone(s, "sending", unauthorized);
    expect(s.value).toEqual({ enrolled: "idle" });
    expect(s.context).toMatchObject({ pending: null, cancelReason: "ONGOING-3" });
  });

  it("ONGOING-4 a CheckOut answered 401 is never retried, even with a refresh token", () => {
    for (const challenge of [asWeb, oauth2]) {
      let s = deviceSend(enrolled(challenge), { type: "SEND_MDM", request: checkOutRequest });
      s = deviceDone(s, "sending", unauthorized);
      expect(s.value).toEqual({ enrolled: "idle" });
      expect(activeInvokes(s)).toEqual([]);
      expect(s.context).toMatchObject({ pending: null, cancelReason: "ONGOING-4", lastMdmStatus: 401 });
    }
  });

  it("ONGOING-5 a 403 com.apple.unrecognized.device unenrolls; another 403 does not (machine)", () => {
    const sending = deviceSend(enrolled(), { type: "SEND_MDM", request: checkInRequest });
    const unenrolled = deviceDone(sending, "sending", answer(403, { headers: json, body: { code: "com.apple.unrecognized.device" } }));
    expect(unenrolled.value).toBe("unenrolled");
    expect(unenrolled.status).toBe("done");
    expect(unenrolled.context.cancelReason).toBe("ONGOING-5");
    const other = deviceDone(sending, "sending", answer(403, { headers: json, body: { code: "com.apple.well-known.failed" } }));
    expect(other.value).toEqual({ enrolled: "idle" });
    expect(other.context.cancelReason).toBeNull();
  });
});
