import { createHash, verify, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ContentInfo, EncapsulatedContent, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfos } from "@peculiar/asn1-cms";
import { AsnConvert, AsnParser, OctetString } from "@peculiar/asn1-schema";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { attachedContent, parseCertificate, parseSignedData, signerCertificate, signerKey, type SignedDataInfo } from "../../spec/cms.ts";

const realBody = new Uint8Array(readFileSync(new URL("../fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url)));
const chainPem = readFileSync(new URL("../fixtures/apple-iphone-device-ca-fullchain.pem", import.meta.url), "utf8");

function pemCertificates(pem: string): Uint8Array[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1] ?? "", "base64")),
  );
}

/**
 * The real body rebuilt from fresh @peculiar/asn1-cms objects (so with definite lengths; a parsed
 * object would keep its indefinite ones), after `edit`.
 */
function rebuild(edit: (sd: SignedData) => void, contentType = "1.2.840.113549.1.7.2"): Uint8Array {
  const real = AsnParser.parse(AsnParser.parse(realBody, ContentInfo).content, SignedData);
  const content = parsed(realBody).content ?? new Uint8Array();
  const sd = new SignedData({
    version: real.version,
    digestAlgorithms: real.digestAlgorithms,
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: real.encapContentInfo.eContentType,
      eContent: new EncapsulatedContent({ single: new OctetString(content) }),
    }),
    signerInfos: real.signerInfos,
  });
  if (real.certificates) sd.certificates = real.certificates;
  edit(sd);
  return new Uint8Array(AsnConvert.serialize(new ContentInfo({ contentType, content: AsnConvert.serialize(sd) })));
}

function parsed(der: Uint8Array): SignedDataInfo {
  const r = parseSignedData(der);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.detail}`);
  return r.value;
}

function codeOf(der: Uint8Array): string {
  const r = parseSignedData(der);
  return r.ok ? "ok" : r.error.code;
}

describe("parseSignedData on the real iOS 15 body", () => {
  const info = parsed(realBody);
  const [signer] = info.signers;

  it("ENROLL-1 reads the BER body: attached id-data content, three certificates, one issuer+serial signer", () => {
    expect(info.contentType).toBe("1.2.840.113549.1.7.1");
    expect(new TextDecoder().decode(info.content)).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE plist/);
    expect(info.content?.length).toBe(326);
    expect(info.certificates).toHaveLength(3);
    expect(info.signers).toHaveLength(1);
    expect(signer).toMatchObject({
      issuer: "CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US",
      serialNumber: "218e74efda9481088ec",
      digestAlgorithm: "1.3.14.3.2.26",
      signatureAlgorithm: "1.2.840.113549.1.1.5",
      signedContentType: "1.2.840.113549.1.7.1",
    });
    expect(signer?.signature).toHaveLength(128);
  });

  it("the serial number is the one OpenSSL prints (9904122361682764794092)", () => {
    expect(BigInt(`0x${signer?.serialNumber}`)).toBe(9904122361682764794092n);
  });

  it("signerKey is issuer|serial", () => {
    expect(signer && signerKey(signer)).toBe("CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US|218e74efda9481088ec");
  });

  it("embedded certificates are the exact DER: leaf, then the two Apple intermediates of the fixture chain", () => {
    const [deviceCa, iphoneCa, rootCa] = pemCertificates(chainPem);
    expect(rootCa).toBeDefined();
    expect(info.certificates[1]).toEqual(deviceCa);
    expect(info.certificates[2]).toEqual(iphoneCa);
    const leaf = new X509Certificate(info.certificates[0] ?? new Uint8Array());
    expect(leaf.subject).toContain("OU=iPhone");
    expect(leaf.verify(new X509Certificate(deviceCa ?? new Uint8Array()).publicKey)).toBe(true);
  });

  it("parseCertificate and signerCertificate find the signer's leaf", () => {
    const leafDer = signer && signerCertificate(info, signer);
    expect(leafDer).toEqual(info.certificates[0]);
    const leaf = parseCertificate(leafDer ?? new Uint8Array());
    expect(leaf.ok && leaf.value).toMatchObject({
      subject: "OU=iPhone,O=Apple Inc.,L=Cupertino,ST=CA,C=US,CN=41B39CB1-EA4D-4F68-8FA6-F686B6FAB424",
      issuer: signer?.issuer,
      serialNumber: signer?.serialNumber,
      signatureAlgorithm: "1.2.840.113549.1.1.11",
    });
    const node = new X509Certificate(leafDer ?? new Uint8Array());
    expect(leaf.ok && leaf.value.subjectPublicKeyInfo).toEqual(new Uint8Array(node.publicKey.export({ type: "spki", format: "der" })));
  });

  it("exposes what verification needs: messageDigest = SHA-1(content), and the signature verifies over the SET-tagged signed attributes", () => {
    const content = info.content ?? new Uint8Array();
    expect(signer?.messageDigest).toEqual(new Uint8Array(createHash("sha1").update(content).digest()));
    const attrs = signer?.signedAttributes ?? new Uint8Array();
    expect(attrs[0]).toBe(0x31);
    expect(attrs).toHaveLength(95);
    const leaf = new X509Certificate(info.certificates[0] ?? new Uint8Array());
    expect(verify("sha1", attrs, leaf.publicKey, signer?.signature ?? new Uint8Array())).toBe(true);
    const altered = attrs.slice();
    altered[attrs.length - 1] = (altered[attrs.length - 1] ?? 0) ^ 1;
    expect(verify("sha1", altered, leaf.publicKey, signer?.signature ?? new Uint8Array())).toBe(false);
  });

  it("attachedContent returns the content", () => {
    const c = attachedContent(info);
    expect(c.ok && c.value).toEqual(info.content);
  });

  it("the same message re-encoded with definite lengths (DER) reads the same", () => {
    const der = rebuild(() => {});
    expect(der[1]).toBe(0x82);
    const again = parsed(der);
    expect(again.content).toEqual(info.content);
    expect(again.certificates).toEqual(info.certificates);
    expect(again.signers[0]).toEqual(signer);
  });
});

describe("parseSignedData refusals", () => {
  it("detached content parses, and attachedContent answers cms.no-content", () => {
    const info = parsed(rebuild((sd) => { delete sd.encapContentInfo.eContent; }));
    expect(info.content).toBeUndefined();
    const c = attachedContent(info);
    expect(!c.ok && c.error.code).toBe("cms.no-content");
  });

  it("no signer is cms.no-signer", () => {
    expect(codeOf(rebuild((sd) => { sd.signerInfos = new SignerInfos(); }))).toBe("cms.no-signer");
  });

  it("a signer named by subjectKeyIdentifier is cms.unsupported-signer-id", () => {
    const der = rebuild((sd) => {
      const si = sd.signerInfos[0];
      if (si) si.sid = new SignerIdentifier({ subjectKeyIdentifier: new OctetString(new Uint8Array(20)) });
    });
    expect(codeOf(der)).toBe("cms.unsupported-signer-id");
  });

  it("a ContentInfo of another type is cms.not-signed-data", () => {
    expect(codeOf(rebuild(() => {}, "1.2.840.113549.1.7.3"))).toBe("cms.not-signed-data");
  });

  it("empty input, a plist, trailing bytes are cms.not-der", () => {
    expect(codeOf(new Uint8Array())).toBe("cms.not-der");
    expect(codeOf(parsed(realBody).content ?? new Uint8Array())).toBe("cms.not-der");
    expect(codeOf(Uint8Array.from([...realBody, 0]))).toBe("cms.not-der");
  });

  it("every truncation of the real body is refused", () => {
    for (let n = 0; n < realBody.length; n++) expect(codeOf(realBody.subarray(0, n))).not.toBe("ok");
  });

  it("a length byte changed is refused", () => {
    // Offset 53: the low byte of the 326-byte eContent OCTET STRING length (04 82 01 46).
    expect(realBody[53]).toBe(0x46);
    const d = realBody.slice();
    d[53] = 0x47;
    expect(codeOf(d)).toBe("cms.not-der");
  });

  it("deep nesting and huge lengths are refused without recursion blow-ups", () => {
    const deep = new Uint8Array(200_000);
    for (let i = 0; i < 100_000; i++) deep.set([0x30, 0x80], i * 2);
    expect(codeOf(deep)).toBe("cms.not-der");
    expect(codeOf(Uint8Array.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]))).toBe("cms.not-der");
    expect(codeOf(Uint8Array.from([0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]))).toBe("cms.not-der");
    expect(codeOf(Uint8Array.from([0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]))).toBe("cms.not-der");
  });

  it("never throws: random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const r = parseSignedData(bytes);
        expect(typeof r.ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws: random byte edits of the real body", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(realBody.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const d = realBody.slice();
        for (const [at, b] of edits) d[at] = b;
        const r = parseSignedData(d);
        expect(typeof r.ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("parseCertificate refuses what is not a certificate", () => {
    const r = parseCertificate(realBody);
    expect(!r.ok && r.error.code).toBe("cms.not-certificate");
    const t = parseCertificate(realBody.subarray(0, 10));
    expect(!t.ok && t.error.code).toBe("cms.not-der");
  });
});
