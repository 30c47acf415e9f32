// The XML plist reader spec/plist.ts used before its own reader (plist@5 over @xmldom/xmldom),
// kept verbatim for the tests only: test/spec/plist.property.test.ts checks the new reader against
// it. Besides the result it returns what xmldom reported while recovering from malformed XML
// (xmldom logs those on console.error and carries on, so the old reader accepted such documents).
import * as plist from "plist";
import { plistMaxDepth, type PlistError, type PlistValue } from "../../spec/plist.ts";
import { err, ok, type Result } from "../../spec/result.ts";

export interface ReferenceParse {
  readonly result: Result<PlistValue, PlistError>;
  /** xmldom's "[xmldom error]"/"[xmldom warning]" reports during the parse (none: xmldom saw no fault). */
  readonly xmldomReports: readonly string[];
}

/** The old `parsePlist`, with xmldom's console reports captured instead of printed. */
export function parsePlistReference(input: Uint8Array | string): ReferenceParse {
  const reports: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    reports.push(args.map(String).join(" "));
  };
  try {
    return { result: parsePlistOld(input), xmldomReports: reports };
  } finally {
    console.error = original;
  }
}

const predefinedEntity = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)/;

/** The old `parsePlist` exactly (xmldom's reports go to console.error, as they did). */
export function parsePlistOld(input: Uint8Array | string): Result<PlistValue, PlistError> {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    if (startsWithAscii(input, "bplist")) return err({ code: "plist.binary", detail: "binary plists (bplist00) are not accepted" });
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      return err({ code: "plist.encoding", detail: "the plist is not valid UTF-8" });
    }
  }
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  if (text.startsWith("bplist")) return err({ code: "plist.binary", detail: "binary plists (bplist00) are not accepted" });
  // plist.parse would read "{…" or "(…" as OpenStep: only XML is a plist here.
  if (!text.trimStart().startsWith("<")) return err({ code: "plist.not-xml", detail: "the plist does not start with an XML tag" });

  // Comments and CDATA can legally hold these characters; they are not markup.
  const markup = text.replace(/<!--[\s\S]*?-->/g, "").replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, "");
  if (/<!ENTITY/i.test(markup) || /<!DOCTYPE[^>[]*\[/i.test(markup)) {
    return err({ code: "plist.entity", detail: "a DOCTYPE internal subset or entity declaration is not accepted" });
  }
  if (predefinedEntity.test(markup)) {
    return err({ code: "plist.entity", detail: "only the predefined XML entities and character references are accepted" });
  }

  const depth = nestingDepth(markup);
  if (depth > plistMaxDepth) return err({ code: "plist.invalid", detail: `arrays and dictionaries nested deeper than ${plistMaxDepth} levels` });

  let parsed: unknown;
  try {
    parsed = plist.parse(text);
  } catch (e) {
    return err({ code: "plist.invalid", detail: e instanceof Error ? e.message : "the plist could not be parsed" });
  }
  return toPlistValue(parsed, "$", 0);
}

/**
 * Whether the old reader's entity checks (regexes over the text, run before parsing) find a fault:
 * as it ran them, with what looks like a comment or CDATA section cut out first, or over the whole
 * text (`cutOut` false), to tell what that cutting hid.
 */
export function oldEntityChecksFail(text: string, cutOut = true): boolean {
  const markup = cutOut ? text.replace(/<!--[\s\S]*?-->/g, "").replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, "") : text;
  return /<!ENTITY/i.test(markup) || /<!DOCTYPE[^>[]*\[/i.test(markup) || predefinedEntity.test(markup);
}

/** The deepest nesting of `<array>` and `<dict>` elements in the markup (self-closing ones don't nest). */
function nestingDepth(markup: string): number {
  let depth = 0;
  let deepest = 0;
  for (const tag of markup.matchAll(/<(\/?)(?:array|dict)\b[^>]*>/g)) {
    if (tag[1] === "/") depth = Math.max(0, depth - 1);
    else if (!tag[0].endsWith("/>")) deepest = Math.max(deepest, ++depth);
  }
  return deepest;
}

function startsWithAscii(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

// Re-checks the library's output: it yields NaN for a bad <integer>, an Invalid Date for a bad
// <date>, null for <null/>, none of which is a plist value, and strings with characters XML 1.0
// forbids; as a second bound after nestingDepth, it never recurses past plistMaxDepth.
function toPlistValue(value: unknown, path: string, depth: number): Result<PlistValue, PlistError> {
  if (typeof value === "string") return hasNonXmlChar(value) ? invalidAt(path, "a character XML 1.0 does not allow") : ok(value);
  if (typeof value === "boolean") return ok(value);
  if (typeof value === "number") return Number.isNaN(value) ? invalidAt(path, "not a number") : ok(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? invalidAt(path, "invalid date") : ok(value);
  if (value instanceof Uint8Array) return ok(Uint8Array.from(value));
  if ((Array.isArray(value) || (typeof value === "object" && value !== null)) && depth >= plistMaxDepth) {
    return invalidAt(path, `nested deeper than ${plistMaxDepth} levels`);
  }
  if (Array.isArray(value)) {
    const out: PlistValue[] = [];
    for (const [i, item] of value.entries()) {
      const r = toPlistValue(item, `${path}[${i}]`, depth + 1);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return ok(out);
  }
  if (typeof value === "object" && value !== null) {
    const out: { [key: string]: PlistValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === "__proto__") return invalidAt(path, "__proto__ key");
      if (hasNonXmlChar(key)) return invalidAt(path, "a key holds a character XML 1.0 does not allow");
      const r = toPlistValue(item, `${path}.${key}`, depth + 1);
      if (!r.ok) return r;
      out[key] = r.value;
    }
    return ok(out);
  }
  return invalidAt(path, value === null ? "<null/> is not a plist type" : `unexpected ${typeof value}`);
}

// Outside XML 1.0 Char: C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF.
const notXmlChar = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function invalidAt(path: string, what: string): Result<never, PlistError> {
  return err({ code: "plist.invalid", detail: `${path}: ${what}` });
}

function hasNonXmlChar(s: string): boolean {
  notXmlChar.lastIndex = 0;
  return notXmlChar.test(s);
}
