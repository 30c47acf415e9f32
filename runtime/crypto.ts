// Tokens, hashes and comparisons. Randomness is injected so tests can be repeatable; the default is
// the platform's CSPRNG (node:crypto, the same on Node and Deno).
import { Buffer } from "node:buffer";
import * as nodeCrypto from "node:crypto";

export type RandomBytes = (length: number) => Uint8Array;

// The CSPRNG is asked for a pool at a time: each call costs microseconds whatever its length (Node's
// WebCrypto getRandomValues more), and a token endpoint answer needs three tokens. Bytes are handed
// out once, copied, and wiped from the pool (as node:crypto's randomUUID keeps its own cache).
const randomPoolBytes = 4096;
let randomPool = new Uint8Array(0);
let randomPoolUsed = 0;

export const secureRandomBytes: RandomBytes = (length) => {
  if (length > randomPoolBytes / 4) return nodeCrypto.randomFillSync(new Uint8Array(length));
  if (randomPoolUsed + length > randomPool.length) {
    randomPool = nodeCrypto.randomFillSync(new Uint8Array(randomPoolBytes));
    randomPoolUsed = 0;
  }
  const bytes = randomPool.slice(randomPoolUsed, randomPoolUsed + length);
  randomPool.fill(0, randomPoolUsed, randomPoolUsed + length);
  randomPoolUsed += length;
  return bytes;
};

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** An opaque token or reference of 256 random bits (at least 128 are required). */
export function newToken(random: RandomBytes): string {
  return base64url(random(32));
}

/** A UUID (v4) from the injected randomness. */
export function newUuid(random: RandomBytes): string {
  const b = random(16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}

// One-shot hashing (Node ≥ 20.12): no Hash object per call, about a third of createHash's cost.
// Where node:crypto lacks it (older Deno), createHash computes the same bytes.
const oneShotHash: typeof nodeCrypto.hash | undefined = typeof nodeCrypto.hash === "function" ? nodeCrypto.hash : undefined;

/**
 * Tokens are stored and looked up only as SHA-256 hashes (of the token's UTF-8). node:crypto (Node
 * and Deno alike): WebCrypto's digest is a queued job, several times the cost on every authorized request.
 */
export async function hashToken(token: string): Promise<string> {
  return hashTokenNow(token);
}

/** hashToken's value, synchronously: for the token endpoint, which hashes three tokens per answer. */
export function hashTokenNow(token: string): string {
  return oneShotHash !== undefined ? oneShotHash("sha256", token, "base64url") : nodeCrypto.createHash("sha256").update(token, "utf8").digest("base64url");
}

/** SHA-256 of a text's UTF-8, as bytes, synchronously (one-shot where node:crypto has it). */
export function sha256Bytes(text: string): Buffer {
  return oneShotHash !== undefined ? oneShotHash("sha256", text, "buffer") : nodeCrypto.createHash("sha256").update(text, "utf8").digest();
}

/** Compares two secrets in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** Whether a view is backed by an ArrayBuffer (not a SharedArrayBuffer): what WebCrypto and Response take. */
export function arrayBufferBacked(bytes: Uint8Array): bytes is Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer;
}
