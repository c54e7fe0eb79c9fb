import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as asn1js from 'asn1js';
import fc from 'fast-check';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { decryptPrivateKey, encryptPrivateKey } from '../src/ca/keyProtection.js';
import { randomSerial, signCertificate } from '../src/pki/certificate.js';
import { CsrError, parseCsr, verifyCsrSignature } from '../src/pki/csr.js';
import { bytesToIp, ipToBytes } from '../src/pki/ip.js';
import { encodeName, parseDnString, parseNameDer } from '../src/pki/name.js';
import { OID } from '../src/pki/oids.js';
import { fromPem, pemBlocks, PemError, toPem } from '../src/pki/pem.js';
import { certsOnlyPkcs7 } from '../src/pki/pkcs7.js';
import { ParsedCsrHandoff } from '../src/pki/parsedCsrHandoff.js';
import { ThreadedVerifier } from '../src/pki/verifyPool.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';
import { readCertsOnly } from './helpers/pkijs.js';

const dir = tempDir();

describe('CSR parsing', () => {
  it('reads subject, key and every SAN type from an openssl CSR, and verifies its signature', () => {
    const { csrPem } = makeCsr(dir, {
      key: 'ec-p384',
      subject: '/C=DE/O=Acme, Inc./CN=host1.test',
      san: ['DNS:host1.test', 'IP:10.1.2.3', 'IP:2001:db8::1', 'email:ops@host1.test', 'URI:spiffe://acme/ns/web'],
    });
    const csr = parseCsr(csrPem);
    expect(csr.subject.commonName).toBe('host1.test');
    expect(csr.subject.text).toBe('C=DE, O=Acme\\, Inc., CN=host1.test');
    expect(csr.keyAlgorithm).toBe('ec-p384');
    expect(csr.san).toEqual({ dns: ['host1.test'], ip: ['10.1.2.3', '2001:db8::1'], email: ['ops@host1.test'], uri: ['spiffe://acme/ns/web'], unsupported: [] });
    expect(verifyCsrSignature(csr)).toBe(true);
  });

  it('names RSA keys by size', () => {
    expect(parseCsr(makeCsr(dir, { key: 'rsa-2048' }).csrPem).keyAlgorithm).toBe('rsa-2048');
  });

  it('rejects a CSR whose signature was made by another key', () => {
    const { csrPem } = makeCsr(dir);
    const csr = parseCsr(csrPem);
    const other = parseCsr(makeCsr(dir).csrPem);
    expect(verifyCsrSignature({ ...csr, signature: other.signature })).toBe(false);
  });

  it('fails with CsrError, never anything else, on arbitrary bytes and on mutated CSRs', () => {
    const good = Buffer.from(makeCsr(dir, { san: ['DNS:a.test'] }).csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const check = (input: Buffer): void => {
      try {
        const csr = parseCsr(input);
        verifyCsrSignature(csr);
      } catch (e) {
        expect(e).toBeInstanceOf(CsrError);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => check(Buffer.from(bytes))), { numRuns: 3000 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const mutated = Buffer.from(good);
        for (const [pos, val] of edits) mutated[pos] = val;
        check(mutated);
      }),
      { numRuns: 3000 },
    );
    fc.assert(fc.property(fc.nat(good.length), (cut) => check(good.subarray(0, cut))), { numRuns: 500 });
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        check(Buffer.from(s));
        parseCsrSafe(`-----BEGIN CERTIFICATE REQUEST-----\n${s}\n-----END CERTIFICATE REQUEST-----`);
      }),
      { numRuns: 500 },
    );
  });
});

function parseCsrSafe(s: string): void {
  try {
    parseCsr(s);
  } catch (e) {
    expect(e).toBeInstanceOf(CsrError);
  }
}

describe('certificate encoding', () => {
  it('round-trips IP addresses', () => {
    for (const ip of ['10.0.0.1', '::1', '2001:db8::1', 'fe80::1:2:3:4', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8']) {
      expect(bytesToIp(ipToBytes(ip) as Buffer)).toBe(ip === '::ffff:192.0.2.1' ? '::ffff:c000:201' : ip);
    }
    expect(ipToBytes('host1.test')).toBeNull();
  });

  it('draws positive 128-bit serials', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const s = randomSerial();
      expect(s.length).toBe(16);
      expect(s[0]).not.toBe(0);
      seen.add(s.toString('hex'));
    }
    expect(seen.size).toBe(2000);
  });

  it('produces certificates that node (OpenSSL) parses, with UTCTime before 2050 and GeneralizedTime after', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spkiDer = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    const name = encodeName(parseDnString('CN=Test, O=certgate'));
    expect(parseNameDer(name).text).toBe('CN=Test, O=certgate');
    const der = signCertificate(
      { serial: randomSerial(), issuerDer: name, subjectDer: name, spkiDer, notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2051-06-01T00:00:00Z'), ca: {}, keyUsage: ['keyCertSign', 'cRLSign'], extendedKeyUsage: [] },
      { key: privateKey, algorithm: 'ec-p256' },
    );
    const cert = new X509Certificate(toPem('CERTIFICATE', der));
    expect(cert.ca).toBe(true);
    expect(new Date(cert.validTo).toISOString()).toBe('2051-06-01T00:00:00.000Z');
    expect(cert.verify(cert.publicKey)).toBe(true);
  });
});

describe('CA key protection', () => {
  it('encrypts at rest and opens only with the right secret', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const env = encryptPrivateKey(privateKey, 'master-secret-123456', 'master');
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    expect(env).not.toContain(pkcs8.slice(10, 40));
    expect(decryptPrivateKey(env, 'master-secret-123456').export({ format: 'der', type: 'pkcs8' }).toString('base64')).toBe(pkcs8);
    expect(() => decryptPrivateKey(env, 'wrong-secret-1234567')).toThrow(/wrong master key/);
  });
});

describe('ids', () => {
  it('are UUIDv7: well-formed, unique, and ordered by creation time', async () => {
    const { newId } = await import('../src/core/ids.js');
    const ids = Array.from({ length: 5000 }, (_, i) => newId(1_700_000_000_000 + i));
    for (const id of ids.slice(0, 50)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('the OID table', () => {
  it('names each identifier once: no two names for one OID, every value a dotted OID', () => {
    const byValue = new Map<string, string[]>();
    for (const [name, oid] of Object.entries(OID)) byValue.set(oid, [...(byValue.get(oid) ?? []), name]);
    expect([...byValue.values()].filter((names) => names.length > 1)).toEqual([]);
    for (const oid of byValue.keys()) expect(oid).toMatch(/^[0-2](\.(0|[1-9][0-9]*))+$/);
  });
});

describe('the CSR signature verifier', () => {
  it('agrees with verifyCsrSignature on its threads, reading the hash from the same table, and refuses what it refuses', async () => {
    const verifier = new ThreadedVerifier(1);
    try {
      for (const key of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
        const csr = parseCsr(makeCsr(dir, { key, name: `thread-${key}` }).csrPem);
        const forged = { ...csr, signature: Buffer.from(csr.signature).fill(1, 8, 16) };
        expect([await verifier.verify(csr), await verifier.verify(forged)]).toEqual([true, false]);
        expect(verifyCsrSignature(forged)).toBe(false);
      }
      const csr = parseCsr(makeCsr(dir, { name: 'thread-unsupported' }).csrPem);
      for (const signatureAlgorithm of [OID.ecdsaWithSHA1, 'constructor']) {
        await expect(verifier.verify({ ...csr, signatureAlgorithm })).rejects.toThrow(new CsrError(`unsupported CSR signature algorithm ${signatureAlgorithm}`));
      }
    } finally {
      await verifier.close();
    }
  });
});

describe('the parsed-CSR handoff to the worker', () => {
  const pem = makeCsr(dir, { name: 'handoff' }).csrPem;
  const csr = parseCsr(pem);

  it('keeps nothing until a worker of this process takes from it', () => {
    const handoff = new ParsedCsrHandoff();
    handoff.put('r1', pem, csr);
    handoff.open();
    expect(handoff.take('r1', pem)).toBeUndefined();
  });

  it('gives the parsed form once, and only for the very text stored with the request', () => {
    const handoff = new ParsedCsrHandoff();
    handoff.open();
    handoff.put('r1', pem, csr);
    expect(handoff.take('r1', pem)).toBe(csr);
    expect(handoff.take('r1', pem)).toBeUndefined();
    handoff.put('r2', pem, csr);
    expect(handoff.take('r2', pem.replace('-----END', '\n-----END'))).toBeUndefined();
    expect(handoff.take('r2', pem)).toBeUndefined();
  });

  it('keeps only the newest requests when no worker takes them', () => {
    const handoff = new ParsedCsrHandoff(2);
    handoff.open();
    for (const id of ['a', 'b', 'c']) handoff.put(id, pem, csr);
    expect(['a', 'b', 'c'].map((id) => handoff.take(id, pem) !== undefined)).toEqual([false, true, true]);
  });
});

describe('certs-only PKCS#7', () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/certsOnlyPkcs7.json', import.meta.url), 'utf8')) as Record<'chain' | 'withCrl' | 'crl', string> & { certificates: string[] };
  const certificates = fixture.certificates.map((b64) => Buffer.from(b64, 'base64'));
  const crl = Buffer.from(fixture.crl, 'base64');
  const [, ca] = certificates as [Buffer, Buffer, Buffer];

  it('writes the bytes EST /cacerts, SCEP GetCACert and CertRep content, and REST pkcs7 sent before', () => {
    expect(certsOnlyPkcs7(certificates).toString('base64')).toBe(fixture.chain);
    expect(certsOnlyPkcs7([ca], [crl]).toString('base64')).toBe(fixture.withCrl);
  });

  it('is read back by pkijs and openssl: the certificates and CRLs as given, in order, and no signer', () => {
    const p7 = certsOnlyPkcs7(certificates, [crl]);
    expect(readCertsOnly(p7)).toEqual({ certificates, crls: [crl] });
    const signed = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(p7).content });
    expect(signed.signerInfos).toEqual([]);
    expect(signed.version).toBe(1);
    const file = join(dir, 'certs-only.p7b');
    writeFileSync(file, p7);
    const printed = openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']);
    const pems = printed.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
    expect(pems).toEqual(certificates.map((c) => toPem('CERTIFICATE', c)));
    expect(printed.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n/g)).toEqual([toPem('X509 CRL', crl)]);
  });

  it('leaves out an empty certificate or CRL set', () => {
    expect(readCertsOnly(certsOnlyPkcs7([]))).toEqual({ certificates: [], crls: [] });
    const fields = (der: Buffer) => (pkijs.ContentInfo.fromBER(der).content as asn1js.Sequence).valueBlock.value.map((b) => `${b.idBlock.tagClass}:${b.idBlock.tagNumber}`);
    expect(fields(certsOnlyPkcs7([]))).toEqual(['1:2', '1:17', '1:16', '1:17']);
    expect(fields(certsOnlyPkcs7([ca]))).toEqual(['1:2', '1:17', '1:16', '3:0', '1:17']);
  });
});

describe('PEM', () => {
  it('reads blocks whatever their line length, and refuses base64 that is not canonical', () => {
    const der = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    const pem = toPem('THING', der);
    expect(fromPem(pem, ['THING'])).toEqual(der);
    const b64 = der.toString('base64');
    expect(fromPem(`-----BEGIN THING-----\r\n${b64.replace(/(.{10})/g, '$1\r\n ')}\r\n-----END THING-----`, ['THING'])).toEqual(der);
    expect(() => pemBlocks('-----BEGIN THING-----\nQR==\n-----END THING-----\n')).toThrow(PemError);
    expect(() => pemBlocks('-----BEGIN THING-----\nQUJDRA\n-----END THING-----\n')).toThrow(PemError);
    expect(() => pemBlocks('-----BEGIN THING-----\nQU*D\n-----END THING-----\n')).toThrow(PemError);
  });
});
