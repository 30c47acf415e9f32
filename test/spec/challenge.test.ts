import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AsWebChallenge,
  Challenge,
  EssoUrl,
  OAuth2Challenge,
  ServerChallenge,
  ServerOAuth2Challenge,
  essoDeveloperHeader,
  essoHeader,
  formatChallenge,
  parseAuthParams,
  parseChallenge,
  type ChallengeError,
} from "../../spec/challenge.ts";
import type { Result } from "../../spec/result.ts";

// Apple's examples (DOC-SIMPLE step 5, DOC-OAUTH "Return the 401 Response" and the URLs of its exchanges).
const appleAsWebHeader = 'Bearer method="apple-as-web",     url="https://mdmserver.example.com/authenticate"';
const appleAsWeb = { method: "apple-as-web", url: "https://mdmserver.example.com/authenticate" } as const;
const appleOAuth2 = {
  method: "apple-oauth2",
  "authorization-url": "https://mdmserver.example.com/oauth2/authorization",
  "token-url": "https://mdmserver.example.com/oauth2/token",
  "redirect-url": "apple-remotemanagement-user-login:/oauth2/redirection",
  "client-id": "03FDDE96-FDAB-45EF-A589-0E29C026E824",
  scope: "MDM",
} as const;
const appleOAuth2Header =
  'Bearer method="apple-oauth2", authorization-url="https://mdmserver.example.com/oauth2/authorization", ' +
  'token-url="https://mdmserver.example.com/oauth2/token", redirect-url="apple-remotemanagement-user-login:/oauth2/redirection", ' +
  'client-id="03FDDE96-FDAB-45EF-A589-0E29C026E824", scope="MDM"';

/** The challenge's parameters, in Apple's table order. */
function pairsOf(c: Challenge): [string, string][] {
  if (c.method === "apple-as-web") return [["method", c.method], ["url", c.url]];
  const pairs: [string, string][] = [
    ["method", c.method],
    ["authorization-url", c["authorization-url"]],
    ["token-url", c["token-url"]],
    ["redirect-url", c["redirect-url"]],
    ["client-id", c["client-id"]],
  ];
  if (c.scope !== undefined) pairs.push(["scope", c.scope]);
  return pairs;
}

function failure(result: Result<unknown, ChallengeError>): Pick<ChallengeError, "code" | "ruleId"> | undefined {
  return result.ok ? undefined : { code: result.error.code, ruleId: result.error.ruleId };
}

describe("parseChallenge: Apple's examples", () => {
  it("CHALLENGE-4 reads Apple's apple-as-web example (folded whitespace included)", () => {
    expect(parseChallenge(appleAsWebHeader)).toEqual({ ok: true, value: appleAsWeb });
  });

  it("CHALLENGE-5 reads an apple-oauth2 challenge carrying Apple's example values", () => {
    expect(parseChallenge(appleOAuth2Header)).toEqual({ ok: true, value: appleOAuth2 });
  });
});

describe("parseChallenge: the scheme", () => {
  it("CHALLENGE-1 accepts exactly Bearer and rejects other spellings and schemes", () => {
    expect(parseChallenge('Bearer method="apple-as-web", url="https://a.example/x"').ok).toBe(true);
    for (const scheme of ["bearer", "BEARER", "BeArEr", "Basic", "Negotiate"]) {
      expect(failure(parseChallenge(`${scheme} method="apple-as-web", url="https://a.example/x"`))).toEqual({
        code: "challenge.scheme",
        ruleId: "CHALLENGE-1",
      });
    }
  });
});

describe("parseAuthParams / parseChallenge: tolerant syntax", () => {
  it("CHALLENGE-2 accepts bare values without commas", () => {
    expect(parseChallenge("Bearer method=apple-as-web url=https://mdmserver.example.com/authenticate")).toEqual({ ok: true, value: appleAsWeb });
  });

  it("CHALLENGE-2 accepts quoted values without commas, bare values with commas, and a mix", () => {
    for (const header of [
      'Bearer method="apple-as-web" url="https://mdmserver.example.com/authenticate"',
      "Bearer method=apple-as-web, url=https://mdmserver.example.com/authenticate",
      'Bearer method=apple-as-web url="https://mdmserver.example.com/authenticate"',
      'Bearer method="apple-as-web",url=https://mdmserver.example.com/authenticate',
      '  Bearer\tmethod = "apple-as-web" ,\t url= "https://mdmserver.example.com/authenticate"  ',
      'Bearer , method="apple-as-web",, url="https://mdmserver.example.com/authenticate",',
    ]) {
      expect(parseChallenge(header), header).toEqual({ ok: true, value: appleAsWeb });
    }
  });

  it("CHALLENGE-2 keeps '=' and query characters in a bare value, and commas inside a quoted one", () => {
    expect(parseAuthParams('Bearer url=https://a.example/x?b=c&d=e, note="a, b"')).toEqual({
      ok: true,
      value: { scheme: "Bearer", params: { url: "https://a.example/x?b=c&d=e", note: "a, b" } },
    });
  });

  it("CHALLENGE-2 unescapes quoted-pairs", () => {
    expect(parseAuthParams('Bearer a="x\\"y\\\\z\\q"')).toEqual({ ok: true, value: { scheme: "Bearer", params: { a: 'x"y\\zq' } } });
    expect(parseAuthParams('Bearer a=""')).toEqual({ ok: true, value: { scheme: "Bearer", params: { a: "" } } });
  });

  it("CHALLENGE-2 lowercases parameter names; for a repeated name the first value wins", () => {
    expect(parseAuthParams('Bearer METHOD="one", Url="u", method="two"')).toEqual({
      ok: true,
      value: { scheme: "Bearer", params: { method: "one", url: "u" } },
    });
    expect(parseChallenge('Bearer Method="apple-as-web", URL="https://a.example/first", url="https://a.example/second"')).toEqual({
      ok: true,
      value: { method: "apple-as-web", url: "https://a.example/first" },
    });
  });

  it("CHALLENGE-2 returns the scheme with its case and accepts a scheme without parameters", () => {
    expect(parseAuthParams("bEaReR")).toEqual({ ok: true, value: { scheme: "bEaReR", params: {} } });
  });

  it("CHALLENGE-2 treats __proto__ as an ordinary parameter name", () => {
    const parsed = parseAuthParams('Bearer __proto__="x", method="m"');
    expect(parsed.ok && parsed.value.params["__proto__"]).toBe("x");
    expect(parsed.ok && parsed.value.params["method"]).toBe("m");
  });

  it("ENROLL-8 rejects a missing or empty header", () => {
    for (const header of [null, undefined, "", "   "]) {
      expect(failure(parseChallenge(header))).toEqual({ code: "challenge.missing", ruleId: "ENROLL-8" });
    }
  });

  it("ENROLL-8 rejects what RFC 7235 cannot read", () => {
    for (const header of [
      'Bearer method="apple-as-web, url="https://a.example"', // unterminated
      'Bearer method="apple-as-web\\',
      "Bearer method",
      "Bearer method=",
      "Bearer method=, url=x",
      'Bearer method="apple-as-web"url="https://a.example"', // no separator
      "Bearer abc==", // token68
      '"Bearer" method=x',
      "Bearer, method=x",
      "Bearer method=x ; url=y",
    ]) {
      expect(failure(parseChallenge(header)), header).toEqual({ code: "challenge.syntax", ruleId: "ENROLL-8" });
    }
  });
});

describe("parseChallenge: methods and parameters", () => {
  it("CHALLENGE-7 gives its own error code to a missing or unknown method", () => {
    for (const header of ['Bearer url="https://a.example/x"', 'Bearer method="apple-saml", url="https://a.example/x"', 'Bearer method="Apple-As-Web", url="https://a.example/x"', "Bearer"]) {
      expect(failure(parseChallenge(header)), header).toEqual({ code: "challenge.method", ruleId: "CHALLENGE-7" });
    }
  });

  it("CHALLENGE-4 accepts an http url too (https is only recommended)", () => {
    expect(parseChallenge('Bearer method="apple-as-web", url="http://mdm.example.com:8080/authenticate/abc"')).toEqual({
      ok: true,
      value: { method: "apple-as-web", url: "http://mdm.example.com:8080/authenticate/abc" },
    });
  });

  it("CHALLENGE-4 rejects apple-as-web without an absolute http(s) url", () => {
    for (const url of [undefined, "", "/authenticate", "mdm.example.com/authenticate", "ftp://mdm.example.com/x", "https:mdm.example.com/x", "https:\\\\mdm.example.com", "javascript://x", "https://"]) {
      const header = url === undefined ? 'Bearer method="apple-as-web"' : `Bearer method="apple-as-web", url="${url}"`;
      expect(failure(parseChallenge(header)), header).toEqual({ code: "challenge.params", ruleId: "CHALLENGE-4" });
    }
  });

  it("CHALLENGE-5 treats scope as optional on the device", () => {
    const withoutScope = appleOAuth2Header.replace(', scope="MDM"', "");
    const parsed = parseChallenge(withoutScope);
    expect(parsed).toEqual({ ok: true, value: { ...appleOAuth2, scope: undefined } });
    expect(parsed.ok && "scope" in parsed.value).toBe(false);
  });

  it("CHALLENGE-5 rejects apple-oauth2 lacking any of authorization-url, token-url, redirect-url, client-id", () => {
    for (const key of ["authorization-url", "token-url", "redirect-url", "client-id"] as const) {
      const header = `Bearer ${pairsOf(appleOAuth2)
        .filter(([name]) => name !== key)
        .map(([name, value]) => `${name}="${value}"`)
        .join(", ")}`;
      expect(header).not.toContain(`${key}=`);
      expect(failure(parseChallenge(header)), key).toEqual({ code: "challenge.params", ruleId: "CHALLENGE-5" });
    }
  });

  it("CHALLENGE-5 rejects an empty client-id and relative URLs", () => {
    expect(failure(parseChallenge(appleOAuth2Header.replace('client-id="03FDDE96-FDAB-45EF-A589-0E29C026E824"', 'client-id=""')))).toEqual({
      code: "challenge.params",
      ruleId: "CHALLENGE-5",
    });
    expect(failure(parseChallenge(appleOAuth2Header.replace("apple-remotemanagement-user-login:/oauth2/redirection", "/oauth2/redirection")))).toEqual({
      code: "challenge.params",
      ruleId: "CHALLENGE-5",
    });
  });

  it("CHALLENGE-5 only checks that the device-side OAuth URLs are absolute (http is tolerated)", () => {
    const lenient = appleOAuth2Header.replace("https://mdmserver.example.com/oauth2/token", "http://mdmserver.example.com/oauth2/token");
    expect(parseChallenge(lenient).ok).toBe(true);
    expect(ServerOAuth2Challenge.safeParse({ ...appleOAuth2, "token-url": "http://mdmserver.example.com/oauth2/token" }).success).toBe(false);
  });

  it("CHALLENGE-5 ignores unknown parameters", () => {
    expect(parseChallenge(`${appleOAuth2Header}, realm="mdm", error="invalid_token"`)).toEqual({ ok: true, value: appleOAuth2 });
  });
});

describe("ServerOAuth2Challenge", () => {
  it("CHALLENGE-6 accepts Apple's example values", () => {
    expect(ServerOAuth2Challenge.safeParse(appleOAuth2).success).toBe(true);
    expect(ServerChallenge.safeParse(appleOAuth2).success).toBe(true);
    expect(ServerChallenge.safeParse(appleAsWeb).success).toBe(true);
    expect(ServerOAuth2Challenge.safeParse({ ...appleOAuth2, "redirect-url": "apple-remotemanagement-user-login://mdm/oauth2/redirection" }).success).toBe(true);
  });

  it("CHALLENGE-6 requires scope, https endpoints and a callback-scheme redirect-url with a path", () => {
    const bad: Record<string, unknown>[] = [
      { ...appleOAuth2, scope: undefined },
      { ...appleOAuth2, scope: "" },
      { ...appleOAuth2, "client-id": "" },
      { ...appleOAuth2, "authorization-url": "http://mdmserver.example.com/oauth2/authorization" },
      { ...appleOAuth2, "authorization-url": "https://mdmserver.example.com/oauth2/authorization#frag" },
      { ...appleOAuth2, "token-url": "http://mdmserver.example.com/oauth2/token" },
      { ...appleOAuth2, "token-url": "/oauth2/token" },
      { ...appleOAuth2, "redirect-url": "https://mdmserver.example.com/oauth2/redirection" },
      { ...appleOAuth2, "redirect-url": "apple-remotemanagement-user-login:" },
      { ...appleOAuth2, "redirect-url": "apple-remotemanagement-user-login://host" },
      { ...appleOAuth2, "redirect-url": "apple-remotemanagement-user-login:/" },
      { ...appleOAuth2, "client-id": "a\r\nSet-Cookie: x=y" },
    ];
    for (const value of bad) {
      expect(ServerOAuth2Challenge.safeParse(value).success, JSON.stringify(value)).toBe(false);
    }
    // The device form is more tolerant: the same values without scope pass there.
    expect(OAuth2Challenge.safeParse({ ...appleOAuth2, scope: undefined }).success).toBe(true);
  });
});

describe("formatChallenge", () => {
  it("CHALLENGE-3 emits Apple's apple-as-web example as quoted, comma-separated auth-params", () => {
    expect(formatChallenge(appleAsWeb)).toBe('Bearer method="apple-as-web", url="https://mdmserver.example.com/authenticate"');
  });

  it("CHALLENGE-3 emits apple-oauth2 parameters in a fixed order, method first, scope only when present", () => {
    expect(formatChallenge(appleOAuth2)).toBe(appleOAuth2Header);
    const reordered: Challenge = {
      scope: "MDM",
      "client-id": appleOAuth2["client-id"],
      "redirect-url": appleOAuth2["redirect-url"],
      "token-url": appleOAuth2["token-url"],
      "authorization-url": appleOAuth2["authorization-url"],
      method: "apple-oauth2",
    };
    expect(formatChallenge(reordered)).toBe(appleOAuth2Header);
    const { scope: _scope, ...noScope } = appleOAuth2;
    expect(formatChallenge(noScope)).toBe(appleOAuth2Header.replace(', scope="MDM"', ""));
  });

  it("CHALLENGE-3 escapes quotes and backslashes", () => {
    expect(formatChallenge({ ...appleOAuth2, "client-id": 'a"b\\c', scope: "x, y=z" })).toContain('client-id="a\\"b\\\\c", scope="x, y=z"');
  });

  it("CHALLENGE-3 output is a valid header value", () => {
    const headers = new Headers();
    headers.set("WWW-Authenticate", formatChallenge(appleOAuth2));
    expect(headers.get("www-authenticate")).toBe(appleOAuth2Header);
  });
});

describe("round trip (fast-check)", () => {
  const special = fc.constantFrom('"', "\\", ",", " ", "=", ";", "'", '\\"');
  const text = fc.string({ unit: fc.oneof(special, fc.string({ minLength: 1, maxLength: 1 })), maxLength: 24 });
  const url = fc
    .tuple(fc.constantFrom("http", "https"), fc.domain(), text)
    .map(([scheme, host, path]) => `${scheme}://${host}/${path}/end`);
  const httpsUrl = fc.tuple(fc.domain(), text).map(([host, path]) => `https://${host}/${path}/end`);
  const redirect = text.map((path) => `apple-remotemanagement-user-login:/oauth2/${path}/end`);
  const asWeb = url.map((u): Challenge => ({ method: "apple-as-web", url: u }));
  const oauth2 = fc
    .record({ a: httpsUrl, t: url, r: redirect, c: text.filter((s) => s !== ""), s: fc.option(text, { nil: undefined }) })
    .map(({ a, t, r, c, s }): Challenge => ({
      method: "apple-oauth2",
      "authorization-url": a,
      "token-url": t,
      "redirect-url": r,
      "client-id": c,
      ...(s === undefined ? {} : { scope: s }),
    }));
  const challenge = fc.oneof(asWeb, oauth2);

  it("CHALLENGE-3 formatChallenge then parseChallenge returns the same challenge, for values with quotes, backslashes, commas and spaces", () => {
    fc.assert(
      fc.property(challenge, (c) => {
        expect(Challenge.safeParse(c).success).toBe(true);
        const header = formatChallenge(c);
        expect(header).toMatch(/^Bearer method="apple-(as-web|oauth2)"(, [a-z-]+="(?:[^"\\]|\\.)*")+$/);
        expect(parseChallenge(header)).toEqual({ ok: true, value: c });
      }),
      { numRuns: 500 },
    );
  });

  it("CHALLENGE-2 any mix of separators between quoted params reads the same", () => {
    const separator = fc.constantFrom(", ", ",", " ", "\t", " , ", ",,", "  ", " ,\t");
    fc.assert(
      fc.property(challenge, fc.array(separator, { minLength: 6, maxLength: 6 }), (c, seps) => {
        // An independent writer: RFC 7230 quoted-string, then the chosen separators.
        const params = pairsOf(c).map(([name, value]) => `${name}="${value.replace(/["\\]/g, (x) => `\\${x}`)}"`);
        const header = `Bearer ${params.map((p, i) => (i === 0 ? p : `${seps[i - 1] ?? ", "}${p}`)).join("")}`;
        expect(parseChallenge(header)).toEqual({ ok: true, value: c });
      }),
      { numRuns: 300 },
    );
  });
});

describe("Enrollment SSO header", () => {
  it("ESSO-1 names the headers and accepts only an absolute https URL", () => {
    expect(essoHeader).toBe("X-Apple-MDM-ESSO");
    expect(essoDeveloperHeader).toBe("X-Apple-MDM-ESSO-Developer");
    expect(EssoUrl.safeParse("https://mdmserver.example.com/esso/document").success).toBe(true);
    for (const bad of ["http://mdmserver.example.com/esso", "/esso", "mdmserver.example.com/esso", "https:mdmserver.example.com", ""]) {
      expect(EssoUrl.safeParse(bad).success, bad).toBe(false);
    }
  });

  it("CHALLENGE-4 AsWebChallenge alone is the apple-as-web schema", () => {
    expect(AsWebChallenge.safeParse(appleAsWeb).success).toBe(true);
    expect(AsWebChallenge.safeParse({ method: "apple-oauth2", url: appleAsWeb.url }).success).toBe(false);
  });
});
