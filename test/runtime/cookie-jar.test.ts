// The web authentication session's cookie jar (runtime/device.ts CookieJar), against RFC 6265
// §5.2–5.4 and RFC 6265bis (prefixes, SameSite): what a browser would send back, to which host and
// path, on which navigation; and the session's same-site judgement across two sites.
import { describe, expect, it } from "vitest";
import { CookieJar, siteOf, webAuthenticationSession, type Person } from "../../runtime/device.ts";
import { twoSiteSignIn, twoSiteStartUrl } from "../support/two-sites.ts";

const at = (url: string) => new URL(url);

describe("CookieJar", () => {
  it("a host-only cookie goes back to its host only, on any port (as in a browser), never to a sub-domain", () => {
    const jar = new CookieJar();
    jar.store(at("https://login.example.com/a/b"), ["sid=1; Path=/"]);
    expect(jar.header(at("https://login.example.com/x"))).toBe("sid=1");
    expect(jar.header(at("https://login.example.com:8443/x"))).toBe("sid=1");
    expect(jar.header(at("https://a.login.example.com/x"))).toBeNull();
    expect(jar.header(at("https://example.com/x"))).toBeNull();
  });

  it("a Domain cookie goes to the domain and every host under it; a leading dot is ignored", () => {
    const jar = new CookieJar();
    jar.store(at("https://login.example.com/"), ["sso=1; Domain=.Example.com; Path=/"]);
    for (const url of ["https://example.com/", "https://login.example.com/", "https://mdm.example.com/x"]) expect(jar.header(at(url))).toBe("sso=1");
    expect(jar.header(at("https://example.org/"))).toBeNull();
    expect(jar.header(at("https://notexample.com/"))).toBeNull();
  });

  it("a Domain the host is not in, or of one label, is refused whole; one equal to a one-label host is host-only", () => {
    const jar = new CookieJar();
    jar.store(at("https://login.example.com/"), ["other=1; Domain=example.org", "sibling=1; Domain=mdm.example.com", "tld=1; Domain=com"]);
    for (const url of ["https://login.example.com/", "https://example.org/", "https://mdm.example.com/", "https://a.com/"]) expect(jar.header(at(url))).toBeNull();
    jar.store(at("http://localhost:3000/"), ["local=1; Domain=localhost"]);
    expect(jar.header(at("http://localhost:4000/"))).toBe("local=1");
    expect(jar.header(at("http://a.localhost/"))).toBeNull();
  });

  it("an IP address host: Domain never widens it", () => {
    const jar = new CookieJar();
    jar.store(at("http://127.0.0.1:8080/"), ["a=1; Domain=127.0.0.1", "b=2; Domain=0.0.1", "c=3; Domain=1"]);
    expect(jar.header(at("http://127.0.0.1:9090/"))).toBe("a=1");
    expect(jar.header(at("http://127.0.0.2/"))).toBeNull();
    jar.store(at("http://[::1]:8080/"), ["v6=1; Domain=::1"]);
    expect(jar.header(at("http://[::1]:9090/"))).toBeNull();
  });

  it("Path: the default is the request's directory; a path matches itself and what is under it, longest first", () => {
    const jar = new CookieJar();
    jar.store(at("https://a.example/auth/start"), ["d=1", "root=1; Path=/", "deep=1; Path=/auth/upstream"]);
    expect(jar.header(at("https://a.example/auth/upstream/callback"))).toBe("deep=1; d=1; root=1");
    expect(jar.header(at("https://a.example/auth"))).toBe("d=1; root=1");
    expect(jar.header(at("https://a.example/authority"))).toBe("root=1");
  });

  it("a cookie is the same cookie by name, domain and path: set again replaces it, another path is another cookie", () => {
    const jar = new CookieJar();
    jar.store(at("https://a.example/"), ["n=1; Path=/", "n=2; Path=/x"]);
    jar.store(at("https://a.example/"), ["n=3; Path=/"]);
    expect(jar.header(at("https://a.example/x/y"))).toBe("n=2; n=3");
  });

  it("Max-Age and Expires end a cookie; Max-Age wins; zero or a past date deletes it", () => {
    let now = Date.UTC(2026, 10, 23);
    const jar = new CookieJar(() => now);
    jar.store(at("https://a.example/"), ["m=1; Path=/; Max-Age=60; Expires=Wed, 01 Jan 2098 00:00:00 GMT", "e=1; Path=/; Expires=Wed, 01 Jan 2098 00:00:00 GMT", "gone=1; Path=/"]);
    jar.store(at("https://a.example/"), ["gone=; Path=/; Max-Age=0"]);
    expect(jar.header(at("https://a.example/"))).toBe("m=1; e=1");
    now += 61_000;
    expect(jar.header(at("https://a.example/"))).toBe("e=1");
  });

  it("Secure, __Secure- and __Host-: set only over https with Secure; __Host- only host-only at Path=/", () => {
    const jar = new CookieJar();
    jar.store(at("http://a.example/"), ["s=1; Secure; Path=/", "__Secure-x=1; Secure; Path=/"]);
    expect(jar.header(at("https://a.example/"))).toBeNull();
    jar.store(at("https://a.example/"), [
      "s=1; Secure; Path=/",
      "__Secure-ok=1; Secure; Path=/",
      "__Secure-bad=1; Path=/",
      "__Host-ok=1; Secure; Path=/",
      "__Host-nopath=1; Secure",
      "__Host-domain=1; Secure; Path=/; Domain=a.example",
    ]);
    expect(jar.header(at("https://a.example/"))).toBe("s=1; __Secure-ok=1; __Host-ok=1");
    expect(jar.header(at("http://a.example/"))).toBeNull();
  });

  it("SameSite: Strict only on same-site requests, Lax also on cross-site GETs, None or no attribute (Safari's default) always", () => {
    const jar = new CookieJar();
    jar.store(at("https://mdm.example.com/"), ["s=1; SameSite=Strict; Path=/", "l=1; SameSite=lax; Path=/", "n=1; SameSite=None; Secure; Path=/", "d=1; Path=/", "odd=1; SameSite=sometimes; Path=/"]);
    const url = at("https://mdm.example.com/callback");
    expect(jar.header(url)).toBe("s=1; l=1; n=1; d=1; odd=1");
    expect(jar.header(url, { sameSite: true, method: "POST" })).toBe("s=1; l=1; n=1; d=1; odd=1");
    expect(jar.header(url, { sameSite: false, method: "GET" })).toBe("l=1; n=1; d=1; odd=1");
    expect(jar.header(url, { sameSite: false, method: "POST" })).toBe("n=1; d=1; odd=1");
  });
});

describe("siteOf", () => {
  it("is the scheme and the last two labels of a name, or the whole host for an IP address or a single label", () => {
    expect(siteOf(at("https://login.example.com:8443/x"))).toBe("https://example.com");
    expect(siteOf(at("https://example.com/"))).toBe("https://example.com");
    expect(siteOf(at("http://example.com/"))).toBe("http://example.com");
    expect(siteOf(at("http://127.0.0.1:3000/"))).toBe("http://127.0.0.1");
    expect(siteOf(at("http://localhost:3000/"))).toBe("http://localhost");
  });
});

describe("the web authentication session's same-site judgement", () => {
  async function roundTrip(attributes: string): Promise<string> {
    const person: Person = { onPage: () => ({ kind: "submit", action: "/login", fields: { username: "alice", password: "x" } }) };
    const outcome = await webAuthenticationSession(twoSiteSignIn(attributes), person, twoSiteStartUrl);
    if (outcome.kind !== "callback") throw new Error(`expected the callback, got ${outcome.kind}`);
    return new URL(outcome.url).searchParams.get("ok") ?? "";
  }

  it("a Strict cookie does not come back on the provider's cross-site redirect to the callback (as in Safari); Lax and None do", async () => {
    expect(await roundTrip("SameSite=Strict")).toBe("0");
    expect(await roundTrip("SameSite=Lax")).toBe("1");
    expect(await roundTrip("SameSite=None")).toBe("1");
    expect(await roundTrip("")).toBe("1");
  });
});
