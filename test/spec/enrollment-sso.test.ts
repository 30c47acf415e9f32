import { describe, expect, it } from "vitest";
import {
  buildEnrollmentSsoDocument,
  checkEnrollmentSsoDocument,
  EnrollmentSsoDeveloperDocument,
  EnrollmentSsoDocument,
  parseEnrollmentSsoDocument,
  type BuiltEnrollmentSso,
  type EnrollmentSsoInput,
  type ServerEnrollmentSsoDocument,
} from "../../spec/enrollment-sso.ts";
import { buildPlist, parsePlist, type PlistValue } from "../../spec/plist.ts";
import { loadAppleSchema, validateAgainstAppleSchema, validateConfigurationProfile, validateProfilePayload, type AppleType } from "../support/apple-yaml.ts";

const essoYaml = "other/esso.yaml";

const profile = btoa(
  '<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string></dict></plist>',
);
const declaration = (value: object): string => btoa(JSON.stringify(value));
const declarations = [
  declaration({ Type: "com.apple.activation.simple", Identifier: "a", ServerToken: "1", Payload: { StandardConfigurations: ["app"] } }),
  declaration({ Type: "com.apple.configuration.app.managed", Identifier: "app", ServerToken: "1", Payload: { AppStoreID: "1234567890" } }),
  declaration({ Type: "com.apple.configuration.legacy", Identifier: "sso", ServerToken: "1", Payload: { ProfileURL: "https://mdm.example.com/sso.mobileconfig" } }),
];
const withProfile = {
  iTunesStoreID: 1234567890,
  AssociatedDomains: ["authsrv:login.example.com"],
  AssociatedDomainsEnableDirectDownloads: false,
  ConfigurationProfile: profile,
};
const withDeclarations = { iTunesStoreID: 1234567890, Declarations: declarations };

/** Apple's YAML types <data> as bytes; on the JSON wire they are base64. */
function asPlistValue(document: Record<string, unknown>): Record<string, unknown> {
  const bytes = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const out: Record<string, unknown> = { ...document };
  if (typeof document["ConfigurationProfile"] === "string") out["ConfigurationProfile"] = bytes(document["ConfigurationProfile"]);
  const decls = document["Declarations"];
  if (Array.isArray(decls)) out["Declarations"] = decls.map((d) => (typeof d === "string" ? bytes(d) : d));
  return out;
}

describe("EnrollmentSsoDocument", () => {
  it("ESSO-2 accepts a document with ConfigurationProfile, and one with Declarations, both valid against Apple's YAML", () => {
    for (const document of [withProfile, withDeclarations, { ...withProfile, Declarations: declarations }]) {
      expect(EnrollmentSsoDocument.safeParse(document).success).toBe(true);
      expect(validateAgainstAppleSchema(asPlistValue(document), essoYaml)).toEqual([]);
    }
  });

  it("ESSO-2 rejects a document with neither ConfigurationProfile nor Declarations", () => {
    const { ConfigurationProfile: _profile, ...neither } = withProfile;
    const parsed = EnrollmentSsoDocument.safeParse(neither);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path)).toEqual([["ConfigurationProfile"]]);
    expect(EnrollmentSsoDocument.safeParse({ ...neither, Declarations: [] }).success).toBe(false);
    expect(EnrollmentSsoDocument.safeParse({ ...neither, ConfigurationProfile: "" }).success).toBe(false);
  });

  it("ESSO-2 requires an integer iTunesStoreID", () => {
    for (const id of [undefined, "1234567890", 12.5, null]) {
      expect(EnrollmentSsoDocument.safeParse({ ...withProfile, iTunesStoreID: id }).success, String(id)).toBe(false);
    }
  });

  it("ESSO-2 requires base64 data and checks the other keys' types", () => {
    const bad: Record<string, unknown>[] = [
      { ...withProfile, ConfigurationProfile: "not base64!" },
      { ...withProfile, ConfigurationProfile: "QUJD" + "=" },
      { ...withDeclarations, Declarations: ["{}"] },
      { ...withDeclarations, Declarations: "e30=" },
      { ...withProfile, AssociatedDomains: "login.example.com" },
      { ...withProfile, AssociatedDomainsEnableDirectDownloads: "false" },
      { ...withProfile, AppIDs: [1] },
    ];
    for (const document of bad) expect(EnrollmentSsoDocument.safeParse(document).success, JSON.stringify(document)).toBe(false);
  });

  it("ESSO-2 keeps unknown keys", () => {
    expect(EnrollmentSsoDocument.parse({ ...withProfile, FutureKey: { a: 1 } })).toEqual({ ...withProfile, FutureKey: { a: 1 } });
  });

  it("ESSO-2 parseEnrollmentSsoDocument names the rule", () => {
    expect(parseEnrollmentSsoDocument(withDeclarations)).toEqual({ ok: true, value: withDeclarations });
    const failed = parseEnrollmentSsoDocument({ iTunesStoreID: 1 });
    expect(failed.ok ? undefined : [failed.error.code, failed.error.ruleId]).toEqual(["esso.document", "ESSO-2"]);
    const notObject = parseEnrollmentSsoDocument([withProfile]);
    expect(notObject.ok ? undefined : notObject.error.ruleId).toBe("ESSO-2");
  });

  it("ESSO-2 the schema's keys and types are Apple's (other/esso.yaml)", () => {
    const apple = loadAppleSchema(essoYaml);
    const shape: Record<string, { safeParse(value: unknown): { success: boolean } }> = EnrollmentSsoDocument.shape;
    expect(Object.keys(shape).sort()).toEqual(apple.payloadkeys.map((k) => k.key).sort());
    const samples: Partial<Record<AppleType, { good: unknown; bad: unknown }>> = {
      "<integer>": { good: 42, bad: "42" },
      "<boolean>": { good: true, bad: "true" },
      "<data>": { good: "QUJD", bad: 3 },
      "<string>": { good: "x", bad: 3 },
    };
    for (const key of apple.payloadkeys) {
      const schema = shape[key.key];
      expect(schema, key.key).toBeDefined();
      if (schema === undefined) continue;
      const itemType = key.type === "<array>" ? key.subkeys?.[0]?.type : key.type;
      const sample = itemType === undefined ? undefined : samples[itemType];
      expect(sample, `${key.key}: ${key.type} of ${itemType}`).toBeDefined();
      if (sample === undefined) continue;
      const wrap = (v: unknown): unknown => (key.type === "<array>" ? [v] : v);
      expect(schema.safeParse(wrap(sample.good)).success, `${key.key} accepts ${key.type}`).toBe(true);
      expect(schema.safeParse(wrap(sample.bad)).success, `${key.key} rejects a non-${itemType}`).toBe(false);
    }
  });
});

describe("EnrollmentSsoDeveloperDocument", () => {
  it("ESSO-2 the developer document requires AppIDs and lets iTunesStoreID go", () => {
    const { iTunesStoreID: _id, ...noStoreId } = withProfile;
    expect(EnrollmentSsoDeveloperDocument.safeParse({ ...noStoreId, AppIDs: ["ABCDE12345.com.example.sso"] }).success).toBe(true);
    expect(EnrollmentSsoDeveloperDocument.safeParse({ ...noStoreId }).success).toBe(false);
    expect(EnrollmentSsoDeveloperDocument.safeParse({ ...noStoreId, AppIDs: [] }).success).toBe(false);
    expect(EnrollmentSsoDeveloperDocument.safeParse({ AppIDs: ["ABCDE12345.com.example.sso"] }).success).toBe(false);
    expect(EnrollmentSsoDocument.safeParse(noStoreId).success).toBe(false);
  });
});

// --- The server's document (ESSO-5) ------------------------------------------------------------

const uuid = (n: number): string => `${String(n).repeat(8).slice(0, 8)}-0000-4000-8000-000000000000`;
const essoInput: EnrollmentSsoInput = {
  organizationName: "Example Corp",
  identifierPrefix: "com.example.mdm",
  uuids: { profile: uuid(1), extension: uuid(2), certificates: [uuid(3)] },
  iTunesStoreID: 1234567890,
  associatedDomains: ["authsrv:login.example.com"],
  extension: { identifier: "com.example.sso.extension", teamIdentifier: "ABCDE12345", type: "Redirect", urls: ["https://login.example.com/sso"], extensionData: { tenant: "example", retries: 3, flags: { strict: true } } },
  certificates: [{ kind: "root", data: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), name: "Example Root CA" }],
  declarations: true,
  profileUrl: "https://mdm.example.com/esso/example-corp/profile",
};
const developerInput: EnrollmentSsoInput = {
  ...essoInput,
  developer: true,
  appIds: ["ABCDE12345.com.example.sso"],
  extension: { identifier: "com.example.sso.extension", teamIdentifier: "ABCDE12345", type: "Credential", realm: "EXAMPLE.COM", hosts: ["login.example.com", ".example.com"] },
};
const essoTargets = [
  { os: "iOS", version: "16.0" },
  { os: "visionOS", version: "2.0" },
] as const;

function built(input: EnrollmentSsoInput): BuiltEnrollmentSso {
  const result = buildEnrollmentSsoDocument(input);
  if (!result.ok) throw new Error(result.error.detail);
  return result.value;
}

const base64Bytes = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const bytesBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));

type PlistDict = { [key: string]: PlistValue };
const isDict = (value: PlistValue | undefined): value is PlistDict =>
  typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);

/** The inner profile of a served document, read back from its base64 XML. */
function innerProfile(document: { readonly ConfigurationProfile?: string | undefined }): PlistDict {
  const parsed = parsePlist(base64Bytes(document.ConfigurationProfile ?? ""));
  if (!parsed.ok || !isDict(parsed.value)) throw new Error("not a plist dict");
  return parsed.value;
}

/** The payload dictionaries of a profile (the same objects: changing them changes the profile). */
function payloadsOf(profile: PlistDict): PlistDict[] {
  const content = profile["PayloadContent"];
  return Array.isArray(content) ? content.filter(isDict) : [];
}

function declarationsOf(document: { readonly Declarations?: readonly string[] | undefined }): { Type: string; Identifier: string; ServerToken: string; Payload: Record<string, unknown> }[] {
  return (document.Declarations ?? []).map((d) => JSON.parse(new TextDecoder().decode(base64Bytes(d))));
}

const declarationYaml: Record<string, string> = {
  "com.apple.activation.simple": "declarative/declarations/activations/simple.yaml",
  "com.apple.configuration.app.managed": "declarative/declarations/configurations/app.managed.yaml",
  "com.apple.configuration.legacy": "declarative/declarations/configurations/legacy.yaml",
};

describe("buildEnrollmentSsoDocument", () => {
  it("ESSO-5 the standard document: one com.apple.extensiblesso payload and the certificates, declarations, all valid against Apple's YAML", () => {
    const { document, profileXml } = built(essoInput);
    expect(Object.keys(document).sort()).toEqual(["AssociatedDomains", "ConfigurationProfile", "Declarations", "iTunesStoreID"]);
    expect(document).toMatchObject({ iTunesStoreID: 1234567890, AssociatedDomains: ["authsrv:login.example.com"] });
    expect("AppIDs" in document).toBe(false);
    // The document, as Apple's YAML types it (data as bytes), and as a device reads it.
    expect(validateAgainstAppleSchema(asPlistValue(document), essoYaml, { os: "iOS" })).toEqual([]);
    expect(validateAgainstAppleSchema(asPlistValue(document), essoYaml, { os: "visionOS" })).toEqual([]);
    expect(parseEnrollmentSsoDocument(document).ok).toBe(true);
    expect(EnrollmentSsoDeveloperDocument.safeParse(document).success).toBe(false);

    // The inner profile: TopLevel.yaml and each payload's YAML, for both systems with Enrollment SSO.
    expect(new TextDecoder().decode(base64Bytes(document.ConfigurationProfile ?? ""))).toBe(profileXml);
    const profile = innerProfile(document);
    for (const target of essoTargets) expect(validateConfigurationProfile(profile, target), target.os).toEqual([]);
    const payloads = payloadsOf(profile);
    expect(payloads.map((p) => p["PayloadType"])).toEqual(["com.apple.security.root", "com.apple.extensiblesso"]);
    const sso = payloads[1];
    expect(sso).toMatchObject({
      ExtensionIdentifier: "com.example.sso.extension",
      Type: "Redirect",
      URLs: ["https://login.example.com/sso"],
      ExtensionData: { tenant: "example", retries: 3, flags: { strict: true } },
      PayloadUUID: uuid(2),
    });
    // Apple's YAML: TeamIdentifier is n/a on iOS and visionOS, where Enrollment SSO runs.
    expect(sso).not.toHaveProperty("TeamIdentifier");
    expect(validateProfilePayload(sso, { os: "iOS", version: "16.0" })).toEqual([]);

    // The declarations: each Payload against its own YAML file, and how they refer to each other.
    const declarations = declarationsOf(document);
    expect(declarations.map((d) => d.Type)).toEqual(["com.apple.activation.simple", "com.apple.configuration.app.managed", "com.apple.configuration.legacy"]);
    for (const d of declarations) {
      expect(validateAgainstAppleSchema(d.Payload, declarationYaml[d.Type] ?? "", { os: "iOS", version: "18.4" }), d.Type).toEqual([]);
      expect(d.ServerToken).toMatch(/^[0-9a-f]{8}$/);
    }
    const [activation, app, legacy] = declarations;
    expect(app?.Payload).toEqual({ AppStoreID: "1234567890" });
    expect(legacy?.Payload).toEqual({ ProfileURL: "https://mdm.example.com/esso/example-corp/profile" });
    expect(activation?.Payload).toEqual({ StandardConfigurations: [app?.Identifier, legacy?.Identifier] });
    expect(checkEnrollmentSsoDocument(document, "standard")).toEqual([]);
  });

  it("ESSO-5 the developer document carries AppIDs, and its app declaration names the app by BundleID", () => {
    const { document } = built(developerInput);
    expect(document.AppIDs).toEqual(["ABCDE12345.com.example.sso"]);
    expect(EnrollmentSsoDeveloperDocument.safeParse(document).success).toBe(true);
    expect(validateAgainstAppleSchema(asPlistValue(document), essoYaml, { os: "iOS" })).toEqual([]);
    expect(checkEnrollmentSsoDocument(document, "developer")).toEqual([]);
    // The standard endpoint must never serve it.
    expect(checkEnrollmentSsoDocument(document, "standard").join("\n")).toMatch(/AppIDs appear only in the developer document/);
    const sso = payloadsOf(innerProfile(document))[1];
    expect(sso).toMatchObject({ Type: "Credential", Realm: "EXAMPLE.COM", Hosts: ["login.example.com", ".example.com"] });
    expect(sso).not.toHaveProperty("URLs");
    expect(declarationsOf(document)[1]?.Payload).toEqual({ BundleID: "com.example.sso" });
    // Without declarations the document has only the profile; iTunesStoreID may go.
    const { iTunesStoreID: _id, ...noStoreId } = developerInput;
    const plain = built({ ...noStoreId, declarations: false });
    expect(Object.keys(plain.document).sort()).toEqual(["AppIDs", "AssociatedDomains", "ConfigurationProfile"]);
    expect(built({ ...developerInput, bundleId: "com.example.other" }).declarations[1]?.Payload).toEqual({ BundleID: "com.example.other" });
  });

  it("ESSO-5 settings a device or Apple's text would refuse are a typed error naming the key", () => {
    const redirect = essoInput.extension;
    const { iTunesStoreID: _id, ...noStoreId } = essoInput;
    const cases: [string, EnrollmentSsoInput, RegExp][] = [
      ["AppIDs in the standard document", { ...essoInput, appIds: ["ABCDE12345.com.example.sso"] }, /appIds: AppIDs appear only in the developer document/],
      ["no iTunesStoreID", noStoreId, /iTunesStoreID: required/],
      ["a non-integer iTunesStoreID", { ...essoInput, iTunesStoreID: 1.5 }, /iTunesStoreID: expected a positive integer/],
      ["a developer document without AppIDs", { ...developerInput, appIds: [] }, /appIds: required for the developer document/],
      ["an App ID of another team", { ...developerInput, appIds: ["ZZZZZ99999.com.example.sso"] }, /appIds\[0\]: expected the extension's team ABCDE12345/],
      ["an App ID without a team", { ...developerInput, appIds: ["com.example.sso"] }, /appIds\[0\]: expected TEAMID\.bundle\.id/],
      ["Redirect without URLs", { ...essoInput, extension: { ...redirect, urls: [] } }, /extension\.urls: required for a Redirect extension/],
      ["a URL with a query", { ...essoInput, extension: { ...redirect, urls: ["https://login.example.com/?x=1"] } }, /extension\.urls\[0\]: expected an http or https URL prefix/],
      ["a URL that is not http", { ...essoInput, extension: { ...redirect, urls: ["ftp://login.example.com"] } }, /extension\.urls\[0\]/],
      ["Redirect with Hosts", { ...essoInput, extension: { ...redirect, hosts: ["example.com"] } }, /extension\.hosts: only for a Credential extension/],
      ["Credential without Hosts", { ...essoInput, extension: { identifier: "com.example.sso.extension", type: "Credential" } }, /extension\.hosts: required for a Credential extension/],
      ["Credential with URLs", { ...essoInput, extension: { identifier: "com.example.sso.extension", type: "Credential", hosts: ["example.com"], urls: ["https://x.example"] } }, /extension\.urls: only for a Redirect extension/],
      ["a bad host", { ...essoInput, extension: { identifier: "com.example.sso.extension", type: "Credential", hosts: ["exa mple.com"] } }, /extension\.hosts\[0\]/],
      ["a bad extension identifier", { ...essoInput, extension: { ...redirect, identifier: "" } }, /extension\.identifier/],
      ["a ProfileURL that is not https", { ...essoInput, profileUrl: "http://mdm.example.com/esso/x/profile" }, /profileUrl: .*https/],
      ["a UUID short", { ...essoInput, uuids: { ...essoInput.uuids, certificates: [] } }, /uuids\.certificates: expected 1, got 0/],
      ["an empty certificate", { ...essoInput, certificates: [{ kind: "pem", data: new Uint8Array(), name: "x" }] }, /certificates\[0\]: empty/],
    ];
    for (const [what, input, detail] of cases) {
      const result = buildEnrollmentSsoDocument(input);
      expect(result.ok, what).toBe(false);
      if (result.ok) continue;
      expect([result.error.code, result.error.ruleId], what).toEqual(["esso.build", "ESSO-5"]);
      expect(result.error.detail, what).toMatch(detail);
    }
  });
});

describe("checkEnrollmentSsoDocument", () => {
  /** The built document with its inner profile changed. */
  function withProfile(change: (profile: PlistDict) => void): ServerEnrollmentSsoDocument {
    const { document } = built(essoInput);
    const profile = innerProfile(document);
    change(profile);
    return { ...document, ConfigurationProfile: bytesBase64(new TextEncoder().encode(buildPlist(profile))) };
  }
  function withDeclarations(change: (declarations: ReturnType<typeof declarationsOf>) => ReturnType<typeof declarationsOf>): ServerEnrollmentSsoDocument {
    const { document } = built(essoInput);
    return { ...document, Declarations: change(declarationsOf(document)).map((d) => bytesBase64(new TextEncoder().encode(JSON.stringify(d)))) };
  }
  const mdm: PlistDict = { PayloadType: "com.apple.mdm", PayloadIdentifier: "x.mdm", PayloadUUID: uuid(9), PayloadVersion: 1, IdentityCertificateUUID: uuid(8), Topic: "com.apple.mgmt.x", ServerURL: "https://mdm.example.com/mdm" };

  it("ESSO-5 finds a profile a device would refuse: other payloads, no or two SSO payloads, Apple's types", () => {
    const cases: [string, ServerEnrollmentSsoDocument, RegExp][] = [
      ["a com.apple.mdm payload", withProfile((p) => Array.isArray(p["PayloadContent"]) && p["PayloadContent"].push(mdm)), /PayloadContent\[2\] is com\.apple\.mdm: beside com\.apple\.extensiblesso only certificate payloads/],
      ["two SSO payloads", withProfile((p) => Array.isArray(p["PayloadContent"]) && p["PayloadContent"].push({ ...payloadsOf(p)[1], PayloadUUID: uuid(7) })), /exactly one com\.apple\.extensiblesso payload, found 2/],
      ["no SSO payload", withProfile((p) => Array.isArray(p["PayloadContent"]) && p["PayloadContent"].pop()), /exactly one com\.apple\.extensiblesso payload, found 0/],
      ["Redirect without URLs", withProfile((p) => delete payloadsOf(p)[1]?.["URLs"]), /a Redirect com\.apple\.extensiblesso payload needs URLs/],
      ["a Type outside Apple's rangelist", withProfile((p) => Object.assign(payloadsOf(p)[1] ?? {}, { Type: "Kerberos" })), /PayloadContent\[1\] com\.apple\.extensiblesso\.Type: string "Kerberos" is not one of "Credential", "Redirect"/],
      ["a missing ExtensionIdentifier", withProfile((p) => delete payloadsOf(p)[1]?.["ExtensionIdentifier"]), /missing required key ExtensionIdentifier/],
      ["TeamIdentifier, n/a on iOS", withProfile((p) => Object.assign(payloadsOf(p)[1] ?? {}, { TeamIdentifier: "ABCDE12345" })), /ConfigurationProfile \(iOS 16\.0\): .*TeamIdentifier: not available on iOS/],
      ["not a Configuration", withProfile((p) => Object.assign(p, { PayloadType: "Other" })), /not a Configuration profile/],
    ];
    for (const [what, document, problem] of cases) expect(checkEnrollmentSsoDocument(document, "standard").join("\n"), what).toMatch(problem);
    expect(checkEnrollmentSsoDocument({ ...built(essoInput).document, ConfigurationProfile: bytesBase64(new TextEncoder().encode("<plist")) }, "standard").join("\n")).toMatch(/not an XML plist/);
  });

  it("ESSO-5 finds declarations a device would refuse: the app's AppStoreID, the activation, the legacy profile, Apple's types", () => {
    const cases: [string, ServerEnrollmentSsoDocument, RegExp][] = [
      ["another AppStoreID", withDeclarations((ds) => ds.map((d) => (d.Type === "com.apple.configuration.app.managed" ? { ...d, Payload: { AppStoreID: "42" } } : d))), /AppStoreID "42" is not iTunesStoreID 1234567890/],
      ["an integer AppStoreID", withDeclarations((ds) => ds.map((d) => (d.Type === "com.apple.configuration.app.managed" ? { ...d, Payload: { AppStoreID: 1234567890 } } : d))), /AppStoreID: expected <string>, got integer/],
      ["no activation", withDeclarations((ds) => ds.filter((d) => d.Type !== "com.apple.activation.simple")), /exactly one com\.apple\.activation\.simple, found 0/],
      ["two apps", withDeclarations((ds) => [...ds, ...ds.filter((d) => d.Type === "com.apple.configuration.app.managed").map((d) => ({ ...d, Identifier: "other" }))]), /exactly one com\.apple\.configuration\.app\.managed, found 2/],
      ["no legacy", withDeclarations((ds) => ds.filter((d) => d.Type !== "com.apple.configuration.legacy")), /at least one com\.apple\.configuration\.legacy/],
      ["an activation naming an unknown configuration", withDeclarations((ds) => ds.map((d) => (d.Type === "com.apple.activation.simple" ? { ...d, Payload: { StandardConfigurations: ["nowhere"] } } : d))), /the activation names \["nowhere"\]/],
      ["an http ProfileURL", withDeclarations((ds) => ds.map((d) => (d.Type === "com.apple.configuration.legacy" ? { ...d, Payload: { ProfileURL: "http://mdm.example.com/p" } } : d))), /ProfileURL must be an https URL/],
      ["a legacy declaration without ProfileURL", withDeclarations((ds) => ds.map((d) => (d.Type === "com.apple.configuration.legacy" ? { ...d, Payload: {} } : d))), /missing required key ProfileURL/],
      ["an unknown declaration type", withDeclarations((ds) => [...ds, { Type: "com.apple.asset.data", Identifier: "a", ServerToken: "1", Payload: {} }]), /com\.apple\.asset\.data is not one of/],
      ["a declaration without ServerToken", withDeclarations((ds) => ds.map((d) => ({ ...d, ServerToken: "" }))), /ServerToken/],
      ["a repeated Identifier", withDeclarations((ds) => ds.map((d) => (d.Type === "com.apple.configuration.legacy" ? { ...d, Identifier: ds[1]?.Identifier ?? "" } : d))), /each Identifier once/],
    ];
    for (const [what, document, problem] of cases) expect(checkEnrollmentSsoDocument(document, "standard").join("\n"), what).toMatch(problem);
    const notJson = { ...built(essoInput).document, Declarations: [btoa("{not json")] };
    expect(checkEnrollmentSsoDocument(notJson, "standard")).toEqual(["Declarations[0]: not JSON"]);
  });

  it("ESSO-5 the document itself: AppIDs only for the developer endpoint, iTunesStoreID for the standard one, base64 data", () => {
    const { document } = built(essoInput);
    expect(checkEnrollmentSsoDocument({ ...document, AppIDs: ["ABCDE12345.com.example.sso"] }, "standard").join("\n")).toMatch(/AppIDs appear only in the developer document/);
    const { iTunesStoreID: _id, ...noStoreId } = document;
    expect(checkEnrollmentSsoDocument(noStoreId, "standard").join("\n")).toMatch(/iTunesStoreID/);
    expect(checkEnrollmentSsoDocument(document, "developer").join("\n")).toMatch(/AppIDs/);
    expect(checkEnrollmentSsoDocument({ ...document, ConfigurationProfile: "not base64!" }, "standard").join("\n")).toMatch(/ConfigurationProfile/);
    expect(checkEnrollmentSsoDocument({ ...document, AssociatedDomains: "authsrv:x" }, "standard").join("\n")).toMatch(/AssociatedDomains/);
  });
});
