// XML property lists: parsing (plist@5 over xmldom) and building (Apple's own layout).
import * as plist from "plist";
import { err, ok, type Result } from "./result.ts";

/**
 * A property-list value as parsed and built here:
 * `<string>` string, `<integer>`/`<real>` number, `<true/>`/`<false/>` boolean,
 * `<date>` Date, `<data>` Uint8Array (never Buffer), `<array>` array, `<dict>` plain object.
 * `<null/>` is not an Apple type and is refused.
 */
export type PlistValue = string | number | boolean | Date | Uint8Array | PlistValue[] | { [key: string]: PlistValue };

export interface PlistError {
  readonly code: "plist.binary" | "plist.not-xml" | "plist.encoding" | "plist.entity" | "plist.invalid";
  readonly detail: string;
}

const predefinedEntity = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)/;

/**
 * How deeply `<array>` and `<dict>` may nest. Apple's plists (enroll bodies, check-in messages,
 * profiles) nest a handful of levels; without a bound, a body of nested `<array>`s overflows the
 * stack of the recursive readers (a RangeError, not a parse error).
 */
export const plistMaxDepth = 64;

/**
 * Parses an XML plist (bytes are decoded as UTF-8). Never throws.
 * Refused: binary plists, OpenStep plists, a DOCTYPE internal subset or `<!ENTITY` (entity
 * expansion is an amplification/XXE vector; xmldom 0.9 does not expand them today, we don't rely on
 * it), references to undeclared entities, `<null/>`, integers that aren't numbers, invalid dates.
 * Integers beyond 2^53 lose precision; a repeated dict key keeps the last value.
 */
export function parsePlist(input: Uint8Array | string): Result<PlistValue, PlistError> {
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

const header =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
  '<plist version="1.0">\n';

/**
 * Builds an XML plist in Apple's layout (tab indent, root element unindented), so a dict of
 * strings comes out byte-identical to what a device writes. Never throws; for values no plist can
 * hold: characters XML 1.0 forbids become U+FFFD, non-finite reals are written as Apple does
 * (nan, +infinity, -infinity), and an Invalid Date (a caller bug) becomes an empty <date></date>,
 * which every parser refuses, so the mistake shows up where the plist is read.
 */
export function buildPlist(value: PlistValue): string {
  const lines: string[] = [];
  writeValue(value, 0, lines);
  return `${header}${lines.join("\n")}\n</plist>\n`;
}

function writeValue(value: PlistValue, depth: number, lines: string[]): void {
  const pad = "\t".repeat(depth);
  if (typeof value === "string") {
    lines.push(`${pad}<string>${escapeText(value)}</string>`);
  } else if (typeof value === "boolean") {
    lines.push(`${pad}<${value ? "true" : "false"}/>`);
  } else if (typeof value === "number") {
    lines.push(`${pad}${formatNumber(value)}`);
  } else if (value instanceof Date) {
    const t = value.getTime();
    lines.push(`${pad}<date>${Number.isNaN(t) ? "" : value.toISOString().replace(/\.\d{3}Z$/, "Z")}</date>`);
  } else if (value instanceof Uint8Array) {
    lines.push(`${pad}<data>${toBase64(value)}</data>`);
  } else if (Array.isArray(value)) {
    if (value.length === 0) {
      lines.push(`${pad}<array/>`);
      return;
    }
    lines.push(`${pad}<array>`);
    for (const item of value) writeValue(item, depth + 1, lines);
    lines.push(`${pad}</array>`);
  } else {
    const entries = Object.entries(value).filter((e): e is [string, PlistValue] => e[1] !== undefined);
    if (entries.length === 0) {
      lines.push(`${pad}<dict/>`);
      return;
    }
    lines.push(`${pad}<dict>`);
    for (const [key, item] of entries) {
      lines.push(`${pad}\t<key>${escapeText(key)}</key>`);
      writeValue(item, depth + 1, lines);
    }
    lines.push(`${pad}</dict>`);
  }
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "<real>nan</real>";
  if (!Number.isFinite(n)) return `<real>${n > 0 ? "+infinity" : "-infinity"}</real>`;
  // BigInt avoids "1e+21", which a reader would take as 1.
  if (Number.isInteger(n)) return `<integer>${BigInt(n).toString()}</integer>`;
  return `<real>${String(n)}</real>`;
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

function escapeText(s: string): string {
  return s
    .replace(notXmlChar, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    // A raw CR would be read back as LF.
    .replace(/\r/g, "&#13;");
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
