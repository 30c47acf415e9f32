import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  appleSchemaRoot,
  keysWithUserEnrollmentMode,
  loadAppleSchema,
  schemaForMessageType,
  schemaForPayloadType,
  userEnrollmentForbiddenKeys,
  validateAgainstAppleSchema,
  validateCheckInMessage,
  validateConfigurationProfile,
  validateProfilePayload,
} from "./apple-yaml.ts";

const mdmYaml = "mdm/profiles/com.apple.mdm.yaml";

const mdm = {
  PayloadType: "com.apple.mdm",
  PayloadIdentifier: "com.example.mdm",
  PayloadUUID: "1C4A3F1B-7D2E-4F66-8B1C-4D3E2F1A5B6C",
  PayloadVersion: 1,
  IdentityCertificateUUID: "2D5B4A2C-8E3F-4A77-9C2D-5E4F3A2B6C7D",
  Topic: "com.apple.mgmt.External.example",
  ServerURL: "https://mdm.example.com/server",
  ServerCapabilities: ["com.apple.mdm.per-user-connections"],
  EnrollmentMode: "ADDE",
  AssignedManagedAppleID: "user01@appleid.example.com",
  AccessRights: 8191,
};

const scep = {
  PayloadType: "com.apple.security.scep",
  PayloadIdentifier: "com.example.scep",
  PayloadUUID: "2D5B4A2C-8E3F-4A77-9C2D-5E4F3A2B6C7D",
  PayloadVersion: 1,
  PayloadContent: { URL: "https://scep.example.com", Keysize: 2048, "Key Type": "RSA", Subject: [[["CN", "x"]]] },
};

describe("loading Apple's YAML", () => {
  it("reads every schema file we ship (profiles, check-in, errors) in the documented format", () => {
    for (const dir of ["mdm/profiles", "mdm/checkin", "mdm/errors"]) {
      for (const f of readdirSync(path.join(appleSchemaRoot, dir)).filter((n) => n.endsWith(".yaml"))) {
        expect(loadAppleSchema(`${dir}/${f}`).payloadkeys.length, f).toBeGreaterThan(0);
      }
    }
  });

  it("finds schemas by PayloadType and MessageType", () => {
    expect(schemaForPayloadType("com.apple.mdm")?.file).toBe(mdmYaml);
    expect(schemaForPayloadType("com.apple.security.acme")?.title).toBe("ACME Certificate");
    expect(schemaForMessageType("TokenUpdate")?.file).toBe("mdm/checkin/tokenupdate.yaml");
    expect(schemaForPayloadType("com.example.none")).toBeUndefined();
  });
});

describe("validating a dictionary against payloadkeys", () => {
  it("accepts valid payloads (with and without a context)", () => {
    expect(validateProfilePayload(mdm)).toEqual([]);
    expect(validateProfilePayload(mdm, { os: "iOS", enrollment: "device" })).toEqual([]);
    expect(validateProfilePayload(scep, { os: "macOS" })).toEqual([]);
  });

  it("reports a wrong type", () => {
    expect(validateProfilePayload({ ...mdm, AccessRights: "8191" })).toEqual(['com.apple.mdm.AccessRights: expected <integer>, got string "8191"']);
    expect(validateProfilePayload({ ...mdm, SignMessage: 1 })).toEqual(["com.apple.mdm.SignMessage: expected <boolean>, got integer 1"]);
    expect(validateProfilePayload({ ...scep, PayloadContent: "https://scep.example.com" })).toEqual([
      'com.apple.security.scep.PayloadContent: expected <dictionary>, got string "https://scep.example.com"',
    ]);
  });

  it("reports a wrong type inside subkeys and array items", () => {
    expect(validateProfilePayload({ ...mdm, ServerCapabilities: [1] })).toEqual(["com.apple.mdm.ServerCapabilities[0]: expected <string>, got integer 1"]);
    expect(validateProfilePayload({ ...scep, PayloadContent: { ...scep.PayloadContent, Retries: 2.5 } })).toEqual([
      "com.apple.security.scep.PayloadContent.Retries: expected <integer>, got real 2.5",
    ]);
    expect(validateProfilePayload({ ...scep, PayloadContent: { ...scep.PayloadContent, CAFingerprint: "ab:cd" } })).toEqual([
      'com.apple.security.scep.PayloadContent.CAFingerprint: expected <data>, got string "ab:cd"',
    ]);
  });

  it("reports missing required keys, also in subkeys", () => {
    const { Topic: _t, ...noTopic } = mdm;
    expect(validateProfilePayload(noTopic)).toEqual(["com.apple.mdm: missing required key Topic"]);
    const { PayloadUUID: _u, ...noUUID } = mdm;
    expect(validateProfilePayload(noUUID)).toEqual(["com.apple.mdm: missing required key PayloadUUID"]);
    expect(validateProfilePayload({ ...scep, PayloadContent: { Keysize: 2048 } })).toEqual(["com.apple.security.scep.PayloadContent: missing required key URL"]);
  });

  it("reports values outside rangelist", () => {
    expect(validateProfilePayload({ ...mdm, EnrollmentMode: "UserEnrollment" })).toEqual([
      'com.apple.mdm.EnrollmentMode: string "UserEnrollment" is not one of "BYOD", "ADDE"',
    ]);
    expect(validateProfilePayload({ ...mdm, PayloadVersion: 2 })).toEqual(["com.apple.mdm.PayloadVersion: integer 2 is not one of 1"]);
    expect(validateProfilePayload({ ...mdm, ServerCapabilities: ["com.apple.mdm.everything"] })).toHaveLength(1);
    expect(validateProfilePayload({ ...scep, PayloadContent: { ...scep.PayloadContent, Keysize: 3000 } })).toEqual([
      "com.apple.security.scep.PayloadContent.Keysize: integer 3000 is not one of 1024, 2048, 4096",
    ]);
  });

  it("reports unknown keys, format mismatches and repetition", () => {
    expect(validateProfilePayload({ ...mdm, ServerUrl: "https://typo" })).toEqual(["com.apple.mdm.ServerUrl: unknown key"]);
    expect(validateProfilePayload({ ...mdm, ServerURL: "http://mdm.example.com" })).toEqual(['com.apple.mdm.ServerURL: "http://mdm.example.com" does not match ^https://.*$']);
    expect(validateProfilePayload({ ...mdm, IdentityCertificateUUID: "identity" })).toHaveLength(1);
    expect(validateProfilePayload({ ...scep, PayloadContent: { ...scep.PayloadContent, Subject: [[["CN", "x", "y"]]] } })).toEqual([
      "com.apple.security.scep.PayloadContent.Subject[0][0]: has 3 items, expected 2…2",
    ]);
  });

  it("reports keys a context forbids or does not have", () => {
    const top = { PayloadType: "Configuration", PayloadIdentifier: "p", PayloadUUID: "U", PayloadVersion: 1, PayloadContent: [], PayloadRemovalDisallowed: true };
    expect(validateConfigurationProfile(top, { os: "iOS", enrollment: "device" })).toEqual([]);
    expect(validateConfigurationProfile(top, { os: "iOS", enrollment: "user" })).toEqual(["TopLevel.PayloadRemovalDisallowed: forbidden under user enrollment on iOS"]);
    expect(validateConfigurationProfile(top, { os: "visionOS" })).toEqual(["TopLevel.PayloadRemovalDisallowed: not available on visionOS"]);
    expect(validateProfilePayload({ ...mdm, RequiredAppIDForMDM: 1 }, { os: "macOS" })).toEqual(["com.apple.mdm.RequiredAppIDForMDM: not available on macOS"]);
    // AccessRights is "ignored" (not forbidden) under user enrollment: the YAML does not catch PROFILE-4.
    expect(validateProfilePayload(mdm, { os: "iOS", enrollment: "user" })).toEqual([]);
  });

  it("requires keys per context: NotOnConsole on the macOS user channel only", () => {
    const tu = { MessageType: "TokenUpdate", Topic: "com.apple.mgmt.x", UDID: "U", Token: new Uint8Array([1]), PushMagic: "m" };
    expect(validateCheckInMessage(tu)).toEqual([]);
    expect(validateCheckInMessage(tu, { os: "iOS", enrollment: "device" })).toEqual([]);
    expect(validateCheckInMessage(tu, { os: "macOS", enrollment: "device", channel: "user" })).toEqual([
      "TokenUpdate: missing required key NotOnConsole",
      "TokenUpdate: missing required key UserLongName",
    ]);
    expect(validateCheckInMessage({ ...tu, NotOnConsole: false }, { os: "iOS" })).toEqual(["TokenUpdate.NotOnConsole: not available on iOS"]);
  });

  it("validates a profile's payloads through TopLevel.yaml, each against its own schema", () => {
    const profile = { PayloadType: "Configuration", PayloadIdentifier: "p", PayloadUUID: "U", PayloadVersion: 1, PayloadContent: [scep, { ...mdm, Topic: 7 }] };
    expect(validateConfigurationProfile(profile)).toEqual(["PayloadContent[1] com.apple.mdm.Topic: expected <string>, got integer 7"]);
    expect(validateConfigurationProfile({ ...profile, PayloadType: "Profile" })).toContain('TopLevel.PayloadType: string "Profile" is not one of "Configuration"');
    expect(validateConfigurationProfile({ ...profile, PayloadContent: [{ PayloadType: "com.example.none" }] })).toEqual([
      "PayloadContent[0] com.example.none: no Apple schema for this PayloadType",
    ]);
  });

  it("works on plain schemas given by file", () => {
    expect(validateAgainstAppleSchema({ code: "com.apple.well-known.failed" }, "mdm/errors/well-known.failed.yaml")).toEqual([]);
    expect(validateAgainstAppleSchema({}, "mdm/errors/well-known.failed.yaml")).toEqual(["Error Well-known Failed: missing required key code"]);
  });
});

describe("user-enrollment facts read from the YAML", () => {
  it("userEnrollmentForbiddenKeys lists the keys marked forbidden", () => {
    expect(userEnrollmentForbiddenKeys("mdm/profiles/TopLevel.yaml")).toEqual(["PayloadRemovalDisallowed"]);
    expect(userEnrollmentForbiddenKeys(mdmYaml)).toEqual([]);
    expect(userEnrollmentForbiddenKeys("mdm/checkin/authenticate.yaml")).toEqual(["UDID", "SerialNumber", "IMEI", "MEID"]);
    expect(userEnrollmentForbiddenKeys("mdm/checkin/tokenupdate.yaml")).toEqual(["UDID", "UnlockToken"]);
    expect(userEnrollmentForbiddenKeys("mdm/checkin/checkout.yaml", "macOS")).toEqual([]);
    expect(userEnrollmentForbiddenKeys("mdm/checkin/checkout.yaml", "iOS")).toEqual(["UDID"]);
  });

  it("a payload forbidden as a whole forbids all its keys (UserAuthenticate on macOS)", () => {
    expect(userEnrollmentForbiddenKeys("mdm/checkin/userauthenticate.yaml")).toEqual(["MessageType", "UDID", "UserID", "DigestResponse"]);
  });

  it("other modes: AccessRights is ignored, ManagedAppleID and EnrollmentID required under user enrollment", () => {
    expect(keysWithUserEnrollmentMode(mdmYaml, "ignored")).toEqual(["AccessRights"]);
    expect(keysWithUserEnrollmentMode(mdmYaml, "required")).toEqual(["ManagedAppleID"]);
    expect(keysWithUserEnrollmentMode("mdm/checkin/tokenupdate.yaml", "required")).toEqual(["EnrollmentID", "EnrollmentUserID"]);
  });
});
