// The configuration file: every example in examples/ loads; a bad value is refused with the path of
// its key and what was expected (ConfigError), plain passwords are hashed with a warning, relative
// files resolve against the config's folder.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, formatConfigPath, loadConfigFile, parseConfig } from "../../runtime/config.ts";
import { parsePasswordHash, verifyPasswordHash } from "../../runtime/directory.ts";

const examples = fileURLToPath(new URL("../../examples/", import.meta.url));
const exampleFiles = readdirSync(examples).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
const scratch = mkdtempSync(path.join(tmpdir(), "adenroll-config-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cheap = { scryptCost: 1_000 } as const;

/** A minimal valid configuration, to break one key at a time. */
function base(): Record<string, unknown> {
  return {
    publicBaseUrl: "https://mdm.example.com",
    organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" } }],
    users: [{ userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", passwordHash: "scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g" }],
    profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", identity: { kind: "scep", url: "https://scep.example.com/scep" } },
  };
}

async function refused(raw: unknown): Promise<ConfigError> {
  try {
    await parseConfig(raw, { baseDir: scratch, ...cheap });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("the configuration was accepted");
}

describe("examples/", () => {
  it("holds a config for each documented case", () => {
    expect(exampleFiles).toEqual(["acme.yaml", "adde.yaml", "byod-simple.yaml", "identity-provider.yaml", "oauth2.yaml", "per-user-overrides.yaml", "pkcs12-builtin-ca.yaml", "scep.yaml", "trust-anchors-and-signing.yaml"]);
  });

  it.each(exampleFiles)("%s loads", async (file) => {
    const config = await loadConfigFile(path.join(examples, file), cheap);
    expect(config.source).toBe(path.join(examples, file));
    expect(config.organizations.length).toBeGreaterThan(0);
    expect(config.users.length).toBeGreaterThan(0);
    // Every user has a password but those of an organization that signs in through its identity provider.
    const upstreamOnly = new Set(config.organizations.filter((o) => (o.identityProvider ?? config.identityProvider) !== undefined).flatMap((o) => Object.keys(o.domains)));
    for (const user of config.users) {
      if (user.passwordHash === null) expect(upstreamOnly.has(user.userIdentifier.split("@")[1] ?? "")).toBe(true);
      else expect(parsePasswordHash(user.passwordHash)).not.toBeNull();
    }
    expect(config.deviceTrust.allowTestDeviceCa).toBe(false);
  });

  it("each case holds what its name says", async () => {
    const load = (file: string) => loadConfigFile(path.join(examples, file), cheap);
    expect((await load("byod-simple.yaml")).organizations[0]?.domains).toEqual({ "example.com": "mdm-byod" });
    const adde = await load("adde.yaml");
    expect(adde.organizations[0]?.domains).toEqual({ "corp.example": "mdm-adde" });
    expect(adde.profile.accessRights).toBe(8191);
    expect(adde.organizations[0]?.tokenLifetimeSeconds).toBe(28800);
    const scep = await load("scep.yaml");
    expect(scep.profile.signMessage).toBe(true);
    expect(scep.profile.identityCaCertificates).toHaveLength(1);
    const overrides = await load("per-user-overrides.yaml");
    expect(overrides.users.map((u) => [u.userIdentifier, u.enrollmentType ?? null])).toEqual([
      ["alice@example.com", null],
      ["carol@example.com", "mdm-adde"],
      ["dave@subsidiary.example", null],
    ]);
    expect(overrides.warnings.join("\n")).toMatch(/users\[2\] \(dave@subsidiary\.example\) has a plain password/);
    expect(await verifyPasswordHash(overrides.users[2]?.passwordHash ?? "", "a demo password, never in production")).toBe(true);
    expect(overrides.discoveryFailedMessage).toMatch(/Example Corp/);
    expect((await load("scep.yaml")).profile.identity).toMatchObject({ kind: "scep", url: "https://scep.example.com/scep", challenge: "a-shared-scep-challenge", subject: [[["O", "Example Corp"]], [["CN", "MDM Identity"]]] });
    expect((await load("acme.yaml")).profile.identity).toMatchObject({ kind: "acme", directoryURL: "https://acme.example.com/directory", keyType: "ECSECPrimeRandom", hardwareBound: true });
    expect((await load("pkcs12-builtin-ca.yaml")).profile.identity).toEqual({ kind: "pkcs12", source: "builtin-ca", keyBits: 2048, validityDays: 365 });
    const signed = await load("trust-anchors-and-signing.yaml");
    expect(signed.profile.anchors.map((a) => [a.kind, a.name])).toEqual([["root", "Example Corp Root CA"]]);
    expect(signed.profile.signing?.certificatePem).toMatch(/BEGIN CERTIFICATE/);
  });
});

describe("a bad configuration is refused with the key's path and what was expected", () => {
  it("an unknown enrollment type", async () => {
    const raw = base();
    raw["organizations"] = [{ name: "Example Corp", domains: { "example.com": "byod" } }];
    const error = await refused(raw);
    expect(error.issues).toEqual([{ path: 'organizations[0].domains["example.com"]', message: expect.stringMatching(/expected one of "mdm-byod"\|"mdm-adde".*got "byod"/) }]);
    expect(error.message).toMatch(/^the configuration is not valid:\n {2}- organizations\[0\]\.domains\["example\.com"\]: /);
  });

  it("CHALLENGE-6 OAuth 2 sign-in needs an https publicBaseUrl and a devices' client on the callback scheme; an unknown method is named", async () => {
    const http = base();
    http["publicBaseUrl"] = "http://mdm.example.com";
    http["organizations"] = [{ name: "Example Corp", authentication: "oauth2", domains: { "example.com": "mdm-byod" } }];
    http["profile"] = { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", serverUrl: "https://mdm.example.com/mdm/server", checkInUrl: "https://mdm.example.com/mdm/checkin", identity: { kind: "scep", url: "https://scep.example.com/scep" } };
    expect((await refused(http)).issues).toEqual([{ path: "publicBaseUrl", message: expect.stringMatching(/OAuth 2 sign-in needs an https publicBaseUrl/) }]);
    const client = base();
    client["authentication"] = "oauth2";
    client["oauth2"] = { clients: [{ id: "web", redirectUris: ["https://app.example.com/cb"] }] };
    expect((await refused(client)).issues).toEqual([{ path: "oauth2.clients[0].redirectUris[0]", message: expect.stringMatching(/apple-remotemanagement-user-login scheme/) }]);
    const code = base();
    code["oauth2"] = { codeLifetimeSeconds: 120 };
    expect((await refused(code)).issues).toEqual([{ path: "oauth2.codeLifetimeSeconds", message: expect.stringMatching(/60/) }]);
    const unknown = base();
    unknown["authentication"] = "saml";
    expect((await refused(unknown)).issues).toEqual([{ path: "authentication", message: expect.stringMatching(/"simple".*"oauth2"/) }]);
  });

  it("OAuth 2 for one organization gets the authorization server's defaults without an oauth2 section", async () => {
    const raw = base();
    raw["organizations"] = [
      { name: "Example Corp", authentication: "oauth2", domains: { "example.com": "mdm-byod" } },
      { name: "Corp", domains: { "corp.example": "mdm-byod" } },
    ];
    const config = await parseConfig(raw, { baseDir: scratch, ...cheap });
    expect(config.authentication).toBe("simple");
    expect(config.organizations.map((o) => o.authentication)).toEqual(["oauth2", undefined]);
    expect(config.oauth2).toEqual({
      clients: [{ id: "adenroll", redirectUris: ["apple-remotemanagement-user-login:/oauth2/redirection"], pkce: "optional" }],
      scope: "MDM",
      accessTokenLifetimeSeconds: 3600,
      refreshTokenLifetimeSeconds: 30 * 86_400,
      codeLifetimeSeconds: 60,
    });
    expect((await parseConfig(base(), { baseDir: scratch, ...cheap })).oauth2).toBeUndefined();
  });

  it("a misspelled key, a missing key, a wrong type, an http MDM URL", async () => {
    const raw = base();
    raw["publicBaseURL"] = raw["publicBaseUrl"];
    delete raw["publicBaseUrl"];
    raw["tokenLifetimeSeconds"] = "3600";
    (raw["profile"] as Record<string, unknown>)["serverUrl"] = "http://mdm.example.com/mdm";
    const error = await refused(raw);
    const byPath = Object.fromEntries(error.issues.map((i) => [i.path, i.message]));
    expect(byPath["publicBaseUrl"]).toMatch(/^required/);
    expect(byPath[""] ?? byPath["(root)"]).toMatch(/Unrecognized key: "publicBaseURL"/);
    expect(byPath["tokenLifetimeSeconds"]).toMatch(/expected number.*got "3600"/);
    expect(byPath["profile.serverUrl"]).toMatch(/expected an https URL \(PROFILE-8/);
  });

  it("cross-checks: a user outside every domain, an override of an unknown user, a domain twice, http publicBaseUrl without https MDM URLs", async () => {
    const raw = base();
    raw["publicBaseUrl"] = "http://127.0.0.1:8080";
    raw["organizations"] = [
      { name: "A", domains: { "example.com": "mdm-byod" }, overrides: { "nobody@example.com": "mdm-adde" } },
      { name: "B", domains: { "Example.com": "mdm-adde" } },
    ];
    raw["users"] = [{ userIdentifier: "eve@elsewhere.example", managedAppleId: "eve@elsewhere.example", password: "long enough password" }];
    const error = await refused(raw);
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      'organizations[0].overrides["nobody@example.com"]',
      'organizations[1].domains["Example.com"]',
      "profile.checkInUrl",
      "profile.serverUrl",
      "users[0].userIdentifier",
    ]);
    expect(error.message).toMatch(/users\[0\]\.userIdentifier: its domain elsewhere\.example is not one of the organizations' domains/);
    expect(error.message).toMatch(/profile\.serverUrl: required when publicBaseUrl is not https/);
  });

  it("a user without a password only in an organization that signs in through its identity provider; never two passwords", async () => {
    const passwordless = { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com" };
    const withProvider = (where: "organization" | "top") => {
      const raw = base();
      const identityProvider = { issuer: "https://login.example.com", clientId: "adenroll" };
      raw["users"] = [passwordless, { userIdentifier: "bob@corp.example", managedAppleId: "bob@appleid.example.com", password: "bob's long enough password" }];
      raw["organizations"] = [
        { name: "Example Corp", domains: { "example.com": "mdm-byod" }, ...(where === "organization" ? { identityProvider } : {}) },
        { name: "Corp", domains: { "corp.example": "mdm-byod" } },
      ];
      if (where === "top") raw["identityProvider"] = identityProvider;
      return raw;
    };
    for (const where of ["organization", "top"] as const) {
      const config = await parseConfig(withProvider(where), { baseDir: scratch, ...cheap });
      expect(config.users.map((u) => [u.userIdentifier, u.passwordHash === null])).toEqual([
        ["alice@example.com", true],
        ["bob@corp.example", false],
      ]);
      expect(config.warnings.join("\n")).not.toMatch(/users\[0\]/);
    }
    // bob's organization has no provider (and none at the top): without a password he could never sign in.
    const raw = withProvider("organization");
    raw["users"] = [passwordless, { userIdentifier: "bob@corp.example", managedAppleId: "bob@appleid.example.com" }];
    const error = await refused(raw);
    expect(error.issues).toEqual([{ path: "users[1]", message: expect.stringMatching(/expected passwordHash \(or password, demos only\).*names no identityProvider/) }]);
    const both = base();
    both["users"] = [{ ...passwordless, password: "long enough password", passwordHash: "scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g" }];
    expect((await refused(both)).issues).toEqual([{ path: "users[0]", message: "expected at most one of passwordHash (recommended) or password (demos only)" }]);
  });

  it("ONGOING-13 SignMessage with a SCEP or ACME identity needs the CA that issues it; an unreadable CA file is named", async () => {
    const raw = base();
    const profile = { ...(raw["profile"] as Record<string, unknown>), signMessage: true };
    const missing = await refused({ ...raw, profile });
    expect(missing.issues).toEqual([expect.objectContaining({ path: "profile.identityCaCertificates", message: expect.stringContaining("SCEP") })]);
    const unreadable = await refused({ ...raw, profile: { ...profile, identityCaCertificates: ["no-such-ca.pem"] } });
    expect(unreadable.issues[0]?.path).toBe("profile.identityCaCertificates[0]");
    const config = await parseConfig({ ...raw, profile: { ...profile, identityCaCertificates: [path.join(examples, "certs/example-root-ca.pem")] } }, { baseDir: scratch, ...cheap });
    expect(config.profile.identityCaCertificates).toHaveLength(1);
    expect(config.warnings.join("\n")).not.toContain("signMessage");
  });

  it("ONGOING-12 without SignMessage the configuration loads with a warning that Macs' device channel will be refused", async () => {
    const config = await parseConfig(base(), { baseDir: scratch, ...cheap });
    expect(config.warnings.join("\n")).toContain("ONGOING-12");
  });

  it("an organization's token lifetime is between a minute and 30 days", async () => {
    const raw = base();
    const org = (tokenLifetimeSeconds: number) => ({ ...raw, organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" }, tokenLifetimeSeconds }] });
    expect((await refused(org(59))).issues[0]?.path).toBe("organizations[0].tokenLifetimeSeconds");
    expect((await parseConfig(org(600), { baseDir: scratch, ...cheap })).organizations[0]?.tokenLifetimeSeconds).toBe(600);
  });

  it("a password is never echoed back", async () => {
    const raw = base();
    raw["users"] = [{ userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", password: "short" }];
    const error = await refused(raw);
    expect(error.message).toMatch(/users\[0\]\.password: expected a password of at least 8 characters/);
    expect(error.message).not.toContain('"short"');
  });

  it("files: a missing trust anchor, a signing key that is not the certificate's", async () => {
    const raw = base();
    (raw["profile"] as Record<string, unknown>)["trustAnchors"] = ["missing.pem"];
    (raw["profile"] as Record<string, unknown>)["signing"] = { certificate: path.join(examples, "certs/example-root-ca.pem"), privateKey: path.join(examples, "certs/profile-signing.key.pem") };
    const error = await refused(raw);
    expect(error.issues).toEqual([
      { path: "profile.trustAnchors[0]", message: `cannot read ${path.join(scratch, "missing.pem")}: ENOENT` },
      { path: "profile.signing", message: "the private key does not belong to the signing certificate" },
    ]);
  });

  it("YAML syntax errors name the line; JSON files are read as JSON", async () => {
    const yamlFile = path.join(scratch, "broken.yaml");
    writeFileSync(yamlFile, "publicBaseUrl: https://mdm.example.com\norganizations:\n  - name: [unclosed\n");
    await expect(loadConfigFile(yamlFile, cheap)).rejects.toThrow(/broken\.yaml is not valid:\n {2}- \(the file\): is not valid YAML \(line \d+, column \d+\)/);
    const jsonFile = path.join(scratch, "config.json");
    writeFileSync(jsonFile, JSON.stringify(base()));
    expect((await loadConfigFile(jsonFile, cheap)).publicBaseUrl).toBe("https://mdm.example.com");
    await expect(loadConfigFile(path.join(scratch, "nope.yaml"), cheap)).rejects.toThrow(/nope\.yaml is not valid:\n {2}- \(the file\): cannot be read/);
  });

  it("formats paths as a person reads them", () => {
    expect(formatConfigPath(["organizations", 0, "domains", "example.com"])).toBe('organizations[0].domains["example.com"]');
    expect(formatConfigPath(["profile", "identity", "kind"])).toBe("profile.identity.kind");
  });
});
