// A test CA for SIMULATED devices: it issues device identities and signs enroll bodies the way a
// real device does (ENROLL-1: a DER CMS SignedData with the plist attached, signed attributes
// contentType / signingTime / messageDigest, the signer named by issuer and serial number, the
// certificates [leaf, CA]). The server trusts it only when its certificate is added to the trust
// store as an anchor (runtime/device-signature.ts), which a deployment must never do by default.
//
// Pure WebCrypto and a minimal DER encoder, so it runs unchanged on Node and Deno. Randomness
// (serial numbers, device UDIDs) and the clock are injectable; key generation is WebCrypto's own
// (pass `keyPair` for a fixed key), and ECDSA signatures are randomized by WebCrypto.
import { parseCertificate } from "../spec/cms.ts";
import { newUuid, secureRandomBytes, type RandomBytes } from "./crypto.ts";

export type TestKeyAlgorithm = "ecdsa-p256" | "ecdsa-p384" | "rsa-2048";
export type TestHash = "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";

export interface TestDeviceCa {
  /** DER; add it to a TrustStore (label e.g. "test") to accept the devices it issues. */
  readonly certificate: Uint8Array;
  readonly privateKey: CryptoKey;
  /** RFC 4514, as spec/cms.ts prints names. */
  readonly subject: string;
}

export interface DeviceIdentity {
  /** The device's leaf certificate, DER. */
  readonly certificate: Uint8Array;
  readonly privateKey: CryptoKey;
  /** Certificates embedded after the leaf in every signed body, e.g. [CA]. */
  readonly chain: readonly Uint8Array[];
}

export interface TestCaOptions {
  readonly algorithm?: TestKeyAlgorithm;
  readonly random?: RandomBytes;
  /** Milliseconds since the epoch; the start of the validity window. */
  readonly now?: () => number;
  readonly commonName?: string;
  readonly validityDays?: number;
  /** An existing key pair (extractable) instead of a generated one. */
  readonly keyPair?: CryptoKeyPair;
}

export interface DeviceIdentityOptions {
  readonly algorithm?: TestKeyAlgorithm;
  readonly random?: RandomBytes;
  readonly now?: () => number;
  /** The leaf's CN, as Apple's leaves carry a UUID; a random UUID by default. */
  readonly udid?: string;
  readonly validityDays?: number;
  readonly keyPair?: CryptoKeyPair;
}

export interface SignOptions {
  readonly now?: () => number;
  /**
   * The digest; SHA-256 by default (the real iOS 15 body uses SHA-1). Deno 2.x refuses ECDSA
   * P-384 with SHA-1 (signing and verifying); every other pairing works on both runtimes.
   */
  readonly digest?: TestHash;
  /** false: sign the content itself, with no signed attributes. Default true. */
  readonly signedAttributes?: boolean;
  /** RSA only: "combined" (e.g. sha256WithRSAEncryption, as iOS writes) or "rsaEncryption". */
  readonly rsaSignatureAlgorithm?: "combined" | "rsaEncryption";
}

/** A self-signed CA certificate and key for simulated devices. */
export async function createTestDeviceCa(options: TestCaOptions = {}): Promise<TestDeviceCa> {
  const random = options.random ?? secureRandomBytes;
  const now = options.now ?? Date.now;
  const keys = options.keyPair ?? (await generateKeyPair(options.algorithm ?? "ecdsa-p256"));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const name = distinguishedName([
    ["2.5.4.10", "adenroll"],
    ["2.5.4.11", "Simulated devices (not Apple)"],
    ["2.5.4.3", options.commonName ?? "adenroll Test Device CA"],
  ]);
  const ski = await keyIdentifier(spki);
  const extensions = [
    extension("2.5.29.19", true, seq(bool(true))), // basicConstraints: CA
    extension("2.5.29.15", true, bitString(Uint8Array.of(0x06), 1)), // keyUsage: keyCertSign, cRLSign
    extension("2.5.29.14", false, octets(ski)), // subjectKeyIdentifier
  ];
  const certificate = await issue({ serial: serialNumber(random), issuer: name, subject: name, spki, notBefore: now(), days: options.validityDays ?? 3650, extensions, signer: keys.privateKey });
  return { certificate, privateKey: keys.privateKey, subject: subjectOf(certificate) };
}

/** A device identity (leaf certificate and key) issued by the CA; its chain is [CA]. */
export async function issueDeviceIdentity(ca: TestDeviceCa, options: DeviceIdentityOptions = {}): Promise<DeviceIdentity> {
  const random = options.random ?? secureRandomBytes;
  const now = options.now ?? Date.now;
  const keys = options.keyPair ?? (await generateKeyPair(options.algorithm ?? "ecdsa-p256"));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const caParts = certificateParts(ca.certificate);
  const caCert = parseCertificate(ca.certificate);
  if (caParts === undefined || !caCert.ok) throw new Error("the test CA certificate cannot be read");
  const subject = distinguishedName([
    ["2.5.4.10", "adenroll"],
    ["2.5.4.11", "Simulated device"],
    ["2.5.4.3", options.udid ?? newUuid(random)],
  ]);
  const extensions = [
    extension("2.5.29.19", true, seq()), // basicConstraints: not a CA
    extension("2.5.29.15", true, bitString(Uint8Array.of(0x80), 7)), // keyUsage: digitalSignature
    extension("2.5.29.14", false, octets(await keyIdentifier(spki))),
    extension("2.5.29.35", false, seq(tlv(0x80, await keyIdentifier(caCert.value.subjectPublicKeyInfo)))), // authorityKeyIdentifier
  ];
  const certificate = await issue({
    serial: serialNumber(random),
    issuer: caParts.subject,
    subject,
    spki,
    notBefore: now(),
    days: options.validityDays ?? 365,
    extensions,
    signer: ca.privateKey,
  });
  return { certificate, privateKey: keys.privateKey, chain: [ca.certificate] };
}

/**
 * Signs an enroll body as a device does: a DER ContentInfo holding SignedData with `plist`
 * attached, one signer named by issuer and serial number, certificates [leaf, ...chain].
 */
export async function signEnrollBody(plist: Uint8Array, device: DeviceIdentity, options: SignOptions = {}): Promise<Uint8Array> {
  const hash = options.digest ?? "SHA-256";
  const now = options.now ?? Date.now;
  const leaf = certificateParts(device.certificate);
  if (leaf === undefined) throw new Error("the device certificate cannot be read");
  const family = device.privateKey.algorithm.name;
  const digestAlgorithm = seq(oid(hashOids[hash]));

  let signedAttrs: Uint8Array | undefined;
  let toSign = plist;
  if (options.signedAttributes !== false) {
    const digest = new Uint8Array(await crypto.subtle.digest(hash, buffer(plist)));
    signedAttrs = setOf(
      seq(oid("1.2.840.113549.1.9.3"), set(oid(oidData))), // contentType
      seq(oid("1.2.840.113549.1.9.5"), set(time(now()))), // signingTime
      seq(oid("1.2.840.113549.1.9.4"), set(octets(digest))), // messageDigest
    );
    toSign = signedAttrs;
  }
  let signatureAlgorithm: Uint8Array;
  if (family === "ECDSA") signatureAlgorithm = seq(oid(ecdsaOids[hash]));
  else if (family === "RSASSA-PKCS1-v1_5") signatureAlgorithm = seq(oid(options.rsaSignatureAlgorithm === "rsaEncryption" ? oidRsaEncryption : rsaOids[hash]), nul());
  else throw new Error(`unsupported device key algorithm ${family}`);
  const signature = await sign(device.privateKey, hash, toSign);

  const signerInfo = seq(
    integer(1),
    seq(leaf.issuer, leaf.serial), // IssuerAndSerialNumber, the leaf's own bytes
    digestAlgorithm,
    ...(signedAttrs === undefined ? [] : [retag(signedAttrs, 0xa0)]), // [0] IMPLICIT
    signatureAlgorithm,
    octets(signature),
  );
  const signedData = seq(
    integer(1),
    set(digestAlgorithm),
    seq(oid(oidData), tlv(0xa0, octets(plist))),
    tlv(0xa0, device.certificate, ...device.chain), // certificates [0] IMPLICIT
    set(signerInfo),
  );
  return seq(oid("1.2.840.113549.1.7.2"), tlv(0xa0, signedData));
}

/** The CA as PEM (certificate, PKCS#8 private key), to keep it in a data folder. The key must be extractable. */
export async function exportTestDeviceCa(ca: TestDeviceCa): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", ca.privateKey));
  return { certificatePem: toPem(ca.certificate, "CERTIFICATE"), privateKeyPem: toPem(pkcs8, "PRIVATE KEY") };
}

/** The CA back from exportTestDeviceCa's PEM. Throws on PEM that is not one. */
export async function importTestDeviceCa(pem: { certificatePem: string; privateKeyPem: string }): Promise<TestDeviceCa> {
  const certificate = fromPem(pem.certificatePem, "CERTIFICATE");
  const pkcs8 = fromPem(pem.privateKeyPem, "PRIVATE KEY");
  const cert = parseCertificate(certificate);
  if (!cert.ok) throw new Error(`not a certificate: ${cert.error.detail}`);
  const params = keyParamsOfSpki(cert.value.subjectPublicKeyInfo);
  const privateKey = await crypto.subtle.importKey("pkcs8", buffer(pkcs8), params, true, ["sign"]);
  return { certificate, privateKey, subject: cert.value.subject };
}

/** A DER certificate (or other object) as PEM. */
export function toPem(der: Uint8Array, label = "CERTIFICATE"): string {
  let binary = "";
  for (const b of der) binary += String.fromCharCode(b);
  const b64 = btoa(binary).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// ---- certificates ----

const oidData = "1.2.840.113549.1.7.1";
const oidRsaEncryption = "1.2.840.113549.1.1.1";
const hashOids: Readonly<Record<TestHash, string>> = {
  "SHA-1": "1.3.14.3.2.26",
  "SHA-256": "2.16.840.1.101.3.4.2.1",
  "SHA-384": "2.16.840.1.101.3.4.2.2",
  "SHA-512": "2.16.840.1.101.3.4.2.3",
};
const rsaOids: Readonly<Record<TestHash, string>> = {
  "SHA-1": "1.2.840.113549.1.1.5",
  "SHA-256": "1.2.840.113549.1.1.11",
  "SHA-384": "1.2.840.113549.1.1.12",
  "SHA-512": "1.2.840.113549.1.1.13",
};
const ecdsaOids: Readonly<Record<TestHash, string>> = {
  "SHA-1": "1.2.840.10045.4.1",
  "SHA-256": "1.2.840.10045.4.3.2",
  "SHA-384": "1.2.840.10045.4.3.3",
  "SHA-512": "1.2.840.10045.4.3.4",
};

async function generateKeyPair(algorithm: TestKeyAlgorithm): Promise<CryptoKeyPair> {
  const params =
    algorithm === "rsa-2048"
      ? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: "SHA-256" }
      : { name: "ECDSA", namedCurve: algorithm === "ecdsa-p384" ? "P-384" : "P-256" };
  const pair = await crypto.subtle.generateKey(params, true, ["sign", "verify"]);
  if (!("privateKey" in pair)) throw new Error("WebCrypto returned one key where a key pair was asked for");
  return pair;
}

interface IssueInput {
  readonly serial: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  readonly notBefore: number;
  readonly days: number;
  readonly extensions: readonly Uint8Array[];
  readonly signer: CryptoKey;
}

/** An X.509 v3 certificate over `input`, signed by `signer` with SHA-256 (SHA-384 for a P-384 key). */
async function issue(input: IssueInput): Promise<Uint8Array> {
  const ec = input.signer.algorithm.name === "ECDSA";
  const hash: TestHash = ec && "namedCurve" in input.signer.algorithm && input.signer.algorithm.namedCurve === "P-384" ? "SHA-384" : "SHA-256";
  const algorithm = ec ? seq(oid(ecdsaOids[hash])) : seq(oid(rsaOids[hash]), nul());
  const notBefore = Math.floor(input.notBefore / 1000) * 1000;
  const tbs = seq(
    tlv(0xa0, integer(2)), // version v3
    tlv(0x02, input.serial),
    algorithm,
    input.issuer,
    seq(time(notBefore), time(notBefore + input.days * 86_400_000)),
    input.subject,
    input.spki,
    tlv(0xa3, seq(...input.extensions)),
  );
  const signature = await sign(input.signer, hash, tbs);
  return seq(tbs, algorithm, bitString(signature, 0));
}

/** A WebCrypto signature, as X.509 and CMS carry it (DER for ECDSA). */
async function sign(key: CryptoKey, hash: TestHash, data: Uint8Array): Promise<Uint8Array> {
  if (key.algorithm.name === "ECDSA") {
    const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash }, key, buffer(data)));
    const half = raw.length / 2;
    return seq(tlv(0x02, unsignedInteger(raw.subarray(0, half))), tlv(0x02, unsignedInteger(raw.subarray(half))));
  }
  const rsaKey = await rsaKeyFor(key, hash);
  return new Uint8Array(await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, rsaKey, buffer(data)));
}

const rsaRehashed = new WeakMap<CryptoKey, Map<string, CryptoKey>>();

/** The hash an RSA key is bound to. */
function hashNameOf(key: CryptoKey): string | undefined {
  const algorithm: object = key.algorithm;
  if (!("hash" in algorithm) || typeof algorithm.hash !== "object" || algorithm.hash === null || !("name" in algorithm.hash)) return undefined;
  return typeof algorithm.hash.name === "string" ? algorithm.hash.name : undefined;
}

/** WebCrypto binds an RSA key to one hash; another needs the key re-imported (so extractable). */
async function rsaKeyFor(key: CryptoKey, hash: TestHash): Promise<CryptoKey> {
  if (hashNameOf(key) === hash) return key;
  let byHash = rsaRehashed.get(key);
  const known = byHash?.get(hash);
  if (known !== undefined) return known;
  if (!key.extractable) throw new Error(`this RSA key is bound to ${hashNameOf(key) ?? "another hash"}; signing with ${hash} needs an extractable key`);
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  const rehashed = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["sign"]);
  if (byHash === undefined) rsaRehashed.set(key, (byHash = new Map()));
  byHash.set(hash, rehashed);
  return rehashed;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
async function keyIdentifier(spki: Uint8Array): Promise<Uint8Array> {
  const [alg, bits] = children(spki, 0) ?? [];
  if (alg === undefined || bits === undefined) throw new Error("unreadable SubjectPublicKeyInfo");
  return new Uint8Array(await crypto.subtle.digest("SHA-1", buffer(spki.subarray(bits.contentStart + 1, bits.end))));
}

function serialNumber(random: RandomBytes): Uint8Array {
  const b = random(16).slice();
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40; // positive, and no leading zero to strip
  return b;
}

function keyParamsOfSpki(spki: Uint8Array): RsaHashedImportParams | EcKeyImportParams {
  // SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { algorithm OID, parameters }, BIT STRING }
  const [alg] = children(spki, 0) ?? [];
  const [type, param] = alg === undefined ? [] : (children(spki, alg.start) ?? []);
  const same = (e: Element | undefined, encoded: Uint8Array): boolean => e !== undefined && e.end - e.start === encoded.length && encoded.every((x, i) => spki[e.start + i] === x);
  if (same(type, oid(oidRsaEncryption))) return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  if (same(type, oid("1.2.840.10045.2.1")) && same(param, oid("1.2.840.10045.3.1.7"))) return { name: "ECDSA", namedCurve: "P-256" };
  if (same(type, oid("1.2.840.10045.2.1")) && same(param, oid("1.3.132.0.34"))) return { name: "ECDSA", namedCurve: "P-384" };
  throw new Error("the CA key is not RSA, P-256 or P-384");
}

function subjectOf(der: Uint8Array): string {
  const c = parseCertificate(der);
  return c.ok ? c.value.subject : "";
}

/** The raw DER of a certificate's issuer, serial number INTEGER and subject. */
function certificateParts(der: Uint8Array): { issuer: Uint8Array; serial: Uint8Array; subject: Uint8Array } | undefined {
  const [tbs] = children(der, 0) ?? [];
  if (tbs === undefined) return undefined;
  const fields = children(der, tbs.start) ?? [];
  const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const [serial, , issuer, , subject] = rest;
  if (serial === undefined || issuer === undefined || subject === undefined) return undefined;
  return { serial: der.slice(serial.start, serial.end), issuer: der.slice(issuer.start, issuer.end), subject: der.slice(subject.start, subject.end) };
}

// ---- PEM ----

function fromPem(pem: string, label: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (m === null) throw new Error(`no ${label} PEM block`);
  const binary = atob((m[1] ?? "").replace(/\s+/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

// ---- a minimal DER encoder and reader ----

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(contents);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + length.length + n);
  out[0] = tag;
  out.set(length, 1);
  out.set(body, 1 + length.length);
  return out;
}

const seq = (...items: Uint8Array[]): Uint8Array<ArrayBuffer> => tlv(0x30, ...items);
const set = (...items: Uint8Array[]): Uint8Array<ArrayBuffer> => tlv(0x31, ...items);
const octets = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => tlv(0x04, bytes);
const nul = (): Uint8Array<ArrayBuffer> => Uint8Array.of(0x05, 0x00);
const bool = (v: boolean): Uint8Array<ArrayBuffer> => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);
const bitString = (bytes: Uint8Array, unusedBits: number): Uint8Array<ArrayBuffer> => tlv(0x03, Uint8Array.of(unusedBits), bytes);
const integer = (n: number): Uint8Array<ArrayBuffer> => tlv(0x02, unsignedInteger(Uint8Array.of(n)));

/** DER SET OF: the elements sorted by their encodings (X.690 §11.6). */
function setOf(...items: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const sorted = [...items].sort((a, b) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = (a[i] ?? 0) - (b[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  });
  return set(...sorted);
}

/** The same element with another tag (SET ↔ [0] IMPLICIT). */
function retag(der: Uint8Array, tag: number): Uint8Array {
  const out = der.slice();
  out[0] = tag;
  return out;
}

/** A non-negative big-endian number as minimal INTEGER contents. */
function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let from = 0;
  while (from < bytes.length - 1 && bytes[from] === 0) from++;
  const v = bytes.subarray(from);
  return ((v[0] ?? 0) & 0x80) !== 0 ? concat([Uint8Array.of(0), v]) : v.slice();
}

function oid(text: string): Uint8Array<ArrayBuffer> {
  const arcs = text.split(".").map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5, RFC 5652 §11.3). */
function time(ms: number): Uint8Array<ArrayBuffer> {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const year = d.getUTCFullYear();
  const utc = year >= 1950 && year < 2050;
  return tlv(utc ? 0x17 : 0x18, new TextEncoder().encode(`${utc ? p(year % 100) : p(year, 4)}${rest}`));
}

/** A Name from (attribute OID, value) pairs, most general first; C is a PrintableString, the rest UTF8String. */
function distinguishedName(attributes: readonly (readonly [string, string])[]): Uint8Array<ArrayBuffer> {
  return seq(...attributes.map(([type, value]) => set(seq(oid(type), tlv(type === "2.5.4.6" ? 0x13 : 0x0c, new TextEncoder().encode(value))))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array<ArrayBuffer> {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

interface Element {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** The elements inside the (definite-length) constructed element at `at`. */
function children(der: Uint8Array, at: number): Element[] | undefined {
  const outer = element(der, at, der.length);
  if (outer === undefined) return undefined;
  const out: Element[] = [];
  for (let p = outer.contentStart; p < outer.end; ) {
    const e = element(der, p, outer.end);
    if (e === undefined) return undefined;
    out.push(e);
    p = e.end;
  }
  return out;
}

function element(der: Uint8Array, at: number, limit: number): Element | undefined {
  const tag = der[at];
  let length = der[at + 1];
  if (tag === undefined || length === undefined || length === 0x80) return undefined;
  let p = at + 2;
  if (length > 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (der[p++] ?? 0);
  }
  return p + length <= limit ? { tag, start: at, contentStart: p, end: p + length } : undefined;
}

function buffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
