// Our PKCS#10 parser (src/pki/csr.ts) checked against an independent one, pkijs/asn1js, on
// generated CSRs and on byte-level mutations of them. For every input the two must agree: both
// refuse, or both accept with the same subject attributes (types and values, in order), the same
// SubjectPublicKeyInfo bytes and key algorithm, and the same subjectAltNames.
//
// pkijs is a lenient BER reader that checks the outer shape only; ours is a strict DER reader
// that also reads the key and the names it will put in a certificate. "Ours refuses, pkijs
// accepts" is allowed only when the pkijs side shows one of the LENIENCY reasons below, each
// detected here from pkijs/asn1js's own view of the input, never from our error message.
// "Ours accepts, pkijs refuses" is always a bug in ours.
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../src/pki/csr.js';
import { bitString, boolean, ia5String, implicitPrimitive, octetString, oid, printableString, sequence, set, smallInteger, tlv, utf8String } from '../src/pki/der.js';
import { ipToBytes } from '../src/pki/ip.js';
import { OID } from '../src/pki/oids.js';

/** Why ours may refuse what pkijs accepts: our parser's design, not a disagreement on meaning. */
const LENIENCY = {
  trailing: 'data after the CertificationRequest (asn1js stops at the first element)',
  overrun: 'an element overrunning its container (asn1js reads on past the container, even into a sibling)',
  extraElements: 'elements after the last one a fixed-shape SEQUENCE defines (asn1js schema matching ignores them)',
  ber: 'a BER-only form: indefinite or non-minimal length, constructed string, high tag number',
  content: 'a universal value DER forbids, also where ours does not read it: end-of-contents, empty INTEGER or ENUMERATED, BOOLEAN not one byte, NULL with content, malformed BIT STRING, time not YYMMDDHHMMSSZ',
  version: 'version other than 0 (v1); pkijs reads any INTEGER',
  nameValue: 'a name or challengePassword value that is not a string type ours decodes (UTF8, Printable, IA5, T61, Visible, Numeric, BMP of even length), or invalid UTF-8',
  key: 'a public key ours cannot read: pkijs does not look inside the SPKI bit string (RSAPublicKey, curve OID, Ed25519 length, unused bits), nor at RSA parameters other than NULL',
  sanValue: 'a SAN name with bytes outside printable ASCII, an iPAddress not 4 or 16 bytes, data after GeneralNames, or an x400Address or ediPartyName (ours refuses those forms outright)',
  signature: 'a signature BIT STRING that is empty or has unused bits',
  oid: 'an OID ours bounds (more than 64 bytes, or an arc above 2^53)',
  extensionRequest: 'an extensionRequest attribute with other than exactly one value (PKCS#9: single-valued)',
} as const;
type Leniency = keyof typeof LENIENCY;

interface View {
  subject: { type: string; value: string }[];
  spkiHex: string;
  keyAlgorithm: string;
  san: { dns: string[]; ipHex: string[]; email: string[]; uri: string[]; unsupported: number[] };
}
type Outcome = { ok: true; view: View; leniencies: Set<Leniency> } | { ok: false; why: string; leniencies: Set<Leniency> };

// ---------- ours ----------

function ours(der: Buffer): Outcome {
  try {
    const csr = parseCsr(der);
    return {
      ok: true,
      leniencies: new Set(),
      view: {
        subject: csr.subject.attributes.map((a) => ({ type: a.type, value: a.value })),
        spkiHex: csr.spkiDer.toString('hex'),
        keyAlgorithm: csr.keyAlgorithm,
        san: {
          dns: csr.san.dns,
          ipHex: csr.san.ip.map((ip) => (ipToBytes(ip) as Buffer).toString('hex')),
          email: csr.san.email,
          uri: csr.san.uri,
          unsupported: csr.san.unsupported.map((t) => t & 0x1f),
        },
      },
    };
  } catch (e) {
    return { ok: false, why: (e as Error).message, leniencies: new Set() };
  }
}

// ---------- pkijs, and what its view shows ----------

interface Blk {
  idBlock: { tagClass: number; tagNumber: number; isConstructed: boolean };
  lenBlock: { isIndefiniteForm: boolean; length: number };
  blockLength: number;
  valueBeforeDecodeView: Uint8Array;
  valueBlock: { value?: unknown; valueHexView?: Uint8Array; unusedBits?: number };
}
const blk = (b: unknown): Blk => b as Blk;
const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

/** BER-only features anywhere in a parsed tree (DER requires definite, minimal lengths and primitive strings). */
/** DER's content rules for universal primitives that asn1js does not enforce. */
function derContentOk(tag: number, c: Buffer): boolean {
  if (tag === 0) return false; // end-of-contents, in a definite-length encoding
  if (tag === 1) return c.length === 1;
  if (tag === 2 || tag === 10) return c.length > 0;
  if (tag === 3) return c.length > 0 && (c[0] as number) <= 7 && (c.length > 1 || c[0] === 0);
  if (tag === 5) return c.length === 0;
  if (tag === 23) return /^\d{12}Z$/.test(c.toString('latin1'));
  if (tag === 24) return /^\d{14}Z$/.test(c.toString('latin1'));
  return true;
}

function berFeatures(b: Blk, found: Set<Leniency>): void {
  const raw = b.valueBeforeDecodeView;
  if (b.idBlock.tagNumber >= 31) found.add('ber');
  if (b.lenBlock.isIndefiniteForm) found.add('ber');
  let i = 1;
  if (((raw[0] ?? 0) & 0x1f) === 0x1f) while (i < raw.length && ((raw[i++] as number) & 0x80) !== 0);
  const l = raw[i] ?? 0;
  if (l > 0x80) {
    const n = l & 0x7f;
    if (raw[i + 1] === 0 || (n === 1 && (raw[i + 1] as number) < 0x80)) found.add('ber');
  }
  const universalStrings = [3, 4, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30];
  if (b.idBlock.isConstructed && b.idBlock.tagClass === 1 && universalStrings.includes(b.idBlock.tagNumber)) found.add('ber');
  if (!b.idBlock.isConstructed && b.idBlock.tagClass === 1 && !derContentOk(b.idBlock.tagNumber, Buffer.from(raw.subarray(raw.length - b.lenBlock.length)))) found.add('content');
  if (b.idBlock.isConstructed && Array.isArray(b.valueBlock.value)) {
    const kids = b.valueBlock.value.map(blk);
    if (!b.lenBlock.isIndefiniteForm && kids.reduce((n, c) => n + c.blockLength, 0) !== b.lenBlock.length) found.add('overrun');
    for (const c of kids) berFeatures(c, found);
  }
}

const kids = (b: Blk | undefined): Blk[] => (b && b.idBlock.isConstructed && Array.isArray(b.valueBlock.value) ? b.valueBlock.value.map(blk) : []);

/** SEQUENCEs of a fixed shape holding more elements than the shape defines. */
function extraElements(top: Blk, found: Set<Leniency>): void {
  const atMost = (b: Blk | undefined, n: number): void => void (kids(b).length > n && found.add('extraElements'));
  const [info, sigAlg] = kids(top);
  atMost(top, 3);
  atMost(info, 4);
  atMost(sigAlg, 2);
  const [, subject, spki, attrs] = kids(info);
  for (const rdn of kids(subject)) for (const atv of kids(rdn)) atMost(atv, 2);
  atMost(spki, 2);
  atMost(kids(spki)[0], 2);
  for (const attr of kids(attrs)) {
    atMost(attr, 2);
    const [type, values] = kids(attr);
    if (type && oidOf(type) === OID.extensionRequest) for (const exts of kids(values)) for (const ext of kids(exts)) atMost(ext, 3);
  }
}

function fromBerStrict(bytes: Uint8Array, found: Set<Leniency>, ifTrailing: Leniency): Blk {
  const r = asn1js.fromBER(bytes);
  if (r.offset === -1) throw new Error(`asn1js: ${r.result.error}`);
  if (r.offset !== bytes.length) found.add(ifTrailing);
  berFeatures(blk(r.result), found);
  return blk(r.result);
}

const DECODED_STRINGS = new Set([12, 19, 22, 20, 26, 18, 30]);
function stringValue(b: Blk, found: Set<Leniency>): string {
  const bytes = b.valueBlock.valueHexView ?? new Uint8Array();
  if (b.idBlock.tagClass !== 1 || b.idBlock.isConstructed || !DECODED_STRINGS.has(b.idBlock.tagNumber)) found.add('nameValue');
  else if (b.idBlock.tagNumber === 30 && bytes.length % 2) found.add('nameValue');
  else if (b.idBlock.tagNumber === 12) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      found.add('nameValue');
    }
  }
  return String(b.valueBlock.value);
}

function checkOid(s: string, rawLength: number, found: Set<Leniency>): void {
  if (rawLength > 64 || s.split('.').some((a) => !Number.isSafeInteger(Number(a)))) found.add('oid');
}
const oidOf = (b: unknown): string => {
  const o = b as asn1js.ObjectIdentifier;
  return o.valueBlock.toString();
};
function oidChecked(b: unknown, found: Set<Leniency>): string {
  const s = oidOf(b);
  checkOid(s, (blk(b).valueBlock.valueHexView ?? new Uint8Array()).length, found);
  return s;
}

const CURVE_NAMES: Record<string, string> = { [OID.secp256r1]: 'ec-p256', [OID.secp384r1]: 'ec-p384', '1.3.132.0.35': 'ec-p521' };

/** The key algorithm as our naming has it, read with asn1js from the SPKI. */
function keyAlgorithmOf(spki: Blk, found: Set<Leniency>): string {
  const [alg, key] = spki.valueBlock.value as unknown[];
  const [algOid, params] = blk(alg).valueBlock.value as unknown[];
  const id = oidChecked(algOid, found);
  const bits = blk(key);
  if (bits.valueBlock.unusedBits !== 0 || (bits.valueBlock.valueHexView ?? []).length === 0) found.add('key');
  const keyBytes = bits.valueBlock.valueHexView ?? new Uint8Array();
  if (id === OID.rsaEncryption) {
    if (!(params instanceof asn1js.Null)) found.add('key');
    try {
      const seq = fromBerStrict(keyBytes, found, 'key');
      if (!(seq instanceof asn1js.Sequence) || !seq.idBlock.isConstructed) throw new Error('not an RSAPublicKey');
      const parts = seq.valueBlock.value as unknown[];
      if (parts.length !== 2) throw new Error('not an RSAPublicKey');
      const [n, e] = parts.map(blk);
      const isInteger = (x: Blk | undefined): boolean => !!x && x.idBlock.tagClass === 1 && x.idBlock.tagNumber === 2 && !x.idBlock.isConstructed;
      if (!isInteger(n) || !isInteger(e) || !n) throw new Error('not an RSAPublicKey');
      let m = Buffer.from(n.valueBlock.valueHexView ?? []);
      while (m.length > 1 && m[0] === 0) m = m.subarray(1);
      return `rsa-${m.length === 0 ? 0 : (m.length - 1) * 8 + (32 - Math.clz32(m[0] as number))}`;
    } catch {
      found.add('key');
      return '?';
    }
  }
  if (id === OID.ecPublicKey) {
    if (!params || !(params instanceof asn1js.ObjectIdentifier)) {
      found.add('key');
      return '?';
    }
    const curve = oidChecked(params, found);
    return CURVE_NAMES[curve] ?? `ec-${curve}`;
  }
  if (id === OID.ed25519) {
    if (keyBytes.length !== 32) found.add('key');
    return 'ed25519';
  }
  return `unknown-${id}`;
}

function theirs(der: Buffer): Outcome {
  const found = new Set<Leniency>();
  try {
    const top = fromBerStrict(der, found, 'trailing');
    extraElements(top, found);
    const csr = pkijs.CertificationRequest.fromBER(der);
    if (csr.version !== 0) found.add('version');
    const sig = csr.signatureValue.valueBlock;
    if (sig.unusedBits !== 0 || sig.valueHexView.length === 0) found.add('signature');
    checkOid(csr.signatureAlgorithm.algorithmId, 0, found);

    // The info's own elements, as asn1js read them (raw bytes, not pkijs's re-encoding).
    const info = (top.valueBlock.value as unknown[]).map(blk)[0] as Blk;
    const spki = blk((info.valueBlock.value as unknown[])[2]);
    const keyAlgorithm = keyAlgorithmOf(spki, found);

    const subject = csr.subject.typesAndValues.map((tv) => ({ type: tv.type, value: stringValue(blk(tv.value), found) }));
    for (const tv of csr.subject.typesAndValues) checkOid(tv.type, 0, found);

    const san: View['san'] = { dns: [], ipHex: [], email: [], uri: [], unsupported: [] };
    for (const attr of csr.attributes ?? []) {
      checkOid(attr.type, 0, found);
      if (attr.type === OID.challengePassword && attr.values[0]) stringValue(blk(attr.values[0]), found);
      if (attr.type !== OID.extensionRequest) continue;
      if (attr.values.length !== 1) found.add('extensionRequest');
      for (const value of attr.values) {
        const exts = new pkijs.Extensions({ schema: value });
        for (const ext of exts.extensions ?? []) {
          checkOid(ext.extnID, 0, found);
          if (ext.extnID !== OID.subjectAltName) continue;
          fromBerStrict(ext.extnValue.valueBlock.valueHexView, found, 'sanValue');
          const names: unknown = ext.parsedValue;
          if (!(names instanceof pkijs.AltName) || 'parsingError' in names) throw new Error('pkijs cannot read the subjectAltName');
          for (const gn of names.altNames) {
            if (gn.type === 1 || gn.type === 2 || gn.type === 6) {
              const s = String(gn.value);
              if ([...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7e)) found.add('sanValue');
              (gn.type === 1 ? san.email : gn.type === 2 ? san.dns : san.uri).push(s);
            } else if (gn.type === 7) {
              const bytes = blk(gn.value).valueBlock.valueHexView ?? new Uint8Array();
              if (bytes.length !== 4 && bytes.length !== 16) found.add('sanValue');
              san.ipHex.push(hex(bytes));
            } else {
              if (gn.type === 3 || gn.type === 5) found.add('sanValue');
              // registeredID: pkijs hands over the OID as text; ours bounds it as every OID it reads.
              if (gn.type === 8) checkOid(String(gn.value), new asn1js.ObjectIdentifier({ value: String(gn.value) }).valueBlock.toBER(false).byteLength, found);
              san.unsupported.push(gn.type);
            }
          }
        }
      }
    }
    return { ok: true, leniencies: found, view: { subject, spkiHex: hex(spki.valueBeforeDecodeView), keyAlgorithm, san } };
  } catch (e) {
    return { ok: false, why: (e as Error).message, leniencies: found };
  }
}

// ---------- the comparison ----------

const tally: Record<string, number> = {};
const count = (k: string): void => void (tally[k] = (tally[k] ?? 0) + 1);

function agree(der: Buffer): void {
  const o = ours(der);
  const t = theirs(der);
  if (o.ok && t.ok) {
    count('both accept');
    expect(o.view, `both accept ${der.toString('hex')}`).toEqual(t.view);
  } else if (!o.ok && !t.ok) {
    count('both refuse');
  } else if (o.ok && !t.ok) {
    throw new Error(`ours accepts what pkijs refuses (${t.why}): ${der.toString('hex')}`);
  } else if (!o.ok && t.ok) {
    if (t.leniencies.size === 0) {
    throw new Error(`ours refuses (${o.why}) what pkijs accepts, for none of the named reasons (${Object.keys(LENIENCY).join(', ')}): ${der.toString('hex')}`);
    }
    for (const l of t.leniencies) count(`ours refuses, pkijs lenient: ${l}`);
  }
}

// ---------- generation ----------

const keys = {
  rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  p256: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
  p384: generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey,
};
const spkis: Record<keyof typeof keys, Buffer> = {
  rsa: createPublicKey(keys.rsa).export({ format: 'der', type: 'spki' }),
  p256: createPublicKey(keys.p256).export({ format: 'der', type: 'spki' }),
  p384: createPublicKey(keys.p384).export({ format: 'der', type: 'spki' }),
};

const TYPES = [OID.commonName, OID.commonName, OID.organizationName, OID.organizationalUnitName, OID.countryName, OID.localityName, OID.emailAddress, '1.3.6.1.4.1.99999.1'];
const bmpString = (s: string): Buffer => tlv(0x1e, Buffer.from(s, 'utf16le').swap16());
const PRINTABLE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \'()+,-./:=?';

const attrValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => utf8String(s)),
  fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength: 20 }).map((s) => printableString(s)),
  fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((s) => ia5String(s)),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map(bmpString),
  fc.string({ unit: 'grapheme-ascii', maxLength: 10 }).map((s) => tlv(0x14, Buffer.from(s, 'latin1'))),
);
const rdn = fc.array(fc.tuple(fc.constantFrom(...TYPES), attrValue), { minLength: 1, maxLength: 2 });
const subjectArb = fc.array(rdn, { maxLength: 5 }).map((rdns) => sequence(...rdns.map((atvs) => set(...atvs.map(([t, v]) => sequence(oid(t), v))))));

const generalName = fc.oneof(
  fc.domain().map((d) => implicitPrimitive(2, Buffer.from(d, 'latin1'))),
  fc.ipV4().map((ip) => implicitPrimitive(7, ipToBytes(ip) as Buffer)),
  fc.ipV6().map((ip) => implicitPrimitive(7, ipToBytes(ip) as Buffer)),
  fc.emailAddress().map((e) => implicitPrimitive(1, Buffer.from(e, 'latin1'))),
  fc.webUrl().map((u) => implicitPrimitive(6, Buffer.from(u, 'latin1'))),
  fc.constant(implicitPrimitive(8, oid('1.2.3.4').subarray(2))), // registeredID: not issued by us
  fc.constant(tlv(0xa0, Buffer.concat([oid('1.3.6.1.4.1.311.20.2.3'), tlv(0xa0, utf8String('upn@x'))]))), // otherName
);
const sanExt = fc.tuple(fc.array(generalName, { minLength: 1, maxLength: 6 }), fc.boolean()).map(([names, critical]) =>
  sequence(oid(OID.subjectAltName), ...(critical ? [boolean(false)] : []), octetString(sequence(...names))),
);
const keyUsageExt = sequence(oid(OID.keyUsage), boolean(true), octetString(tlv(0x03, Buffer.from([0x05, 0xa0]))));
const attrsArb = fc
  .record({
    san: fc.option(sanExt, { nil: undefined }),
    keyUsage: fc.boolean(),
    challenge: fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 12 }), { nil: undefined }),
    // 'twoAttrs': keyUsage and SAN in two extensionRequest attributes; 'twoValues': in two values of one.
    shape: fc.constantFrom('field', 'field', 'field', 'none', 'twoAttrs', 'twoValues'),
  })
  .map(({ san, keyUsage, challenge, shape }) => {
    if (shape === 'none') return Buffer.alloc(0);
    const exts = [...(keyUsage ? [keyUsageExt] : []), ...(san ? [san] : [])];
    const extReq = (...values: Buffer[]): Buffer => sequence(oid(OID.extensionRequest), set(...values));
    const split = (shape === 'twoAttrs' || shape === 'twoValues') && exts.length === 2;
    const attrs = [
      ...(split && shape === 'twoAttrs' ? [extReq(sequence(keyUsageExt)), extReq(sequence(san as Buffer))] : []),
      ...(split && shape === 'twoValues' ? [extReq(sequence(keyUsageExt), sequence(san as Buffer))] : []),
      ...(!split && exts.length ? [extReq(sequence(...exts))] : []),
      ...(challenge !== undefined ? [sequence(oid(OID.challengePassword), set(utf8String(challenge)))] : []),
    ];
    return tlv(0xa0, Buffer.concat(attrs));
  });

function assemble(keyName: keyof typeof keys, subject: Buffer, attrs: Buffer): Buffer {
  const info = sequence(smallInteger(0), subject, spkis[keyName], attrs);
  const key = keys[keyName];
  const hash = keyName === 'p384' ? 'sha384' : 'sha256';
  const alg =
    keyName === 'rsa' ? sequence(oid(OID.sha256WithRSAEncryption), Buffer.from([5, 0])) : sequence(oid(keyName === 'p384' ? OID.ecdsaWithSHA384 : OID.ecdsaWithSHA256));
  return sequence(info, alg, bitString(sign(hash, info, { key, dsaEncoding: 'der' })));
}
const csrArb = fc.tuple(fc.constantFrom('rsa', 'p256', 'p384') as fc.Arbitrary<keyof typeof keys>, subjectArb, attrsArb).map(([k, s, a]) => assemble(k, s, a));

// ---------- the tests ----------

describe('CSR parser vs pkijs', () => {
  it('agree on generated CSRs (names, key, extensions)', () => {
    fc.assert(
      fc.property(csrArb, (der) => {
        const o = ours(der);
        const t = theirs(der);
        // Everything generated is well-formed, except where a named rule of ours refuses it.
        expect(o.ok || [...t.leniencies].every((l) => l === 'extensionRequest'), o.ok ? '' : o.why).toBe(true);
        agree(der);
      }),
      { numRuns: 400 },
    );
  });

  it('agree on byte-level mutations of valid CSRs', () => {
    const seeds = fc.sample(csrArb, { numRuns: 40, seed: 42 });
    const edit = fc.oneof(
      fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
      fc.record({ op: fc.constant('set' as const), pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('truncate' as const), pos: fc.nat() }),
      fc.record({ op: fc.constant('insert' as const), pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 3 }), (seed, edits) => {
        let b = Buffer.from(seed);
        for (const e of edits) {
          const pos = b.length ? e.pos % b.length : 0;
          if (e.op === 'flip') b[pos] = (b[pos] ?? 0) ^ (1 << e.bit);
          else if (e.op === 'set') b[pos] = e.val;
          else if (e.op === 'truncate') b = b.subarray(0, pos);
          else if (e.op === 'insert') b = Buffer.concat([b.subarray(0, pos), Buffer.from([e.val]), b.subarray(pos)]);
          else b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + e.len)]);
        }
        agree(b);
      }),
      { numRuns: Number(process.env.CSR_DIFF_RUNS ?? 4000), ...(process.env.CSR_DIFF_SEED ? { seed: Number(process.env.CSR_DIFF_SEED) } : {}) },
    );
    console.log('CSR differential tally:', tally);
  });
  // Each documented leniency, shown once: ours refuses, pkijs accepts, and the reason is detected.
  it('refuses, where pkijs accepts, only for the named reasons', () => {
    const name = sequence(set(sequence(oid(OID.commonName), utf8String('a.test'))));
    const dns = (b: Buffer): Buffer => tlv(0xa0, sequence(oid(OID.extensionRequest), set(sequence(sequence(oid(OID.subjectAltName), octetString(sequence(b)))))));
    const build = (p: { version?: Buffer; subject?: Buffer; spki?: Buffer; attrs?: Buffer; sigAlg?: Buffer; sig?: Buffer } = {}): Buffer =>
      sequence(
        sequence(p.version ?? smallInteger(0), p.subject ?? name, p.spki ?? spkis.p256, p.attrs ?? dns(implicitPrimitive(2, Buffer.from('a.test')))),
        p.sigAlg ?? sequence(oid(OID.ecdsaWithSHA256)),
        p.sig ?? bitString(Buffer.alloc(70, 1)),
      );
    const good = build();
    expect(ours(good).ok).toBe(true);
    const ecPoint = spkis.p256.subarray(-65);
    const cases: [Leniency, Buffer][] = [
      ['trailing', Buffer.concat([good, Buffer.from([0])])],
      ['ber', Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(good[1] === 0x81 ? 3 : 4), Buffer.from([0, 0])])],
      ['version', build({ version: smallInteger(1) })],
      ['nameValue', build({ subject: sequence(set(sequence(oid(OID.commonName), smallInteger(7)))) })],
      ['nameValue', build({ subject: sequence(set(sequence(oid(OID.commonName), tlv(0x0c, Buffer.from([0xc3, 0x28]))))) })],
      ['key', build({ spki: sequence(sequence(oid(OID.ecPublicKey), Buffer.from([5, 0])), bitString(ecPoint)) })],
      ['key', build({ spki: sequence(sequence(oid(OID.rsaEncryption), smallInteger(0)), bitString(sequence(smallInteger(3233), smallInteger(17)))) })],
      ['sanValue', build({ attrs: dns(implicitPrimitive(2, Buffer.from('a\u0001.test', 'latin1'))) })],
      ['sanValue', build({ attrs: dns(implicitPrimitive(7, Buffer.from([10, 0, 0, 1, 2]))) })],
      ['signature', build({ sig: bitString(Buffer.alloc(70, 1), 1) })],
      ['extensionRequest', build({ attrs: tlv(0xa0, sequence(oid(OID.extensionRequest), set(sequence(keyUsageExt), sequence(keyUsageExt)))) })],
      ['extraElements', build({ sigAlg: sequence(oid(OID.ecdsaWithSHA256), Buffer.from([5, 0]), Buffer.from([5, 0])) })],
      ['content', build({ attrs: tlv(0xa0, sequence(oid('1.2.3.4'), set(Buffer.from([1, 2, 0, 0])))) })],
      ['content', build({ sigAlg: sequence(oid(OID.ecdsaWithSHA256), Buffer.from([0, 0])) })],
    ];
    for (const [reason, der] of cases) {
      const o = ours(der);
      const t = theirs(der);
      expect(o.ok, reason).toBe(false);
      expect(t.ok, `${reason}: ${t.ok ? '' : t.why}`).toBe(true);
      expect([...t.leniencies], reason).toContain(reason);
      agree(der);
    }
  });
});
