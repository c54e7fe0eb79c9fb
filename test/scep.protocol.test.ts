// SCEP (RFC 8894) against one embedded certgate, with a client built from certgate's CMS codec;
// openssl checks what a relying party would (the CertRep's signature and the RA's chain, the
// issued certificates, the CRL). strongSwan is the unmodified client, in test/clients.
import { normalizeSerialHex } from '../src/pki/serial.js';
import { constants, createPublicKey, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequestRaw } from 'node:https';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import type { AuditEntry } from '../src/core/types.js';
import { AES_128_CBC, AES_256_CBC, CMS, DES_EDE3_CBC, MESSAGE_TYPE, SCEP_ATTR, type ContentCipher, type DigestName } from '../protocols/scep/algorithms.js';
import { certRef } from '../protocols/scep/certRef.js';
import { buildEnvelope } from '../protocols/scep/envelope.js';
import { buildPkiMessage } from '../protocols/scep/signedData.js';
import { freePort } from './helpers/net.js';
import { opensslVerify, openssl, x509Text } from './helpers/openssl.js';
import { readCertsOnly } from './helpers/pkijs.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';
import { buildRequest, getCaCert, holding, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo, type Requester } from './helpers/scepClient.js';
import { until } from './helpers/until.js';

const csrDer = (key: ReturnType<typeof rsaKey>, cn: string, challenge?: string, san: string[] = []): Buffer =>
  fromPem(buildCsr(key, `CN=${cn}`, { dns: san }, challenge === undefined ? {} : { challengePassword: challenge }), ['CERTIFICATE REQUEST']);

describe('SCEP', () => {
  let env: ScepEnv;
  let url: string;
  let ra: RaInfo & { contentType: string | null };
  let defaultProductId: string;
  let staticChallenge: string;
  /** One 2048-bit key per test would cost seconds: most tests share these. */
  const keys = Array.from({ length: 3 }, () => rsaKey());

  beforeAll(async () => {
    // Refused logins after the first of their window are audited as one summary when it ends: a short one here.
    env = await startScepEnv({ overrides: { authRefusalAuditSeconds: 1 } });
    url = `${env.base}/scep`;
    ra = await getCaCert(url);
    defaultProductId = (await env.server.rt.store.products.getByName('default'))?.id as string;
    staticChallenge = (await env.staticChallenge([defaultProductId])).challenge;
  });
  afterAll(async () => {
    await env?.stop();
  });

  let txCounter = 0;
  const txid = () => `tx-${Date.now()}-${txCounter++}`;

  /** PKCSReq for `cn`, sent and read back. */
  async function enroll(o: { key?: (typeof keys)[number]; cn?: string; challenge?: string; cipher?: ContentCipher; digest?: DigestName; method?: 'GET' | 'POST'; path?: string; requester?: Requester; transactionId?: string; san?: string[] } = {}) {
    const key = o.key ?? (keys[0] as (typeof keys)[number]);
    const requester = o.requester ?? selfSigned(key, `CN=${o.cn ?? 'host1.test'}`);
    const transactionId = o.transactionId ?? txid();
    const senderNonce = randomBytes(16);
    const der = await buildRequest({
      requester,
      ra,
      messageType: MESSAGE_TYPE.PKCSReq,
      content: csrDer(key, o.cn ?? 'host1.test', o.challenge ?? staticChallenge, o.san),
      transactionId,
      senderNonce,
      ...(o.cipher ? { cipher: o.cipher } : {}),
      ...(o.digest ? { digest: o.digest } : {}),
    });
    const res = await pkiOperation(o.path ? `${env.base}${o.path}` : url, der, o.method ?? 'POST');
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('application/x-pki-message');
    const reply = readReply(res.body, requester);
    expect(reply.transactionId).toBe(transactionId);
    expect(reply.recipientNonce.equals(senderNonce)).toBe(true);
    return { reply, requester, transactionId, raw: res.body, der };
  }

  const leafOf = (certificates: Buffer[]): X509Certificate => {
    const leaf = certificates.map((c) => new X509Certificate(c)).find((c) => !c.ca);
    if (!leaf) throw new Error('no end-entity certificate in the reply');
    return leaf;
  };

  describe('GetCACaps, GetCACert, GetNextCACert', () => {
    it('advertises exactly what strongSwan needs, one per line', async () => {
      const res = await fetch(`${url}?operation=GetCACaps`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect((await res.text()).trim().split('\n')).toEqual(['AES', 'DES3', 'POSTPKIOperation', 'Renewal', 'SHA-256', 'SHA-384', 'SHA-512', 'SCEPStandard']);
    });

    it('answers GetCACert with the RA and the CA chain (x-x509-ca-ra-cert), the RA fit for SCEP and chained to the CA', async () => {
      expect(ra.contentType).toBe('application/x-x509-ca-ra-cert');
      expect(ra.chain.map((c) => toPem('CERTIFICATE', c))).toEqual([env.issuingPem, env.rootPem]);
      const raPem = toPem('CERTIFICATE', ra.der);
      const text = x509Text(raPem);
      expect(text).toMatch(/Public-Key: \(2048 bit\)/);
      expect(text).toMatch(/Digital Signature, Key Encipherment/);
      expect(text).not.toMatch(/Extended Key Usage/);
      expect(text).toMatch(/CA:FALSE/);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, raPem)).toMatch(/: OK/);
    });

    it('says there is no next CA certificate (no rollover is staged), and answers unknown operations and labels in kind', async () => {
      expect((await fetch(`${url}?operation=GetNextCACert`)).status).toBe(404);
      const unknown = await fetch(`${url}?operation=Bogus`);
      expect(unknown.status).toBe(400);
      expect(unknown.headers.get('content-type')).toMatch(/^text\/plain/);
      expect((await fetch(url)).status).toBe(400);
      expect((await fetch(`${env.base}/scep/no-such-product?operation=GetCACaps`)).status).toBe(404);
    });

    it('serves the same on /cgi-bin/pkiclient.exe', async () => {
      const res = await fetch(`${env.base}/cgi-bin/pkiclient.exe?operation=GetCACert`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-x509-ca-ra-cert');
    });
  });

  describe('PKCSReq', () => {
    it('issues a certificate for the request key, in a CertRep that openssl verifies against the RA chain', async () => {
      const { reply, raw } = await enroll();
      expect(reply.status).toBe('SUCCESS');
      expect(reply.attributeTypes).toContain(CMS.contentType);
      expect(reply.attributeTypes).toContain(SCEP_ATTR.recipientNonce);
      expect(reply.signer.der.equals(ra.der)).toBe(true);
      const leaf = leafOf(reply.certificates);
      expect(leaf.subject).toBe('CN=host1.test');
      expect(leaf.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(keys[0] as never).export({ format: 'der', type: 'spki' }))).toBe(true);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leaf.toString())).toMatch(/: OK/);
      // What an OpenSSL-based client does with the CertRep: PKCS#7 verification of the RA's signature and chain.
      const repFile = join(env.dir, 'certrep.der');
      const chainFile = join(env.dir, 'scep-chain.pem');
      writeFileSync(repFile, raw);
      writeFileSync(chainFile, env.issuingPem + env.rootPem);
      openssl(['cms', '-verify', '-inform', 'DER', '-in', repFile, '-CAfile', chainFile, '-out', join(env.dir, 'certrep.content')]);
    });

    for (const cipher of [AES_128_CBC, AES_256_CBC, DES_EDE3_CBC]) {
      for (const digest of ['sha1', 'sha256', 'sha512'] as const) {
        it(`works with ${cipher.name} and ${digest}, and answers with the request's cipher`, async () => {
          const { reply } = await enroll({ cipher, digest, key: keys[1] });
          expect(reply.status).toBe('SUCCESS');
          expect(reply.cipher?.oid).toBe(cipher.oid);
        });
      }
    }

    it('reads GET messages percent-decoded, keeping + as +, and with line breaks', async () => {
      let sent = 0;
      for (let i = 0; sent < 2 && i < 20; i++) {
        const requester = selfSigned(keys[0] as never, 'CN=host1.test');
        const transactionId = txid();
        const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csrDer(keys[0] as never, 'host1.test', staticChallenge), transactionId });
        const b64 = der.toString('base64');
        if (!b64.includes('+')) continue;
        // strongSwan's form: %2B for +, %0A every 64 characters; and a client that leaves + raw.
        const forms = [b64.replace(/(.{64})/g, '$1\n').replace(/\+/g, '%2B').replace(/\n/g, '%0A'), b64.replace(/\//g, '%2F').replace(/=/g, '%3D')];
        const res = await fetch(`${url}?operation=PKIOperation&message=${forms[sent]}`);
        expect(res.status).toBe(200);
        expect(readReply(Buffer.from(await res.arrayBuffer()), requester).status).toBe('SUCCESS');
        sent++;
      }
      expect(sent).toBe(2);
    });

    it('accepts a GET whose URL is far longer than 16 KiB', async () => {
      const key = rsaKey(4096);
      const san = Array.from({ length: 250 }, (_, i) => `name-${i}-with-some-length.host1.test`);
      const requester = selfSigned(key, 'CN=host1.test');
      const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csrDer(key, 'host1.test', staticChallenge, san), transactionId: txid() });
      const target = `${url}?operation=PKIOperation&message=${encodeURIComponent(der.toString('base64'))}`;
      expect(target.length).toBeGreaterThan(16 * 1024);
      const res = await fetch(target);
      expect(res.status).toBe(200);
      const reply = readReply(Buffer.from(await res.arrayBuffer()), requester);
      expect(reply.status).toBe('SUCCESS');
      expect(leafOf(reply.certificates).subjectAltName?.split(', ')).toHaveLength(251);
    });

    it('reads a POST body whatever its Content-Type says', async () => {
      const requester = selfSigned(keys[0] as never, 'CN=host1.test');
      const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csrDer(keys[0] as never, 'host1.test', staticChallenge), transactionId: txid() });
      for (const type of ['application/x-www-form-urlencoded', 'application/json', 'text/plain', '']) {
        const res = await fetch(`${url}?operation=PKIOperation`, { method: 'POST', body: der, headers: { 'content-type': type } });
        expect(res.status).toBe(200);
        expect(readReply(Buffer.from(await res.arrayBuffer()), requester).status).toBe('SUCCESS');
      }
    });

    it('accepts a UTF8String challengePassword too', async () => {
      const key = keys[2] as never;
      const requester = selfSigned(key, 'CN=host1.test');
      const csr = fromPem(buildCsr(key, 'CN=host1.test', {}, { challengePassword: staticChallenge, challengePasswordType: 'utf8' }), ['CERTIFICATE REQUEST']);
      const res = await pkiOperation(url, await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: txid() }));
      expect(readReply(res.body, requester).status).toBe('SUCCESS');
    });

    it('answers a request sent again with the same transactionID as the first time', async () => {
      const requester = selfSigned(keys[0] as never, 'CN=host1.test');
      const challenge = await env.oneTimeChallenge(defaultProductId);
      const first = await enroll({ requester, challenge });
      const again = await enroll({ requester, challenge, transactionId: first.transactionId });
      expect(first.reply.status).toBe('SUCCESS');
      expect(again.reply.status).toBe('SUCCESS');
      expect(leafOf(again.reply.certificates).serialNumber).toBe(leafOf(first.reply.certificates).serialNumber);
      // The same transactionID for another CSR is refused.
      const other = await enroll({ requester, challenge, transactionId: first.transactionId, cn: 'host2.test' });
      expect(other.reply).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    });

    it('enrolls under the product its label names', async () => {
      const product = await env.product('scep-labelled', { allowedDnsSuffixes: ['labelled.test'] });
      const challenge = (await env.staticChallenge([product.id])).challenge;
      const { reply } = await enroll({ path: '/scep/scep-labelled', cn: 'a.labelled.test', challenge });
      expect(reply.status).toBe('SUCCESS');
      const cert = await env.server.rt.store.certificates.getBySerial(env.issuingId, normalizeSerialHex(leafOf(reply.certificates).serialNumber));
      expect(cert?.productId).toBe(product.id);
      // The default product's challenge is not this product's.
      expect((await enroll({ path: '/scep/scep-labelled', cn: 'b.labelled.test' })).reply).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
      // ...and the product's names rule applies.
      expect((await enroll({ path: '/scep/scep-labelled', cn: 'host1.test', challenge })).reply).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    });
  });

  describe('FAILURE with the right failInfo', () => {
    async function send(der: Buffer, requester: Requester) {
      const res = await pkiOperation(url, der);
      expect(res.status).toBe(200);
      return readReply(res.body, requester);
    }
    const requester = () => selfSigned(keys[0] as never, 'CN=host1.test');
    const csr = (challenge = staticChallenge) => csrDer(keys[0] as never, 'host1.test', challenge);

    it('badRequest for a missing or wrong static challenge, with an audit entry', async () => {
      const r = requester();
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: fromPem(buildCsr(keys[0] as never, 'CN=host1.test'), ['CERTIFICATE REQUEST']), transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badRequest',
      });
      const before = (await env.server.rt.store.audit.list({ action: 'auth.refused' }, { limit: 1000, offset: 0 })).total;
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr('0123456789abcdef0123456789abcdef'), transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badRequest',
      });
      // Its own entry, or (a second refusal for the same reason from this address in one window)
      // counted in the window's summary entry.
      let entries: AuditEntry[] = [];
      await until(async () => {
        const list = await env.server.rt.store.audit.list({ action: 'auth.refused' }, { limit: 1000, offset: 0 });
        entries = list.entries.slice(0, list.total - before);
        return entries.length > 0;
      }, 10_000, 'the refusal was audited');
      expect(entries[0]).toMatchObject({ protocol: 'scep', outcome: 'refused', detail: expect.objectContaining({ reason: 'wrongSecret' }) });
      expect(JSON.stringify(entries)).not.toContain('0123456789abcdef0123456789abcdef');
    });

    it('badMessageCheck for a message signed by another key than its certificate, or altered after signing', async () => {
      const r = requester();
      const other = selfSigned(keys[1] as never, 'CN=host1.test');
      // The certificate of one key, the signature of another.
      const resigned = await buildPkiMessage({
        signer: { ...r, key: other.key },
        digest: 'sha256',
        messageType: MESSAGE_TYPE.PKCSReq,
        transactionId: txid(),
        envelope: buildEnvelope(csr(), ra, AES_256_CBC),
      });
      expect(await send(resigned, r)).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck' });
      // A byte of the envelope changed: the messageDigest no longer matches.
      const good = await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr(), transactionId: txid() });
      const altered = Buffer.from(good);
      const at = altered.indexOf(ra.cert.serialNumber.valueBlock.valueHexView.slice(-4)) + 2;
      altered[at] = (altered[at] as number) ^ 0xff;
      expect(await send(altered, r)).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck' });
    });

    it('badMessageCheck for an envelope for someone else, a wrong key and a bad key-transport padding alike', async () => {
      const r = requester();
      const notUs = selfSigned(keys[2] as never, 'CN=not the RA');
      const forOther = await buildRequest({ requester: r, ra: notUs, messageType: MESSAGE_TYPE.PKCSReq, content: csr(), transactionId: txid() });
      expect(await send(forOther, r)).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck' });
      // The same envelope with its encrypted key replaced by random bytes (almost surely a bad
      // PKCS#1 padding), and by a well-padded encryption of a wrong key: the same answer.
      const envelope = buildEnvelope(csr(), ra, AES_256_CBC);
      const info = pkijs.ContentInfo.fromBER(envelope);
      const enveloped = new pkijs.EnvelopedData({ schema: info.content });
      const ktri = enveloped.recipientInfos[0]?.value as pkijs.KeyTransRecipientInfo;
      const answers: unknown[] = [];
      // Below the modulus (whose top byte is at least 0x80), so that it reaches the padding check.
      const random = randomBytes(256);
      random[0] = (random[0] as number) & 0x3f;
      for (const encryptedKey of [random, publicEncrypt({ key: ra.publicKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32))]) {
        ktri.encryptedKey = new asn1js.OctetString({ valueHex: encryptedKey });
        const patched = Buffer.from(new pkijs.ContentInfo({ contentType: CMS.envelopedData, content: enveloped.toSchema() }).toSchema().toBER());
        const der = await buildPkiMessage({ signer: r, digest: 'sha256', messageType: MESSAGE_TYPE.PKCSReq, transactionId: txid(), envelope: patched });
        const reply = await send(der, r);
        answers.push({ status: reply.status, failInfo: reply.failInfo });
      }
      expect(answers).toEqual([
        { status: 'FAILURE', failInfo: 'badMessageCheck' },
        { status: 'FAILURE', failInfo: 'badMessageCheck' },
      ]);
    });

    it('badAlg for OAEP key transport and for a content cipher that is not AES-CBC or 3DES', async () => {
      const r = requester();
      const envelope = buildEnvelope(csr(), ra, AES_256_CBC);
      const enveloped = new pkijs.EnvelopedData({ schema: pkijs.ContentInfo.fromBER(envelope).content });
      (enveloped.recipientInfos[0]?.value as pkijs.KeyTransRecipientInfo).keyEncryptionAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.7' });
      const oaep = Buffer.from(new pkijs.ContentInfo({ contentType: CMS.envelopedData, content: enveloped.toSchema() }).toSchema().toBER());
      const der = await buildPkiMessage({ signer: r, digest: 'sha256', messageType: MESSAGE_TYPE.PKCSReq, transactionId: txid(), envelope: oaep });
      expect(await send(der, r)).toMatchObject({ status: 'FAILURE', failInfo: 'badAlg' });
      const ofb: ContentCipher = { oid: '2.16.840.1.101.3.4.1.3', name: 'aes-128-ofb', keyLength: 16, ivLength: 16 };
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr(), transactionId: txid(), cipher: ofb }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badAlg',
      });
    });

    it('badTime for a signingTime days away from the clock', async () => {
      const r = requester();
      const der = await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr(), transactionId: txid(), now: new Date(Date.now() - 3 * 86_400_000) });
      expect(await send(der, r)).toMatchObject({ status: 'FAILURE', failInfo: 'badTime' });
    });

    it('badRequest for an envelope that holds no CSR, and for a CSR the product refuses', async () => {
      const r = requester();
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: randomBytes(300), transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badRequest',
      });
      const refused = await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csrDer(keys[0] as never, 'not a host name', staticChallenge), transactionId: txid() });
      expect(await send(refused, r)).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    });

    it('badRequest for a CSR signed with an algorithm nobody knows (the enrollment service took it for its own error)', async () => {
      const r = requester();
      const bad = Buffer.from(csr());
      const at = bad.lastIndexOf(Buffer.from([6, 9, 42, 134, 72, 134, 247, 13, 1, 1, 11]));
      bad[at + 2] = 0;
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.PKCSReq, content: bad, transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badRequest',
      });
    });

    it('badCertId for a CertPoll, GetCert or GetCRL about nothing of ours', async () => {
      const r = requester();
      const issuerAndSubject = Buffer.from(new asn1js.Sequence({ value: [r.cert.issuer.toSchema(), r.cert.subject.toSchema()] }).toBER());
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.CertPoll, content: issuerAndSubject, transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badCertId',
      });
      const unknownSerial = Buffer.from(new pkijs.IssuerAndSerialNumber({ issuer: ra.cert.issuer, serialNumber: new asn1js.Integer({ valueHex: randomBytes(16) }) }).toSchema().toBER());
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.GetCert, content: unknownSerial, transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badCertId',
      });
      const otherIssuer = Buffer.from(new pkijs.IssuerAndSerialNumber({ issuer: r.cert.issuer, serialNumber: r.cert.serialNumber }).toSchema().toBER());
      expect(await send(await buildRequest({ requester: r, ra, messageType: MESSAGE_TYPE.GetCRL, content: otherIssuer, transactionId: txid() }), r)).toMatchObject({
        status: 'FAILURE',
        failInfo: 'badCertId',
      });
    });

    it('400 (never a 5xx) for what is no pkiMessage at all', async () => {
      const good = await buildRequest({ requester: requester(), ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr(), transactionId: txid() });
      for (const body of [Buffer.alloc(0), randomBytes(500), good.subarray(0, good.length - 40), Buffer.from('not base64 at all!!')]) {
        const res = await pkiOperation(url, body);
        expect(res.status).toBe(400);
        expect(res.contentType).toMatch(/^text\/plain/);
      }
      expect((await fetch(`${url}?operation=PKIOperation&message=%%%`)).status).toBe(400);
      expect((await fetch(`${url}?operation=PKIOperation&message=AAAA`)).status).toBe(400);
    });
  });

  describe('GetCert, GetCRL, RenewalReq', () => {
    it('returns an issued certificate by issuer and serial, and the CA\'s CRL', async () => {
      const { reply, requester } = await enroll();
      const leaf = leafOf(reply.certificates);
      const ias = Buffer.from(new pkijs.IssuerAndSerialNumber({ issuer: ra.cert.issuer, serialNumber: pkijs.Certificate.fromBER(leaf.raw).serialNumber }).toSchema().toBER());
      const got = readReply((await pkiOperation(url, await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.GetCert, content: ias, transactionId: txid() }))).body, requester);
      expect(got.status).toBe('SUCCESS');
      expect(got.certificates.map((c) => c.equals(leaf.raw))).toEqual([true]);
      const crl = readReply((await pkiOperation(url, await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.GetCRL, content: ias, transactionId: txid() }))).body, requester);
      expect(crl.status).toBe('SUCCESS');
      expect(crl.crls).toHaveLength(1);
      const crlFile = join(env.dir, 'scep.crl');
      const caFile = join(env.dir, 'scep-issuing.pem');
      writeFileSync(crlFile, crl.crls[0] as Buffer);
      writeFileSync(caFile, env.issuingPem);
      expect(openssl(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', caFile, '-noout'])).toBe('');
    });

    it('renews a certificate with a RenewalReq signed by it, keeping its names; refuses other names, revoked and foreign certificates', async () => {
      const first = await enroll({ cn: 'renew.host1.test' });
      const leaf = leafOf(first.reply.certificates);
      const old = holding(keys[0] as never, leaf.toString());
      const newKey = keys[1] as never;
      const renew = async (signer: Requester, cn: string) =>
        readReply((await pkiOperation(url, await buildRequest({ requester: signer, ra, messageType: MESSAGE_TYPE.RenewalReq, content: csrDer(newKey, cn), transactionId: txid() }))).body, signer);
      const renewed = await renew(old, 'renew.host1.test');
      expect(renewed.status).toBe('SUCCESS');
      const next = leafOf(renewed.certificates);
      expect(next.subject).toBe('CN=renew.host1.test');
      expect(next.serialNumber).not.toBe(leaf.serialNumber);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, next.toString())).toMatch(/: OK/);
      // The new certificate is for the new key, and the reply was encrypted to the old one.
      expect(next.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(newKey).export({ format: 'der', type: 'spki' }))).toBe(true);

      expect(await renew(old, 'other.host1.test')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
      expect(await renew(selfSigned(keys[0] as never, 'CN=renew.host1.test'), 'renew.host1.test')).toMatchObject({ status: 'FAILURE', failInfo: 'badCertId' });
      const record = await env.server.rt.store.certificates.getBySerial(env.issuingId, normalizeSerialHex(leaf.serialNumber));
      expect((await env.rest('POST', `/v1/certificates/${record?.id}/revoke`, { reason: 'superseded' })).status).toBe(200);
      expect(await renew(old, 'renew.host1.test')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    });
  });

  describe('a product that needs approval', () => {
    it('answers PENDING, then the certificate on CertPoll once approved, FAILURE once declined', async () => {
      const product = await env.product('scep-approval', { requiresApproval: true });
      const challenge = (await env.staticChallenge([product.id])).challenge;
      const outcomes: string[] = [];
      for (const decision of ['approve', 'reject'] as const) {
        const { reply, requester, transactionId } = await enroll({ path: '/scep/scep-approval', challenge, key: keys[2] });
        expect(reply.status).toBe('PENDING');
        const issuerAndSubject = Buffer.from(new asn1js.Sequence({ value: [ra.cert.subject.toSchema(), requester.cert.subject.toSchema()] }).toBER());
        const poll = async () => readReply((await pkiOperation(`${env.base}/scep/scep-approval`, await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.CertPoll, content: issuerAndSubject, transactionId }))).body, requester);
        expect((await poll()).status).toBe('PENDING');
        let pending: { id: string } | undefined;
        await until(async () => {
          pending = (await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).find((r) => r.transactionId === transactionId);
          return pending !== undefined;
        });
        expect((await env.rest('POST', `/v1/requests/${pending?.id}/${decision}`, decision === 'reject' ? { reason: 'not this one' } : {})).status).toBe(200);
        let last: Awaited<ReturnType<typeof poll>> | undefined;
        await until(async () => (last = await poll()).status !== 'PENDING', 20_000, 'the poll is answered');
        outcomes.push(`${last?.status}/${last?.failInfo ?? ''}`);
        if (decision === 'approve') expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leafOf(last?.certificates ?? []).toString())).toMatch(/: OK/);
      }
      expect(outcomes).toEqual(['SUCCESS/', 'FAILURE/badRequest']);
    });
  });

  describe('over HTTPS', () => {
    let tls: ScepEnv;
    let httpsBase: string;
    let tlsCa: string;

    beforeAll(async () => {
      tls = await startScepEnv({ overrides: { httpsPort: await freePort() } });
      httpsBase = (tls.server.httpsUrl as string).replace('127.0.0.1', 'localhost');
      tlsCa = readFileSync(join(tls.dir, 'tls-ca.pem'), 'utf8');
    });
    afterAll(async () => {
      await tls?.stop();
    });

    /** A request over HTTPS trusting certgate's own TLS CA. */
    function httpsRequest(path: string, body?: Buffer): Promise<{ status: number; type: string | undefined; body: Buffer }> {
      return new Promise((resolve, reject) => {
        const req = httpsRequestRaw(`${httpsBase}${path}`, { method: body ? 'POST' : 'GET', ca: tlsCa }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end(body);
      });
    }

    it('serves GetCACert and enrolls with PKCSReq on the HTTPS listener too', async () => {
      const caCerts = await httpsRequest('/scep?operation=GetCACert');
      expect(caCerts).toMatchObject({ status: 200, type: 'application/x-x509-ca-ra-cert' });
      const [raDer] = readCertsOnly(caCerts.body).certificates;
      const tlsRa = { ...certRef(raDer as Buffer), publicKey: new X509Certificate(raDer as Buffer).publicKey };
      const product = await tls.server.rt.store.products.getByName('default');
      const challenge = await tls.oneTimeChallenge(product?.id as string);
      const requester = selfSigned(keys[0] as never, 'CN=tls.host1.test');
      const der = await buildRequest({ requester, ra: tlsRa, messageType: MESSAGE_TYPE.PKCSReq, content: csrDer(keys[0] as never, 'tls.host1.test', challenge), transactionId: txid() });
      const res = await httpsRequest('/cgi-bin/pkiclient.exe?operation=PKIOperation', der);
      expect(res.status).toBe(200);
      const reply = readReply(res.body, requester);
      expect(reply.status).toBe('SUCCESS');
      expect(opensslVerify(tls.dir, tls.rootPem, tls.issuingPem, leafOf(reply.certificates).toString())).toMatch(/: OK/);
    });
  });
});
