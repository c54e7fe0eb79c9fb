// One serial parser (src/pki/serial.ts) for what people type, what X509Certificate prints and
// what DER carries: every spelling of one serial is the same row.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DerError } from '../src/pki/der.js';
import { normalizeSerialHex, serialFromText, serialHexOfInteger, serialIntegerContent, serialOrNull } from '../src/pki/serial.js';

/** certgate's form, computed without the module: the magnitude's bytes in lower-case hex. */
const canonical = (n: bigint): string => {
  const hex = n.toString(16);
  return hex.length % 2 ? `0${hex}` : hex;
};
/** DER INTEGER content octets, as a CA writes them (a zero byte before a set top bit). */
const integerContent = (n: bigint): Buffer => {
  const bytes = Buffer.from(canonical(n), 'hex');
  return (bytes[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
};
const refused = (reason: string): Error => new Error(`refused: ${reason}`);

describe('serial numbers', () => {
  it('any positive serial, in every spelling, is one canonical serial (property)', () => {
    const serial = fc.bigInt({ min: 1n, max: (1n << 160n) - 1n });
    fc.assert(
      fc.property(serial, fc.nat({ max: 3 }), (n, zeros) => {
        const want = canonical(n);
        const hexForms = [n.toString(16), n.toString(16).toUpperCase(), want, `${'00'.repeat(zeros)}${want}`, `${'0'.repeat(zeros)}${n.toString(16)}`];
        for (const form of hexForms) {
          expect(normalizeSerialHex(form)).toBe(want);
          expect(serialFromText(form, refused)).toBe(want);
          expect(serialOrNull(form)).toBe(want);
        }
        const pairs = want.toUpperCase().match(/../g) as string[];
        expect(serialFromText(pairs.join(':'), refused)).toBe(want); // openssl x509 -serial, browsers
        expect(serialFromText(pairs.join(' '), refused)).toBe(want); // certificate viewers
        const content = integerContent(n);
        expect(serialHexOfInteger(content)).toBe(want);
        expect(serialOrNull(content)).toBe(want);
        expect(serialIntegerContent(want)).toEqual(content);
        expect(serialIntegerContent(n.toString(16).toUpperCase())).toEqual(content);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses zero, nothing and what is not hex, with the reason, through the caller', () => {
    for (const [text, reason] of [
      ['0', 'serial number must be positive'],
      ['00:00', 'serial number must be positive'],
      ['', 'bad serial number ""'],
      ['0x1f', 'bad serial number "0x1f"'],
      ['not-hex', 'bad serial number "not-hex"'],
      ['-01', 'bad serial number "-01"'],
    ] as const) {
      expect(() => serialFromText(text, refused)).toThrow(`refused: ${reason}`);
      expect(serialOrNull(text)).toBeNull();
    }
    expect(() => normalizeSerialHex('0x1')).toThrow(DerError);
    expect(serialOrNull(Buffer.alloc(0))).toBeNull();
    expect(serialOrNull(Buffer.from([0, 0]))).toBeNull();
  });

  it('reads DER leniently only where asked: serialHexOfInteger refuses what serialOrNull forgives', () => {
    expect(() => serialHexOfInteger(Buffer.from('0001', 'hex'))).toThrow('serial number is not minimally encoded');
    expect(serialOrNull(Buffer.from('0001', 'hex'))).toBe('01');
    expect(() => serialHexOfInteger(Buffer.from('80', 'hex'))).toThrow('negative serial number');
    expect(() => serialHexOfInteger(Buffer.alloc(0))).toThrow('empty serial number');
  });
});
