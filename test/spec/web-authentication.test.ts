import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  SimpleSignInForm,
  WebAuthQuery,
  appendQuery,
  buildAuthenticationResultUrl,
  buildWebAuthUrl,
  callbackScheme,
  encodeQueryComponent,
  firstQueryValue,
  parseAuthenticationCallback,
} from "../../spec/web-authentication.ts";

// DOC-SIMPLE steps 5–11.
const appleChallengeUrl = "https://mdmserver.example.com/authenticate";
const appleWebAuthRequestTarget = "/authenticate?user-identifier=user01@example.com";
const appleLocation = "apple-remotemanagement-user-login://authentication-results?access-token=dXNlci1pZGVudGl0eQ";

describe("buildWebAuthUrl", () => {
  it("SIMPLE-1 reproduces Apple's web-auth request", () => {
    const url = buildWebAuthUrl(appleChallengeUrl, "user01@example.com");
    expect(url).toBe(`https://mdmserver.example.com${appleWebAuthRequestTarget}`);
    const parsed = new URL(url);
    expect(parsed.pathname + parsed.search).toBe(appleWebAuthRequestTarget);
  });

  it("SIMPLE-1 replaces the url's query with user-identifier alone and drops the fragment", () => {
    expect(buildWebAuthUrl("https://mdm.example.com/authenticate/ref123?session=abc&user-identifier=evil#top", "alice@example.com")).toBe(
      "https://mdm.example.com/authenticate/ref123?user-identifier=alice@example.com",
    );
    expect(buildWebAuthUrl("https://mdm.example.com/authenticate?", "a@b.example")).toBe("https://mdm.example.com/authenticate?user-identifier=a@b.example");
    expect(buildWebAuthUrl("https://mdm.example.com/a#x?y", "a@b.example")).toBe("https://mdm.example.com/a?user-identifier=a@b.example");
  });

  it("SIMPLE-1 keeps scheme, port and path verbatim (http included)", () => {
    expect(buildWebAuthUrl("http://MDM.example.com:8080/Auth/%7Eref/x;y?q=1", "u@d.example")).toBe("http://MDM.example.com:8080/Auth/%7Eref/x;y?user-identifier=u@d.example");
  });

  it("SIMPLE-1 encodes the identifier so that URL and form readers both get it back", () => {
    const id = "first+last & co=1 #x%y@example.com";
    const url = buildWebAuthUrl(appleChallengeUrl, id);
    expect(url).toBe("https://mdmserver.example.com/authenticate?user-identifier=first%2Blast%20%26%20co%3D1%20%23x%25y@example.com");
    expect(new URL(url).searchParams.get("user-identifier")).toBe(id);
    expect(firstQueryValue(new URL(url), "user-identifier")).toBe(id);
  });

  it("SIMPLE-1 holds for any identifier (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.webPath(), (id, path) => {
        const url = new URL(buildWebAuthUrl(`https://mdm.example.com${path}?keep=no#frag`, id));
        expect([...url.searchParams.keys()]).toEqual(["user-identifier"]);
        expect(url.searchParams.get("user-identifier")).toBe(id);
        expect(firstQueryValue(url, "user-identifier")).toBe(id);
        expect(url.hash).toBe("");
      }),
      { numRuns: 300 },
    );
  });
});

describe("buildAuthenticationResultUrl", () => {
  it("SIMPLE-4 reproduces Apple's Location header", () => {
    expect(buildAuthenticationResultUrl("dXNlci1pZGVudGl0eQ")).toBe(appleLocation);
    expect(new Headers({ Location: buildAuthenticationResultUrl("dXNlci1pZGVudGl0eQ") }).get("location")).toBe(appleLocation);
  });

  it("SIMPLE-4 encodes the token; the device reads back exactly that token (fast-check)", () => {
    expect(buildAuthenticationResultUrl("a+b/c==")).toBe(`${callbackScheme}://authentication-results?access-token=a%2Bb/c%3D%3D`);
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 64 }), (token) => {
        const url = buildAuthenticationResultUrl(token);
        expect(url.startsWith(`${callbackScheme}://authentication-results?access-token=`)).toBe(true);
        expect(parseAuthenticationCallback(url)).toEqual({ ok: true, value: { accessToken: token } });
        expect(new URL(url).searchParams.get("access-token")).toBe(token);
      }),
      { numRuns: 300 },
    );
  });
});

describe("parseAuthenticationCallback", () => {
  it("SIMPLE-2 reads the token from Apple's Location", () => {
    expect(parseAuthenticationCallback(appleLocation)).toEqual({ ok: true, value: { accessToken: "dXNlci1pZGVudGl0eQ" } });
  });

  it("SIMPLE-2 does not check the host, and takes the first access-token item", () => {
    expect(parseAuthenticationCallback(`${callbackScheme}://elsewhere/path?x=1&access-token=first&access-token=second`)).toEqual({
      ok: true,
      value: { accessToken: "first" },
    });
    expect(parseAuthenticationCallback(`${callbackScheme}:/x?access-token=t`)).toEqual({ ok: true, value: { accessToken: "t" } });
    expect(parseAuthenticationCallback("APPLE-REMOTEMANAGEMENT-USER-LOGIN://authentication-results?access-token=t")).toEqual({
      ok: true,
      value: { accessToken: "t" },
    });
  });

  it("SIMPLE-2 decodes as the device does: percent-escapes decoded, '+' kept", () => {
    expect(parseAuthenticationCallback(`${callbackScheme}://authentication-results?access-token=a+b%2Bc%3D=`)).toEqual({
      ok: true,
      value: { accessToken: "a+b+c==" },
    });
  });

  it("SIMPLE-2 rejects a URL on another scheme, or no URL at all", () => {
    for (const url of [
      "https://mdmserver.example.com/authentication-results?access-token=x",
      "apple-remotemanagement-user-logins://authentication-results?access-token=x",
      "authentication-results?access-token=x",
      "",
    ]) {
      const parsed = parseAuthenticationCallback(url);
      expect(parsed.ok ? undefined : [parsed.error.code, parsed.error.ruleId], url).toEqual(["callback.scheme", "SIMPLE-2"]);
    }
  });

  it("SIMPLE-3 rejects a callback without an access-token, or with an empty one", () => {
    for (const url of [
      `${callbackScheme}://authentication-results`,
      `${callbackScheme}://authentication-results?token=x`,
      `${callbackScheme}://authentication-results?access-token=`,
      `${callbackScheme}://authentication-results?access-token`,
      `${callbackScheme}://authentication-results?access-token=&access-token=late`,
      `${callbackScheme}://authentication-results#access-token=x`,
    ]) {
      const parsed = parseAuthenticationCallback(url);
      expect(parsed.ok ? undefined : [parsed.error.code, parsed.error.ruleId], url).toEqual(["callback.no-token", "SIMPLE-3"]);
    }
  });
});

describe("query helpers", () => {
  it("encodeQueryComponent keeps ':' '/' '?' '@' literal and never throws", () => {
    expect(encodeQueryComponent("apple-remotemanagement-user-login:/oauth2/redirection")).toBe("apple-remotemanagement-user-login:/oauth2/redirection");
    expect(encodeQueryComponent("a b+c&d=e#f%g?h@i")).toBe("a%20b%2Bc%26d%3De%23f%25g?h@i");
    expect(encodeQueryComponent("x\uD800y")).toBe("x%EF%BF%BDy");
  });

  it("appendQuery keeps existing items and the fragment", () => {
    expect(appendQuery("https://a.example/p?x=1#frag", [["y", "2"]])).toBe("https://a.example/p?x=1&y=2#frag");
    expect(appendQuery("https://a.example/p?", [["y", "2"]])).toBe("https://a.example/p?y=2");
    expect(appendQuery("https://a.example/p", [])).toBe("https://a.example/p");
  });
});

describe("sign-in page schemas", () => {
  it("WebAuthQuery takes an optional user-identifier of at most 320 characters", () => {
    expect(WebAuthQuery.safeParse({}).success).toBe(true);
    expect(WebAuthQuery.safeParse({ "user-identifier": "user01@example.com" }).data).toEqual({ "user-identifier": "user01@example.com" });
    expect(WebAuthQuery.safeParse({ "user-identifier": "x".repeat(321) }).success).toBe(false);
  });

  it("SimpleSignInForm takes Apple's example username and password", () => {
    expect(SimpleSignInForm.safeParse({ username: "user01", password: "secret" }).success).toBe(true);
    expect(SimpleSignInForm.safeParse({ username: "", password: "secret" }).success).toBe(false);
    expect(SimpleSignInForm.safeParse({ username: "user01", password: "" }).success).toBe(false);
    expect(SimpleSignInForm.safeParse({ username: "u".repeat(321), password: "secret" }).success).toBe(false);
    expect(SimpleSignInForm.safeParse({ username: "user01", password: "p".repeat(1025) }).success).toBe(false);
  });
});
