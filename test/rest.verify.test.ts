// POST /v1/verify and /v1/verify/signature: what a relying party asks of a certificate shown to it
// (ours? signed right? expired? revoked?) and of a detached signature made with a managed key.
import { createPrivateKey, createPublicKey, createSign, generateKeyPairSync, sign, X509Certificate, constants, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSerial, signCertificate } from '../src/pki/certificate.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import { checkedApi, OpenApiCheck } from './helpers/openapiCheck.js';
import { opensslVerify } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type ApiAnswer, type RestEnv } from './helpers/restEnv.js';

const DAY = 86_400_000;
const spkiOf = (key: KeyObject): Buffer => createPublicKey(key).export({ format: 'der', type: 'spki' });

/** A CA that is not certgate's, and a leaf it signed (with the given validity). */
function foreignPki(leafValidity: { notBefore: Date; notAfter: Date }) {
  const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const rootName = encodeName(parseDnString('CN=Elsewhere Root, O=Another Org'));
  const root = signCertificate(
    { serial: randomSerial(), issuerDer: rootName, subjectDer: rootName, spkiDer: spkiOf(rootKey), notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY), ca: {}, keyUsage: ['keyCertSign', 'cRLSign'], extendedKeyUsage: [] },
    { key: rootKey, algorithm: 'ec-p256' },
  );
  const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const leaf = signCertificate(
    {
      serial: randomSerial(),
      issuerDer: rootName,
      subjectDer: encodeName(parseDnString('CN=elsewhere.test')),
      spkiDer: spkiOf(leafKey),
      ...leafValidity,
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['serverAuth'],
      san: { dns: ['elsewhere.test'], ip: [], email: [], uri: [] },
    },
    { key: rootKey, algorithm: 'ec-p256' },
  );
  return { rootPem: toPem('CERTIFICATE', root), leafPem: toPem('CERTIFICATE', leaf) };
}

/** The certificate with one byte of its subject's common name changed: still DER, no longer what the CA signed. */
function tampered(pem: string, cn: string): string {
  const der = Buffer.from(fromPem(pem, ['CERTIFICATE']));
  const at = der.indexOf(Buffer.from(cn));
  expect(at).toBeGreaterThan(0);
  der[at] = der[at] === 0x78 ? 0x79 : 0x78;
  return toPem('CERTIFICATE', der);
}

const b64 = (b: Buffer): string => b.toString('base64');

const d = REST_DEPLOYMENTS[0];

describe.skipIf(!d || d.skip)('POST /v1/verify and /v1/verify/signature', () => {
  let env: RestEnv;
  let call: (method: string, path: string, token: string | null, body?: unknown) => Promise<ApiAnswer>;
  let admin: string;
  const verify = (body: unknown) => call('POST', '/v1/verify', admin, body);
  const verifySignature = (body: unknown, token = admin) => call('POST', '/v1/verify/signature', token, body);

  const issueManaged = async (commonName: string, keyAlgorithm: string) => {
    const res = await call('POST', '/v1/certificates', admin, { caId: env.issuingId, commonName, keyAlgorithm });
    expect(res.status, res.text).toBe(201);
    const cert = res.json.certificate as { id: string; certificate_pem: string };
    return { id: cert.id, pem: cert.certificate_pem, privateKey: createPrivateKey(res.json.privateKey as string) };
  };

  beforeAll(async () => {
    env = await startRestEnv(d as (typeof REST_DEPLOYMENTS)[number]);
    // Every answer is also checked against the published document.
    call = checkedApi(await OpenApiCheck.load(env.base), env.api);
    admin = env.adminToken;
  });
  afterAll(async () => env?.close());

  it('a certificate of ours verifies: our CA, our record, signature valid, current, not revoked', async () => {
    const { id, pem } = await issueManaged('ours.verify.test', 'ECDSA-P256');
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
    const res = await verify({ certificatePem: pem });
    expect(res.status, res.text).toBe(200);
    const serial = new X509Certificate(pem).serialNumber.toLowerCase().replace(/^(00)+/, '');
    expect(res.json).toMatchObject({
      ours: true,
      ca_id: env.issuingId,
      certificate_id: id,
      subject: 'CN=ours.verify.test',
      serial_number: serial,
      signature_valid: true,
      verified_by: 'ca',
      expired: false,
      not_yet_valid: false,
      revoked: false,
      revoked_at: null,
      valid: true,
      problems: [],
    });
    // Our issuing CA's own certificate is ours too (signed by our root), and never revoked.
    const ca = await verify({ certificatePem: env.issuingPem });
    expect(ca.json).toMatchObject({ ours: true, ca_id: env.rootId, certificate_id: null, signature_valid: true, revoked: false, valid: true });
  });

  it('a revoked certificate says revoked, with the reason and date; a suspended one says certificateHold', async () => {
    const { id, pem } = await issueManaged('revoked.verify.test', 'ECDSA-P256');
    expect((await call('POST', `/v1/certificates/${id}/revoke`, admin, { reason: 'keyCompromise' })).status).toBe(200);
    const res = await verify({ certificatePem: pem });
    expect(res.json).toMatchObject({ ours: true, certificate_id: id, signature_valid: true, revoked: true, revocation_reason: 'keyCompromise', valid: false });
    expect(Date.parse(res.json.revoked_at as string)).toBeGreaterThan(Date.now() - 60_000);
    expect((res.json.problems as string[]).join(' ')).toMatch(/revoked/);

    const held = await issueManaged('held.verify.test', 'ECDSA-P256');
    await call('POST', `/v1/certificates/${held.id}/revoke`, admin, { reason: 'certificateHold' });
    expect((await verify({ certificatePem: held.pem })).json).toMatchObject({ revoked: true, revocation_reason: 'certificateHold', valid: false });
    await call('POST', `/v1/certificates/${held.id}/reinstate`, admin);
    expect((await verify({ certificatePem: held.pem })).json).toMatchObject({ revoked: false, revocation_reason: null, valid: true });
  });

  it('an expired certificate says expired (signed by our CA all the same)', async () => {
    const ca = await env.server.rt.cas.get(env.issuingId);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const old = await ca.issue({
      subjectDer: encodeName(parseDnString('CN=old.verify.test')),
      spkiDer: spkiOf(key),
      san: { dns: ['old.verify.test'], ip: [], email: [], uri: [] },
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['serverAuth'],
    });
    const res = await verify({ certificatePem: old.pem });
    expect(res.json).toMatchObject({ ours: true, ca_id: env.issuingId, signature_valid: true, expired: true, not_yet_valid: false, valid: false });
    expect((res.json.problems as string[]).join(' ')).toMatch(/expired on/);
  });

  it('a foreign certificate is not ours: unverifiable without its chain, verified against the chain given, revocation unknown', async () => {
    const foreign = foreignPki({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY) });
    const alone = await verify({ certificatePem: foreign.leafPem });
    expect(alone.status).toBe(200);
    expect(alone.json).toMatchObject({ ours: false, ca_id: null, certificate_id: null, issuer: 'CN=Elsewhere Root, O=Another Org', signature_valid: false, verified_by: null, revoked: null, valid: false });
    expect((alone.json.problems as string[]).join(' ')).toMatch(/no chain/);

    const chained = await verify({ certificatePem: foreign.leafPem, chainPem: foreign.rootPem });
    expect(chained.json).toMatchObject({ ours: false, signature_valid: true, verified_by: 'chain', revoked: null, valid: true });
    // The chain may also come in the same PEM, after the certificate.
    expect((await verify({ certificatePem: foreign.leafPem + foreign.rootPem })).json).toMatchObject({ verified_by: 'chain' });
    // A chain that did not sign it does not help.
    const other = foreignPki({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    expect((await verify({ certificatePem: foreign.leafPem, chainPem: other.rootPem })).json).toMatchObject({ signature_valid: false, valid: false });
    // The foreign root verifies against itself, and says so.
    expect((await verify({ certificatePem: foreign.rootPem })).json).toMatchObject({ ours: false, verified_by: 'self', signature_valid: true });

    const expired = foreignPki({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - 2 * DAY) });
    expect((await verify({ certificatePem: expired.leafPem, chainPem: expired.rootPem })).json).toMatchObject({ signature_valid: true, expired: true, valid: false });
    const future = foreignPki({ notBefore: new Date(Date.now() + 2 * DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    expect((await verify({ certificatePem: future.leafPem, chainPem: future.rootPem })).json).toMatchObject({ not_yet_valid: true, valid: false });
  });

  it('a tampered certificate of ours is not ours: it names our CA, whose key does not verify it', async () => {
    const { pem } = await issueManaged('tamper.verify.test', 'ECDSA-P256');
    const res = await verify({ certificatePem: tampered(pem, 'tamper.verify.test') });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ours: false, ca_id: env.issuingId, certificate_id: null, signature_valid: false, valid: false });
    expect((res.json.problems as string[]).join(' ')).toMatch(/altered or forged/);
    expect(() => opensslVerify(env.dir, env.rootPem, env.issuingPem, tampered(pem, 'tamper.verify.test'))).toThrow();
  });

  it('refuses what is not a certificate with a 400 that says what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [{ certificatePem: 'hello' }, /certificatePem: no "-----BEGIN CERTIFICATE-----" block/],
      [{ certificatePem: '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----' }, /certificatePem: invalid base64/],
      [{ certificatePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, /certificatePem: certificate 1 is not a DER X\.509 certificate/],
      [{ certificatePem: env.issuingPem, chainPem: 'nope' }, /chainPem: no "-----BEGIN CERTIFICATE-----" block/],
      [{}, /certificatePem/],
      [{ certificatePem: env.issuingPem, extra: 1 }, /extra/],
    ];
    for (const [body, message] of cases) {
      const res = await verify(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error).toMatch(message);
    }
  });

  it('a detached signature made with a managed key verifies; a flipped byte in data or signature does not', async () => {
    const { id, pem, privateKey } = await issueManaged('signer.verify.test', 'ECDSA-P256');
    const data = Buffer.from('the release manifest, version 1.4.2\n');
    const signature = createSign('sha256').update(data).sign(privateKey);
    const good = await verifySignature({ certificateId: id, data: b64(data), signature: b64(signature) });
    expect(good.status, good.text).toBe(200);
    expect(good.json).toMatchObject({ valid: true, certificate_id: id, ca_id: env.issuingId, key_algorithm: 'ECDSA-P256', hash: 'sha256', padding: null, certificate_status: 'active' });
    // By PEM instead of id.
    expect((await verifySignature({ certificatePem: pem, data: b64(data), signature: b64(signature) })).json).toMatchObject({ valid: true, certificate_id: id });

    const flippedData = Buffer.from(data);
    flippedData[5] = (flippedData[5] as number) ^ 0x01;
    expect((await verifySignature({ certificateId: id, data: b64(flippedData), signature: b64(signature) })).json.valid).toBe(false);
    const flippedSig = Buffer.from(signature);
    flippedSig[flippedSig.length - 3] = (flippedSig[flippedSig.length - 3] as number) ^ 0x01;
    expect((await verifySignature({ certificateId: id, data: b64(data), signature: b64(flippedSig) })).json.valid).toBe(false);
    // Another hash than the one signed with is another message.
    expect((await verifySignature({ certificateId: id, data: b64(data), signature: b64(signature), hash: 'sha384' })).json.valid).toBe(false);
    // A signature that is not even DER is simply not valid.
    expect((await verifySignature({ certificateId: id, data: b64(data), signature: b64(Buffer.from('junk')) })).json.valid).toBe(false);

    // The certificate's status is reported beside the verdict on the signature.
    await call('POST', `/v1/certificates/${id}/revoke`, admin, { reason: 'superseded' });
    expect((await verifySignature({ certificateId: id, data: b64(data), signature: b64(signature) })).json).toMatchObject({ valid: true, certificate_status: 'revoked', revocation_reason: 'superseded' });
  });

  it('RSA: PKCS#1 v1.5 by default, PSS with padding: pss; a P-384 key hashes with sha384 unless told', async () => {
    const rsa = await issueManaged('rsa-signer.verify.test', 'RSA-2048');
    const data = Buffer.from('rsa-signed');
    const pkcs1 = sign('sha256', data, rsa.privateKey);
    expect((await verifySignature({ certificateId: rsa.id, data: b64(data), signature: b64(pkcs1) })).json).toMatchObject({ valid: true, padding: 'pkcs1', hash: 'sha256' });
    const pss = sign('sha512', data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect((await verifySignature({ certificateId: rsa.id, data: b64(data), signature: b64(pss), hash: 'sha512', padding: 'pss' })).json).toMatchObject({ valid: true, padding: 'pss' });
    expect((await verifySignature({ certificateId: rsa.id, data: b64(data), signature: b64(pss), hash: 'sha512' })).json.valid).toBe(false);

    const p384 = await issueManaged('p384-signer.verify.test', 'ECDSA-P384');
    const sig384 = createSign('sha384').update(data).sign(p384.privateKey);
    expect((await verifySignature({ certificateId: p384.id, data: b64(data), signature: b64(sig384) })).json).toMatchObject({ valid: true, hash: 'sha384' });
    const padded = await verifySignature({ certificateId: p384.id, data: b64(data), signature: b64(sig384), padding: 'pss' });
    expect(padded.status).toBe(400);
    expect(padded.json.error).toMatch(/padding: applies to RSA keys/);
  });

  it('needs read on the certificate\'s CA, one of our certificates, and base64 that is base64', async () => {
    const { id, pem, privateKey } = await issueManaged('perm.verify.test', 'ECDSA-P256');
    const data = Buffer.from('x');
    const signature = b64(createSign('sha256').update(data).sign(privateKey));
    const elsewhere = await env.restKey('reads-root-only', [{ ca: env.rootId, actions: ['read'] }]);
    const refused = await verifySignature({ certificateId: id, data: b64(data), signature }, elsewhere.token);
    expect(refused.status).toBe(403);
    const reader = await env.restKey('reads-issuing', [{ ca: env.issuingId, actions: ['read'] }]);
    expect((await verifySignature({ certificateId: id, data: b64(data), signature }, reader.token)).json.valid).toBe(true);

    const foreign = foreignPki({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    const notOurs = await verifySignature({ certificatePem: foreign.leafPem, data: b64(data), signature });
    expect(notOurs.status).toBe(422);
    expect(notOurs.json.error).toMatch(/not a certificate certgate issued/);
    expect((await verifySignature({ certificatePem: tampered(pem, 'perm.verify.test'), data: b64(data), signature })).status).toBe(422);
    expect((await verifySignature({ certificateId: '00000000-0000-0000-0000-000000000000', data: b64(data), signature })).status).toBe(404);

    for (const [body, message] of [
      [{ certificateId: id, data: 'not base64!', signature }, /data/],
      [{ certificateId: id, data: b64(data), signature: '@@@' }, /signature/],
      [{ data: b64(data), signature }, /give certificateId or certificatePem/],
      [{ certificateId: id, certificatePem: pem, data: b64(data), signature }, /give certificateId or certificatePem/],
      [{ certificateId: id, data: b64(data), signature, hash: 'md5' }, /hash/],
    ] as [unknown, RegExp][]) {
      const res = await verifySignature(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error).toMatch(message);
    }
  });
});
