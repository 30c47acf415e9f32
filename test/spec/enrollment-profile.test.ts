import { describe, expect, it } from "vitest";
import {
  AcmePayload,
  ConfigurationProfile,
  EnrollmentMode,
  EnrollmentVersion,
  MdmPayload,
  MdmPayloadShape,
  Pkcs12Payload,
  PemCertificatePayload,
  Pkcs1CertificatePayload,
  RootCertificatePayload,
  ScepPayload,
  buildEnrollmentProfile,
  byodHasNoAccessRights,
  enrollmentModeForVersion,
  enrollmentModeMatchesVersion,
  enrollmentVersionForMode,
  findMdmPayload,
  hasValidAssignedManagedAppleID,
  hasValidEnrollmentMode,
  parseEnrollmentProfile,
  profileIsWellFormed,
  profileViolations,
  serializeEnrollmentProfile,
  type ConfigurationProfile as Profile,
  type EnrollmentProfileInput,
} from "../../spec/enrollment-profile.ts";
import { loadAppleSchema, validateConfigurationProfile, validateProfilePayload } from "../support/apple-yaml.ts";

const uuid = {
  profile: "0B3F2E0A-6C1D-4E55-9A0B-3C2D1E0F4A5B",
  mdm: "1C4A3F1B-7D2E-4F66-8B1C-4D3E2F1A5B6C",
  identity: "2D5B4A2C-8E3F-4A77-9C2D-5E4F3A2B6C7D",
  anchor: "3E6C5B3D-9F4A-4B88-8D3E-6F5A4B3C7D8E",
};

const rootDer = new Uint8Array([0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x01]);

const byodInput: EnrollmentProfileInput = {
  organizationName: "Example Org",
  identifierPrefix: "com.example.mdm.enroll",
  uuids: { profile: uuid.profile, mdm: uuid.mdm, identity: uuid.identity },
  mdm: {
    ServerURL: "https://mdm.example.com/mdm/server",
    CheckInURL: "https://mdm.example.com/mdm/checkin",
    Topic: "com.apple.mgmt.External.9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
    SignMessage: true,
    CheckOutWhenRemoved: true,
    ServerCapabilities: ["com.apple.mdm.per-user-connections", "com.apple.mdm.bootstraptoken"],
  },
  enrollmentMode: "BYOD",
  assignedManagedAppleID: "user01@appleid.example.com",
  identity: {
    kind: "scep",
    url: "https://mdm.example.com/scep",
    challenge: "one-time-secret",
    keysize: 2048,
    subject: [[["CN", "user01"]], [["O", "Example Org"]]],
  },
  anchors: [{ kind: "root", data: rootDer, name: "Example Root CA", uuid: uuid.anchor }],
};

const addeInput: EnrollmentProfileInput = {
  ...byodInput,
  enrollmentMode: "ADDE",
  mdm: { ...byodInput.mdm, AccessRights: 8191 },
  identity: {
    kind: "acme",
    directoryURL: "https://acme.example.com/directory",
    clientIdentifier: "device-7f3a",
    keySize: 384,
    keyType: "ECSECPrimeRandom",
    hardwareBound: true,
    attest: true,
    subject: [[["CN", "device-7f3a"]]],
    extendedKeyUsage: ["1.3.6.1.5.5.7.3.2"],
  },
  anchors: [{ kind: "pem", data: new TextEncoder().encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), name: "Example PEM CA", uuid: uuid.anchor }],
};

function build(input: EnrollmentProfileInput): Profile {
  const built = buildEnrollmentProfile(input);
  if (!built.ok) throw new Error(`build failed: ${built.error.ruleId} ${built.error.detail}`);
  return built.value;
}

function roundTrip(profile: Profile): Profile {
  const parsed = parseEnrollmentProfile(serializeEnrollmentProfile(profile));
  if (!parsed.ok) throw new Error(`parse failed: ${parsed.error.detail}`);
  return parsed.value;
}

/** A deep copy of a profile with the com.apple.mdm payload edited. */
function withMdm(profile: Profile, edit: (mdm: Record<string, unknown>) => void): unknown {
  const copy = structuredClone(profile);
  for (const payload of copy.PayloadContent) if (payload.PayloadType === "com.apple.mdm") edit(payload);
  return copy;
}

const byod = build(byodInput);
const adde = build(addeInput);
const strict = { requireModeMatchesVersion: true };

// Apple's example from "Implementing the simple authentication account-driven enrollment flow",
// step 12. Its "…" elisions are filled with the required keys (marked); the rest is Apple's text.
const appleExample = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>PayloadType</key>
    <string>Configuration</string>
    <!-- filled in -->
    <key>PayloadIdentifier</key>
    <string>com.example.byod</string>
    <key>PayloadUUID</key>
    <string>0B3F2E0A-6C1D-4E55-9A0B-3C2D1E0F4A5B</string>
    <key>PayloadVersion</key>
    <integer>1</integer>
    <key>PayloadContent</key>
    <array>
        <dict>
            <key>PayloadType</key>
            <string>com.apple.security.scep</string>
            <!-- filled in -->
            <key>PayloadIdentifier</key>
            <string>com.example.byod.scep</string>
            <key>PayloadUUID</key>
            <string>2D5B4A2C-8E3F-4A77-9C2D-5E4F3A2B6C7D</string>
            <key>PayloadVersion</key>
            <integer>1</integer>
            <key>PayloadContent</key>
            <dict>
                <key>URL</key>
                <string>https://scep.example.com/scep</string>
            </dict>
        </dict>
        <dict>
            <key>PayloadType</key>
            <string>com.apple.mdm</string>
            <!-- filled in -->
            <key>PayloadIdentifier</key>
            <string>com.example.byod.mdm</string>
            <key>PayloadUUID</key>
            <string>1C4A3F1B-7D2E-4F66-8B1C-4D3E2F1A5B6C</string>
            <key>PayloadVersion</key>
            <integer>1</integer>
            <key>IdentityCertificateUUID</key>
            <string>2D5B4A2C-8E3F-4A77-9C2D-5E4F3A2B6C7D</string>
            <key>Topic</key>
            <string>com.apple.mgmt.External.example</string>
            <key>ServerURL</key>
            <string>https://mdm.example.com/server</string>
            <!-- Apple's text -->
            <key>AssignedManagedAppleID</key>
            <string>user01@appleid.example.com</string>
            <key>EnrollmentMode</key>
            <string>BYOD</string>
        </dict>
    </array>
</dict>
</plist>
`;

function parsed(text: string): Profile {
  const r = parseEnrollmentProfile(text);
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

describe("enrollment mode and version", () => {
  it("maps mdm-byod to BYOD and mdm-adde to ADDE, both ways", () => {
    expect(enrollmentModeForVersion("mdm-byod")).toBe("BYOD");
    expect(enrollmentModeForVersion("mdm-adde")).toBe("ADDE");
    for (const v of EnrollmentVersion.options) expect(enrollmentVersionForMode(enrollmentModeForVersion(v))).toBe(v);
    expect(EnrollmentMode.options).toEqual(["BYOD", "ADDE"]);
  });
});

describe("buildEnrollmentProfile → serialize → parse → Apple's YAML", () => {
  for (const [name, profile, ctx, version] of [
    ["BYOD (SCEP identity, root anchor)", byod, { os: "iOS", enrollment: "user" }, "mdm-byod"],
    ["ADDE (ACME identity, PEM anchor, AccessRights)", adde, { os: "iOS", enrollment: "device" }, "mdm-adde"],
  ] as const) {
    it(`${name}: round-trips through the plist unchanged`, () => {
      expect(roundTrip(profile)).toEqual(profile);
    });

    it(`${name}: passes step 13 (PROFILE-1..5) on the parsed profile`, () => {
      expect(profileViolations(roundTrip(profile), version, strict)).toEqual([]);
    });

    it(`${name}: every payload validates against its YAML (${ctx.os}, ${ctx.enrollment} enrollment)`, () => {
      const back = roundTrip(profile);
      expect(back.PayloadContent.length).toBeGreaterThanOrEqual(3);
      for (const payload of back.PayloadContent) expect(validateProfilePayload(payload, ctx), payload.PayloadType).toEqual([]);
      expect(validateConfigurationProfile(back, ctx)).toEqual([]);
    });
  }

  it("orders payloads anchors, identity, com.apple.mdm and points IdentityCertificateUUID at the identity", () => {
    expect(byod.PayloadContent.map((p) => p.PayloadType)).toEqual(["com.apple.security.root", "com.apple.security.scep", "com.apple.mdm"]);
    expect(adde.PayloadContent.map((p) => p.PayloadType)).toEqual(["com.apple.security.pem", "com.apple.security.acme", "com.apple.mdm"]);
    expect(findMdmPayload(byod)?.IdentityCertificateUUID).toBe(uuid.identity);
  });

  it("is pure: the same input gives the same profile", () => {
    expect(serializeEnrollmentProfile(build(byodInput))).toBe(serializeEnrollmentProfile(build(byodInput)));
  });

  it("writes Apple's wire keys verbatim (SCEP 'Key Type', data as base64)", () => {
    const xml = serializeEnrollmentProfile(byod);
    expect(xml).toContain("<key>Key Type</key>");
    expect(xml).toContain("<key>Keysize</key>\n\t\t\t\t<integer>2048</integer>");
    expect(xml).toContain(`<data>${btoa(String.fromCharCode(...rootDer))}</data>`);
    expect(xml).not.toContain("AccessRights");
  });

  it("builds a PKCS#12 identity that validates against its YAML", () => {
    const profile = build({ ...byodInput, identity: { kind: "pkcs12", data: new Uint8Array([0x30, 0x80, 1, 2]), password: "secret" }, anchors: [] });
    const back = roundTrip(profile);
    expect(profileViolations(back, "mdm-byod", strict)).toEqual([]);
    expect(Pkcs12Payload.safeParse(back.PayloadContent[0]).success).toBe(true);
    expect(validateConfigurationProfile(back, { os: "macOS", enrollment: "user" })).toEqual([]);
  });
});

describe("PROFILE-5: a Configuration profile with one com.apple.mdm payload naming an identity payload", () => {
  const payloadsOf = (p: Profile) => p.PayloadContent;

  it("PROFILE-5 passes for the built profiles and Apple's example", () => {
    expect(profileIsWellFormed(byod)).toBe(true);
    expect(profileIsWellFormed(adde)).toBe(true);
    expect(profileIsWellFormed(parsed(appleExample))).toBe(true);
  });

  it("PROFILE-5 fails when the top-level PayloadType is not Configuration", () => {
    const bad = { ...byod, PayloadType: "com.apple.mdm" };
    expect(profileIsWellFormed(bad)).toBe(false);
    expect(profileViolations(bad, "mdm-byod", strict)).toEqual(["PROFILE-5"]);
  });

  it("PROFILE-5 fails without a com.apple.mdm payload, or with two", () => {
    const none = { ...byod, PayloadContent: payloadsOf(byod).filter((p) => p.PayloadType !== "com.apple.mdm") };
    expect(profileIsWellFormed(none)).toBe(false);
    expect(profileViolations(none, "mdm-byod", strict)).toEqual(["PROFILE-5", "PROFILE-1", "PROFILE-3"]);
    const mdm = payloadsOf(byod).find((p) => p.PayloadType === "com.apple.mdm");
    const two = { ...byod, PayloadContent: [...payloadsOf(byod), { ...mdm, PayloadUUID: "another" }] };
    expect(profileIsWellFormed(two)).toBe(false);
    expect(findMdmPayload(two)).toBeUndefined();
  });

  it("PROFILE-5 fails when IdentityCertificateUUID names no payload", () => {
    const bad = withMdm(byod, (m) => (m.IdentityCertificateUUID = "9F9F9F9F-0000-4000-8000-000000000000"));
    expect(profileIsWellFormed(bad)).toBe(false);
    expect(profileViolations(bad, "mdm-byod", strict)).toEqual(["PROFILE-5"]);
  });

  it("PROFILE-5 fails when IdentityCertificateUUID names a trust anchor, not a SCEP/ACME/PKCS#12 payload", () => {
    const bad = withMdm(byod, (m) => (m.IdentityCertificateUUID = uuid.anchor));
    expect(profileIsWellFormed(bad)).toBe(false);
  });

  it("PROFILE-5 fails when IdentityCertificateUUID is ambiguous (two payloads share that PayloadUUID)", () => {
    const duplicate = { PayloadType: "com.apple.security.pem", PayloadIdentifier: "dup", PayloadUUID: uuid.identity, PayloadVersion: 1, PayloadContent: rootDer };
    expect(profileIsWellFormed({ ...byod, PayloadContent: [...byod.PayloadContent, duplicate] })).toBe(false);
  });

  it("PROFILE-5 fails when the named SCEP payload has no URL", () => {
    const copy = structuredClone(byod);
    for (const p of copy.PayloadContent) if (p.PayloadType === "com.apple.security.scep") p.PayloadContent = {};
    expect(profileIsWellFormed(copy)).toBe(false);
  });

  it("PROFILE-5 fails when the com.apple.mdm payload has a key of the wrong type", () => {
    expect(profileIsWellFormed(withMdm(adde, (m) => (m.AccessRights = "8191")))).toBe(false);
  });

  it("PROFILE-5: parseEnrollmentProfile refuses what is not a Configuration profile", () => {
    const empty = parseEnrollmentProfile("");
    expect(empty.ok ? null : empty.error).toMatchObject({ code: "profile.empty", ruleId: "ENROLL2-4" });
    const emptyBytes = parseEnrollmentProfile(new Uint8Array());
    expect(emptyBytes.ok ? null : emptyBytes.error.code).toBe("profile.empty");
    const der = parseEnrollmentProfile(new Uint8Array([0x30, 0x80, 0x06, 0x09]));
    expect(der.ok ? null : der.error).toMatchObject({ code: "profile.plist-invalid", ruleId: "PROFILE-5" });
    expect(der.ok ? "" : der.error.detail).toMatch(/CMS/);
    const json = parseEnrollmentProfile('{"PayloadType":"Configuration"}');
    expect(json.ok ? null : json.error).toMatchObject({ code: "profile.plist-invalid", ruleId: "PROFILE-5" });
    const dict = parseEnrollmentProfile('<plist version="1.0"><dict><key>PayloadType</key><string>com.apple.mdm</string></dict></plist>');
    expect(dict.ok ? null : dict.error).toMatchObject({ code: "profile.not-configuration", ruleId: "PROFILE-5" });
  });

  it("accepts bytes, and keeps unknown keys and unknown payload types", () => {
    const extra = appleExample
      .replace("<key>PayloadContent</key>", "<key>PayloadDescription</key><string>d</string><key>FutureTopLevelKey</key><true/><key>PayloadContent</key>")
      .replace(
        "<array>",
        "<array><dict><key>PayloadType</key><string>com.apple.wifi.managed</string><key>PayloadIdentifier</key><string>w</string><key>PayloadUUID</key><string>W</string><key>PayloadVersion</key><integer>1</integer><key>SSID_STR</key><string>corp</string></dict>",
      );
    const r = parseEnrollmentProfile(new TextEncoder().encode(extra));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.FutureTopLevelKey).toBe(true);
    expect(r.value.PayloadContent[0]).toMatchObject({ PayloadType: "com.apple.wifi.managed", SSID_STR: "corp" });
    expect(profileViolations(r.value, "mdm-byod", strict)).toEqual([]);
    expect(serializeEnrollmentProfile(r.value)).toContain("<key>SSID_STR</key>");
  });
});

describe("PROFILE-1: EnrollmentMode is BYOD or ADDE", () => {
  it("PROFILE-1 passes for BYOD and ADDE", () => {
    expect(hasValidEnrollmentMode(byod)).toBe(true);
    expect(hasValidEnrollmentMode(adde)).toBe(true);
  });

  for (const [label, edit] of [
    ["missing", (m: Record<string, unknown>) => delete m.EnrollmentMode],
    ["lower-case byod", (m: Record<string, unknown>) => (m.EnrollmentMode = "byod")],
    ["another value", (m: Record<string, unknown>) => (m.EnrollmentMode = "UserEnrollment")],
    ["not a string", (m: Record<string, unknown>) => (m.EnrollmentMode = 1)],
  ] as const) {
    it(`PROFILE-1 fails when EnrollmentMode is ${label}`, () => {
      const bad = withMdm(byod, edit);
      expect(hasValidEnrollmentMode(bad)).toBe(false);
      expect(profileViolations(bad, "mdm-byod", strict)).toContain("PROFILE-1");
      expect(profileViolations(bad, "mdm-byod", strict)).not.toContain("PROFILE-2");
    });
  }
});

describe("PROFILE-2 (UNCONFIRMED): EnrollmentMode matches the discovered Version", () => {
  it("PROFILE-2 passes when BYOD meets mdm-byod and ADDE meets mdm-adde", () => {
    expect(enrollmentModeMatchesVersion(byod, "mdm-byod")).toBe(true);
    expect(enrollmentModeMatchesVersion(adde, "mdm-adde")).toBe(true);
  });

  it("PROFILE-2 fails on a mismatch, when the option asks for it", () => {
    expect(enrollmentModeMatchesVersion(byod, "mdm-adde")).toBe(false);
    expect(enrollmentModeMatchesVersion(adde, "mdm-byod")).toBe(false);
    expect(profileViolations(byod, "mdm-adde", strict)).toEqual(["PROFILE-2"]);
    expect(profileViolations(adde, "mdm-byod", strict)).toEqual(["PROFILE-2"]);
  });

  it("PROFILE-2 is not applied when requireModeMatchesVersion is false", () => {
    expect(profileViolations(byod, "mdm-adde", { requireModeMatchesVersion: false })).toEqual([]);
  });
});

describe("PROFILE-3: AssignedManagedAppleID is present and local@FQDN", () => {
  it("PROFILE-3 passes for Apple's example user01@appleid.example.com", () => {
    expect(hasValidAssignedManagedAppleID(parsed(appleExample))).toBe(true);
    expect(hasValidAssignedManagedAppleID(byod)).toBe(true);
  });

  for (const [label, value] of [
    ["missing", undefined],
    ["empty", ""],
    ["without @", "user01"],
    ["with an empty local part", "@appleid.example.com"],
    ["with a domain that is not an FQDN", "user01@localhost"],
    ["with whitespace", "user 01@appleid.example.com"],
    ["with a trailing newline", "user01@appleid.example.com\n"],
    ["with two @", "a@b@appleid.example.com"],
    ["not a string", 42],
  ] as const) {
    it(`PROFILE-3 fails when AssignedManagedAppleID is ${label}`, () => {
      const bad = withMdm(byod, (m) => {
        if (value === undefined) delete m.AssignedManagedAppleID;
        else m.AssignedManagedAppleID = value;
      });
      expect(hasValidAssignedManagedAppleID(bad)).toBe(false);
      expect(profileViolations(bad, "mdm-byod", strict)).toContain("PROFILE-3");
    });
  }

  it("PROFILE-3: the builder refuses an invalid Managed Apple Account", () => {
    const r = buildEnrollmentProfile({ ...byodInput, assignedManagedAppleID: "user01" });
    expect(r.ok ? null : r.error).toMatchObject({ code: "profile.invalid", ruleId: "PROFILE-3" });
  });
});

describe("PROFILE-4: a BYOD profile carries no AccessRights", () => {
  it("PROFILE-4 passes for BYOD without AccessRights and for ADDE with them", () => {
    expect(byodHasNoAccessRights(byod)).toBe(true);
    expect(byodHasNoAccessRights(adde)).toBe(true);
    expect(findMdmPayload(adde)?.AccessRights).toBe(8191);
  });

  it("PROFILE-4 fails for BYOD with AccessRights (any value, even 0)", () => {
    for (const rights of [8191, 0]) {
      const bad = withMdm(byod, (m) => (m.AccessRights = rights));
      expect(byodHasNoAccessRights(bad)).toBe(false);
      expect(profileViolations(bad, "mdm-byod", strict)).toEqual(["PROFILE-4"]);
    }
  });

  it("PROFILE-4 fails for Apple's example once AccessRights is added (the page's note)", () => {
    const bad = parsed(appleExample.replace("<key>EnrollmentMode</key>", "<key>AccessRights</key><integer>1</integer><key>EnrollmentMode</key>"));
    expect(profileViolations(bad, "mdm-byod", strict)).toEqual(["PROFILE-4"]);
  });

  it("PROFILE-4: the builder refuses AccessRights in a BYOD profile instead of emitting it", () => {
    const r = buildEnrollmentProfile({ ...byodInput, mdm: { ...byodInput.mdm, AccessRights: 1 } });
    expect(r.ok ? null : r.error).toMatchObject({ code: "profile.byod-access-rights", ruleId: "PROFILE-4" });
  });
});

describe("step 13 as a whole", () => {
  it("Apple's example (BYOD, user01@appleid.example.com) passes step 13 and Apple's YAML", () => {
    const profile = parsed(appleExample);
    expect(findMdmPayload(profile)).toMatchObject({ AssignedManagedAppleID: "user01@appleid.example.com", EnrollmentMode: "BYOD" });
    expect(profileViolations(profile, "mdm-byod", strict)).toEqual([]);
    expect(validateConfigurationProfile(profile, { os: "iOS", enrollment: "user" })).toEqual([]);
  });

  it("lists violations in the order PROFILE-5, PROFILE-1/2, PROFILE-3, PROFILE-4", () => {
    const all = withMdm(byod, (m) => {
      m.IdentityCertificateUUID = "nowhere";
      m.AssignedManagedAppleID = "nobody";
      m.AccessRights = 1;
    });
    expect(profileViolations(all, "mdm-adde", strict)).toEqual(["PROFILE-5", "PROFILE-2", "PROFILE-3", "PROFILE-4"]);
    const noMode = withMdm(byod, (m) => {
      delete m.EnrollmentMode;
      m.IdentityCertificateUUID = "nowhere";
      m.AssignedManagedAppleID = "nobody";
    });
    expect(profileViolations(noMode, "mdm-byod", strict)).toEqual(["PROFILE-5", "PROFILE-1", "PROFILE-3"]);
    expect(profileViolations("not a profile", "mdm-byod", strict)).toEqual(["PROFILE-5", "PROFILE-1", "PROFILE-3"]);
  });
});

describe("PROFILE-8: the server's com.apple.mdm payload", () => {
  const mdm = findMdmPayload(byod);

  it("PROFILE-8 passes for the built payload", () => {
    expect(MdmPayload.safeParse(mdm).success).toBe(true);
  });

  for (const [label, patch] of [
    ["a Topic without the com.apple.mgmt. prefix", { Topic: "com.example.mdm" }],
    ["a bare com.apple.mgmt. Topic", { Topic: "com.apple.mgmt." }],
    ["an http ServerURL", { ServerURL: "http://mdm.example.com/server" }],
    ["a ServerURL that is not a URL", { ServerURL: "https//mdm" }],
    ["an http CheckInURL", { CheckInURL: "http://mdm.example.com/checkin" }],
    ["an empty IdentityCertificateUUID", { IdentityCertificateUUID: "" }],
  ] as const) {
    it(`PROFILE-8 fails for ${label}`, () => {
      const r = MdmPayload.safeParse({ ...mdm, ...patch });
      expect(r.success).toBe(false);
      // The device-side shape does not judge these: PROFILE-8 is the server's rule.
      expect(MdmPayloadShape.safeParse({ ...mdm, ...patch }).success).toBe(true);
    });
  }

  it("PROFILE-8 fails when IdentityCertificateUUID is missing", () => {
    const rest = { ...mdm };
    delete rest.IdentityCertificateUUID;
    expect(MdmPayload.safeParse(rest).success).toBe(false);
  });

  it("PROFILE-8: the builder refuses a bad Topic or ServerURL", () => {
    for (const patch of [{ Topic: "com.example.topic" }, { ServerURL: "http://mdm.example.com" }]) {
      const r = buildEnrollmentProfile({ ...addeInput, mdm: { ...addeInput.mdm, ...patch } });
      expect(r.ok ? null : r.error).toMatchObject({ code: "profile.invalid-mdm", ruleId: "PROFILE-8" });
    }
  });
});

describe("the Zod schemas use Apple's key names (checked against the YAML files)", () => {
  const yamlKeys = (file: string, under?: string): string[] => {
    const keys = loadAppleSchema(file).payloadkeys;
    const found = under === undefined ? keys : (keys.find((k) => k.key === under)?.subkeys ?? []);
    return found.map((k) => k.key).sort();
  };
  const common = yamlKeys("mdm/profiles/CommonPayloadKeys.yaml");
  const covers = (modelled: string[], file: string, under?: string) => {
    const documented = [...yamlKeys(file, under), ...(under === undefined ? common : [])];
    expect(modelled.filter((k) => k !== "PayloadType" && !documented.includes(k)), `${file}: modelled but not in the YAML`).toEqual([]);
    expect(documented.filter((k) => !modelled.includes(k)), `${file}: in the YAML but not modelled`).toEqual([]);
  };

  it("com.apple.mdm", () => covers(Object.keys(MdmPayloadShape.shape), "mdm/profiles/com.apple.mdm.yaml"));
  it("com.apple.security.scep (and its PayloadContent)", () => {
    covers(Object.keys(ScepPayload.shape), "mdm/profiles/com.apple.security.scep.yaml");
    expect(Object.keys(ScepPayload.shape.PayloadContent.shape).sort()).toEqual(yamlKeys("mdm/profiles/com.apple.security.scep.yaml", "PayloadContent"));
  });
  it("com.apple.security.acme", () => covers(Object.keys(AcmePayload.shape), "mdm/profiles/com.apple.security.acme.yaml"));
  it("com.apple.security.pkcs12", () => covers(Object.keys(Pkcs12Payload.shape), "mdm/profiles/com.apple.security.pkcs12.yaml"));
  it("trust anchors: root, pem, pkcs1", () => {
    covers(Object.keys(RootCertificatePayload.shape), "mdm/profiles/com.apple.security.root.yaml");
    covers(Object.keys(PemCertificatePayload.shape), "mdm/profiles/com.apple.security.pem.yaml");
    covers(Object.keys(Pkcs1CertificatePayload.shape), "mdm/profiles/com.apple.security.pkcs1.yaml");
  });
  it("the top level (a subset: encryption, removal and consent keys are not modelled)", () => {
    const top = yamlKeys("mdm/profiles/TopLevel.yaml");
    expect(Object.keys(ConfigurationProfile.shape).filter((k) => !top.includes(k))).toEqual([]);
  });
});
