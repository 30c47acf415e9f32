// spec/plist.ts's reader against the one it replaced (plist@5 over @xmldom/xmldom, kept in
// test/support/plist-reference.ts):
// - any value buildPlist writes, decorated the ways XML allows (whitespace and comments between
//   elements, CDATA and comments in strings, character references, quoting, empty-element forms, a
//   BOM, no declaration or DOCTYPE, bytes or text), reads back as the reference reads it, and as
//   what was written;
// - any mutation of such a document (truncation, byte flips, inserted markup, tag swaps and
//   renames, nesting) is accepted by both with equal values or refused by both; where the new
//   reader is stricter, or refuses with another code, the reason is one of those documented below.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildPlist, parsePlist, plistMaxDepth, type PlistError, type PlistValue } from "../../spec/plist.ts";
import { oldEntityChecksFail, parsePlistReference, type ReferenceParse } from "../support/plist-reference.ts";

const utf8 = new TextEncoder();
const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

// --- values ---------------------------------------------------------------------------------

/** Characters that matter to XML, to escaping and to buildPlist, among ordinary ones. */
const textUnit = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("a", "Z", "0", " ", "-", ".", ":", "=", "/", "\t", "\n") },
  { weight: 4, arbitrary: fc.constantFrom("<", ">", "&", '"', "'", ";", "]", "]]>", "<!--", "-->", "&amp;", "\r", "\r\n") },
  // XML forbids these (buildPlist writes U+FFFD), or xmldom reads them as line ends (U+0085, U+2028, U+2029).
  { weight: 2, arbitrary: fc.constantFrom("\u0000", "\u0001", "\u001F", "\uFFFE", "\uFFFF", "\uD800", "\uDFFF", "\u0085", "\u2028", "\u2029", "\uFFFD", "\uFEFF") },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
);
const textArb = fc.string({ unit: textUnit, maxLength: 12 });

const scalarArb: fc.Arbitrary<PlistValue> = fc.oneof(
  textArb,
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 53 - 1, -(2 ** 53), 2 ** 53 + 2, 1e21, -1e300),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 40 }),
);

const { value: valueArb } = fc.letrec<{ value: PlistValue; array: PlistValue[]; dict: { [key: string]: PlistValue } }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalarArb, tie("array"), tie("dict")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  dict: fc.dictionary(
    textArb.filter((k) => k !== "__proto__"),
    tie("value"),
    { maxKeys: 5, noNullPrototype: true },
  ),
}));

// Outside XML 1.0 Char, as spec/plist.ts's builder has it.
const notXmlChar = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** What buildPlist(v) stands for: forbidden characters as U+FFFD, dates to the second, integers without a sign on 0. */
function written(v: PlistValue): PlistValue {
  if (typeof v === "string") return v.replace(notXmlChar, "\uFFFD");
  if (typeof v === "number") return Number.isInteger(v) ? Number(BigInt(v)) : v;
  if (typeof v === "boolean" || v instanceof Uint8Array) return v;
  if (v instanceof Date) return new Date(v.toISOString().replace(/\.\d{3}Z$/, "Z"));
  if (Array.isArray(v)) return v.map(written);
  const out: { [key: string]: PlistValue } = {};
  for (const [key, item] of Object.entries(v)) out[key.replace(notXmlChar, "\uFFFD")] = written(item);
  return out;
}

// --- decorations ----------------------------------------------------------------------------

interface Rng {
  below(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

function rng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number) => Math.floor(next() * n);
  return {
    below,
    chance: (p) => next() < p,
    pick: <T,>(items: readonly T[]): T => {
      const item = items[below(items.length)];
      if (item === undefined) throw new Error("pick from nothing");
      return item;
    },
  };
}

// Comments may hold anything but "--" (and may not end with "-"): markup-like text included.
const comments = ["<!---->", "<!-- c -->", "<!-- a-b > & &x; < ]]> <![CDATA[ -->", '<!-- <!ENTITY x "y"> <!DOCTYPE plist [ -->', "<!--\r\n\t-->"];

/** Whitespace and comments, where XML allows Misc between elements. */
function misc(r: Rng, allowEmpty = true): string {
  let out = "";
  const n = r.below(4) + (allowEmpty ? 0 : 1);
  for (let i = 0; i < n; i++) out += r.chance(0.3) ? r.pick(comments) : r.pick([" ", "\t", "\n", "\r\n", "\n\t\t", "\r"]);
  return out;
}

function spaces(r: Rng): string {
  return r.pick(["", "", " ", "\n", "\t ", "\r\n"]);
}

function charRef(cp: number, r: Rng): string {
  return r.chance(0.5) ? `&#${cp};` : `&#x${r.chance(0.5) ? cp.toString(16) : cp.toString(16).toUpperCase()};`;
}

/** Text as XML may write it: escaped, as references, in CDATA sections and around comments (the last two in <string> only). */
function encodeText(text: string, r: Rng, markup: boolean): string {
  let out = "";
  let cdata: string | undefined;
  const closeCdata = () => {
    if (cdata !== undefined) out += `<![CDATA[${cdata}]]>`;
    cdata = undefined;
  };
  const chars = [...text];
  for (const [i, ch] of chars.entries()) {
    const cp = ch.codePointAt(0) ?? 0;
    const how = r.below(10);
    if (markup && how === 0) {
      closeCdata();
      out += r.pick(comments);
    }
    if (ch === "\n" && how >= 8) {
      // A line end may be written CR LF, or CR alone (not before an LF): both are read as LF.
      const lineEnd = how === 9 && chars[i + 1] !== "\n" ? "\r" : "\r\n";
      if (cdata !== undefined) cdata += lineEnd;
      else out += lineEnd;
    } else if (ch === "\r") {
      // Raw, a CR would be read as LF.
      closeCdata();
      out += charRef(cp, r);
    } else if (markup && how < 4 && !(ch === ">" && cdata?.endsWith("]]"))) {
      cdata = (cdata ?? "") + ch;
    } else {
      closeCdata();
      if (how < 7) out += ch === "&" ? "&amp;" : ch === "<" ? "&lt;" : ch === ">" ? "&gt;" : ch === '"' && how === 6 ? "&quot;" : ch === "'" && how === 6 ? "&apos;" : ch;
      else out += charRef(cp, r);
    }
  }
  closeCdata();
  if (markup && r.chance(0.1)) out += r.pick(comments);
  return out;
}

function unescapeBuilt(text: string): string {
  return text.replace(/&(amp|lt|gt|#13);/g, (_, name: string) => (name === "amp" ? "&" : name === "lt" ? "<" : name === "gt" ? ">" : "\r"));
}

const leaves = new Set(["string", "key", "integer", "real", "date", "data"]);

function leaf(name: string, text: string, r: Rng): string {
  let content: string;
  if (name === "string") content = encodeText(text, r, true);
  else if (name === "key") content = encodeText(text, r, false);
  else if (name === "integer" || name === "real") content = `${spaces(r)}${encodeText(text, r, false)}${spaces(r)}`;
  else if (name === "data") content = [...text].map((ch) => (r.chance(0.1) ? charRef(ch.charCodeAt(0), r) : ch) + (r.chance(0.1) ? r.pick([" ", "\n", "\t", "\r\n"]) : "")).join("");
  else content = encodeText(text, r, false);
  if (content === "" && r.chance(0.5)) return `<${name}${spaces(r)}/>`;
  return `${startTag(name, r)}${content}</${name}${spaces(r)}>`;
}

function startTag(name: string, r: Rng): string {
  const attributes = r.pick(["", "", "", ' a="1"', " a='&amp;&#65;&lt;' b=\"'>\"", ' xmlns="urn:x"', ' xml:lang="en"', ' xmlns:p="urn:p"']);
  return `<${name}${attributes}${spaces(r)}>`;
}

const declarations = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<?xml version="1.0"?>',
  "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>",
  '<?xml  version = "1.0"  encoding = "UTF-8"\n?>',
];
const doctypes = [
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
  "<!DOCTYPE plist>",
  "<!DOCTYPE plist SYSTEM 'file:///PropertyList-1.0.dtd' >",
  "<!DOCTYPE plist PUBLIC '-//Apple//DTD PLIST 1.0//EN' \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\"\n>",
];

/** buildPlist's output rewritten with the freedoms XML gives; the value it stands for does not change. */
function decorate(xml: string, r: Rng): string {
  const tokens = xml.match(/<[^>]*>|[^<]+/g) ?? [];
  const open: string[] = [];
  let out = r.chance(0.1) ? "\uFEFF" : "";
  let declared = false;
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k] ?? "";
    if (token.startsWith("<?xml")) {
      declared = r.chance(0.8);
      if (declared) out += r.chance(0.5) ? token : r.pick(declarations);
    } else if (token.startsWith("<!DOCTYPE")) {
      if (r.chance(0.8)) out += r.chance(0.5) ? token : r.pick(doctypes);
    } else if (token.startsWith("</")) {
      out += `</${open.pop() ?? ""}${spaces(r)}>`;
    } else if (token.endsWith("/>")) {
      const name = token.slice(1, -2);
      out += r.chance(0.5) ? `<${name}${spaces(r)}/>` : `${startTag(name, r)}${misc(r)}</${name}>`;
    } else if (token.startsWith("<")) {
      const name = token.slice(1, -1).split(" ")[0] ?? "";
      if (leaves.has(name)) {
        const next = tokens[k + 1] ?? "";
        const text = next.startsWith("<") ? "" : next;
        k += text === "" ? 1 : 2;
        // The same key earlier with another value: the last one is kept.
        if (name === "key" && r.chance(0.1)) out += `${leaf(name, unescapeBuilt(text), r)}${misc(r)}<string>decoy</string>${misc(r)}`;
        out += leaf(name, unescapeBuilt(text), r);
      } else {
        open.push(name);
        out += name === "plist" ? r.pick(["<plist>", '<plist version="1.0">', "<plist version='1.0' >", '<plist\n\tversion = "1.0" xmlns="urn:x">']) : startTag(name, r);
      }
    } else {
      // Whitespace between elements, or in the prolog: not before the XML declaration.
      out += out === "" || (declared && out === "\uFEFF") ? token : misc(r, false);
    }
  }
  return out;
}

// --- comparing ------------------------------------------------------------------------------

/** xmldom reads U+0085, U+2028 and U+2029 as line ends (XML 1.1); XML 1.0, and the new reader, keep them. */
const xml11LineEnd = /[\u0085\u2028\u2029]/;

function xml11LineEnds(text: string): string {
  return text.replace(/\r[\n\u0085]/g, "\n").replace(/[\r\u0085\u2028\u2029]/g, "\n");
}

/** The input the new reader is compared on: the same, or, where xmldom would normalize U+0085/U+2028/U+2029, normalized as xmldom does. */
function asXmldomSees(input: Uint8Array | string): Uint8Array | string {
  if (typeof input === "string") return xml11LineEnd.test(input) ? xml11LineEnds(input) : input;
  let text: string;
  try {
    text = utf8Fatal.decode(input);
  } catch {
    return input;
  }
  return xml11LineEnd.test(text) ? utf8.encode(xml11LineEnds(text)) : input;
}

/**
 * Where the new reader refuses what the old one accepted, the documented reasons (the new detail
 * says which). xmldom's own recoveries are recognized by what it reported while recovering.
 */
const stricter: readonly { readonly reason: string; readonly detail: RegExp }[] = [
  { reason: "a <plist> holds exactly one value (the old reader returned [] for none, an array for several, and read a nested <plist> as an array)", detail: /^<plist\/?> holds (no value|more than one value)|^<plist> is not a plist element/ },
  { reason: "text where only whitespace may be (the old reader ignored text inside <plist>, <dict>, <array>, <true>, <false>)", detail: /^text (inside|before|after)/ },
  { reason: "a <key> without a value (the old reader gave it \"\")", detail: /without a value/ },
  { reason: "a <key> outside a <dict> (the old reader read it as a <string>)", detail: /^<key> inside <(plist|array)>/ },
  { reason: "<null/> (the old reader refused it except in an <array>, where it dropped it)", detail: /^<null\/> is not a plist type/ },
  {
    reason: "markup inside a scalar (the old reader took only the first node of <key>, <integer>, <date>, ignored CDATA in <real>/<data> and elements in <string>, and anything inside <true>/<false>)",
    detail: /^(a comment|CDATA|markup) inside <|^CDATA outside <string>|^content inside <(true|false)>/,
  },
  { reason: "an integer, real, date or base64 not in the form Apple writes (the old reader took parseInt/parseFloat/new Date/atob after \\s stripping at their word)", detail: /is not a decimal integer|is not a decimal number|is not a date in the form|^<data> is not base64/ },
  { reason: "a character XML 1.0 forbids, outside a string value (the old reader checked string values only)", detail: /^a character (reference to a character )?XML 1.0 does not allow/ },
  { reason: 'a "/" not followed by ">" in a tag ("<false/ >": xmldom skipped it without a word)', detail: /^a "\/" not followed by ">"/ },
  { reason: "an end tag after the root element (xmldom ignored it without a word)", detail: /^an end tag after the root element/ },
  { reason: 'a "<" or "&" in the DOCTYPE\'s system identifier (markup the old reader looked into)', detail: /^the DOCTYPE's system identifier holds/ },
  { reason: "a processing instruction (Apple's plists have none; the old reader allowed them outside the root)", detail: /^a processing instruction/ },
  { reason: '"]]>" in text (XML 1.0 §2.4 forbids it; xmldom did not check)', detail: /^"\]\]>" in the text/ },
  { reason: "a namespace-prefixed attribute other than xmlns:/xml: (the new reader keeps no namespace bookkeeping)", detail: /^a namespace-prefixed attribute/ },
];

const benignReport = /Unicode replacement character/;

const cutOutByOldChecks = "an entity fault the old reader's checks cut out with a would-be comment or CDATA section (one in a DOCTYPE, a comment in CDATA…)";

function stricterReason(error: PlistError, reference: ReferenceParse, text: string | undefined): string | undefined {
  if (reference.xmldomReports.some((r) => !benignReport.test(r))) return "not well-formed XML: xmldom reported it and recovered";
  if (error.code === "plist.entity") return text !== undefined && hiddenFromOldChecks(text) ? cutOutByOldChecks : undefined;
  return stricter.find((s) => s.detail.test(error.detail))?.reason;
}

// The old entity checks find nothing as they ran, and something over the whole text.
function hiddenFromOldChecks(text: string): boolean {
  return !oldEntityChecksFail(text) && oldEntityChecksFail(text, false);
}

function decoded(input: Uint8Array | string): string | undefined {
  if (typeof input === "string") return input;
  try {
    return utf8Fatal.decode(input);
  } catch {
    return undefined;
  }
}

type Outcome = "both accept" | "both refuse" | "both refuse, codes differ" | "new refuses, documented" | "new accepts what old refused" | "values differ" | "new refuses, undocumented";

function compare(input: Uint8Array | string): { outcome: Outcome; why: string } {
  const reference = parsePlistReference(input);
  const fresh = parsePlist(asXmldomSees(input));
  const old = reference.result;
  if (fresh.ok && old.ok) return { outcome: isDeepStrictEqual(fresh.value, old.value) ? "both accept" : "values differ", why: "" };
  if (fresh.ok) return { outcome: "new accepts what old refused", why: `${old.ok ? "" : old.error.code} ${old.ok ? "" : old.error.detail}` };
  if (old.ok) {
    const why = stricterReason(fresh.error, reference, decoded(input));
    return why === undefined ? { outcome: "new refuses, undocumented", why: `${fresh.error.code} ${fresh.error.detail}` } : { outcome: "new refuses, documented", why };
  }
  if (fresh.error.code === old.error.code) return { outcome: "both refuse", why: "" };
  // The old reader looked for entity faults first, with regexes over the whole text; the new one
  // reports the first fault it meets, so a document with an earlier fault is refused as invalid.
  if (old.error.code === "plist.entity" && fresh.error.code === "plist.invalid") return { outcome: "both refuse, codes differ", why: "a fault before the entity one" };
  // Those regexes ran with whatever looked like a comment or CDATA section cut out, even where it
  // was none: what they cut, they did not check.
  const text = decoded(input);
  if (old.error.code === "plist.invalid" && fresh.error.code === "plist.entity" && text !== undefined && hiddenFromOldChecks(text)) {
    return { outcome: "both refuse, codes differ", why: cutOutByOldChecks };
  }
  return { outcome: "new refuses, undocumented", why: `codes ${old.error.code} → ${fresh.error.code}: ${fresh.error.detail}` };
}

const RUNS = 600;

describe("parsePlist against the plist@5 + xmldom reader it replaced", () => {
  it("reads every value buildPlist writes, however XML may decorate it, as the old reader and as written", () => {
    let decoratedWithCdataOrComments = 0;
    fc.assert(
      fc.property(valueArb, fc.integer(), fc.boolean(), (value, seed, asBytes) => {
        const plain = buildPlist(value);
        const doc = decorate(plain, rng(seed));
        if (doc.includes("<![CDATA[") || doc.includes("<!--")) decoratedWithCdataOrComments++;
        const input = asBytes ? utf8.encode(doc) : doc;
        const fresh = parsePlist(input);
        expect(fresh).toEqual({ ok: true, value: written(value) });
        expect(fresh).toEqual(parsePlist(plain));
        expect(parsePlistReference(input).result).toEqual(parsePlist(asXmldomSees(input)));
      }),
      { numRuns: RUNS },
    );
    expect(decoratedWithCdataOrComments).toBeGreaterThan(RUNS / 4);
  });

  // Each mutation takes the document and fractions that place it.
  type Mutation = (doc: string, at: number, other: number) => string;
  const snippets = [
    "<", ">", "&", "&x;", "&#0;", "&#x110000;", "&#65;", "]]>", "<!--", "-->", "<![CDATA[", "<?pi x?>", "<!ENTITY x \"y\">", "<!DOCTYPE plist [", "<!doctype plist>",
    "<null/>", "<string>x</string>", "<key>k</key>", "<dict>", "</dict>", "<array>", "</array>", "<dict/>", "</plist>", "<plist>", "<true>t</true>", "<false/>",
    "<integer>1x</integer>", "<integer> 7 </integer>", "<real>1e</real>", "<real>Infinity</real>", "<date>2020</date>", "<date>2020-02-30T00:00:00Z</date>", "<data>A</data>", "<data>AQ</data>",
    "\u0001", "\u00A0", "\u2028", "\uFFFE", "\uD800", "\r", "x", " ", "=", '"', "'", "/", ' a="1"', " a=1", " p:a='1'", "\uFEFF",
  ];
  // What might stand in a scalar's place: Apple's forms, what the old reader also took, and neither.
  const contents = [
    "", " ", "x", "12", " 12 ", "+5", "-0", "12abc", "0x10", "1e3", "1.5", "1.", ".5", "1e", "Infinity", "nan", "&#49;&#x32;",
    "2020-01-01T00:00:00Z", "2020-02-30T00:00:00Z", "2020-01-01T00:00:00.5Z", "2020-01-01t00:00:00z", "2020-01-01T00:00:00", " 2020-01-01T00:00:00Z",
    "AQID", "AQ", "AQ=", "A", "AQ\u00A0ID", "AQ&#160;ID", "AQ&#32;ID", "<![CDATA[5]]>", "<!--c-->5", "5<!--c-->", "<x/>", "<?pi?>5", "\u2028", "a]]>b", "&#0;", "&#xD800;",
  ];
  const tags = (doc: string) => [...doc.matchAll(/<[^<>]*>/g)].map((m) => ({ at: m.index, text: m[0] }));
  const leafText = /(<(string|key|integer|real|date|data|true|false)(?:\s[^>]*)?>)([^<]*)(?=<\/)/g;
  const position = (doc: string, at: number) => Math.floor(at * (doc.length + 1));
  const mutations: readonly (readonly [string, Mutation])[] = [
    ["truncate", (doc, at) => doc.slice(0, position(doc, at))],
    [
      "insert at a tag boundary",
      (doc, at, other) => {
        const all = tags(doc);
        const a = all[Math.floor(at * all.length)];
        if (a === undefined) return doc;
        const where = other < 0.5 ? a.at : a.at + a.text.length;
        return doc.slice(0, where) + (snippets[Math.floor(((other * 2) % 1) * snippets.length)] ?? "") + doc.slice(where);
      },
    ],
    [
      "replace a scalar's text",
      (doc, at, other) => {
        const all = [...doc.matchAll(leafText)];
        const m = all[Math.floor(at * all.length)];
        if (m === undefined) return doc;
        const start = m.index + (m[1] ?? "").length;
        return doc.slice(0, start) + (contents[Math.floor(other * contents.length)] ?? "") + doc.slice(start + (m[3] ?? "").length);
      },
    ],
    ["delete", (doc, at, other) => doc.slice(0, position(doc, at)) + doc.slice(position(doc, at) + Math.floor(other * 12))],
    ["insert", (doc, at, other) => doc.slice(0, position(doc, at)) + (snippets[Math.floor(other * snippets.length)] ?? "") + doc.slice(position(doc, at))],
    ["replace a character", (doc, at, other) => doc.slice(0, position(doc, at)) + (snippets[Math.floor(other * snippets.length)] ?? "") + doc.slice(position(doc, at) + 1)],
    [
      "swap two tags",
      (doc, at, other) => {
        const all = tags(doc);
        const a = all[Math.floor(at * all.length)];
        const b = all[Math.floor(other * all.length)];
        if (a === undefined || b === undefined || a.at === b.at) return doc;
        const [first, second] = a.at < b.at ? [a, b] : [b, a];
        return doc.slice(0, first.at) + second.text + doc.slice(first.at + first.text.length, second.at) + first.text + doc.slice(second.at + second.text.length);
      },
    ],
    [
      "rename a tag",
      (doc, at, other) => {
        const all = tags(doc);
        const a = all[Math.floor(at * all.length)];
        if (a === undefined) return doc;
        const names = ["string", "key", "integer", "real", "date", "data", "true", "false", "array", "dict", "plist", "null", "String", "x:string"];
        return doc.slice(0, a.at) + a.text.replace(/^(<\/?)[^\s/>]*/, `$1${names[Math.floor(other * names.length)] ?? ""}`) + doc.slice(a.at + a.text.length);
      },
    ],
    [
      "nest between two tag boundaries",
      (doc, at, other) => {
        const all = tags(doc);
        const a = all[Math.floor(at * all.length)];
        const b = all[Math.floor(other * all.length)];
        if (a === undefined || b === undefined) return doc;
        const [first, second] = a.at <= b.at ? [a, b] : [b, a];
        const kind = other < 0.5 ? "array" : "dict";
        const end = second.at + second.text.length;
        return `${doc.slice(0, first.at)}<${kind}>${doc.slice(first.at, end)}</${kind}>${doc.slice(end)}`;
      },
    ],
    [
      "nest the value around the depth limit",
      (doc, at) => {
        const n = plistMaxDepth - 3 + Math.floor(at * 6);
        const open = doc.search(/<plist[^>]*>/);
        const close = doc.lastIndexOf("</plist>");
        if (open < 0 || close < open) return doc;
        const afterOpen = doc.indexOf(">", open) + 1;
        return doc.slice(0, afterOpen) + "<array>".repeat(n) + doc.slice(afterOpen, close) + "</array>".repeat(n) + doc.slice(close);
      },
    ],
    ["duplicate a stretch", (doc, at, other) => doc.slice(0, position(doc, Math.max(at, other))) + doc.slice(position(doc, Math.min(at, other))).slice(0, 400) + doc.slice(position(doc, Math.max(at, other)))],
  ];
  // Uniform in [0, 1): fast-check biases integers toward their bounds, and draws doubles evenly
  // over their representations (almost all of them tiny).
  const unit = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);
  const mutationArb = fc.tuple(fc.noBias(fc.integer({ min: 0, max: mutations.length - 1 })), unit, unit);

  it("refuses with the old reader, or accepts with its value, any mutation of a valid document (stricter only for the reasons documented)", () => {
    const tally = new Map<string, number>();
    const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);
    fc.assert(
      fc.property(
        valueArb,
        fc.integer(),
        fc.boolean(),
        fc.array(mutationArb, { minLength: 1, maxLength: 2 }),
        fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(unit, fc.noBias(fc.integer({ min: 0, max: 255 }))) }),
        (value, seed, decorated, steps, byteFlip) => {
          let doc = decorated ? decorate(buildPlist(value), rng(seed)) : buildPlist(value);
          for (const [index, at, other] of steps) doc = mutations[index]?.[1](doc, at, other) ?? doc;
          let input: Uint8Array | string = doc;
          if (byteFlip !== null) {
            const bytes = utf8.encode(doc);
            const [at, byte] = byteFlip;
            if (bytes.length > 0) bytes[Math.floor(at * bytes.length)] = byte;
            input = bytes;
          }
          const { outcome, why } = compare(input);
          count(outcome === "new refuses, documented" || outcome === "both refuse, codes differ" ? `${outcome}: ${why}` : outcome);
          if (outcome === "new accepts what old refused" || outcome === "values differ" || outcome === "new refuses, undocumented") {
            expect.fail(`${outcome} (${why}) on ${JSON.stringify(typeof input === "string" ? input : Array.from(input))}`);
          }
        },
      ),
      { numRuns: RUNS * 3 },
    );
    // The mutations reach every side of the comparison.
    expect(tally.get("both accept") ?? 0).toBeGreaterThan(RUNS / 20);
    expect(tally.get("both refuse") ?? 0).toBeGreaterThan(RUNS / 4);
    expect([...tally.keys()].filter((k) => k.startsWith("new refuses, documented")).length).toBeGreaterThan(2);
  });
});
