// The check's device: the device machine (machines/device.machine.ts) with the runtime's actors,
// over the recorder, so that the whole enrollment is played as a device plays it and each answer
// that mattered is kept with the exchange that carried it. The web sign-in is the check's own
// (runtime/check/sign-in.ts: any server's page), or a token a person pasted (--token).
import { createActor, fromPromise, waitFor } from "xstate";
import * as client from "../../generated/client.generated.ts";
import type { Fetch } from "../../generated/client.generated.ts";
import { deviceMachine, type HttpAnswer, type WebAuthOutcome, type DeviceContext } from "../../machines/index.ts";
import { buildAuthenticationResultUrl, wellKnownPath, type ModelFamily, type TokenRequest } from "../../spec/index.ts";
import { deviceActors } from "../device.ts";
import type { Recorder } from "./recorder.ts";
import { signIn, type SignInOutcome } from "./sign-in.ts";

export interface Captured<T> {
  readonly value: T;
  /** The exchanges that carried it. */
  readonly exchanges: readonly number[];
}

export interface FlowOptions {
  readonly recorder: Recorder;
  readonly user: string;
  readonly password: string;
  readonly modelFamily: ModelFamily;
  readonly enrollBody: Uint8Array;
  /** Where the well-known request goes instead of https://<domain>/… (an origin gets the well-known path). */
  readonly discoveryUrl?: string;
  readonly browser: "never" | "auto" | "always";
  readonly chromiumPath?: string;
  /** An access token a person obtained by hand: the web sign-in is skipped. */
  readonly token?: string;
}

export interface FlowResult {
  readonly context: DeviceContext;
  /** enrolled, or cancelled by a rule (the device's verdict). */
  readonly verdict: { readonly enrolled: boolean; readonly rule: string | null; readonly text: string };
  readonly discovery?: Captured<HttpAnswer>;
  readonly firstEnroll?: Captured<HttpAnswer>;
  readonly signIn?: Captured<SignInOutcome>;
  readonly tokenRequest?: Captured<{ readonly request: TokenRequest; readonly tokenUrl: string; readonly answer: HttpAnswer }>;
  readonly secondEnroll?: Captured<HttpAnswer>;
  /** The access token that the second enroll carried (the callback's, or the token answer's). */
  readonly accessToken: string | null;
}

/** The check's fetch for the device: the well-known request goes where --server / discovery says. */
export function discoveryFetch(send: Fetch, user: string, discoveryUrl: string | undefined): Fetch {
  const domain = user.slice(user.lastIndexOf("@") + 1).toLowerCase();
  return (request) => {
    const url = new URL(request.url);
    if (discoveryUrl === undefined || url.origin !== `https://${domain}` || url.pathname !== wellKnownPath) return send(request);
    const target = new URL(discoveryUrl);
    if (target.pathname === "/" || target.pathname === "") target.pathname = wellKnownPath;
    for (const [key, value] of url.searchParams) target.searchParams.set(key, value);
    return send(new Request(target, request));
  };
}

export async function runDeviceFlow(options: FlowOptions): Promise<FlowResult> {
  const { recorder } = options;
  let label = "device: discovery";
  const send: Fetch = discoveryFetch((request) => recorder.send(label, request), options.user, options.discoveryUrl);
  const captured: {
    discovery?: Captured<HttpAnswer>;
    firstEnroll?: Captured<HttpAnswer>;
    signIn?: Captured<SignInOutcome>;
    tokenRequest?: Captured<{ request: TokenRequest; tokenUrl: string; answer: HttpAnswer }>;
    secondEnroll?: Captured<HttpAnswer>;
  } = {};
  const base = deviceActors({ fetch: send, person: { onPage: () => ({ kind: "cancel" }) } });
  const actors = {
    ...base,
    discover: fromPromise<HttpAnswer, { url: string }>(async ({ input }) => {
      label = "device: discovery (steps 2–3)";
      const from = recorder.nextId;
      const url = new URL(input.url);
      const answer = await client.wellKnown(send, {
        origin: url.origin,
        query: { "user-identifier": url.searchParams.get("user-identifier") ?? "", "model-family": options.modelFamily },
      });
      captured.discovery = { value: answer, exchanges: recorder.since(from) };
      return answer;
    }),
    enroll: fromPromise<HttpAnswer, { baseUrl: string; body: Uint8Array; accessToken: string | null }>(async ({ input }) => {
      const first = input.accessToken === null;
      label = first ? "device: first enroll (step 4)" : "device: second enroll, with the token (step 12)";
      const from = recorder.nextId;
      const answer = await client.enroll(send, { url: input.baseUrl, body: input.body, accessToken: input.accessToken });
      const value = { value: answer, exchanges: recorder.since(from) };
      if (first) captured.firstEnroll ??= value;
      else captured.secondEnroll ??= value;
      return answer;
    }),
    webAuthenticate: fromPromise<WebAuthOutcome, { url: string; callbackScheme: string; userIdentifier: string }>(async ({ input }) => {
      const from = recorder.nextId;
      let outcome: SignInOutcome;
      if (options.token !== undefined) {
        // The person signed in by hand: the callback the session would have reached (OAuth 2: a stand-in
        // code with the request's state; the token answer is the pasted token, below).
        const state = new URL(input.url).searchParams.get("state") ?? "";
        const oauthCallback = `${input.callbackScheme}:/pasted-by-a-person?code=pasted&state=${encodeURIComponent(state)}`;
        outcome = { kind: "callback", url: input.callbackScheme === "apple-remotemanagement-user-login" && state === "" ? buildAuthenticationResultUrl(options.token) : oauthCallback };
      } else {
        outcome = await signIn({
          recorder,
          label: "device: web sign-in (steps 6–11)",
          startUrl: input.url,
          callbackScheme: input.callbackScheme,
          username: options.user,
          password: options.password,
          browser: options.browser,
          ...(options.chromiumPath === undefined ? {} : { chromiumPath: options.chromiumPath }),
        });
      }
      captured.signIn ??= { value: outcome, exchanges: recorder.since(from) };
      if (outcome.kind === "callback") return { kind: "callback", url: outcome.url };
      if (outcome.kind === "http-error") return { kind: "http-error", status: outcome.status };
      return { kind: "cancelled" };
    }),
    requestToken: fromPromise<HttpAnswer, { tokenUrl: string; request: TokenRequest }>(async ({ input }) => {
      label = "device: token request (OAuth 2)";
      const from = recorder.nextId;
      // A pasted token stands in for the token answer (the person did the OAuth 2 dance by hand).
      const answer: HttpAnswer =
        options.token !== undefined
          ? { status: 200, headers: { "content-type": "application/json" }, body: new TextEncoder().encode(JSON.stringify({ access_token: options.token, token_type: "Bearer" })) }
          : await client.oauth2Token(send, { url: input.tokenUrl, form: input.request });
      captured.tokenRequest ??= { value: { request: input.request, tokenUrl: input.tokenUrl, answer }, exchanges: recorder.since(from) };
      return answer;
    }),
  };
  const actor = createActor(deviceMachine.provide({ actors }), {
    input: { modelFamily: options.modelFamily, enrollBody: options.enrollBody },
  });
  actor.start();
  actor.send({ type: "SUBMIT_IDENTIFIER", identifier: options.user });
  const done = await waitFor(actor, (s) => s.status === "done" || s.matches("enrolled") || s.matches("identifierEntry"), { timeout: 120_000 });
  actor.stop();
  const { context } = done;
  const enrolled = done.matches("enrolled");
  const rule = enrolled ? null : (context.cancelReason ?? context.identifierError ?? context.breach?.ruleId ?? null);
  const why = [context.breach?.message, context.failureMessage].filter((m): m is string => typeof m === "string" && m !== "").join(" — ");
  const text = enrolled
    ? "a device following the protocol enrolled"
    : `a device following the protocol stopped: ${done.matches("identifierEntry") ? "the identifier was refused" : "cancelled"} by rule ${rule ?? "?"}${why === "" ? "" : ` (${why})`}`;
  // The token the second enroll carried: the machine keeps it once sign-in (or the token answer) gave it.
  return { context, verdict: { enrolled, rule, text }, ...captured, accessToken: context.accessToken };
}
