// The CMP signer certificates (protocols/cmp/signers.ts), on SQLite and PostgreSQL: issued by the
// CA through the core's signer (recorded under the CA's system product, audited with purpose
// cmp-signer), fit for signing CMP answers, the key sealed under the master key; one per CA, found
// again by another process and after a restart; a successor with a third of the lifetime left,
// the predecessor still valid; processes that race agree on the newest; none for an upstream CA.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOLS } from '../protocols/index.js';
import { CmpDb } from '../protocols/cmp/db.js';
import { CmpSigners, NoCmpSigner } from '../protocols/cmp/signers.js';
import { decryptPrivateKey } from '../src/ca/keyProtection.js';
import type { Config } from '../src/config.js';
import type { CoreServices } from '../src/core/protocol.js';
import { systemProductId } from '../src/core/systemProducts.js';
import type { CaRecord } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { testClock } from './helpers/clock.js';
import { fakeUpstreamCa } from './helpers/fakeUpstreamCa.js';
import { deploymentConfig, deploymentMissing, TEST_MASTER_KEY, testConfig } from './helpers/gateway.js';
import { opensslVerify, tempDir, x509Text } from './helpers/openssl.js';

const YEAR_MS = 365 * 86_400_000;

const deployments = [
  { name: 'SQLite', skip: false, extra: async () => ({}) },
  { name: 'PostgreSQL', skip: deploymentMissing({ backend: 'postgres' }), extra: () => deploymentConfig({ backend: 'postgres' }) },
];

for (const d of deployments) {
  describe.skipIf(d.skip)(`CMP signer certificates on ${d.name}`, () => {
    const dir = tempDir('certgate-cmp-signers-');
    let config: Config;
    let rt: Runtime;
    let root: CaRecord;
    let issuing: CaRecord;

    const core = (now?: () => number): CoreServices => {
      const own = rt.protocolCore('cmp');
      return now ? { ...own, now } : own;
    };
    /** What one process makes at mount: its own cache over the shared table. */
    const signers = (lifetimeMs = YEAR_MS, now?: () => number) => new CmpSigners(new CmpDb(rt.protocolCore('cmp').tables()), core(now), lifetimeMs);
    const rows = () => new CmpDb(rt.protocolCore('cmp').tables()).liveSigners(issuing.id, Date.now() - 3_600_000);

    beforeAll(async () => {
      config = testConfig({ dataDir: dir, ...(await d.extra()) });
      rt = await openRuntime(config, { protocols: PROTOCOLS });
      const init = await initialize(rt);
      root = init.root as CaRecord;
      issuing = init.issuing as CaRecord;
    });
    afterAll(async () => {
      await rt?.close();
    });

    it('issues an EC P-256 signer by the CA, for signing only, its key sealed, recorded and audited as cmp-signer', async () => {
      const signer = await signers().current(issuing.id);
      const pem = toPem('CERTIFICATE', signer.certificateDer);
      expect(opensslVerify(dir, root.certificatePem, issuing.certificatePem, pem)).toMatch(/: OK/);
      const text = x509Text(pem);
      expect(text).toMatch(/ASN1 OID: prime256v1/);
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature\s*\n/);
      expect(text).not.toMatch(/Extended Key Usage|CA:TRUE|OCSP|CRL Distribution/);
      const x509 = new X509Certificate(signer.certificateDer);
      expect(x509.subject.split('\n')).toEqual(['O=certgate', `OU=${issuing.name}`, 'CN=certgate CMP signer']);
      expect(x509.checkIssued(new X509Certificate(issuing.certificatePem))).toBe(true);

      // What the server puts in an answer: the signer's subject and key id, the CA's chain leaf-most first.
      expect(signer.subjectDer.equals(readCertificateBasics(signer.certificateDer).subjectDer)).toBe(true);
      const skid = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1]?.replace(/:/g, '').toLowerCase();
      expect(signer.subjectKeyId?.toString('hex')).toBe(skid);
      expect(signer.chainDer.map((der) => toPem('CERTIFICATE', der))).toEqual([issuing.certificatePem, root.certificatePem].map((p) => toPem('CERTIFICATE', fromPem(p, ['CERTIFICATE']))));
      expect(signer.key.asymmetricKeyType).toBe('ec');
      expect(createPublicKey(signer.key).export({ format: 'der', type: 'spki' }).equals(x509.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);

      // At rest: an envelope under the master key, never the key in clear.
      const [row] = await rows();
      expect(row?.encryptedKey).not.toMatch(/PRIVATE KEY/);
      expect(createPublicKey(decryptPrivateKey(row?.encryptedKey as string, TEST_MASTER_KEY)).export({ format: 'der', type: 'spki' }).equals(x509.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);

      // In the inventory under the CA's system product, and audited as asked for by CMP.
      const record = await rt.store.certificates.getBySerial(issuing.id, row?.serialHex as string);
      expect(record).toMatchObject({ productId: systemProductId(issuing.id), commonName: 'certgate CMP signer', certificatePem: pem });
      const audit = await rt.store.audit.list({ action: 'certificate.system_issued', target: record?.id as string }, { limit: 5, offset: 0 });
      expect(audit.entries.map((e) => [e.actor, e.protocol, e.outcome, e.detail?.['purpose'], e.detail?.['serial']])).toEqual([['system', 'cmp', 'success', 'cmp-signer', row?.serialHex]]);
    });

    it('is issued once per CA: the same process, another process and a restarted one answer with it', async () => {
      const first = await signers().current(issuing.id);
      const one = signers();
      expect((await one.current(issuing.id)).certificateDer.equals(first.certificateDer)).toBe(true);
      expect((await one.current(issuing.id)).certificateDer.equals(first.certificateDer)).toBe(true);
      // Concurrent calls in one process share one load (no second certificate).
      const fresh = signers();
      const answers = await Promise.all([fresh.current(issuing.id), fresh.current(issuing.id), fresh.current(issuing.id)]);
      expect(answers.every((a) => a.certificateDer.equals(first.certificateDer))).toBe(true);
      expect(await rows()).toHaveLength(1);

      await rt.close();
      rt = await openRuntime(config, { protocols: PROTOCOLS });
      const restarted = await signers().current(issuing.id);
      expect(restarted.certificateDer.equals(first.certificateDer)).toBe(true);
      // The key opened after the restart is the certificate's.
      expect(createPublicKey(restarted.key).export({ format: 'der', type: 'spki' }).equals(new X509Certificate(first.certificateDer).publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
      expect(await rows()).toHaveLength(1);
    });

    it('issues a successor with a third of the lifetime left; the predecessor stays valid', async () => {
      const clock = testClock();
      const lifetimeMs = 6 * 3_600_000;
      const short = signers(lifetimeMs, clock.now);
      // The year-long signer of the tests before would stay newest: only short-lived ones here.
      await new CmpDb(rt.protocolCore('cmp').tables()).removeExpiredSigners(Date.now() + 2 * YEAR_MS, 0);
      const first = await short.current(issuing.id);
      const firstX509 = new X509Certificate(first.certificateDer);
      // validTo is in whole seconds: the renewal is due within the second after this.
      const renewAt = Date.parse(firstX509.validTo) - lifetimeMs / 3;
      clock.advance(renewAt - clock.now() - 2_000);
      expect((await short.current(issuing.id)).certificateDer.equals(first.certificateDer)).toBe(true);
      clock.advance(3_000);
      const second = await short.current(issuing.id);
      expect(second.certificateDer.equals(first.certificateDer)).toBe(false);
      expect(Date.parse(new X509Certificate(second.certificateDer).validTo)).toBeGreaterThan(Date.parse(firstX509.validTo));
      // Both on record and in the inventory, neither revoked: a client that pinned the first still verifies it.
      const live = await new CmpDb(rt.protocolCore('cmp').tables()).liveSigners(issuing.id, clock.now());
      expect(live.map((r) => r.certificatePem)).toEqual([second, first].map((s) => toPem('CERTIFICATE', s.certificateDer)));
      for (const r of live) expect((await rt.store.certificates.getBySerial(issuing.id, r.serialHex))?.revokedAt).toBeNull();
      const audited = await rt.store.audit.list({ action: 'certificate.system_issued' }, { limit: 50, offset: 0 });
      expect(audited.entries.filter((e) => e.detail?.['purpose'] === 'cmp-signer').map((e) => e.detail?.['serial'])).toEqual(expect.arrayContaining(live.map((r) => r.serialHex)));
    });

    it('answers with the signer still valid when its successor cannot be issued, and tries again a minute later', async () => {
      const clock = testClock();
      const lifetimeMs = 6 * 3_600_000;
      await new CmpDb(rt.protocolCore('cmp').tables()).removeExpiredSigners(Date.now() + 2 * YEAR_MS, 0);
      const first = await signers(lifetimeMs, clock.now).current(issuing.id);
      let attempts = 0;
      const own = rt.protocolCore('cmp');
      const offline = new CmpSigners(new CmpDb(own.tables()), { ...own, now: clock.now, signer: { issue: () => (attempts++, Promise.reject(new Error('the CA is offline'))) } }, lifetimeMs);
      clock.advance(Date.parse(new X509Certificate(first.certificateDer).validTo) - lifetimeMs / 3 - clock.now() + 1_000);
      expect((await offline.current(issuing.id)).certificateDer.equals(first.certificateDer)).toBe(true);
      expect((await offline.current(issuing.id)).certificateDer.equals(first.certificateDer)).toBe(true);
      expect(attempts).toBe(1);
      clock.advance(60_000);
      expect((await offline.current(issuing.id)).certificateDer.equals(first.certificateDer)).toBe(true);
      expect(attempts).toBe(2);
      // With no signer at all there is nothing to answer with: the failure is the caller's to report.
      await new CmpDb(own.tables()).removeExpiredSigners(Date.now() + 2 * YEAR_MS, 0);
      await expect(new CmpSigners(new CmpDb(own.tables()), { ...own, signer: { issue: () => Promise.reject(new Error('the CA is offline')) } }, lifetimeMs).current(issuing.id)).rejects.toThrow('the CA is offline');
    });

    it('lets processes that race each issue one, and then all answer with the newest', async () => {
      await new CmpDb(rt.protocolCore('cmp').tables()).removeExpiredSigners(Date.now() + 2 * YEAR_MS, 0);
      await Promise.all([signers().current(issuing.id), signers().current(issuing.id)]);
      const live = await rows();
      expect(live.length).toBeGreaterThanOrEqual(1);
      const newest = live[0]?.certificatePem;
      for (const later of [signers(), signers()]) expect(toPem('CERTIFICATE', (await later.current(issuing.id)).certificateDer)).toBe(newest);
      // Every one of them is a valid certificate of the CA.
      for (const r of live) expect(opensslVerify(dir, root.certificatePem, issuing.certificatePem, r.certificatePem)).toMatch(/: OK/);
    });

    it('refuses with NoCmpSigner for a CA that cannot sign locally, or no CA at all, and issues nothing', async () => {
      const upstream = await fakeUpstreamCa().register(rt.store, 'upstream-for-cmp');
      const attempt = signers().current(upstream.id);
      await expect(attempt).rejects.toBeInstanceOf(NoCmpSigner);
      await expect(attempt).rejects.toThrow(/^CA "upstream-for-cmp" is backed by an upstream ACME CA and does not sign with a key certgate drives, so it has no CMP signer/);
      await expect(signers().current('no-such-ca')).rejects.toThrow(NoCmpSigner);
      expect(await new CmpDb(rt.protocolCore('cmp').tables()).liveSigners(upstream.id, 0)).toEqual([]);
      expect(await rt.store.products.get(systemProductId(upstream.id))).toBeUndefined();
    });
  });
}
