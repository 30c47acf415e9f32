// CMS SignedData reader (RFC 5652 §5), pure: enough to read an enroll body and to verify it later.
// Hand-written over BER rather than @peculiar/asn1-cms: the real iOS body uses indefinite lengths
// and a constructed eContent OCTET STRING, and verification needs the certificates and signed
// attributes as the exact bytes received, which re-serialising objects would not guarantee.
import { err, ok, type Result } from "./result.ts";

export const oidSignedData = "1.2.840.113549.1.7.2";
export const oidData = "1.2.840.113549.1.7.1";
export const oidContentTypeAttribute = "1.2.840.113549.1.9.3";
export const oidMessageDigestAttribute = "1.2.840.113549.1.9.4";

export interface CmsSigner {
  /** Issuer DN, RFC 4514 order and escaping (most specific RDN first), e.g. `CN=Apple iPhone Device CA,OU=Apple iPhone,O=Apple Inc.,C=US`. */
  readonly issuer: string;
  /** Lowercase hex, no leading zeros ("0" for zero; a negative serial keeps its "-"). */
  readonly serialNumber: string;
  readonly digestAlgorithm: string;
  readonly signatureAlgorithm: string;
  /** DER of the signed attributes with the SET OF tag (0x31): the bytes the signature covers. */
  readonly signedAttributes: Uint8Array | undefined;
  /** The contentType signed attribute, to compare with SignedDataInfo.contentType. */
  readonly signedContentType: string | undefined;
  /** The messageDigest signed attribute, to compare with the digest of the content. */
  readonly messageDigest: Uint8Array | undefined;
  readonly signature: Uint8Array;
}

export interface SignedDataInfo {
  /** OID of the encapsulated content (eContentType). */
  readonly contentType: string;
  /** The attached eContent; undefined for a detached signature. */
  readonly content: Uint8Array | undefined;
  /** DER of each embedded X.509 certificate, in the order received. */
  readonly certificates: Uint8Array[];
  readonly signers: CmsSigner[];
}

export interface CmsError {
  readonly code:
    | "cms.not-der"
    | "cms.not-signed-data"
    | "cms.no-content"
    | "cms.no-signer"
    | "cms.unsupported-signer-id"
    | "cms.not-certificate";
  readonly detail: string;
}

/**
 * Reads a ContentInfo holding SignedData. Accepts BER (which "not-der" also covers: the input
 * could not be decoded at all). Never throws. Does not verify anything. Out of scope, refused:
 * a SignedData with no signer (certs-only), signers named by subjectKeyIdentifier.
 */
export function parseSignedData(der: Uint8Array): Result<SignedDataInfo, CmsError> {
  const top = readNode(der, 0, der.length, 0);
  if (!top.ok) return notDer(top.error);
  if (top.value.end !== der.length) return notDer(`${der.length - top.value.end} bytes after the ContentInfo`);
  const framing = checkTree(der, top.value, 0);
  if (!framing.ok) return notDer(framing.error);
  return readSignedData(der, top.value);
}

/** The attached content, or cms.no-content for a detached signature. */
export function attachedContent(info: SignedDataInfo): Result<Uint8Array, CmsError> {
  return info.content === undefined ? fail("cms.no-content", "the SignedData has no attached content (detached signature)") : ok(info.content);
}

/** `issuer|serial`: names one device identity, the same across its two enroll requests. */
export function signerKey(signer: Pick<CmsSigner, "issuer" | "serialNumber">): string {
  return `${signer.issuer}|${signer.serialNumber}`;
}

/** The embedded certificate whose issuer and serial number name this signer. */
export function signerCertificate(info: SignedDataInfo, signer: Pick<CmsSigner, "issuer" | "serialNumber">): Uint8Array | undefined {
  const key = signerKey(signer);
  return info.certificates.find((c) => {
    const id = readCertificateId(c);
    return id.ok && signerKey(id.value) === key;
  });
}

export interface CertificateInfo {
  readonly issuer: string;
  readonly subject: string;
  readonly serialNumber: string;
  /** DER of SubjectPublicKeyInfo, as WebCrypto importKey("spki") wants it. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** DER of TBSCertificate: the bytes the issuer signed. */
  readonly tbsCertificate: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
}

/** Reads the parts of an X.509 certificate a chain check needs. Never throws. */
export function parseCertificate(der: Uint8Array): Result<CertificateInfo, CmsError> {
  const top = readNode(der, 0, der.length, 0);
  if (!top.ok) return notDer(top.error);
  if (top.value.end !== der.length) return notDer(`${der.length - top.value.end} bytes after the certificate`);
  const framing = checkTree(der, top.value, 0);
  if (!framing.ok) return notDer(framing.error);
  const r = readCertificate(der, top.value);
  return r.ok ? r : fail(r.error.code === "cms.not-der" ? "cms.not-der" : "cms.not-certificate", r.error.detail);
}

// ---- CMS structure ----

function notDer(detail: string): Result<never, CmsError> {
  return fail("cms.not-der", detail);
}

function fail(code: CmsError["code"], detail: string): { readonly ok: false; readonly error: CmsError } {
  return err({ code, detail });
}

// Structural helpers fail with cms.not-signed-data unless they say otherwise.
type R<T> = Result<T, CmsError>;

function bad(detail: string): { readonly ok: false; readonly error: CmsError } {
  return fail("cms.not-signed-data", detail);
}

/** children() after checkTree(): a failure here would still be an encoding one. */
function elements(buf: Uint8Array, node: Node, depth: number): R<Node[]> {
  const r = children(buf, node, depth);
  return r.ok ? r : notDer(r.error);
}

function readSignedData(buf: Uint8Array, top: Node): R<SignedDataInfo> {
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
  const ci = seq(buf, top, "ContentInfo", 2);
  if (!ci.ok) return ci;
  const [ctNode, ctxNode] = ci.value;
  const contentType = readOid(buf, ctNode, "ContentInfo.contentType");
  if (!contentType.ok) return contentType;
  if (contentType.value !== oidSignedData) return bad(`ContentInfo.contentType is ${contentType.value}, not signedData`);
  const wrapped = explicit(buf, ctxNode, 0, "ContentInfo.content");
  if (!wrapped.ok) return wrapped;

  // SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo, [0] certificates?, [1] crls?, signerInfos SET }
  const sd = seq(buf, wrapped.value, "SignedData", 4);
  if (!sd.ok) return sd;
  const [version, digestAlgorithms, encap, ...rest] = sd.value;
  if (!isUniversal(version, 2, false)) return bad("SignedData.version is not an INTEGER");
  if (!isUniversal(digestAlgorithms, 17, true)) return bad("SignedData.digestAlgorithms is not a SET");
  const signerInfos = rest.pop();
  if (signerInfos === undefined || !isUniversal(signerInfos, 17, true)) return bad("SignedData.signerInfos is not a SET");

  const eci = readEncapsulatedContent(buf, encap);
  if (!eci.ok) return eci;

  const certificates: Uint8Array[] = [];
  for (const n of rest) {
    if (n.cls === ctx && n.tag === 0 && n.constructed) {
      const items = elements(buf, n, 1);
      if (!items.ok) return items;
      // Other CertificateChoices (attribute certificates, [3] other) are not X.509: skipped.
      for (const c of items.value) if (isUniversal(c, 16, true)) certificates.push(buf.slice(c.start, c.end));
    } else if (!(n.cls === ctx && n.tag === 1)) {
      return bad(`unexpected element (class ${n.cls}, tag ${n.tag}) in SignedData`);
    }
  }

  const si = elements(buf, signerInfos, 1);
  if (!si.ok) return si;
  if (si.value.length === 0) return fail("cms.no-signer", "SignedData.signerInfos is empty");
  const signers: CmsSigner[] = [];
  for (const n of si.value) {
    const s = readSigner(buf, n);
    if (!s.ok) return s;
    signers.push(s.value);
  }
  return ok({ contentType: eci.value.contentType, content: eci.value.content, certificates, signers });
}

function readEncapsulatedContent(buf: Uint8Array, node: Node): R<{ contentType: string; content: Uint8Array | undefined }> {
  // EncapsulatedContentInfo ::= SEQUENCE { eContentType OID, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
  const items = seq(buf, node, "EncapsulatedContentInfo", 1);
  if (!items.ok) return items;
  const [typeNode, contentNode, extra] = items.value;
  if (extra !== undefined) return bad("EncapsulatedContentInfo has too many elements");
  const contentType = readOid(buf, typeNode, "eContentType");
  if (!contentType.ok) return contentType;
  if (contentNode === undefined) return ok({ contentType: contentType.value, content: undefined });
  const inner = explicit(buf, contentNode, 0, "eContent");
  if (!inner.ok) return inner;
  const content = readOctets(buf, inner.value, "eContent", 0);
  if (!content.ok) return content;
  return ok({ contentType: contentType.value, content: content.value });
}

function readSigner(buf: Uint8Array, node: Node): R<CmsSigner> {
  // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1] unsignedAttrs? }
  const items = seq(buf, node, "SignerInfo", 5);
  if (!items.ok) return items;
  const [version, sid, digestAlg, ...rest] = items.value;
  if (!isUniversal(version, 2, false)) return bad("SignerInfo.version is not an INTEGER");
  if (sid.cls === ctx && sid.tag === 0) return fail("cms.unsupported-signer-id", "signer identified by subjectKeyIdentifier: only issuerAndSerialNumber is supported");
  const id = seq(buf, sid, "IssuerAndSerialNumber", 2);
  if (!id.ok) return id;
  const issuer = readName(buf, id.value[0], "issuer");
  if (!issuer.ok) return issuer;
  const serial = readInteger(buf, id.value[1], "serialNumber");
  if (!serial.ok) return serial;
  const digestAlgorithm = readAlgorithm(buf, digestAlg, "digestAlgorithm");
  if (!digestAlgorithm.ok) return digestAlgorithm;

  let i = 0;
  let signedAttributes: Uint8Array | undefined;
  let signedContentType: string | undefined;
  let messageDigest: Uint8Array | undefined;
  const attrsNode = rest[0];
  if (attrsNode !== undefined && attrsNode.cls === ctx && attrsNode.tag === 0) {
    i = 1;
    // The signature covers the DER encoding; an indefinite length cannot be that.
    if (attrsNode.indefinite || !attrsNode.constructed) return bad("signedAttrs is not a DER SET");
    signedAttributes = buf.slice(attrsNode.start, attrsNode.end);
    signedAttributes[0] = 0x31;
    const attrs = readAttributes(buf, attrsNode);
    if (!attrs.ok) return attrs;
    ({ signedContentType, messageDigest } = attrs.value);
  }
  const sigAlgNode = rest[i];
  const sigNode = rest[i + 1];
  const unsigned = rest[i + 2];
  if (sigAlgNode === undefined || sigNode === undefined) return bad("SignerInfo lacks signatureAlgorithm or signature");
  if (unsigned !== undefined && !(unsigned.cls === ctx && unsigned.tag === 1)) return bad("unexpected element after SignerInfo.signature");
  if (rest[i + 3] !== undefined) return bad("SignerInfo has too many elements");
  const signatureAlgorithm = readAlgorithm(buf, sigAlgNode, "signatureAlgorithm");
  if (!signatureAlgorithm.ok) return signatureAlgorithm;
  const signature = readOctets(buf, sigNode, "signature", 0);
  if (!signature.ok) return signature;
  return ok({
    issuer: issuer.value,
    serialNumber: serial.value,
    digestAlgorithm: digestAlgorithm.value,
    signatureAlgorithm: signatureAlgorithm.value,
    signedAttributes,
    signedContentType,
    messageDigest,
    signature: signature.value,
  });
}

function readAttributes(buf: Uint8Array, node: Node): R<{ signedContentType: string | undefined; messageDigest: Uint8Array | undefined }> {
  const attrs = elements(buf, node, 1);
  if (!attrs.ok) return attrs;
  let signedContentType: string | undefined;
  let messageDigest: Uint8Array | undefined;
  for (const a of attrs.value) {
    // Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }
    const parts = seq(buf, a, "Attribute", 2);
    if (!parts.ok) return parts;
    const type = readOid(buf, parts.value[0], "Attribute.attrType");
    if (!type.ok) return type;
    const valuesNode = parts.value[1];
    if (!isUniversal(valuesNode, 17, true)) return bad("Attribute.attrValues is not a SET");
    const values = elements(buf, valuesNode, 2);
    if (!values.ok) return values;
    const first = values.value[0];
    if (type.value === oidContentTypeAttribute && first !== undefined) {
      const v = readOid(buf, first, "contentType attribute");
      if (!v.ok) return v;
      signedContentType = v.value;
    } else if (type.value === oidMessageDigestAttribute && first !== undefined) {
      const v = readOctets(buf, first, "messageDigest attribute", 0);
      if (!v.ok) return v;
      messageDigest = v.value;
    }
  }
  return ok({ signedContentType, messageDigest });
}

function readCertificateId(der: Uint8Array): R<{ issuer: string; serialNumber: string }> {
  const top = readNode(der, 0, der.length, 0);
  if (!top.ok) return notDer(top.error);
  const cert = readCertificate(der, top.value);
  return cert.ok ? ok({ issuer: cert.value.issuer, serialNumber: cert.value.serialNumber }) : cert;
}

function readCertificate(buf: Uint8Array, node: Node): R<CertificateInfo> {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  const outer = seq(buf, node, "Certificate", 3);
  if (!outer.ok) return outer;
  const [tbsNode, algNode, sigNode] = outer.value;
  // TBSCertificate ::= SEQUENCE { [0] version?, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, … }
  const tbs = seq(buf, tbsNode, "TBSCertificate", 6);
  if (!tbs.ok) return tbs;
  const fields = tbs.value[0]?.cls === ctx && tbs.value[0].tag === 0 ? tbs.value.slice(1) : tbs.value;
  const [serialNode, , issuerNode, , subjectNode, spkiNode] = fields;
  if (serialNode === undefined || issuerNode === undefined || subjectNode === undefined || spkiNode === undefined) return bad("TBSCertificate is incomplete");
  const serialNumber = readInteger(buf, serialNode, "serialNumber");
  if (!serialNumber.ok) return serialNumber;
  const issuer = readName(buf, issuerNode, "issuer");
  if (!issuer.ok) return issuer;
  const subject = readName(buf, subjectNode, "subject");
  if (!subject.ok) return subject;
  if (!isUniversal(spkiNode, 16, true)) return bad("subjectPublicKeyInfo is not a SEQUENCE");
  const signatureAlgorithm = readAlgorithm(buf, algNode, "signatureAlgorithm");
  if (!signatureAlgorithm.ok) return signatureAlgorithm;
  if (!isUniversal(sigNode, 3, false) || sigNode.contentEnd - sigNode.contentStart < 1 || buf[sigNode.contentStart] !== 0) {
    return bad("signatureValue is not a whole-byte BIT STRING");
  }
  return ok({
    issuer: issuer.value,
    subject: subject.value,
    serialNumber: serialNumber.value,
    subjectPublicKeyInfo: buf.slice(spkiNode.start, spkiNode.end),
    tbsCertificate: buf.slice(tbsNode.start, tbsNode.end),
    signatureAlgorithm: signatureAlgorithm.value,
    signature: buf.slice(sigNode.contentStart + 1, sigNode.contentEnd),
  });
}

function readAlgorithm(buf: Uint8Array, node: Node, what: string): R<string> {
  // AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
  const parts = seq(buf, node, what, 1);
  if (!parts.ok) return parts;
  return readOid(buf, parts.value[0], `${what}.algorithm`);
}

// ---- Names (RFC 4514) ----

const attributeNames: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
};

function readName(buf: Uint8Array, node: Node, what: string): R<string> {
  // Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue)
  if (!isUniversal(node, 16, true)) return bad(`${what} is not a Name`);
  const rdns = elements(buf, node, 1);
  if (!rdns.ok) return rdns;
  const out: string[] = [];
  for (const rdn of rdns.value) {
    if (!isUniversal(rdn, 17, true)) return bad(`${what} holds an RDN that is not a SET`);
    const atvs = elements(buf, rdn, 2);
    if (!atvs.ok) return atvs;
    const parts: string[] = [];
    for (const atv of atvs.value) {
      const pair = seq(buf, atv, `${what} AttributeTypeAndValue`, 2);
      if (!pair.ok) return pair;
      const type = readOid(buf, pair.value[0], `${what} attribute type`);
      if (!type.ok) return type;
      parts.push(`${attributeNames[type.value] ?? type.value}=${formatAttributeValue(buf, pair.value[1])}`);
    }
    out.push(parts.join("+"));
  }
  // RFC 4514 §2.1: the last RDN comes first.
  return ok(out.reverse().join(","));
}

function formatAttributeValue(buf: Uint8Array, node: Node): string {
  const text = node.cls === 0 && !node.constructed ? decodeString(node.tag, buf.subarray(node.contentStart, node.contentEnd)) : undefined;
  // RFC 4514 §2.4: a value of no known string type is written as # and the hex of its BER.
  if (text === undefined) return `#${hex(buf.subarray(node.start, node.end))}`;
  return text
    .replace(/[\\"+,;<>]/g, (c) => `\\${c}`)
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, "\\ ");
}

function decodeString(tag: number, bytes: Uint8Array): string | undefined {
  switch (tag) {
    case 12: // UTF8String
      return new TextDecoder("utf-8").decode(bytes);
    case 18: // NumericString
    case 19: // PrintableString
    case 20: // TeletexString, read as Latin-1
    case 22: // IA5String
    case 26: // VisibleString
      return latin1(bytes);
    case 30: {
      // BMPString: UTF-16BE
      let s = "";
      for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
      return s;
    }
    case 28: {
      // UniversalString: UTF-32BE
      let s = "";
      for (let i = 0; i + 3 < bytes.length; i += 4) {
        const cp = (((bytes[i] ?? 0) << 24) | ((bytes[i + 1] ?? 0) << 16) | ((bytes[i + 2] ?? 0) << 8) | (bytes[i + 3] ?? 0)) >>> 0;
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : "\uFFFD";
      }
      return s;
    }
    default:
      return undefined;
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

// ---- BER primitives ----

const ctx = 2;
// Enough for CMS and X.509 (a certificate extension sits about 8 deep, a timestamp token in an
// unsigned attribute adds 8 more); bounds indefinite-length scanning, which is O(depth × size).
const maxDepth = 32;

interface Node {
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  readonly cls: number;
  readonly constructed: boolean;
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  /** End of the contents, before the end-of-contents octets of an indefinite length. */
  readonly contentEnd: number;
  readonly end: number;
  readonly indefinite: boolean;
}

// readNode runs for every element, again for every level of indefinite-length scanning: it reads
// bytes inline, without a closure (tsx's keepNames wraps each closure created at run time in a
// naming call that cost as much as the parsing itself).
function readNode(buf: Uint8Array, pos: number, limit: number, depth: number): Result<Node, string> {
  if (depth > maxDepth) return err(`nested deeper than ${maxDepth}`);
  let p = pos;
  const first = p < limit ? buf[p++] : undefined;
  if (first === undefined) return err(`truncated at offset ${pos}`);
  if (first === 0) return err(`unexpected end-of-contents at offset ${pos}`);
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tag = first & 0x1f;
  if (tag === 0x1f) {
    tag = 0;
    for (;;) {
      const b = p < limit ? buf[p++] : undefined;
      if (b === undefined) return err(`truncated tag at offset ${pos}`);
      if (tag > 0xffffff) return err(`tag number too large at offset ${pos}`);
      tag = tag * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  const l0 = p < limit ? buf[p++] : undefined;
  if (l0 === undefined) return err(`truncated length at offset ${pos}`);
  if (l0 === 0x80) {
    if (!constructed) return err(`indefinite length on a primitive element at offset ${pos}`);
    const contentStart = p;
    let q = p;
    for (;;) {
      if (q + 1 < limit && buf[q] === 0 && buf[q + 1] === 0) {
        return ok({ cls, constructed, tag, start: pos, contentStart, contentEnd: q, end: q + 2, indefinite: true });
      }
      const child = readNode(buf, q, limit, depth + 1);
      if (!child.ok) return child;
      q = child.value.end;
    }
  }
  let length = l0;
  if (l0 > 0x80) {
    const n = l0 & 0x7f;
    if (n > 4) return err(`length of ${n} bytes at offset ${pos}`);
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = p < limit ? buf[p++] : undefined;
      if (b === undefined) return err(`truncated length at offset ${pos}`);
      length = length * 256 + b;
    }
  }
  const contentEnd = p + length;
  if (contentEnd > limit) return err(`element at offset ${pos} runs ${contentEnd - limit} bytes past its container`);
  return ok({ cls, constructed, tag, start: pos, contentStart: p, contentEnd, end: contentEnd, indefinite: false });
}

function children(buf: Uint8Array, node: Node, depth: number): Result<Node[], string> {
  if (!node.constructed) return err(`element at offset ${node.start} is not constructed`);
  const out: Node[] = [];
  let q = node.contentStart;
  while (q < node.contentEnd) {
    const child = readNode(buf, q, node.contentEnd, depth + 1);
    if (!child.ok) return child;
    out.push(child.value);
    q = child.value.end;
  }
  return ok(out);
}

// Checks the framing of every constructed element once, so that any later failure is about the
// CMS structure and not the encoding.
function checkTree(buf: Uint8Array, node: Node, depth: number): Result<true, string> {
  if (!node.constructed) return ok(true);
  const kids = children(buf, node, depth);
  if (!kids.ok) return kids;
  for (const k of kids.value) {
    const r = checkTree(buf, k, depth + 1);
    if (!r.ok) return r;
  }
  return ok(true);
}

function isUniversal(node: Node, tag: number, constructed: boolean): boolean {
  return node.cls === 0 && node.tag === tag && node.constructed === constructed;
}

/** A SEQUENCE's elements, at least `min` of them (typed so the first `min` need no check). */
function seq(buf: Uint8Array, node: Node, what: string, min: 1): R<[Node, ...Node[]]>;
function seq(buf: Uint8Array, node: Node, what: string, min: 2): R<[Node, Node, ...Node[]]>;
function seq(buf: Uint8Array, node: Node, what: string, min: 3): R<[Node, Node, Node, ...Node[]]>;
function seq(buf: Uint8Array, node: Node, what: string, min: 4): R<[Node, Node, Node, Node, ...Node[]]>;
function seq(buf: Uint8Array, node: Node, what: string, min: 5): R<[Node, Node, Node, Node, Node, ...Node[]]>;
function seq(buf: Uint8Array, node: Node, what: string, min: 6): R<[Node, Node, Node, Node, Node, Node, ...Node[]]>;
function seq(buf: Uint8Array, node: Node, what: string, min: number): R<Node[]> {
  if (!isUniversal(node, 16, true)) return bad(`${what} is not a SEQUENCE`);
  const items = elements(buf, node, 1);
  if (!items.ok) return items;
  if (items.value.length < min) return bad(`${what} has ${items.value.length} elements, expected at least ${min}`);
  return items;
}

/** The single element inside an [n] EXPLICIT wrapper. */
function explicit(buf: Uint8Array, node: Node, tag: number, what: string): R<Node> {
  if (node.cls !== ctx || node.tag !== tag || !node.constructed) return bad(`${what} is not [${tag}] EXPLICIT`);
  const items = elements(buf, node, 1);
  if (!items.ok) return items;
  const [only, extra] = items.value;
  if (only === undefined || extra !== undefined) return bad(`${what} must hold exactly one element`);
  return ok(only);
}

function readOid(buf: Uint8Array, node: Node, what: string): R<string> {
  if (!isUniversal(node, 6, false) || node.contentEnd === node.contentStart) return bad(`${what} is not an OBJECT IDENTIFIER`);
  const arcs: bigint[] = [];
  let value = 0n;
  let pending = false;
  for (let i = node.contentStart; i < node.contentEnd; i++) {
    const b = buf[i] ?? 0;
    value = (value << 7n) | BigInt(b & 0x7f);
    pending = (b & 0x80) !== 0;
    if (!pending) {
      arcs.push(value);
      value = 0n;
    }
  }
  const [head, ...tail] = arcs;
  if (pending || head === undefined) return bad(`${what} is a truncated OBJECT IDENTIFIER`);
  const first = head < 40n ? 0n : head < 80n ? 1n : 2n;
  return ok([first, head - first * 40n, ...tail].join("."));
}

function readInteger(buf: Uint8Array, node: Node, what: string): R<string> {
  if (!isUniversal(node, 2, false) || node.contentEnd === node.contentStart) return bad(`${what} is not an INTEGER`);
  const bytes = buf.subarray(node.contentStart, node.contentEnd);
  let value = BigInt(`0x${hex(bytes)}`);
  // Two's complement: a set top bit makes it negative (seen in broken certificates).
  if (((bytes[0] ?? 0) & 0x80) !== 0) value -= 1n << BigInt(bytes.length * 8);
  return ok(value.toString(16));
}

/** An OCTET STRING's value; a BER constructed one is the concatenation of its segments. */
function readOctets(buf: Uint8Array, node: Node, what: string, depth: number): R<Uint8Array> {
  if (node.cls !== 0 || node.tag !== 4) return bad(`${what} is not an OCTET STRING`);
  if (!node.constructed) return ok(buf.slice(node.contentStart, node.contentEnd));
  const parts = elements(buf, node, depth);
  if (!parts.ok) return parts;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const part of parts.value) {
    const c = readOctets(buf, part, what, depth + 1);
    if (!c.ok) return c;
    chunks.push(c.value);
    total += c.value.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return ok(out);
}
