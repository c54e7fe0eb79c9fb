import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { beforeAll, describe, expect, it } from 'vitest';
import { REVOCATION_REASON_CODES, type KeyAlgorithm } from '../src/core/types.js';
import { keyIdentifier, randomSerial, signCertificate, type Signer } from '../src/pki/certificate.js';
import { buildCrl, type CrlEntry, crlToPem, REVOCATION_REASONS, type RevocationReason } from '../src/pki/crl.js';
import { children, DerError, generalizedTime, readNode, time, tlvOf } from '../src/pki/der.js';
import { normalizeSerialHex, serialHexOfInteger } from '../src/pki/serial.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import { toPem } from '../src/pki/pem.js';
import { openssl, tempDir } from './helpers/openssl.js';
import { crlSignedBy, readCrlWithPkijs } from './helpers/pkijs.js';

interface TestCa {
  signer: Signer;
  publicKey: KeyObject;
  nameDer: Buffer;
  keyId: Buffer;
  certDer: Buffer;
  certPem: string;
  dir: string;
}

function makeCa(algorithm: KeyAlgorithm, cn: string): TestCa {
  const { privateKey } =
    algorithm === 'ec-p256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKey = createPublicKey(privateKey);
  const spkiDer = publicKey.export({ format: 'der', type: 'spki' });
  const nameDer = encodeName(parseDnString(`CN=${cn}, O=certgate`));
  const keyId = keyIdentifier(spkiDer);
  const signer: Signer = { key: privateKey, algorithm };
  const certDer = signCertificate(
    {
      serial: randomSerial(),
      issuerDer: nameDer,
      subjectDer: nameDer,
      spkiDer,
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2035-01-01T00:00:00Z'),
      ca: {},
      keyUsage: ['keyCertSign', 'cRLSign'],
      extendedKeyUsage: [],
      subjectKeyId: keyId,
    },
    signer,
  );
  const dir = tempDir('certgate-crl-');
  const certPem = toPem('CERTIFICATE', certDer);
  writeFileSync(join(dir, 'ca.pem'), certPem);
  writeFileSync(join(dir, 'ca.key'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return { signer, publicKey, nameDer, keyId, certDer, certPem, dir };
}

/** openssl with both output streams and a large buffer (the 100k CRL prints ~20 MB of text). */
function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function writeCrl(ca: TestCa, der: Buffer, name: string): string {
  const path = join(ca.dir, name);
  writeFileSync(path, crlToPem(der));
  return path;
}

function writeDer(ca: TestCa, der: Buffer, name: string): string {
  const path = join(ca.dir, name);
  writeFileSync(path, der);
  return path;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** OpenSSL's ASN1_TIME_print format: "Jan  1 00:00:00 2026 GMT". */
function opensslDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} GMT`;
}

const REASON_TEXT: Record<RevocationReason, string> = {
  unspecified: 'Unspecified',
  keyCompromise: 'Key Compromise',
  cACompromise: 'CA Compromise',
  affiliationChanged: 'Affiliation Changed',
  superseded: 'Superseded',
  cessationOfOperation: 'Cessation Of Operation',
  certificateHold: 'Certificate Hold',
  removeFromCRL: 'Remove From CRL',
  privilegeWithdrawn: 'Privilege Withdrawn',
  aACompromise: 'AA Compromise',
};

const THIS_UPDATE = new Date('2026-03-01T12:00:00Z');
const NEXT_UPDATE = new Date('2026-03-08T12:00:00Z');

/** One entry per reason plus none, serials with the high bit set, a leading 0 nibble, tiny and 20 octets. */
function sampleEntries(): CrlEntry[] {
  const serials = [
    '80ff00112233445566778899aabbccdd', // high bit: needs the 0x00 pad in DER
    '0a1b2c3d4e5f60718293a4b5c6d7e8f9', // leading 0 nibble, as randomSerial() often gives
    '01',
    '7f',
    'ff',
    '00e1', // leading zero byte is normalized away... (checked separately, not here)
    '0123456789abcdef0123456789abcdef01234567', // 20 octets
    '5a5a5a5a',
    'c0ffee',
    '0b',
    '123456',
    'abcdef01',
  ].filter((s) => !s.startsWith('00'));
  const reasons: (RevocationReason | null)[] = [null, ...REVOCATION_REASONS];
  return serials.map((serialHex, i) => ({
    serialHex,
    revokedAt: new Date(Date.UTC(2026, 1, 1 + i, 10, i, 30)),
    reason: reasons[i % reasons.length] ?? null,
    invalidityDate: i % 2 === 0 ? new Date(Date.UTC(2026, 0, 1 + i, 8, 0, i)) : null,
  }));
}

describe('revocation reasons', () => {
  it('lists the RFC 5280 CRLReason codes in order, without 7', () => {
    expect(REVOCATION_REASONS.map((r) => REVOCATION_REASON_CODES[r])).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);
    expect(Object.keys(REVOCATION_REASON_CODES).sort()).toEqual([...REVOCATION_REASONS].sort());
  });
});

describe('der.ts times and serials, read back by asn1js', () => {
  it('writes UTCTime for 1950..2049 and GeneralizedTime otherwise, in whole seconds', () => {
    for (const iso of ['1949-12-31T23:59:59Z', '1950-01-01T00:00:00Z', '2049-12-31T23:59:59.900Z', '2050-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
      const d = new Date(iso);
      const year = d.getUTCFullYear();
      const read = asn1js.fromBER(time(d)).result as asn1js.UTCTime | asn1js.GeneralizedTime;
      expect(read).toBeInstanceOf(year >= 1950 && year < 2050 ? asn1js.UTCTime : asn1js.GeneralizedTime);
      expect(read.toDate()).toEqual(new Date(Math.floor(d.getTime() / 1000) * 1000));
      expect((asn1js.fromBER(generalizedTime(d)).result as asn1js.GeneralizedTime).toDate()).toEqual(read.toDate());
    }
    expect(() => time(new Date(NaN), 'thisUpdate')).toThrow('thisUpdate: invalid date');
    expect(() => generalizedTime(new Date('+010000-01-01T00:00:00Z'))).toThrow(DerError);
  });

  it('keeps one form of a serial, from hex or from INTEGER content, and refuses what is not one', () => {
    expect(normalizeSerialHex('000ABC')).toBe('0abc');
    expect(normalizeSerialHex('fF')).toBe('ff');
    expect(() => normalizeSerialHex('00')).toThrow(DerError);
    expect(() => normalizeSerialHex('0x1')).toThrow(DerError);
    expect(serialHexOfInteger(Buffer.from('00ff', 'hex'))).toBe('ff');
    expect(serialHexOfInteger(Buffer.from('0abc', 'hex'))).toBe('0abc');
    expect(() => serialHexOfInteger(Buffer.from('0001', 'hex'))).toThrow('minimally');
    expect(() => serialHexOfInteger(Buffer.from('80', 'hex'))).toThrow('negative');
    expect(() => serialHexOfInteger(Buffer.alloc(0))).toThrow(DerError);
  });
});

describe('der children bound', () => {
  it('keeps the default cap and accepts a larger explicit one', () => {
    const nulls = Array.from({ length: 100_001 }, () => Buffer.from([0x05, 0x00]));
    const seq = tlvOf(0x30, nulls);
    const node = readNode(seq, 0);
    expect(() => children(seq, node)).toThrow(DerError);
    expect(children(seq, node, 200_000)).toHaveLength(100_001);
    expect(() => children(seq, node, 10)).toThrow('too many elements');
  });
});

for (const algorithm of ['ec-p256', 'rsa-2048'] as const) {
  describe(`CRL signed by an ${algorithm} CA`, () => {
    let ca: TestCa;
    beforeAll(() => {
      ca = makeCa(algorithm, `CRL Test CA ${algorithm}`);
    });

    it('is a v2 CRL that openssl prints and verifies, with every entry, reason and invalidity date', () => {
      const entries = sampleEntries();
      const der = buildCrl(
        { issuerDer: ca.nameDer, authorityKeyId: ca.keyId, crlNumber: 4242n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries },
        ca.signer,
      );
      const path = writeCrl(ca, der, 'sample.crl.pem');
      const text = openssl(['crl', '-in', path, '-inform', 'PEM', '-text', '-noout']);
      expect(text).toContain('Version 2 (0x1)');
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*4242\n/);
      expect(text).toMatch(/X509v3 Authority Key Identifier:\s*\n\s*(keyid:)?[0-9A-F:]+/);
      expect(text).toContain(`Last Update: ${opensslDate(THIS_UPDATE)}`);
      expect(text).toContain(`Next Update: ${opensslDate(NEXT_UPDATE)}`);
      expect(text).toContain(algorithm === 'ec-p256' ? 'ecdsa-with-SHA256' : 'sha256WithRSAEncryption');

      const blocks = text.split('Serial Number: ').slice(1);
      expect(blocks).toHaveLength(entries.length);
      entries.forEach((e, i) => {
        const block = blocks[i] as string;
        expect(block.startsWith(e.serialHex.toUpperCase())).toBe(true);
        expect(block).toContain(`Revocation Date: ${opensslDate(e.revokedAt)}`);
        if (e.reason === null || e.reason === 'unspecified') expect(block).not.toContain('CRL Reason Code');
        else expect(block).toMatch(new RegExp(`X509v3 CRL Reason Code:\\s*\\n\\s*${REASON_TEXT[e.reason]}\\n`));
        if (e.invalidityDate) expect(block).toMatch(new RegExp(`Invalidity Date:\\s*\\n\\s*${opensslDate(e.invalidityDate)}`));
        else expect(block).not.toContain('Invalidity Date');
      });
      for (const r of ['Key Compromise', 'Certificate Hold', 'Remove From CRL', 'AA Compromise']) expect(text).toContain(r);

      const verify = run(['crl', '-in', path, '-inform', 'PEM', '-CAfile', join(ca.dir, 'ca.pem'), '-noout']);
      expect(verify.out).toContain('verify OK');
      expect(verify.status).toBe(0);
    });

    it('pkijs reads back every field and verifies the signature; another key or a changed byte fails it', async () => {
      const entries = sampleEntries();
      const der = buildCrl(
        { issuerDer: ca.nameDer, authorityKeyId: ca.keyId, crlNumber: 2n ** 150n + 7n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries },
        ca.signer,
      );
      const read = readCrlWithPkijs(der);
      expect(read.version).toBe(1); // v2
      expect(read.issuerDer.equals(ca.nameDer)).toBe(true);
      expect(read.crlNumber).toBe(2n ** 150n + 7n);
      expect(read.thisUpdate).toEqual(THIS_UPDATE);
      expect(read.nextUpdate).toEqual(NEXT_UPDATE);
      expect(read.signatureAlgorithm).toBe(algorithm === 'ec-p256' ? '1.2.840.10045.4.3.2' : '1.2.840.113549.1.1.11');
      // 'unspecified' is not written (RFC 5280 §5.3.1), so it reads back as no reason.
      expect(read.entries).toEqual(entries.map((e) => ({ ...e, reason: e.reason === 'unspecified' ? null : e.reason })));
      expect(await crlSignedBy(der, ca.certDer)).toBe(true);

      const other = makeCa(algorithm, 'Someone Else');
      expect(await crlSignedBy(der, other.certDer)).toBe(false);
      const tampered = Buffer.from(der);
      const at = tampered.indexOf(Buffer.from('c0ffee', 'hex'));
      tampered[at] = 0xc1;
      // It still parses, with that one serial changed and the rest as they were.
      expect(readCrlWithPkijs(tampered).entries.map((e) => e.serialHex)).toEqual(read.entries.map((e) => (e.serialHex === 'c0ffee' ? 'c1ffee' : e.serialHex)));
      expect(read.entries.filter((e) => e.serialHex === 'c0ffee')).toHaveLength(1);
      expect(await crlSignedBy(tampered, ca.certDer)).toBe(false);
    });

    it('leaves out revokedCertificates when empty, and openssl and pkijs still verify it', async () => {
      const der = buildCrl(
        { issuerDer: ca.nameDer, authorityKeyId: null, crlNumber: 0n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries: [] },
        ca.signer,
      );
      // TBSCertList: version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions. Nothing else.
      const tbs = children(der, children(der, readNode(der, 0))[0] as ReturnType<typeof readNode>);
      expect(tbs.map((n) => n.tag)).toEqual([0x02, 0x30, 0x30, 0x17, 0x17, 0xa0]);
      const path = writeCrl(ca, der, 'empty.crl.pem');
      const text = openssl(['crl', '-in', path, '-text', '-noout']);
      expect(text).toContain('No Revoked Certificates.');
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*0\n/);
      expect(text).not.toContain('Authority Key Identifier');
      expect(run(['crl', '-in', path, '-CAfile', join(ca.dir, 'ca.pem'), '-noout']).out).toContain('verify OK');
      const read = readCrlWithPkijs(der);
      expect(read.crl.revokedCertificates).toBeUndefined();
      expect(read.crlNumber).toBe(0n);
      expect(await crlSignedBy(der, ca.certDer)).toBe(true);
    });
  });
}

describe('CRL encoding details', () => {
  let ca: TestCa;
  beforeAll(() => {
    ca = makeCa('ec-p256', 'Details CA');
  });
  const base = { authorityKeyId: null, crlNumber: 1n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE };

  it('normalizes serial hex, truncates to whole seconds, uses GeneralizedTime from 2050 and for invalidityDate', () => {
    const der = buildCrl(
      {
        ...base,
        issuerDer: ca.nameDer,
        nextUpdate: new Date('2050-01-01T00:00:00.999Z'),
        entries: [
          { serialHex: '0000ABC', revokedAt: new Date('2026-01-01T00:00:00.750Z'), reason: 'superseded', invalidityDate: new Date('2025-12-31T23:59:59.5Z') },
          { serialHex: '00ff', revokedAt: new Date('2051-01-01T00:00:00Z'), reason: null, invalidityDate: null },
        ],
      },
      ca.signer,
    );
    const p = readCrlWithPkijs(der);
    expect(p.entries).toEqual([
      { serialHex: '0abc', revokedAt: new Date('2026-01-01T00:00:00Z'), reason: 'superseded', invalidityDate: new Date('2025-12-31T23:59:59Z') },
      { serialHex: 'ff', revokedAt: new Date('2051-01-01T00:00:00Z'), reason: null, invalidityDate: null },
    ]);
    expect(p.nextUpdate).toEqual(new Date('2050-01-01T00:00:00Z'));
    expect(der.includes(Buffer.from('\x18\x0f20251231235959Z', 'latin1'))).toBe(true); // invalidityDate is always GeneralizedTime
    expect(der.includes(Buffer.from('\x18\x0f20500101000000Z', 'latin1'))).toBe(true);
    expect(der.includes(Buffer.from('\x02\x02\x00\xff', 'latin1'))).toBe(true); // positive INTEGER keeps its pad
  });

  it('rejects bad input', () => {
    const entry = (over: Partial<CrlEntry>): CrlEntry => ({ serialHex: '01', revokedAt: THIS_UPDATE, reason: null, invalidityDate: null, ...over });
    const build = (entries: CrlEntry[], crlNumber = 1n): Buffer => buildCrl({ ...base, issuerDer: ca.nameDer, crlNumber, entries }, ca.signer);
    expect(() => build([entry({ serialHex: 'xyz' })])).toThrow(DerError);
    expect(() => build([entry({ serialHex: '' })])).toThrow(DerError);
    expect(() => build([entry({ serialHex: '0000' })])).toThrow(DerError);
    expect(() => build([entry({ revokedAt: new Date(NaN) })])).toThrow(DerError);
    expect(() => build([entry({ reason: 'bogus' as RevocationReason })])).toThrow(DerError);
    expect(() => build([], -1n)).toThrow(DerError);
    expect(() => build([], 2n ** 160n)).toThrow(DerError);
    expect(build([], 2n ** 159n - 1n).length).toBeGreaterThan(0);
  });
});

describe('a 100,000-entry CRL', () => {
  it('verifies with openssl, which prints every entry as it was given', () => {
    const ca = makeCa('ec-p256', 'Big CRL CA');
    const reasons: (RevocationReason | null)[] = [null, ...REVOCATION_REASONS.filter((r) => r !== 'unspecified')];
    const base = Date.UTC(2025, 0, 1);
    const entries: CrlEntry[] = Array.from({ length: 100_000 }, (_, i) => ({
      serialHex: randomSerial().toString('hex'),
      revokedAt: new Date(base + i * 61_000),
      reason: reasons[i % reasons.length] ?? null,
      invalidityDate: i % 3 === 0 ? new Date(base - i * 1000) : null,
    }));
    const der = buildCrl({ issuerDer: ca.nameDer, authorityKeyId: ca.keyId, crlNumber: 99n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries }, ca.signer);

    const path = writeCrl(ca, der, 'big.crl.pem');
    expect(run(['crl', '-in', path, '-CAfile', join(ca.dir, 'ca.pem'), '-noout']).out).toContain('verify OK');
    const text = run(['crl', '-inform', 'DER', '-in', writeDer(ca, der, 'big.crl'), '-text', '-noout']);
    expect(text.status).toBe(0);
    const blocks = text.out.split('Serial Number: ').slice(1);
    expect(blocks).toHaveLength(entries.length);
    const mismatches = entries.filter((e, i) => {
      const block = blocks[i] as string;
      return (
        !block.startsWith(e.serialHex.toUpperCase()) ||
        !block.includes(`Revocation Date: ${opensslDate(e.revokedAt)}`) ||
        (e.reason === null ? block.includes('CRL Reason Code') : !block.includes(`${REASON_TEXT[e.reason]}\n`)) ||
        (e.invalidityDate === null ? block.includes('Invalidity Date') : !block.includes(opensslDate(e.invalidityDate)))
      );
    });
    expect(mismatches).toEqual([]);
  });
});
