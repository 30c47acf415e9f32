// Mdm-Signature (runtime/mdm-signature.ts, PROTOCOL.md §6): detached CMS signatures of check-in and
// command bodies made with the PKCS#12 identity from the built-in CA verify against that CA; the
// signatures of node-forge and the openssl command verify too, and ours verify with openssl;
// every broken, foreign, expired or unreadable signature is refused with its stable code.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import forge from "node-forge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrustStore } from "../../runtime/device-signature.ts";
import { createIdentityCa, identityIssuer, readPkcs12, type IdentityCa } from "../../runtime/identity-ca.ts";
import {
  certificateFingerprint,
  identityFromPkcs12,
  maxMdmSignatureHeaderLength,
  signMdmMessage,
  verifyMdmSignature,
  type Pkcs12Identity,
} from "../../runtime/mdm-signature.ts";
import { createTestDeviceCa, importTestDeviceCa, issueDeviceIdentity, toPem, type DeviceIdentity } from "../../runtime/test-device-ca.ts";
import { parseCertificate, parseSignedData } from "../../spec/cms.ts";

const day = 86_400_000;
const body = new TextEncoder().encode(
  '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string><key>Topic</key><string>com.apple.mgmt.External.1</string><key>EnrollmentID</key><string>7B0F0C4E-1111-4222-8333-944455556666</string></dict></plist>\n',
);

let ca: IdentityCa;
let trust: TrustStore;
let issued: { data: Uint8Array; password: string };
let identity: Pkcs12Identity;
let ecIdentity: DeviceIdentity;
let work: string;

beforeAll(async () => {
  ca = await createIdentityCa();
  trust = { anchors: [{ label: "identity", certificate: pemToDer(ca.certificatePem) }] };
  issued = await identityIssuer(ca)({ enrollmentRef: "ref-1", commonName: "adenroll-enrollment-1", userIdentifier: "alice@example.com" });
  identity = await identityFromPkcs12(issued.data, issued.password);
  // An ECDSA P-256 device identity issued by the same built-in CA (identity-ca issues RSA only).
  ecIdentity = await issueDeviceIdentity(await importTestDeviceCa(ca), { algorithm: "ecdsa-p256", udid: "ec-device-1" });
  work = mkdtempSync(join(tmpdir(), "mdm-signature-"));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function pemToDer(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64"));
}

function b64(bytes: Uint8Array | string): string {
  return Buffer.from(typeof bytes === "string" ? Buffer.from(bytes, "binary") : bytes).toString("base64");
}

async function codeOf(header: string | null | undefined, data: Uint8Array = body, store: TrustStore = trust, now?: number): Promise<string> {
  const r = await verifyMdmSignature(data, header, store, now === undefined ? {} : { now });
  return r.ok ? `ok:${r.value.anchor}` : r.error.code;
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const d = bytes.slice();
  d[at] = (d[at] ?? 0) ^ 0x01;
  return d;
}

/** The forge key and certificate of the built-in CA's PKCS#12, for signing with node-forge. */
function forgeIdentity(): { key: forge.pki.rsa.PrivateKey; cert: forge.pki.Certificate } {
  const { certificates, privateKey } = readPkcs12(issued.data, issued.password);
  const cert = certificates.find((c) => c.subject.getField("CN")?.value === "adenroll-enrollment-1");
  if (privateKey === undefined || !("n" in privateKey) || cert === undefined) throw new Error("unexpected PKCS#12");
  return { key: privateKey, cert };
}

function forgeSign(content: Uint8Array, options: { detached: boolean; attributes: boolean }): string {
  const { key, cert } = forgeIdentity();
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(Buffer.from(content).toString("binary"));
  p7.addCertificate(cert);
  p7.addSigner({
    key,
    certificate: cert,
    digestAlgorithm: forge.pki.oids.sha256 ?? "2.16.840.1.101.3.4.2.1",
    authenticatedAttributes: options.attributes
      ? [{ type: forge.pki.oids.contentType ?? "", value: forge.pki.oids.data ?? "" }, { type: forge.pki.oids.messageDigest ?? "" }, { type: forge.pki.oids.signingTime ?? "" }]
      : [],
  });
  p7.sign({ detached: options.detached });
  return b64(forge.asn1.toDer(p7.toAsn1()).getBytes());
}

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const opensslName = (what: string): string => (hasOpenssl ? what : `${what} (SKIPPED: no openssl binary on PATH)`);

/** Files for openssl: the body, the CA, and one identity's certificate and PKCS#8 key (PEM). */
async function opensslFiles(name: string, cert: Uint8Array, key: CryptoKey | forge.pki.rsa.PrivateKey): Promise<{ body: string; ca: string; cert: string; key: string }> {
  const files = { body: join(work, "body.plist"), ca: join(work, "ca.pem"), cert: join(work, `${name}.crt.pem`), key: join(work, `${name}.key.pem`) };
  writeFileSync(files.body, body);
  writeFileSync(files.ca, ca.certificatePem);
  writeFileSync(files.cert, toPem(cert, "CERTIFICATE"));
  const pem = key instanceof CryptoKey ? toPem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)), "PRIVATE KEY") : forge.pki.privateKeyToPem(key);
  writeFileSync(files.key, pem, { mode: 0o600 });
  return files;
}

function opensslSign(files: { body: string; cert: string; key: string }, extra: string[] = []): string {
  const out = join(work, "sig.der");
  execFileSync("openssl", ["cms", "-sign", "-binary", "-in", files.body, "-signer", files.cert, "-inkey", files.key, "-outform", "DER", "-out", out, ...extra]);
  return b64(new Uint8Array(readFileSync(out)));
}

/** Does `openssl cms -verify` accept our header for the body, against the CA? */
function opensslVerifies(files: { body: string; ca: string }, header: string): boolean {
  const sig = join(work, "ours.der");
  writeFileSync(sig, Buffer.from(header, "base64"));
  const r = spawnSync("openssl", ["cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", files.body, "-CAfile", files.ca, "-purpose", "any", "-out", join(work, "out")]);
  return r.status === 0;
}

describe("a body signed with the built-in CA's PKCS#12 identity", () => {
  it("verifies against that CA: fingerprint of the issued certificate, the requested common name, the anchor's label", async () => {
    const header = await signMdmMessage(body, identity);
    const r = await verifyMdmSignature(body, header, trust);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.anchor).toBe("identity");
    expect(r.value.commonName).toBe("adenroll-enrollment-1");
    expect(r.value.certificate).toEqual(identity.certificate);
    expect(r.value.fingerprint).toBe(await certificateFingerprint(identity.certificate));
    // The fingerprint is the plain SHA-256 of the DER, as any other tool computes it.
    expect(r.value.fingerprint).toBe(createHash("sha256").update(identity.certificate).digest("hex"));
    expect(r.value.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it("identityFromPkcs12 returns the key's certificate and the CA as chain; with the chain embedded it verifies too", async () => {
    const leaf = parseCertificate(identity.certificate);
    expect(leaf.ok && leaf.value.subject).toBe("CN=adenroll-enrollment-1,O=adenroll device identities");
    expect(identity.chain).toEqual([pemToDer(ca.certificatePem)]);
    expect(identity.privateKey.extractable).toBe(false);
    expect(await codeOf(await signMdmMessage(body, identity, { chain: identity.chain }))).toBe("ok:identity");
    await expect(identityFromPkcs12(issued.data, "wrong password")).rejects.toThrow();
  });

  it("the header is a detached DER CMS SignedData: no eContent, signed attributes with a SHA-256 messageDigest of the body", async () => {
    const der = new Uint8Array(Buffer.from(await signMdmMessage(body, identity), "base64"));
    const sd = parseSignedData(der);
    expect(sd.ok).toBe(true);
    if (!sd.ok) return;
    expect(sd.value.content).toBeUndefined();
    expect(sd.value.contentType).toBe("1.2.840.113549.1.7.1");
    expect(sd.value.signers).toHaveLength(1);
    expect(sd.value.signers[0]?.digestAlgorithm).toBe("2.16.840.1.101.3.4.2.1");
    expect(sd.value.signers[0]?.signedContentType).toBe("1.2.840.113549.1.7.1");
    expect(sd.value.signers[0]?.messageDigest).toEqual(new Uint8Array(createHash("sha256").update(body).digest()));
  });

  it("tolerates surrounding whitespace and line breaks inside the base64", async () => {
    const header = await signMdmMessage(body, identity);
    expect(await codeOf(`  ${header.replace(/.{64}/g, "$&\r\n ")}\t`)).toBe("ok:identity");
  });

  it("an ECDSA identity (prime256v1) works as the RSA one does, under an RSA CA and under an ECDSA CA", async () => {
    const r = await verifyMdmSignature(body, await signMdmMessage(body, ecIdentity), trust);
    expect(r.ok && r.value).toMatchObject({ anchor: "identity", commonName: "ec-device-1", fingerprint: createHash("sha256").update(ecIdentity.certificate).digest("hex") });
    const ecCa = await createTestDeviceCa({ algorithm: "ecdsa-p256" });
    const device = await issueDeviceIdentity(ecCa, { algorithm: "ecdsa-p256" });
    expect(await codeOf(await signMdmMessage(body, device), body, { anchors: [{ label: "ec", certificate: ecCa.certificate }] })).toBe("ok:ec");
    expect(await codeOf(await signMdmMessage(body, device), body)).toBe("mdm-signature.untrusted");
  });
});

describe("signatures we did not write", () => {
  it("node-forge pkcs7, detached, with signed attributes and without, verifies", async () => {
    expect(await codeOf(forgeSign(body, { detached: true, attributes: true }))).toBe("ok:identity");
    expect(await codeOf(forgeSign(body, { detached: true, attributes: false }))).toBe("ok:identity");
    expect(await codeOf(forgeSign(flipped(body, 10), { detached: true, attributes: true }))).toBe("mdm-signature.invalid");
  });

  it.skipIf(!hasOpenssl)(opensslName("`openssl cms -sign -binary -outform DER` (RSA and ECDSA prime256v1, with and without attributes) verifies"), async () => {
    const { key } = forgeIdentity();
    const rsa = await opensslFiles("rsa", identity.certificate, key);
    const ec = await opensslFiles("ec", ecIdentity.certificate, ecIdentity.privateKey);
    for (const files of [rsa, ec]) {
      const attributes = opensslSign(files);
      expect(parseSignedData(new Uint8Array(Buffer.from(attributes, "base64"))).ok && "parsed").toBe("parsed");
      expect(await codeOf(attributes)).toBe("ok:identity");
      expect(await codeOf(opensslSign(files, ["-noattr"]))).toBe("ok:identity");
      expect(await codeOf(attributes, flipped(body, body.length - 3))).toBe("mdm-signature.invalid");
      // No embedded certificate: the signer cannot be found.
      expect(await codeOf(opensslSign(files, ["-nocerts"]))).toBe("mdm-signature.untrusted");
    }
  });

  it.skipIf(!hasOpenssl)(opensslName("our signatures (RSA, ECDSA prime256v1) verify with `openssl cms -verify`, and a changed body does not"), async () => {
    const { key } = forgeIdentity();
    const rsa = await opensslFiles("rsa", identity.certificate, key);
    expect(opensslVerifies(rsa, await signMdmMessage(body, identity))).toBe(true);
    expect(opensslVerifies(rsa, await signMdmMessage(body, ecIdentity))).toBe(true);
    expect(opensslVerifies(rsa, await signMdmMessage(flipped(body, 0), identity))).toBe(false);
  });
});

describe("refused signatures, each with its stable code", () => {
  it("one byte of the body changed is mdm-signature.invalid (digest mismatch)", async () => {
    const header = await signMdmMessage(body, identity);
    for (const at of [0, 57, body.length - 1]) {
      const r = await verifyMdmSignature(flipped(body, at), header, trust);
      expect(!r.ok && r.error.code).toBe("mdm-signature.invalid");
    }
    expect(await codeOf(header, body.subarray(0, body.length - 1))).toBe("mdm-signature.invalid");
    expect(await codeOf(await signMdmMessage(body, ecIdentity), flipped(body, 3))).toBe("mdm-signature.invalid");
  });

  it("a flipped byte in the signature value is mdm-signature.invalid", async () => {
    const der = new Uint8Array(Buffer.from(await signMdmMessage(body, identity), "base64"));
    expect(await codeOf(b64(flipped(der, der.length - 10)))).toBe("mdm-signature.invalid");
  });

  it("a signature by a certificate of another CA is mdm-signature.untrusted (another name, or the same name and another key)", async () => {
    const other = await createIdentityCa({ commonName: "Some Other CA" });
    const sameName = await createIdentityCa();
    for (const foreign of [other, sameName]) {
      const p12 = await identityIssuer(foreign)({ enrollmentRef: "r", commonName: "intruder", userIdentifier: "mallory@example.com" });
      const intruder = await identityFromPkcs12(p12.data, p12.password);
      const r = await verifyMdmSignature(body, await signMdmMessage(body, intruder, { chain: intruder.chain }), trust);
      expect(!r.ok && r.error.code).toBe("mdm-signature.untrusted");
    }
    expect(await codeOf(await signMdmMessage(body, identity), body, { anchors: [] })).toBe("mdm-signature.untrusted");
  });

  it("an expired identity certificate is mdm-signature.untrusted; so is one verified before or after its window", async () => {
    const old = await identityIssuer(ca, { now: () => Date.now() - 400 * day, validityDays: 365 })({ enrollmentRef: "r", commonName: "expired", userIdentifier: "alice@example.com" });
    const expired = await identityFromPkcs12(old.data, old.password);
    const r = await verifyMdmSignature(body, await signMdmMessage(body, expired), trust);
    expect(!r.ok && r.error).toMatchObject({ code: "mdm-signature.untrusted", detail: expect.stringContaining("valid from") });

    const validity = AsnConvert.parse(identity.certificate, Certificate).tbsCertificate.validity;
    const notBefore = validity.notBefore.getTime().getTime();
    const notAfter = validity.notAfter.getTime().getTime();
    const header = await signMdmMessage(body, identity);
    expect(await codeOf(header, body, trust, notAfter)).toBe("ok:identity");
    expect(await codeOf(header, body, trust, notAfter + 1000)).toBe("mdm-signature.untrusted");
    expect(await codeOf(header, body, trust, notBefore)).toBe("ok:identity");
    expect(await codeOf(header, body, trust, notBefore - 1000)).toBe("mdm-signature.untrusted");

    // Past 2049 the window ends in a GeneralizedTime rather than a UTCTime (RFC 5280 §4.1.2.5).
    const start = Date.UTC(2026, 0, 1);
    const long = await issueDeviceIdentity(await importTestDeviceCa(ca), { algorithm: "ecdsa-p256", now: () => start, validityDays: 40 * 365 });
    const end = start + 40 * 365 * day;
    expect(Buffer.from(long.certificate).includes(Buffer.from(`${new Date(end).getUTCFullYear()}`))).toBe(true);
    const longHeader = await signMdmMessage(body, long);
    expect(await codeOf(longHeader, body, trust, end - 1000)).toBe("ok:identity");
    expect(await codeOf(longHeader, body, trust, end + 1000)).toBe("mdm-signature.untrusted");
    expect(await codeOf(longHeader, body, trust, start - 1000)).toBe("mdm-signature.untrusted");
  });

  it("no header, or an empty one, is mdm-signature.missing", async () => {
    for (const h of [null, undefined, "", "  \r\n\t "]) expect(await codeOf(h)).toBe("mdm-signature.missing");
  });

  it("not base64, base64 of garbage, and a header over the size cap are mdm-signature.malformed", async () => {
    expect(await codeOf("not base64!!")).toBe("mdm-signature.malformed");
    expect(await codeOf("QUJD=A==")).toBe("mdm-signature.malformed"); // padding in the middle
    expect(await codeOf(b64("this is not a CMS structure at all"))).toBe("mdm-signature.malformed");
    expect(await codeOf(b64(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])))).toBe("mdm-signature.malformed"); // DER, not ContentInfo
    const header = await signMdmMessage(body, identity);
    expect(await codeOf(header.slice(0, header.length - 40))).toBe("mdm-signature.malformed"); // truncated
    const huge = `${header}${" ".repeat(maxMdmSignatureHeaderLength)}`;
    const r = await verifyMdmSignature(body, huge, trust);
    expect(!r.ok && r.error).toMatchObject({ code: "mdm-signature.malformed", detail: expect.stringContaining("longer than") });
    expect(await codeOf(`${header}${" ".repeat(maxMdmSignatureHeaderLength - header.length)}`)).toBe("ok:identity"); // at the cap
  });

  it("an ATTACHED signature whose content differs from the body is mdm-signature.invalid; attached content equal to the body is accepted", async () => {
    const r = await verifyMdmSignature(body, forgeSign(new TextEncoder().encode("another body"), { detached: false, attributes: true }), trust);
    expect(!r.ok && r.error).toMatchObject({ code: "mdm-signature.invalid", detail: expect.stringContaining("attached content") });
    expect(await codeOf(forgeSign(body, { detached: false, attributes: true }))).toBe("ok:identity");
  });

  it("a digest algorithm outside SHA-1/256/384/512 is mdm-signature.unsupported-algorithm", async () => {
    // SHA-256's OID (…4.2.1) → SHA-224's (…4.2.4), in digestAlgorithms and in the SignerInfo.
    const sha256 = Buffer.from([0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]);
    const der = Buffer.from(await signMdmMessage(body, identity), "base64");
    let at = der.indexOf(sha256);
    expect(at).toBeGreaterThan(0);
    for (; at >= 0; at = der.indexOf(sha256, at + 1)) der[at + sha256.length - 1] = 0x04;
    expect(await codeOf(der.toString("base64"))).toBe("mdm-signature.unsupported-algorithm");
  });

  it("signMdmMessage refuses a key that is neither RSASSA-PKCS1-v1_5 nor ECDSA", async () => {
    const pss = await crypto.subtle.generateKey({ name: "RSA-PSS", modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: "SHA-256" }, false, ["sign", "verify"]);
    await expect(signMdmMessage(body, { certificate: identity.certificate, privateKey: pss.privateKey })).rejects.toThrow(/unsupported key algorithm RSA-PSS/);
  });
});
