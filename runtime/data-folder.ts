// The data folder (`--data`, default ./.adenroll): what the server generates once and keeps.
//
//   pglite/             the embedded database (when no --database is given)
//   identity-ca.pem     the built-in CA for PKCS#12 device identities (runtime/identity-ca.ts)
//   test-device-ca.pem  the TEST CA for simulated devices: certificate and key; `adenroll device`
//                       signs its enroll body with an identity it issues. Trusted by the server only
//                       when deviceTrust.allowTestDeviceCa is on (always in the demo).
//   sign-in-secret      the key of the sign-in form's anti-CSRF tokens
//
// Every secret file is written with mode 0600.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { base64url, secureRandomBytes } from "./crypto.ts";
import { loadPemCertificates } from "./device-signature.ts";
import { createTestDeviceCa, exportTestDeviceCa, importTestDeviceCa, type TestDeviceCa } from "./test-device-ca.ts";
import { messageOf, systemErrorCode } from "./error-text.ts";

export const defaultDataDir = ".adenroll";
export const testDeviceCaFileName = "test-device-ca.pem";

export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
}

/** The sign-in secret kept in the data folder, created at first use (32 random bytes). */
export async function loadOrCreateSecret(dataDir: string): Promise<Uint8Array> {
  const file = path.join(dataDir, "sign-in-secret");
  const text = await readIfExists(file);
  if (text !== undefined && /^[A-Za-z0-9_-]{43}$/.test(text.trim())) {
    const b64 = text.trim().replace(/-/g, "+").replace(/_/g, "/") + "=";
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }
  if (text !== undefined) throw new Error(`${file} is not a secret this server wrote: remove it to make a new one`);
  const secret = secureRandomBytes(32);
  await writeSecret(file, `${base64url(secret)}\n`);
  return secret;
}

/** The test device CA kept in the data folder, created at first use; `created` says whether this call made it. */
export async function loadOrCreateTestDeviceCa(dataDir: string): Promise<{ readonly ca: TestDeviceCa; readonly created: boolean; readonly file: string }> {
  const file = path.join(dataDir, testDeviceCaFileName);
  const text = await readIfExists(file);
  if (text !== undefined) return { ca: await readTestDeviceCaPem(text, file), created: false, file };
  const ca = await createTestDeviceCa({ commonName: "adenroll Test Device CA (simulated devices only)" });
  const pem = await exportTestDeviceCa(ca);
  await writeSecret(file, pem.certificatePem + pem.privateKeyPem);
  return { ca, created: true, file };
}

/** A test device CA from its PEM file (CERTIFICATE and PRIVATE KEY blocks). */
export async function readTestDeviceCaFile(file: string): Promise<TestDeviceCa> {
  const text = await readIfExists(file);
  if (text === undefined) throw new Error(`no test device CA at ${file}`);
  return readTestDeviceCaPem(text, file);
}

async function readTestDeviceCaPem(text: string, file: string): Promise<TestDeviceCa> {
  try {
    return await importTestDeviceCa({ certificatePem: text, privateKeyPem: text });
  } catch (error) {
    throw new Error(`${file} is not a test device CA (a CERTIFICATE and a PRIVATE KEY block): ${messageOf(error)}`);
  }
}

/** The first certificate of a PEM file, DER. */
export function firstCertificate(pem: string): Uint8Array | undefined {
  return loadPemCertificates(pem)[0];
}
