// The identityProvider settings in the configuration file: defaults, the client secret from a file,
// refusals with the path of the key (an issuer that is not https, scopes without openid); and the
// product's wiring — examples/identity-provider.yaml, pointed at oidc-provider on loopback, run by
// createAdenroll over embedded storage, signs a device in through the provider.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdenroll } from "../../runtime/app.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../../runtime/config.ts";
import { startDevice } from "../../runtime/device.ts";
import { createIdentityCa } from "../../runtime/identity-ca.ts";
import { upstreamPerson } from "../../runtime/person.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { StoredUserDirectory } from "../../runtime/user-directory.ts";
import { findMdmPayload } from "../../spec/index.ts";
import { realEnrollBody, seededRandom } from "../support/fixtures.ts";
import { startIdentityProvider, type TestIdentityProvider } from "./identity-provider.ts";

const scratch = mkdtempSync(path.join(tmpdir(), "adenroll-idp-config-"));
const examples = fileURLToPath(new URL("../../examples/", import.meta.url));
const cheap = { scryptCost: 1_000 } as const;

function base(identityProvider: Record<string, unknown>, where: "top" | "organization" = "organization"): Record<string, unknown> {
  return {
    publicBaseUrl: "https://mdm.example.com",
    ...(where === "top" ? { identityProvider } : {}),
    organizations: [{ name: "Example Corp", domains: { "example.com": "mdm-byod" }, ...(where === "organization" ? { identityProvider } : {}) }],
    users: [{ userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", passwordHash: "scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g" }],
    profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", identity: { kind: "scep", url: "https://scep.example.com/scep" } },
  };
}

async function issuesOf(raw: unknown): Promise<readonly { path: string; message: string }[]> {
  try {
    await parseConfig(raw, { baseDir: scratch, ...cheap });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error("the configuration was accepted");
}

describe("identityProvider in the configuration", () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("fills in the defaults and reads the client secret from its file", async () => {
    writeFileSync(path.join(scratch, "secret.txt"), "s3cret from a file\n");
    const config = await parseConfig(base({ issuer: "https://login.example.com", clientId: "adenroll", clientSecretFile: "secret.txt" }), { baseDir: scratch, ...cheap });
    expect(config.organizations[0]?.identityProvider).toEqual({
      issuer: "https://login.example.com",
      clientId: "adenroll",
      clientSecret: "s3cret from a file",
      scopes: "openid email",
      userClaim: "email",
      passwordSignIn: false,
    });
    const top = await parseConfig(base({ issuer: "https://login.example.com", clientId: "adenroll" }, "top"), { baseDir: scratch, ...cheap });
    expect(top.identityProvider).toMatchObject({ issuer: "https://login.example.com", clientId: "adenroll" });
    expect(top.identityProvider?.clientSecret).toBeUndefined();
  });

  it("refuses an issuer that is not https (http only on loopback), scopes without openid, and two secrets", async () => {
    const issues = await issuesOf(base({ issuer: "http://login.example.com", clientId: "adenroll", scopes: "email profile", clientSecret: "a", clientSecretFile: "b" }));
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: "organizations[0].identityProvider.issuer", message: "expected https (http only on a loopback address, for tests)" },
        { path: "organizations[0].identityProvider.scopes", message: 'expected "openid" among them' },
        { path: "organizations[0].identityProvider.clientSecretFile", message: "expected clientSecret or clientSecretFile, not both" },
      ]),
    );
    // Loopback http is allowed (tests and local demos).
    await expect(parseConfig(base({ issuer: "http://127.0.0.1:8080", clientId: "adenroll" }), { baseDir: scratch, ...cheap })).resolves.toBeDefined();
  });

  it("never echoes the client secret in an error", async () => {
    const issues = await issuesOf(base({ issuer: "https://login.example.com", clientId: "adenroll", clientSecret: 42 }));
    expect(issues.map((i) => i.path)).toContain("organizations[0].identityProvider.clientSecret");
    expect(JSON.stringify(issues)).not.toContain("42");
  });

  it("refuses a missing client secret file with its path", async () => {
    const issues = await issuesOf(base({ issuer: "https://login.example.com", clientId: "adenroll", clientSecretFile: "nowhere.txt" }));
    expect(issues[0]?.path).toBe("organizations[0].identityProvider.clientSecretFile");
  });
});

describe("examples/identity-provider.yaml with createAdenroll", () => {
  let idp: TestIdentityProvider;
  let storage: OpenedStorage;
  beforeAll(async () => {
    idp = await startIdentityProvider({ redirectUris: ["https://mdm.example.com/authenticate/upstream/callback"], accounts: { "alice@example.com": { email: "alice@example.com", email_verified: true } } });
    storage = await openStorage({ memory: true });
  }, 60_000);
  afterAll(async () => {
    await idp.close();
    await storage.close();
  });

  it("signs alice in through the provider: the upstream routes are mounted and the sign-in audited in storage", async () => {
    const loaded = await loadConfigFile(path.join(examples, "identity-provider.yaml"), cheap);
    expect(loaded.organizations[0]?.identityProvider).toMatchObject({ issuer: "https://login.example.com/realms/staff", name: "Example Login" });
    // alice has no password at all: the provider is her only way in.
    expect(loaded.users.find((u) => u.userIdentifier === "alice@example.com")?.passwordHash).toBeNull();
    // The example, pointed at the provider in this process.
    const config = {
      ...loaded,
      organizations: loaded.organizations.map((o) =>
        o.identityProvider === undefined ? o : { ...o, identityProvider: { ...o.identityProvider, issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret } },
      ),
    };
    const adenroll = await createAdenroll(config, { storage, identityCa: await createIdentityCa({ random: seededRandom(61) }), scryptCost: 1_000 });
    const network = async (request: Request): Promise<Response> => (new URL(request.url).hostname === "127.0.0.1" ? fetch(request) : adenroll.fetch(request));

    const alice = await startDevice(
      { identifier: "alice@example.com", modelFamily: "iPhone", enrollBody: realEnrollBody },
      { fetch: network, person: upstreamPerson({ username: "alice@example.com", password: "unused" }) },
    );
    expect(alice.snapshot().value).toEqual({ enrolled: "idle" });
    expect(findMdmPayload(alice.snapshot().context.profile)?.AssignedManagedAppleID).toBe("alice@appleid.example.com");
    alice.stop();
    const audit = await storage.audit.list({ limit: 50 });
    expect(audit.some((e) => e.action === "sign-in.succeeded" && JSON.stringify(e.detail).includes(`"verifiedBy":${JSON.stringify(idp.issuer)}`))).toBe(true);
    // Stored without a password: the admin view says so, and no password signs her in.
    expect((await adenroll.admin.listUsers()).find((u) => u.userIdentifier === "alice@example.com")?.hasPassword).toBe(false);
    expect(await new StoredUserDirectory(storage.users, seededRandom(62), 1_000).verify("alice@example.com", "unused")).toBeUndefined();
  }, 60_000);
});
