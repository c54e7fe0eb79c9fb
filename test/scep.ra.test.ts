// The SCEP RA certificates (protocols/scep/ra.ts): issued by the CA on first use through the core's
// signer (recorded under the CA's system product, audited), fit for SCEP, the key encrypted at rest
// under the master key, renewed with a third of the lifetime left, and the predecessor kept (and
// usable) until it expires.
import { createPublicKey, X509Certificate } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptPrivateKey } from '../src/ca/keyProtection.js';
import { systemProductId } from '../src/core/systemProducts.js';
import { initialize } from '../src/init.js';
import { toPem } from '../src/pki/pem.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { PROTOCOLS } from '../protocols/index.js';
import { ScepDb } from '../protocols/scep/db.js';
import { RaCertificates } from '../protocols/scep/ra.js';
import { opensslVerify, tempDir, x509Text } from './helpers/openssl.js';
import { testClock } from './helpers/clock.js';
import { TEST_MASTER_KEY, testConfig } from './helpers/gateway.js';


describe('SCEP RA certificates', () => {
  let rt: Runtime;
  let dir: string;
  let caId: string;
  let rootPem: string;
  let issuingPem: string;
  let db: ScepDb;

  beforeAll(async () => {
    dir = tempDir('certgate-scep-ra-');
    rt = await openRuntime(testConfig({ dataDir: dir }), { protocols: PROTOCOLS });
    const init = await initialize(rt);
    caId = init.issuing?.id as string;
    rootPem = init.root?.certificatePem as string;
    issuingPem = init.issuing?.certificatePem as string;
    db = new ScepDb(rt.protocolCore('scep').tables());
  });
  afterAll(async () => {
    await rt?.close();
  });

  const ras = (lifetimeMs: number, now?: () => number) => new RaCertificates(db, rt.protocolCore('scep').signer, (id) => rt.store.cas.get(id), rt.sealing, lifetimeMs, pino({ level: 'silent' }), now);

  it('issues an RSA-2048 RA by the CA, for signing and key transport, its key encrypted under the master key', async () => {
    const ra = await ras(365 * 86_400_000).current(caId);
    const pem = toPem('CERTIFICATE', ra.der);
    expect(opensslVerify(dir, rootPem, issuingPem, pem)).toMatch(/: OK/);
    const text = x509Text(pem);
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
    expect(text).toMatch(/Digital Signature, Key Encipherment/);
    expect(text).not.toMatch(/Extended Key Usage/);
    const [row] = await db.liveRas(caId, Date.now());
    expect(row?.encryptedKey).not.toMatch(/PRIVATE KEY/);
    const key = decryptPrivateKey(row?.encryptedKey as string, TEST_MASTER_KEY);
    expect(createPublicKey(key).export({ format: 'der', type: 'spki' }).equals(new X509Certificate(ra.der).publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    // In the inventory as one of our certificates, under the CA's system product, and audited.
    const record = await rt.store.certificates.getBySerial(caId, ra.serialHex);
    expect(record?.productId).toBe(systemProductId(caId));
    expect(record?.certificatePem).toBe(pem);
    const audit = await rt.store.audit.list({ action: 'certificate.system_issued', target: record?.id as string }, { limit: 5, offset: 0 });
    expect(audit.entries.map((e) => [e.actor, e.protocol, e.detail?.['purpose']])).toEqual([['system', 'scep', 'scep-ra']]);
    // The system product is not one an operator lists or issues under.
    expect((await rt.core.queries.productList()).map((p) => p.id)).not.toContain(systemProductId(caId));
    // Another process (another RaCertificates) finds it rather than issuing its own.
    expect((await ras(365 * 86_400_000).current(caId)).id).toBe(ra.id);
  });

  it('issues a successor with a third of the lifetime left, and keeps the predecessor until it expires', async () => {
    const clock = testClock();
    const short = ras(6_000, clock.now);
    // The long-lived RA of the test before is newest; a short-lived one takes over once issued.
    await db.removeExpiredRas(Date.now() + 400 * 86_400_000, 0);
    const first = await short.current(caId);
    clock.advance(first.renewAt - clock.now() - 1);
    expect((await short.current(caId)).id).toBe(first.id);
    clock.advance(1);
    const second = await short.current(caId);
    expect(second.id).not.toBe(first.id);
    expect((await short.all(caId)).map((r) => r.id)).toEqual([second.id, first.id]);
  });
});
