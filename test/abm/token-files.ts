// Server tokens as Apple Business Manager hands them out, made here: a key pair and certificate for
// "the MDM server", and the token JSON inside a MIME entity (with the BEGIN/END MESSAGE lines real
// tokens carry) encrypted to that certificate as CMS EnvelopedData — DER, S/MIME (MIME headers and
// base64, as downloaded), or PEM — with node-forge, or with `openssl smime -encrypt -stream` (BER
// with indefinite lengths, the shape of Apple's sample).
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import forge from "node-forge";
import type { AbmServerToken } from "../../spec/abm.ts";

export interface MdmServerIdentity {
  readonly certificate: forge.pki.Certificate;
  readonly certificatePem: string;
  /** PKCS#8 ("PRIVATE KEY"). */
  readonly keyPem: string;
  /** PKCS#1 ("RSA PRIVATE KEY"). */
  readonly rsaKeyPem: string;
}

export function mdmServerIdentity(name = "adenroll test MDM server"): MdmServerIdentity {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const rsaKeyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  certificate.serialNumber = "0a1b2c";
  certificate.validity.notBefore = new Date(Date.UTC(2025, 0, 1));
  certificate.validity.notAfter = new Date(Date.UTC(2035, 0, 1));
  const subject = [{ name: "commonName", value: name }];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certificate, certificatePem: forge.pki.certificateToPem(certificate), keyPem, rsaKeyPem };
}

/** What decrypting a real token gives: a text/plain MIME entity, the JSON folded at 76 columns between BEGIN/END MESSAGE. */
export function tokenMime(token: AbmServerToken): string {
  const json = JSON.stringify(token);
  const folded = json.match(/.{1,76}/g)?.join("\n") ?? json;
  return `Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n-----BEGIN MESSAGE-----\n${folded}\n-----END MESSAGE-----\n`;
}

/** The EnvelopedData (DER, as forge's binary string) of `content` for these recipients, AES-128-CBC as in Apple's sample. */
export function envelope(content: string, recipients: readonly forge.pki.Certificate[]): string {
  const p7 = forge.pkcs7.createEnvelopedData();
  for (const r of recipients) p7.addRecipient(r);
  p7.content = forge.util.createBuffer(content);
  p7.encrypt(undefined, forge.pki.oids["aes128-CBC"]);
  return forge.asn1.toDer(p7.toAsn1()).getBytes();
}

export function asBytes(binary: string): Uint8Array {
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** As the browser downloads it from Apple Business Manager: S/MIME headers, then base64. */
export function smime(der: string): string {
  const b64 = forge.util.encode64(der).match(/.{1,76}/g)?.join("\n") ?? "";
  return `Content-Type: application/pkcs7-mime; name="smime.p7m"; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="smime.p7m"\nContent-Description: S/MIME Encrypted Message\n\n${b64}\n`;
}

export function pem(der: string): string {
  return forge.pem.encode({ type: "PKCS7", body: der });
}

export const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

/** `openssl smime -encrypt -aes128 -stream`: S/MIME text whose CMS is BER with indefinite lengths. */
export function opensslSmime(dir: string, content: string, identity: MdmServerIdentity): string {
  const input = path.join(dir, "token-content.txt");
  const cert = path.join(dir, "mdm-server.pem");
  writeFileSync(input, content);
  writeFileSync(cert, identity.certificatePem);
  return execFileSync("openssl", ["smime", "-encrypt", "-aes128", "-stream", "-binary", "-in", input, cert]).toString("latin1");
}
