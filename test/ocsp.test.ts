import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { KeyAlgorithm } from '../src/core/types.js';
import { keyIdentifier, randomSerial, signCertificate, type CertificateProfile, type Signer } from '../src/pki/certificate.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import {
  buildOcspResponse,
  issuerHashes,
  ocspErrorResponse,
  OcspRequestError,
  parseOcspRequest,
  responderKeyHash,
  type OcspCertStatus,
  type OcspRequest,
} from '../src/pki/ocsp.js';
import { OID } from '../src/pki/oids.js';
import { toPem } from '../src/pki/pem.js';
import { tempDir, x509Text } from './helpers/openssl.js';
import { ocspSignedFor, readOcspWithPkijs } from './helpers/pkijs.js';

const dir = tempDir('certgate-ocsp-');
const HOUR = 3_600_000;

/** Runs openssl without throwing on a non-zero exit: `openssl ocsp` prints "Response verify OK" on stderr. */
function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function ok(args: string[]): string {
  const r = run(args);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

const path = (name: string): string => join(dir, name);

function keyPair(alg: KeyAlgorithm): { privateKey: KeyObject; spkiDer: Buffer } {
  const kp = alg.startsWith('rsa')
    ? generateKeyPairSync('rsa', { modulusLength: Number(alg.slice(4)) })
    : generateKeyPairSync('ec', { namedCurve: alg === 'ec-p256' ? 'prime256v1' : 'secp384r1' });
  return { privateKey: kp.privateKey, spkiDer: kp.publicKey.export({ type: 'spki', format: 'der' }) };
}

interface Pki {
  caDer: Buffer;
  caSigner: Signer;
  caNameDer: Buffer;
  caKeyId: Buffer;
}

function writePem(name: string, der: Buffer): string {
  writeFileSync(path(name), toPem('CERTIFICATE', der));
  return path(name);
}

function makeCa(): Pki {
  const key = keyPair('ec-p256');
  const caNameDer = encodeName(parseDnString('CN=certgate OCSP Test Root, O=certgate'));
  const now = Date.now();
  const caSigner: Signer = { key: key.privateKey, algorithm: 'ec-p256' };
  const caDer = signCertificate(
    {
      serial: randomSerial(),
      issuerDer: caNameDer,
      subjectDer: caNameDer,
      spkiDer: key.spkiDer,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 24 * HOUR),
      ca: {},
      keyUsage: ['keyCertSign', 'cRLSign'],
      extendedKeyUsage: [],
    },
    caSigner,
  );
  return { caDer, caSigner, caNameDer, caKeyId: keyIdentifier(key.spkiDer) };
}

function issue(pki: Pki, cn: string, alg: KeyAlgorithm, kind: 'leaf' | 'ocsp' | 'plain-signer'): { der: Buffer; signer: Signer } {
  const key = keyPair(alg);
  const now = Date.now();
  const base = {
    serial: randomSerial(),
    issuerDer: pki.caNameDer,
    subjectDer: encodeName([{ type: OID.commonName, value: cn }]),
    spkiDer: key.spkiDer,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 24 * HOUR),
    authorityKeyId: pki.caKeyId,
  };
  // A delegated signer as ocspSigners.ts issues one (RFC 6960 §4.2.2.2).
  const profile: CertificateProfile =
    kind === 'ocsp'
      ? { ...base, keyUsage: ['digitalSignature'], extendedKeyUsage: ['ocspSigning'], ocspNoCheck: true }
      : { ...base, keyUsage: ['digitalSignature'], extendedKeyUsage: kind === 'leaf' ? ['serverAuth'] : [] };
  return { der: signCertificate(profile, pki.caSigner), signer: { key: key.privateKey, algorithm: alg } };
}

function respond(
  req: OcspRequest,
  statuses: OcspCertStatus[],
  signerCertDer: Buffer,
  signer: Signer,
  nonce: Buffer | null = req.nonce,
): Buffer {
  const now = Date.now();
  return buildOcspResponse(
    {
      responderKeyHash: responderKeyHash(signerCertDer),
      producedAt: new Date(now),
      responses: req.certIds.map((id, i) => ({
        certIdDer: id.der,
        certStatus: statuses[i] as OcspCertStatus,
        thisUpdate: new Date(now - 60_000),
        nextUpdate: new Date(now + HOUR),
      })),
      nonce,
      signerCertDer,
    },
    signer,
  );
}

let pki: Pki;
let caPem: string;
let leaf1: { der: Buffer; pem: string };
let leaf2: { der: Buffer; pem: string };
const REVOKED: OcspCertStatus = { status: 'revoked', revokedAt: new Date(Date.now() - 2 * HOUR), reason: 'keyCompromise' };

beforeAll(() => {
  pki = makeCa();
  caPem = writePem('ca.pem', pki.caDer);
  const l1 = issue(pki, 'leaf1.test', 'ec-p256', 'leaf').der;
  const l2 = issue(pki, 'leaf2.test', 'ec-p256', 'leaf').der;
  leaf1 = { der: l1, pem: writePem('leaf1.pem', l1) };
  leaf2 = { der: l2, pem: writePem('leaf2.pem', l2) };
});

/** `openssl ocsp` writes a request for the given leaves; returns its DER. */
function opensslRequest(name: string, leaves: string[], extra: string[] = []): Buffer {
  const out = path(name);
  ok(['ocsp', ...extra, '-issuer', caPem, ...leaves.flatMap((l) => ['-cert', l]), '-reqout', out]);
  return readFileSync(out);
}

describe('OCSP request parsing', () => {
  it('reads CertIDs (SHA-1 by default) and no nonce from `openssl ocsp -no_nonce`', () => {
    const req = parseOcspRequest(opensslRequest('req-plain.der', [leaf1.pem, leaf2.pem], ['-no_nonce']));
    expect(req.nonce).toBeNull();
    expect(req.certIds.map((c) => c.serialHex)).toEqual([readCertificateBasics(leaf1.der).serialHex, readCertificateBasics(leaf2.der).serialHex]);
    const [id] = req.certIds;
    expect(id?.hashAlgorithm).toBe(OID.sha1);
    const h = issuerHashes(pki.caDer, OID.sha1);
    expect(id?.issuerNameHash.equals(h.nameHash)).toBe(true);
    expect(id?.issuerKeyHash.equals(h.keyHash)).toBe(true);
    expect(id?.issuerKeyHash.equals(pki.caKeyId)).toBe(true); // SHA-1 key hash == RFC 5280 key identifier
  });

  it('returns the nonce as the OCTET STRING inside extnValue', () => {
    const der = opensslRequest('req-nonce.der', [leaf1.pem]);
    const req = parseOcspRequest(der);
    expect(req.nonce).not.toBeNull();
    const nonce = req.nonce as Buffer;
    expect(nonce.length).toBe(18); // openssl: 04 10 + 16 random bytes
    expect(nonce[0]).toBe(0x04);
    expect(nonce[1]).toBe(0x10);
    const text = ok(['ocsp', '-reqin', path('req-nonce.der'), '-req_text']);
    expect(text.replace(/\s/g, '')).toContain(nonce.toString('hex').toUpperCase());
  });

  it.each([
    ['-sha256', OID.sha256, 32],
    ['-sha384', OID.sha384, 48],
    ['-sha512', OID.sha512, 64],
  ])('accepts %s CertIDs and issuerHashes matches them', (flag, alg, len) => {
    const req = parseOcspRequest(opensslRequest(`req${flag}.der`, [leaf1.pem], [flag, '-no_nonce']));
    const [id] = req.certIds;
    expect(id?.hashAlgorithm).toBe(alg);
    expect(id?.issuerNameHash.length).toBe(len);
    const h = issuerHashes(pki.caDer, alg);
    expect(id?.issuerNameHash.equals(h.nameHash) && id.issuerKeyHash.equals(h.keyHash)).toBe(true);
  });

  it('accepts a signed request with requestorName and optionalSignature (the signature is ignored)', () => {
    const s = issue(pki, 'requestor', 'ec-p256', 'plain-signer');
    const certPath = writePem('requestor.pem', s.der);
    writeFileSync(path('requestor.key'), s.signer.key.export({ type: 'pkcs8', format: 'pem' }));
    const der = opensslRequest('req-signed.der', [leaf1.pem], ['-signer', certPath, '-signkey', path('requestor.key')]);
    expect(ok(['ocsp', '-reqin', path('req-signed.der'), '-req_text'])).toMatch(/Requestor Name:[\s\S]*Signature Algorithm/);
    const req = parseOcspRequest(der);
    expect(req.certIds.map((c) => c.serialHex)).toEqual([readCertificateBasics(leaf1.der).serialHex]);
    expect(req.nonce?.length).toBe(18);
  });

  it('rejects over-long requests lists, bad nonces and unknown critical extensions', () => {
    const good = opensslRequest('req-one.der', [leaf1.pem], ['-no_nonce']);
    const certId = parseOcspRequest(good).certIds[0]?.der as Buffer;
    const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
      const body = Buffer.concat(parts);
      const len = body.length < 0x80 ? [body.length] : body.length < 0x100 ? [0x81, body.length] : [0x82, body.length >> 8, body.length & 0xff];
      return Buffer.concat([Buffer.from([tag, ...len]), body]);
    };
    const request = (n: number, exts?: Buffer): Buffer =>
      tlv(0x30, tlv(0x30, tlv(0x30, ...Array.from({ length: n }, () => tlv(0x30, certId))), ...(exts ? [tlv(0xa2, tlv(0x30, exts))] : [])));
    const nonceOid = Buffer.from('06092b0601050507300102', 'hex');
    const ext = (oidDer: Buffer, value: Buffer, critical = false): Buffer =>
      tlv(0x30, oidDer, ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), tlv(0x04, value));

    expect(parseOcspRequest(request(100)).certIds).toHaveLength(100);
    expect(() => parseOcspRequest(request(101))).toThrow(OcspRequestError);
    expect(() => parseOcspRequest(request(0))).toThrow(OcspRequestError);
    expect(parseOcspRequest(request(1, ext(nonceOid, tlv(0x04, Buffer.alloc(32, 7))))).nonce?.length).toBe(34);
    expect(() => parseOcspRequest(request(1, ext(nonceOid, tlv(0x04, Buffer.alloc(0)))))).toThrow(OcspRequestError);
    expect(() => parseOcspRequest(request(1, ext(nonceOid, tlv(0x04, Buffer.alloc(129)))))).toThrow(OcspRequestError);
    expect(() => parseOcspRequest(request(1, ext(nonceOid, Buffer.alloc(16, 1))))).toThrow(OcspRequestError); // raw, not an OCTET STRING
    const otherOid = Buffer.from('06092b0601050507300104', 'hex'); // id-pkix-ocsp-response
    expect(parseOcspRequest(request(1, ext(otherOid, Buffer.from([0x30, 0x00])))).nonce).toBeNull();
    expect(() => parseOcspRequest(request(1, ext(otherOid, Buffer.from([0x30, 0x00]), true)))).toThrow(OcspRequestError);
    expect(() => parseOcspRequest(Buffer.concat([good, Buffer.from([0])]))).toThrow(OcspRequestError);
    // MD5 CertIDs are not accepted
    const md5 = Buffer.from(certId);
    const sha1Oid = Buffer.from('06052b0e03021a', 'hex');
    const at = md5.indexOf(sha1Oid);
    expect(at).toBeGreaterThan(0);
    const md5Id = Buffer.concat([md5.subarray(0, at), Buffer.from('06052b0e030219', 'hex'), md5.subarray(at + sha1Oid.length)]);
    expect(() => parseOcspRequest(tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, md5Id)))))).toThrow(OcspRequestError);
  });

  it('throws OcspRequestError, never anything else, on random, mutated and truncated input', () => {
    const goods = [
      opensslRequest('fuzz-1.der', [leaf1.pem, leaf2.pem]),
      opensslRequest('fuzz-2.der', [leaf1.pem], ['-sha256', '-no_nonce']),
      readFileSync(path('req-signed.der')),
    ];
    const check = (input: Buffer): void => {
      try {
        const r = parseOcspRequest(input);
        expect(Array.isArray(r.certIds)).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(OcspRequestError);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => check(Buffer.from(b))), { numRuns: 3000 });
    for (const good of goods) {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
          const m = Buffer.from(good);
          for (const [pos, val] of edits) m[pos] = val;
          check(m);
        }),
        { numRuns: 2000 },
      );
      fc.assert(fc.property(fc.nat(good.length), (cut) => check(good.subarray(0, cut))), { numRuns: 300 });
      fc.assert(
        fc.property(fc.nat(good.length), fc.uint8Array({ minLength: 1, maxLength: 8 }), (pos, ins) =>
          check(Buffer.concat([good.subarray(0, pos), Buffer.from(ins), good.subarray(pos)])),
        ),
        { numRuns: 1000 },
      );
    }
    check(Buffer.alloc(0));
    check(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]));
    check(Buffer.from([0x30, 0x80, 0x00, 0x00]));
    check(Buffer.alloc(70_000, 0x30));
  });
});

describe('OCSP responses checked by openssl', () => {
  // The CA signing its own responses, and delegated signers (EKU OCSPSigning + ocsp-nocheck).
  const cases: { name: string; delegated: KeyAlgorithm | null }[] = [
    { name: 'P-256 CA key', delegated: null },
    { name: 'delegated P-256 signer', delegated: 'ec-p256' },
    { name: 'delegated RSA-2048 signer', delegated: 'rsa-2048' },
  ];

  for (const c of cases) {
    describe(c.name, () => {
      let signerDer: Buffer;
      let signer: Signer;
      const tag = c.name.replace(/\W+/g, '-');

      beforeAll(() => {
        if (c.delegated) {
          const s = issue(pki, `OCSP signer ${c.delegated}`, c.delegated, 'ocsp');
          signerDer = s.der;
          signer = s.signer;
          writePem(`signer-${tag}.pem`, signerDer);
        } else {
          signerDer = pki.caDer;
          signer = pki.caSigner;
        }
      });

      it('good and revoked (keyCompromise) in one response, verified through -CAfile', () => {
        const req = parseOcspRequest(opensslRequest(`req-${tag}.der`, [leaf1.pem, leaf2.pem], ['-no_nonce']));
        const resp = respond(req, [{ status: 'good' }, REVOKED], signerDer, signer);
        writeFileSync(path(`resp-${tag}.der`), resp);
        const out = ok(['ocsp', '-respin', path(`resp-${tag}.der`), '-issuer', caPem, '-CAfile', caPem, '-no_nonce', '-cert', leaf1.pem, '-cert', leaf2.pem]);
        expect(out).toContain('Response verify OK');
        expect(out).toMatch(/leaf1\.pem: good/);
        expect(out).toMatch(/leaf2\.pem: revoked[\s\S]*Reason: keyCompromise/);
        const text = ok(['ocsp', '-respin', path(`resp-${tag}.der`), '-resp_text', '-noverify']);
        expect(text).toContain('Responder Id: ' + responderKeyHash(signerDer).toString('hex').toUpperCase());
      });

      it('echoes the nonce; openssl checks it against the request (-reqin)', () => {
        const reqDer = opensslRequest(`reqn-${tag}.der`, [leaf1.pem]);
        const req = parseOcspRequest(reqDer);
        writeFileSync(path(`respn-${tag}.der`), respond(req, [{ status: 'good' }], signerDer, signer));
        const out = ok(['ocsp', '-reqin', path(`reqn-${tag}.der`), '-respin', path(`respn-${tag}.der`), '-CAfile', caPem, '-resp_text']);
        expect(out).toContain('Response verify OK');
        expect(out).not.toContain('WARNING');
        expect(out).toContain('Cert Status: good');
        // A response carrying another nonce fails the check.
        const other = Buffer.from(req.nonce as Buffer);
        other.writeUInt8((other.at(-1) as number) ^ 1, other.length - 1);
        writeFileSync(path(`respx-${tag}.der`), respond(req, [{ status: 'good' }], signerDer, signer, other));
        const bad = run(['ocsp', '-reqin', path(`reqn-${tag}.der`), '-respin', path(`respx-${tag}.der`), '-CAfile', caPem]);
        expect(bad.status).not.toBe(0);
        expect(bad.out).toContain('Nonce Verify error');
      });

      it('is rejected by openssl when the signature is tampered with', () => {
        const req = parseOcspRequest(opensslRequest(`reqt-${tag}.der`, [leaf1.pem], ['-no_nonce']));
        const resp = respond(req, [{ status: 'good' }], signerDer, signer);
        // Flip a bit in producedAt's seconds (inside the signed tbsResponseData).
        const at = resp.indexOf(Buffer.from([0x18, 0x0f])) + 2 + 13;
        resp.writeUInt8((resp[at] as number) ^ 1, at);
        writeFileSync(path(`respt-${tag}.der`), resp);
        const r = run(['ocsp', '-respin', path(`respt-${tag}.der`), '-issuer', caPem, '-CAfile', caPem, '-no_nonce', '-cert', leaf1.pem]);
        expect(r.status).not.toBe(0);
        expect(r.out).not.toContain('Response verify OK');
      });
    });
  }

  it('a delegated signer without id-kp-OCSPSigning is refused by openssl', () => {
    const s = issue(pki, 'not an OCSP signer', 'ec-p256', 'plain-signer');
    const req = parseOcspRequest(opensslRequest('req-noeku.der', [leaf1.pem], ['-no_nonce']));
    writeFileSync(path('resp-noeku.der'), respond(req, [{ status: 'good' }], s.der, s.signer));
    const r = run(['ocsp', '-respin', path('resp-noeku.der'), '-issuer', caPem, '-CAfile', caPem, '-no_nonce', '-cert', leaf1.pem]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/Response Verify Failure/i);
  });

  it('the delegated signer certificate carries OCSP Signing and OCSP No Check', () => {
    const s = issue(pki, 'OCSP signer text', 'ec-p256', 'ocsp');
    const text = x509Text(toPem('CERTIFICATE', s.der));
    expect(text).toContain('OCSP Signing');
    expect(text).toContain('OCSP No Check');
  });

  it('revoked as unspecified carries no revocationReason, as the CRL leaves it out', () => {
    const req = parseOcspRequest(opensslRequest('req-unspec.der', [leaf1.pem], ['-no_nonce']));
    const resp = respond(req, [{ status: 'revoked', revokedAt: new Date(Date.now() - HOUR), reason: 'unspecified' }], pki.caDer, pki.caSigner);
    writeFileSync(path('resp-unspec.der'), resp);
    const text = ok(['ocsp', '-respin', path('resp-unspec.der'), '-resp_text', '-noverify']);
    expect(text).toContain('Cert Status: revoked');
    expect(text).not.toContain('Revocation Reason');
    expect(readOcspWithPkijs(resp).responses[0]?.reason).toBeNull();
  });

  it('unknown status, revoked without a reason, and GeneralizedTime everywhere', () => {
    const req = parseOcspRequest(opensslRequest('req-unk.der', [leaf1.pem, leaf2.pem], ['-no_nonce']));
    const resp = respond(req, [{ status: 'unknown' }, { status: 'revoked', revokedAt: new Date(Date.now() - HOUR), reason: null }], pki.caDer, pki.caSigner);
    writeFileSync(path('resp-unk.der'), resp);
    const out = ok(['ocsp', '-respin', path('resp-unk.der'), '-issuer', caPem, '-CAfile', caPem, '-no_nonce', '-cert', leaf1.pem, '-cert', leaf2.pem]);
    expect(out).toContain('Response verify OK');
    expect(out).toMatch(/leaf1\.pem: unknown/);
    expect(out).toMatch(/leaf2\.pem: revoked/);
    expect(out).not.toContain('Reason:');
    expect(resp.subarray(0, resp.indexOf(pki.caDer)).includes(Buffer.from([0x17, 0x0d]))).toBe(false); // no UTCTime outside certs
    expect(() => respond(req, [{ status: 'revoked', revokedAt: new Date(), reason: 'bogus' }, { status: 'good' }], pki.caDer, pki.caSigner)).toThrow(/bogus/);
  });

  it('error responses carry only the status', () => {
    const expected = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
    for (const [status, code] of Object.entries(expected)) {
      expect(ocspErrorResponse(status as keyof typeof expected).toString('hex')).toBe(`30030a010${code}`);
    }
    writeFileSync(path('err.der'), ocspErrorResponse('malformedRequest'));
    const r = run(['ocsp', '-respin', path('err.der'), '-resp_text', '-noverify']);
    expect(r.out).toContain('Responder Error: malformedrequest (1)');
  });
});

describe('OCSP responses read by pkijs', () => {
  it('every field of a BasicOCSPResponse as it was given, and a signature pkijs verifies through the CA', async () => {
    const signer = issue(pki, 'OCSP signer pkijs', 'ec-p256', 'ocsp');
    const req = parseOcspRequest(opensslRequest('req-pkijs.der', [leaf1.pem, leaf2.pem], ['-no_nonce']));
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const revokedAt = new Date(now.getTime() - 2 * HOUR);
    const der = buildOcspResponse(
      {
        responderKeyHash: responderKeyHash(signer.der),
        producedAt: now,
        responses: [
          { certIdDer: req.certIds[0]?.der as Buffer, certStatus: { status: 'good' }, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) },
          { certIdDer: req.certIds[1]?.der as Buffer, certStatus: { status: 'revoked', revokedAt, reason: 'cessationOfOperation' }, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) },
        ],
        nonce: null,
        signerCertDer: signer.der,
      },
      signer.signer,
    );
    const read = readOcspWithPkijs(der);
    expect(read.responderKeyHash).toEqual(responderKeyHash(signer.der));
    expect(read.producedAt).toEqual(now);
    expect(read.responses).toEqual([
      { serialHex: readCertificateBasics(leaf1.der).serialHex, status: 'good', revokedAt: null, reason: null, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) },
      { serialHex: readCertificateBasics(leaf2.der).serialHex, status: 'revoked', revokedAt, reason: 'cessationOfOperation', thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) },
    ]);
    expect(await ocspSignedFor(read.basic, pki.caDer)).toBe(true);

    const tampered = Buffer.from(der);
    const at = tampered.indexOf(Buffer.from([0x18, 0x0f])) + 2 + 13; // producedAt's seconds, inside what is signed
    tampered.writeUInt8((tampered[at] as number) ^ 1, at);
    expect(await ocspSignedFor(readOcspWithPkijs(tampered).basic, pki.caDer)).toBe(false);
    // A signer that no trusted CA vouches for: pkijs refuses the chain outright.
    await expect(ocspSignedFor(read.basic, makeCa().caDer)).rejects.toThrow(/certificate chain/);
  });
});
