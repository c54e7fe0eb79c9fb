// The CMP codec on its own: every body of the model encodes and decodes back to itself inside a whole
// PKIMessage (protected part kept byte for byte), the bounds are refused with the right failure info,
// CRMF requests read back what was put in, and the MAC and signature protections verify what they
// made and nothing else.
import { constants, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assemblePkiMessage, caCertsValue, certReqTemplateValue, CmpDecodeError, decodePkiMessage, encodeProtectedPart, rootCaKeyUpdateValue } from '../protocols/cmp/asn1.js';
import { readCaCerts, readCertReqTemplate, readRootCaKeyUpdate } from '../protocols/cmp/genpValues.js';
import type { PkiBody, PkiHeader } from '../protocols/cmp/messages.js';
import { deriveMacKey, macMatches, macMatchesKey, macOf, macWithKey, pbmac1Algorithm, pbmAlgorithm, readMacAlgorithm, signatureProtector, verifySignatureProtection } from '../protocols/cmp/protection.js';
import { UpstreamAcmeCa } from '../src/ca/upstream/upstreamCa.js';
import { parseCrmfRequest, buildCertReqMsg } from '../src/pki/crmf.js';
import { CsrError } from '../src/pki/csr.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { readNode, tlvOf } from '../src/pki/der.js';
import { OID } from '../src/pki/oids.js';
import { storedRequestPem } from '../src/pki/storedRequest.js';
import { crmfRequest, directoryName, extensionsOf, sanExtension } from './helpers/cmpClient.js';
import { openssl, tempDir } from './helpers/openssl.js';

let certA: Buffer;
let certB: Buffer;

function selfSignedDer(dir: string, cn: string): Buffer {
  const pem = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${cn}.key`), '-subj', `/CN=${cn}`, '-days', '2']);
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

beforeAll(() => {
  const dir = tempDir('cmp-codec-');
  certA = selfSignedDer(dir, 'Codec A');
  certB = selfSignedDer(dir, 'Codec B');
});

const header = (over: Partial<PkiHeader> = {}): PkiHeader => ({
  pvno: 2,
  sender: directoryName('CN=device,O=Example'),
  recipient: directoryName('CN=certgate CA'),
  messageTime: new Date(Math.floor(Date.now() / 1000) * 1000),
  protectionAlg: pbmAlgorithm().alg,
  senderKID: Buffer.from('ref-1'),
  recipKID: null,
  transactionID: randomBytes(16),
  senderNonce: randomBytes(16),
  recipNonce: randomBytes(16),
  freeText: ['hello', 'wörld'],
  generalInfo: [{ oid: OID.itImplicitConfirm, valueDer: Buffer.from([5, 0]) }],
  ...over,
});

const ecKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function bodies(): PkiBody[] {
  const req = crmfRequest({ key: ecKey(), subject: 'CN=dev1', san: { dns: ['a.example'], ip: ['192.0.2.1'] } });
  const csrDer = fromPem(buildCsr(ecKey(), 'CN=p10', { dns: ['p10.example'] }), ['CERTIFICATE REQUEST']);
  const status = { status: 'rejection' as const, statusString: ['no'], failInfo: ['badPOP' as const, 'duplicateCertReq' as const] };
  return [
    { type: 'ir', requests: [req] },
    { type: 'cr', requests: [req, req] },
    { type: 'kur', requests: [req] },
    { type: 'p10cr', csrDer },
    { type: 'ip', caPubs: [certA], responses: [{ certReqId: 0n, status: { status: 'accepted', statusString: [], failInfo: [] }, certificateDer: certB }] },
    { type: 'cp', caPubs: [], responses: [{ certReqId: 5n, status, certificateDer: null }] },
    { type: 'kup', caPubs: [], responses: [{ certReqId: -1n, status: { status: 'waiting', statusString: [], failInfo: [] }, certificateDer: null }] },
    { type: 'certConf', statuses: [{ certHash: randomBytes(32), certReqId: 0n, statusInfo: null, hashAlg: null }, { certHash: randomBytes(48), certReqId: 1n, statusInfo: status, hashAlg: { oid: OID.sha384, paramsDer: null } }] },
    { type: 'certConf', statuses: [] },
    { type: 'pkiConf' },
    { type: 'rr', revocations: [{ issuerDer: directoryName('CN=Issuer').nameDer, serialHex: '80ab01', reasonCode: 1 }] },
    { type: 'rr', revocations: [{ issuerDer: directoryName('CN=Issuer').nameDer, serialHex: '01', reasonCode: null }] },
    { type: 'rp', statuses: [{ status: 'accepted', statusString: [], failInfo: [] }] },
    { type: 'pollReq', certReqIds: [0n, 7n] },
    { type: 'pollRep', entries: [{ certReqId: 0n, checkAfter: 30, reason: 'waiting for approval' }, { certReqId: 1n, checkAfter: 0, reason: null }] },
    { type: 'genm', infos: [{ oid: OID.itCaCerts, valueDer: null }, { oid: OID.itCertReqTemplate, valueDer: null }] },
    { type: 'genp', infos: [{ oid: OID.itCaCerts, valueDer: caCertsValue([certA, certB]) }] },
    { type: 'error', status: { status: 'rejection', statusString: [], failInfo: ['badMessageCheck'] }, errorCode: 42, errorDetails: ['the MAC does not verify'] },
    { type: 'error', status: { status: 'rejection', statusString: [], failInfo: ['systemUnavail'] }, errorCode: null, errorDetails: [] },
  ];
}

describe('PKIMessage round trip', () => {
  it('decodes every body it encodes, inside a protected message with extraCerts', () => {
    for (const body of bodies()) {
      const h = header();
      const protectedPart = encodeProtectedPart(h, body);
      const protection = randomBytes(20);
      const der = assemblePkiMessage(protectedPart, protection, [certA, certB]);
      const m = decodePkiMessage(der);
      expect(m.body, body.type).toEqual(body);
      expect(m.header).toEqual(h);
      expect(m.protectedPartDer.equals(protectedPart)).toBe(true);
      expect(m.protection?.equals(protection)).toBe(true);
      expect(m.extraCerts).toEqual([certA, certB]);
      // The encoding is DER, as openssl writes it: asn1parse -strictpem aside, re-encoding changes nothing.
      expect(encodeProtectedPart(m.header, m.body).equals(protectedPart)).toBe(true);
    }
  });

  it('decodes an unprotected message with the least header', () => {
    const h = header({ messageTime: null, protectionAlg: null, senderKID: null, transactionID: null, senderNonce: null, recipNonce: null, freeText: [], generalInfo: [], sender: { kind: 'directoryName', nameDer: Buffer.from([0x30, 0]) } });
    const m = decodePkiMessage(assemblePkiMessage(encodeProtectedPart(h, { type: 'pkiConf' }), null, []));
    expect(m.header).toEqual(h);
    expect(m.protection).toBeNull();
    expect(m.extraCerts).toEqual([]);
  });

  it('keeps the protected part as received, not as it would re-encode it', () => {
    // A GeneralName other than directoryName (rfc822Name) is kept as its bytes.
    const h = header({ sender: { kind: 'other', der: Buffer.from([0x81, 3, 0x61, 0x40, 0x62]) }, pvno: 3 });
    const der = assemblePkiMessage(encodeProtectedPart(h, { type: 'pollReq', certReqIds: [0n] }), null, []);
    const m = decodePkiMessage(der);
    expect(m.header.sender).toEqual(h.sender);
    expect(der.includes(m.protectedPartDer.subarray(2))).toBe(true);
  });

  it('reads a body certgate does not serve as unsupported, with its tag', () => {
    const h = header();
    const pkiConf = encodeProtectedPart(h, { type: 'pkiConf' });
    // Retag the body [19] as [5] (popdecc) and [16] (cann).
    for (const tag of [5, 16]) {
      const bytes = Buffer.from(pkiConf);
      const at = bytes.lastIndexOf(Buffer.from([0xb3, 0x02, 0x05, 0x00]));
      bytes[at] = 0xa0 | tag;
      expect(decodePkiMessage(assemblePkiMessage(bytes, null, [])).body).toEqual({ type: 'unsupported', tag });
    }
  });
});

function refusal(der: Buffer): CmpDecodeError {
  try {
    decodePkiMessage(der);
  } catch (e) {
    if (e instanceof CmpDecodeError) return e;
    throw e;
  }
  throw new Error('decoded, but should have been refused');
}

describe('PKIMessage bounds and malformed input', () => {
  const build = (body: PkiBody, over: Partial<PkiHeader> = {}, extraCerts: Buffer[] = []) => assemblePkiMessage(encodeProtectedPart(header(over), body), randomBytes(20), extraCerts);

  it('refuses more than 16 entries in a list', () => {
    const req = crmfRequest({ key: ecKey(), subject: 'CN=x' });
    expect(decodePkiMessage(build({ type: 'ir', requests: Array(16).fill(req) })).body.type).toBe('ir');
    expect(refusal(build({ type: 'ir', requests: Array(17).fill(req) })).failInfo).toBe('badDataFormat');
    const rev = { issuerDer: directoryName('CN=I').nameDer, serialHex: '01', reasonCode: null };
    expect(refusal(build({ type: 'rr', revocations: Array(17).fill(rev) })).message).toMatch(/more than 16/);
    expect(refusal(build({ type: 'pkiConf' }, {}, Array(17).fill(certA))).message).toMatch(/more than 16 extraCerts/);
    expect(refusal(build({ type: 'pkiConf' }, { generalInfo: Array(17).fill({ oid: OID.itImplicitConfirm, valueDer: null }) })).message).toMatch(/more than 16/);
    expect(refusal(build({ type: 'genm', infos: Array(17).fill({ oid: OID.itCaCerts, valueDer: null }) })).failInfo).toBe('badDataFormat');
    expect(refusal(build({ type: 'pollReq', certReqIds: Array(17).fill(0n) })).failInfo).toBe('badDataFormat');
  });

  it('refuses a message over 256 KiB before reading it', () => {
    const big = build({ type: 'pkiConf' }, { freeText: ['x'.repeat(256 * 1024)] });
    expect(refusal(big).message).toMatch(/larger than 256 KiB/);
  });

  it('refuses a version other than cmp2000 and cmp2021 as unsupportedVersion', () => {
    for (const pvno of [1, 4]) expect(refusal(build({ type: 'pkiConf' }, { pvno })).failInfo).toBe('unsupportedVersion');
  });

  it('refuses trailing data, empty requests, misplaced header fields and non-bodies as badDataFormat', () => {
    const good = build({ type: 'pkiConf' });
    expect(refusal(Buffer.concat([good, Buffer.from([0])])).failInfo).toBe('badDataFormat');
    // BER (an indefinite length): CMP messages are DER.
    expect(refusal(Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(readNode(good, 0).contentStart), Buffer.from([0, 0])])).message).toMatch(/not DER/);
    // An element after extraCerts (asn1js's schema matching alone would skip it).
    const top = readNode(good, 0);
    expect(refusal(tlvOf(0x30, [good.subarray(top.contentStart), Buffer.from([0xa2, 0x03, 0x02, 0x01, 0x00])])).failInfo).toBe('badDataFormat');
    expect(refusal(build({ type: 'ir', requests: [] })).failInfo).toBe('badDataFormat');
    expect(refusal(Buffer.from([0x30, 0x00])).failInfo).toBe('badDataFormat');
    expect(refusal(Buffer.alloc(0)).failInfo).toBe('badDataFormat');
    // A header whose [5] senderNonce comes before [4] transactionID.
    const h = header({ senderKID: null, recipNonce: null, freeText: [], generalInfo: [] });
    const der = Buffer.from(build({ type: 'pkiConf' }, h));
    const tid = der.indexOf(Buffer.concat([Buffer.from([0xa4, 18, 0x04, 16]), h.transactionID as Buffer]));
    const nonce = der.indexOf(Buffer.concat([Buffer.from([0xa5, 18, 0x04, 16]), h.senderNonce as Buffer]));
    expect(tid).toBeGreaterThan(0);
    der[tid] = 0xa5;
    der[nonce] = 0xa4;
    const e = refusal(der);
    expect(e.failInfo).toBe('badDataFormat');
    expect(e.message).toMatch(/PKIHeader/);
  });

  it('refuses a nonce longer than 64 bytes', () => {
    expect(refusal(build({ type: 'pkiConf' }, { senderNonce: randomBytes(65) })).message).toMatch(/senderNonce is longer/);
  });
});

describe('CRMF requests', () => {
  it('reads subject, SAN, key, POP and oldCertID of a request it builds, and the POP verifies over the CertRequest', () => {
    const key = ecKey();
    const der = crmfRequest({ key, subject: 'CN=dev1,O=Example', san: { dns: ['a.example', 'b.example'], ip: ['192.0.2.7'] }, certReqId: 3n, oldCertDer: certA });
    const r = parseCrmfRequest(der);
    expect(r.format).toBe('crmf');
    expect(r.subject.text).toBe('CN=dev1, O=Example');
    expect(r.san).toEqual({ dns: ['a.example', 'b.example'], ip: ['192.0.2.7'], email: [], uri: [], unsupported: [] });
    expect(r.spkiDer.equals(createPublicKey(key).export({ format: 'der', type: 'spki' }))).toBe(true);
    expect(r.keyAlgorithm).toBe('ec-p256');
    expect(r.certReqId).toBe(3n);
    expect(r.popo).toBe('signature');
    expect(r.signatureAlgorithm).toBe(OID.ecdsaWithSHA256);
    expect(r.oldCertId?.issuerDer.equals(directoryName('CN=Codec A').nameDer)).toBe(true);
    expect(verifySignatureProtection({ oid: r.signatureAlgorithm, paramsDer: null }, createPublicKey(key), r.infoDer, r.signature)).toBe(true);
    expect(der.includes(r.infoDer)).toBe(true);
  });

  it('reads a request taken out of a message as its bytes are now, also when they were changed after decoding', () => {
    const der = assemblePkiMessage(encodeProtectedPart(header(), { type: 'ir', requests: [crmfRequest({ key: ecKey(), subject: 'CN=dev1' })] }), null, []);
    const m = decodePkiMessage(der);
    if (m.body.type !== 'ir') throw new Error('not an ir');
    const request = m.body.requests[0] as Buffer;
    expect(parseCrmfRequest(request).subject.text).toBe('CN=dev1');
    request[request.indexOf(Buffer.from('dev1')) + 3] = 0x32;
    expect(parseCrmfRequest(request).subject.text).toBe('CN=dev2');
  });

  it('reads an absent subject as the empty Name and an absent POP as none', () => {
    const key = ecKey();
    const der = buildCertReqMsg({ certReqId: 0n, template: { spkiDer: createPublicKey(key).export({ format: 'der', type: 'spki' }), extensionsDer: extensionsOf([sanExtension({ dns: ['only.example'] })]) } });
    const r = parseCrmfRequest(der);
    expect(r.subjectDer).toEqual(Buffer.from([0x30, 0]));
    expect(r.subject.attributes).toEqual([]);
    expect(r.san.dns).toEqual(['only.example']);
    expect(r.popo).toBe('none');
  });

  it('refuses a request without a key, and anything that is not a CertReqMsg, as CsrError', () => {
    expect(() => parseCrmfRequest(buildCertReqMsg({ certReqId: 0n, template: { subjectDer: directoryName('CN=x').nameDer } }))).toThrow(/no public key/);
    expect(() => parseCrmfRequest(Buffer.from([0x30, 0]))).toThrow(CsrError);
    expect(() => parseCrmfRequest(certA)).toThrow(CsrError);
  });

  it('is stored and read back by its own PEM label, and an upstream ACME CA refuses it in words', async () => {
    const parsed = parseCrmfRequest(crmfRequest({ key: ecKey(), subject: 'CN=up.example', san: { dns: ['up.example'] } }));
    const pem = storedRequestPem(parsed);
    expect(pem).toMatch(/BEGIN CERTIFICATE REQUEST MESSAGE/);
    const ca = new UpstreamAcmeCa({ caId: 'up' } as unknown as ConstructorParameters<typeof UpstreamAcmeCa>[0]);
    const issue = ca.issue({ requestId: 'r1', csrPem: pem, san: { dns: ['up.example'], ip: [], email: [], uri: [] } } as unknown as Parameters<UpstreamAcmeCa['issue']>[0]);
    await expect(issue).rejects.toThrow(/use p10cr/);
  });
});

describe('genp values', () => {
  it('caCerts, rootCaKeyUpdate and certReqTemplate read back what was built', () => {
    expect(readCaCerts(caCertsValue([certA, certB]))).toEqual([certA, certB]);
    expect(readRootCaKeyUpdate(rootCaKeyUpdateValue({ newWithNew: certA, newWithOld: certB, oldWithNew: null }))).toEqual({ newWithNew: certA, newWithOld: certB, oldWithNew: null });
    expect(readRootCaKeyUpdate(rootCaKeyUpdateValue({ newWithNew: certA, newWithOld: null, oldWithNew: certB }))).toEqual({ newWithNew: certA, newWithOld: null, oldWithNew: certB });
    const template = {
      subjectDer: directoryName('O=Example').nameDer,
      extensionsDer: [sanExtension({ dns: ['x.example'] })],
      keySpec: [
        { kind: 'algorithm' as const, alg: { oid: OID.ecPublicKey, paramsDer: Buffer.from('06082a8648ce3d030107', 'hex') } },
        { kind: 'rsaKeyLength' as const, bits: 3072 },
      ],
    };
    expect(readCertReqTemplate(certReqTemplateValue(template))).toEqual(template);
    expect(readCertReqTemplate(certReqTemplateValue({ subjectDer: null, extensionsDer: [], keySpec: [] }))).toEqual({ subjectDer: null, extensionsDer: [], keySpec: [] });
  });
});

describe('MAC protection', () => {
  const data = Buffer.from('protected part');

  it('PBM and PBMAC1 verify with the secret only, and read back their own parameters', () => {
    for (const mac of [pbmAlgorithm(), pbmAlgorithm({ owf: 'sha512', mac: 'sha256', iterationCount: 1000 }), pbmac1Algorithm(), pbmac1Algorithm({ prf: 'sha512', mac: 'sha384', iterationCount: 2000 })]) {
      const read = readMacAlgorithm(mac.alg);
      expect(read).toEqual(mac);
      const tag = macOf(mac, 's3cret', data);
      expect(macMatches(read, 's3cret', data, tag)).toBe(true);
      expect(macMatches(read, 's3cret!', data, tag)).toBe(false);
      expect(macMatches(read, 's3cret', Buffer.from('protected parT'), tag)).toBe(false);
      expect(macMatches(read, 's3cret', data, tag.subarray(1))).toBe(false);
      // The key derived once checks the request and protects the answer (protect.ts).
      const key = deriveMacKey(read, 's3cret');
      expect(macMatchesKey(key, data, tag)).toBe(true);
      expect(macWithKey(key, Buffer.from('answer')).equals(macOf(mac, 's3cret', Buffer.from('answer')))).toBe(true);
    }
  });

  it('refuses unbounded or unknown parameters as badAlg', () => {
    const bad = [
      pbmAlgorithm({ iterationCount: 10_001 }).alg,
      pbmac1Algorithm({ iterationCount: 10_001 }).alg,
      pbmAlgorithm({ salt: randomBytes(65) }).alg,
      pbmac1Algorithm({ keyLength: 65 }).alg,
      { oid: OID.passwordBasedMac, paramsDer: null },
      { oid: OID.passwordBasedMac, paramsDer: Buffer.from([0x30, 0]) },
      { oid: OID.sha256WithRSAEncryption, paramsDer: null },
    ];
    for (const alg of bad) {
      let failInfo: string | null = null;
      try {
        readMacAlgorithm(alg);
      } catch (e) {
        if (e instanceof CmpDecodeError) failInfo = e.failInfo;
      }
      expect(failInfo).toBe('badAlg');
    }
  });
});

describe('signature protection', () => {
  it('verifies what signatureProtector signs, for ECDSA, RSA and Ed25519, and nothing else', () => {
    const keys = [
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
      generateKeyPairSync('ed25519').privateKey,
    ];
    const data = Buffer.from('protected part');
    for (const key of keys) {
      const p = signatureProtector(key);
      const sig = p.sign(data);
      expect(verifySignatureProtection(p.alg, createPublicKey(key), data, sig)).toBe(true);
      expect(verifySignatureProtection(p.alg, createPublicKey(key), Buffer.from('other'), sig)).toBe(false);
      expect(verifySignatureProtection(p.alg, createPublicKey(keys[0] === key ? (keys[1] as KeyObject) : (keys[0] as KeyObject)), data, sig)).toBe(false);
    }
  });

  it('verifies RSASSA-PSS with SHA-256 and MGF1-SHA-256 as its parameters say', () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const sha256 = new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256 });
    const pss = (saltLength: number) =>
      Buffer.from(
        new pkijs.RSASSAPSSParams({ hashAlgorithm: sha256, maskGenAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.mgf1, algorithmParams: sha256.toSchema() }), saltLength })
          .toSchema()
          .toBER(false),
      );
    const data = Buffer.from('protected part');
    const sig = cryptoSign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect(verifySignatureProtection({ oid: OID.rsassaPss, paramsDer: pss(32) }, createPublicKey(key), data, sig)).toBe(true);
    expect(verifySignatureProtection({ oid: OID.rsassaPss, paramsDer: pss(20) }, createPublicKey(key), data, sig)).toBe(false);
    // Without parameters PSS means SHA-1, which is refused.
    expect(() => verifySignatureProtection({ oid: OID.rsassaPss, paramsDer: null }, createPublicKey(key), data, sig)).toThrow(CmpDecodeError);
  });

  it('refuses an algorithm it does not verify as badAlg', () => {
    expect(() => verifySignatureProtection({ oid: OID.sha1WithRSAEncryption, paramsDer: null }, createPublicKey(ecKey()), Buffer.alloc(1), Buffer.alloc(1))).toThrow(CmpDecodeError);
  });
});
