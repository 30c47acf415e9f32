// Admin API tokens: 256 random bits, known to the server only as their SHA-256 (hex), from the config
// (`admin.tokens`) or — when the config names none — one generated at first start into the data
// folder's `admin-token` file (mode 0600), whose holder acts as `admin:local`.
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { constantTimeEqual, newToken, secureRandomBytes, type RandomBytes } from "./crypto.ts";
import type { AdminTokenConfig } from "./config.ts";
import { systemErrorCode } from "./error-text.ts";

export const adminTokenFileName = "admin-token";
/** The name (audit actor admin:local) of the data folder's generated token. */
export const localAdminName = "local";

/** A token as the CLI and the file carry it: base64url, at least 128 bits. */
const tokenShape = /^[A-Za-z0-9_-]{22,256}$/;

/** SHA-256 of a token, lower-case hex (what `admin.tokens[].tokenHash` holds). */
export async function adminTokenHash(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new admin token (256 random bits) and its hash. */
export async function newAdminToken(random: RandomBytes = secureRandomBytes): Promise<{ readonly token: string; readonly tokenHash: string }> {
  const token = newToken(random);
  return { token, tokenHash: await adminTokenHash(token) };
}

export interface AdminIdentity {
  readonly name: string;
}

/** Checks `Authorization: Bearer <token>` against the configured hashes, each compared in constant time. */
export function adminAuthenticator(tokens: readonly AdminTokenConfig[]): (authorization: string | undefined) => Promise<AdminIdentity | null> {
  const known = tokens.map((t) => ({ name: t.name, hash: hexBytes(t.tokenHash) }));
  return async (authorization) => {
    const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization ?? "");
    const token = match?.[1];
    if (token === undefined || token.length > 256) return null;
    const presented = hexBytes(await adminTokenHash(token));
    // Every configured hash is compared, whichever matches: the time does not say which, or whether one did.
    let found: AdminIdentity | null = null;
    for (const candidate of known) if (constantTimeEqual(presented, candidate.hash) && found === null) found = { name: candidate.name };
    return found;
  };
}

function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** A token file's token (its first line, trimmed); throws when the file does not hold one. */
export async function readAdminTokenFile(file: string): Promise<string> {
  const text = await readFile(file, "utf8");
  const token = (text.split("\n")[0] ?? "").trim();
  if (!tokenShape.test(token)) throw new Error(`${file} does not hold an admin token`);
  return token;
}

/**
 * The data folder's admin token, created (mode 0600) when missing. Only its hash is kept in memory
 * by the server; the token itself is for the person who can read the file.
 */
export async function loadOrCreateAdminToken(dataDir: string, random: RandomBytes = secureRandomBytes): Promise<{ readonly file: string; readonly tokenHash: string; readonly created: boolean }> {
  const file = path.join(dataDir, adminTokenFileName);
  try {
    return { file, tokenHash: await adminTokenHash(await readAdminTokenFile(file)), created: false };
  } catch (error) {
    if (systemErrorCode(error) !== "ENOENT") throw error;
  }
  const { token, tokenHash } = await newAdminToken(random);
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
  return { file, tokenHash, created: true };
}
