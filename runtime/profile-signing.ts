// Optional CMS signing of the enrollment profile with a configured certificate and key: the profile's
// XML becomes the attached content of a DER SignedData (signed attributes contentType, signingTime,
// messageDigest; certificates [signer, ...chain]), still served as application/x-apple-aspen-config.
// A device shows the signer as the profile's "Verified" issuer when it chains to a trusted root.
//
// The CMS encoder is the one runtime/test-device-ca.ts uses for enroll bodies: a SignedData with
// attached content, signed over WebCrypto, is exactly what a signed profile is too. RSA (PKCS#1
// v1.5, SHA-256) and ECDSA (P-256 with SHA-256, P-384 with SHA-384) keys, as PKCS#8 PEM
// ("PRIVATE KEY") or, for RSA, PKCS#1 PEM ("RSA PRIVATE KEY").
import forge from "node-forge";
import { parseCertificate } from "../spec/cms.ts";
import { loadPemCertificates } from "./device-signature.ts";
import { signEnrollBody, type TestHash } from "./test-device-ca.ts";

export interface ProfileSigningMaterial {
  /** PEM: the signer's certificate first, then any intermediates to embed. */
  readonly certificatePem: string;
  /** PEM: the signer's private key. */
  readonly privateKeyPem: string;
}

export type ProfileSigner = (xml: Uint8Array) => Promise<Uint8Array>;

/** A signer for profiles; throws a readable error when the key is unusable or not the certificate's. */
export async function loadProfileSigner(material: ProfileSigningMaterial, now: () => number = Date.now): Promise<ProfileSigner> {
  const [certificate, ...chain] = loadPemCertificates(material.certificatePem);
  if (certificate === undefined) throw new Error("no CERTIFICATE block in the signing certificate file");
  const parsed = parseCertificate(certificate);
  if (!parsed.ok) throw new Error(`the signing certificate cannot be read: ${parsed.error.detail}`);
  const pkcs8 = privateKeyPkcs8(material.privateKeyPem);
  const spki = parsed.value.subjectPublicKeyInfo;
  let found: { readonly key: CryptoKey; readonly digest: TestHash } | undefined;
  for (const candidate of keyAlgorithms) {
    try {
      const key = await crypto.subtle.importKey("pkcs8", pkcs8, candidate.params, true, ["sign"]);
      const publicKey = await crypto.subtle.importKey("spki", buffer(spki), candidate.params, true, ["verify"]);
      if (!(await sameKey(key, publicKey))) throw new Error("the private key does not belong to the signing certificate");
      found = { key, digest: candidate.digest };
      break;
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("the private key does not belong")) throw error;
    }
  }
  if (found === undefined) throw new Error("the signing key is not an RSA, P-256 or P-384 key matching the signing certificate");
  const identity = { certificate, privateKey: found.key, chain };
  const digest = found.digest;
  return (xml) => signEnrollBody(xml, identity, { digest, now });
}

const keyAlgorithms: readonly { readonly params: RsaHashedImportParams | EcKeyImportParams; readonly digest: TestHash }[] = [
  { params: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, digest: "SHA-256" },
  { params: { name: "ECDSA", namedCurve: "P-256" }, digest: "SHA-256" },
  { params: { name: "ECDSA", namedCurve: "P-384" }, digest: "SHA-384" },
];

async function sameKey(privateKey: CryptoKey, publicKey: CryptoKey): Promise<boolean> {
  const a = await crypto.subtle.exportKey("jwk", privateKey);
  const b = await crypto.subtle.exportKey("jwk", publicKey);
  return a.kty === "RSA" ? a.n === b.n && a.e === b.e : a.x === b.x && a.y === b.y && a.crv === b.crv;
}

/** PKCS#8 DER from a "PRIVATE KEY" or "RSA PRIVATE KEY" PEM block. */
function privateKeyPkcs8(pem: string): Uint8Array<ArrayBuffer> {
  const pkcs8 = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(pem);
  if (pkcs8 !== null) return Uint8Array.from(atob((pkcs8[1] ?? "").replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  if (/-----BEGIN RSA PRIVATE KEY-----/.test(pem)) {
    const key = forge.pki.privateKeyFromPem(pem);
    const der = forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key))).getBytes();
    return Uint8Array.from(der, (c) => c.charCodeAt(0));
  }
  if (/-----BEGIN EC PRIVATE KEY-----/.test(pem)) {
    throw new Error("an EC PRIVATE KEY (SEC1) block: convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem`");
  }
  if (/ENCRYPTED/.test(pem)) throw new Error("the signing key is encrypted: give an unencrypted PKCS#8 key (keep the file readable only by the server)");
  throw new Error("no PRIVATE KEY or RSA PRIVATE KEY block in the signing key file");
}

function buffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
