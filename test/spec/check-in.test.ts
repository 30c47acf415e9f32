import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Authenticate,
  CheckInMessage,
  CheckOut,
  OtherCheckIn,
  checkInIdentifierMaxLength,
  knownCheckInMessageTypes,
  TokenUpdate,
  UserAuthenticate,
  checkInContentType,
  commandContentType,
  parseCheckInMessage,
  profileContentType,
  readCheckInMessage,
  type CheckInParseError,
  type ParsedCheckIn,
} from "../../spec/check-in.ts";
import type { Result } from "../../spec/result.ts";
import { buildPlist, type PlistValue } from "../../spec/plist.ts";
import { loadAppleSchema, validateCheckInMessage, type ValidationContext } from "../support/apple-yaml.ts";

const topic = "com.apple.mgmt.External.9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b";
const enrollmentID = "5C1E6F0A-2B3C-4D5E-8F90-A1B2C3D4E5F6";
const udid = "00008030-001A2B3C4D5E802E";
const token = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]);

const iosUser: ValidationContext = { os: "iOS", enrollment: "user" };
const iosDevice: ValidationContext = { os: "iOS", enrollment: "device" };

/** Example messages (as a device sends them), each with the context it is valid in. */
const vectors: ReadonlyArray<readonly [string, Record<string, PlistValue>, ValidationContext]> = [
  ["Authenticate (user enrollment, EnrollmentID)", { MessageType: "Authenticate", Topic: topic, EnrollmentID: enrollmentID, OSVersion: "18.2.1", BuildVersion: "22C161", ProductName: "iPhone13,2" }, iosUser],
  ["Authenticate (ADDE, UDID)", { MessageType: "Authenticate", Topic: topic, UDID: udid, SerialNumber: "F2LXK0AAAAAA", OSVersion: "18.2.1" }, iosDevice],
  ["Authenticate (macOS)", { MessageType: "Authenticate", Topic: topic, UDID: udid, DeviceName: "Mac", Model: "Mac14,2", ModelName: "MacBook Air" }, { os: "macOS", enrollment: "device", channel: "device" }],
  ["TokenUpdate (user enrollment)", { MessageType: "TokenUpdate", Topic: topic, EnrollmentID: enrollmentID, Token: token, PushMagic: "7E1B4C2A-0000-4000-8000-000000000001" }, iosUser],
  ["TokenUpdate (ADDE, UnlockToken)", { MessageType: "TokenUpdate", Topic: topic, UDID: udid, Token: token, PushMagic: "magic", UnlockToken: new Uint8Array([1, 2, 3]), AwaitingConfiguration: false }, iosDevice],
  ["TokenUpdate (macOS user channel, user enrollment)", { MessageType: "TokenUpdate", Topic: topic, EnrollmentID: enrollmentID, EnrollmentUserID: "E9C2A1B0-1111-4222-8333-444455556666", Token: token, PushMagic: "magic", NotOnConsole: false, UserLongName: "User One", UserShortName: "user01", UserID: "1B2C3D4E-0000-4000-8000-000000000002" }, { os: "macOS", enrollment: "user", channel: "user" }],
  ["CheckOut (user enrollment)", { MessageType: "CheckOut", Topic: topic, EnrollmentID: enrollmentID }, iosUser],
  ["UserAuthenticate (macOS user channel, second request)", { MessageType: "UserAuthenticate", UDID: udid, UserID: "1B2C3D4E-0000-4000-8000-000000000002", DigestResponse: "d1g3st" }, { os: "macOS", enrollment: "device", channel: "user" }],
];

function parse(message: Record<string, PlistValue>): ParsedCheckIn {
  const r = parseCheckInMessage(buildPlist(message));
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.detail}`);
  return r.value;
}

describe("content types", () => {
  it("are Apple's", () => {
    expect(checkInContentType).toBe("application/x-apple-aspen-mdm-checkin");
    expect(commandContentType).toBe("application/x-apple-aspen-mdm");
    expect(profileContentType).toBe("application/x-apple-aspen-config");
  });
});

describe("check-in messages", () => {
  for (const [name, message, ctx] of vectors) {
    it(`${name}: parses from a plist body as a known message`, () => {
      const parsed = parse(message);
      expect(parsed.known).toBe(true);
      expect(parsed.message).toEqual(message);
    });

    it(`${name}: validates against Apple's YAML (${ctx.os}, ${ctx.enrollment ?? "any"} enrollment, ${ctx.channel ?? "any"} channel)`, () => {
      expect(validateCheckInMessage(message, ctx)).toEqual([]);
    });
  }

  it("narrows on MessageType", () => {
    const parsed = parse({ MessageType: "TokenUpdate", Topic: topic, EnrollmentID: enrollmentID, Token: token, PushMagic: "m" });
    if (!parsed.known || parsed.message.MessageType !== "TokenUpdate") throw new Error("expected a TokenUpdate");
    expect(parsed.message.Token).toEqual(token);
    expect(parsed.message.EnrollmentID).toBe(enrollmentID);
  });

  it("accepts a body as bytes and keeps keys it does not model", () => {
    const r = parseCheckInMessage(new TextEncoder().encode(buildPlist({ MessageType: "CheckOut", Topic: topic, UDID: udid, FutureKey: 3 })));
    expect(r.ok && r.value.message).toMatchObject({ MessageType: "CheckOut", FutureKey: 3 });
  });

  it("refuses a known message with neither UDID nor EnrollmentID", () => {
    const r = readCheckInMessage({ MessageType: "CheckOut", Topic: topic });
    expect(r.ok ? null : r.error.code).toBe("checkin.invalid");
    expect(r.ok ? "" : r.error.detail).toMatch(/UDID.*EnrollmentID/);
  });

  it("refuses a known message with a key of the wrong type", () => {
    const r = readCheckInMessage({ MessageType: "TokenUpdate", Topic: topic, UDID: udid, Token: "base64 text, not data", PushMagic: "m" });
    expect(r.ok ? null : r.error.code).toBe("checkin.invalid");
  });

  it("keeps other MessageTypes (GetToken, DeclarativeManagement) as generic records", () => {
    const get = parse({ MessageType: "GetToken", TokenServiceType: "com.apple.maid", UDID: udid });
    expect(get).toEqual({ known: false, message: { MessageType: "GetToken", TokenServiceType: "com.apple.maid", UDID: udid } });
    const ddm = parse({ MessageType: "DeclarativeManagement", Endpoint: "tokens", EnrollmentID: enrollmentID });
    expect(ddm.known).toBe(false);
    expect(validateCheckInMessage(ddm.message, iosUser)).toEqual([]);
  });

  it("refuses bodies that are not a check-in message", () => {
    const cases: Array<[Uint8Array | string, string]> = [
      ["", "checkin.empty"],
      [new Uint8Array(), "checkin.empty"],
      ["not xml", "checkin.plist-invalid"],
      [buildPlist(["MessageType", "Authenticate"]), "checkin.not-a-message"],
      [buildPlist({ Topic: topic }), "checkin.not-a-message"],
      [buildPlist({ MessageType: "" }), "checkin.not-a-message"],
    ];
    for (const [body, code] of cases) {
      const r = parseCheckInMessage(body);
      expect(r.ok ? null : r.error.code, String(body)).toBe(code);
    }
  });
});

// readCheckInMessage parses a valid modelled message once and skips the rest; what it accepts and
// refuses, and the details it gives, are those of the plain sequence it shortcuts.
describe("readCheckInMessage judges as the plain sequence: a dictionary with a MessageType, identifiers within the bound, then the modelled schema", () => {
  function reference(value: unknown): Result<ParsedCheckIn, CheckInParseError> {
    const base = OtherCheckIn.safeParse(value);
    if (!base.success) return { ok: false, error: { code: "checkin.not-a-message", detail: "a check-in message is a dictionary with a MessageType string" } };
    for (const key of ["UDID", "EnrollmentID"] as const) {
      const id = base.data[key];
      if (typeof id === "string" && id.length > checkInIdentifierMaxLength) {
        return { ok: false, error: { code: "checkin.invalid", detail: `${base.data.MessageType}: ${key} is longer than ${checkInIdentifierMaxLength} characters` } };
      }
    }
    if (!knownCheckInMessageTypes.some((t) => t === base.data.MessageType)) return { ok: true, value: { known: false, message: base.data } };
    const message = CheckInMessage.safeParse(value);
    if (!message.success) {
      const detail = message.error.issues.map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`).join("; ");
      return { ok: false, error: { code: "checkin.invalid", detail: `${base.data.MessageType}: ${detail}` } };
    }
    return { ok: true, value: { known: true, message: message.data } };
  }

  const id = fc.oneof(fc.constantFrom("", "x", enrollmentID, "a".repeat(checkInIdentifierMaxLength), "a".repeat(checkInIdentifierMaxLength + 1)), fc.integer(), fc.constant(token));
  const field = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("", "m", topic) }, fc.integer(), fc.boolean(), fc.constant(token), fc.constant(["x"]));
  const message = fc.record(
    {
      MessageType: fc.oneof(fc.constantFrom(...knownCheckInMessageTypes, "DeclarativeManagement", "GetToken", ""), fc.integer(), fc.constant(token)),
      Topic: field,
      UDID: id,
      EnrollmentID: id,
      EnrollmentUserID: field,
      PushMagic: field,
      Token: field,
      UnlockToken: field,
      UserID: field,
      DigestResponse: field,
      AwaitingConfiguration: field,
      FutureKey: field,
    },
    { requiredKeys: [] },
  );
  // The example messages above, as they are or with one key changed or added.
  const nearValid = fc.tuple(fc.constantFrom(...vectors.map(([, m]) => m)), fc.option(fc.tuple(fc.constantFrom("MessageType", "Topic", "UDID", "EnrollmentID", "PushMagic", "Token", "FutureKey"), fc.oneof(id, field)))).map(
    ([m, change]) => (change === null ? m : { ...m, [change[0]]: change[1] }),
  );
  const value = fc.oneof({ weight: 4, arbitrary: message }, { weight: 4, arbitrary: nearValid }, fc.constant(null), fc.constant("TokenUpdate"), fc.constant([{ MessageType: "TokenUpdate" }]), fc.constant(token));

  it("on generated values: the same result, value or refusal and its detail", () => {
    let known = 0;
    let other = 0;
    let refused = 0;
    fc.assert(
      fc.property(value, (v) => {
        const r = readCheckInMessage(v);
        expect(r).toEqual(reference(v));
        if (!r.ok) refused++;
        else if (r.value.known) known++;
        else other++;
      }),
      { numRuns: 3000 },
    );
    // Every branch is reached.
    expect([known > 30, other > 30, refused > 300]).toEqual([true, true, true]);
  });

  it("on the TokenUpdate bench/checkin.ts sends, and on one with too long a UDID", () => {
    const sent = { MessageType: "TokenUpdate", Topic: topic, EnrollmentID: enrollmentID, PushMagic: "8A5C0352-325B-43DE-80AF-65D0CF094B5C", Token: token };
    expect(readCheckInMessage(sent)).toEqual({ ok: true, value: { known: true, message: sent } });
    const long = { ...sent, UDID: "u".repeat(checkInIdentifierMaxLength + 1) };
    expect(readCheckInMessage(long)).toEqual(reference(long));
    expect(readCheckInMessage(long)).toEqual({ ok: false, error: { code: "checkin.invalid", detail: `TokenUpdate: UDID is longer than ${checkInIdentifierMaxLength} characters` } });
  });
});

describe("what Apple's YAML says about user enrollment", () => {
  it("forbids UDID in a user-enrollment TokenUpdate and requires EnrollmentID there", () => {
    const problems = validateCheckInMessage({ MessageType: "TokenUpdate", Topic: topic, UDID: udid, Token: token, PushMagic: "m" }, iosUser);
    expect(problems).toEqual(["TokenUpdate.UDID: forbidden under user enrollment on iOS", "TokenUpdate: missing required key EnrollmentID"]);
  });

  it("forbids UserAuthenticate under user enrollment, and lists DigestResponse as required (the schema accepts the first request without it)", () => {
    const first = { MessageType: "UserAuthenticate", UDID: udid, UserID: "1B2C3D4E-0000-4000-8000-000000000002" };
    expect(UserAuthenticate.safeParse(first).success).toBe(true);
    expect(validateCheckInMessage(first, { os: "macOS", enrollment: "device", channel: "user" })).toEqual(["UserAuthenticate: missing required key DigestResponse"]);
    expect(validateCheckInMessage({ ...first, DigestResponse: "d" }, { os: "macOS", enrollment: "user", channel: "user" })).toContain(
      "UserAuthenticate: forbidden under user enrollment on macOS",
    );
  });
});

describe("the Zod schemas use Apple's key names (checked against the YAML files)", () => {
  const cases = [
    [Authenticate, "mdm/checkin/authenticate.yaml", []],
    [TokenUpdate, "mdm/checkin/tokenupdate.yaml", []],
    [CheckOut, "mdm/checkin/checkout.yaml", []],
    // EnrollmentID is accepted on every message; the UserAuthenticate YAML does not list it.
    [UserAuthenticate, "mdm/checkin/userauthenticate.yaml", ["EnrollmentID"]],
  ] as const;
  for (const [schema, file, extras] of cases) {
    it(file, () => {
      const documented = loadAppleSchema(file).payloadkeys.map((k) => k.key);
      const modelled = Object.keys(schema.shape);
      expect(modelled.filter((k) => !documented.includes(k))).toEqual(extras);
      expect(documented.filter((k) => !modelled.includes(k))).toEqual([]);
    });
  }
});
