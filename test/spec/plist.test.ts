import { readFileSync } from "node:fs";
import * as plistLib from "plist";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseSignedData } from "../../spec/cms.ts";
import { buildPlist, parsePlist, type PlistValue } from "../../spec/plist.ts";

const realBody = new Uint8Array(readFileSync(new URL("../fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url)));
const cms = parseSignedData(realBody);
const deviceContent = cms.ok ? (cms.value.content ?? new Uint8Array()) : new Uint8Array();

function codeOf(input: Uint8Array | string): string {
  const r = parsePlist(input);
  return r.ok ? "ok" : r.error.code;
}

// xmldom reports parse errors on console.error; keep the test output readable.
beforeEach(() => {
  vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("parsePlist", () => {
  it("reads the plist a device signed", () => {
    const r = parsePlist(deviceContent);
    expect(r).toEqual({ ok: true, value: { LANGUAGE: "ja-JP", PRODUCT: "iPhone12,1", VERSION: "19H12" } });
  });

  it("reads every type; <data> is a plain Uint8Array, <date> a Date", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
  <key>s</key><string>a &amp; b &lt;c&gt; &#x263A;</string>
  <key>i</key><integer>-42</integer>
  <key>r</key><real>1.5</real>
  <key>t</key><true/><key>f</key><false/>
  <key>d</key><date>2023-08-06T07:40:58Z</date>
  <key>b</key><data>
    AQID
    BA==
  </data>
  <key>a</key><array><string>x</string><dict/></array>
</dict></plist>`;
    const r = parsePlist(xml);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({
      s: "a & b <c> ☺",
      i: -42,
      r: 1.5,
      t: true,
      f: false,
      d: new Date("2023-08-06T07:40:58Z"),
      b: Uint8Array.from([1, 2, 3, 4]),
      a: ["x", {}],
    });
    const b = typeof r.value === "object" && !Array.isArray(r.value) && !(r.value instanceof Date) && !(r.value instanceof Uint8Array) ? r.value["b"] : undefined;
    expect(b).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(b)).toBe(false);
  });

  it("accepts a UTF-8 BOM and non-ASCII text", () => {
    const bytes = new TextEncoder().encode(`\uFEFF<plist version="1.0"><string>日本語</string></plist>`);
    expect(parsePlist(bytes)).toEqual({ ok: true, value: "日本語" });
  });

  it("refuses a binary plist", () => {
    const binary = plistLib.buildBinary({ PRODUCT: "iPhone12,1" });
    expect(codeOf(binary)).toBe("plist.binary");
    expect(codeOf("bplist00")).toBe("plist.binary");
  });

  it("refuses invalid UTF-8, OpenStep and non-XML text", () => {
    expect(codeOf(Uint8Array.from([0x3c, 0xff, 0xfe, 0x3e]))).toBe("plist.encoding");
    expect(codeOf("{ PRODUCT = iPhone; }")).toBe("plist.not-xml");
    expect(codeOf("hello")).toBe("plist.not-xml");
    expect(codeOf("")).toBe("plist.not-xml");
  });

  it("refuses entity declarations (billion laughs) quickly, without expanding anything", () => {
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE plist [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
  <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<plist version="1.0"><dict><key>PRODUCT</key><string>&e;</string></dict></plist>`;
    const started = performance.now();
    expect(codeOf(laughs)).toBe("plist.entity");
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("refuses external entities and any DOCTYPE internal subset", () => {
    expect(codeOf(`<!DOCTYPE plist [<!ENTITY x SYSTEM "file:///etc/passwd">]><plist><string>&x;</string></plist>`)).toBe("plist.entity");
    expect(codeOf(`<!DOCTYPE plist [ ]><plist><string>x</string></plist>`)).toBe("plist.entity");
    expect(codeOf(`<!doctype plist [<!entity x "y">]><plist><string>x</string></plist>`)).toBe("plist.entity");
  });

  it("refuses references to undeclared entities (xmldom would keep them as text)", () => {
    expect(codeOf(`<plist><string>&x;</string></plist>`)).toBe("plist.entity");
    expect(codeOf(`<plist><string>a & b</string></plist>`)).toBe("plist.entity");
  });

  it("ignores entity-like text inside comments and CDATA", () => {
    expect(parsePlist(`<plist><!-- <!ENTITY x "y"> &x; --><string><![CDATA[a & <!ENTITY>]]></string></plist>`)).toEqual({ ok: true, value: "a & <!ENTITY>" });
  });

  it("turns the library's throws and odd values into errors", () => {
    expect(codeOf(`<plist><dict><key>a</key></plist>`)).toBe("plist.invalid");
    expect(codeOf(`<html></html>`)).toBe("plist.invalid");
    expect(codeOf(`<plist><foo/></plist>`)).toBe("plist.invalid");
    expect(codeOf(`<plist><data>!!!</data></plist>`)).toBe("plist.invalid");
    expect(codeOf(`<plist><integer>abc</integer></plist>`)).toBe("plist.invalid");
    expect(codeOf(`<plist><date>yesterday</date></plist>`)).toBe("plist.invalid");
    expect(codeOf(`<plist><null/></plist>`)).toBe("plist.invalid");
    expect(codeOf(`<plist><dict><key>__proto__</key><string>x</string></dict></plist>`)).toBe("plist.invalid");
  });

  it("never throws on random text or bytes", () => {
    let seed = 1;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const alphabet = `<>/!?&;#[]"' plistdcarykeyngtuefmxENTITYDOCTYPE-0123456789`;
    for (let i = 0; i < 500; i++) {
      let s = "<plist>";
      const n = next() % 80;
      for (let j = 0; j < n; j++) s += alphabet[next() % alphabet.length];
      expect(() => parsePlist(s)).not.toThrow();
      const bytes = Uint8Array.from({ length: n }, () => next() % 256);
      expect(() => parsePlist(bytes)).not.toThrow();
    }
  });
});

describe("buildPlist", () => {
  it("writes a dict of strings byte-identical to what the device signed", () => {
    expect(buildPlist({ LANGUAGE: "ja-JP", PRODUCT: "iPhone12,1", VERSION: "19H12" })).toBe(new TextDecoder().decode(deviceContent));
  });

  it("starts with the XML declaration and Apple's DOCTYPE", () => {
    expect(buildPlist("x")).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
        '<plist version="1.0">\n<string>x</string>\n</plist>\n',
    );
  });

  it("round-trips every type through parsePlist", () => {
    const value: PlistValue = {
      text: "a & b <c> \"q\" 'a' ☺\r\nline",
      int: -7,
      big: 2 ** 53 - 1,
      real: 0.1,
      yes: true,
      no: false,
      when: new Date("2024-02-29T12:34:56Z"),
      bytes: Uint8Array.from({ length: 70_000 }, (_, i) => i % 256),
      empty: { list: [], dict: {}, text: "", data: new Uint8Array() },
      nested: [[1, [2]], { k: ["v"] }],
    };
    expect(parsePlist(buildPlist(value))).toEqual({ ok: true, value });
  });

  it("never throws: XML-forbidden characters become U+FFFD, huge integers stay integers", () => {
    const r = parsePlist(buildPlist({ s: "a\u0000b\uD800c", n: 1e21 }));
    expect(r).toEqual({ ok: true, value: { s: "a\uFFFDb\uFFFDc", n: 1e21 } });
    expect(buildPlist(1e21)).toContain("<integer>1000000000000000000000</integer>");
    expect(buildPlist(Number.NaN)).toContain("<real>nan</real>");
    expect(buildPlist(Number.NEGATIVE_INFINITY)).toContain("<real>-infinity</real>");
  });

  it("writes an Invalid Date as an empty <date>, which parsing refuses", () => {
    const xml = buildPlist(new Date(Number.NaN));
    expect(xml).toContain("<date></date>");
    expect(codeOf(xml)).toBe("plist.invalid");
  });
});
