import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { KeyAlgorithm } from '../src/core/types.js';
import { keyIdentifier, randomSerial, signCertificate, type Signer } from '../src/pki/certificate.js';
import {
  buildCrl,
  type CrlEntry,
  crlToPem,
  parseCrl,
  REVOCATION_REASON_BY_CODE,
  REVOCATION_REASON_CODE,
  REVOCATION_REASONS,
  type RevocationReason,
  verifyCrlSignature,
} from '../src/pki/crl.js';
import { children, DerError, readNode, tlvOf } from '../src/pki/der.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import { openssl, tempDir } from './helpers/openssl.js';

interface TestCa {
  signer: Signer;
  publicKey: KeyObject;
  nameDer: Buffer;
  keyId: Buffer;
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
  return { signer, publicKey, nameDer, keyId, certPem, dir };
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
    expect(REVOCATION_REASONS.map((r) => REVOCATION_REASON_CODE[r])).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);
    expect(REVOCATION_REASON_BY_CODE.get(7)).toBeUndefined();
    for (const r of REVOCATION_REASONS) expect(REVOCATION_REASON_BY_CODE.get(REVOCATION_REASON_CODE[r])).toBe(r);
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

    it('round-trips every field through parseCrl and verifies its own signature', () => {
      const entries = sampleEntries();
      const der = buildCrl(
        { issuerDer: ca.nameDer, authorityKeyId: ca.keyId, crlNumber: 2n ** 150n + 7n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries },
        ca.signer,
      );
      const parsed = parseCrl(der);
      expect(parsed.issuerDer.equals(ca.nameDer)).toBe(true);
      expect(parsed.crlNumber).toBe(2n ** 150n + 7n);
      expect(parsed.thisUpdate).toEqual(THIS_UPDATE);
      expect(parsed.nextUpdate).toEqual(NEXT_UPDATE);
      expect(parsed.signatureAlgorithm).toBe(algorithm === 'ec-p256' ? '1.2.840.10045.4.3.2' : '1.2.840.113549.1.1.11');
      // 'unspecified' is not written (RFC 5280 §5.3.1), so it reads back as no reason.
      expect(parsed.entries).toEqual(entries.map((e) => ({ ...e, reason: e.reason === 'unspecified' ? null : e.reason })));
      expect(verifyCrlSignature(parsed, ca.publicKey)).toBe(true);

      const other = makeCa(algorithm, 'Someone Else');
      expect(verifyCrlSignature(parsed, other.publicKey)).toBe(false);
      const wrongType = makeCa(algorithm === 'ec-p256' ? 'rsa-2048' : 'ec-p256', 'Other Type');
      expect(verifyCrlSignature(parsed, wrongType.publicKey)).toBe(false);
      const tampered = Buffer.from(der);
      const at = tampered.indexOf(Buffer.from('c0ffee', 'hex'));
      tampered[at] = 0xc1;
      const tp = parseCrl(tampered);
      expect(tp.entries.some((e) => e.serialHex === 'c1ffee')).toBe(true);
      expect(verifyCrlSignature(tp, ca.publicKey)).toBe(false);
    });

    it('leaves out revokedCertificates when empty, and openssl still verifies it', () => {
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
      const parsed = parseCrl(der);
      expect(parsed.entries).toEqual([]);
      expect(parsed.crlNumber).toBe(0n);
      expect(verifyCrlSignature(parsed, ca.publicKey)).toBe(true);
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
    const p = parseCrl(der);
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

  it('parses a CRL made by openssl ca -gencrl (another encoder), v2 with reasons and invalidity dates', () => {
    const dir = ca.dir;
    writeFileSync(
      join(dir, 'index.txt'),
      [
        'R\t301231000000Z\t260101000000Z,keyTime,20251231000000Z\t0A1B\tunknown\t/CN=a',
        'R\t301231000000Z\t260102000000Z,certificateHold,holdInstructionReject\t80FF\tunknown\t/CN=b',
        'R\t301231000000Z\t260103000000Z,superseded\t01\tunknown\t/CN=c',
        'R\t301231000000Z\t260104000000Z\t02\tunknown\t/CN=d',
        'V\t301231000000Z\t\t03\tunknown\t/CN=e',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'crlnumber'), '1F\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n`,
    );
    const out = join(dir, 'openssl.crl.pem');
    const r = run(['ca', '-gencrl', '-batch', '-config', join(dir, 'ca.cnf'), '-keyfile', join(dir, 'ca.key'), '-cert', join(dir, 'ca.pem'), '-out', out]);
    expect(r.status, r.out).toBe(0);
    const der = fromPem(openssl(['crl', '-in', out]), ['X509 CRL']);
    const p = parseCrl(der);
    expect(p.crlNumber).toBe(0x1fn);
    expect(p.issuerDer.equals(ca.nameDer)).toBe(true);
    expect(verifyCrlSignature(p, ca.publicKey)).toBe(true);
    // openssl sorts the entries by serial when it signs.
    const bySerial = [...p.entries].sort((x, y) => x.revokedAt.getTime() - y.revokedAt.getTime());
    expect(bySerial).toEqual([
      { serialHex: '0a1b', revokedAt: new Date('2026-01-01T00:00:00Z'), reason: 'keyCompromise', invalidityDate: new Date('2025-12-31T00:00:00Z') },
      { serialHex: '80ff', revokedAt: new Date('2026-01-02T00:00:00Z'), reason: 'certificateHold', invalidityDate: null },
      { serialHex: '01', revokedAt: new Date('2026-01-03T00:00:00Z'), reason: 'superseded', invalidityDate: null },
      { serialHex: '02', revokedAt: new Date('2026-01-04T00:00:00Z'), reason: null, invalidityDate: null },
    ]);
  });
});

describe('a 100,000-entry CRL', () => {
  it('builds, verifies with openssl and parses back with every entry equal', () => {
    const ca = makeCa('ec-p256', 'Big CRL CA');
    const reasons: (RevocationReason | null)[] = [null, ...REVOCATION_REASONS.filter((r) => r !== 'unspecified')];
    const base = Date.UTC(2025, 0, 1);
    const entries: CrlEntry[] = Array.from({ length: 100_000 }, (_, i) => ({
      serialHex: randomSerial().toString('hex'),
      revokedAt: new Date(base + i * 61_000),
      reason: reasons[i % reasons.length] ?? null,
      invalidityDate: i % 3 === 0 ? new Date(base - i * 1000) : null,
    }));

    let t = performance.now();
    const der = buildCrl({ issuerDer: ca.nameDer, authorityKeyId: ca.keyId, crlNumber: 99n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries }, ca.signer);
    const buildMs = performance.now() - t;
    t = performance.now();
    const parsed = parseCrl(der);
    const parseMs = performance.now() - t;
    console.log(`100k-entry CRL: ${(der.length / 1e6).toFixed(2)} MB, build ${buildMs.toFixed(0)} ms, parse ${parseMs.toFixed(0)} ms`);

    expect(parsed.entries).toHaveLength(entries.length);
    let mismatches = 0;
    for (let i = 0; i < entries.length; i++) {
      const a = entries[i] as CrlEntry;
      const b = parsed.entries[i] as CrlEntry;
      if (
        a.serialHex !== b.serialHex ||
        a.revokedAt.getTime() !== b.revokedAt.getTime() ||
        a.reason !== b.reason ||
        (a.invalidityDate?.getTime() ?? null) !== (b.invalidityDate?.getTime() ?? null)
      ) {
        mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    expect(verifyCrlSignature(parsed, ca.publicKey)).toBe(true);

    const path = writeCrl(ca, der, 'big.crl.pem');
    expect(run(['crl', '-in', path, '-CAfile', join(ca.dir, 'ca.pem'), '-noout']).out).toContain('verify OK');
    const text = run(['crl', '-in', path, '-text', '-noout']);
    expect(text.status).toBe(0);
    expect(text.out.split('Serial Number: ').length - 1).toBe(100_000);
  });
});

describe('parseCrl on hostile input', () => {
  let good: Buffer;
  beforeAll(() => {
    const ca = makeCa('ec-p256', 'Fuzz CA');
    good = buildCrl(
      { issuerDer: ca.nameDer, authorityKeyId: ca.keyId, crlNumber: 7n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries: sampleEntries() },
      ca.signer,
    );
  });

  /** parseCrl may return or throw DerError; anything else fails the property. */
  function check(bytes: Buffer): void {
    try {
      const p = parseCrl(bytes);
      expect(Array.isArray(p.entries)).toBe(true);
    } catch (e) {
      if (!(e instanceof DerError)) throw e;
    }
  }

  it('throws DerError or returns on random bytes, edits, truncations and splices', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 800 }), (bytes) => check(Buffer.from(bytes))), { numRuns: 3000 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const b = Buffer.from(good);
        for (const [at, v] of edits) b[at] = v;
        check(b);
      }),
      { numRuns: 5000 },
    );
    fc.assert(fc.property(fc.nat(good.length), (cut) => check(good.subarray(0, cut))), { numRuns: 1000 });
    fc.assert(
      fc.property(fc.nat(good.length), fc.nat(good.length), fc.uint8Array({ maxLength: 40 }), (a, b, ins) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        check(Buffer.concat([good.subarray(0, from), Buffer.from(ins), good.subarray(to)]));
      }),
      { numRuns: 3000 },
    );
  });

  it('names the problem for classic malformations', () => {
    expect(() => parseCrl(Buffer.alloc(0))).toThrow(DerError);
    expect(() => parseCrl(Buffer.concat([good, Buffer.from([0])]))).toThrow('trailing data');
    expect(() => parseCrl(Buffer.from([0x30, 0x80, 0x00, 0x00]))).toThrow('indefinite');
    expect(() => parseCrl(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]))).toThrow(DerError);
  });
});
