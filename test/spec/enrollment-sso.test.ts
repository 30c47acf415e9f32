import { describe, expect, it } from "vitest";
import { EnrollmentSsoDeveloperDocument, EnrollmentSsoDocument, parseEnrollmentSsoDocument } from "../../spec/enrollment-sso.ts";
import { loadAppleSchema, validateAgainstAppleSchema, type AppleType } from "../support/apple-yaml.ts";

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
