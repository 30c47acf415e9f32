// `Mdm-Signature` (PROTOCOL.md §6): with SignMessage on, every check-in and command-channel request
// carries the base64 of a DETACHED CMS SignedData over the exact body, made with the identity the
// enrollment profile gave the device.
//
// verifyMdmSignature checks the digest and signature over the body and the signer's chain up to a
// pinned anchor (the same code as enroll bodies: runtime/device-signature.ts), and, unlike enroll
// bodies (whose Apple intermediates expired years ago), the signer certificate's validity window:
// these identities are ours or our SCEP/ACME CA's, and an expired one must stop working.
// Not checked: key usage, revocation, the validity of intermediates and anchors, and WHICH identity
// signed — the caller pins the enrollment's identity by `fingerprint` (certificateFingerprint).
//
// signMdmMessage and identityFromPkcs12 are the device side, for the simulator.
import {
  Attribute,
  CertificateChoices,
  CertificateSet,
  CMSVersion,
  ContentInfo,
  DigestAlgorithmIdentifier,
  DigestAlgorithmIdentifiers,
  EncapsulatedContentInfo,
  id_contentType,
  id_data,
  id_messageDigest,
  id_signedData,
  IssuerAndSerialNumber,
  SignatureAlgorithmIdentifier,
  SignedData,
  SignerIdentifier,
  SignerInfo,
  SignerInfos,
} from "@peculiar/asn1-cms";
import { createHash } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import forge from "node-forge";
import { parseSignedData } from "../spec/cms.ts";
import { err, ok, type Result } from "../spec/result.ts";
import { sameBytes, tlv, verifySignedContent, type HashName, type SignatureErrorCode, type Tlv, type TrustStore } from "./device-signature.ts";
import { readPkcs12 } from "./identity-ca.ts";

export interface MdmSigner {
  /** Lowercase hex SHA-256 of the signer certificate's DER (certificateFingerprint). */
  readonly fingerprint: string;
  /** The most specific CN of the signer's subject, if any. */
  readonly commonName: string | null;
  /** Label of the trust anchor the signer chains to. */
  readonly anchor: string;
  /** The signer certificate, DER. */
  readonly certificate: Uint8Array;
}

export type MdmSignatureErrorCode =
  | "mdm-signature.missing"
  | "mdm-signature.malformed"
  | "mdm-signature.invalid"
  | "mdm-signature.untrusted"
  | "mdm-signature.unsupported-algorithm";

export interface MdmSignatureError {
  readonly code: MdmSignatureErrorCode;
  /** Names OIDs, subjects and dates; never key material or the body. */
  readonly detail: string;
}

export interface MdmVerifyOptions {
  /** Milliseconds since the epoch at which the signer certificate must be valid; default now. */
  readonly now?: number;
}

/** Longest header value read (a signature with a few RSA-4096 certificates is under 10 KiB). */
export const maxMdmSignatureHeaderLength = 64 * 1024;

/**
 * Verifies the Mdm-Signature header value against the request body. Never throws. Only the first
 * signer is verified. A signature that carries the body as attached content is accepted; one
 * carrying any other content is mdm-signature.invalid.
 */
export async function verifyMdmSignature(body: Uint8Array, header: string | null | undefined, trust: TrustStore, options: MdmVerifyOptions = {}): Promise<Result<MdmSigner, MdmSignatureError>> {
  try {
    return await verify(body, header, trust, options.now ?? Date.now());
  } catch (e) {
    return fail("mdm-signature.invalid", `verification failed unexpectedly (${e instanceof Error ? e.name : "error"})`);
  }
}

/** Lowercase hex SHA-256 of a certificate's DER: how an enrollment pins its identity (node:crypto, as the verification: no WebCrypto job per request). */
export async function certificateFingerprint(der: Uint8Array): Promise<string> {
  return createHash("sha256").update(der).digest("hex");
}

export interface MdmIdentity {
  /** The identity certificate, DER. */
  readonly certificate: Uint8Array;
  /** RSASSA-PKCS1-v1_5 or ECDSA, with the "sign" usage. */
  readonly privateKey: CryptoKey;
}

/**
 * The Mdm-Signature header value for `body`, as a device makes it: a DER ContentInfo holding a
 * detached SignedData (eContentType id-data, no eContent), one signer named by issuer and serial
 * number, signed attributes contentType and messageDigest, certificates [identity, ...chain].
 * Digest SHA-256 (for an RSA key bound to another hash, that hash). Throws on an unusable key or
 * certificate.
 */
export async function signMdmMessage(body: Uint8Array, identity: MdmIdentity, options: { readonly chain?: readonly Uint8Array[] } = {}): Promise<string> {
  const key = identity.privateKey;
  const algorithm = signingAlgorithm(key);
  const certificates = [identity.certificate, ...(options.chain ?? [])].map(exactCertificate);
  const [leaf] = certificates;
  if (leaf === undefined) throw new Error("no identity certificate");

  const digest = await crypto.subtle.digest(algorithm.hash, arrayBacked(body));
  // Listed in DER SET OF order (the contentType attribute's encoding is the shorter).
  const signedAttrs = [
    new Attribute({ attrType: id_contentType, attrValues: [oidDataDer.slice().buffer] }),
    new Attribute({ attrType: id_messageDigest, attrValues: [AsnConvert.serialize(new OctetString(digest))] }),
  ];
  // RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag, not [0].
  const toSign = derSet(signedAttrs.map((a) => new Uint8Array(AsnConvert.serialize(a))));
  const signature = await signBytes(key, algorithm, toSign);

  const digestAlgorithm = new DigestAlgorithmIdentifier({ algorithm: hashOids[algorithm.hash] });
  const signerInfo = new SignerInfo({
    version: CMSVersion.v1,
    sid: new SignerIdentifier({
      issuerAndSerialNumber: new IssuerAndSerialNumber({ issuer: leaf.tbsCertificate.issuer, serialNumber: leaf.tbsCertificate.serialNumber }),
    }),
    digestAlgorithm,
    signedAttrs,
    signatureAlgorithm: algorithm.identifier,
    signature: new OctetString(signature),
  });
  const signedData = new SignedData({
    version: CMSVersion.v1,
    digestAlgorithms: new DigestAlgorithmIdentifiers([digestAlgorithm]),
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates: new CertificateSet(certificates.map((certificate) => new CertificateChoices({ certificate }))),
    signerInfos: new SignerInfos([signerInfo]),
  });
  const der = AsnConvert.serialize(new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signedData) }));
  return base64(new Uint8Array(der));
}

export interface Pkcs12Identity {
  /** The certificate of the PKCS#12's private key, DER. */
  readonly certificate: Uint8Array;
  /** The other certificates of the PKCS#12 (e.g. the issuing CA), DER. */
  readonly chain: Uint8Array[];
  /** Non-extractable, RSASSA-PKCS1-v1_5 with SHA-256, for signing. */
  readonly privateKey: CryptoKey;
}

/**
 * The identity in a PKCS#12 (the profile's com.apple.security.pkcs12 payload). RSA only, in a
 * pkcs8ShroudedKeyBag (what node-forge reads; the built-in CA writes that). Throws on a wrong
 * password, no key, or no certificate for the key.
 */
export async function identityFromPkcs12(data: Uint8Array, password: string): Promise<Pkcs12Identity> {
  const { certificates, privateKey } = readPkcs12(data, password);
  if (privateKey === undefined) throw new Error("the PKCS#12 holds no private key");
  if (!("n" in privateKey)) throw new Error("the PKCS#12 key is not an RSA key");
  const mine = certificates.find((c) => "n" in c.publicKey && c.publicKey.n.equals(privateKey.n) && c.publicKey.e.equals(privateKey.e));
  if (mine === undefined) throw new Error("no certificate in the PKCS#12 belongs to its private key");
  const pkcs8 = bytesOf(forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(privateKey))).getBytes());
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
  const der = (c: forge.pki.Certificate): Uint8Array => bytesOf(forge.asn1.toDer(forge.pki.certificateToAsn1(c)).getBytes());
  return { certificate: der(mine), chain: certificates.filter((c) => c !== mine).map(der), privateKey: key };
}

// ---- verification ----

type Failure = { readonly ok: false; readonly error: MdmSignatureError };

function fail(code: MdmSignatureErrorCode, detail: string): Failure {
  return err({ code, detail });
}

const fromEnrollCode: Readonly<Record<SignatureErrorCode, MdmSignatureErrorCode>> = {
  "signature.not-cms": "mdm-signature.malformed",
  "signature.no-content": "mdm-signature.malformed",
  "signature.digest-mismatch": "mdm-signature.invalid",
  "signature.bad-signature": "mdm-signature.invalid",
  "signature.unsupported-algorithm": "mdm-signature.unsupported-algorithm",
  "signature.untrusted-signer": "mdm-signature.untrusted",
  "signature.chain-broken": "mdm-signature.untrusted",
};

async function verify(body: Uint8Array, header: string | null | undefined, trust: TrustStore, now: number): Promise<Result<MdmSigner, MdmSignatureError>> {
  const der = decodeHeader(header);
  if (!der.ok) return der;
  const parsed = parseSignedData(der.value);
  if (!parsed.ok) return fail("mdm-signature.malformed", `${parsed.error.code}: ${parsed.error.detail}`);
  const sd = parsed.value;
  if (sd.content !== undefined && !sameBytes(sd.content, body)) return fail("mdm-signature.invalid", "the signature carries attached content that is not the request body");

  const verified = await verifySignedContent(sd, body, trust);
  if (!verified.ok) return fail(fromEnrollCode[verified.error.code], verified.error.detail);
  const certificate = verified.value.certificate;

  const fields = certificateFields(certificate);
  if (fields === undefined) return fail("mdm-signature.untrusted", "the signer certificate's validity cannot be read");
  if (!(now >= fields.notBefore && now <= fields.notAfter)) {
    const at = (t: number): string => (Number.isFinite(t) ? new Date(t).toISOString() : String(t));
    return fail("mdm-signature.untrusted", `the signer certificate is valid from ${at(fields.notBefore)} to ${at(fields.notAfter)}, not at ${at(now)}`);
  }
  return ok({ fingerprint: await certificateFingerprint(certificate), commonName: fields.commonName, anchor: verified.value.anchor, certificate });
}

/** The DER in the header value: base64, surrounding whitespace and line breaks tolerated. */
function decodeHeader(header: string | null | undefined): Result<Uint8Array, MdmSignatureError> {
  if (header === null || header === undefined) return fail("mdm-signature.missing", "no Mdm-Signature header");
  if (header.length > maxMdmSignatureHeaderLength) return fail("mdm-signature.malformed", `the header is longer than ${maxMdmSignatureHeaderLength} characters`);
  const b64 = header.replace(/\s+/g, "");
  if (b64 === "") return fail("mdm-signature.missing", "the Mdm-Signature header is empty");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1) return fail("mdm-signature.malformed", "the header is not base64");
  let binary: string;
  try {
    binary = atob(b64);
  } catch {
    return fail("mdm-signature.malformed", "the header is not base64");
  }
  return ok(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/**
 * Validity (ms) and the most specific CN of a certificate spec/cms.ts has already read; undefined
 * when they cannot be read. Hand-read: @peculiar/asn1-x509 took 2 ms a certificate, half the cost
 * of a verification.
 */
function certificateFields(der: Uint8Array): { notBefore: number; notAfter: number; commonName: string | null } | undefined {
  const cert = tlv(der, 0, der.length);
  const tbs = cert && tlv(der, cert.contentStart, cert.end);
  if (tbs === undefined) return undefined;
  // TBSCertificate ::= SEQUENCE { [0] version?, serialNumber, signature, issuer, validity, subject, … }
  const fields: Tlv[] = [];
  for (let at = tbs.contentStart, e = tlv(der, at, tbs.end); e !== undefined && fields.length < 6; at = e.end, e = tlv(der, at, tbs.end)) fields.push(e);
  const [, , , validity, subject] = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  if (validity === undefined || subject === undefined) return undefined;
  const from = tlv(der, validity.contentStart, validity.end);
  const to = from && tlv(der, from.end, validity.end);
  const notBefore = from && timeOf(der, from);
  const notAfter = to && timeOf(der, to);
  if (notBefore === undefined || notAfter === undefined) return undefined;
  let commonName: string | null = null;
  // Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value }; the last CN is the most specific.
  for (let rdn = tlv(der, subject.contentStart, subject.end); rdn !== undefined; rdn = tlv(der, rdn.end, subject.end)) {
    for (let atv = tlv(der, rdn.contentStart, rdn.end); atv !== undefined; atv = tlv(der, atv.end, rdn.end)) {
      const type = tlv(der, atv.contentStart, atv.end);
      const value = type && tlv(der, type.end, atv.end);
      if (type !== undefined && value !== undefined && type.tag === 0x06 && sameBytes(der.subarray(type.contentStart, type.end), oidCommonName)) {
        commonName = stringOf(value.tag, der.subarray(value.contentStart, value.end)) ?? commonName;
      }
    }
  }
  return { notBefore, notAfter, commonName };
}

/** 2.5.4.3, the OID's contents. */
const oidCommonName = Uint8Array.of(0x55, 0x04, 0x03);

/** UTCTime or GeneralizedTime in RFC 5280 §4.1.2.5's forms (Z, whole seconds), in ms. */
function timeOf(der: Uint8Array, e: Tlv): number | undefined {
  const text = String.fromCharCode(...der.subarray(e.contentStart, e.end));
  const m = e.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : e.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  if (y === undefined || mo === undefined || d === undefined || h === undefined || mi === undefined || s === undefined) return undefined;
  const year = e.tag === 0x18 ? y : y >= 50 ? 1900 + y : 2000 + y;
  return Date.UTC(year, mo - 1, d, h, mi, s);
}

function stringOf(tag: number, bytes: Uint8Array): string | undefined {
  if (tag === 0x0c) return new TextDecoder("utf-8").decode(bytes); // UTF8String
  if (tag === 0x13 || tag === 0x16 || tag === 0x14) return String.fromCharCode(...bytes); // Printable, IA5, Teletex (as Latin-1)
  if (tag === 0x1e) return new TextDecoder("utf-16be").decode(bytes); // BMPString
  return undefined;
}

// ---- signing ----

const hashOids: Readonly<Record<HashName, string>> = {
  "SHA-1": "1.3.14.3.2.26",
  "SHA-256": "2.16.840.1.101.3.4.2.1",
  "SHA-384": "2.16.840.1.101.3.4.2.2",
  "SHA-512": "2.16.840.1.101.3.4.2.3",
};

/** id-data (1.2.840.113549.1.7.1) as a DER OBJECT IDENTIFIER: the contentType attribute's value. */
const oidDataDer = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01);

interface SigningAlgorithm {
  readonly family: "RSASSA-PKCS1-v1_5" | "ECDSA";
  readonly hash: HashName;
  readonly identifier: SignatureAlgorithmIdentifier;
}

function signingAlgorithm(key: CryptoKey): SigningAlgorithm {
  const algorithm: object = key.algorithm;
  if (key.algorithm.name === "ECDSA") {
    // ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2).
    return { family: "ECDSA", hash: "SHA-256", identifier: new SignatureAlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" }) };
  }
  if (key.algorithm.name === "RSASSA-PKCS1-v1_5") {
    // WebCrypto binds an RSA key to one hash, which the digest must then be.
    const hash = "hash" in algorithm && typeof algorithm.hash === "object" && algorithm.hash !== null && "name" in algorithm.hash ? algorithm.hash.name : undefined;
    if (!isHashName(hash)) throw new Error(`the RSA key is bound to an unsupported hash (${String(hash)})`);
    // rsaEncryption with NULL parameters, as OpenSSL writes it (RFC 3370 §3.2).
    return { family: "RSASSA-PKCS1-v1_5", hash, identifier: new SignatureAlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.1", parameters: null }) };
  }
  throw new Error(`unsupported key algorithm ${key.algorithm.name}: RSASSA-PKCS1-v1_5 or ECDSA`);
}

function isHashName(value: unknown): value is HashName {
  return value === "SHA-1" || value === "SHA-256" || value === "SHA-384" || value === "SHA-512";
}

/** A WebCrypto signature as CMS carries it: as is for RSA, DER SEQUENCE { r, s } for ECDSA. */
async function signBytes(key: CryptoKey, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Uint8Array> {
  if (algorithm.family === "RSASSA-PKCS1-v1_5") return new Uint8Array(await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, key, arrayBacked(data)));
  const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: algorithm.hash }, key, arrayBacked(data)));
  const half = raw.length / 2;
  return derElement(0x30, [derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
}

/**
 * The certificate as @peculiar/asn1-x509 reads it, refused when it does not re-encode to the same
 * bytes: the CMS carries the re-encoding, and a verifier checks the issuer's signature over it.
 */
function exactCertificate(der: Uint8Array): Certificate {
  const cert = AsnConvert.parse(der, Certificate);
  if (!sameBytes(new Uint8Array(AsnConvert.serialize(cert)), der)) throw new Error("the certificate is not DER that @peculiar/asn1-x509 re-encodes unchanged");
  return cert;
}

// ---- small DER and byte helpers ----

/** DER SET OF: the elements sorted by their encodings (X.690 §11.6). */
function derSet(elements: readonly Uint8Array[]): Uint8Array {
  const sorted = [...elements].sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
    return a.length - b.length;
  });
  return derElement(0x31, sorted);
}

function derInteger(unsigned: Uint8Array): Uint8Array {
  let from = 0;
  while (from < unsigned.length - 1 && unsigned[from] === 0) from++;
  const value = unsigned.subarray(from);
  return derElement(0x02, [((value[0] ?? 0) & 0x80) !== 0 ? Uint8Array.of(0, ...value) : value]);
}

function derElement(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const lengthBytes: number[] = [];
  if (length < 0x80) lengthBytes.push(length);
  else {
    for (let n = length; n > 0; n = Math.floor(n / 256)) lengthBytes.unshift(n % 256);
    lengthBytes.unshift(0x80 | lengthBytes.length);
  }
  const out = new Uint8Array(1 + lengthBytes.length + length);
  out[0] = tag;
  out.set(lengthBytes, 1);
  let at = 1 + lengthBytes.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function bytesOf(binary: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** WebCrypto takes ArrayBuffer-backed views; others are copied. */
function arrayBacked(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return isArrayBacked(bytes) ? bytes : new Uint8Array(bytes);
}

function isArrayBacked(bytes: Uint8Array): bytes is Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer;
}
