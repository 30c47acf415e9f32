// Reading the server token (runtime/abm.ts parseAbmServerToken / loadAbmServerToken): the decrypted
// JSON, and the .p7m Apple Business Manager hands out — decrypted with the MDM server's private key,
// whichever way it is wrapped, and whichever tool wrote it (node-forge here; openssl's streaming
// S/MIME, which writes BER with indefinite lengths like Apple's sample). A wrong or missing key,
// or a file that is not a token, is abm.token-invalid and never quotes the file's secrets.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import forge from "node-forge";
import { afterAll, describe, expect, it } from "vitest";
import { AbmError, loadAbmServerToken, parseAbmServerToken } from "../../runtime/abm.ts";
import type { AbmServerToken } from "../../spec/abm.ts";
import { asBytes, envelope, hasOpenssl, mdmServerIdentity, opensslSmime, pem, smime, tokenMime } from "./token-files.ts";

const token: AbmServerToken = {
  consumer_key: "CK_5e0d1c2b3a49586776a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7",
  consumer_secret: "CS_41d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e",
  access_token: "AT_O1029384756O5f4e3d2c1b0a99887766554433221100ffeeddccO1798300800000",
  access_secret: "AS_6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a3928",
  access_token_expiry: "2027-01-14T21:27:41Z",
};

const dir = mkdtempSync(path.join(tmpdir(), "adenroll-abm-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mdm = mdmServerIdentity();
const other = mdmServerIdentity("another server");
const text = (value: string) => new TextEncoder().encode(value);

function invalid(run: () => unknown): AbmError {
  try {
    run();
  } catch (error) {
    if (!(error instanceof AbmError)) throw error;
    expect(error.code).toBe("abm.token-invalid");
    for (const secret of [token.consumer_secret, token.access_secret]) expect(error.message).not.toContain(secret);
    return error;
  }
  throw new Error("expected abm.token-invalid");
}

describe("a decrypted token", () => {
  it("the JSON, folded over lines as Apple's sample shows it, or the decrypted MIME entity", () => {
    expect(parseAbmServerToken(text(JSON.stringify(token)))).toEqual(token);
    const folded = JSON.stringify(token).match(/.{1,76}/g)?.join("\n") ?? "";
    expect(parseAbmServerToken(text(folded))).toEqual(token);
    expect(parseAbmServerToken(text(tokenMime(token)))).toEqual(token);
    const { access_token_expiry: _, ...noExpiry } = token;
    expect(parseAbmServerToken(text(JSON.stringify(noExpiry)))).toEqual(noExpiry);
  });

  it("JSON without the secrets is not a token", () => {
    const { access_secret: _, ...partial } = token;
    expect(invalid(() => parseAbmServerToken(text(JSON.stringify(partial)))).message).toMatch(/lacks access_secret/);
    invalid(() => parseAbmServerToken(text('{"consumer_key": "CK_x", ')));
  });
});

describe("an encrypted token (.p7m)", () => {
  const der = envelope(tokenMime(token), [mdm.certificate]);

  it("as downloaded (S/MIME), as DER, or as PEM, with the key in PKCS#8 or PKCS#1", () => {
    const forms: [string, Uint8Array][] = [
      ["S/MIME", text(smime(der))],
      ["DER", asBytes(der)],
      ["PEM", text(pem(der))],
    ];
    for (const [form, data] of forms) {
      expect(parseAbmServerToken(data, mdm.keyPem), form).toEqual(token);
      expect(parseAbmServerToken(data, mdm.rsaKeyPem), form).toEqual(token);
    }
  });

  it("encrypted to several certificates, ours not the first", () => {
    expect(parseAbmServerToken(asBytes(envelope(tokenMime(token), [other.certificate, mdm.certificate])), mdm.keyPem)).toEqual(token);
  });

  it.skipIf(!hasOpenssl)(`written by openssl smime -encrypt -stream (BER, indefinite lengths)${hasOpenssl ? "" : " (SKIPPED: no openssl)"}`, () => {
    const written = opensslSmime(dir, tokenMime(token), mdm);
    expect(written).toMatch(/^MIME-Version: 1\.0/);
    // The same opening as Apple's sample token: SEQUENCE, indefinite length, id-envelopedData.
    expect(written).toContain("\n\nMIAGCSqGSIb3DQEHA6CA");
    expect(parseAbmServerToken(text(written), mdm.keyPem)).toEqual(token);
  });

  it("without a key, with another server's key, or with a key that is not one: abm.token-invalid", () => {
    const data = text(smime(der));
    expect(invalid(() => parseAbmServerToken(data)).message).toMatch(/private key/);
    expect(invalid(() => parseAbmServerToken(data, other.keyPem)).message).toMatch(/could not be decrypted with this private key/);
    expect(invalid(() => parseAbmServerToken(data, "not a key")).message).toMatch(/not an unencrypted PEM RSA private key/);
    const encryptedKey = forge.pki.encryptRsaPrivateKey(forge.pki.privateKeyFromPem(mdm.keyPem), "passphrase");
    invalid(() => parseAbmServerToken(data, encryptedKey));
  });

  it("something else: garbage, damaged base64, a signed (not encrypted) CMS, an encrypted non-token", () => {
    invalid(() => parseAbmServerToken(text("hello"), mdm.keyPem));
    invalid(() => parseAbmServerToken(text(smime(der).replace(/\n\n[A-Za-z0-9]{8}/, "\n\n!!!!!!!!")), mdm.keyPem));
    const signed = forge.pkcs7.createSignedData();
    signed.content = forge.util.createBuffer("x");
    signed.addCertificate(mdm.certificate);
    signed.addSigner({ key: forge.pki.privateKeyFromPem(mdm.keyPem), certificate: mdm.certificate, digestAlgorithm: forge.pki.oids.sha256 ?? "", authenticatedAttributes: [] });
    signed.sign();
    expect(invalid(() => parseAbmServerToken(asBytes(forge.asn1.toDer(signed.toAsn1()).getBytes()), mdm.keyPem)).message).toMatch(/not an encrypted/);
    invalid(() => parseAbmServerToken(asBytes(envelope("Content-Type: text/plain\r\n\r\nhello", [mdm.certificate])), mdm.keyPem));
  });
});

describe("from files", () => {
  it("reads the token and the key; a missing file is abm.token-invalid naming the file", async () => {
    const p7m = path.join(dir, "token.p7m");
    const key = path.join(dir, "mdm-server.key");
    writeFileSync(p7m, smime(envelope(tokenMime(token), [mdm.certificate])));
    writeFileSync(key, mdm.keyPem);
    expect(await loadAbmServerToken(p7m, key)).toEqual(token);
    const missing = path.join(dir, "nope.p7m");
    await expect(loadAbmServerToken(missing, key)).rejects.toMatchObject({ code: "abm.token-invalid", message: expect.stringContaining(missing) });
  });
});
