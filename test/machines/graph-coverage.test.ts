// Path coverage of both machines with @xstate/graph: the machine is traversed over a finite,
// explicit set of events per state (the person's events and good and bad actor answers), every
// edge of the traversal is replayed on a real actor whose inspection reports the transitions xstate
// actually took (including guarded alternatives, `always` transitions and invoke onDone/onError),
// and the test asserts that every state node was entered and every transition of the definition
// was taken. A transition no path takes is listed in the failure: it is unreachable with these
// events, or unreachable at all.
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, type AnyEventObject, type AnyMachineSnapshot, type AnyStateMachine, type AnyTransitionDefinition, type StateValue } from "xstate";
import { getAdjacencyMap, getShortestPaths, getStateNodes } from "@xstate/graph";
import { deviceMachine, serverMachine, type DeviceInput, type HttpAnswer } from "../../machines/index.ts";
import { activeInvokes, answer, answerFor, asWeb, deviceInput, happyAnswers, oauth2, profileBody, serverInput, type DeviceSnapshot, type ServerSnapshot } from "../support/drive.ts";
import { formatChallenge, parseEnrollmentProfile, type ConfigurationProfile } from "../../spec/index.ts";
import { buildPlist, parsePlist, type PlistValue } from "../../spec/plist.ts";
import { checkInFacts } from "../support/drive.ts";

// ---------------------------------------------------------------------------------------------
// The transitions a machine defines, and a key that names each

type AnyNode = AnyStateMachine["root"];

function allNodes(machine: AnyStateMachine): AnyNode[] {
  return [machine.root, ...getStateNodes(machine.root)];
}

/** Source, event (or `always`), which candidate of that source and event, targets and rule. */
function transitionKey(t: AnyTransitionDefinition): string {
  const source = t.source;
  const always = source.always ?? [];
  const isAlways = always.includes(t);
  const candidates = isAlways ? always : (source.transitions.get(t.eventType) ?? []);
  const targets = (t.target ?? []).map((n) => n.id).join(",") || "(no target)";
  const rule = (t.meta as { rule?: string } | undefined)?.rule;
  return `${source.id} --${isAlways ? "always" : t.eventType}#${candidates.indexOf(t)}--> ${targets}${rule === undefined ? "" : ` [${rule}]`}`;
}

function definedTransitions(machine: AnyStateMachine): Map<string, AnyTransitionDefinition> {
  const defined = new Map<string, AnyTransitionDefinition>();
  for (const node of allNodes(machine)) {
    for (const candidates of node.transitions.values()) for (const t of candidates) defined.set(transitionKey(t), t);
    for (const t of node.always ?? []) defined.set(transitionKey(t), t);
  }
  return defined;
}

/** The ids of the state nodes a state value is in (with their ancestors). */
function nodeIdsOf(rootId: string, value: StateValue, into: Set<string>): void {
  into.add(rootId);
  if (typeof value === "string") {
    into.add(`${rootId}.${value}`);
    return;
  }
  for (const [key, child] of Object.entries(value)) if (child !== undefined) nodeIdsOf(`${rootId}.${key}`, child, into);
}

// ---------------------------------------------------------------------------------------------
// Traversal and replay

interface Variant<TSnapshot extends AnyMachineSnapshot> {
  readonly name: string;
  readonly input: unknown;
  readonly events: (snapshot: TSnapshot) => AnyEventObject[];
  readonly serialize: (snapshot: TSnapshot) => string;
}

/** getAdjacencyMap's result, with plain string keys. */
type Adjacency<TSnapshot> = Record<string, { state: TSnapshot; transitions: Record<string, { event: AnyEventObject; state: TSnapshot }> }>;

interface Coverage {
  readonly taken: Set<string>;
  readonly reached: Set<string>;
  states: number;
  edges: number;
  paths: number;
}

/** The machine with actors that never settle: the replay answers them by hand, as the traversal does. */
function withInertActors(machine: AnyStateMachine): AnyStateMachine {
  const never = fromPromise(() => new Promise<never>(() => {}));
  const actors = Object.fromEntries(Object.keys(machine.implementations.actors).map((name) => [name, never]));
  return machine.provide({ actors } as never);
}

function cover<TSnapshot extends AnyMachineSnapshot>(machine: AnyStateMachine, variants: readonly Variant<TSnapshot>[]): Coverage {
  const inert = withInertActors(machine);
  const coverage: Coverage = { taken: new Set(), reached: new Set(), states: 0, edges: 0, paths: 0 };

  const replay = (input: unknown, events: readonly AnyEventObject[], expected: TSnapshot): void => {
    const actor = createActor(inert, {
      input,
      inspect: (inspection) => {
        if (inspection.type !== "@xstate.microstep" || inspection.actorRef !== actor) return;
        for (const t of inspection._transitions) coverage.taken.add(transitionKey(t));
        nodeIdsOf(machine.id, (inspection.snapshot as AnyMachineSnapshot).value, coverage.reached);
      },
    });
    actor.start();
    nodeIdsOf(machine.id, actor.getSnapshot().value, coverage.reached);
    for (const event of events) actor.send(event);
    // The replay on a running actor must land where the pure traversal said.
    expect({ value: actor.getSnapshot().value, status: actor.getSnapshot().status }).toEqual({ value: expected.value, status: expected.status });
    actor.stop();
    coverage.paths++;
  };

  for (const variant of variants) {
    const options = { input: variant.input, events: variant.events, serializeState: variant.serialize } as never;
    const adjacency = getAdjacencyMap(machine, options) as unknown as Adjacency<TSnapshot>;
    const shortest = getShortestPaths(machine, options) as unknown as { state: TSnapshot; steps: { event: AnyEventObject }[] }[];
    const pathTo = new Map(shortest.map((p) => [variant.serialize(p.state), p.steps.map((s) => s.event)]));
    for (const [key, { transitions }] of Object.entries(adjacency)) {
      coverage.states++;
      const prefix = pathTo.get(key);
      if (prefix === undefined) throw new Error(`no path to ${key}`);
      // Every edge out of every state: the path to the state, then the edge's event.
      for (const { event, state } of Object.values(transitions)) {
        coverage.edges++;
        replay(variant.input, [...prefix, event], state);
      }
    }
  }
  return coverage;
}

function report(name: string, machine: AnyStateMachine, coverage: Coverage): { unreachedNodes: string[]; untaken: string[] } {
  const nodes = allNodes(machine).map((n) => n.id);
  const defined = definedTransitions(machine);
  const unreachedNodes = nodes.filter((id) => !coverage.reached.has(id));
  const untaken = [...defined.keys()].filter((k) => !coverage.taken.has(k));
  const targeted = [...defined.entries()].filter(([, t]) => (t.target ?? []).length > 0);
  console.log(
    `${name}: ${nodes.length - unreachedNodes.length}/${nodes.length} state nodes reached; ` +
      `${defined.size - untaken.length}/${defined.size} transitions taken ` +
      `(${targeted.filter(([k]) => coverage.taken.has(k)).length}/${targeted.length} with a target); ` +
      `${coverage.states} states, ${coverage.edges} edges replayed`,
  );
  if (untaken.length > 0) console.log(`${name}: transitions no path takes:\n  ${untaken.join("\n  ")}`);
  return { unreachedNodes, untaken };
}

// ---------------------------------------------------------------------------------------------
// The device machine: its events

const json = { "content-type": "application/json" };
const aspen = { "content-type": "application/x-apple-aspen-config" };
const cb = "apple-remotemanagement-user-login";
const happy = happyAnswers(asWeb);

type Dict = { [key: string]: PlistValue };
const isDict = (v: PlistValue | undefined): v is Dict => typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
/** The harness BYOD profile with its com.apple.mdm payload edited. */
function editedProfile(edit: (mdm: Dict) => void): HttpAnswer {
  const parsed = parsePlist(profileBody());
  if (!parsed.ok || !isDict(parsed.value)) throw new Error("the harness profile must parse");
  const payloads = parsed.value["PayloadContent"];
  const mdm = Array.isArray(payloads) ? payloads.find((p) => isDict(p) && p["PayloadType"] === "com.apple.mdm") : undefined;
  if (!isDict(mdm)) throw new Error("the harness profile has a com.apple.mdm payload");
  edit(mdm);
  return answer(200, { headers: aspen, body: buildPlist(parsed.value) });
}

const challengeHeader = (value: string, extra: Record<string, string> = {}): HttpAnswer => answer(401, { headers: { "www-authenticate": value, ...extra } });

/** Good and bad answers for each invoke id of the device machine (an Error is an actor error). */
const devicePools: Readonly<Record<string, readonly unknown[]>> = {
  discovery: [
    happy["discovery"],
    answer(403, { headers: json, body: { code: "com.apple.well-known.failed", message: "Ask IT" } }),
    answer(404),
    answer(200, { headers: { "content-type": "text/html" }, body: "<html/>" }),
    answer(200, { headers: json, body: "{" }),
    answer(200, { headers: json, body: { Servers: [] } }),
    answer(200, { headers: json, body: { Servers: [{ Version: "mdm-future", BaseURL: "https://mdm.example.com/e" }] } }),
    new Error("offline"),
  ],
  firstEnroll: [
    challengeHeader(formatChallenge(asWeb)),
    challengeHeader(formatChallenge(oauth2)),
    challengeHeader(formatChallenge(asWeb), { "x-apple-mdm-esso": "https://mdm.example.com/esso" }),
    challengeHeader(formatChallenge(asWeb), { "x-apple-mdm-esso": "http://mdm.example.com/esso" }),
    answer(200),
    answer(403),
    answer(401),
    challengeHeader('Basic realm="mdm"'),
    challengeHeader('Bearer method="apple-as-web", url="ftp://mdm.example.com/a"'),
    challengeHeader('Bearer method="apple-oauth2", client-id="c"'),
    challengeHeader('Bearer method="apple-other"'),
    new Error("offline"),
  ],
  fetching: [happy["fetching"], answer(404), answer(200, { headers: json, body: { iTunesStoreID: 1 } }), new Error("offline")],
  consenting: [{ accepted: true }, { accepted: false }, new Error("dismissed")],
  simple: [
    happy["simple"],
    { kind: "cancelled" },
    { kind: "http-error", status: 500 },
    { kind: "callback", url: "https://mdm.example.com/?access-token=x" },
    { kind: "callback", url: `${cb}://authentication-results?other=1` },
    new Error("session failed"),
  ],
  creatingState: ["state-1", new Error("no randomness")],
  authorizing: [
    null, // the callback echoing the state the machine created
    { kind: "cancelled" },
    { kind: "http-error", status: 500 },
    { kind: "callback", url: `${cb}:/oauth2/redirection?code=c&state=not-the-one` },
    { kind: "callback", url: `${cb}:/oauth2/redirection?error=access_denied` },
    new Error("session failed"),
  ],
  exchanging: [
    happy["exchanging"],
    answer(200, { headers: json, body: { token_type: "Bearer", access_token: "at-1" } }),
    answer(400, { headers: json, body: { error: "invalid_grant" } }),
    new Error("offline"),
  ],
  secondEnroll: [
    happy["secondEnroll"],
    answer(401),
    answer(200, { headers: aspen, body: "not a plist" }),
    editedProfile((mdm) => void delete mdm["EnrollmentMode"]),
    answer(200, { headers: aspen, body: profileBody({ mode: "ADDE", accessRights: 8191 }) }),
    editedProfile((mdm) => void (mdm["AssignedManagedAppleID"] = "nobody")),
    editedProfile((mdm) => void (mdm["AccessRights"] = 1)),
    new Error("offline"),
  ],
  managedAccountSignIn: [{ ok: true }, { ok: false }, new Error("failed")],
  sending: [answer(200), answer(401), answer(403, { headers: json, body: { code: "com.apple.unrecognized.device" } }), answer(500), new Error("offline")],
  refreshing: [happy["refreshing"], answer(400, { headers: json, body: { error: "invalid_grant" } }), new Error("offline")],
};

const identifiers = ["alice@example.com", "alice", "@example.com", "alice@localhost"];
const mdmRequests = [
  { channel: "checkin" as const, messageType: "Authenticate", body: new Uint8Array([1]) },
  { channel: "checkin" as const, messageType: "CheckOut", body: new Uint8Array([2]) },
];

function deviceEvents(snapshot: DeviceSnapshot): AnyEventObject[] {
  // A done machine takes no more events (an actor stops); transition() would still run root transitions.
  if (snapshot.status !== "active") return [];
  const events: AnyEventObject[] = [{ type: "CANCEL" }];
  if (snapshot.matches("identifierEntry")) for (const identifier of identifiers) events.push({ type: "SUBMIT_IDENTIFIER", identifier });
  if (snapshot.matches({ enrolled: "idle" })) for (const request of mdmRequests) events.push({ type: "SEND_MDM", request });
  for (const id of activeInvokes(snapshot)) {
    for (const output of devicePools[id] ?? []) {
      if (output instanceof Error) events.push({ type: `xstate.error.actor.${id}`, error: output });
      else events.push({ type: `xstate.done.actor.${id}`, output: output === null ? answerFor(snapshot, id, { [id]: null }) : output });
    }
  }
  return events;
}

/** What the device's guards read, beyond its state: the rest of the context does not change where it can go. */
function serializeDevice(snapshot: DeviceSnapshot): string {
  const c = snapshot.context;
  return JSON.stringify({
    value: snapshot.value,
    status: snapshot.status,
    phase: c.phase,
    method: c.challenge?.method ?? null,
    refresh: c.refreshToken !== null,
    retries: c.retries,
    pending: c.pending?.messageType ?? null,
    identifierError: c.identifierError,
  });
}

// ---------------------------------------------------------------------------------------------
// The server machine: its events

const alice = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com" };
function profileNaming(managedAppleId: string): ConfigurationProfile {
  const parsed = parseEnrollmentProfile(profileBody({ managedAppleId }));
  if (!parsed.ok) throw new Error("the harness profile must parse");
  return parsed.value;
}
const aliceProfile = profileNaming(alice.managedAppleId);
const bobProfile = profileNaming("bob@appleid.example.com");

function serverEvents(snapshot: ServerSnapshot): AnyEventObject[] {
  const c = snapshot.context;
  const [busy] = activeInvokes(snapshot);
  // The generated server waits for the named actor before it handles the next request.
  if (busy === "verifyingCredentials") {
    return [
      { type: "xstate.done.actor.verifyingCredentials", output: { ok: true, ...alice } },
      { type: "xstate.done.actor.verifyingCredentials", output: { ok: false } },
      { type: "xstate.done.actor.verifyingCredentials", output: { ok: false, throttled: true } },
      { type: "xstate.error.actor.verifyingCredentials", error: new Error("directory down") },
    ];
  }
  if (busy === "buildingProfile") {
    return [
      { type: "xstate.done.actor.buildingProfile", output: { profile: c.managedAppleId === alice.managedAppleId ? aliceProfile : bobProfile } },
      // ONGOING-12: a profile with an identity the server issued pins it.
      { type: "xstate.done.actor.buildingProfile", output: { profile: c.managedAppleId === alice.managedAppleId ? aliceProfile : bobProfile, identityFingerprint: "fp-1" } },
      { type: "xstate.done.actor.buildingProfile", output: { profile: c.managedAppleId === alice.managedAppleId ? bobProfile : aliceProfile } },
      { type: "xstate.done.actor.buildingProfile", output: { profile: { PayloadType: "Configuration" } } },
      { type: "xstate.error.actor.buildingProfile", error: new Error("no SCEP") },
    ];
  }
  const current = { kind: "bearer", tokenHash: c.tokenHash ?? "h-none" } as const;
  const other = { kind: "bearer", tokenHash: "h-other" } as const;
  const device = serverInput.device;
  return [
    { type: "ENROLL", authorization: { kind: "missing" }, now: 10, device },
    { type: "ENROLL", authorization: { kind: "malformed" }, now: 10, device },
    { type: "ENROLL", authorization: current, now: 10, device },
    { type: "ENROLL", authorization: current, now: 1_000_000, device },
    { type: "ENROLL", authorization: other, now: 10, device },
    { type: "ENROLL", authorization: { kind: "missing" }, now: 10, device: { ...device, PRODUCT: "Mac14,2" } },
    { type: "ENROLL", authorization: current, now: 10, device: { ...device, PRODUCT: "Mac14,2" } },
    { type: "SIGN_IN_PAGE" },
    { type: "SIGN_IN", username: alice.userIdentifier, password: "pw", issuedToken: { hash: c.tokenHash === "h1" ? "h2" : "h1", expiresAt: 5_000 }, csrfValid: true },
    { type: "SIGN_IN", username: alice.userIdentifier, password: "pw", issuedToken: { hash: "h-forged", expiresAt: 5_000 }, csrfValid: false },
    { type: "SIGN_IN_CANCEL", csrfValid: true },
    { type: "SIGN_IN_CANCEL", csrfValid: false },
    { type: "CHECK_IN", authorization: current, now: 10, ...checkInFacts, messageType: "Authenticate", enrollmentId: "E-1" },
    { type: "CHECK_IN", authorization: current, now: 10, ...checkInFacts, messageType: "TokenUpdate", enrollmentId: "E-2" },
    { type: "CHECK_IN", authorization: other, now: 10, ...checkInFacts, messageType: "TokenUpdate", enrollmentId: "E-1" },
    { type: "CHECK_IN", authorization: { kind: "missing" }, now: 10, ...checkInFacts, messageType: "CheckOut", enrollmentId: "E-1" },
    // ONGOING-8: a stale token of this enrollment (the last retired one) checks out.
    { type: "CHECK_IN", authorization: { kind: "bearer", tokenHash: c.retiredTokenHashes[0] ?? c.tokenHash ?? "h-none" }, now: 10, ...checkInFacts, messageType: "CheckOut", enrollmentId: "E-1" },
    // ONGOING-12: a Mac's device channel, signed by the pinned identity, by another one, or unsigned.
    { type: "CHECK_IN", authorization: { kind: "missing" }, now: 10, ...checkInFacts, signature: { kind: "valid", signerFingerprint: "fp-1" }, messageType: "Authenticate", enrollmentId: "E-1" },
    { type: "CHECK_IN", authorization: { kind: "missing" }, now: 10, ...checkInFacts, signature: { kind: "valid", signerFingerprint: "fp-1" }, messageType: "CheckOut", enrollmentId: "E-1" },
    { type: "CHECK_IN", authorization: { kind: "missing" }, now: 10, ...checkInFacts, signature: { kind: "valid", signerFingerprint: "fp-2" }, messageType: "Authenticate", enrollmentId: "E-1" },
    // ONGOING-13: SignMessage on.
    { type: "CHECK_IN", authorization: current, now: 10, ...checkInFacts, signatureRequired: true, signature: { kind: "valid", signerFingerprint: "fp-1" }, messageType: "TokenUpdate", enrollmentId: "E-1" },
    { type: "CHECK_IN", authorization: current, now: 10, ...checkInFacts, signatureRequired: true, messageType: "TokenUpdate", enrollmentId: "E-1" },
    { type: "TOKEN_INVALIDATED" },
    // ONGOING-11: invalidating a token the enrollment no longer has changes nothing.
    { type: "TOKEN_INVALIDATED", tokenHash: "h-other" },
    // OAUTH-14: a refresh from the family of the current token, and from a stale one.
    { type: "TOKEN_REFRESHED", issuedToken: { hash: c.tokenHash === "h1" ? "h2" : "h1", expiresAt: 5_000 }, previousTokenHash: c.tokenHash ?? "h-none" },
    { type: "TOKEN_REFRESHED", issuedToken: { hash: "h1", expiresAt: 5_000 }, previousTokenHash: "h-other" },
    { type: "UNENROLL" },
  ];
}

function serializeServer(snapshot: ServerSnapshot): string {
  const c = snapshot.context;
  return JSON.stringify({ value: snapshot.value, token: c.tokenHash, expires: c.tokenExpiresAt, pending: c.pendingToken?.hash ?? null, enrollmentId: c.enrollmentId, user: c.userIdentifier, apple: c.managedAppleId, mac: c.device.PRODUCT, identity: c.identityFingerprint, hasProfile: c.hasProfile });
}

// ---------------------------------------------------------------------------------------------

describe("graph coverage: every state node is entered and every transition is taken by some path", () => {
  it("device machine (iPhone, and a Mac for ESSO-4)", () => {
    const variants: Variant<DeviceSnapshot>[] = [
      { name: "iPhone", input: deviceInput, events: deviceEvents, serialize: serializeDevice },
      { name: "Mac", input: { ...deviceInput, modelFamily: "Mac" } satisfies DeviceInput, events: deviceEvents, serialize: serializeDevice },
    ];
    const coverage = cover(deviceMachine, variants);
    const { unreachedNodes, untaken } = report("device", deviceMachine, coverage);
    expect(unreachedNodes).toEqual([]);
    expect(untaken).toEqual([]);
  });

  it("server machine", () => {
    const coverage = cover(serverMachine, [{ name: "server", input: serverInput, events: serverEvents, serialize: serializeServer }]);
    const { unreachedNodes, untaken } = report("server", serverMachine, coverage);
    expect(unreachedNodes).toEqual([]);
    expect(untaken).toEqual([]);
  });

  it("the coverage check can fail: a transition the events never trigger is reported", () => {
    // Without SEND_MDM the ongoing transitions are never taken, and the check says so.
    const coverage = cover(deviceMachine, [
      { name: "no SEND_MDM", input: deviceInput, events: (s) => deviceEvents(s).filter((e) => e.type !== "SEND_MDM"), serialize: serializeDevice },
    ]);
    const untaken = [...definedTransitions(deviceMachine).keys()].filter((k) => !coverage.taken.has(k));
    expect(untaken.some((k) => k.includes("SEND_MDM"))).toBe(true);
    expect(coverage.reached.has("device.enrolled.sending")).toBe(false);
  });
});
