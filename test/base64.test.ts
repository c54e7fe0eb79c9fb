// The one lenient base64 decoder (src/pki/base64.ts) that EST bodies, SCEP GET messages, OCSP GET
// paths and PEM blocks are read with: layout is free, the characters are canonical or refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLenientBase64 } from '../src/pki/base64.js';

const whitespace = fc.constantFrom('\r\n', '\n', ' ', '\t', '');

/** `text` with white space put at arbitrary places. */
const spread = (text: string, cuts: number[], gaps: string[]): string => {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  let out = '';
  let from = 0;
  at.forEach((cut, i) => {
    out += text.slice(from, cut) + (gaps[i % gaps.length] ?? '');
    from = cut;
  });
  return out + text.slice(from);
};

const asUrl = (b64: string): string => b64.replace(/\+/g, '-').replace(/\//g, '_');

describe('decodeLenientBase64', () => {
  it('encode, spread white space, decode: the same bytes, padded or not, standard or (when allowed) url alphabet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 12 }), fc.array(whitespace, { minLength: 1, maxLength: 4 }), (bytes, cuts, gaps) => {
        const expected = Buffer.from(bytes);
        const b64 = expected.toString('base64');
        const unpadded = b64.replace(/=+$/, '');
        expect(decodeLenientBase64(spread(b64, cuts, gaps))).toEqual(expected);
        expect(decodeLenientBase64(spread(b64, cuts, gaps), { padded: true })).toEqual(expected);
        expect(decodeLenientBase64(spread(unpadded, cuts, gaps))).toEqual(expected);
        expect(decodeLenientBase64(spread(asUrl(unpadded), cuts, gaps), { url: true })).toEqual(expected);
        expect(decodeLenientBase64(b64, { url: true })).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('garbage yields null or the bytes whose canonical encoding it is, never a throw', () => {
    const alphabetish = fc.string({ unit: fc.constantFrom(...'AQgw+/-_=\n \t%.ÿ'.split('')), maxLength: 40 });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), alphabetish), fc.boolean(), fc.boolean(), (text, url, padded) => {
        const decoded = decodeLenientBase64(text, { url, padded });
        if (decoded === null) return;
        const compact = text.replace(/\s+/g, '');
        const standard = url ? compact.replace(/-/g, '+').replace(/_/g, '/') : compact;
        expect(decoded.toString('base64').replace(/=+$/, '')).toBe(standard.replace(/=+$/, ''));
        if (padded) expect(decoded.toString('base64')).toBe(standard);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses what is not canonical', () => {
    expect(decodeLenientBase64('QQ==')).toEqual(Buffer.from('A'));
    expect(decodeLenientBase64('QR==')).toBeNull(); // unused bits set
    expect(decodeLenientBase64('QUI=')).toEqual(Buffer.from('AB'));
    expect(decodeLenientBase64('QUJ=')).toBeNull();
    expect(decodeLenientBase64('QUJD\nRA')).toEqual(Buffer.from('ABCD'));
    expect(decodeLenientBase64('QUJDRA', { padded: true })).toBeNull();
    expect(decodeLenientBase64('QUJDR')).toBeNull(); // a dangling sixth of a byte
    expect(decodeLenientBase64('QQ=')).toBeNull(); // padding that does not complete the group
    expect(decodeLenientBase64('QQ===')).toBeNull();
    expect(decodeLenientBase64('QUJD=')).toBeNull();
    expect(decodeLenientBase64('Q=Q=')).toBeNull();
    expect(decodeLenientBase64('-_8')).toBeNull();
    expect(decodeLenientBase64('-_8', { url: true })).toEqual(Buffer.from([0xfb, 0xff]));
    expect(decodeLenientBase64('QQ%3D%3D')).toBeNull();
    expect(decodeLenientBase64('')).toEqual(Buffer.alloc(0));
    expect(decodeLenientBase64(' \r\n ')).toEqual(Buffer.alloc(0));
  });
});
