// Device-signature verification of enroll bodies (ENROLL-1: the device signs the body with its
// built-in identity). The body is a CMS SignedData with attached content (PROTOCOL.md §2); this
// checks, with node:crypto's synchronous one-shot functions (Node and Deno both have them; WebCrypto's
// asynchronous jobs cost more than the cryptography: ≈ 170 against ≈ 30 µs for an RSA-2048 key
// import and verification in process):
//
//   1. it is CMS SignedData (BER or DER, read by spec/cms.ts) with attached content;
//   2. the first signer's messageDigest attribute is the digest of the content, and its contentType
//      attribute is the eContentType (RFC 5652 §5.4, §11.1);
//   3. the signature, over the DER SET of signed attributes (or over the content when there are
//      none), verifies with the signer certificate's public key;
//   4. the signer certificate chains, link by link BY SIGNATURE over tbsCertificate, through the
//      embedded certificates to one of the pinned trust anchors.
//
// Deliberately NOT checked, because real enroll bodies would fail:
//   - validity windows. The iOS device identity chains to "Apple iPhone Device CA" (expired 2014)
//     and "Apple iPhone Certification Authority" (expired 2022), which devices still use, and the
//     leaf's window does not nest in theirs (test/fixtures/README.md). What the check proves is
//     that the key which signed the body was certified by Apple; replay and freshness are the
//     job of the enrollment tokens. `options.now` is accepted, so that a later policy can use it
//     without changing callers, but it changes nothing today;
//   - key usage, extended key usage, basic constraints, name constraints, revocation (OpenSSL
//     itself accepts the real body only with `-purpose any -no_check_time`);
//   - the self-signature of an anchor: anchors are pinned by their exact DER;
//   - the few bytes CMS itself leaves outside every signature (the SignedData and SignerInfo
//     versions, the digestAlgorithms SET, AlgorithmIdentifier parameters in the SignerInfo): they
//     can change without changing what is verified (the content, the signer, its chain).
// A certificate's outer signatureAlgorithm, which its own signature does not cover either, must
// equal the one inside tbsCertificate (RFC 5280 §4.1.1.2), byte for byte.
//
// Algorithms: digests SHA-1, SHA-256, SHA-384, SHA-512; RSA PKCS#1 v1.5 (rsaEncryption or
// shaNWithRSAEncryption) and ECDSA on P-256, P-384, P-521 (DER signatures, checked and converted to
// the raw r||s of IEEE P1363). As OpenSSL does, the CMS signature is checked with the hash named by the
// signer's digestAlgorithm; the signatureAlgorithm only says RSA or ECDSA. Certificate links use
// the hash of the certificate's own signatureAlgorithm. RSA-PSS and EdDSA are unsupported.
//
// Error codes (stable; `detail` names OIDs and subjects, never key material or content):
//   signature.not-cms                 not a CMS SignedData, or no signer, or a signer we cannot read
//   signature.no-content              detached signature: the enroll body must carry its content
//   signature.digest-mismatch         messageDigest missing or not the digest of the content
//   signature.bad-signature           contentType attribute missing or wrong; the signature does not
//                                     verify; the signer's key is unusable
//   signature.unsupported-algorithm   a digest, signature or key algorithm outside the list above
//   signature.untrusted-signer        signer certificate absent, or the chain ends at no anchor
//   signature.chain-broken            a certificate's signature does not verify with its issuer's key
//
// Cost: the work shared by every device (parsing the intermediates and anchors, importing their
// keys, checking the links between them) is cached by the certificates' exact DER bytes, so a
// body costs its parse, one digest, one key import (the signer's) and two RSA/ECDSA verifications
// (the body, and the signer's certificate). The signer's own
// certificate is never cached: a bench repeating one body measures what a new device costs.
import { parseCertificate, parseSignedData, signerKey, type CertificateInfo, type CmsSigner, type SignedDataInfo } from "../spec/cms.ts";
import { Buffer } from "node:buffer";
import { createHash, createPublicKey, verify as verifyNode, type JsonWebKey, type KeyObject } from "node:crypto";
import { err, ok, type Result } from "../spec/result.ts";

export interface TrustAnchor {
  /** Which anchor a verified body chains to, e.g. "apple" or "test"; returned in VerifiedSigner.anchor. */
  readonly label: string;
  /** The anchor's X.509 certificate, DER. Pinned by these exact bytes; its validity is not checked. */
  readonly certificate: Uint8Array;
}

/**
 * The pinned anchors, e.g. Apple Root CA ("apple") and, for simulated devices only, a test CA
 * ("test"). Read once per object (parsed and cached): to change the anchors, pass a new object.
 */
export interface TrustStore {
  readonly anchors: readonly TrustAnchor[];
}

export interface VerifiedSigner {
  /** Label of the trust anchor the signer chains to. */
  readonly anchor: string;
  /** signerKey (issuer|serial): the same device across its two enroll requests. */
  readonly deviceKey: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  /** The signer certificate, DER. */
  readonly certificate: Uint8Array;
  /** Subjects from the signer certificate up to and including the anchor. */
  readonly chain: readonly string[];
  /** The verified attached content (the enroll plist), and its type OID. */
  readonly content: Uint8Array;
  readonly contentType: string;
  /** WebCrypto names, e.g. "SHA-1" and "RSASSA-PKCS1-v1_5". */
  readonly digestAlgorithm: HashName;
  readonly signatureAlgorithm: "RSASSA-PKCS1-v1_5" | "ECDSA";
}

export type SignatureErrorCode =
  | "signature.not-cms"
  | "signature.no-content"
  | "signature.digest-mismatch"
  | "signature.bad-signature"
  | "signature.unsupported-algorithm"
  | "signature.untrusted-signer"
  | "signature.chain-broken";

export interface SignatureError {
  readonly code: SignatureErrorCode;
  readonly detail: string;
}

export type HashName = "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";

export interface VerifyOptions {
  /**
   * The verification time. Accepted and ignored: validity windows are not enforced, because
   * Apple's device-identity intermediates expired years ago while devices still use them.
   */
  readonly now?: Date;
}

/**
 * Verifies the device signature of an enroll body against the trust store. Never throws; any
 * input, however broken, gives a SignatureError. Only the first signer is verified (a device
 * signs alone); further signers are ignored.
 */
export async function verifyDeviceSignature(body: Uint8Array, trust: TrustStore, options: VerifyOptions = {}): Promise<Result<VerifiedSigner, SignatureError>> {
  void options.now; // see VerifyOptions.now
  try {
    return await verify(body, trust);
  } catch (e) {
    // Not expected: every step returns its failure. Kept so that the promise never rejects.
    return fail("signature.bad-signature", `verification failed unexpectedly (${e instanceof Error ? e.name : "error"})`);
  }
}

/** The DER of every `BEGIN CERTIFICATE` block, in order. Throws on a block that is not base64. */
export function loadPemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    const b64 = (m[1] ?? "").replace(/\s+/g, "");
    let binary: string;
    try {
      binary = atob(b64);
    } catch {
      throw new Error(`PEM certificate ${out.length + 1} is not valid base64`);
    }
    const der = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
    out.push(der);
  }
  return out;
}

/** Problems with a trust store (an anchor that is not a certificate, a duplicate); [] when usable. */
export function checkTrustStore(trust: TrustStore): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const a of trust.anchors) {
    const c = parseCertificate(a.certificate);
    if (!c.ok) problems.push(`anchor "${a.label}" is not a certificate (${c.error.code}: ${c.error.detail})`);
    const k = [...a.certificate].join(",");
    if (seen.has(k)) problems.push(`anchor "${a.label}" is listed twice`);
    seen.add(k);
  }
  return problems;
}

// ---- verification ----

const oid = {
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
} as const;

const digestOids: Readonly<Record<string, HashName>> = {
  [oid.sha1]: "SHA-1",
  [oid.sha256]: "SHA-256",
  [oid.sha384]: "SHA-384",
  [oid.sha512]: "SHA-512",
};

type Family = "RSASSA-PKCS1-v1_5" | "ECDSA";

/** Signature algorithm OID → key family and, for the combined ones, their hash. */
const signatureOids: Readonly<Record<string, { family: Family; hash: HashName | undefined }>> = {
  [oid.rsaEncryption]: { family: "RSASSA-PKCS1-v1_5", hash: undefined },
  "1.2.840.113549.1.1.5": { family: "RSASSA-PKCS1-v1_5", hash: "SHA-1" },
  "1.2.840.113549.1.1.11": { family: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { family: "RSASSA-PKCS1-v1_5", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { family: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
  [oid.ecPublicKey]: { family: "ECDSA", hash: undefined },
  "1.2.840.10045.4.1": { family: "ECDSA", hash: "SHA-1" },
  "1.2.840.10045.4.3.2": { family: "ECDSA", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { family: "ECDSA", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { family: "ECDSA", hash: "SHA-512" },
};

const curves: Readonly<Record<string, { name: string; size: number }>> = {
  [oid.p256]: { name: "P-256", size: 32 },
  [oid.p384]: { name: "P-384", size: 48 },
  [oid.p521]: { name: "P-521", size: 66 },
};

type Failure = { readonly ok: false; readonly error: SignatureError };

function fail(code: SignatureErrorCode, detail: string): Failure {
  return err({ code, detail });
}

/** A certificate with its parsed fields and the hash key of its DER (see bytesKey). */
interface Cert {
  readonly der: Uint8Array;
  readonly key: string;
  readonly info: CertificateInfo & { readonly algorithmsAgree: boolean };
}

function sameCert(a: Cert, b: Cert): boolean {
  return a.key === b.key && sameBytes(a.der, b.der);
}

async function verify(body: Uint8Array, trust: TrustStore): Promise<Result<VerifiedSigner, SignatureError>> {
  const parsed = parseSignedData(body);
  if (!parsed.ok) {
    if (parsed.error.code === "cms.no-content") return fail("signature.no-content", parsed.error.detail);
    return fail("signature.not-cms", `${parsed.error.code}: ${parsed.error.detail}`);
  }
  const sd = parsed.value;
  if (sd.content === undefined) return fail("signature.no-content", "the SignedData has no attached content (detached signature)");
  return verifySignedContent(sd, sd.content, trust);
}

/**
 * Checks 2–4 above for a SignedData already read, over `content`: its attached content, or the
 * bytes a detached signature signs (runtime/mdm-signature.ts). Rejects only on an unexpected
 * error (verifyDeviceSignature catches it).
 */
export async function verifySignedContent(sd: SignedDataInfo, content: Uint8Array, trust: TrustStore): Promise<Result<VerifiedSigner, SignatureError>> {
  const signer = sd.signers[0];
  if (signer === undefined) return fail("signature.not-cms", "the SignedData has no signer");

  const hash = digestOids[signer.digestAlgorithm];
  if (hash === undefined) return fail("signature.unsupported-algorithm", `digestAlgorithm ${signer.digestAlgorithm}`);
  const sigAlg = signatureOids[signer.signatureAlgorithm];
  if (sigAlg === undefined) return fail("signature.unsupported-algorithm", `signatureAlgorithm ${signer.signatureAlgorithm}`);

  if (signer.signedAttributes !== undefined) {
    if (signer.messageDigest === undefined) return fail("signature.digest-mismatch", "the signed attributes hold no messageDigest");
    if (signer.signedContentType === undefined) return fail("signature.bad-signature", "the signed attributes hold no contentType");
    if (signer.signedContentType !== sd.contentType) {
      return fail("signature.bad-signature", `contentType attribute ${signer.signedContentType} is not the eContentType ${sd.contentType}`);
    }
  }

  // The signer's certificate, found by issuer and serial number among the embedded ones.
  const pool: Cert[] = [];
  let leaf: Cert | undefined;
  const id = signerKey(signer);
  for (const der of sd.certificates) {
    const c = certificate(der);
    if (c === undefined) continue; // an unreadable extra certificate cannot be a link
    pool.push(c);
    if (leaf === undefined && signerKey(c.info) === id) leaf = c;
  }
  if (leaf === undefined) return fail("signature.untrusted-signer", `the signer certificate (${signer.issuer}, serial ${signer.serialNumber}) is not included`);
  const leafKey = spkiAlgorithm(leaf.info.subjectPublicKeyInfo);
  if (!leafKey.ok) return leafKey;
  if (leafKey.value.family !== sigAlg.family) {
    return fail("signature.bad-signature", `signatureAlgorithm ${signer.signatureAlgorithm} does not fit the signer's ${leafKey.value.family} key`);
  }

  // Failures are reported in the order of the comment at the top: digest, signature, chain.
  const signed = signer.signedAttributes ?? content;
  const digestOk = signer.messageDigest === undefined || digestMatches(hash, content, signer.messageDigest);
  const signatureOk = verifySignature(leafKey.value, leaf.info.subjectPublicKeyInfo, signer, hash, signed);
  const chain = chainToAnchor(leaf, pool, prepare(trust));
  if (!digestOk) return fail("signature.digest-mismatch", `messageDigest is not the ${hash} digest of the content`);
  if (!signatureOk.ok) return signatureOk;
  if (!chain.ok) return chain;

  return ok({
    anchor: chain.value.anchor,
    deviceKey: id,
    subject: leaf.info.subject,
    issuer: leaf.info.issuer,
    serialNumber: leaf.info.serialNumber,
    certificate: leaf.der,
    chain: chain.value.path.map((c) => c.info.subject),
    content,
    contentType: sd.contentType,
    digestAlgorithm: hash,
    signatureAlgorithm: sigAlg.family,
  });
}

/** node:crypto's name of a hash. */
const nodeHash: Readonly<Record<HashName, string>> = { "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };

function digestMatches(hash: HashName, content: Uint8Array, expected: Uint8Array): boolean {
  const d = createHash(nodeHash[hash]).update(content).digest();
  if (d.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < d.length; i++) diff |= (d[i] ?? 0) ^ (expected[i] ?? 0);
  return diff === 0;
}

function verifySignature(keyAlg: KeyAlgorithmInfo, spki: Uint8Array, signer: CmsSigner, hash: HashName, signed: Uint8Array): Result<true, SignatureError> {
  const key = importKey(keyAlg, spki);
  if (key === undefined) return fail("signature.bad-signature", `the signer's ${keyAlg.family} public key cannot be imported`);
  const good = verifyWith(key, keyAlg, hash, signer.signature, signed);
  return good ? ok(true) : fail("signature.bad-signature", `the ${hash} ${keyAlg.family} signature does not verify with the signer certificate's key`);
}

// ---- the chain ----

const maxChainLength = 8;

interface PreparedTrust {
  readonly anchors: readonly { readonly cert: Cert; readonly label: string }[];
  readonly certs: readonly Cert[];
}

const preparedStores = new WeakMap<TrustStore, PreparedTrust>();

/** Anchors parsed once per TrustStore object (unreadable anchors are left out: see checkTrustStore). */
function prepare(trust: TrustStore): PreparedTrust {
  const known = preparedStores.get(trust);
  if (known !== undefined) return known;
  const anchors: { cert: Cert; label: string }[] = [];
  for (const a of trust.anchors) {
    const cert = certificate(a.certificate.slice());
    if (cert === undefined || anchors.some((k) => sameCert(k.cert, cert))) continue;
    anchors.push({ cert, label: a.label });
  }
  const p = { anchors, certs: anchors.map((a) => a.cert) };
  preparedStores.set(trust, p);
  return p;
}

type ChainResult = Result<{ anchor: string; path: Cert[] }, SignatureError>;

const severity: Readonly<Record<SignatureErrorCode, number>> = {
  "signature.chain-broken": 3,
  "signature.unsupported-algorithm": 2,
  "signature.untrusted-signer": 1,
  "signature.not-cms": 0,
  "signature.no-content": 0,
  "signature.digest-mismatch": 0,
  "signature.bad-signature": 0,
};

function worse(a: Failure | undefined, b: Failure): Failure {
  return a === undefined || severity[b.error.code] > severity[a.error.code] ? b : a;
}

/**
 * Depth-first from `cert` to an anchor: each candidate issuer (an embedded certificate or an
 * anchor whose subject is the certificate's issuer, not already on the path) must have signed the
 * certificate. A broken link is reported over a path that merely ends nowhere.
 */
function chainToAnchor(cert: Cert, pool: readonly Cert[], trust: PreparedTrust, path: Cert[] = [cert], visited: Cert[] = [cert]): ChainResult {
  const anchor = trust.anchors.find((a) => sameCert(a.cert, cert));
  if (anchor !== undefined) return ok({ anchor: anchor.label, path });
  if (path.length >= maxChainLength) return fail("signature.untrusted-signer", `no anchor within ${maxChainLength} certificates`);
  const candidates: Cert[] = [];
  for (const c of [...pool, ...trust.certs]) {
    if (c.info.subject === cert.info.issuer && !visited.some((v) => sameCert(v, c)) && !candidates.some((k) => sameCert(k, c))) candidates.push(c);
  }
  if (candidates.length === 0) {
    const what = cert.info.issuer === cert.info.subject ? `self-signed "${cert.info.subject}"` : `issuer "${cert.info.issuer}"`;
    return fail("signature.untrusted-signer", `${what} is not a trust anchor and no certificate for it is known`);
  }
  let failure: Failure | undefined;
  for (const issuer of candidates) {
    const link = verifyLink(cert, issuer, path.length > 1);
    if (!link.ok) {
      failure = worse(failure, link);
      continue;
    }
    visited.push(issuer);
    const rest = chainToAnchor(issuer, pool, trust, [...path, issuer], visited);
    if (rest.ok) return rest;
    failure = worse(failure, rest);
  }
  return failure ?? fail("signature.untrusted-signer", "no path to a trust anchor");
}

/** Does `issuer`'s key verify `child`'s signature over its tbsCertificate? */
function verifyLink(child: Cert, issuer: Cert, cacheable: boolean): Result<true, SignatureError> {
  const link = [child.der, issuer.der];
  const linkKey = `${child.key}|${issuer.key}`;
  if (cacheable && verifiedLinks.get(linkKey, link) === true) return ok(true);
  if (!child.info.algorithmsAgree) return fail("signature.chain-broken", `"${child.info.subject}" names another signatureAlgorithm outside its tbsCertificate`);
  const alg = signatureOids[child.info.signatureAlgorithm];
  if (alg === undefined || alg.hash === undefined) {
    return fail("signature.unsupported-algorithm", `"${child.info.subject}" is signed with ${child.info.signatureAlgorithm}`);
  }
  const keyAlg = spkiAlgorithm(issuer.info.subjectPublicKeyInfo);
  if (!keyAlg.ok) return keyAlg;
  const broken = fail("signature.chain-broken", `the signature of "${child.info.subject}" does not verify with the key of "${issuer.info.subject}"`);
  if (keyAlg.value.family !== alg.family) return broken;
  const key = importKey(keyAlg.value, issuer.info.subjectPublicKeyInfo, issuer);
  if (key === undefined) return fail("signature.chain-broken", `the key of "${issuer.info.subject}" cannot be imported`);
  if (!verifyWith(key, keyAlg.value, alg.hash, child.info.signature, child.info.tbsCertificate)) return broken;
  if (cacheable) verifiedLinks.set(linkKey, link, true);
  parsedCertificates.set(issuer.key, [issuer.der], issuer.info);
  return ok(true);
}

// ---- keys and signatures ----

interface KeyAlgorithmInfo {
  readonly family: Family;
  /** ECDSA only. */
  readonly curve?: { readonly name: string; readonly size: number };
  /** The subjectPublicKey BIT STRING's bytes: RSAPublicKey DER, or an EC point. */
  readonly publicKey: Uint8Array;
}

/** The key family (and curve) of a SubjectPublicKeyInfo. */
function spkiAlgorithm(spki: Uint8Array): Result<KeyAlgorithmInfo, SignatureError> {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, parameters }, subjectPublicKey BIT STRING }
  const top = tlv(spki, 0, spki.length);
  const alg = top && top.tag === 0x30 ? tlv(spki, top.contentStart, top.end) : undefined;
  const algOid = alg && alg.tag === 0x30 ? tlv(spki, alg.contentStart, alg.end) : undefined;
  const bits = top && alg ? tlv(spki, alg.end, top.end) : undefined;
  if (algOid === undefined || algOid.tag !== 0x06 || bits === undefined || bits.tag !== 0x03 || bits.end === bits.contentStart) {
    return fail("signature.unsupported-algorithm", "a public key whose algorithm cannot be read");
  }
  const publicKey = spki.subarray(bits.contentStart + 1, bits.end);
  const name = oidText(spki.subarray(algOid.contentStart, algOid.end));
  if (name === oid.rsaEncryption) return ok({ family: "RSASSA-PKCS1-v1_5", publicKey });
  if (name === oid.ecPublicKey) {
    const param = tlv(spki, algOid.end, alg?.end ?? 0);
    const curve = param && param.tag === 0x06 ? curves[oidText(spki.subarray(param.contentStart, param.end))] : undefined;
    if (curve === undefined) return fail("signature.unsupported-algorithm", "an EC public key on a curve other than P-256, P-384, P-521");
    return ok({ family: "ECDSA", curve, publicKey });
  }
  return fail("signature.unsupported-algorithm", `public key algorithm ${name}`);
}

/**
 * A public key for verification; undefined when it is refused. Keys go in as JWK when they can:
 * with OpenSSL 3 parsing an SPKI costs several times as much as the same key as a JWK. SPKI is the
 * fallback (e.g. a compressed EC point). `cacheAs`: the issuer or anchor certificate whose key this
 * is, to keep it.
 */
function importKey(alg: KeyAlgorithmInfo, spki: Uint8Array, cacheAs?: Cert): KeyObject | undefined {
  const load = (): KeyObject | undefined => {
    const jwk = toJwk(alg);
    if (jwk !== undefined) {
      try {
        return createPublicKey({ key: jwk, format: "jwk" });
      } catch {
        // fall through to SPKI, which judges the key itself
      }
    }
    try {
      const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
      return key.asymmetricKeyType === (alg.family === "ECDSA" ? "ec" : "rsa") ? key : undefined;
    } catch {
      return undefined;
    }
  };
  if (cacheAs === undefined) return load();
  const key = `${alg.family}|${cacheAs.key}`;
  const known = issuerKeys.get(key, [cacheAs.der]);
  if (known !== undefined) return known;
  const loaded = load();
  issuerKeys.set(key, [cacheAs.der], loaded);
  return loaded;
}

function toJwk(alg: KeyAlgorithmInfo): JsonWebKey | undefined {
  const k = alg.publicKey;
  if (alg.family === "ECDSA") {
    const size = alg.curve?.size ?? 0;
    if (k.length !== 1 + 2 * size || k[0] !== 0x04 || alg.curve === undefined) return undefined;
    return { kty: "EC", crv: alg.curve.name, x: base64url(k.subarray(1, 1 + size)), y: base64url(k.subarray(1 + size)) };
  }
  // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
  const top = tlv(k, 0, k.length);
  const n = top && top.tag === 0x30 ? tlv(k, top.contentStart, top.end) : undefined;
  const e = n && top ? tlv(k, n.end, top.end) : undefined;
  if (top === undefined || n === undefined || e === undefined || n.tag !== 0x02 || e.tag !== 0x02 || e.end !== top.end) return undefined;
  const unsigned = (t: { contentStart: number; end: number }): Uint8Array | undefined => {
    if (t.end === t.contentStart || ((k[t.contentStart] ?? 0) & 0x80) !== 0) return undefined;
    let from = t.contentStart;
    while (from < t.end - 1 && k[from] === 0) from++;
    return k.subarray(from, t.end);
  };
  const modulus = unsigned(n);
  const exponent = unsigned(e);
  if (modulus === undefined || exponent === undefined) return undefined;
  return { kty: "RSA", n: base64url(modulus), e: base64url(exponent) };
}

// Caches shared by every device: parsed issuer and anchor certificates, their imported keys, and
// verified links between non-signer certificates. Keyed by a hash of the exact DER and confirmed by
// comparing the bytes, so a collision is only a miss. Bounded; the most recently used stay.
class ExactCache<V> {
  readonly #entries = new Map<string, { readonly parts: readonly Uint8Array[]; readonly value: V }>();
  constructor(readonly limit: number) {}

  get(key: string, parts: readonly Uint8Array[]): V | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || e.parts.length !== parts.length || !e.parts.every((p, i) => sameBytes(p, parts[i] ?? new Uint8Array()))) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.value;
  }

  set(key: string, parts: readonly Uint8Array[], value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { parts: parts.map((p) => p.slice()), value });
    if (this.#entries.size > this.limit) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }
}

const issuerKeys = new ExactCache<KeyObject | undefined>(256);
const verifiedLinks = new ExactCache<true>(256);
const parsedCertificates = new ExactCache<Cert["info"]>(256);

function verifyWith(key: KeyObject, alg: KeyAlgorithmInfo, hash: HashName, signature: Uint8Array, data: Uint8Array): boolean {
  try {
    if (alg.family === "ECDSA") {
      const raw = ecdsaSignatureToRaw(signature, alg.curve?.size ?? 0);
      if (raw === undefined) return false;
      return verifyNode(nodeHash[hash], data, { key, dsaEncoding: "ieee-p1363" }, raw);
    }
    return verifyNode(nodeHash[hash], data, key, signature);
  } catch {
    return false;
  }
}

/**
 * An ECDSA signature as X.509 and CMS carry it (DER `SEQUENCE { r INTEGER, s INTEGER }`) to the
 * raw `r || s` of `size` bytes each (IEEE P1363) that is verified; undefined when it is not that.
 */
export function ecdsaSignatureToRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  const top = tlv(der, 0, der.length);
  if (top === undefined || top.tag !== 0x30 || top.end !== der.length) return undefined;
  const r = tlv(der, top.contentStart, top.end);
  const s = r && tlv(der, r.end, top.end);
  if (r === undefined || s === undefined || r.tag !== 0x02 || s.tag !== 0x02 || s.end !== top.end) return undefined;
  const out = new Uint8Array(2 * size);
  for (const [i, n] of [r, s].entries()) {
    if (n.end === n.contentStart || ((der[n.contentStart] ?? 0) & 0x80) !== 0) return undefined; // empty or negative
    let from = n.contentStart;
    while (from < n.end - 1 && der[from] === 0) from++;
    const len = n.end - from;
    if (len > size) return undefined;
    out.set(der.subarray(from, n.end), i * size + size - len);
  }
  return out;
}

// ---- small helpers ----

/**
 * A parsed certificate, or undefined if unreadable. Only issuers that verified a link are cached
 * (verifyLink), so a signer certificate is parsed afresh every time.
 */
function certificate(der: Uint8Array): Cert | undefined {
  const key = bytesKey(der);
  const known = parsedCertificates.get(key, [der]);
  if (known !== undefined) return { der, key, info: known };
  const c = parseCertificate(der);
  return c.ok ? { der, key, info: { ...c.value, algorithmsAgree: algorithmsAgree(der) } } : undefined;
}

/**
 * RFC 5280 §4.1.1.2: signatureAlgorithm MUST be the same as tbsCertificate.signature. Checked
 * byte for byte, since the outer one is not covered by the signature.
 */
function algorithmsAgree(der: Uint8Array): boolean {
  const top = tlv(der, 0, der.length);
  const tbs = top && tlv(der, top.contentStart, top.end);
  const outer = tbs && tlv(der, tbs.end, top.end);
  let field = tbs && tlv(der, tbs.contentStart, tbs.end);
  if (field?.tag === 0xa0) field = tlv(der, field.end, tbs?.end ?? 0); // version
  const inner = field && tlv(der, field.end, tbs?.end ?? 0); // after serialNumber
  if (outer === undefined || inner === undefined) return false;
  return sameBytes(der.subarray(field?.end ?? 0, inner.end), der.subarray(tbs?.end ?? 0, outer.end));
}

/** FNV-1a of the bytes, and their length: a cheap cache key (entries still compare the bytes). */
function bytesKey(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] ?? 0), 0x01000193);
  return `${(h >>> 0).toString(36)}.${bytes.length}`;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A DER element's tag, where its content starts and where it ends (offsets into its buffer). */
export interface Tlv {
  readonly tag: number;
  readonly contentStart: number;
  readonly end: number;
}

/** One definite-length DER element with a one-byte tag inside [pos, limit) (enough for keys, ECDSA signatures and certificates). */
export function tlv(buf: Uint8Array, pos: number, limit: number): Tlv | undefined {
  if (pos + 2 > limit) return undefined;
  const tag = buf[pos] ?? 0;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let p = pos + 1;
  let length = buf[p++] ?? 0;
  if (length === 0x80) return undefined;
  if (length > 0x80) {
    const n = length & 0x7f;
    if (n > 3 || p + n > limit) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[p++] ?? 0);
  }
  if (p + length > limit) return undefined;
  return { tag, contentStart: p, end: p + length };
}

function oidText(bytes: Uint8Array): string {
  const arcs: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    }
  }
  const [head = 0, ...tail] = arcs;
  const first = head < 40 ? 0 : head < 80 ? 1 : 2;
  return [first, head - first * 40, ...tail].join(".");
}
