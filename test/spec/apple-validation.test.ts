// Apple's schemas as generated code (spec/apple/*.generated.ts) and the validator over their
// metadata (spec/apple-validation.ts): "is this profile valid for a user enrollment on iOS 18?"
import { describe, expect, it } from "vitest";
import {
  ComAppleMdmPayload,
  ComAppleMdmPayloadMeta,
  ComAppleSecurityScepPayload,
  ESSODocumentMeta,
  TokenUpdateCheckIn,
  TokenUpdateCheckInMeta,
  appleSchemasByFile,
  checkInMessages,
  errorBodies,
  profilePayloads,
} from "../../spec/apple/index.generated.ts";
import {
  appleSchemaForFile,
  checkCheckInMessage,
  checkConfigurationProfile,
  checkPayloadForTarget,
  compareVersions,
  errorsOf,
  formatProblem,
  validateAgainst,
  type Target,
} from "../../spec/apple-validation.ts";
import { buildEnrollmentProfile, EnrollmentMode, type EnrollmentProfileInput } from "../../spec/enrollment-profile.ts";

const iOS18User: Target = { os: "iOS", version: "18.0", enrollment: "user" };

const input: EnrollmentProfileInput = {
  organizationName: "Example Org",
  identifierPrefix: "com.example.mdm",
  uuids: { profile: "0B3F2E0A-6C1D-4E55-9A0B-3C2D1E0F4A5B", mdm: "1C4A3F1B-7D2E-4F66-8B1C-4D3E2F1A5B6C", identity: "2D5B4A2C-8E3F-4A77-9C2D-5E4F3A2B6C7D" },
  mdm: { ServerURL: "https://mdm.example.com/mdm", Topic: "com.apple.mgmt.External.example" },
  enrollmentMode: "BYOD",
  assignedManagedAppleID: "user01@appleid.example.com",
  identity: { kind: "scep", url: "https://mdm.example.com/scep", subject: [[["CN", "user01"]]] },
};

function built(over: Partial<EnrollmentProfileInput> = {}): Record<string, unknown> & { PayloadContent: Record<string, unknown>[] } {
  const r = buildEnrollmentProfile({ ...input, ...over });
  if (!r.ok) throw new Error(r.error.detail);
  return structuredClone(r.value) as Record<string, unknown> & { PayloadContent: Record<string, unknown>[] };
}

const lines = (problems: Parameters<typeof formatProblem>[0][]): string[] => problems.map(formatProblem);

describe("compareVersions", () => {
  it("compares numerically, part by part", () => {
    expect(compareVersions("18.0", "18.4")).toBe(-1);
    expect(compareVersions("18.4", "26.0")).toBe(-1);
    expect(compareVersions("10.13.4", "10.15")).toBe(-1);
    expect(compareVersions("9.0", "10.0")).toBe(-1);
    expect(compareVersions("18", "18.0")).toBe(0);
    expect(compareVersions("26.0", "18.4")).toBe(1);
  });
});

describe("the generated schemas", () => {
  it("carry Apple's keys, types, rangelists and the payload's PayloadType literal", () => {
    expect(Object.keys(ComAppleMdmPayload.shape).slice(0, 4)).toEqual(["PayloadType", "PayloadIdentifier", "PayloadUUID", "PayloadVersion"]);
    expect(ComAppleMdmPayload.shape.PayloadType.value).toBe("com.apple.mdm");
    expect(EnrollmentMode.options).toEqual(ComAppleMdmPayloadMeta.keys.find((k) => k.key === "EnrollmentMode")?.rangelist);
    expect(ComAppleSecurityScepPayload.shape.PayloadContent.shape["Key Type"].safeParse("RSA").success).toBe(true);
    expect(ComAppleSecurityScepPayload.shape.PayloadContent.shape.Keysize.safeParse(3000).success).toBe(false);
  });

  it("make a required key optional when its presence depends on the OS, channel or enrollment, and keep the fact in the metadata", () => {
    const udid = TokenUpdateCheckInMeta.keys.find((k) => k.key === "UDID");
    const enrollmentId = TokenUpdateCheckInMeta.keys.find((k) => k.key === "EnrollmentID");
    expect([udid?.presence, udid?.conditional, enrollmentId?.presence, enrollmentId?.conditional]).toEqual(["required", true, "required", true]);
    expect(TokenUpdateCheckIn.safeParse({ MessageType: "TokenUpdate", Topic: "t", Token: new Uint8Array([1]), PushMagic: "m" }).success).toBe(true);
    expect(TokenUpdateCheckIn.safeParse({ MessageType: "TokenUpdate", Topic: "t", Token: new Uint8Array([1]) }).success).toBe(false);
  });

  it("keep supportedOS per key after inheritance, with the userenrollment mode per OS", () => {
    const udid = TokenUpdateCheckInMeta.keys.find((k) => k.key === "UDID");
    expect(udid?.supportedOS.iOS).toEqual({ introduced: "4.0", userenrollment: "forbidden", sharedipad: "allowed" });
    const managedAppleId = ComAppleMdmPayloadMeta.keys.find((k) => k.key === "ManagedAppleID");
    expect(managedAppleId?.supportedOS.iOS).toMatchObject({ introduced: "13.1", deprecated: "17.0", removed: "18.0", userenrollment: "required" });
    expect(ESSODocumentMeta.keys.find((k) => k.key === "Declarations")?.supportedOS).toMatchObject({ iOS: { introduced: "18.4" }, visionOS: { introduced: "2.4" } });
  });

  it("agree with their metadata: the same keys, for every file", () => {
    for (const [file, entry] of Object.entries(appleSchemasByFile)) {
      expect(Object.keys(entry.schema.shape), file).toEqual(entry.meta.keys.map((k) => k.key));
      expect(entry.meta.file).toBe(file);
    }
    expect(Object.keys(profilePayloads)).toContain("com.apple.mdm");
    expect(Object.keys(checkInMessages)).toEqual(expect.arrayContaining(["Authenticate", "TokenUpdate", "CheckOut", "UserAuthenticate"]));
    expect(Object.keys(errorBodies)).toEqual(expect.arrayContaining(["com.apple.well-known.failed", "com.apple.unrecognized.device"]));
  });
});

describe("checkConfigurationProfile: is this profile valid for a user enrollment on iOS 18?", () => {
  it("the profile the server builds for BYOD is", () => {
    expect(checkConfigurationProfile(built(), iOS18User)).toEqual([]);
    expect(checkConfigurationProfile(built({ enrollmentMode: "ADDE", mdm: { ...input.mdm, AccessRights: 8191 } }), { os: "iOS", version: "18.0", enrollment: "device" })).toEqual([]);
  });

  it("flags a key forbidden under user enrollment, but not under device enrollment", () => {
    const profile = { ...built(), PayloadRemovalDisallowed: true };
    expect(checkConfigurationProfile(profile, iOS18User)).toEqual([{ kind: "forbidden", path: "TopLevel.PayloadRemovalDisallowed", message: "forbidden under user enrollment on iOS" }]);
    expect(checkConfigurationProfile(profile, { ...iOS18User, enrollment: "device" })).toEqual([]);
  });

  it("flags keys the target OS version does not have yet, or no more", () => {
    const profile = built();
    const mdm = profile.PayloadContent[1];
    if (mdm === undefined) throw new Error("no mdm payload");
    mdm["ManagedAppleID"] = "user01@appleid.example.com";
    expect(lines(checkConfigurationProfile(profile, iOS18User))).toEqual(["PayloadContent[1] com.apple.mdm.ManagedAppleID: removed in iOS 18.0"]);
    expect(lines(checkConfigurationProfile(profile, { ...iOS18User, version: "17.4" }))).toEqual(["PayloadContent[1] com.apple.mdm.ManagedAppleID: deprecated in iOS 17.0"]);
    expect(errorsOf(checkConfigurationProfile(profile, { ...iOS18User, version: "17.4" }))).toEqual([]);
    delete mdm["ManagedAppleID"];
    expect(lines(checkConfigurationProfile(profile, { ...iOS18User, version: "14.8" }))).toEqual([
      "PayloadContent[1] com.apple.mdm.EnrollmentMode: introduced in iOS 15.0, after the target iOS 14.8",
      "PayloadContent[1] com.apple.mdm.AssignedManagedAppleID: introduced in iOS 15.0, after the target iOS 14.8",
    ]);
  });

  it("flags a payload the OS version lacks as a whole (ACME before iOS 16)", () => {
    const acme = built({ identity: { kind: "acme", directoryURL: "https://acme.example.com/dir", clientIdentifier: "c", keySize: 384, keyType: "ECSECPrimeRandom", hardwareBound: true, subject: [[["CN", "x"]]] } });
    expect(lines(checkConfigurationProfile(acme, { ...iOS18User, version: "15.7" }))).toEqual(["PayloadContent[0] com.apple.security.acme: introduced in iOS 16.0, after the target iOS 15.7"]);
  });

  it("flags missing required keys, wrong types and values outside a rangelist (through the Zod schema)", () => {
    const profile = built();
    const [scep, mdm] = profile.PayloadContent;
    if (scep === undefined || mdm === undefined) throw new Error("payloads missing");
    delete mdm["Topic"];
    mdm["SignMessage"] = "yes";
    (scep["PayloadContent"] as Record<string, unknown>)["Keysize"] = 3000;
    expect(lines(checkConfigurationProfile(profile, iOS18User))).toEqual([
      "PayloadContent[0] com.apple.security.scep.PayloadContent.Keysize: integer 3000 is not one of 1024, 2048, 4096",
      'PayloadContent[1] com.apple.mdm.SignMessage: expected <boolean>, got string "yes"',
      "PayloadContent[1] com.apple.mdm: missing required key Topic",
    ]);
    expect(checkConfigurationProfile(profile, iOS18User).map((p) => p.kind)).toEqual(["type", "type", "missing"]);
  });

  it("checkPayloadForTarget judges one payload; unknown payload types have no schema", () => {
    const mdm = built().PayloadContent[1];
    expect(checkPayloadForTarget(mdm, iOS18User)).toEqual([]);
    expect(checkPayloadForTarget({ ...mdm, RequiredAppIDForMDM: 1 }, { os: "macOS", version: "15.0", enrollment: "user" })).toEqual([
      { kind: "not-available", path: "com.apple.mdm.RequiredAppIDForMDM", message: "not available on macOS" },
    ]);
    expect(checkPayloadForTarget({ PayloadType: "com.apple.wifi.managed" }, iOS18User)).toEqual([{ kind: "no-schema", path: "com.apple.wifi.managed", message: "no Apple schema for this PayloadType" }]);
  });
});

describe("check-in messages and documents for a target", () => {
  it("a user-enrollment TokenUpdate names itself by EnrollmentID, never UDID", () => {
    const tu = { MessageType: "TokenUpdate", Topic: "com.apple.mgmt.x", Token: new Uint8Array([1]), PushMagic: "m" };
    expect(checkCheckInMessage({ ...tu, EnrollmentID: "E" }, iOS18User)).toEqual([]);
    expect(lines(checkCheckInMessage({ ...tu, UDID: "U" }, iOS18User))).toEqual(["TokenUpdate.UDID: forbidden under user enrollment on iOS", "TokenUpdate: missing required key EnrollmentID"]);
    expect(checkCheckInMessage({ ...tu, UDID: "U" }, { ...iOS18User, enrollment: "device" })).toEqual([]);
  });

  it("Enrollment SSO Declarations need iOS 18.4 (18.0 < 18.4 < 26.0)", () => {
    const esso = appleSchemaForFile("other/esso.yaml");
    if (esso === undefined) throw new Error("no esso schema");
    const document = { iTunesStoreID: 1, Declarations: [new Uint8Array([1])] };
    expect(lines(validateAgainst(document, esso, iOS18User))).toEqual(["ESSO.Declarations: introduced in iOS 18.4, after the target iOS 18.0"]);
    expect(validateAgainst(document, esso, { ...iOS18User, version: "18.4" })).toEqual([]);
    expect(validateAgainst(document, esso, { ...iOS18User, version: "26.0" })).toEqual([]);
  });
});
