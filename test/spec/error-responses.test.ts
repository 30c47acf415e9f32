import { describe, expect, it } from "vitest";
import {
  UnrecognizedDevice,
  WellKnownFailed,
  buildUnrecognizedDevice,
  buildWellKnownFailed,
  deviceRuleForErrorBody,
  errorResponseStatus,
  parseErrorResponseBody,
} from "../../spec/error-responses.ts";
import { buildPlist, parsePlist } from "../../spec/plist.ts";
import { loadAppleSchema, validateAgainstAppleSchema } from "../support/apple-yaml.ts";

const wellKnownYaml = "mdm/errors/well-known.failed.yaml";
const unrecognizedYaml = "mdm/errors/unrecognized.device.yaml";

describe("com.apple.well-known.failed", () => {
  it("DISCOVERY-11: the 403 body carries message (for the person) and description (for logs), and matches Apple's YAML", () => {
    const body = buildWellKnownFailed({ message: "This account cannot enroll.", description: "unknown domain example.org" });
    expect(body).toEqual({ code: "com.apple.well-known.failed", description: "unknown domain example.org", message: "This account cannot enroll." });
    expect(errorResponseStatus).toBe(403);
    expect(validateAgainstAppleSchema(body, wellKnownYaml)).toEqual([]);
    expect(validateAgainstAppleSchema(JSON.parse(JSON.stringify(body)), wellKnownYaml, { os: "iOS" })).toEqual([]);
  });

  it("DISCOVERY-11: a bare body is valid too; a wrong code or a non-string message is not", () => {
    expect(validateAgainstAppleSchema(buildWellKnownFailed(), wellKnownYaml)).toEqual([]);
    expect(WellKnownFailed.safeParse({ code: "com.apple.unrecognized.device" }).success).toBe(false);
    expect(WellKnownFailed.safeParse({ code: "com.apple.well-known.failed", message: 5 }).success).toBe(false);
    expect(validateAgainstAppleSchema({ code: "com.apple.well-known.failed", message: 5 }, wellKnownYaml)).toEqual([
      "Error Well-known Failed.message: expected <string>, got integer 5",
    ]);
  });

  it("DISCOVERY-9: the device reads it (JSON or plist) and cancels showing message", () => {
    const fromJson = parseErrorResponseBody(JSON.parse('{"code":"com.apple.well-known.failed","message":"No."}'));
    expect(fromJson).toEqual({ code: "com.apple.well-known.failed", message: "No." });
    if (fromJson === undefined) return;
    expect(deviceRuleForErrorBody(fromJson)).toBe("DISCOVERY-9");
    const plist = parsePlist(buildPlist({ code: "com.apple.well-known.failed", message: "No." }));
    expect(plist.ok && parseErrorResponseBody(plist.value)).toEqual({ code: "com.apple.well-known.failed", message: "No." });
  });

  it("was introduced in iOS 17.5 / macOS 14.5 per the YAML", () => {
    const s = loadAppleSchema(wellKnownYaml).supportedOS;
    expect([s?.iOS?.introduced, s?.macOS?.introduced]).toEqual(["17.5", "14.5"]);
    expect(validateAgainstAppleSchema(buildWellKnownFailed(), wellKnownYaml, { os: "tvOS" })).toEqual(["Error Well-known Failed: not available on tvOS"]);
  });
});

describe("com.apple.unrecognized.device", () => {
  it('ONGOING-9: the 403 body is {"code":"com.apple.unrecognized.device"} and matches Apple\'s YAML', () => {
    const body = buildUnrecognizedDevice();
    expect(JSON.stringify(body)).toBe('{"code":"com.apple.unrecognized.device"}');
    expect(validateAgainstAppleSchema(body, unrecognizedYaml)).toEqual([]);
    expect(validateAgainstAppleSchema(buildUnrecognizedDevice({ description: "no such enrollment" }), unrecognizedYaml, { os: "iOS", enrollment: "user" })).toEqual([]);
  });

  it("ONGOING-9: another code or an extra key is caught", () => {
    expect(UnrecognizedDevice.safeParse({ code: "com.apple.well-known.failed" }).success).toBe(false);
    expect(validateAgainstAppleSchema({ code: "unrecognized" }, unrecognizedYaml)).toHaveLength(1);
    expect(validateAgainstAppleSchema({ code: "com.apple.unrecognized.device", reason: "x" }, unrecognizedYaml)).toEqual([
      "Error Unrecognized Device.reason: unknown key",
    ]);
  });

  it("ONGOING-5: the device reads it as the unenroll signal", () => {
    const body = parseErrorResponseBody({ code: "com.apple.unrecognized.device" });
    expect(body && deviceRuleForErrorBody(body)).toBe("ONGOING-5");
    expect(parseErrorResponseBody({ code: "com.apple.softwareupdate.required" })).toBeUndefined();
    expect(parseErrorResponseBody("com.apple.unrecognized.device")).toBeUndefined();
  });
});

describe("the Zod schemas use Apple's key names", () => {
  for (const [schema, file] of [
    [WellKnownFailed, wellKnownYaml],
    [UnrecognizedDevice, unrecognizedYaml],
  ] as const) {
    it(file, () => {
      expect(Object.keys(schema.shape).sort()).toEqual(loadAppleSchema(file).payloadkeys.map((k) => k.key).sort());
    });
  }
});
