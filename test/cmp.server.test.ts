// The CMP front-end with certgate's own test client (test/helpers/cmpClient.ts), for what OpenSSL
// 3.0 cannot send: PBMAC1, the genm infoTypes of RFC 9483 §4.3 (caCerts, rootCaKeyUpdate,
// certReqTemplate), a certConf that rejects the certificate, and header and transaction refusals
// with their failure info; HTTP misuse; a transaction that resumes after a restart; and random
// and mutated bodies, always answered with HTTP 200 and an error PKIMessage, never a 5xx.
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePkiMessage } from '../protocols/cmp/asn1.js';
import { readCaCerts, readCertReqTemplate } from '../protocols/cmp/genpValues.js';
import type { FailInfo, PkiBody, PkiMessage } from '../protocols/cmp/messages.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { ProductRecord } from '../src/core/types.js';
import { OID } from '../src/pki/oids.js';
import { fromPem } from '../src/pki/pem.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { certConfFor, CmpClient, crmfRequest, revocationBody, type CmpReply } from './helpers/cmpClient.js';
import { startGateway } from './helpers/gateway.js';
import { runningClock } from './helpers/clock.js';
import { until } from './helpers/until.js';
import { httpRequest } from './helpers/http.js';
import { openssl, opensslVerify, tempDir } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

/** A self-signed certificate and its key, made with openssl: no CA certgate knows. */
function selfSigned(): { der: Buffer; key: KeyObject } {
  const dir = tempDir('certgate-cmp-stranger-');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/CN=stranger.test', '-days', '1']);
  return { der: der(readFileSync(join(dir, 'c.pem'), 'utf8')), key: createPrivateKey(readFileSync(join(dir, 'k.pem'))) };
}

const ecKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const der = (pem: string): Buffer => fromPem(pem, ['CERTIFICATE']);

function errorOf(reply: CmpReply): { failInfo: FailInfo[]; text: string } {
  const body = reply.message.body;
  if (body.type !== 'error') throw new Error(`expected an error, got ${body.type}`);
  return { failInfo: body.status.failInfo, text: body.status.statusString.join(' ') };
}

function issuedOf(reply: CmpReply): Buffer {
  const body = reply.message.body;
  if (body.type !== 'ip' && body.type !== 'cp' && body.type !== 'kup') throw new Error(`expected ip/cp/kup, got ${body.type}: ${JSON.stringify(body.type === 'error' ? body.status : null)}`);
  const cert = body.responses[0]?.certificateDer;
  if (!cert) throw new Error(`no certificate: ${JSON.stringify(body.responses[0]?.status)}`);
  return cert;
}

const ir = (key: KeyObject, name: string): PkiBody => ({ type: 'ir', requests: [crmfRequest({ key, subject: `CN=${name}`, san: { dns: [name] } })] });

describe.each(REST_DEPLOYMENTS)('CMP front-end with the test client: $name', (d) => {
  let env: RestEnv;
  let url: string;
  let secret: string;
  let otherSecret: string;
  const products: Record<string, ProductRecord> = {};

  const mac = (o: { mac?: 'pbm' | 'pbmac1'; reference?: string; secret?: string } = {}) => new CmpClient(url, { kind: 'mac', reference: o.reference ?? 'client1', secret: o.secret ?? secret, mac: o.mac ?? 'pbm' });

  async function endsOf(transactionId: Buffer): Promise<string[]> {
    const { entries } = await env.server.rt.store.audit.list({ action: 'cmp.transaction', target: transactionId.toString('hex') }, { limit: 10, offset: 0 });
    return entries.map((e) => String((e.detail as Record<string, unknown>).end));
  }

  beforeAll(async () => {
    env = await startRestEnv(d);
    const rt = env.server.rt;
    products.main = await createProduct(rt.store, { name: 'cmp-tc', caId: env.issuingId, template: parseProductTemplate({ keyAlgorithms: ['ec-p256', 'rsa-2048'], protocols: { cmp: { implicitConfirm: false } } }) }, CLI_CONTEXT);
    url = `${env.base}/.well-known/cmp/p/cmp-tc`;
    ({ secret } = await rt.credentials.create({ type: 'cmp', name: 'client1', products: [products.main.id] }, CLI_CONTEXT));
    ({ secret: otherSecret } = await rt.credentials.create({ type: 'cmp', name: 'client2', products: [products.main.id] }, CLI_CONTEXT));
  }, 120_000);

  afterAll(async () => {
    await env?.close();
  });

  it.skipIf(d.skip)('PBMAC1: ir answered with a PBMAC1-protected ip whose certificate verifies; certConf → pkiConf; the trail says confirmed', async () => {
    const client = mac({ mac: 'pbmac1' });
    const reply = await client.exchange(ir(ecKey(), 'pbmac1.test'));
    expect(reply.httpStatus).toBe(200);
    expect(reply.contentType).toBe('application/pkixcmp');
    expect(reply.protection).toBe('mac');
    expect(reply.message.header.protectionAlg?.oid).toBe(OID.pbmac1);
    expect(reply.answersUs).toBe(true);
    const cert = issuedOf(reply);
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, new X509Certificate(cert).toString())).toMatch(/OK/);
    expect(new X509Certificate(cert).subjectAltName).toBe('DNS:pbmac1.test');
    const conf = await client.follow(reply, certConfFor(reply.message));
    expect(conf.message.body.type).toBe('pkiConf');
    expect(conf.protection).toBe('mac');
    expect(await endsOf(reply.message.header.transactionID as Buffer)).toEqual(['confirmed']);
  });

  it.skipIf(d.skip)('genm: caCerts is the chain, rootCaKeyUpdate has no value, certReqTemplate names the key types; unknown infoTypes are left out', async () => {
    const reply = await mac().exchange({
      type: 'genm',
      infos: [OID.itCaCerts, OID.itRootCaKeyUpdate, OID.itCertReqTemplate, '1.3.6.1.5.5.7.4.99'].map((oid) => ({ oid, valueDer: null })),
    });
    const body = reply.message.body;
    if (body.type !== 'genp') throw new Error(body.type);
    expect(body.infos.map((i) => i.oid)).toEqual([OID.itCaCerts, OID.itRootCaKeyUpdate, OID.itCertReqTemplate]);
    expect(readCaCerts(body.infos[0]?.valueDer as Buffer)).toEqual([der(env.issuingPem), der(env.rootPem)]);
    expect(body.infos[1]?.valueDer).toBeNull();
    const template = readCertReqTemplate(body.infos[2]?.valueDer as Buffer);
    expect(template.subjectDer).toBeNull();
    // Signed by a certificate neither of this product nor from a CA it trusts: refused.
    const stranger = selfSigned();
    expect(errorOf(await new CmpClient(url, { kind: 'signature', certDer: stranger.der, key: stranger.key }).exchange({ type: 'genm', infos: [] })).failInfo).toEqual(['signerNotTrusted']);
    expect(template.keySpec).toEqual([
      { kind: 'algorithm', alg: { oid: OID.ecPublicKey, paramsDer: Buffer.from('06082a8648ce3d030107', 'hex') } },
      { kind: 'rsaKeyLength', bits: 2048 },
    ]);
  });

  it.skipIf(d.skip)('a certConf that rejects the certificate revokes it (cessationOfOperation) and ends the transaction', async () => {
    const client = mac();
    const reply = await client.exchange(ir(ecKey(), 'rejected.test'));
    const cert = new X509Certificate(issuedOf(reply));
    const [status] = (certConfFor(reply.message) as Extract<PkiBody, { type: 'certConf' }>).statuses;
    const conf = await client.follow(reply, { type: 'certConf', statuses: [{ ...status!, statusInfo: { status: 'rejection', statusString: ['wrong names'], failInfo: [] } }] });
    expect(conf.message.body.type).toBe('pkiConf');
    const record = await env.server.rt.store.certificates.getBySerial(env.issuingId, cert.serialNumber.toLowerCase());
    expect(record?.revocationReason).toBe('cessationOfOperation');
    expect(await endsOf(reply.message.header.transactionID as Buffer)).toEqual(['refusedByClient']);
    // The transaction is over: a second certConf has nothing to confirm.
    expect(errorOf(await client.follow(conf, certConfFor(reply.message))).failInfo).toEqual(['badRequest']);
  });

  it.skipIf(d.skip)('header and transaction refusals carry the right failure info', async () => {
    const client = mac();
    expect(errorOf(await client.exchange(ir(ecKey(), 'a.test'), { transactionID: randomBytes(8) }))).toMatchObject({ failInfo: ['badRequest'] });
    expect(errorOf(await client.exchange(ir(ecKey(), 'a.test'), { senderNonce: randomBytes(8) })).failInfo).toEqual(['badSenderNonce']);
    expect(errorOf(await client.exchange(ir(ecKey(), 'a.test'), { messageTime: new Date(Date.now() - 3_600_000) })).failInfo).toEqual(['badTime']);
    expect(errorOf(await client.exchange(ir(ecKey(), 'a.test'), { pvno: 1 })).failInfo).toEqual(['unsupportedVersion']);
    expect(errorOf(await new CmpClient(url, { kind: 'none' }).exchange(ir(ecKey(), 'a.test'))).failInfo).toEqual(['badMessageCheck']);
    expect(errorOf(await mac({ reference: 'nobody' }).exchange(ir(ecKey(), 'a.test'))).failInfo).toEqual(['badMessageCheck']);
    expect(errorOf(await client.exchange({ type: 'pkiConf' })).failInfo).toEqual(['badRequest']);

    // A transaction waits for its certConf with the last answer's senderNonce as recipNonce.
    const reply = await client.exchange(ir(ecKey(), 'nonce.test'));
    issuedOf(reply);
    expect(errorOf(await client.exchange(certConfFor(reply.message), { transactionID: reply.message.header.transactionID as Buffer, recipNonce: randomBytes(16) })).failInfo).toEqual(['badRecipientNonce']);
    // Its transactionID is taken: by another sender, and for a new enrollment.
    const other = mac({ reference: 'client2', secret: otherSecret });
    expect(errorOf(await other.follow(reply, certConfFor(reply.message))).failInfo).toEqual(['notAuthorized']);
    expect(errorOf(await other.exchange(ir(ecKey(), 'b.test'), { transactionID: reply.message.header.transactionID as Buffer })).failInfo).toEqual(['transactionIdInUse']);
    // The right certConf still closes it.
    expect((await client.follow(reply, certConfFor(reply.message))).message.body.type).toBe('pkiConf');
    // Refusals of an authenticated sender end in the trail as errors; the confirmation too.
    expect(await endsOf(reply.message.header.transactionID as Buffer)).toEqual(expect.arrayContaining(['confirmed', 'error']));
  });

  it.skipIf(d.skip)("a client's error message ends its transaction: pkiConf, and the trail has the client's reason", async () => {
    const client = mac();
    const reply = await client.exchange(ir(ecKey(), 'giveup.test'));
    issuedOf(reply);
    const bye = await client.follow(reply, { type: 'error', status: { status: 'rejection', statusString: ['device storage full'], failInfo: ['systemFailure'] }, errorCode: null, errorDetails: [] });
    expect(bye.message.body.type).toBe('pkiConf');
    expect(await endsOf(reply.message.header.transactionID as Buffer)).toEqual(['errorFromClient']);
    expect(errorOf(await client.follow(bye, certConfFor(reply.message))).failInfo).toEqual(['badRequest']);
  });

  it.skipIf(d.skip)('rr MAC-protected by a cmp credential is refused: a protocol credential does not revoke', async () => {
    const client = mac();
    const reply = await client.exchange(ir(ecKey(), 'keep.test'), { implicitConfirm: true });
    const cert = issuedOf(reply);
    expect(errorOf(await client.exchange(revocationBody(cert, 1))).failInfo).toEqual(['notAuthorized']);
    expect((await env.server.rt.store.certificates.getBySerial(env.issuingId, new X509Certificate(cert).serialNumber.toLowerCase()))?.revokedAt).toBeNull();
  });

  it.skipIf(d.skip)('kur: signed by the certificate it replaces and naming it in oldCertID; MAC protection or another oldCertID is refused; implicitConfirm only where the product allows', async () => {
    const client = mac();
    const oldKey = ecKey();
    const first = await client.exchange(ir(oldKey, 'kur.test'), { implicitConfirm: true });
    // The product says cmp.implicitConfirm = false: not granted, the certificate waits for its certConf.
    expect(first.message.header.generalInfo.map((i) => i.oid)).not.toContain(OID.itImplicitConfirm);
    const oldDer = issuedOf(first);
    await client.follow(first, certConfFor(first.message));
    const other = issuedOf(await client.exchange(ir(ecKey(), 'elsewhere.test')));
    const newKey = ecKey();
    const kur = (oldCertDer: Buffer): PkiBody => ({ type: 'kur', requests: [crmfRequest({ key: newKey, subject: 'CN=kur.test', san: { dns: ['kur.test'] }, oldCertDer })] });

    expect(errorOf(await client.exchange(kur(oldDer))).failInfo).toEqual(['wrongIntegrity']);
    // Signed with another key than the certificate's: refused, and in the trail.
    expect(errorOf(await new CmpClient(url, { kind: 'signature', certDer: oldDer, key: ecKey() }).exchange(kur(oldDer))).failInfo).toEqual(['badMessageCheck']);
    const serial = new X509Certificate(oldDer).serialNumber.toLowerCase();
    const { entries } = await env.server.rt.store.audit.list({ action: 'auth.refused' }, { limit: 50, offset: 0 });
    expect(entries.some((e) => e.target.startsWith(`cmp-signer-certificate:${serial}`) && e.protocol === 'cmp')).toBe(true);
    const holder = new CmpClient(url, { kind: 'signature', certDer: oldDer, key: oldKey });
    expect(errorOf(await holder.exchange(kur(other))).failInfo).toEqual(['badCertId']);
    const reply = await holder.exchange(kur(oldDer));
    expect(reply.message.body.type).toBe('kup');
    expect(reply.protection).toBe('signature');
    const renewed = new X509Certificate(issuedOf(reply));
    expect(renewed.subjectAltName).toBe('DNS:kur.test');
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, renewed.toString())).toMatch(/OK/);
    expect((await holder.follow(reply, certConfFor(reply.message))).message.body.type).toBe('pkiConf');
    expect(await endsOf(reply.message.header.transactionID as Buffer)).toEqual(['confirmed']);
  });

  it.skipIf(d.skip)('HTTP misuse: 405, 415 and 413 without a message; a body that is no PKIMessage gets HTTP 200 and an error PKIMessage', async () => {
    expect((await httpRequest(url, { method: 'GET' })).status).toBe(405);
    expect((await httpRequest(url, { method: 'POST', body: Buffer.from([0x30, 0x00]), headers: { 'content-type': 'application/octet-stream' } })).status).toBe(415);
    expect((await httpRequest(url, { method: 'POST', body: Buffer.alloc(70_000), headers: { 'content-type': 'application/pkixcmp' } })).status).toBe(413);
    const garbage = await httpRequest(url, { method: 'POST', body: Buffer.from('not cmp'), headers: { 'content-type': 'application/pkixcmp' } });
    expect(garbage.status).toBe(200);
    expect(Number(garbage.headers['content-length'])).toBe(garbage.body.length);
    const message = decodePkiMessage(garbage.body);
    expect(message.body.type).toBe('error');
    // No product of that name: nothing to sign for, an unprotected error (RFC 9483 §3.6.4 allows it).
    const nowhere = await new CmpClient(`${env.base}/.well-known/cmp/p/no-such-product`, { kind: 'mac', reference: 'client1', secret }).exchange(ir(ecKey(), 'x.test'));
    expect(errorOf(nowhere).failInfo).toEqual(['badRequest']);
    expect(nowhere.protection).toBe('none');
  });

  it.skipIf(d.skip)('fuzz: random and mutated bodies are answered with HTTP 200 and an error PKIMessage, never a 5xx', async () => {
    const valid = mac().build(ir(ecKey(), 'fuzz.test')).der;
    const post = async (body: Buffer): Promise<PkiMessage> => {
      const reply = await httpRequest(url, { method: 'POST', body, headers: { 'content-type': 'application/pkixcmp' } });
      expect(reply.status).toBe(200);
      return decodePkiMessage(reply.body);
    };
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        expect((await post(Buffer.from(bytes))).body.type).toBe('error');
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), async (edits) => {
        const mutated = Buffer.from(valid);
        for (const [pos, value] of edits) mutated[pos] = value;
        // A mutation that leaves the message intact (or only its certificate request) may be answered with an ip.
        expect(['error', 'ip']).toContain((await post(mutated)).body.type);
      }),
      { numRuns: 80 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(valid.length - 1), async (cut) => {
        expect((await post(valid.subarray(0, cut))).body.type).toBe('error');
      }),
      { numRuns: 30 },
    );
  });
});

describe('a CMP transaction after a restart', () => {
  it('a request waiting for approval is polled to its certificate by the restarted gateway', async () => {
    const gw = await startGateway({ dirPrefix: 'certgate-cmp-restart-' });
    let restarted: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      const product = await createProduct(gw.rt.store, { name: 'cmp-wait', caId: gw.issuing.id, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT);
      const { secret } = await gw.rt.credentials.create({ type: 'cmp', name: 'waiter', products: [product.id] }, CLI_CONTEXT);
      const client = new CmpClient(`${gw.baseUrl}/.well-known/cmp/p/cmp-wait`, { kind: 'mac', reference: 'waiter', secret });
      const waiting = await client.exchange(ir(ecKey(), 'wait.test'));
      const body = waiting.message.body;
      expect(body.type === 'ip' && body.responses[0]?.status.status).toBe('waiting');
      const [pending] = await gw.rt.store.requests.listByStatus(['pending_approval'], 10);
      await gw.rt.enrollments.approve(pending!.id, CLI_CONTEXT);
      const config = gw.config;
      await gw.close();
      restarted = await startGateway({ config, init: false });
      const again = new CmpClient(`${restarted.baseUrl}/.well-known/cmp/p/cmp-wait`, { kind: 'mac', reference: 'waiter', secret });
      let reply = await again.follow(waiting, { type: 'pollReq', certReqIds: [0n] });
      for (let i = 0; i < 20 && reply.message.body.type === 'pollRep'; i++) {
        await restarted.rt.enrollments.waitForOutcome(pending!, 5_000);
        reply = await again.follow(reply, { type: 'pollReq', certReqIds: [0n] });
      }
      expect(new X509Certificate(issuedOf(reply)).subjectAltName).toBe('DNS:wait.test');
    } finally {
      await restarted?.close();
      if (!restarted) await gw.close();
    }
  });

  it('a transaction waits its lifetime from each answer; a certificate revoked before it is collected is not handed out; a signing certificate revoked meanwhile polls no more', async () => {
    const clock = runningClock();
    const gw = await startGateway({ dirPrefix: 'certgate-cmp-followups-', now: clock.now, overrides: { cmpTransactionSeconds: 60 } });
    try {
      const product = await createProduct(gw.rt.store, { name: 'cmp-approve', caId: gw.issuing.id, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT);
      const { secret } = await gw.rt.credentials.create({ type: 'cmp', name: 'approvee', products: [product.id] }, CLI_CONTEXT);
      const url = `${gw.baseUrl}/.well-known/cmp/p/cmp-approve`;
      const client = new CmpClient(url, { kind: 'mac', reference: 'approvee', secret });
      const approveWaiting = async (name: string): Promise<void> => {
        const [pending] = (await gw.rt.store.requests.listByStatus(['pending_approval'], 10)).filter((r) => r.status === 'pending_approval');
        expect(pending, name).toBeDefined();
        await gw.rt.enrollments.approve(pending!.id, CLI_CONTEXT);
        await until(async () => (await gw.rt.store.requests.get(pending!.id))?.status === 'issued', 20_000, `${name} issued`);
      };
      const statusOf = (reply: CmpReply) => {
        const body = reply.message.body;
        return body.type === 'ip' || body.type === 'kup' ? body.responses[0]?.status : undefined;
      };

      // Each answer gives the client the lifetime (60 s here) again: 100 s after the ir, the poll still finds it.
      const key = ecKey();
      let reply = await client.exchange(ir(key, 'held.test'), { implicitConfirm: true });
      expect(statusOf(reply)?.status).toBe('waiting');
      clock.advance(40_000);
      reply = await client.follow(reply, { type: 'pollReq', certReqIds: [0n] });
      expect(reply.message.body.type).toBe('pollRep');
      clock.advance(40_000);
      reply = await client.follow(reply, { type: 'pollReq', certReqIds: [0n] });
      expect(reply.message.body.type).toBe('pollRep');
      await approveWaiting('held.test');
      const held = issuedOf(await client.follow(reply, { type: 'pollReq', certReqIds: [0n] }));

      // Approved, then revoked by an operator before the client polled: refused, not handed out.
      let revokedReply = await client.exchange(ir(ecKey(), 'revoked-early.test'), { implicitConfirm: true });
      await approveWaiting('revoked-early.test');
      const early = (await gw.rt.store.certificates.list({ limit: 100, offset: 0 })).find((c) => c.commonName === 'revoked-early.test');
      await gw.rt.revocations.revoke(early!.id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
      revokedReply = await client.follow(revokedReply, { type: 'pollReq', certReqIds: [0n] });
      expect(statusOf(revokedReply)).toMatchObject({ status: 'rejection', failInfo: ['certRevoked'] });
      expect(revokedReply.message.body.type === 'ip' && revokedReply.message.body.responses[0]?.certificateDer).toBeNull();

      // A kur signed by `held` waits for approval; `held` is revoked meanwhile: its polls are refused.
      const holder = new CmpClient(url, { kind: 'signature', certDer: held, key });
      const kur = await holder.exchange({ type: 'kur', requests: [crmfRequest({ key: ecKey(), subject: 'CN=held.test', san: { dns: ['held.test'] }, oldCertDer: held })] }, { implicitConfirm: true });
      expect(statusOf(kur)?.status).toBe('waiting');
      const heldRecord = (await gw.rt.store.certificates.list({ limit: 100, offset: 0 })).find((c) => new X509Certificate(c.certificatePem).raw.equals(held));
      await gw.rt.revocations.revoke(heldRecord!.id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
      expect(errorOf(await holder.follow(kur, { type: 'pollReq', certReqIds: [0n] })).failInfo).toEqual(['signerNotTrusted']);
    } finally {
      await gw.close();
    }
  });
});
