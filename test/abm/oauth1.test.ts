// The OAuth 1.0a signer is checked against the standards' own worked examples, not only against
// itself: RFC 5849 §3.4.1.1 (the signature base string of a request with query, body and protocol
// parameters), §3.4.1.2 (the base string URI), and the full HMAC-SHA1 signature of OAuth Core 1.0
// Appendix A.5 (the photos example, whose secrets are published).
import { describe, expect, it } from "vitest";
import { oauthAuthorizationHeader, oauthPercentEncode, oauthProtocolParameters, oauthSignatureBaseString, parseOAuthAuthorization, type OAuthParameter } from "../../spec/abm.ts";
import { oauthHmacSha1Signature } from "../../runtime/abm.ts";

describe("OAuth 1.0a signature base string (RFC 5849)", () => {
  it("§3.4.1.1: the worked example's base string, byte for byte", () => {
    // The request: POST /request?b5=%3D%253D&a3=a&c%40=&a2=r%20b, body c2&a3=2+q, and the oauth_* parameters.
    const protocol: OAuthParameter[] = [
      ["oauth_consumer_key", "9djdj82h48djs9d2"],
      ["oauth_token", "kkk9d7dh3k39sjv7"],
      ["oauth_signature_method", "HMAC-SHA1"],
      ["oauth_timestamp", "137131201"],
      ["oauth_nonce", "7d8f3e4a"],
      // Excluded from the base string (§3.4.1.3.1):
      ["oauth_signature", "bYT5CMsGcbgUdFHObYMEfcx6bsw="],
      ["realm", "Example"],
    ];
    const body: OAuthParameter[] = [
      ["c2", ""],
      ["a3", "2 q"],
    ];
    expect(oauthSignatureBaseString("POST", "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", [...protocol, ...body])).toBe(
      "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7",
    );
  });

  it("§3.4.1.2: scheme and host in lower case, the default port dropped, another port kept, no query", () => {
    expect(oauthSignatureBaseString("GET", "http://EXAMPLE.COM:80/r%20v/X?id=123", []).split("&")[1]).toBe(oauthPercentEncode("http://example.com/r%20v/X"));
    expect(oauthSignatureBaseString("GET", "https://www.example.net:8080/?q=1", []).split("&")[1]).toBe(oauthPercentEncode("https://www.example.net:8080/"));
    expect(oauthSignatureBaseString("get", "https://mdmenrollment.apple.com/session", [])).toBe("GET&https%3A%2F%2Fmdmenrollment.apple.com%2Fsession&");
  });

  it("§3.6: only ALPHA, DIGIT, '-', '.', '_', '~' stay; the rest is %XX of the UTF-8 bytes, upper case", () => {
    expect(oauthPercentEncode("Ladies + Gentlemen")).toBe("Ladies%20%2B%20Gentlemen");
    expect(oauthPercentEncode("An encoded string!")).toBe("An%20encoded%20string%21");
    expect(oauthPercentEncode("Dogs, Cats & Mice")).toBe("Dogs%2C%20Cats%20%26%20Mice");
    expect(oauthPercentEncode("☃")).toBe("%E2%98%83");
    expect(oauthPercentEncode("-._~*'()")).toBe("-._~%2A%27%28%29");
  });
});

describe("HMAC-SHA1 signature", () => {
  it("OAuth Core 1.0 Appendix A.5: GET photos.example.net/photos?file=vacation.jpg&size=original signs to tR3+Ty81lMeYAr/Fid0kMTYa/WM=", async () => {
    const oauth = oauthProtocolParameters({ consumerKey: "dpf43f3p2l4k3l03", token: "nnch734d00sl2jdk", timestamp: 1191242096, nonce: "kllo9940pd9333jh" });
    const url = "http://photos.example.net/photos?file=vacation.jpg&size=original";
    expect(oauthSignatureBaseString("GET", url, oauth)).toBe(
      "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal",
    );
    expect(await oauthHmacSha1Signature("GET", url, oauth, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00")).toBe("tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    // Any other secret gives another signature.
    expect(await oauthHmacSha1Signature("GET", url, oauth, "kd94hf93k423kf44", "pfkkdhi9sl3r4s01")).not.toBe("tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
  });
});

describe("the Authorization header", () => {
  it("is one line, realm first, values percent-encoded, and reads back to the same parameters", () => {
    const params: OAuthParameter[] = [
      ["oauth_consumer_key", "CK_7e1d2c3b4a5f60718293a4b5c6d7e8f9"],
      ["oauth_signature", "q2Hk8Zr1/Yx0Lm3Nb5Vc7Wd9Pe="],
      ["oauth_version", "1.0"],
    ];
    const header = oauthAuthorizationHeader("ADM", params);
    expect(header).toBe('OAuth realm="ADM", oauth_consumer_key="CK_7e1d2c3b4a5f60718293a4b5c6d7e8f9", oauth_signature="q2Hk8Zr1%2FYx0Lm3Nb5Vc7Wd9Pe%3D", oauth_version="1.0"');
    expect(parseOAuthAuthorization(header)).toEqual([["realm", "ADM"], ...params]);
    // Apple's example spreads it over lines; a reader accepts that whitespace too.
    expect(parseOAuthAuthorization('OAuth realm="ADM",\n   oauth_nonce="6e6f6e63652d6578616d706c65",\n   oauth_version="1.0"')).toEqual([
      ["realm", "ADM"],
      ["oauth_nonce", "6e6f6e63652d6578616d706c65"],
      ["oauth_version", "1.0"],
    ]);
    expect(parseOAuthAuthorization("Bearer abc")).toBeUndefined();
    expect(parseOAuthAuthorization('OAuth realm=ADM')).toBeUndefined();
  });
});
