// Device-signature verification of enroll bodies (runtime/device-signature.ts) and the test CA for
// simulated devices (runtime/test-device-ca.ts): the real iOS 15 body verifies against Apple Root
// CA, every tampered variant of it is refused with the right code, and nothing throws.
import { readFileSync } from "node:fs";
import { ContentInfo, EncapsulatedContent, EncapsulatedContentInfo, SignedData, SignerInfos } from "@peculiar/asn1-cms";
import { AsnConvert, AsnParser, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadPemCertificates, verifyDeviceSignature, checkTrustStore, ecdsaSignatureToRaw, type SignatureErrorCode, type TrustStore } from "../../runtime/device-signature.ts";
import { createTestDeviceCa, exportTestDeviceCa, importTestDeviceCa, issueDeviceIdentity, signEnrollBody, type DeviceIdentity, type TestDeviceCa } from "../../runtime/test-device-ca.ts";
import { parseCertificate, parseSignedData } from "../../spec/cms.ts";
import { parseEnrollRequestBody } from "../../spec/enroll-request.ts";
import { realEnrollBody as realBody, seededRandom } from "../support/fixtures.ts";

const chain = loadPemCertificates(readFileSync(new URL("../fixtures/apple-iphone-device-ca-fullchain.pem", import.meta.url), "utf8"));
const [appleDeviceCa, appleIphoneCa, appleRootCa] = chain as [Uint8Array, Uint8Array, Uint8Array];
const apple: TrustStore = { anchors: [{ label: "apple", certificate: appleRootCa }] };

const info = signedData(realBody);
const realSigner = info.signers[0] ?? (() => { throw new Error("no signer"); })();
const realContent = info.content ?? new Uint8Array();
const realLeaf = info.certificates[0] ?? new Uint8Array();
const allCodes: readonly SignatureErrorCode[] = [
  "signature.not-cms",
  "signature.no-content",
  "signature.digest-mismatch",
  "signature.bad-signature",
  "signature.unsupported-algorithm",
  "signature.untrusted-signer",
  "signature.chain-broken",
];

/** Where `needle` first occurs in `hay`. */
function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("not found");
}

function cert(der: Uint8Array) {
  const c = parseCertificate(der);
  if (!c.ok) throw new Error(`${c.error.code}: ${c.error.detail}`);
  return c.value;
}

function signedData(body: Uint8Array) {
  const r = parseSignedData(body);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.detail}`);
  return r.value;
}

function flipped(bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const d = bytes.slice();
  d[at] = (d[at] ?? 0) ^ mask;
  return d;
}

async function codeOf(body: Uint8Array, trust: TrustStore = apple): Promise<string> {
  const r = await verifyDeviceSignature(body, trust);
  return r.ok ? `ok:${r.value.anchor}` : r.error.code;
}

/** The real body rebuilt with definite lengths (DER) by @peculiar/asn1-cms, after `edit`. */
function rebuild(edit: (sd: SignedData) => void = () => {}): Uint8Array {
  const real = AsnParser.parse(AsnParser.parse(realBody, ContentInfo).content, SignedData);
  const sd = new SignedData({
    version: real.version,
    digestAlgorithms: real.digestAlgorithms,
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: real.encapContentInfo.eContentType,
      eContent: new EncapsulatedContent({ single: new OctetString(realContent) }),
    }),
    signerInfos: real.signerInfos,
  });
  if (real.certificates) sd.certificates = real.certificates;
  edit(sd);
  return new Uint8Array(AsnConvert.serialize(new ContentInfo({ contentType: "1.2.840.113549.1.7.2", content: AsnConvert.serialize(sd) })));
}

describe("verifyDeviceSignature on the real iOS 15 body", () => {
  it("ENROLL-1 the device signs the body with its built-in identity: the real body verifies up to Apple Root CA (label apple)", async () => {
    const r = await verifyDeviceSignature(realBody, apple, { now: new Date("2026-11-22T00:00:00Z") });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({
      anchor: "apple",
      deviceKey: "CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US|218e74efda9481088ec",
      issuer: "CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US",
      serialNumber: "218e74efda9481088ec",
      contentType: "1.2.840.113549.1.7.1",
      digestAlgorithm: "SHA-1",
      signatureAlgorithm: "RSASSA-PKCS1-v1_5",
    });
    expect(r.value.subject).toContain("OU=iPhone");
    expect(r.value.chain).toEqual([
      r.value.subject,
      "CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US",
      "CN=Apple iPhone Certification Authority,OU=Apple Certification Authority,O=Apple Inc.,C=US",
      "CN=Apple Root CA,OU=Apple Certification Authority,O=Apple Inc.,C=US",
    ]);
    expect(r.value.content).toEqual(realContent);
    expect(r.value.certificate).toEqual(realLeaf);
    // The same device key as the enroll-request reader computes.
    const req = parseEnrollRequestBody(realBody);
    expect(req.ok && req.value.deviceKey).toBe(r.value.deviceKey);
  });

  it("ENROLL-1 the same body re-encoded as DER (definite lengths) verifies too; the original is BER", async () => {
    expect(realBody[1]).toBe(0x80); // indefinite length
    const der = rebuild();
    expect(der[1]).toBe(0x82);
    expect(await codeOf(der)).toBe("ok:apple");
  });

  it("validity windows are ignored: the expired Apple intermediates verify whatever the clock says", async () => {
    for (const now of [new Date("2000-01-01T00:00:00Z"), new Date("2040-01-01T00:00:00Z")]) {
      const r = await verifyDeviceSignature(realBody, apple, { now });
      expect(r.ok).toBe(true);
    }
  });

  it("an intermediate may be the pin: Apple iPhone Device CA as the anchor", async () => {
    expect(await codeOf(realBody, { anchors: [{ label: "apple-device-ca", certificate: appleDeviceCa }] })).toBe("ok:apple-device-ca");
    expect(await codeOf(realBody, { anchors: [{ label: "apple-iphone-ca", certificate: appleIphoneCa }, { label: "apple", certificate: appleRootCa }] })).toBe("ok:apple-iphone-ca");
  });

  it("with no anchor, or only an unrelated one, the Apple body is untrusted-signer", async () => {
    expect(await codeOf(realBody, { anchors: [] })).toBe("signature.untrusted-signer");
    const ca = await createTestDeviceCa();
    expect(await codeOf(realBody, { anchors: [{ label: "test", certificate: ca.certificate }] })).toBe("signature.untrusted-signer");
  });

  it("loadPemCertificates reads the three certificates of the fixture chain; checkTrustStore accepts them", () => {
    expect(chain).toHaveLength(3);
    for (const c of chain) expect(parseCertificate(c).ok).toBe(true);
    expect(checkTrustStore(apple)).toEqual([]);
    expect(checkTrustStore({ anchors: [{ label: "x", certificate: new Uint8Array([1, 2]) }, { label: "a", certificate: appleRootCa }, { label: "b", certificate: appleRootCa }] })).toHaveLength(2);
    expect(loadPemCertificates("no pem here")).toEqual([]);
    expect(() => loadPemCertificates("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----")).toThrow(/base64/);
  });
});

describe("tampered variants of the real body are refused with the right code", () => {
  it("a flipped byte in the content is signature.digest-mismatch", async () => {
    const at = indexOf(realBody, realContent) + 200;
    expect(await codeOf(flipped(realBody, at))).toBe("signature.digest-mismatch");
  });

  it("a flipped byte in the messageDigest attribute is signature.digest-mismatch", async () => {
    const at = indexOf(realBody, realSigner.messageDigest ?? new Uint8Array()) + 5;
    expect(await codeOf(flipped(realBody, at))).toBe("signature.digest-mismatch");
  });

  it("a flipped byte in another signed attribute (signingTime) is signature.bad-signature", async () => {
    const attrs = indexOf(realBody, (realSigner.signedAttributes ?? new Uint8Array()).subarray(1));
    const utcTime = indexOf(realBody, Uint8Array.of(0x17, 0x0d), attrs); // signingTime UTCTime
    expect(await codeOf(flipped(realBody, utcTime + 4))).toBe("signature.bad-signature");
  });

  it("a flipped byte in the signature is signature.bad-signature", async () => {
    const at = indexOf(realBody, realSigner.signature) + 64;
    expect(await codeOf(flipped(realBody, at))).toBe("signature.bad-signature");
  });

  it("an eContentType that the contentType attribute does not name is signature.bad-signature", async () => {
    // The first id-data OID after the signedData OID is the eContentType.
    const idData = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01);
    const at = indexOf(realBody, idData, 20) + idData.length - 1;
    const r = await verifyDeviceSignature(flipped(realBody, at, 0x07), apple); // …7.1 → …7.6
    expect(!r.ok && r.error).toMatchObject({ code: "signature.bad-signature", detail: expect.stringContaining("contentType") });
  });

  it("a flipped byte in the leaf certificate's signature is signature.chain-broken", async () => {
    const at = indexOf(realBody, cert(realLeaf).signature) + 10;
    expect(await codeOf(flipped(realBody, at))).toBe("signature.chain-broken");
  });

  it("a flipped byte in the leaf's public key is signature.bad-signature (the body no longer verifies with it)", async () => {
    const spki = cert(realLeaf).subjectPublicKeyInfo;
    const at = indexOf(realBody, spki) + spki.length - 20; // inside the modulus
    expect(await codeOf(flipped(realBody, at))).toBe("signature.bad-signature");
  });

  it("a flipped byte in an intermediate's signature is signature.chain-broken", async () => {
    const at = indexOf(realBody, cert(appleDeviceCa).signature) + 10;
    expect(await codeOf(flipped(realBody, at))).toBe("signature.chain-broken");
  });

  it("a certificate whose outer signatureAlgorithm differs from the one it signed is signature.chain-broken", async () => {
    // The NULL parameters of the leaf's outer sha256WithRSAEncryption, outside the signed part.
    const leafAt = indexOf(realBody, realLeaf);
    const outerAlg = indexOf(realBody, Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00), leafAt + 200) + 9;
    expect(outerAlg).toBeLessThan(leafAt + realLeaf.length);
    expect(await codeOf(flipped(realBody, outerAlg, 0x01))).toBe("signature.chain-broken"); // NULL → OCTET STRING
  });

  it("the signer stripped is signature.not-cms", async () => {
    expect(await codeOf(rebuild((sd) => { sd.signerInfos = new SignerInfos(); }))).toBe("signature.not-cms");
  });

  it("the signer's certificate left out is signature.untrusted-signer", async () => {
    const body = rebuild((sd) => { sd.certificates?.splice(0, 1); });
    const r = await verifyDeviceSignature(body, apple);
    expect(!r.ok && r.error).toMatchObject({ code: "signature.untrusted-signer", detail: expect.stringContaining("not included") });
  });

  it("an intermediate left out is signature.untrusted-signer", async () => {
    expect(await codeOf(rebuild((sd) => { sd.certificates?.splice(1, 1); }))).toBe("signature.untrusted-signer");
  });

  it("a detached signature (no attached content) is signature.no-content", async () => {
    expect(await codeOf(rebuild((sd) => { delete sd.encapContentInfo.eContent; }))).toBe("signature.no-content");
  });

  it("a digest algorithm outside SHA-1 and the SHA-256 family (MD5) is signature.unsupported-algorithm", async () => {
    const body = rebuild((sd) => {
      const si = sd.signerInfos[0];
      if (si) si.digestAlgorithm = new AlgorithmIdentifier({ algorithm: "1.2.840.113549.2.5" });
    });
    expect(await codeOf(body)).toBe("signature.unsupported-algorithm");
  });

  it("a signature algorithm outside RSA/ECDSA (RSA-PSS) is signature.unsupported-algorithm", async () => {
    const body = rebuild((sd) => {
      const si = sd.signerInfos[0];
      if (si) si.signatureAlgorithm = new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.10" });
    });
    expect(await codeOf(body)).toBe("signature.unsupported-algorithm");
  });

  it("truncated at every offset: signature.not-cms, never a throw", async () => {
    for (let n = 0; n < realBody.length; n += 1) expect(await codeOf(realBody.subarray(0, n))).toBe("signature.not-cms");
  });

  it("the plist alone, trailing bytes, empty input are signature.not-cms", async () => {
    expect(await codeOf(realContent)).toBe("signature.not-cms");
    expect(await codeOf(Uint8Array.from([...realBody, 0]))).toBe("signature.not-cms");
    expect(await codeOf(new Uint8Array())).toBe("signature.not-cms");
  });

  it("random bytes are refused with a stable code, never a throw", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const r = await verifyDeviceSignature(bytes, apple);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(allCodes).toContain(r.error.code);
      }),
      { numRuns: 300 },
    );
  });
});

describe("random mutations of the real body (fast-check)", () => {
  // What the signatures cover: the content, the signed attributes, the body's signature, and each
  // certificate (tbsCertificate and signature; the outer algorithm is checked against the inner).
  const protectedRanges: [number, number][] = [
    [indexOf(realBody, realContent), realContent.length],
    [indexOf(realBody, (realSigner.signedAttributes ?? new Uint8Array()).subarray(1)), (realSigner.signedAttributes?.length ?? 1) - 1],
    [indexOf(realBody, realSigner.signature), realSigner.signature.length],
    ...info.certificates.map((c): [number, number] => [indexOf(realBody, c), c.length]),
  ];
  const protectedOffset = fc.constantFrom(...protectedRanges).chain(([start, length]) => fc.integer({ min: start, max: start + length - 1 }));
  const edit = fc.tuple(protectedOffset, fc.integer({ min: 1, max: 255 }));

  it("ENROLL-1 a mutation of anything the device signed never verifies and never throws", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 6 }), async (edits) => {
        const d = realBody.slice();
        for (const [at, mask] of edits) d[at] = (d[at] ?? 0) ^ mask;
        const r = await verifyDeviceSignature(d, apple);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(allCodes).toContain(r.error.code);
      }),
      { numRuns: 200 },
    );
  });

  it("any mutation, anywhere (edits, cuts, insertions), never throws, and never verifies another content or signer", async () => {
    // CMS leaves a few bytes outside every signature (SignedData and SignerInfo versions, the
    // digestAlgorithms SET, algorithm parameters): changing those may still verify, but can never
    // change what is verified.
    const mutation = fc.oneof(
      fc.array(fc.tuple(fc.nat(realBody.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => (b: Uint8Array) => {
        const d = b.slice();
        for (const [at, mask] of edits) d[at] = (d[at] ?? 0) ^ mask;
        return d;
      }),
      fc.tuple(fc.nat(realBody.length - 1), fc.nat(64)).map(([at, n]) => (b: Uint8Array) => Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n + 1)])),
      fc.tuple(fc.nat(realBody.length), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, extra]) => (b: Uint8Array) => Uint8Array.from([...b.subarray(0, at), ...extra, ...b.subarray(at)])),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (mutate) => {
        const r = await verifyDeviceSignature(mutate(realBody), apple);
        if (r.ok) {
          expect(r.value.content).toEqual(realContent);
          expect(r.value.certificate).toEqual(realLeaf);
          expect(r.value.anchor).toBe("apple");
        } else {
          expect(allCodes).toContain(r.error.code);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("bodies signed by the test CA for simulated devices", () => {
  const plist = realContent; // a real enroll plist: LANGUAGE, PRODUCT, VERSION
  let ecCa: TestDeviceCa;
  let ecDevice: DeviceIdentity;
  let rsaCa: TestDeviceCa;
  let rsaDevice: DeviceIdentity;
  let testStore: TrustStore;

  beforeAll(async () => {
    const random = seededRandom(42);
    const now = () => Date.UTC(2026, 0, 1);
    ecCa = await createTestDeviceCa({ algorithm: "ecdsa-p256", random, now });
    ecDevice = await issueDeviceIdentity(ecCa, { algorithm: "ecdsa-p256", random, now });
    rsaCa = await createTestDeviceCa({ algorithm: "rsa-2048", random, now, commonName: "adenroll Test Device CA (RSA)" });
    rsaDevice = await issueDeviceIdentity(rsaCa, { algorithm: "rsa-2048", random, now });
    testStore = { anchors: [{ label: "apple", certificate: appleRootCa }, { label: "test", certificate: ecCa.certificate }, { label: "test-rsa", certificate: rsaCa.certificate }] };
  });

  it("ENROLL-1 a simulated device's body (ECDSA prime256v1, SHA-256) verifies only when the test anchor is trusted", async () => {
    const body = await signEnrollBody(plist, ecDevice, { now: () => Date.UTC(2026, 0, 2) });
    const r = await verifyDeviceSignature(body, testStore);
    expect(r.ok && r.value).toMatchObject({ anchor: "test", digestAlgorithm: "SHA-256", signatureAlgorithm: "ECDSA", issuer: ecCa.subject });
    expect(r.ok && r.value.chain).toEqual([r.ok && r.value.subject, ecCa.subject]);
    expect(await codeOf(body, apple)).toBe("signature.untrusted-signer");
    // What the enroll endpoint reads from it: the same plist, a device key.
    const req = parseEnrollRequestBody(body);
    expect(req.ok && req.value.info).toMatchObject({ PRODUCT: "iPhone12,1" });
  });

  it("ENROLL-1 an RSA-signed body verifies, with the combined OID (sha1WithRSAEncryption, as iOS) and with rsaEncryption + a separate digest", async () => {
    for (const digest of ["SHA-1", "SHA-256", "SHA-384", "SHA-512"] as const) {
      for (const rsaSignatureAlgorithm of ["combined", "rsaEncryption"] as const) {
        const body = await signEnrollBody(plist, rsaDevice, { digest, rsaSignatureAlgorithm });
        const r = await verifyDeviceSignature(body, testStore);
        expect(r.ok && r.value).toMatchObject({ anchor: "test-rsa", digestAlgorithm: digest, signatureAlgorithm: "RSASSA-PKCS1-v1_5" });
      }
    }
  });

  it("ECDSA on secp384r1, and an ECDSA device under an RSA CA, verify; SHA-1 to SHA-512 digests", async () => {
    const p384 = await issueDeviceIdentity(rsaCa, { algorithm: "ecdsa-p384" });
    for (const digest of ["SHA-256", "SHA-384", "SHA-512"] as const) {
      expect(await codeOf(await signEnrollBody(plist, p384, { digest }), testStore)).toBe("ok:test-rsa");
    }
    const p384Ca = await createTestDeviceCa({ algorithm: "ecdsa-p384" });
    const dev = await issueDeviceIdentity(p384Ca, { algorithm: "ecdsa-p256" });
    expect(await codeOf(await signEnrollBody(plist, dev, { digest: "SHA-1" }), { anchors: [{ label: "p384", certificate: p384Ca.certificate }] })).toBe("ok:p384");
  });

  it("a body without signed attributes is verified over the content itself", async () => {
    const body = await signEnrollBody(plist, ecDevice, { signedAttributes: false });
    expect(signedData(body).signers[0]?.signedAttributes).toBeUndefined();
    expect(await codeOf(body, testStore)).toBe("ok:test");
    expect(await codeOf(flipped(body, indexOf(body, plist) + 10), testStore)).toBe("signature.bad-signature");
  });

  it("tampering with a test-CA body is refused like the real one", async () => {
    const body = await signEnrollBody(plist, ecDevice);
    const signature = signedData(body).signers[0]?.signature ?? new Uint8Array();
    expect(await codeOf(flipped(body, indexOf(body, plist) + 10), testStore)).toBe("signature.digest-mismatch");
    expect(await codeOf(flipped(body, indexOf(body, signature) + 12), testStore)).toBe("signature.bad-signature");
    expect(await codeOf(flipped(body, indexOf(body, cert(ecDevice.certificate).signature) + 12), testStore)).toBe("signature.chain-broken");
  });

  it("a self-signed leaf chaining to no anchor is signature.untrusted-signer", async () => {
    const rogue = await createTestDeviceCa({ commonName: "Rogue self-signed device" });
    const body = await signEnrollBody(plist, { certificate: rogue.certificate, privateKey: rogue.privateKey, chain: [] });
    const r = await verifyDeviceSignature(body, testStore);
    expect(!r.ok && r.error).toMatchObject({ code: "signature.untrusted-signer", detail: expect.stringContaining("self-signed") });
  });

  it("a look-alike CA (the trusted CA's name, another key) is caught by signature: signature.chain-broken", async () => {
    const impostor = await createTestDeviceCa({ algorithm: "ecdsa-p256" }); // same default name as ecCa
    expect(impostor.subject).toBe(ecCa.subject);
    const device = await issueDeviceIdentity(impostor);
    const body = await signEnrollBody(plist, { ...device, chain: [] }); // let the verifier find the trusted CA by name
    expect(await codeOf(body, testStore)).toBe("signature.chain-broken");
    // And with the impostor embedded: it names itself as issuer and is no anchor.
    expect(await codeOf(await signEnrollBody(plist, device), testStore)).toBe("signature.chain-broken");
  });

  it("a device whose key does not match its certificate is signature.bad-signature", async () => {
    const other = await issueDeviceIdentity(ecCa);
    const body = await signEnrollBody(plist, { ...ecDevice, privateKey: other.privateKey });
    expect(await codeOf(body, testStore)).toBe("signature.bad-signature");
  });

  it("randomness and clock are injected: the same seed and clock give the same certificates", async () => {
    const keyPair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const make = () => createTestDeviceCa({ random: seededRandom(5), now: () => Date.UTC(2030, 5, 1), keyPair });
    const [a, b] = [await make(), await make()];
    expect(cert(a.certificate).tbsCertificate).toEqual(cert(b.certificate).tbsCertificate); // ECDSA signatures themselves are randomized
    const dev = await issueDeviceIdentity(a, { random: seededRandom(6), udid: "00008030-TEST" });
    expect(cert(dev.certificate).subject).toBe("CN=00008030-TEST,OU=Simulated device,O=adenroll");
  });

  it("the CA survives an export to PEM and back, and still issues trusted devices", async () => {
    const pem = await exportTestDeviceCa(rsaCa);
    expect(pem.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(pem.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const again = await importTestDeviceCa(pem);
    expect(again.certificate).toEqual(rsaCa.certificate);
    const device = await issueDeviceIdentity(again);
    expect(await codeOf(await signEnrollBody(plist, device), testStore)).toBe("ok:test-rsa");
    expect(loadPemCertificates(pem.certificatePem)).toEqual([rsaCa.certificate]);
  });
});

describe("ecdsaSignatureToRaw", () => {
  it("pads r and s to the curve size and refuses what is not a DER pair of non-negative integers", () => {
    const der = Uint8Array.of(0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x02, 0x00, 0x80);
    const raw = ecdsaSignatureToRaw(der, 4);
    expect(raw).toEqual(Uint8Array.of(0, 0, 0, 5, 0, 0, 0, 0x80));
    expect(ecdsaSignatureToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x01), 4)).toBeUndefined(); // negative r
    expect(ecdsaSignatureToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x01, 0x00), 4)).toBeUndefined(); // trailing byte
    expect(ecdsaSignatureToRaw(Uint8Array.of(0x30, 0x08, 0x02, 0x03, 0x01, 0x02, 0x03, 0x02, 0x01, 0x01), 2)).toBeUndefined(); // r too long
    expect(ecdsaSignatureToRaw(new Uint8Array(), 32)).toBeUndefined();
  });
});
