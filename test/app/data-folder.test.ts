// The data folder: what `adenroll serve` generates at first start is reused at the next one (the
// identity CA, the test device CA, the sign-in secret), and written readable by the owner only.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadOrCreateSecret, loadOrCreateTestDeviceCa } from "../../runtime/data-folder.ts";
import { identityIssuer, loadOrCreateIdentityCa, readPkcs12 } from "../../runtime/identity-ca.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "adenroll-data-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe("the data folder", () => {
  it("creates the identity CA once and reuses it; identities issued after a restart chain to the same CA", async () => {
    const first = await loadOrCreateIdentityCa(dataDir);
    const second = await loadOrCreateIdentityCa(dataDir);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.ca.certificatePem).toBe(first.ca.certificatePem);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    const issued = await identityIssuer(second.ca)({ enrollmentRef: "r", commonName: "ID-1", userIdentifier: "a@example.com" });
    const [leaf, ca] = readPkcs12(issued.data, issued.password).certificates;
    expect(ca?.verify(leaf!)).toBe(true);
  });

  it("creates the test device CA and the sign-in secret once and reuses them", async () => {
    const first = await loadOrCreateTestDeviceCa(dataDir);
    const second = await loadOrCreateTestDeviceCa(dataDir);
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.ca.certificate).toEqual(first.ca.certificate);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    const secret = await loadOrCreateSecret(dataDir);
    expect(secret).toHaveLength(32);
    expect(await loadOrCreateSecret(dataDir)).toEqual(secret);
  });
});
