// Enrollment SSO end to end, in process: a server whose organization has enrollmentSso announces
// its document on the first enroll's 401 (X-Apple-MDM-ESSO, or -Developer), serves it and its
// profile, and the device machine fetches it, asks the person, and enrolls (or cancels).
import { describe, expect, it } from "vitest";
import { createServer } from "../../generated/server.generated.ts";
import type { Fetch } from "../../generated/client.generated.ts";
import type { ServerContext } from "../../machines/index.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { Directory } from "../../runtime/directory.ts";
import { signInPerson } from "../../runtime/person.ts";
import { createServerHost, essoUuid, enrollmentUuid, organizationSlugFromName, type OrganizationRoute, type ServerOptions } from "../../runtime/server-host.ts";
import {
  checkEnrollmentSsoDocument,
  essoDeveloperHeader,
  essoHeader,
  parsePlist,
  type EnrollmentSsoDocument,
  type EnrollmentSsoSettings,
} from "../../spec/index.ts";
import { alice, bob, realEnrollBody, seededRandom, testServer } from "../support/fixtures.ts";
import { validateAgainstAppleSchema } from "../support/apple-yaml.ts";
import { serverStart } from "../support/drive.ts";

const origin = "https://mdm.example.com";

const standardSso: EnrollmentSsoSettings = {
  iTunesStoreID: 1234567890,
  associatedDomains: ["authsrv:login.example.com"],
  extension: { identifier: "com.example.sso.extension", teamIdentifier: "ABCDE12345", type: "Redirect", urls: ["https://login.example.com/sso"] },
  certificates: [{ kind: "root", data: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), name: "Example Root CA" }],
  declarations: true,
};
const developerSso: EnrollmentSsoSettings = {
  developer: true,
  appIds: ["ABCDE12345.com.example.sso"],
  extension: { identifier: "com.example.sso.extension", type: "Credential", hosts: [".example.com"] },
};

/** alice's organization (example.com) with Enrollment SSO; bob's (corp.example) without. */
function organizations(sso: EnrollmentSsoSettings): readonly OrganizationRoute[] {
  return [
    { name: "Example Corp", domains: { "example.com": "mdm-byod" }, enrollmentSso: sso },
    { name: "Corp", domains: { "corp.example": "mdm-byod" } },
  ];
}

interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** The server's fetch, with every exchange kept. */
function recording(fetch: Fetch): { readonly fetch: Fetch; readonly exchanges: Exchange[] } {
  const exchanges: Exchange[] = [];
  return {
    exchanges,
    async fetch(request) {
      const response = await fetch(request);
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      exchanges.push({ method: request.method, url: request.url, status: response.status, headers });
      return response;
    },
  };
}

/** A person who signs in, and answers the Enrollment SSO consent with `consents` (keeping what was shown). */
function person(consents: boolean, user = alice) {
  const shown: EnrollmentSsoDocument[] = [];
  return {
    shown,
    ...signInPerson({ username: user.userIdentifier, password: user.password }),
    consentToSso(document: EnrollmentSsoDocument) {
      shown.push(document);
      return consents;
    },
  };
}

const base64Bytes = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/** A document as Apple's YAML types it: its <data> values as bytes. */
function asPlistValue(document: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...document };
  if (typeof document["ConfigurationProfile"] === "string") out["ConfigurationProfile"] = base64Bytes(document["ConfigurationProfile"]);
  const declarations = document["Declarations"];
  if (Array.isArray(declarations)) out["Declarations"] = declarations.map((d: unknown) => (typeof d === "string" ? base64Bytes(d) : d));
  return out;
}

async function getJson(fetch: Fetch, url: string): Promise<{ status: number; contentType: string | null; body: Record<string, unknown> }> {
  const response = await fetch(new Request(url));
  const body: unknown = await response.json();
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("not a JSON object");
  return { status: response.status, contentType: response.headers.get("content-type"), body: { ...body } };
}

describe("Enrollment SSO, end to end", () => {
  it("ESSO-5 the first 401 announces the organization's document; the device fetches it, the person consents, and enrollment completes", async () => {
    const server = await testServer({ domains: {}, organizations: organizations(standardSso) });
    const wire = recording(server.fetch);
    const someone = person(true);
    const steps: string[] = [];
    const done = await enrollDevice(
      { identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: wire.fetch, person: someone, onStep: (s) => steps.push(JSON.stringify(s.value)) },
    );
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(done.context.cancelReason).toBeNull();
    // The BaseURL names the organization: nobody has signed in at the first 401.
    expect(done.context.server).toEqual({ version: "mdm-byod", baseUrl: `${origin}/enroll/mdm-byod/example-corp` });
    const [firstEnroll, secondEnroll] = wire.exchanges.filter((e) => e.method === "POST" && e.url.includes("/enroll/"));
    expect(firstEnroll?.status).toBe(401);
    expect(firstEnroll?.headers[essoHeader.toLowerCase()]).toBe(`${origin}/esso/example-corp`);
    expect(firstEnroll?.headers[essoDeveloperHeader.toLowerCase()]).toBeUndefined();
    expect(secondEnroll?.status).toBe(200);
    // The device GETs the document before the sign-in, and shows it to the person.
    const fetched = wire.exchanges.filter((e) => e.url === `${origin}/esso/example-corp`);
    expect(fetched.map((e) => [e.method, e.status, e.headers["content-type"]])).toEqual([["GET", 200, "application/json"]]);
    const served = await getJson(server.fetch, `${origin}/esso/example-corp`);
    expect(someone.shown).toEqual([served.body]);
    expect(done.context.essoDocument).toEqual(served.body);
    expect(steps.indexOf('{"enrollmentSso":"consenting"}')).toBeGreaterThan(-1);
    expect(steps.indexOf('{"enrollmentSso":"consenting"}')).toBeLessThan(steps.indexOf('{"authenticating":"simple"}'));
    expect(someone.pagesSeen).toHaveLength(1);
  });

  it("ESSO-5 GET /esso/<org> is 200 application/json with a document valid against Apple's YAML; /esso/<org>/profile serves its profile byte for byte", async () => {
    const server = await testServer({ domains: {}, organizations: organizations(standardSso) });
    const { status, contentType, body } = await getJson(server.fetch, `${origin}/esso/example-corp`);
    expect([status, contentType]).toEqual([200, "application/json"]);
    expect(body).toMatchObject({ iTunesStoreID: 1234567890, AssociatedDomains: ["authsrv:login.example.com"] });
    expect(body).not.toHaveProperty("AppIDs");
    expect(checkEnrollmentSsoDocument(body, "standard")).toEqual([]);
    expect(validateAgainstAppleSchema(asPlistValue(body), "other/esso.yaml", { os: "iOS" })).toEqual([]);
    // The legacy declaration names the profile URL, which serves the document's profile itself.
    const declarations = Array.isArray(body["Declarations"]) ? body["Declarations"].map((d: unknown) => JSON.parse(atob(String(d)))) : [];
    const legacy = declarations.find((d) => d.Type === "com.apple.configuration.legacy");
    expect(legacy?.Payload).toEqual({ ProfileURL: `${origin}/esso/example-corp/profile` });
    expect(declarations.find((d) => d.Type === "com.apple.configuration.app.managed")?.Payload).toEqual({ AppStoreID: "1234567890" });
    const profile = await server.fetch(new Request(`${origin}/esso/example-corp/profile`));
    expect([profile.status, profile.headers.get("content-type")]).toEqual([200, "application/x-apple-aspen-config"]);
    const bytes = new Uint8Array(await profile.arrayBuffer());
    expect(bytes).toEqual(base64Bytes(String(body["ConfigurationProfile"])));
    const parsed = parsePlist(bytes);
    expect(parsed.ok && parsed.value).toMatchObject({ PayloadType: "Configuration", PayloadIdentifier: "com.example.mdm.esso" });
    // Stable across restarts: the payload UUIDs derive from the organization, not from randomness.
    expect(new TextDecoder().decode(bytes)).toContain(essoUuid("example-corp", "extension"));
    expect(essoUuid("example-corp", "extension")).toBe(await enrollmentUuid("esso/example-corp", "extension"));
    // Unknown organizations, and names no organization could have.
    for (const path of ["/esso/corp", "/esso/nobody", "/esso/NOT_A_SLUG", "/esso/corp/profile"]) {
      const answer = await server.fetch(new Request(`${origin}${path}`));
      expect([path, answer.status, answer.headers.get("content-type")]).toEqual([path, 404, "application/problem+json"]);
    }
  });

  it("ESSO-3 a person who declines Enrollment SSO cancels the enrollment before any sign-in", async () => {
    const server = await testServer({ domains: {}, organizations: organizations(standardSso) });
    const someone = person(false);
    const done = await enrollDevice({ identifier: alice.userIdentifier, modelFamily: "iPad", enrollBody: realEnrollBody }, { fetch: server.fetch, person: someone });
    expect(done.value).toBe("cancelled");
    expect(done.context.cancelReason).toBe("ESSO-3");
    expect(someone.shown).toHaveLength(1);
    expect(someone.pagesSeen).toEqual([]);
  });

  it("ESSO-5 the developer document: X-Apple-MDM-ESSO-Developer and AppIDs; a device without the developer setting ignores it and enrolls", async () => {
    const server = await testServer({ domains: {}, organizations: organizations(developerSso) });
    const wire = recording(server.fetch);
    const someone = person(true);
    const done = await enrollDevice({ identifier: alice.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: wire.fetch, person: someone });
    const firstEnroll = wire.exchanges.find((e) => e.method === "POST");
    expect(firstEnroll?.headers[essoDeveloperHeader.toLowerCase()]).toBe(`${origin}/esso/example-corp`);
    expect(firstEnroll?.headers[essoHeader.toLowerCase()]).toBeUndefined();
    // The developer header is honoured only with the device's developer setting on: this device goes on.
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(someone.shown).toEqual([]);
    expect(wire.exchanges.some((e) => e.url.includes("/esso/"))).toBe(false);
    const { status, body } = await getJson(server.fetch, `${origin}/esso/example-corp`);
    expect(status).toBe(200);
    expect(body["AppIDs"]).toEqual(["ABCDE12345.com.example.sso"]);
    expect(checkEnrollmentSsoDocument(body, "developer")).toEqual([]);
    expect(validateAgainstAppleSchema(asPlistValue(body), "other/esso.yaml", { os: "iOS" })).toEqual([]);
  });

  it("ESSO-4 a Mac ignores X-Apple-MDM-ESSO: it never fetches the document, and enrolls", async () => {
    const server = await testServer({ domains: {}, organizations: organizations(standardSso) });
    const wire = recording(server.fetch);
    const someone = person(false);
    const done = await enrollDevice({ identifier: alice.userIdentifier, modelFamily: "Mac", enrollBody: realEnrollBody }, { fetch: wire.fetch, person: someone });
    expect(wire.exchanges.find((e) => e.method === "POST")?.headers[essoHeader.toLowerCase()]).toBe(`${origin}/esso/example-corp`);
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(someone.shown).toEqual([]);
    expect(wire.exchanges.some((e) => e.url.includes("/esso/"))).toBe(false);
  });

  it("ESSO-5 an organization without enrollmentSso keeps its plain BaseURL and 401", async () => {
    const server = await testServer({ domains: {}, organizations: organizations(standardSso) });
    const wire = recording(server.fetch);
    const someone = person(true, bob);
    const done = await enrollDevice({ identifier: bob.userIdentifier, modelFamily: "iPhone", enrollBody: realEnrollBody }, { fetch: wire.fetch, person: someone });
    expect(done.value).toEqual({ enrolled: "idle" });
    expect(done.context.server?.baseUrl).toBe(`${origin}/enroll/mdm-adde`);
    const firstEnroll = wire.exchanges.find((e) => e.method === "POST");
    expect(firstEnroll?.status).toBe(401);
    expect(Object.keys(firstEnroll?.headers ?? {}).filter((h) => h.startsWith("x-apple-mdm-esso"))).toEqual([]);
    expect(someone.shown).toEqual([]);
  });
});

describe("Enrollment SSO on the host", () => {
  const options = async (orgs: readonly OrganizationRoute[], publicBaseUrl = origin): Promise<ServerOptions> => ({
    publicBaseUrl,
    organizationName: "Example Corp",
    organizations: orgs,
    directory: await Directory.create([alice], seededRandom(3), 1_000),
    profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", identity: { kind: "scep", url: "https://mdm.example.com/scep" } },
  });
  // A new enrollment's context, as the machine starts it, with what the test changes.
  const context = (overrides: Partial<ServerContext>): ServerContext => ({ ...serverStart().context, ...overrides });

  it("ESSO-5 announces the document while enrolling: the signed-in user's organization first, else the one the enroll URL names; never once enrolled", async () => {
    const host = createServerHost(await options(organizations(standardSso)));
    const url = `${origin}/esso/example-corp`;
    expect(host.challengeFor(context({}), { organization: "example-corp" }).essoUrl).toBe(url);
    expect(host.challengeFor(context({}), { organization: null }).essoUrl).toBeUndefined();
    expect(host.challengeFor(context({}), { organization: "corp" }).essoUrl).toBeUndefined();
    expect(host.challengeFor(context({})).essoUrl).toBeUndefined();
    // Once someone signed in, their organization decides, whatever the URL said.
    expect(host.challengeFor(context({ userIdentifier: alice.userIdentifier }), { organization: null }).essoUrl).toBe(url);
    expect(host.challengeFor(context({ userIdentifier: "carol@corp.example" }), { organization: "example-corp" }).essoUrl).toBeUndefined();
    // A re-authentication after enrollment gets the plain challenge.
    expect(host.challengeFor(context({ userIdentifier: alice.userIdentifier, hasProfile: true })).essoUrl).toBeUndefined();
    expect(host.challengeFor(context({ userIdentifier: alice.userIdentifier, enrollmentId: "E1" })).essoUrl).toBeUndefined();
    expect(host.challengeFor(context({}), { organization: "example-corp" }).essoDeveloper).toBeUndefined();
    const developer = createServerHost(await options(organizations(developerSso)));
    expect(developer.challengeFor(context({}), { organization: "example-corp" })).toMatchObject({ essoUrl: url, essoDeveloper: true });
    // The generated server puts the developer URL under the developer header.
    const answer = await createServer(developer).request(new Request(`${origin}/enroll/mdm-byod/example-corp`, { method: "POST", body: realEnrollBody }));
    expect(answer.status).toBe(401);
    expect([answer.headers.get(essoDeveloperHeader), answer.headers.get(essoHeader)]).toEqual([url, null]);
  });

  it("ESSO-5 a host does not start with an Enrollment SSO it cannot build, or name in URLs", async () => {
    const refusals: [string, readonly OrganizationRoute[], string, RegExp][] = [
      ["AppIDs in the standard document", [{ name: "Example Corp", domains: {}, enrollmentSso: { ...standardSso, appIds: ["ABCDE12345.com.example.sso"] } }], origin, /ESSO-5: appIds: AppIDs appear only in the developer document/],
      ["Redirect without URLs", [{ name: "Example Corp", domains: {}, enrollmentSso: { ...standardSso, extension: { identifier: "com.example.sso", type: "Redirect" } } }], origin, /extension\.urls: required/],
      ["an http base URL", [{ name: "Example Corp", domains: {}, enrollmentSso: standardSso }], "http://127.0.0.1:8080", /needs an https public base URL/],
      ["a name with no URL name", [{ name: "株式会社", domains: {}, enrollmentSso: standardSso }], origin, /give the organization a slug/],
      [
        "two organizations with one slug",
        [
          { name: "Example Corp", domains: {}, enrollmentSso: standardSso },
          { name: "Example  Corp!", domains: {}, enrollmentSso: standardSso },
        ],
        origin,
        /the slug "example-corp" is another organization's too/,
      ],
    ];
    for (const [what, orgs, base, message] of refusals) {
      const refused = await options(orgs, base);
      expect(() => createServerHost(refused), what).toThrow(message);
    }
    expect(organizationSlugFromName("Ünïcode Société Générale")).toBe("unicode-societe-generale");
    // A slug of its own resolves a clash.
    const host = createServerHost(await options([{ name: "Example Corp", domains: {}, enrollmentSso: standardSso }, { name: "Example Corp", slug: "example-2", domains: {}, enrollmentSso: developerSso }]));
    expect((await host.enrollmentSso?.("example-2"))?.document).toHaveProperty("AppIDs");
  });
});
