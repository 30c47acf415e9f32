import { readFileSync } from "node:fs";
import fc from "fast-check";
import * as plistLib from "plist";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseSignedData } from "../../spec/cms.ts";
import { buildPlist, parsePlist, plistMaxDepth, type PlistValue } from "../../spec/plist.ts";
import { parsePlistReference } from "../support/plist-reference.ts";

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

describe("parsePlist reads XML as XML 1.0 has it", () => {
  const inPlist = (value: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">${value}</plist>`;

  it("reads what XML allows around and inside the values", () => {
    const xml = `\uFEFF<?xml version='1.0' encoding='utf-8' standalone='yes' ?>
<!-- a comment before the DOCTYPE -->
<!DOCTYPE plist SYSTEM "PropertyList-1.0.dtd" >
<plist version="1.0" xmlns="urn:x"   >
  <dict xml:lang="en">
    <key a="&amp;&#65;&lt;">s</key> <string>a<!-- ignored --><![CDATA[<b> & ]]>&#x263A;&#9731;&quot;&apos;</string>
    <key/><string/>
    <key>n</key><integer> +42 </integer>
    <key>z</key><integer>-0</integer>
    <key>c</key><integer>&#49;2</integer>
    <key>r</key><real>-1.5e3</real>
    <key>d</key><data>
      AQID
      BA
    </data>
    <key>e</key><data/>
    <key>t</key><true></true>
    <key>f</key><false> <!-- nothing --> </false>
    <key>a</key><array></array>
    <key>o</key><dict><!-- empty --></dict>
    <key>n</key><integer>7</integer>
  </dict >
</plist >
<!-- after -->
`;
    expect(parsePlist(xml)).toEqual({
      ok: true,
      value: { s: "a<b> & ☺☃\"'", "": "", n: 7, z: -0, c: 12, r: -1500, d: Uint8Array.from([1, 2, 3, 4]), e: new Uint8Array(), t: true, f: false, a: [], o: {} },
    });
  });

  it("normalizes CR LF and CR to LF, keeps &#13;, and keeps U+0085, U+2028, U+2029 (xmldom read them as line ends, as XML 1.1 does)", () => {
    expect(parsePlist(inPlist("<string>a\r\nb\rc&#13;d\u0085e\u2028f\u2029g<![CDATA[\r\n]]></string>"))).toEqual({ ok: true, value: "a\nb\nc\rd\u0085e\u2028f\u2029g\n" });
    expect(parsePlist(inPlist("<string>a\r\nb\rc\r\r\nd</string>"))).toEqual({ ok: true, value: "a\nb\nc\n\nd" });
    expect(parsePlist(inPlist("<dict><key>a\r\nb</key><data>AQ\r\nID\r</data></dict>"))).toEqual({ ok: true, value: { "a\nb": Uint8Array.from([1, 2, 3]) } });
    expect(parsePlist(buildPlist("line\u2028separator"))).toEqual({ ok: true, value: "line\u2028separator" });
    expect(parsePlistReference(buildPlist("line\u2028separator")).result).toEqual({ ok: true, value: "line\nseparator" });
  });

  it("reads dates only in Apple's form, exactly as toISOString writes them", () => {
    for (const date of ["2023-08-06T07:40:58Z", "2024-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "-000001-12-31T23:59:59Z"]) {
      expect(parsePlist(inPlist(`<date>${date}</date>`))).toEqual({ ok: true, value: new Date(date) });
    }
    for (const date of ["2023-02-29T00:00:00Z", "2023-01-01T24:00:00Z", "2023-01-01T00:00:00.123Z", "2023-01-01T00:00:00", "2023-01-01T00:00:00+01:00", "2023-01-01", " 2023-01-01T00:00:00Z", "2023-01-01t00:00:00z", ""]) {
      expect(codeOf(inPlist(`<date>${date}</date>`))).toBe("plist.invalid");
    }
  });

  it("refuses integers and reals not in decimal, base64 that atob would refuse", () => {
    for (const bad of ["12abc", "0x10", "1e3", "1.5", "", " ", "-", "++1", "１２"]) expect(codeOf(inPlist(`<integer>${bad}</integer>`))).toBe("plist.invalid");
    for (const bad of ["1e", "Infinity", "nan", "+infinity", "1,5", "", "."]) expect(codeOf(inPlist(`<real>${bad}</real>`))).toBe("plist.invalid");
    expect(parsePlist(inPlist("<real>1e400</real>"))).toEqual({ ok: true, value: Number.POSITIVE_INFINITY });
    for (const bad of ["A", "AQ=", "A===", "AQ==AQ==", "-_8=", "AQ\u00A0ID"]) expect(codeOf(inPlist(`<data>${bad}</data>`))).toBe("plist.invalid");
    expect(parsePlist(inPlist("<data>AQ</data>"))).toEqual({ ok: true, value: Uint8Array.from([1]) });
  });

  it("nests <array> and <dict> up to plistMaxDepth levels, no deeper", () => {
    const nested = (depth: number, empty: string) => inPlist(`${"<array>".repeat(depth - 1)}${empty}${"</array>".repeat(depth - 1)}`);
    const r = parsePlist(nested(plistMaxDepth, "<dict/>"));
    expect(r.ok).toBe(true);
    const deeper = parsePlist(nested(plistMaxDepth + 1, "<dict/>"));
    expect(deeper.ok ? "ok" : deeper.error.detail).toContain("nested deeper than 64 levels");
    expect(codeOf(nested(plistMaxDepth + 1, "<array></array>"))).toBe("plist.invalid");
  });

  it("refuses what is not a well-formed plist document", () => {
    for (const xml of [
      `<plist><string>x</plist>`,
      `<plist><string>x</string>`,
      `<plist><string>x</string></plist><plist/>`,
      `<plist><string>x</string></plist>text`,
      `<?xml version="1.0"?><?xml version="1.0"?><plist/>`,
      ` <?xml version="1.0"?><plist><string>x</string></plist>`,
      `<?xml version="2.0"?><plist><string>x</string></plist>`,
      `<!DOCTYPE plist><!DOCTYPE plist><plist><string>x</string></plist>`,
      `<plist><string a="1" a="2">x</string></plist>`,
      `<plist><string a=1>x</string></plist>`,
      `<plist><string a="<">x</string></plist>`,
      `<plist><!-- a -- b --><string>x</string></plist>`,
      `<plist><string><![CDATA[x</string></plist>`,
      `<plist><dict><key>a</key><key>b</key><string>x</string></dict></plist>`,
      `<plist><dict><string>x</string></dict></plist>`,
      `<plist><String>x</String></plist>`,
      `<dict><key>a</key><string>x</string></dict>`,
      `<plist><string>\u0001</string></plist>`,
      `<plist><string>&#xFFFE;</string></plist>`,
      `<plist><string>&#x110000;</string></plist>`,
    ]) {
      expect([xml, codeOf(xml)]).toEqual([xml, "plist.invalid"]);
    }
  });

  it("refuses undeclared entities and entity-like markup everywhere but comments and CDATA", () => {
    for (const xml of [`<plist version="&v;"><string>x</string></plist>`, `<plist><string>&#X41;</string></plist>`, `<plist><string>&#;</string></plist>`, `<plist><dict>&x;</dict></plist>`, `<plist><string>x</string></plist><!ENTITY x "y">`]) {
      expect([xml, codeOf(xml)]).toEqual([xml, "plist.entity"]);
    }
  });

  // Hostile bodies: each would cost the regexes of the old reader quadratic time or a deep
  // recursion somewhere; the new reader reads each character a bounded number of times.
  it("stays linear and iterative on hostile input (1 MB each)", () => {
    const n = (unit: string) => Math.floor(1_000_000 / unit.length);
    const refused = [
      `<plist>${"<array>".repeat(n("<array>"))}`,
      `<plist>${"<dict><key>k</key>".repeat(n("<dict><key>k</key>"))}`,
      `<plist>${"<!--".repeat(n("<!--"))}`,
      `<plist><string>${"<![CDATA[".repeat(n("<![CDATA["))}`,
      `<plist>${"<array".repeat(n("<array"))}`,
      `<plist${Array.from({ length: n(' a0000="1"') }, (_, i) => ` a${i}="1"`).join("")}><string>x</string>`,
      `<?xml version="1.0" encoding="${"a".repeat(1_000_000)}`,
      `<!DOCTYPE plist SYSTEM "${"[".repeat(1_000_000)}`,
      `<plist><string>${"]".repeat(1_000_000)}></string></plist>`,
      `<plist><string>${"&amp;".repeat(n("&amp;"))}&x;</string></plist>`,
    ];
    for (const xml of refused) {
      const started = performance.now();
      const r = parsePlist(xml);
      expect([xml.slice(0, 30), r.ok, performance.now() - started < 1_000]).toEqual([xml.slice(0, 30), false, true]);
    }
    const accepted = `<plist><dict>${"<key>k</key><string>v&amp;</string>".repeat(n("<key>k</key><string>v&amp;</string>"))}</dict></plist>`;
    const started = performance.now();
    expect(parsePlist(accepted)).toEqual({ ok: true, value: { k: "v&" } });
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

// spec/plist.ts reads a flat dictionary in Apple's layout (what check-ins are) on a fast path that
// checks each character itself instead of scanning the whole text first. A comment right after the
// prolog keeps a document off that path and changes nothing else it means, so the same document
// read both ways must give the same value, or be refused with the same code (details give
// positions, 7 characters apart).
describe("the flat Apple-layout fast path reads what the general path reads", () => {
  const prolog = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">';
  const offFastPath = (doc: string): string => {
    const bom = doc.startsWith("\uFEFF") ? "\uFEFF" : "";
    return doc.startsWith(prolog, bom.length) ? `${bom}${prolog}<!---->${doc.slice(bom.length + prolog.length)}` : doc;
  };
  const outcome = (input: Uint8Array | string) => {
    const r = parsePlist(input);
    return r.ok ? r : r.error.code;
  };
  // What the fast path matches literally or leaves to the general path.
  const text = fc.string({
    unit: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("a", "Z", "0", " ", "-", ":", "/", "=", '"', "\t", "\n") },
      { weight: 3, arbitrary: fc.constantFrom("<", ">", "&", "]]>", "\r", "\r\n", "&amp;", "é", "\u2028", "\uD7FF", "\uE000", "😀", "\uFFFD") },
      { weight: 1, arbitrary: fc.constantFrom("\u0001", "\u001F", "\uFFFE", "\uD800", "\uDFFF") },
    ),
    maxLength: 10,
  });
  const flatValue: fc.Arbitrary<PlistValue> = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.date({ noInvalidDate: true }), fc.uint8Array({ maxLength: 20 }));
  const flatDict = fc.dictionary(fc.oneof({ weight: 9, arbitrary: text }, { weight: 1, arbitrary: fc.constant("__proto__") }), flatValue, { maxKeys: 6, noNullPrototype: true });
  const snippets = [
    "<", ">", "X", " ", "\t", "\r", "\r\n", "/", "=", '"', "&amp;", "&#65;", "&#0;", "&x;", "]]>", "\u0001", "\uFFFE", "\uD800", "😀", "\uFEFF",
    "<!---->", "<![CDATA[x]]>", "<string>", "</string>", "<string/>", "<true/>", "<false/>", "<true></true>", "<key>k</key>", "</key >", "</dict>", "<dict>", "<dict/>", "</plist>", "<null/>",
    "<integer>1</integer>", "<date>2020-02-30T00:00:00Z</date>", "<data>A</data>", '<string a="1">',
  ];
  const unit = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);
  // Half the edits at a tag's "<" or ">", where the fast path's checks are.
  const edit = fc.tuple(fc.constantFrom("insert", "replace", "delete"), fc.boolean(), unit, fc.oneof(fc.constantFrom("X", " ", "<", ">", "/"), fc.constantFrom(...snippets)));
  const position = (doc: string, atTag: boolean, at: number): number => {
    if (!atTag) return Math.floor(at * (doc.length + 1));
    const tags = [...doc.matchAll(/[<>]/g)].map((m) => m.index);
    return tags[Math.floor(at * tags.length)] ?? 0;
  };

  it("gives the same value or the same refusal on generated flat documents and their mutations", () => {
    const tally = { fastAccepted: 0, refused: 0 };
    fc.assert(
      fc.property(flatDict, fc.array(edit, { maxLength: 2 }), fc.boolean(), (dict, edits, asBytes) => {
        let doc = buildPlist(dict);
        for (const [kind, atTag, at, snippet] of edits) {
          const i = position(doc, atTag, at);
          doc = doc.slice(0, i) + (kind === "delete" ? "" : snippet) + doc.slice(kind === "insert" ? i : i + 1);
        }
        const input = (xml: string) => (asBytes ? new TextEncoder().encode(xml) : xml);
        const fast = outcome(input(doc));
        expect(fast).toEqual(outcome(input(offFastPath(doc))));
        if (typeof fast === "string") tally.refused++;
        else if (edits.length === 0) tally.fastAccepted++;
      }),
      { numRuns: 1500 },
    );
    // Both sides are reached: buildPlist's own documents (on the fast path), and refusals.
    expect(tally.fastAccepted).toBeGreaterThan(100);
    expect(tally.refused).toBeGreaterThan(300);
  });

  it("leaves text where a start tag should be to the general path, which refuses it", () => {
    const doc = buildPlist({ a: "hello" }).replace("<string>", "Xstring>");
    expect(parsePlist(doc)).toEqual({ ok: false, error: { code: "plist.invalid", detail: expect.stringMatching(/^text inside <dict>/) } });
  });

  it("refuses a character XML forbids in a key or value, and reads the rest as the general path does", () => {
    expect(codeOf(buildPlist({ a: "x" }).replace(">x<", ">\u0001<"))).toBe("plist.invalid");
    expect(codeOf(buildPlist({ a: "x" }).replace(">a<", ">\uFFFE<"))).toBe("plist.invalid");
    expect(parsePlist(buildPlist({ "k&<": "😀 a]]b\r\n", n: 7 }))).toEqual({ ok: true, value: { "k&<": "😀 a]]b\r\n", n: 7 } });
  });
});

// Documents the reader it replaced (test/support/plist-reference.ts) accepted and this one refuses,
// each for a documented reason (see test/spec/plist.property.test.ts).
describe("parsePlist is stricter than the plist@5 + xmldom reader where that one was wrong", () => {
  const cases: readonly (readonly [string, string, PlistValue])[] = [
    ["an empty <plist> (was [])", `<plist></plist>`, []],
    ["two values in <plist> (was an array)", `<plist><string>a</string><string>b</string></plist>`, ["a", "b"]],
    ["a <key> without a value (was \"\")", `<plist><dict><key>a</key></dict></plist>`, { a: "" }],
    ["<null/> in an <array> (was dropped)", `<plist><array><null/></array></plist>`, []],
    ["text between elements (was ignored)", `<plist><dict>junk<key>a</key><string>x</string></dict></plist>`, { a: "x" }],
    ["a <key> outside a <dict> (was a string)", `<plist><array><key>k</key></array></plist>`, ["k"]],
    ["a comment in a <key> (was the comment's text)", `<plist><dict><key><!--c-->a</key><string>x</string></dict></plist>`, { c: "x" }],
    ["an element in a <string> (was dropped)", `<plist><string>a<x/>b</string></plist>`, "ab"],
    ["CDATA in <data> (was ignored)", `<plist><data><![CDATA[AQID]]></data></plist>`, new Uint8Array()],
    ["an integer with trailing junk (was parseInt's)", `<plist><integer>12abc</integer></plist>`, 12],
    ["a hexadecimal integer (was 0)", `<plist><integer>0x10</integer></plist>`, 0],
    ["a date that does not exist (was rolled over)", `<plist><date>2023-02-30T00:00:00Z</date></plist>`, new Date("2023-03-02T00:00:00Z")],
    ["a date without Z (was local time)", `<plist><date>2023-01-01T00:00:00</date></plist>`, new Date("2023-01-01T00:00:00")],
    ["a control character between elements (was ignored)", `<plist>\u0001<string>x</string></plist>`, "x"],
    ["a processing instruction (was allowed outside the root)", `<?style x?><plist><string>x</string></plist>`, "x"],
    ['"]]>" in text (XML forbids it)', `<plist><string>a]]>b</string></plist>`, "a]]>b"],
    ['"/ >" in a tag (xmldom skipped it)', `<plist><false/ ></plist>`, false],
    ["an end tag after the root (xmldom ignored it)", `<plist><true/></plist></plist>`, true],
    ["a nested <plist> (was an array)", `<plist><plist><string>x</string></plist></plist>`, ["x"]],
    ["an attribute without quotes (xmldom recovered)", `<plist><string a=1>x</string></plist>`, "x"],
    ["text after the root (xmldom recovered)", `<plist><string>x</string></plist>x`, "x"],
  ];
  it.each(cases)("%s", (_, xml, old) => {
    expect(parsePlistReference(xml).result).toEqual({ ok: true, value: old });
    expect(codeOf(xml)).toBe("plist.invalid");
  });
});
