// organizations[].enrollmentSso in the configuration file: read (certificates from PEM files),
// checked at load by building the document (ESSO-5) with the path of every bad key, and served by
// the product app as `adenroll serve` builds it.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createAdenroll } from "../../runtime/app.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../../runtime/config.ts";
import { enrollDevice } from "../../runtime/device.ts";
import { signInPerson } from "../../runtime/person.ts";
import { openStorage } from "../../runtime/storage/open-storage.ts";
import { checkEnrollmentSsoDocument, essoHeader, parsePlist } from "../../spec/index.ts";
import { realEnrollBody } from "../support/fixtures.ts";

const scratch = mkdtempSync(path.join(tmpdir(), "adenroll-esso-config-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
// Three certificates in one PEM file.
copyFileSync(fileURLToPath(new URL("../fixtures/apple-iphone-device-ca-fullchain.pem", import.meta.url)), path.join(scratch, "sso-chain.pem"));
writeFileSync(path.join(scratch, "not-a-certificate.pem"), "hello\n");

const cheap = { scryptCost: 1_000 } as const;
const password = "correct horse battery staple";

const yaml = `
publicBaseUrl: https://mdm.example.com
organizations:
  - name: Example Corp
    domains: { example.com: mdm-byod }
    enrollmentSso:
      iTunesStoreID: 1234567890
      associatedDomains: [authsrv:login.example.com]
      extension:
        identifier: com.example.sso.extension
        teamIdentifier: ABCDE12345
        type: Redirect
        urls: [https://login.example.com/sso]
        extensionData: { tenant: example, retries: 3, nested: { on: true } }
      certificates: [sso-chain.pem]
      declarations: true
users:
  - { userIdentifier: alice@example.com, managedAppleId: alice@appleid.example.com, password: "${password}" }
profile:
  identifierPrefix: com.example.mdm
  topic: com.apple.mgmt.External.1b2c3d4e-0000-4000-8000-000000000001
  identity: { kind: scep, url: "https://scep.example.com/scep" }
`;

/** An organization with an Enrollment SSO. */
function organization(sso: Record<string, unknown> = {}, org: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "Example Corp",
    domains: { "example.com": "mdm-byod" },
    enrollmentSso: { iTunesStoreID: 1234567890, extension: { identifier: "com.example.sso.extension", type: "Redirect", urls: ["https://login.example.com"] }, ...sso },
    ...org,
  };
}

/** A minimal valid configuration with an Enrollment SSO, to break one key at a time. */
function base(sso: Record<string, unknown> = {}, org: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    publicBaseUrl: "https://mdm.example.com",
    organizations: [organization(sso, org)],
    profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", identity: { kind: "scep", url: "https://scep.example.com/scep" } },
  };
}

async function issues(raw: unknown): Promise<{ path: string; message: string }[]> {
  try {
    await parseConfig(raw, { baseDir: scratch, ...cheap });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => ({ path: i.path, message: i.message }));
    throw error;
  }
  throw new Error("the configuration was accepted");
}

describe("organizations[].enrollmentSso", () => {
  it("ESSO-5 loads from a file, and the server built from it announces, serves and completes Enrollment SSO", async () => {
    const file = path.join(scratch, "esso.yaml");
    writeFileSync(file, yaml);
    const config = await loadConfigFile(file, cheap);
    const sso = config.organizations[0]?.enrollmentSso;
    expect(sso).toMatchObject({ developer: false, iTunesStoreID: 1234567890, declarations: true, extension: { type: "Redirect", teamIdentifier: "ABCDE12345" } });
    expect(sso?.certificates?.map((c) => [c.kind, c.name])).toEqual([
      ["root", "Apple iPhone Device CA"],
      ["root", "Apple iPhone Certification Authority"],
      ["root", "Apple Root CA"],
    ]);

    const storage = await openStorage({ memory: true });
    try {
      const app = await createAdenroll(config, { storage, scryptCost: 1_000 });
      const document = await (await app.fetch(new Request("https://mdm.example.com/esso/example-corp"))).json();
      expect(checkEnrollmentSsoDocument(document, "standard")).toEqual([]);
      const profile = parsePlist(Uint8Array.from(atob(document.ConfigurationProfile), (c) => c.charCodeAt(0)));
      const payloads = profile.ok && typeof profile.value === "object" && "PayloadContent" in profile.value && Array.isArray(profile.value.PayloadContent) ? profile.value.PayloadContent : [];
      expect(payloads.map((p) => (typeof p === "object" && !Array.isArray(p) && "PayloadType" in p ? p.PayloadType : null))).toEqual([
        "com.apple.security.root",
        "com.apple.security.root",
        "com.apple.security.root",
        "com.apple.extensiblesso",
      ]);
      expect(payloads[3]).toMatchObject({ ExtensionData: { tenant: "example", retries: 3, nested: { on: true } } });

      const first: string[] = [];
      const shown: unknown[] = [];
      const done = await enrollDevice(
        { identifier: "alice@example.com", modelFamily: "iPhone", enrollBody: realEnrollBody },
        {
          async fetch(request) {
            const response = await app.fetch(request);
            if (request.method === "POST" && response.status === 401) first.push(response.headers.get(essoHeader) ?? "none");
            return response;
          },
          person: { ...signInPerson({ username: "alice@example.com", password }), consentToSso: (d) => shown.push(d) > 0 },
        },
      );
      expect(done.value).toEqual({ enrolled: "idle" });
      expect(first).toEqual(["https://mdm.example.com/esso/example-corp"]);
      expect(shown).toEqual([document]);
    } finally {
      await storage.close();
    }
  });

  it("ESSO-5 bad settings are refused at load with the path of each key", async () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ["AppIDs without developer", base({ appIds: ["ABCDE12345.com.example.sso"] }), "organizations[0].enrollmentSso.appIds", /AppIDs appear only in the developer document/],
      ["developer without AppIDs", base({ developer: true }), "organizations[0].enrollmentSso.appIds", /required with developer: true/],
      ["no iTunesStoreID", base({ iTunesStoreID: undefined }), "organizations[0].enrollmentSso.iTunesStoreID", /required: the App Store id/],
      ["a string iTunesStoreID", base({ iTunesStoreID: "1234567890" }), "organizations[0].enrollmentSso.iTunesStoreID", /number/],
      ["bundleId without developer", base({ bundleId: "com.example.sso" }), "organizations[0].enrollmentSso.bundleId", /only for developer: true/],
      ["a malformed App ID", base({ developer: true, appIds: ["com.example.sso"] }), "organizations[0].enrollmentSso.appIds[0]", /TEAMID\.bundle\.id/],
      [
        "an App ID of another team",
        base({ developer: true, appIds: ["ZZZZZ99999.com.example.sso"], extension: { identifier: "com.example.sso.extension", teamIdentifier: "ABCDE12345", type: "Redirect", urls: ["https://login.example.com"] } }),
        "organizations[0].enrollmentSso.appIds[0]",
        /the extension's team ABCDE12345/,
      ],
      ["Redirect without urls", base({ extension: { identifier: "com.example.sso.extension", type: "Redirect" } }), "organizations[0].enrollmentSso.extension.urls", /required for a Redirect extension/],
      ["Credential without hosts", base({ extension: { identifier: "com.example.sso.extension", type: "Credential" } }), "organizations[0].enrollmentSso.extension.hosts", /required for a Credential extension/],
      ["Credential with urls", base({ extension: { identifier: "com.example.sso.extension", type: "Credential", hosts: ["example.com"], urls: ["https://x.example"] } }), "organizations[0].enrollmentSso.extension.urls", /only for a Redirect extension/],
      ["a URL with a query", base({ extension: { identifier: "com.example.sso.extension", type: "Redirect", urls: ["https://login.example.com/?a=1"] } }), "organizations[0].enrollmentSso.extension.urls[0]", /URL prefix without query or fragment/],
      ["a bad host", base({ extension: { identifier: "com.example.sso.extension", type: "Credential", hosts: ["-bad-.example"] } }), "organizations[0].enrollmentSso.extension.hosts[0]", /host or domain name/],
      ["an unknown extension type", base({ extension: { identifier: "com.example.sso.extension", type: "Kerberos" } }), "organizations[0].enrollmentSso.extension.type", /Redirect|Credential/],
      ["a null in extensionData", base({ extension: { identifier: "com.example.sso.extension", type: "Redirect", urls: ["https://login.example.com"], extensionData: { a: null } } }), 'organizations[0].enrollmentSso.extension.extensionData.a', /./],
      ["an unknown key", base({ appID: ["x"] }), "organizations[0].enrollmentSso", /appID.*not a known setting/],
      ["an unreadable certificate file", base({ certificates: ["missing.pem"] }), "organizations[0].enrollmentSso.certificates[0]", /cannot read/],
      ["a file without certificates", base({ certificates: ["not-a-certificate.pem"] }), "organizations[0].enrollmentSso.certificates[0]", /expected PEM certificates/],
      ["an http publicBaseUrl", { ...base(), publicBaseUrl: "http://127.0.0.1:8080", profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", serverUrl: "https://mdm.example.com/mdm", checkInUrl: "https://mdm.example.com/checkin", identity: { kind: "scep", url: "https://scep.example.com/scep" } } }, "organizations[0].enrollmentSso", /https publicBaseUrl.*ESSO-1/],
      ["a name with no URL name", base({}, { name: "株式会社" }), "organizations[0].slug", /no usable URL name/],
      ["a slug that is no URL name", base({}, { slug: "Example Corp" }), "organizations[0].slug", /lower-case/],
    ];
    for (const [what, raw, at, message] of cases) {
      const found = await issues(raw);
      const here = found.filter((i) => i.path === at);
      expect(here.length, `${what}: ${JSON.stringify(found)}`).toBeGreaterThan(0);
      expect(here.map((i) => i.message).join("\n"), what).toMatch(message);
    }
    // Two organizations with Enrollment SSO need two URL names.
    const second = { name: "Example Corp!", domains: { "corp.example": "mdm-byod" } };
    const twice = { ...base(), organizations: [organization(), organization({}, second)] };
    expect(await issues(twice)).toEqual([{ path: "organizations[1].slug", message: expect.stringMatching(/"example-corp" is also organizations\[0\]'s URL name/) }]);
    const resolved = await parseConfig({ ...twice, organizations: [organization(), organization({}, { ...second, slug: "example-2" })] }, { baseDir: scratch, ...cheap });
    expect(resolved.organizations.map((o) => o.slug ?? null)).toEqual([null, "example-2"]);
  });
});
