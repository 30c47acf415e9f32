// The built-in CA for device identities: when the profile's identity is "PKCS#12 from the built-in
// CA", each enrollment's profile carries a fresh device identity — an RSA key and a certificate this
// CA issues for it — in a password-protected PKCS#12 (com.apple.security.pkcs12; the password rides
// in the payload's Password key). The MDM server later recognizes the device by that certificate.
//
// Keys come from WebCrypto (fast, native, the same on Node and Deno); certificates and the PKCS#12
// container are written with node-forge. The PKCS#12 uses PBE-SHA1-3DES and a SHA-1 MAC, the
// encryption every Apple OS version imports (newer AES-based PKCS#12 files are refused by older
// systems).
//
// The CA is generated at first start and kept in the data folder (`identity-ca.pem`: certificate
// and PKCS#8 key, mode 0600), so identities issued before a restart still chain to it. Instances
// sharing a database must share that file (or name the same CA files in the config).
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import forge from "node-forge";
import { base64url, secureRandomBytes, type RandomBytes } from "./crypto.ts";
import { systemErrorCode } from "./error-text.ts";

/** Who the PKCS#12 identity of one enrollment is for (the certificate's subject comes from it). */
export interface IdentityRequest {
  readonly enrollmentRef: string;
  /** A stable name for this enrollment's identity, derived from the enrollment (not secret). */
  readonly commonName: string;
  readonly userIdentifier: string;
}

/** A PKCS#12 identity issued for one enrollment (runtime/identity-ca.ts): the DER and its password. */
export interface IssuedIdentity {
  readonly data: Uint8Array;
  readonly password: string;
  /** The identity's certificate (DER): the enrollment's Mdm-Signature must be made with it. */
  readonly certificate?: Uint8Array;
}

export interface IdentityCa {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** RFC 4514-ish, for the start-up log. */
  readonly subject: string;
}

export interface IdentityCaOptions {
  readonly commonName?: string;
  readonly organization?: string;
  readonly now?: () => number;
  readonly random?: RandomBytes;
  readonly validityDays?: number;
}

export interface IssueOptions {
  readonly now?: () => number;
  readonly random?: RandomBytes;
  /** RSA modulus of the device keys (default 2048). */
  readonly keyBits?: 2048 | 3072 | 4096;
  /** Validity of a device identity certificate (default 365 days). */
  readonly validityDays?: number;
}

/** The CA's file in a data folder. */
export const identityCaFileName = "identity-ca.pem";

/** A new self-signed CA (RSA-2048, SHA-256) for device identities. */
export async function createIdentityCa(options: IdentityCaOptions = {}): Promise<IdentityCa> {
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandomBytes;
  const key = await generateRsaKey(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = serialHex(random);
  setValidity(cert, now(), options.validityDays ?? 3650);
  const name = [
    { shortName: "O", value: options.organization ?? "adenroll" },
    { shortName: "CN", value: options.commonName ?? "adenroll Device Identity CA" },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return fromForge(forge.pki.certificateToPem(cert), forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key))));
}

/** The CA from PEM text: a CERTIFICATE block and a PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY block, in one text or two. */
export function readIdentityCa(certificatePem: string, privateKeyPem: string): IdentityCa {
  const certBlock = pemBlock(certificatePem, ["CERTIFICATE"]);
  const keyBlock = pemBlock(privateKeyPem, ["PRIVATE KEY", "RSA PRIVATE KEY"]);
  if (certBlock === undefined) throw new Error("no CERTIFICATE block");
  if (keyBlock === undefined) throw new Error("no PRIVATE KEY or RSA PRIVATE KEY block");
  const cert = forge.pki.certificateFromPem(certBlock);
  const key = forge.pki.privateKeyFromPem(keyBlock);
  const certKey = cert.publicKey;
  if (!isRsaPublicKey(certKey) || !isRsaPrivateKey(key) || certKey.n.compareTo(key.n) !== 0 || certKey.e.compareTo(key.e) !== 0) {
    throw new Error("the private key does not belong to the CA certificate");
  }
  return fromForge(forge.pki.certificateToPem(cert), keyBlock);
}

/** The first PEM block with one of these labels, as text. */
function pemBlock(text: string, labels: readonly string[]): string | undefined {
  for (const label of labels) {
    const match = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`).exec(text);
    if (match !== null) return `${match[0]}\n`;
  }
  return undefined;
}

/**
 * The CA kept in `dataDir` (`identity-ca.pem`), created there at first use. `created` says whether
 * this call made it.
 */
export async function loadOrCreateIdentityCa(dataDir: string, options: IdentityCaOptions = {}): Promise<{ readonly ca: IdentityCa; readonly created: boolean; readonly file: string }> {
  const file = path.join(dataDir, identityCaFileName);
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (systemErrorCode(error) !== "ENOENT") throw error;
  }
  if (text !== undefined) return { ca: readIdentityCa(text, text), created: false, file };
  const ca = await createIdentityCa(options);
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, ca.certificatePem + ca.privateKeyPem, { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
  return { ca, created: true, file };
}

/**
 * Issues one device identity per call: a fresh RSA key, a certificate for it signed by `ca`
 * (CN = the request's common name, clientAuth), packed with the CA certificate into a PKCS#12
 * protected by a fresh random password.
 */
export function identityIssuer(ca: IdentityCa, options: IssueOptions = {}): (request: IdentityRequest) => Promise<IssuedIdentity> {
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandomBytes;
  const caCert = forge.pki.certificateFromPem(ca.certificatePem);
  const caKey = forge.pki.privateKeyFromPem(ca.privateKeyPem);
  if (!isRsaPrivateKey(caKey)) throw new Error("the identity CA's key is not an RSA key");
  return async (request) => {
    const key = await generateRsaKey(options.keyBits ?? 2048);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    cert.serialNumber = serialHex(random);
    setValidity(cert, now(), options.validityDays ?? 365);
    cert.setSubject([
      { shortName: "O", value: "adenroll device identities" },
      { shortName: "CN", value: request.commonName },
    ]);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", clientAuth: true },
      { name: "subjectKeyIdentifier" },
      { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(caKey, forge.md.sha256.create());
    const password = base64url(random(18));
    const p12 = forge.pkcs12.toPkcs12Asn1(key, [cert, caCert], password, {
      algorithm: "3des",
      friendlyName: "Device Management Identity",
      generateLocalKeyId: true,
    });
    // The certificate too: the server pins the enrollment's identity by it (ONGOING-12, ONGOING-13).
    return { data: bytesOf(forge.asn1.toDer(p12).getBytes()), password, certificate: bytesOf(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes()) };
  };
}

/** Reads a PKCS#12 back (tests, diagnostics): the certificates in it and whether it held a key. */
export function readPkcs12(data: Uint8Array, password: string): { readonly certificates: forge.pki.Certificate[]; readonly privateKey: forge.pki.PrivateKey | undefined } {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(binaryOf(data))), password);
  const certBag = forge.pki.oids.certBag ?? "1.2.840.113549.1.12.10.1.3";
  const keyBagType = forge.pki.oids.pkcs8ShroudedKeyBag ?? "1.2.840.113549.1.12.10.1.2";
  const certBags: forge.pkcs12.Bag[] = p12.getBags({ bagType: certBag })[certBag] ?? [];
  const certificates = certBags.flatMap((bag) => (bag.cert === undefined ? [] : [bag.cert]));
  const keyBag = p12.getBags({ bagType: keyBagType })[keyBagType]?.[0];
  return { certificates, privateKey: keyBag?.key };
}

async function generateRsaKey(bits: number): Promise<forge.pki.rsa.PrivateKey> {
  const pair = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: Uint8Array.of(1, 0, 1), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const key = forge.pki.privateKeyFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(binaryOf(pkcs8))));
  if (!isRsaPrivateKey(key)) throw new Error("WebCrypto generated a key forge does not read as RSA");
  return key;
}

function isRsaPrivateKey(key: forge.pki.PrivateKey): key is forge.pki.rsa.PrivateKey {
  return typeof key === "object" && key !== null && "n" in key && "d" in key;
}

function isRsaPublicKey(key: forge.pki.PublicKey): key is forge.pki.rsa.PublicKey {
  return typeof key === "object" && key !== null && "n" in key && "e" in key;
}

function fromForge(certificatePem: string, privateKeyPem: string): IdentityCa {
  const cert = forge.pki.certificateFromPem(certificatePem);
  const subject = cert.subject.attributes.map((a) => `${String(a.shortName ?? a.name)}=${String(a.value)}`).join(", ");
  return { certificatePem, privateKeyPem, subject };
}

function setValidity(cert: forge.pki.Certificate, at: number, days: number): void {
  // A little slack before now, for devices whose clock runs behind.
  const start = Math.floor(at / 1000) * 1000 - 5 * 60 * 1000;
  cert.validity.notBefore = new Date(start);
  cert.validity.notAfter = new Date(start + days * 86_400_000);
}

/** A positive 128-bit serial number in hex, with no leading zero byte to strip. */
function serialHex(random: RandomBytes): string {
  const b = random(16).slice();
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function binaryOf(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function bytesOf(binary: string): Uint8Array {
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
