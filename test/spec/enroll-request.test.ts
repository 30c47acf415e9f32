import { readFileSync } from "node:fs";
import { ContentInfo, EncapsulatedContent, EncapsulatedContentInfo, SignedData, SignerInfos } from "@peculiar/asn1-cms";
import { AsnConvert, AsnParser, OctetString } from "@peculiar/asn1-schema";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { enrollRequestMaxBytes, EnrollRequestInfo, parseEnrollRequestBody } from "../../spec/enroll-request.ts";
import { buildPlist } from "../../spec/plist.ts";

const realBody = new Uint8Array(readFileSync(new URL("../fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url)));

/**
 * The real body with its eContent replaced (or removed, or its signers dropped), re-encoded with
 * @peculiar/asn1-cms. The signature no longer matches: parsing does not verify.
 */
function variant(content: Uint8Array | undefined, options: { noSigner?: boolean } = {}): Uint8Array {
  const real = AsnParser.parse(AsnParser.parse(realBody, ContentInfo).content, SignedData);
  const encap = new EncapsulatedContentInfo({ eContentType: real.encapContentInfo.eContentType });
  if (content !== undefined) encap.eContent = new EncapsulatedContent({ single: new OctetString(content) });
  const sd = new SignedData({
    version: real.version,
    digestAlgorithms: real.digestAlgorithms,
    encapContentInfo: encap,
    signerInfos: options.noSigner === true ? new SignerInfos() : real.signerInfos,
  });
  if (real.certificates) sd.certificates = real.certificates;
  return new Uint8Array(AsnConvert.serialize(new ContentInfo({ contentType: "1.2.840.113549.1.7.2", content: AsnConvert.serialize(sd) })));
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function codeOf(body: Uint8Array): string {
  const r = parseEnrollRequestBody(body);
  return r.ok ? "ok" : r.error.code;
}


describe("parseEnrollRequestBody", () => {
  it("ENROLL-1 the real iOS 15 body parses as CMS SignedData with LANGUAGE, PRODUCT, VERSION", () => {
    const r = parseEnrollRequestBody(realBody);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.info).toEqual({ LANGUAGE: "ja-JP", PRODUCT: "iPhone12,1", VERSION: "19H12" });
    expect(r.value.signedData.contentType).toBe("1.2.840.113549.1.7.1");
    expect(r.value.signedData.certificates).toHaveLength(3);
    expect(r.value.signedData.signers).toHaveLength(1);
    expect(r.value.signedData.signers[0]?.digestAlgorithm).toBe("1.3.14.3.2.26");
    expect(r.value.signedData.signers[0]?.signatureAlgorithm).toBe("1.2.840.113549.1.1.5");
    expect(r.value.deviceKey).toBe("CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US|218e74efda9481088ec");
  });

  it("ENROLL-1 the body stays well under the server's size limit", () => {
    expect(realBody.length).toBe(3416);
    expect(realBody.length).toBeLessThan(enrollRequestMaxBytes);
  });

  it("ENROLL-2 the Content-Type is not an input: the bytes alone decide", () => {
    expect(parseEnrollRequestBody.length).toBe(1);
    // The same bytes, whatever header they came with, give the same result.
    expect(parseEnrollRequestBody(realBody.slice())).toEqual(parseEnrollRequestBody(realBody));
  });

  it("ENROLL-1 the same device gives the same deviceKey across its two requests", () => {
    const first = parseEnrollRequestBody(realBody);
    const second = parseEnrollRequestBody(variant(utf8(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone12,1", VERSION: "19H12" }))));
    expect(first.ok && second.ok && first.value.deviceKey === second.value.deviceKey).toBe(true);
  });

  it("ENROLL-3 extra plist keys are kept", () => {
    const body = variant(utf8(buildPlist({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C161", SERIAL: "F2LXXXXXXXXX", FUTURE_KEY: { nested: [1, true] } })));
    const r = parseEnrollRequestBody(body);
    expect(r.ok && r.value.info).toEqual({ LANGUAGE: "en-US", PRODUCT: "iPhone17,2", VERSION: "22C161", SERIAL: "F2LXXXXXXXXX", FUTURE_KEY: { nested: [1, true] } });
  });

  it("ENROLL-3 EnrollRequestInfo keeps unknown keys and still requires the documented ones", () => {
    expect(EnrollRequestInfo.parse({ LANGUAGE: "en", PRODUCT: "iPad", VERSION: "1", UDID: "x" })).toEqual({ LANGUAGE: "en", PRODUCT: "iPad", VERSION: "1", UDID: "x" });
    expect(EnrollRequestInfo.safeParse({ LANGUAGE: "", PRODUCT: "iPad", VERSION: "1" }).success).toBe(false);
    expect(EnrollRequestInfo.safeParse({ LANGUAGE: "en", PRODUCT: 1, VERSION: "1" }).success).toBe(false);
  });
});

describe("parseEnrollRequestBody negative vectors (derived from the real body)", () => {
  it("ENROLL-1 a truncated body is enroll.not-cms", () => {
    for (const n of [0, 1, 2, 100, 1000, realBody.length / 2, realBody.length - 2, realBody.length - 1]) {
      expect(codeOf(realBody.subarray(0, n))).toBe("enroll.not-cms");
    }
  });

  it("ENROLL-1 one byte flipped in a DER length is enroll.not-cms", () => {
    // Offset 53: the low byte of the eContent OCTET STRING length (04 82 01 46).
    const d = realBody.slice();
    d[53] = (d[53] ?? 0) ^ 0x01;
    expect(codeOf(d)).toBe("enroll.not-cms");
  });

  it("ENROLL-1 a plist sent as-is, or random bytes, is enroll.not-cms", () => {
    expect(codeOf(utf8(buildPlist({ LANGUAGE: "ja-JP", PRODUCT: "iPhone12,1", VERSION: "19H12" })))).toBe("enroll.not-cms");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        expect(codeOf(bytes)).toBe("enroll.not-cms");
      }),
      { numRuns: 500 },
    );
  });

  it("ENROLL-1 a detached signature (no content) is enroll.no-content", () => {
    expect(codeOf(variant(undefined))).toBe("enroll.no-content");
  });

  it("ENROLL-1 a SignedData without signer is enroll.no-signer", () => {
    expect(codeOf(variant(utf8(buildPlist({ LANGUAGE: "ja-JP", PRODUCT: "iPhone12,1", VERSION: "19H12" })), { noSigner: true }))).toBe("enroll.no-signer");
  });

  it("ENROLL-1 content that is not a plist is enroll.plist-invalid", () => {
    expect(codeOf(variant(utf8("LANGUAGE=ja-JP&PRODUCT=iPhone12,1")))).toBe("enroll.plist-invalid");
    expect(codeOf(variant(utf8("<plist><dict><key>PRODUCT</key></plist>")))).toBe("enroll.plist-invalid");
    expect(codeOf(variant(new Uint8Array([0xff, 0xfe, 0x3c, 0x00])))).toBe("enroll.plist-invalid");
    expect(codeOf(variant(new Uint8Array()))).toBe("enroll.plist-invalid");
  });

  it("ENROLL-1 a plist lacking PRODUCT is enroll.info-invalid", () => {
    const r = parseEnrollRequestBody(variant(utf8(buildPlist({ LANGUAGE: "ja-JP", VERSION: "19H12" }))));
    expect(!r.ok && r.error.code).toBe("enroll.info-invalid");
    expect(!r.ok && r.error.detail).toContain("PRODUCT");
  });

  it("ENROLL-1 a plist that is not a dict, or with a non-string key, is enroll.info-invalid", () => {
    expect(codeOf(variant(utf8(buildPlist(["ja-JP", "iPhone12,1", "19H12"]))))).toBe("enroll.info-invalid");
    expect(codeOf(variant(utf8(buildPlist({ LANGUAGE: "ja-JP", PRODUCT: 12, VERSION: "19H12" }))))).toBe("enroll.info-invalid");
  });

  it("ENROLL-1 never throws on random edits of the real body", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(realBody.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const d = realBody.slice();
        for (const [at, b] of edits) d[at] = b;
        expect(() => parseEnrollRequestBody(d)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
