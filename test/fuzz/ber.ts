// A small BER reader and re-encoder for the fuzz tests: it takes the real enroll body apart and
// writes it back with other, equally valid, BER choices (definite or indefinite lengths, long-form
// lengths with leading zeros, the eContent OCTET STRING cut into nested constructed segments), and
// it builds arbitrary TLV trees. Test support only: no checks beyond what the tests need.

export interface BerNode {
  /** The identifier octets as received (class, constructed bit, tag number). */
  readonly tag: Uint8Array;
  readonly constructed: boolean;
  readonly indefinite: boolean;
  readonly start: number;
  readonly contentStart: number;
  readonly contentEnd: number;
  readonly end: number;
  readonly children: readonly BerNode[];
}

/** Reads one element (and, for a constructed one, its children); throws on anything malformed. */
export function readBer(buf: Uint8Array, pos = 0, limit = buf.length): BerNode {
  let p = pos;
  const next = (): number => {
    if (p >= limit) throw new Error(`truncated at ${pos}`);
    return buf[p++] ?? 0;
  };
  const first = next();
  if ((first & 0x1f) === 0x1f) while ((next() & 0x80) !== 0);
  const tag = buf.slice(pos, p);
  const constructed = (first & 0x20) !== 0;
  const l0 = next();
  if (l0 === 0x80) {
    const contentStart = p;
    const children: BerNode[] = [];
    while (!(buf[p] === 0 && buf[p + 1] === 0)) {
      const child = readBer(buf, p, limit);
      children.push(child);
      p = child.end;
    }
    return { tag, constructed, indefinite: true, start: pos, contentStart, contentEnd: p, end: p + 2, children };
  }
  let length = l0;
  if (l0 > 0x80) {
    length = 0;
    for (let i = 0; i < (l0 & 0x7f); i++) length = length * 256 + next();
  }
  const contentStart = p;
  const contentEnd = p + length;
  const children: BerNode[] = [];
  if (constructed) {
    for (let q = contentStart; q < contentEnd; ) {
      const child = readBer(buf, q, contentEnd);
      children.push(child);
      q = child.end;
    }
  }
  return { tag, constructed, indefinite: false, start: pos, contentStart, contentEnd, end: contentEnd, children };
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** How a re-encoded length is written. */
export type LengthForm = "minimal" | "padded" | "indefinite";

export function encodeLength(length: number, form: Exclude<LengthForm, "indefinite">): Uint8Array {
  if (form === "minimal" && length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let v = length; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  // "padded": two needless leading zero octets, still valid BER (not DER).
  if (form === "padded") bytes.unshift(0, 0);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** A TLV with the given identifier octets around `content` (a constructed one gets its bit set). */
export function tlv(tag: Uint8Array | number, content: Uint8Array, form: LengthForm = "minimal"): Uint8Array {
  const t = typeof tag === "number" ? Uint8Array.of(tag) : tag;
  if (form === "indefinite") return concat([t, Uint8Array.of(0x80), content, Uint8Array.of(0, 0)]);
  return concat([t, encodeLength(content.length, form), content]);
}

/** A source of small choices, cycled (fast-check gives the numbers, so runs shrink and replay). */
export class Choices {
  #i = 0;
  constructor(private readonly values: readonly number[]) {}
  pick<T>(options: readonly T[]): T {
    const v = this.values.length === 0 ? 0 : (this.values[this.#i++ % this.values.length] ?? 0);
    return options[v % options.length] as T;
  }
  int(max: number): number {
    const v = this.values.length === 0 ? 0 : (this.values[this.#i++ % this.values.length] ?? 0);
    return max <= 0 ? 0 : v % (max + 1);
  }
}

function withConstructedBit(tag: Uint8Array): Uint8Array {
  const t = tag.slice();
  t[0] = (t[0] ?? 0) | 0x20;
  return t;
}

/** The value of an OCTET STRING, primitive or constructed (segments concatenated). */
export function octets(buf: Uint8Array, node: BerNode): Uint8Array {
  if (!node.constructed) return buf.slice(node.contentStart, node.contentEnd);
  return concat(node.children.map((child) => octets(buf, child)));
}

/** `value` as an OCTET STRING: primitive, or cut into constructed segments nested up to `depth`. */
export function encodeOctets(value: Uint8Array, choices: Choices, depth: number): Uint8Array {
  const form = choices.pick<Exclude<LengthForm, "indefinite">>(["minimal", "minimal", "padded"]);
  if (depth <= 0 || choices.int(2) === 0) return tlv(0x04, value, form);
  const segments: Uint8Array[] = [];
  for (let at = 0; at < value.length || segments.length === 0; ) {
    const size = Math.min(value.length - at, 1 + choices.int(Math.max(1, Math.ceil(value.length / 2))));
    segments.push(encodeOctets(value.slice(at, at + size), choices, depth - 1));
    at += size;
    if (size === 0) break;
  }
  return tlv(0x24, concat(segments), choices.pick<LengthForm>(["minimal", "padded", "indefinite"]));
}

/**
 * The real enroll body written back with other BER choices for everything the signature does not
 * cover: the ContentInfo and SignedData framing, digestAlgorithms, the EncapsulatedContentInfo and
 * its eContent (segmented up to `octetDepth`), the certificates and signerInfos wrappers. The
 * certificates and each SignerInfo stay byte for byte (their bytes are signed or hashed).
 */
export function reencodeSignedData(buf: Uint8Array, choices: Choices, octetDepth = 3): Uint8Array {
  const top = readBer(buf);
  const anyForm = (): LengthForm => choices.pick<LengthForm>(["minimal", "padded", "indefinite"]);
  const primitiveForm = (): Exclude<LengthForm, "indefinite"> => choices.pick<Exclude<LengthForm, "indefinite">>(["minimal", "minimal", "padded"]);
  const raw = (node: BerNode): Uint8Array => buf.slice(node.start, node.end);
  // Free re-encoding of a subtree nobody signed.
  const free = (node: BerNode): Uint8Array =>
    node.constructed ? tlv(node.tag, concat(node.children.map(free)), anyForm()) : tlv(node.tag, buf.slice(node.contentStart, node.contentEnd), primitiveForm());
  const wrapper = (node: BerNode, inner: (child: BerNode) => Uint8Array): Uint8Array => tlv(node.tag, concat(node.children.map(inner)), anyForm());

  const [contentType, explicit0] = top.children;
  const signedData = explicit0?.children[0];
  if (contentType === undefined || explicit0 === undefined || signedData === undefined) throw new Error("not a ContentInfo");
  const [version, digestAlgorithms, encap, ...rest] = signedData.children;
  if (version === undefined || digestAlgorithms === undefined || encap === undefined) throw new Error("not a SignedData");
  const [eContentType, eContentWrapper] = encap.children;
  if (eContentType === undefined) throw new Error("no eContentType");
  const eContent = eContentWrapper?.children[0];

  const encapBytes = tlv(
    encap.tag,
    concat([
      free(eContentType),
      ...(eContentWrapper === undefined || eContent === undefined ? [] : [tlv(eContentWrapper.tag, encodeOctets(octets(buf, eContent), choices, octetDepth), anyForm())]),
    ]),
    anyForm(),
  );
  const restBytes = rest.map((node) => wrapper(node, raw));
  const signedDataBytes = tlv(signedData.tag, concat([free(version), free(digestAlgorithms), encapBytes, ...restBytes]), anyForm());
  return tlv(top.tag, concat([free(contentType), tlv(explicit0.tag, signedDataBytes, anyForm())]), anyForm());
}

/** The content octets of the body's eContent (the device's plist). */
export function eContentOf(buf: Uint8Array): Uint8Array {
  const top = readBer(buf);
  const eContent = top.children[1]?.children[0]?.children[2]?.children[1]?.children[0];
  if (eContent === undefined) throw new Error("no eContent");
  return octets(buf, eContent);
}

/** An OCTET STRING nested `depth` times in constructed OCTET STRINGs (one segment each). */
export function nestedOctets(value: Uint8Array, depth: number, indefinite: boolean): Uint8Array {
  let out = tlv(0x04, value);
  for (let i = 0; i < depth; i++) out = tlv(withConstructedBit(Uint8Array.of(0x04)), out, indefinite ? "indefinite" : "minimal");
  return out;
}

/**
 * The real body with its eContent replaced by `eContent` (any bytes: a constructed OCTET STRING,
 * something else entirely), the framing around it written with definite lengths.
 */
export function withEContent(buf: Uint8Array, eContent: Uint8Array): Uint8Array {
  const top = readBer(buf);
  const explicit0 = top.children[1];
  const signedData = explicit0?.children[0];
  const [version, digestAlgorithms, encap, ...rest] = signedData?.children ?? [];
  const [eContentType, eContentWrapper] = encap?.children ?? [];
  if (explicit0 === undefined || signedData === undefined || version === undefined || digestAlgorithms === undefined || encap === undefined || eContentType === undefined || eContentWrapper === undefined) {
    throw new Error("not an enroll body");
  }
  const raw = (node: BerNode): Uint8Array => buf.slice(node.start, node.end);
  const encapBytes = tlv(encap.tag, concat([raw(eContentType), tlv(eContentWrapper.tag, eContent)]));
  const signedDataBytes = tlv(signedData.tag, concat([raw(version), raw(digestAlgorithms), encapBytes, ...rest.map(raw)]));
  return tlv(top.tag, concat([raw(top.children[0] ?? top), tlv(explicit0.tag, signedDataBytes)]));
}
