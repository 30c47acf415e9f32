// XML property lists: a reader of Apple's XML plist format (no DOM: one pass over the text, linear
// time, iterative, nesting bounded) and a builder in Apple's own layout.
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

/**
 * How deeply `<array>` and `<dict>` may nest. Apple's plists (enroll bodies, check-in messages,
 * profiles) nest a handful of levels; the bound keeps hostile bodies from costing more than that.
 */
export const plistMaxDepth = 64;

/**
 * Parses an XML plist (bytes are decoded as UTF-8). Never throws; linear in the input's length.
 * Refused: binary plists, OpenStep plists, a DOCTYPE internal subset or `<!ENTITY` (entity
 * expansion is an amplification/XXE vector), references to undeclared entities, `<null/>`, integers,
 * reals and dates not written as Apple writes them, and anything that is not a well-formed plist
 * document (XML 1.0: a `<plist>` holding exactly one value). Integers beyond 2^53 lose precision;
 * a repeated dict key keeps the last value.
 */
export function parsePlist(input: Uint8Array | string): Result<PlistValue, PlistError> {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    if (startsWithAscii(input, "bplist")) return err({ code: "plist.binary", detail: "binary plists (bplist00) are not accepted" });
    try {
      text = utf8.decode(input);
    } catch {
      return err({ code: "plist.encoding", detail: "the plist is not valid UTF-8" });
    }
  }
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  if (text.startsWith("bplist")) return err({ code: "plist.binary", detail: "binary plists (bplist00) are not accepted" });
  // "{…" or "(…" would be OpenStep: only XML is a plist here.
  if (!text.trimStart().startsWith("<")) return err({ code: "plist.not-xml", detail: "the plist does not start with an XML tag" });
  try {
    return ok(new PlistReader(text).document());
  } catch (e) {
    if (e instanceof Refusal) return err({ code: e.code, detail: e.detail });
    return err({ code: "plist.invalid", detail: `the plist could not be read (${e instanceof Error ? e.message : "unknown error"})` });
  }
}

// Stateless between calls (no streaming): one for all.
const utf8 = new TextDecoder("utf-8", { fatal: true });

function startsWithAscii(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

// Thrown inside the reader only, caught in parsePlist (not an Error: no stack to capture).
class Refusal {
  constructor(
    readonly code: "plist.entity" | "plist.invalid",
    readonly detail: string,
  ) {}
}

type Frame =
  | { readonly kind: "plist"; value: PlistValue | undefined }
  | { readonly kind: "array"; readonly items: PlistValue[] }
  | { readonly kind: "dict"; readonly entries: { [key: string]: PlistValue }; key: string | undefined };

interface StartTag {
  readonly name: string;
  /** `<name/>`: no content, no end tag. */
  readonly empty: boolean;
}

// Character codes.
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const BANG = 0x21;
const QUOTE = 0x22;
const HASH = 0x23;
const AMP = 0x26;
const APOS = 0x27;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const LT = 0x3c;
const EQUALS = 0x3d;
const GT = 0x3e;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === TAB || c === CR;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

// XML 1.0 (5th ed.) NameStartChar without ":" (names are checked as QNames); a surrogate pair is
// taken as one (U+10000 and up, as xmldom does).
function isNameStartChar(c: number): boolean {
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
  return (
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    (c >= 0x200c && c <= 0x200d) ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd)
  );
}

function isNameChar(c: number): boolean {
  return isNameStartChar(c) || isDigit(c) || c === 0x2d || c === 0x2e || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

// XML 1.0 PubidChar.
const pubidChars = " \r\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'()+,./:=?;!*#@$_%";
const pubidChar: readonly boolean[] = Array.from({ length: 128 }, (_, c) => pubidChars.includes(String.fromCharCode(c)));

function isPubidChar(c: number): boolean {
  return pubidChar[c] === true;
}

function isXmlCodePoint(v: number): boolean {
  return v === TAB || v === LF || v === CR || (v >= 0x20 && v <= 0xd7ff) || (v >= 0xe000 && v <= 0xfffd) || (v >= 0x10000 && v <= 0x10ffff);
}

// Outside XML 1.0's Char (a lone surrogate is): refused wherever it stands. One class per
// character, so one native linear scan.
const notXmlCharacter = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

// In text: what needs resolving (&), normalizing (CR) or checking (">" of "]]>").
const textToLookAt = /[&>\r]/;
// The fast path's text runs: anything but XML Chars below U+D800 other than "&", ">" and CR (such a
// run stands as written), and what it leaves to the general path (U+D800 and up, or not an XML Char).
const flatSpecial = /[^\t\n\x20-\x25\x27-\x3d\x3f-\uD7FF]/;
const beyondFlat = /[^\t\n\r\x20-\uD7FF]/;

const appleProlog = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">';

// Comparing a slice: V8's startsWith goes character by character, ten times slower on this length.
function startsWithAppleProlog(s: string): boolean {
  return s.length >= appleProlog.length && s.slice(0, appleProlog.length) === appleProlog;
}

// The same for the fast path's short tags: a slice and === cost less than half a startsWith here.
function isAt(s: string, i: number, literal: string): boolean {
  return s.slice(i, i + literal.length) === literal;
}

const integerText = /^[+-]?[0-9]+$/;
const realText = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * One pass over the text: the prolog, then `<plist>` and its value with an explicit stack of open
 * `<array>`/`<dict>` elements, then the epilog. Every character is looked at a bounded number of
 * times (indexOf scans never restart from an earlier position).
 */
class PlistReader {
  private pos = 0;
  private readonly end: number;

  constructor(private readonly s: string) {
    this.end = s.length;
  }

  document(): PlistValue {
    // The fast path looks at every character itself: the whole-text check is for the general one.
    const flat = this.flatAppleDict();
    if (flat !== undefined) return flat;
    const forbidden = notXmlCharacter.exec(this.s);
    if (forbidden !== null) this.fail(forbidden.index, "a character XML 1.0 does not allow");
    this.pos = 0;
    this.prolog();
    const value = this.rootElement();
    this.misc("after the root element");
    if (this.pos < this.end && this.s.charCodeAt(this.pos + 1) === BANG) this.markupDeclaration();
    if (this.pos < this.end) this.fail(this.pos, this.s.charCodeAt(this.pos + 1) === SLASH ? "an end tag after the root element" : "an element after the root element");
    return value;
  }

  /**
   * A document exactly as Apple and buildPlist lay out a flat dictionary (check-ins and command
   * reports): the Apple prolog, `<plist version="1.0">`, a `<dict>` of `<key>`s each followed by a
   * `<string>`, `<data>`, `<integer>`, `<real>`, `<date>`, `<true/>` or `<false/>`, whitespace
   * between them, nothing after `</plist>`. Its value, read with the same text and value readers as
   * the general path, so it is what the general path reads; undefined for anything else (or any
   * refusal), which the general path then reads (or refuses) from the start. Every character is
   * either matched literally or in a text run flatRun checks, so no whole-text scan is needed first
   * (test/spec/plist.test.ts compares both paths on generated documents).
   */
  private flatAppleDict(): PlistValue | undefined {
    const s = this.s;
    if (!startsWithAppleProlog(s)) return undefined;
    let i = this.spaceFrom(appleProlog.length);
    if (!isAt(s, i, '<plist version="1.0">')) return undefined;
    i = this.spaceFrom(i + 21);
    if (!isAt(s, i, "<dict>")) return undefined;
    i += 6;
    const entries: { [key: string]: PlistValue } = {};
    try {
      for (;;) {
        i = this.spaceFrom(i);
        if (!isAt(s, i, "<key>")) {
          if (isAt(s, i, "</dict>")) break;
          return undefined;
        }
        const keyEnd = s.indexOf("<", i + 5);
        if (keyEnd < 0 || !isAt(s, keyEnd, "</key>")) return undefined;
        const key = this.flatRun(i + 5, keyEnd, "key");
        if (key === "__proto__") return undefined;
        i = this.spaceFrom(keyEnd + 6);
        const at = i;
        let value: PlistValue;
        // A start tag, "<" included ("Xstring>…" is text, which only the general path refuses).
        if (s.charCodeAt(i) !== LT) return undefined;
        const close = s.indexOf(">", i);
        const name = close < 0 ? "" : s.slice(i + 1, close);
        if (name === "true/" || name === "false/") {
          value = name === "true/";
          i = close + 1;
        } else {
          if (!(name === "string" || name === "data" || name === "integer" || name === "real" || name === "date")) return undefined;
          const end = s.indexOf("<", close + 1);
          if (end < 0 || s.charCodeAt(end + 1) !== SLASH || !isAt(s, end + 2, name) || s.charCodeAt(end + 2 + name.length) !== GT) return undefined;
          const text = this.flatRun(close + 1, end, name);
          if (name === "string") value = text;
          else if (name === "data") value = this.data(text, at);
          else if (name === "integer") value = this.integer(text, at);
          else if (name === "real") value = this.real(text, at);
          else value = this.date(text, at);
          i = end + 3 + name.length;
        }
        entries[key] = value;
      }
    } catch (e) {
      if (e instanceof Refusal) return undefined;
      throw e;
    }
    i = this.spaceFrom(i + 7);
    if (!isAt(s, i, "</plist>")) return undefined;
    return this.spaceFrom(i + 8) === this.end ? entries : undefined;
  }

  /**
   * The fast path's text run [from, to): as textRun reads it when its characters are all XML 1.0
   * Chars below U+D800 (which the path, having matched everything else literally, checks here
   * instead of scanning the whole text); a Refusal otherwise, to leave the rest to the general path.
   */
  private flatRun(from: number, to: number, name: string): string {
    const run = this.s.slice(from, to);
    if (!flatSpecial.test(run)) return run;
    if (beyondFlat.test(run)) this.fail(from, "a character the fast path leaves to the general one");
    return this.textRun(from, to, name);
  }

  /** The first position from `i` on that is not XML whitespace. */
  private spaceFrom(i: number): number {
    while (i < this.end && isSpace(this.s.charCodeAt(i))) i++;
    return i;
  }

  // --- errors -------------------------------------------------------------------------------

  private fail(at: number, what: string): never {
    throw new Refusal("plist.invalid", `${what} (at character ${at})`);
  }

  private failEntity(at: number, what: string): never {
    throw new Refusal("plist.entity", `${what} (at character ${at})`);
  }

  // --- prolog and epilog --------------------------------------------------------------------

  private prolog(): void {
    const s = this.s;
    let doctype = false;
    if (startsWithAppleProlog(s)) {
      // What Apple (and buildPlist) write, well-formed as it stands: no need to read it piece by piece.
      this.pos = appleProlog.length;
      doctype = true;
    } else if (s.startsWith("<?xml", 0) && (isSpace(s.charCodeAt(5)) || s.charCodeAt(5) === QUESTION)) {
      this.xmlDeclaration();
    }
    for (;;) {
      this.misc("before the root element");
      if (this.pos >= this.end) this.fail(this.pos, "no root element");
      // misc() stops at "<" followed by anything but a comment or a processing instruction.
      if (s.charCodeAt(this.pos + 1) !== BANG) return;
      if (doctype || !s.startsWith("<!DOCTYPE", this.pos)) this.markupDeclaration();
      this.doctype();
      doctype = true;
    }
  }

  // `<?xml version="1.x" encoding="…" standalone="yes|no"?>`, in that order, as XML 1.0 has it.
  private xmlDeclaration(): void {
    const s = this.s;
    const start = this.pos;
    this.pos += 5;
    let seen = 0; // 0: nothing yet, 1: version, 2: encoding, 3: standalone
    for (;;) {
      const spaced = this.skipSpace();
      if (s.startsWith("?>", this.pos)) {
        this.pos += 2;
        if (seen === 0) this.fail(start, "an XML declaration without a version");
        return;
      }
      if (!spaced) this.fail(this.pos, "the XML declaration is not well-formed");
      if (seen === 0 && s.startsWith("version", this.pos)) {
        this.pos += 7;
        if (!/^1\.[0-9]+$/.test(this.declarationValue())) this.fail(start, "an XML version other than 1.x");
        seen = 1;
      } else if (seen === 1 && s.startsWith("encoding", this.pos)) {
        this.pos += 8;
        if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(this.declarationValue())) this.fail(start, "the XML declaration names no valid encoding");
        seen = 2;
      } else if (seen >= 1 && seen < 3 && s.startsWith("standalone", this.pos)) {
        this.pos += 10;
        const value = this.declarationValue();
        if (value !== "yes" && value !== "no") this.fail(start, "the XML declaration's standalone is neither yes nor no");
        seen = 3;
      } else {
        this.fail(this.pos, "the XML declaration is not well-formed");
      }
    }
  }

  // `S? = S? "value"` (or 'value'); values here are short ASCII words.
  private declarationValue(): string {
    this.skipSpace();
    if (this.s.charCodeAt(this.pos) !== EQUALS) this.fail(this.pos, "the XML declaration is not well-formed");
    this.pos++;
    this.skipSpace();
    const quote = this.s.charCodeAt(this.pos);
    if (quote !== QUOTE && quote !== APOS) this.fail(this.pos, "the XML declaration is not well-formed");
    const close = this.s.indexOf(quote === QUOTE ? '"' : "'", this.pos + 1);
    if (close < 0 || close - this.pos > 64) this.fail(this.pos, "the XML declaration is not well-formed");
    const value = this.s.slice(this.pos + 1, close);
    this.pos = close + 1;
    return value;
  }

  // `<!DOCTYPE name>`, `<!DOCTYPE name SYSTEM "…">`, `<!DOCTYPE name PUBLIC "…" "…">`.
  private doctype(): void {
    const s = this.s;
    const start = this.pos;
    this.internalSubset(start);
    this.pos += 9;
    if (!this.skipSpace()) this.fail(this.pos, "the DOCTYPE is not well-formed");
    this.name("the DOCTYPE's root element name");
    let spaced = this.skipSpace();
    if (s.charCodeAt(this.pos) !== GT) {
      let literals = 0;
      if (spaced && s.startsWith("SYSTEM", this.pos)) literals = 1;
      else if (spaced && s.startsWith("PUBLIC", this.pos)) literals = 2;
      else this.fail(this.pos, "the DOCTYPE is not well-formed");
      this.pos += 6;
      for (let i = literals; i > 0; i--) {
        if (!this.skipSpace()) this.fail(this.pos, "the DOCTYPE is not well-formed");
        this.doctypeLiteral(i === 2);
      }
      spaced = this.skipSpace();
      if (s.charCodeAt(this.pos) !== GT) this.fail(start, "the DOCTYPE is not well-formed");
    }
    this.pos++;
  }

  // A public or system identifier in quotes. A system identifier may hold any character but its
  // quote in XML; "<" and "&" are refused here, being markup the old reader looked into.
  private doctypeLiteral(publicId: boolean): void {
    const s = this.s;
    const quote = s.charCodeAt(this.pos);
    if (quote !== QUOTE && quote !== APOS) this.fail(this.pos, "the DOCTYPE is not well-formed");
    this.pos++;
    for (;;) {
      if (this.pos >= this.end) this.fail(this.pos, "an unterminated DOCTYPE");
      const c = s.charCodeAt(this.pos);
      if (c === quote) break;
      if (publicId && !isPubidChar(c)) this.fail(this.pos, "the DOCTYPE's public identifier holds a character it may not");
      if (!publicId && (c === LT || c === AMP)) this.fail(this.pos, `the DOCTYPE's system identifier holds "${c === LT ? "<" : "&"}"`);
      this.pos++;
    }
    this.pos++;
  }

  /**
   * At `<!` that is not a comment (nor CDATA where CDATA is read): refuses it, as an entity
   * declaration or a DOCTYPE internal subset if it is one (the amplification/XXE vectors get their
   * own code), else as misplaced markup.
   */
  private markupDeclaration(): never {
    const s = this.s;
    const at = this.pos;
    const word = s.slice(at + 2, at + 9).toUpperCase();
    if (word.startsWith("ENTITY")) this.failEntity(at, "an entity declaration is not accepted");
    if (word === "DOCTYPE") {
      this.internalSubset(at);
      if (!s.startsWith("<!DOCTYPE", at)) this.fail(at, "<!DOCTYPE in lower case");
      this.fail(at, "a second DOCTYPE, or one after the prolog");
    }
    if (s.startsWith("<![CDATA[", at)) this.fail(at, "CDATA outside <string>");
    this.fail(at, "markup that is not a plist's");
  }

  // Refuses the DOCTYPE at `at` if it has an internal subset: a "[" before its first ">" (quotes
  // not considered, as the old reader's check had it).
  private internalSubset(at: number): void {
    const s = this.s;
    for (let i = at + 9; i < this.end; i++) {
      const c = s.charCodeAt(i);
      if (c === LBRACKET) this.failEntity(at, "a DOCTYPE internal subset is not accepted");
      if (c === GT) return;
    }
  }

  /** Skips whitespace and comments; refuses text and processing instructions. Stops at any other `<` or at the end. */
  private misc(where: string): void {
    const s = this.s;
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.end) return;
      const c = s.charCodeAt(this.pos);
      if (c === LT) {
        const next = s.charCodeAt(this.pos + 1);
        if (next === BANG && s.startsWith("<!--", this.pos)) {
          this.comment();
          continue;
        }
        if (next === QUESTION) this.fail(this.pos, "a processing instruction");
        return;
      }
      this.text(where);
    }
  }

  // Text where only whitespace may be: refused (an undeclared entity as one, as the old reader did).
  private text(where: string): never {
    if (this.s.charCodeAt(this.pos) === AMP) this.reference();
    this.fail(this.pos, `text ${where}`);
  }

  // --- the plist ----------------------------------------------------------------------------

  private rootElement(): PlistValue {
    const s = this.s;
    const rootAt = this.pos;
    const root = this.startTag();
    if (root.name !== "plist") this.fail(rootAt, `the root element is <${shown(root.name)}>, not <plist>`);
    if (root.empty) this.fail(rootAt, "<plist/> holds no value");
    const stack: Frame[] = [{ kind: "plist", value: undefined }];
    let depth = 0; // open <array>s and <dict>s
    for (;;) {
      const frame = stack[stack.length - 1];
      if (frame === undefined) this.fail(this.pos, "no open element");
      this.misc(insideOf[frame.kind]);
      if (this.pos >= this.end) this.fail(this.pos, `an unterminated <${frame.kind}>`);
      const at = this.pos;
      const next = s.charCodeAt(at + 1);
      if (next === SLASH) {
        this.endTag(frame.kind);
        stack.pop();
        let value: PlistValue;
        if (frame.kind === "plist") {
          if (frame.value === undefined) this.fail(at, "<plist> holds no value");
          return frame.value;
        } else if (frame.kind === "dict") {
          if (frame.key !== undefined) this.fail(at, `<key>${shown(frame.key)}</key> without a value`);
          value = frame.entries;
        } else {
          value = frame.items;
        }
        depth--;
        const parent = stack[stack.length - 1];
        if (parent === undefined) this.fail(at, "no open element");
        this.place(parent, value, at);
        continue;
      }
      if (next === BANG) this.markupDeclaration();
      const tag = this.startTag();
      if (frame.kind === "dict") {
        if (frame.key === undefined) {
          if (tag.name !== "key") this.fail(at, `<${shown(tag.name)}> where a <dict> expects a <key>`);
          const key = tag.empty ? "" : this.content("key", false);
          if (key === "__proto__") this.fail(at, "a __proto__ key");
          frame.key = key;
          continue;
        }
        if (tag.name === "key") this.fail(at, `<key> where a <dict> expects the value of <key>${shown(frame.key)}</key>`);
      } else if (frame.kind === "plist" && frame.value !== undefined) {
        this.fail(at, "<plist> holds more than one value");
      }
      let value: PlistValue;
      switch (tag.name) {
        case "dict":
        case "array":
          if (depth >= plistMaxDepth) this.fail(at, `arrays and dictionaries nested deeper than ${plistMaxDepth} levels`);
          if (tag.empty) {
            value = tag.name === "dict" ? {} : [];
            break;
          }
          depth++;
          stack.push(tag.name === "dict" ? { kind: "dict", entries: {}, key: undefined } : { kind: "array", items: [] });
          continue;
        case "string":
          value = tag.empty ? "" : this.content("string", true);
          break;
        case "integer":
          value = this.integer(tag.empty ? "" : this.content("integer", false), at);
          break;
        case "real":
          value = this.real(tag.empty ? "" : this.content("real", false), at);
          break;
        case "date":
          value = this.date(tag.empty ? "" : this.content("date", false), at);
          break;
        case "data":
          value = this.data(tag.empty ? "" : this.content("data", false), at);
          break;
        case "true":
        case "false":
          if (!tag.empty) this.emptyContent(tag.name);
          value = tag.name === "true";
          break;
        default:
          if (tag.name === "key") this.fail(at, `<key> inside <${frame.kind}>`);
          if (tag.name === "null") this.fail(at, "<null/> is not a plist type");
          this.fail(at, `<${shown(tag.name)}> is not a plist element`);
      }
      this.place(frame, value, at);
    }
  }

  private place(frame: Frame, value: PlistValue, at: number): void {
    if (frame.kind === "array") {
      frame.items.push(value);
    } else if (frame.kind === "dict") {
      if (frame.key === undefined) this.fail(at, "a value without a <key>");
      frame.entries[frame.key] = value;
      frame.key = undefined;
    } else {
      frame.value = value;
    }
  }

  // --- tags ---------------------------------------------------------------------------------

  // At "<": the element's name, its attributes (checked, values ignored), "/>" or ">".
  private startTag(): StartTag {
    const s = this.s;
    const at = this.pos;
    let i = at + 1;
    while (i < this.end) {
      const c = s.charCodeAt(i);
      if (isSpace(c) || c === GT || c === SLASH) break;
      i++;
    }
    const name = s.slice(at + 1, i);
    if (name.length === 0) this.fail(at, "a tag without a name");
    this.pos = i;
    let attributes: string | Set<string> | undefined;
    for (;;) {
      const spaced = this.skipSpace();
      if (this.pos >= this.end) this.fail(at, `an unterminated <${shown(name)}> tag`);
      const c = s.charCodeAt(this.pos);
      if (c === GT) {
        this.pos++;
        return { name, empty: false };
      }
      if (c === SLASH) {
        if (s.charCodeAt(this.pos + 1) !== GT) this.fail(this.pos, `a "/" not followed by ">" in the <${shown(name)}> tag`);
        this.pos += 2;
        return { name, empty: true };
      }
      if (!spaced) this.fail(this.pos, `the <${shown(name)}> tag is not well-formed`);
      const attribute = this.attribute(name);
      if (attributes === undefined) {
        attributes = attribute;
      } else {
        if (typeof attributes === "string") attributes = new Set([attributes]);
        if (attributes.has(attribute)) this.fail(at, `<${shown(name)}> repeats the attribute ${shown(attribute)}`);
        attributes.add(attribute);
      }
    }
  }

  // `name S? = S? "value"`; the value's references are checked, the value itself is not kept.
  private attribute(element: string): string {
    const s = this.s;
    const at = this.pos;
    const name = this.name(`an attribute of <${element}>`);
    const colon = name.indexOf(":");
    // Prefixes would need namespace bookkeeping; a plist has none but xmlns declarations.
    if (colon >= 0 && name.slice(0, colon) !== "xmlns" && name.slice(0, colon) !== "xml") this.fail(at, `a namespace-prefixed attribute ${shown(name)}`);
    this.skipSpace();
    if (s.charCodeAt(this.pos) !== EQUALS) this.fail(this.pos, `the attribute ${shown(name)} has no value`);
    this.pos++;
    this.skipSpace();
    const quote = s.charCodeAt(this.pos);
    if (quote !== QUOTE && quote !== APOS) this.fail(this.pos, `the attribute ${shown(name)}'s value is not quoted`);
    this.pos++;
    for (;;) {
      if (this.pos >= this.end) this.fail(at, `an unterminated attribute ${shown(name)}`);
      const c = s.charCodeAt(this.pos);
      if (c === quote) break;
      if (c === LT) this.fail(this.pos, `a "<" in the attribute ${shown(name)}`);
      if (c === AMP) this.reference();
      else this.pos++;
    }
    this.pos++;
    return name;
  }

  // An XML QName (NCName, or NCName:NCName).
  private name(what: string): string {
    const s = this.s;
    const at = this.pos;
    let colons = 0;
    let startOfPart = true;
    while (this.pos < this.end) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x3a) {
        if (startOfPart || colons > 0) this.fail(at, `${what} is not a valid name`);
        colons++;
        startOfPart = true;
        this.pos++;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = s.charCodeAt(this.pos + 1);
        if (!(d >= 0xdc00 && d <= 0xdfff)) break;
        this.pos += 2;
      } else if (startOfPart ? isNameStartChar(c) : isNameChar(c)) {
        this.pos++;
      } else {
        break;
      }
      startOfPart = false;
    }
    if (this.pos === at || startOfPart) this.fail(at, `${what} is not a valid name`);
    return s.slice(at, this.pos);
  }

  // At "</": the end tag of `name`.
  private endTag(name: string): void {
    const s = this.s;
    const at = this.pos;
    if (!s.startsWith(name, at + 2)) this.fail(at, `an end tag that does not close <${name}>`);
    this.pos = at + 2 + name.length;
    this.skipSpace();
    if (s.charCodeAt(this.pos) !== GT) this.fail(at, `an end tag that does not close <${name}>`);
    this.pos++;
  }

  // --- content ------------------------------------------------------------------------------

  /**
   * The text of `<name>…</name>` through its end tag, references resolved and line ends
   * normalized (CR LF and CR become LF, XML 1.0 §2.11). CDATA and comments only in `<string>`;
   * elsewhere the content is text alone (the old reader took only its first node).
   */
  private content(name: string, markup: boolean): string {
    const s = this.s;
    let out = "";
    let i = this.pos;
    for (;;) {
      const lt = s.indexOf("<", i);
      if (lt < 0) this.fail(i, `an unterminated <${name}>`);
      if (lt > i) out += this.textRun(i, lt, name);
      this.pos = lt;
      const next = s.charCodeAt(lt + 1);
      if (next === SLASH) {
        this.endTag(name);
        return out;
      }
      if (next === BANG && s.startsWith("<!--", lt)) {
        if (!markup) this.fail(lt, `a comment inside <${name}>`);
        this.comment();
      } else if (next === BANG && s.startsWith("<![CDATA[", lt)) {
        if (!markup) this.fail(lt, `CDATA inside <${name}>`);
        out += this.cdata();
      } else if (next === BANG) {
        this.markupDeclaration();
      } else {
        this.fail(lt, `markup inside <${name}>`);
      }
      i = this.pos;
    }
  }

  /** Text between markup, [from, to): as is when it holds nothing to resolve or refuse (one native test), else character by character. */
  private textRun(from: number, to: number, name: string): string {
    const s = this.s;
    const run = s.slice(from, to);
    if (!textToLookAt.test(run)) return run;
    let out = "";
    let start = from;
    let i = from;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c === AMP) {
        out += s.slice(start, i);
        this.pos = i;
        out += this.reference();
        start = i = this.pos;
      } else if (c === CR) {
        out += s.slice(start, i) + "\n";
        i += s.charCodeAt(i + 1) === LF ? 2 : 1;
        start = i;
      } else {
        if (c === GT && s.charCodeAt(i - 1) === RBRACKET && s.charCodeAt(i - 2) === RBRACKET) this.fail(i - 2, `"]]>" in the text of <${name}>`);
        i++;
      }
    }
    return out + s.slice(start, to);
  }

  // The content of <true> or <false> written with an end tag: whitespace and comments only.
  private emptyContent(name: string): void {
    this.misc(`inside <${name}>`);
    if (this.s.charCodeAt(this.pos + 1) === BANG) this.markupDeclaration();
    if (this.s.charCodeAt(this.pos + 1) !== SLASH) this.fail(this.pos, `content inside <${name}>`);
    this.endTag(name);
  }

  // At "<!--": skips the comment ("--" may not occur inside, XML 1.0 §2.5).
  private comment(): void {
    const at = this.pos;
    const close = this.s.indexOf("--", at + 4);
    if (close < 0) this.fail(at, "an unterminated comment");
    if (this.s.charCodeAt(close + 2) !== GT) this.fail(close, `"--" inside a comment`);
    this.pos = close + 3;
  }

  // At "<![CDATA[": the section's text, line ends normalized.
  private cdata(): string {
    const at = this.pos;
    const close = this.s.indexOf("]]>", at + 9);
    if (close < 0) this.fail(at, "an unterminated CDATA section");
    this.pos = close + 3;
    const text = this.s.slice(at + 9, close);
    return text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
  }

  /**
   * At "&": the character a predefined entity or a character reference stands for. Any other
   * reference names an entity that is not declared (none can be): refused as an entity.
   */
  private reference(): string {
    const s = this.s;
    const at = this.pos;
    if (s.charCodeAt(at + 1) === HASH) {
      const hex = s.charCodeAt(at + 2) === 0x78;
      let i = hex ? at + 3 : at + 2;
      const first = i;
      let value = 0;
      for (; i < this.end; i++) {
        const c = s.charCodeAt(i);
        let digit: number;
        if (isDigit(c)) digit = c - 0x30;
        else if (hex && c >= 0x61 && c <= 0x66) digit = c - 0x57;
        else if (hex && c >= 0x41 && c <= 0x46) digit = c - 0x37;
        else break;
        value = Math.min(value * (hex ? 16 : 10) + digit, 0x110000);
      }
      if (i === first || s.charCodeAt(i) !== SEMICOLON) this.failEntity(at, "only the predefined XML entities and character references are accepted");
      if (!isXmlCodePoint(value)) this.fail(at, "a character reference to a character XML 1.0 does not allow");
      this.pos = i + 1;
      return String.fromCodePoint(value);
    }
    for (const [name, char] of predefinedEntities) {
      if (s.startsWith(name, at + 1)) {
        this.pos = at + 1 + name.length;
        return char;
      }
    }
    this.failEntity(at, "only the predefined XML entities and character references are accepted");
  }

  /** Skips XML whitespace; tells whether there was any. */
  private skipSpace(): boolean {
    const start = this.pos;
    while (this.pos < this.end && isSpace(this.s.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }

  // --- scalar values ------------------------------------------------------------------------

  // Decimal, optional sign, whitespace around allowed (what parseInt took, without its trailing junk).
  private integer(text: string, at: number): number {
    const trimmed = trimSpace(text);
    if (!integerText.test(trimmed)) this.fail(at, `<integer>${excerpt(text)}</integer> is not a decimal integer`);
    return Number.parseInt(trimmed, 10);
  }

  private real(text: string, at: number): number {
    const trimmed = trimSpace(text);
    if (!realText.test(trimmed)) this.fail(at, `<real>${excerpt(text)}</real> is not a decimal number`);
    return Number.parseFloat(trimmed);
  }

  // ISO 8601 in UTC to the second, as Apple writes it ("2023-08-06T07:40:58Z"; years beyond 0–9999
  // as ±YYYYYY, as toISOString writes them): exactly the form the Date prints back.
  private date(text: string, at: number): Date {
    const date = text.length <= 32 && text.endsWith("Z") ? new Date(text) : undefined;
    if (date === undefined || Number.isNaN(date.getTime()) || date.toISOString() !== `${text.slice(0, -1)}.000Z`) {
      this.fail(at, `<date>${excerpt(text)}</date> is not a date in the form 2023-08-06T07:40:58Z`);
    }
    return date;
  }

  // Base64 with whitespace anywhere, decoded as the old reader did: atob (forgiving-base64).
  private data(text: string, at: number): Uint8Array {
    let binary: string;
    try {
      binary = atob(text);
    } catch {
      this.fail(at, "<data> is not base64");
    }
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
}

// misc()'s "where", made once.
const insideOf: Readonly<Record<Frame["kind"], string>> = { plist: "inside <plist>", dict: "inside <dict>", array: "inside <array>" };

const predefinedEntities: readonly (readonly [string, string])[] = [
  ["amp;", "&"],
  ["lt;", "<"],
  ["gt;", ">"],
  ["quot;", '"'],
  ["apos;", "'"],
];

function trimSpace(text: string): string {
  let from = 0;
  let to = text.length;
  while (from < to && isSpace(text.charCodeAt(from))) from++;
  while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
  return text.slice(from, to);
}

function shown(name: string): string {
  return name.length > 40 ? `${name.slice(0, 40)}…` : name;
}

function excerpt(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
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
