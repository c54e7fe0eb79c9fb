// Reading and writing asn1js blocks strictly, for the codecs of structures pkijs does not know (CMP,
// CRMF). Everything read is untrusted: any shape other than the expected one is a DerError, which
// each codec turns into its own refusal (a CsrError, a CMP badDataFormat).
import * as asn1js from 'asn1js';
import { DerError, readNode } from './der.js';

/** An AlgorithmIdentifier: its OID and its parameters' DER (null when absent). */
export interface AlgorithmId {
  oid: string;
  paramsDer: Buffer | null;
}

export function malformed(message: string): never {
  throw new DerError(message);
}

// What certgate reads are a few levels of SEQUENCE around certificates; nothing legitimate nests deeper.
const BER_LIMITS = { maxDepth: 48, maxNodes: 40_000, parseEmbedded: false } as const;

/**
 * Parts read out of a message are often read again on their own (each CertReqMsg of an ir, by
 * parseCrmfRequest): the block parsed with the message stays with the bytes rawOf handed out, and
 * is used again while those bytes still are what it was parsed from (asn1js parses a copy).
 */
const parsedParts = new WeakMap<Uint8Array, asn1js.AsnType>();

/** The one block `bytes` encode, all of them. */
export function parseBer(bytes: Uint8Array, what: string): asn1js.AsnType {
  const known = parsedParts.get(bytes);
  if (known && Buffer.from(known.valueBeforeDecodeView.buffer, known.valueBeforeDecodeView.byteOffset, known.valueBeforeDecodeView.byteLength).equals(bytes)) return known;
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(bytes, BER_LIMITS);
  } catch (e) {
    // asn1js throws on a few inputs (e.g. an OID arc too large) instead of reporting them.
    return malformed(`${what} is not BER: ${(e as Error).message}`);
  }
  if (parsed.offset === -1 || parsed.result.error) malformed(`${what} is not BER: ${parsed.result.error || 'unreadable'}`);
  if (parsed.offset !== bytes.byteLength) malformed(`trailing data after the ${what}`);
  return parsed.result;
}

/** A block's encoding exactly as received. */
export function rawOf(block: asn1js.AsnType): Buffer {
  const bytes = Buffer.from(block.valueBeforeDecodeView);
  parsedParts.set(bytes, block);
  return bytes;
}

export const toDer = (block: { toBER(sizeOnly?: boolean): ArrayBuffer }): Buffer => Buffer.from(block.toBER(false));

/**
 * An already encoded element, placed inside a structure being encoded as its bytes: never parsed
 * and written again (certificates are the bulk of an answer). It must be one whole element.
 */
export function embed(der: Buffer, what: string): asn1js.AsnType {
  let end = -1;
  try {
    end = readNode(der, 0).end;
  } catch {
    // refused below
  }
  if (end !== der.length) throw new Error(`cannot embed ${what}: not one DER element`);
  return new PreEncoded({ data: new Uint8Array(der) }) as unknown as asn1js.AsnType;
}

/** asn1js's RawData as an element: a constructed block hands its elements a writer, which RawData ignores. */
class PreEncoded extends asn1js.RawData {
  override toBER(sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    if (!writer) return this.dataView.slice().buffer;
    writer.write(this.dataView);
    return new ArrayBuffer(0);
  }
}

type Named = Record<string, asn1js.AsnType | asn1js.AsnType[] | undefined>;

/** Matches `block` against an asn1js schema: the named parts (a DerError when it does not match). */
export function match(block: asn1js.AsnType, schema: asn1js.AsnSchemaType, what: string): Named {
  const checked = asn1js.compareSchema(block, block, schema);
  if (!checked.verified) malformed(`malformed ${what}`);
  return checked.result as unknown as Named;
}

/**
 * Matches a SEQUENCE against a schema of named fields, strictly: asn1js's matching skips elements
 * it does not expect and takes optional ones in any order, so the elements must also be exactly
 * the named fields found, in the schema's order.
 */
export function matchSequence(block: asn1js.AsnType, schema: asn1js.Sequence, fields: readonly string[], what: string): Named {
  if (!isSequence(block)) malformed(`${what} is not a SEQUENCE`);
  const named = match(block, schema, what);
  const elements = elementsOf(block, what, fields.length);
  const present = fields.map((f) => named[f]).filter((v) => v !== undefined);
  if (present.length !== elements.length || present.some((v, i) => v !== elements[i])) malformed(`malformed ${what}: unexpected or misplaced elements`);
  return named;
}

/** A schema's optional EXPLICIT context tag, named. */
export function optionalTag(tagNumber: number, name: string): asn1js.Constructed {
  return new asn1js.Constructed({ name, optional: true, idBlock: { tagClass: 3, tagNumber }, value: [new asn1js.Any()] });
}

export function one(named: Named, key: string): asn1js.AsnType {
  const v = named[key];
  if (v === undefined || Array.isArray(v)) return malformed(`missing ${key}`);
  return v;
}

export function maybe(named: Named, key: string): asn1js.AsnType | null {
  const v = named[key];
  if (Array.isArray(v)) return malformed(`malformed ${key}`);
  return v ?? null;
}

/** The elements of a constructed block (a SEQUENCE, SET or explicitly tagged value), bounded. */
export function elementsOf(block: asn1js.AsnType, what: string, max: number): asn1js.AsnType[] {
  if (!(block instanceof asn1js.Constructed) && !(block instanceof asn1js.Sequence) && !(block instanceof asn1js.Set)) {
    if (!block.idBlock.isConstructed) malformed(`${what} is not constructed`);
  }
  const value = (block as asn1js.Constructed).valueBlock.value;
  if (!Array.isArray(value)) return malformed(`${what} is not constructed`);
  if (value.length > max) malformed(`more than ${max} ${what}`);
  return value;
}

/** The single element inside an EXPLICIT tag. */
export function explicitInner(block: asn1js.AsnType, what: string): asn1js.AsnType {
  const inner = elementsOf(block, what, 1);
  if (inner.length !== 1) malformed(`${what} must hold one value`);
  return inner[0] as asn1js.AsnType;
}

export function isSequence(block: asn1js.AsnType): boolean {
  return block.idBlock.tagClass === 1 && block.idBlock.tagNumber === 16 && block.idBlock.isConstructed;
}

export function isContext(block: asn1js.AsnType, tagNumber: number): boolean {
  return block.idBlock.tagClass === 3 && block.idBlock.tagNumber === tagNumber;
}

export function bigintOf(block: asn1js.AsnType | null, what: string): bigint {
  if (!(block instanceof asn1js.Integer)) return malformed(`${what} is not an INTEGER`);
  if (block.valueBlock.valueHexView.length > 32) malformed(`${what} is too large`);
  return block.toBigInt();
}

/** A small non-negative INTEGER (a version, a status, seconds). */
export function smallIntOf(block: asn1js.AsnType | null, what: string): number {
  const v = bigintOf(block, what);
  if (v < 0n || v > 0x7fffffffn) malformed(`${what} is out of range`);
  return Number(v);
}

export function octetsOf(block: asn1js.AsnType | null, what: string): Buffer {
  if (!(block instanceof asn1js.OctetString) || block.idBlock.isConstructed) return malformed(`${what} is not an OCTET STRING`);
  return Buffer.from(block.valueBlock.valueHexView);
}

export function oidOf(block: asn1js.AsnType | null, what: string): string {
  if (!(block instanceof asn1js.ObjectIdentifier)) return malformed(`${what} is not an OBJECT IDENTIFIER`);
  const oid = block.valueBlock.toString();
  if (!/^\d+(\.\d+)+$/.test(oid)) malformed(`${what} is not a valid OBJECT IDENTIFIER`);
  return oid;
}

export function bitsOf(block: asn1js.AsnType | null, what: string): { bytes: Buffer; unusedBits: number } {
  if (!(block instanceof asn1js.BitString) || block.idBlock.isConstructed) return malformed(`${what} is not a BIT STRING`);
  const unusedBits = block.valueBlock.unusedBits;
  const bytes = Buffer.from(block.valueBlock.valueHexView);
  if (unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) malformed(`${what} is a malformed BIT STRING`);
  return { bytes, unusedBits };
}

export function algorithmOf(block: asn1js.AsnType | null, what: string): AlgorithmId {
  if (!block || !isSequence(block)) return malformed(`${what} is not an AlgorithmIdentifier`);
  const parts = elementsOf(block, what, 2);
  if (parts.length < 1) malformed(`${what} has no algorithm`);
  return { oid: oidOf(parts[0] as asn1js.AsnType, what), paramsDer: parts[1] ? rawOf(parts[1]) : null };
}

export function algorithm(alg: AlgorithmId): asn1js.Sequence {
  const value: asn1js.AsnType[] = [new asn1js.ObjectIdentifier({ value: alg.oid })];
  if (alg.paramsDer) value.push(embed(alg.paramsDer, 'algorithm parameters'));
  return new asn1js.Sequence({ value });
}

export function generalizedTimeOf(block: asn1js.AsnType | null, what: string): Date {
  if (!(block instanceof asn1js.GeneralizedTime)) return malformed(`${what} is not a GeneralizedTime`);
  const date = block.toDate();
  if (Number.isNaN(date.getTime())) malformed(`${what} is not a valid time`);
  return date;
}

/** DER's GeneralizedTime: whole seconds, no fraction (what every CMP peer sends). */
export function generalizedTime(date: Date): asn1js.GeneralizedTime {
  return new asn1js.GeneralizedTime({ valueDate: new Date(Math.floor(date.getTime() / 1000) * 1000) });
}

export function integer(value: bigint | number): asn1js.Integer {
  return asn1js.Integer.fromBigInt(BigInt(value));
}

/** An EXPLICIT context tag around `inner`. */
export function explicit(tagNumber: number, inner: asn1js.AsnType): asn1js.Constructed {
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber }, value: [inner] });
}

/** An IMPLICIT context tag on a constructed value: its elements under the new tag. */
export function implicitConstructed(tagNumber: number, elements: asn1js.AsnType[]): asn1js.Constructed {
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber }, value: elements });
}

/** A context tag on the elements of a SEQUENCE read as IMPLICIT: the SEQUENCE's DER, retagged 0x30. */
export function retagAsSequence(block: asn1js.AsnType): Buffer {
  const der = Buffer.from(rawOf(block));
  der[0] = 0x30;
  return der;
}

/** The content octets of a primitive (e.g. IMPLICIT tagged) block. */
export function primitiveContent(block: asn1js.AsnType, what: string): Buffer {
  if (block.idBlock.isConstructed) malformed(`${what} must be primitive`);
  return Buffer.from((block as asn1js.Primitive).valueBlock.valueHexView);
}

/** An IMPLICIT context tag on a primitive value's content octets. */
export function implicitPrimitive(tagNumber: number, content: Uint8Array): asn1js.Primitive {
  return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber }, valueHex: content });
}

/** X.509 Time: UTCTime or GeneralizedTime. */
export function timeOf(block: asn1js.AsnType, what: string): Date {
  if (!(block instanceof asn1js.UTCTime) && !(block instanceof asn1js.GeneralizedTime)) return malformed(`${what} is not a Time`);
  const date = block.toDate();
  if (Number.isNaN(date.getTime())) malformed(`${what} is not a valid time`);
  return date;
}

/** The context tag numbers of a SEQUENCE's elements must rise: each optional field at most once, in order. */
export function taggedFields(block: asn1js.AsnType, what: string, maxTag: number): Map<number, asn1js.AsnType> {
  const fields = new Map<number, asn1js.AsnType>();
  let last = -1;
  for (const element of elementsOf(block, what, maxTag + 1)) {
    const n = element.idBlock.tagNumber;
    if (element.idBlock.tagClass !== 3 || n > maxTag || n <= last) malformed(`malformed ${what}: unexpected or misplaced field`);
    fields.set(n, element);
    last = n;
  }
  return fields;
}
