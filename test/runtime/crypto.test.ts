// runtime/crypto.ts: the default randomness (pooled CSPRNG) and token encoding.
import { describe, expect, it } from "vitest";
import { base64url, newToken, secureRandomBytes } from "../../runtime/crypto.ts";

describe("secureRandomBytes", () => {
  it("gives the length asked for, small and large, and never the same bytes twice", () => {
    const seen = new Set<string>();
    for (const length of [1, 12, 16, 32, 64, 1024, 1025, 5000]) {
      for (let i = 0; i < 300; i++) {
        const bytes = secureRandomBytes(length);
        expect(bytes.length).toBe(length);
        if (length >= 16) {
          const text = base64url(bytes);
          expect(seen.has(text)).toBe(false);
          seen.add(text);
        }
      }
    }
  });

  it("hands out copies: changing what it gave changes nothing it gives later", () => {
    const given: Uint8Array[] = [];
    // More than one pool's worth, so that refills happen in between.
    for (let i = 0; i < 400; i++) {
      const bytes = secureRandomBytes(32);
      given.push(bytes);
      bytes.fill(0xaa);
    }
    const later = Array.from({ length: 400 }, () => secureRandomBytes(32));
    // 32 bytes all 0xaa by chance is 2^-256: only aliasing would produce it.
    for (const bytes of later) expect(bytes.every((b) => b === 0xaa)).toBe(false);
    for (const bytes of given) expect(bytes.every((b) => b === 0xaa)).toBe(true);
  });

  it("looks uniform: every byte value turns up about as often", () => {
    const counts = new Array<number>(256).fill(0);
    const n = 256 * 400;
    for (let i = 0; i < n / 32; i++) for (const b of secureRandomBytes(32)) counts[b] = (counts[b] ?? 0) + 1;
    // Expected 400 each; ±200 is over 10 standard deviations.
    for (const count of counts) expect(Math.abs(count - 400)).toBeLessThan(200);
  });
});

describe("newToken", () => {
  it("is 256 random bits in base64url without padding (43 characters)", () => {
    const token = newToken(secureRandomBytes);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newToken(secureRandomBytes)).not.toBe(token);
  });

  it("encodes base64url as RFC 4648 §5 has it", () => {
    expect(base64url(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe("-_-_");
    expect(base64url(new Uint8Array([0x66, 0x6f]))).toBe("Zm8");
    // A view into a larger buffer encodes only its own bytes.
    const backing = new Uint8Array([1, 0x66, 0x6f, 0x6f, 2]);
    expect(base64url(backing.subarray(1, 4))).toBe("Zm9v");
  });
});
