// One contract for the Store, run against SQLite (in memory and on disk) and a real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { ProductTemplate, RequestStatus } from '../src/core/types.js';
import {
  createStoreFromKysely,
  DuplicateSerialError,
  InvalidRequestStateError,
  openStore,
  RequestNotFoundError,
  type Database,
  type NewCertificate,
  type NewEnrollmentRequest,
  type Store,
} from '../src/store/index.js';
import { createTestDatabase } from './harness/postgres.js';

interface Opened {
  store: Store;
  cleanup?: () => Promise<void> | void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Dates with odd milliseconds, to catch any rounding to seconds. */
const at = (iso: string) => new Date(iso);

const template: ProductTemplate = {
  keyAlgorithms: ['ec-p256', 'rsa-2048'],
  defaultValidityDays: 90,
  maxValidityDays: 397,
  allowedDnsSuffixes: ['example.com', 'example.org'],
  allowWildcards: false,
  allowIpSans: true,
  allowEmailSans: false,
  allowUriSans: false,
  extendedKeyUsages: ['serverAuth', 'clientAuth'],
  requiresApproval: true,
};

function storeContract(label: string, open: () => Promise<Opened>): void {
  describe(`Store contract: ${label}`, () => {
    let opened: Opened;
    let store: Store;
    let caId: string;
    let productId: string;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
      caId = randomUUID();
      productId = randomUUID();
      await store.cas.insert(newCa(caId, 'root-ca'));
      await store.products.insert({ id: productId, name: 'tls-server', caId, template });
    });

    afterEach(async () => {
      await store.close();
      await opened.cleanup?.();
    });

    function newCa(id: string, name: string) {
      return {
        id,
        name,
        kind: 'root' as const,
        parentId: null,
        keyAlgorithm: 'ec-p256' as const,
        subject: `CN=${name}`,
        certificatePem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`,
        encryptedKey: JSON.stringify({ alg: 'A256GCM', iv: 'aXY=', ct: 'Y3Q=' }),
        notBefore: at('2024-01-02T03:04:05.678Z'),
        notAfter: at('2034-01-02T03:04:05.999Z'),
      };
    }

    function newRequest(overrides: Partial<NewEnrollmentRequest> = {}): NewEnrollmentRequest {
      return {
        id: randomUUID(),
        productId,
        caId,
        requester: 'apikey:k1',
        protocol: 'rest',
        csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n',
        validityDays: 30,
        idempotencyKey: null,
        ...overrides,
      };
    }

    function newCertificate(requestId: string | null, overrides: Partial<NewCertificate> = {}): NewCertificate {
      return {
        id: randomUUID(),
        caId,
        productId,
        requestId,
        serialNumber: randomUUID().replaceAll('-', ''),
        commonName: 'www.example.com',
        sanDns: ['www.example.com', 'example.com'],
        sanIp: ['192.0.2.1', '2001:db8::1'],
        sanEmail: [],
        sanUri: ['spiffe://example.com/web'],
        keyAlgorithm: 'ec-p256',
        validFrom: at('2025-03-04T05:06:07.089Z'),
        validTo: at('2025-06-02T05:06:07.001Z'),
        certificatePem: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
        ...overrides,
      };
    }

    async function queuedRequest(overrides: Partial<NewEnrollmentRequest> = {}) {
      return (await store.requests.insert(newRequest(overrides))).request;
    }

    it('pings', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    describe('revocation', () => {
      async function issued() {
        const request = await queuedRequest();
        return (await store.recordIssuance(request.id, newCertificate(request.id))).certificate;
      }

      it('revokes once; a second revoke changes nothing', async () => {
        const cert = await issued();
        const first = await store.certificates.revoke(cert.id, { reason: 'keyCompromise', revokedAt: at('2025-04-01T00:00:00.123Z'), invalidityDate: at('2025-03-30T12:00:00.000Z') });
        expect(first?.changed).toBe(true);
        expect(first?.certificate).toMatchObject({ revocationReason: 'keyCompromise', revokedAt: at('2025-04-01T00:00:00.123Z'), invalidityDate: at('2025-03-30T12:00:00.000Z') });
        const second = await store.certificates.revoke(cert.id, { reason: 'superseded', revokedAt: new Date(), invalidityDate: null });
        expect(second?.changed).toBe(false);
        expect(second?.certificate.revocationReason).toBe('keyCompromise');
        expect(await store.certificates.get(cert.id)).toEqual(first?.certificate);
        expect(await store.certificates.revoke(randomUUID(), { reason: 'unspecified', revokedAt: new Date(), invalidityDate: null })).toBeUndefined();
      });

      it('a hold can be lifted or made permanent; nothing else can be reinstated', async () => {
        const held = await issued();
        await store.certificates.revoke(held.id, { reason: 'certificateHold', revokedAt: new Date(), invalidityDate: null });
        const lifted = await store.certificates.reinstate(held.id);
        expect(lifted).toMatchObject({ revokedAt: null, revocationReason: null, invalidityDate: null });
        await store.certificates.revoke(held.id, { reason: 'certificateHold', revokedAt: new Date(), invalidityDate: null });
        const permanent = await store.certificates.revoke(held.id, { reason: 'cessationOfOperation', revokedAt: new Date(), invalidityDate: null });
        expect(permanent?.changed).toBe(true);
        expect(await store.certificates.reinstate(held.id)).toBeUndefined();
        expect(await store.certificates.reinstate((await issued()).id)).toBeUndefined();
      });

      it('lists the revoked certificates of one CA only', async () => {
        const a = await issued();
        const b = await issued();
        await issued();
        await store.certificates.revoke(a.id, { reason: 'unspecified', revokedAt: at('2025-01-01T00:00:00.000Z'), invalidityDate: null });
        await store.certificates.revoke(b.id, { reason: 'certificateHold', revokedAt: at('2025-01-02T00:00:00.000Z'), invalidityDate: null });
        expect(await store.certificates.listRevoked(caId)).toEqual([
          { serialNumber: a.serialNumber, revokedAt: at('2025-01-01T00:00:00.000Z'), reason: 'unspecified', invalidityDate: null },
          { serialNumber: b.serialNumber, revokedAt: at('2025-01-02T00:00:00.000Z'), reason: 'certificateHold', invalidityDate: null },
        ]);
        expect(await store.certificates.listRevoked(randomUUID())).toEqual([]);
      });

      it('keeps the newest CRL and never moves its number backwards', async () => {
        const crl = (n: number) => ({ caId, crlNumber: n, thisUpdate: at('2025-01-01T00:00:00.000Z'), nextUpdate: at('2025-01-02T00:00:00.000Z'), der: Buffer.from([0x30, n]) });
        expect(await store.crls.latest(caId)).toBeUndefined();
        expect(await store.crls.save(crl(1))).toBe(true);
        expect(await store.crls.save(crl(3))).toBe(true);
        expect(await store.crls.save(crl(2))).toBe(false);
        expect(await store.crls.save(crl(3))).toBe(false);
        expect(await store.crls.latest(caId)).toEqual(crl(3));
        const { der: _body, ...header } = crl(3);
        expect(await store.crls.latestHeader(caId)).toEqual(header);
        expect(await store.crls.latestHeader('no-such-ca')).toBeUndefined();
      });

      it('stores OCSP signers and returns the one that lives longest', async () => {
        const signer = (notAfter: string) => ({ id: randomUUID(), caId, certificatePem: 'pem', encryptedKey: '{}', notBefore: at('2025-01-01T00:00:00.000Z'), notAfter: at(notAfter) });
        expect(await store.ocspSigners.latest(caId)).toBeUndefined();
        await store.ocspSigners.insert(signer('2025-02-01T00:00:00.000Z'));
        const newest = await store.ocspSigners.insert(signer('2025-03-01T00:00:00.000Z'));
        expect(await store.ocspSigners.latest(caId)).toEqual(newest);
      });
    });

    describe('cas', () => {
      it('round-trips every field, dates exact to the millisecond', async () => {
        const id = randomUUID();
        const inserted = await store.cas.insert({ ...newCa(id, 'issuing-1'), kind: 'issuing', parentId: caId });
        const read = await store.cas.get(id);
        expect(read).toEqual(inserted);
        expect(read?.notBefore.getTime()).toBe(Date.parse('2024-01-02T03:04:05.678Z'));
        expect(read?.notAfter.toISOString()).toBe('2034-01-02T03:04:05.999Z');
        expect(read?.parentId).toBe(caId);
        expect(read?.kind).toBe('issuing');
        expect(read?.createdAt).toBeInstanceOf(Date);
        expect(await store.cas.getByName('issuing-1')).toEqual(inserted);
        expect(await store.cas.get(randomUUID())).toBeUndefined();
        expect(await store.cas.getByName('nope')).toBeUndefined();
      });

      it('lists oldest first and enforces unique names', async () => {
        await sleep(3);
        await store.cas.insert(newCa(randomUUID(), 'b-second'));
        await sleep(3);
        await store.cas.insert(newCa(randomUUID(), 'a-third'));
        expect((await store.cas.list()).map((c) => c.name)).toEqual(['root-ca', 'b-second', 'a-third']);
        await expect(store.cas.insert(newCa(randomUUID(), 'root-ca'))).rejects.toThrow();
        expect(await store.cas.list()).toHaveLength(3);
      });
    });

    describe('products', () => {
      it('round-trips the JSON template and finds by name', async () => {
        const product = await store.products.get(productId);
        expect(product).toEqual({ id: productId, name: 'tls-server', caId, template, createdAt: expect.any(Date) });
        expect(await store.products.getByName('tls-server')).toEqual(product);
        expect(await store.products.getByName('other')).toBeUndefined();
        expect(await store.products.get(randomUUID())).toBeUndefined();
      });

      it('lists oldest first and enforces unique names', async () => {
        await sleep(3);
        const second = await store.products.insert({
          id: randomUUID(),
          name: 'a-device',
          caId,
          template: { ...template, requiresApproval: false, allowedDnsSuffixes: [] },
        });
        const list = await store.products.list();
        expect(list.map((p) => p.name)).toEqual(['tls-server', 'a-device']);
        expect(list[1]).toEqual(second);
        await expect(store.products.insert({ id: randomUUID(), name: 'a-device', caId, template })).rejects.toThrow();
      });
    });

    describe('requests', () => {
      it('stores a new request as queued and round-trips it', async () => {
        const input = newRequest({ idempotencyKey: 'key-1', validityDays: null, protocol: 'est' });
        const { request, created } = await store.requests.insert(input);
        expect(created).toBe(true);
        expect(request).toMatchObject({
          ...input,
          status: 'queued',
          statusReason: null,
          certificateId: null,
          approvedBy: null,
          attempts: 0,
        });
        expect(request.createdAt.getTime()).toBe(request.updatedAt.getTime());
        expect(await store.requests.get(input.id)).toEqual(request);
        expect(await store.requests.get(randomUUID())).toBeUndefined();
      });

      it('returns the existing request for a repeated idempotency key (created=false)', async () => {
        const first = await store.requests.insert(newRequest({ idempotencyKey: 'same' }));
        const again = await store.requests.insert(newRequest({ idempotencyKey: 'same', csrPem: 'other' }));
        expect(again.created).toBe(false);
        expect(again.request).toEqual(first.request);
        // The key is scoped to the requester, and a null key never collides.
        const otherRequester = await store.requests.insert(newRequest({ idempotencyKey: 'same', requester: 'cli' }));
        expect(otherRequester.created).toBe(true);
        const n1 = await store.requests.insert(newRequest());
        const n2 = await store.requests.insert(newRequest());
        expect([n1.created, n2.created]).toEqual([true, true]);
        expect(await store.requests.listByStatus(['queued'], 100)).toHaveLength(4);
      });

      it('idempotent insert is race-free', async () => {
        const results = await Promise.all(
          [0, 1, 2, 3].map(() => store.requests.insert(newRequest({ idempotencyKey: 'race' }))),
        );
        expect(results.filter((r) => r.created)).toHaveLength(1);
        const ids = new Set(results.map((r) => r.request.id));
        expect(ids.size).toBe(1);
        expect(await store.requests.listByStatus(['queued'], 100)).toHaveLength(1);
      });

      it('transition is a compare-and-set', async () => {
        const request = await queuedRequest();
        await sleep(2);
        const moved = await store.requests.transition(request.id, ['queued', 'pending_dcv'], 'pending_approval', 'needs approval');
        expect(moved).toMatchObject({ id: request.id, status: 'pending_approval', statusReason: 'needs approval' });
        expect(moved!.updatedAt.getTime()).toBeGreaterThan(request.updatedAt.getTime());
        expect(await store.requests.get(request.id)).toEqual(moved);

        // Wrong from-state: nothing happens.
        expect(await store.requests.transition(request.id, ['queued'], 'rejected', 'too late')).toBeUndefined();
        expect(await store.requests.transition(request.id, [], 'rejected')).toBeUndefined();
        expect(await store.requests.transition(randomUUID(), ['queued'], 'rejected')).toBeUndefined();
        expect(await store.requests.get(request.id)).toEqual(moved);

        // Without a reason, the old reason is cleared.
        const back = await store.requests.transition(request.id, ['pending_approval'], 'queued');
        expect(back).toMatchObject({ status: 'queued', statusReason: null });
      });

      it('approve moves pending_approval to queued and records the approver, once', async () => {
        const request = await queuedRequest();
        expect(await store.requests.approve(request.id, 'apikey:admin')).toBeUndefined();
        await store.requests.transition(request.id, ['queued'], 'pending_approval', 'waiting');
        const approved = await store.requests.approve(request.id, 'apikey:admin');
        expect(approved).toMatchObject({ status: 'queued', statusReason: null, approvedBy: 'apikey:admin' });
        expect(await store.requests.get(request.id)).toEqual(approved);
        expect(await store.requests.approve(request.id, 'apikey:other')).toBeUndefined();
        expect(await store.requests.approve(randomUUID(), 'apikey:admin')).toBeUndefined();
        // The approver survives later transitions and issuance.
        await store.recordIssuance(request.id, newCertificate(request.id));
        expect((await store.requests.get(request.id))?.approvedBy).toBe('apikey:admin');
      });

      it('incrementAttempts counts', async () => {
        const request = await queuedRequest();
        await store.requests.incrementAttempts(request.id);
        await store.requests.incrementAttempts(request.id);
        expect((await store.requests.get(request.id))?.attempts).toBe(2);
        await expect(store.requests.incrementAttempts(randomUUID())).resolves.toBeUndefined();
      });

      it('listByStatus returns the oldest first, filtered and limited', async () => {
        const ids: string[] = [];
        const statuses: RequestStatus[] = ['queued', 'pending_dcv', 'queued', 'rejected', 'queued', 'pending_dcv'];
        for (const status of statuses) {
          const request = await queuedRequest();
          if (status !== 'queued') await store.requests.transition(request.id, ['queued'], status);
          ids.push(request.id);
          await sleep(3);
        }
        const wanted = ['queued', 'pending_dcv'] as const;
        const all = await store.requests.listByStatus(wanted, 100);
        expect(all.map((r) => r.id)).toEqual([ids[0], ids[1], ids[2], ids[4], ids[5]]);
        const firstThree = await store.requests.listByStatus(wanted, 3);
        expect(firstThree.map((r) => r.id)).toEqual([ids[0], ids[1], ids[2]]);
        expect((await store.requests.listByStatus(['rejected'], 10)).map((r) => r.id)).toEqual([ids[3]]);
        expect(await store.requests.listByStatus([], 10)).toEqual([]);
        expect(await store.requests.listByStatus(['issued'], 10)).toEqual([]);
      });
    });

    describe('recordIssuance', () => {
      it('stores the certificate and marks the request issued', async () => {
        const request = await queuedRequest();
        const input = newCertificate(request.id);
        const { certificate, alreadyIssued } = await store.recordIssuance(request.id, input);
        expect(alreadyIssued).toBe(false);
        expect(certificate).toEqual({ ...input, revokedAt: null, revocationReason: null, invalidityDate: null, createdAt: expect.any(Date) });

        const after = await store.requests.get(request.id);
        expect(after).toMatchObject({ status: 'issued', certificateId: input.id, statusReason: null });
        expect(await store.certificates.get(input.id)).toEqual(certificate);
        expect(await store.certificates.getByRequestId(request.id)).toEqual(certificate);
        expect(await store.certificates.getBySerial(caId, input.serialNumber)).toEqual(certificate);
        const read = await store.certificates.get(input.id);
        expect(read?.validFrom.toISOString()).toBe('2025-03-04T05:06:07.089Z');
        expect(read?.sanIp).toEqual(['192.0.2.1', '2001:db8::1']);
        expect(read?.sanEmail).toEqual([]);
      });

      it('fills in the request id when the certificate has none', async () => {
        const request = await queuedRequest();
        const { certificate } = await store.recordIssuance(request.id, newCertificate(null));
        expect(certificate.requestId).toBe(request.id);
        expect((await store.certificates.getByRequestId(request.id))?.id).toBe(certificate.id);
      });

      it('a second call for the same request stores nothing and returns the first certificate', async () => {
        const request = await queuedRequest();
        const first = await store.recordIssuance(request.id, newCertificate(request.id));
        const issued = await store.requests.get(request.id);
        const secondInput = newCertificate(request.id);
        const second = await store.recordIssuance(request.id, secondInput);
        expect(second).toEqual({ certificate: first.certificate, alreadyIssued: true });
        expect(await store.certificates.get(secondInput.id)).toBeUndefined();
        expect(await store.certificates.getBySerial(caId, secondInput.serialNumber)).toBeUndefined();
        expect(await store.certificates.list({ limit: 10, offset: 0 })).toHaveLength(1);
        expect(await store.requests.get(request.id)).toEqual(issued);
      });

      it('concurrent calls for one request store exactly one certificate', async () => {
        const request = await queuedRequest();
        const inputs = [newCertificate(request.id), newCertificate(request.id)];
        const results = await Promise.all(inputs.map((c) => store.recordIssuance(request.id, c)));
        expect(results.map((r) => r.alreadyIssued).sort()).toEqual([false, true]);
        const winner = results.find((r) => !r.alreadyIssued)!.certificate;
        expect(results.every((r) => r.certificate.id === winner.id)).toBe(true);
        const stored = await store.certificates.list({ limit: 10, offset: 0 });
        expect(stored.map((c) => c.id)).toEqual([winner.id]);
        expect(await store.requests.get(request.id)).toMatchObject({ status: 'issued', certificateId: winner.id });
      });

      it('many concurrent calls across requests: one certificate per request', async () => {
        const requests = await Promise.all([0, 1, 2, 3].map(() => queuedRequest()));
        const calls = requests.flatMap((r) => [0, 1, 2].map(() => store.recordIssuance(r.id, newCertificate(r.id))));
        const results = await Promise.all(calls);
        expect(results.filter((r) => !r.alreadyIssued)).toHaveLength(requests.length);
        const stored = await store.certificates.list({ limit: 100, offset: 0 });
        expect(new Set(stored.map((c) => c.requestId))).toEqual(new Set(requests.map((r) => r.id)));
        expect(stored).toHaveLength(requests.length);
      });

      it('throws on a rejected request and writes nothing', async () => {
        const request = await queuedRequest();
        const rejected = await store.requests.transition(request.id, ['queued'], 'rejected', 'policy');
        const input = newCertificate(request.id);
        await expect(store.recordIssuance(request.id, input)).rejects.toBeInstanceOf(InvalidRequestStateError);
        expect(await store.certificates.get(input.id)).toBeUndefined();
        expect(await store.certificates.getByRequestId(request.id)).toBeUndefined();
        expect(await store.requests.get(request.id)).toEqual(rejected);
      });

      it('throws on an unknown request and writes nothing', async () => {
        const missing = randomUUID();
        const input = newCertificate(missing);
        await expect(store.recordIssuance(missing, input)).rejects.toBeInstanceOf(RequestNotFoundError);
        expect(await store.certificates.get(input.id)).toBeUndefined();
      });

      it('rejects a certificate naming another request', async () => {
        const request = await queuedRequest();
        await expect(store.recordIssuance(request.id, newCertificate(randomUUID()))).rejects.toThrow(/names request/);
        expect((await store.requests.get(request.id))?.status).toBe('queued');
      });

      it('a taken (caId, serial) throws and leaves the request queued', async () => {
        const first = await queuedRequest();
        const taken = await store.recordIssuance(first.id, newCertificate(first.id));
        const second = await queuedRequest();
        const clash = newCertificate(second.id, { serialNumber: taken.certificate.serialNumber });
        await expect(store.recordIssuance(second.id, clash)).rejects.toBeInstanceOf(DuplicateSerialError);
        expect(await store.requests.get(second.id)).toEqual(second);
        expect(await store.certificates.get(clash.id)).toBeUndefined();
        expect(await store.certificates.getByRequestId(second.id)).toBeUndefined();

        // The same serial under another CA is fine.
        const otherCa = randomUUID();
        await store.cas.insert(newCa(otherCa, 'other-ca'));
        const third = await queuedRequest({ caId: otherCa });
        const ok = await store.recordIssuance(
          third.id,
          newCertificate(third.id, { caId: otherCa, serialNumber: taken.certificate.serialNumber }),
        );
        expect(ok.alreadyIssued).toBe(false);
      });
    });

    describe('concurrent writes', () => {
      // On SQLite the writes issued together are committed together (group commit); each must
      // still succeed or fail on its own.
      it('a failing write does not affect the writes issued with it', async () => {
        const existing = await queuedRequest();
        const toIssue = await queuedRequest();
        const toMove = await queuedRequest();
        const taken = await store.recordIssuance(existing.id, newCertificate(existing.id));
        const clashing = await queuedRequest();
        const fresh = newRequest();

        const [insertOk, insertDup, issueOk, issueClash, moved, counted, unknown] = await Promise.allSettled([
          store.requests.insert(fresh),
          store.requests.insert(newRequest({ id: existing.id })),
          store.recordIssuance(toIssue.id, newCertificate(toIssue.id)),
          store.recordIssuance(clashing.id, newCertificate(clashing.id, { serialNumber: taken.certificate.serialNumber })),
          store.requests.transition(toMove.id, ['queued'], 'rejected', 'no'),
          store.requests.incrementAttempts(toMove.id),
          store.recordIssuance(randomUUID(), newCertificate(null)),
        ]);

        expect(insertOk.status).toBe('fulfilled');
        expect(insertDup.status).toBe('rejected');
        expect(issueOk).toMatchObject({ status: 'fulfilled', value: { alreadyIssued: false } });
        expect(issueClash).toMatchObject({ status: 'rejected', reason: expect.any(DuplicateSerialError) });
        expect(moved).toMatchObject({ status: 'fulfilled', value: { status: 'rejected' } });
        expect(counted.status).toBe('fulfilled');
        expect(unknown).toMatchObject({ status: 'rejected', reason: expect.any(RequestNotFoundError) });

        expect(await store.requests.get(fresh.id)).toMatchObject({ status: 'queued', csrPem: fresh.csrPem });
        expect(await store.requests.get(existing.id)).toMatchObject({ status: 'issued', csrPem: existing.csrPem });
        expect(await store.requests.get(toIssue.id)).toMatchObject({ status: 'issued' });
        expect(await store.certificates.getByRequestId(toIssue.id)).toBeDefined();
        expect(await store.requests.get(clashing.id)).toEqual(clashing);
        expect(await store.certificates.getByRequestId(clashing.id)).toBeUndefined();
        expect(await store.requests.get(toMove.id)).toMatchObject({ status: 'rejected', attempts: 1 });
        expect(await store.certificates.list({ limit: 10, offset: 0 })).toHaveLength(2);
      });

      it('issuance racing a rejection: either one certificate or none, never both outcomes', async () => {
        for (let round = 0; round < 5; round++) {
          const request = await queuedRequest();
          // The rejection is issued first in round 0, last in round 4, in between otherwise.
          const issuing: Promise<{ certificate: { id: string }; alreadyIssued: boolean }>[] = [];
          let rejecting: Promise<unknown> | undefined;
          for (let i = 0; i < 5; i++) {
            if (i === round) rejecting = store.requests.transition(request.id, ['queued'], 'rejected', 'raced');
            else issuing.push(store.recordIssuance(request.id, newCertificate(request.id)));
          }
          const [issued, rejected] = await Promise.all([Promise.allSettled(issuing), rejecting]);
          const after = await store.requests.get(request.id);
          const stored = await store.certificates.getByRequestId(request.id);
          if (rejected) {
            expect(after).toMatchObject({ status: 'rejected', certificateId: null });
            expect(stored).toBeUndefined();
            for (const outcome of issued) {
              expect(outcome).toMatchObject({ status: 'rejected', reason: expect.any(InvalidRequestStateError) });
            }
          } else {
            expect(after).toMatchObject({ status: 'issued', certificateId: stored?.id });
            const values = issued.map((o) => (o.status === 'fulfilled' ? o.value : undefined));
            expect(values.filter((v) => v && !v.alreadyIssued)).toHaveLength(1);
            expect(values.every((v) => v?.certificate.id === stored?.id)).toBe(true);
          }
        }
      });

      it('idempotent inserts under concurrency: one row per (requester, key)', async () => {
        const inputs = Array.from({ length: 24 }, (_, i) =>
          newRequest({ requester: `apikey:k${i % 2}`, idempotencyKey: `key-${i % 3}` }),
        );
        const results = await Promise.all(inputs.map((r) => store.requests.insert(r)));
        expect(results.filter((r) => r.created)).toHaveLength(6);
        const byPair = new Map<string, Set<string>>();
        for (const { request } of results) {
          const pair = `${request.requester}/${request.idempotencyKey}`;
          byPair.set(pair, (byPair.get(pair) ?? new Set()).add(request.id));
        }
        expect([...byPair.values()].map((ids) => ids.size)).toEqual([1, 1, 1, 1, 1, 1]);
        const stored = await store.requests.listByStatus(['queued'], 100);
        expect(stored).toHaveLength(6);
        for (const { request } of results) expect(stored).toContainEqual(request);
      });
    });

    describe('certificates', () => {
      it('lists newest first, by CA, with limit and offset', async () => {
        const otherCa = randomUUID();
        await store.cas.insert(newCa(otherCa, 'other-ca'));
        const ids: string[] = [];
        for (const ca of [caId, otherCa, caId, caId, otherCa]) {
          const request = await queuedRequest({ caId: ca });
          const { certificate } = await store.recordIssuance(request.id, newCertificate(request.id, { caId: ca }));
          ids.push(certificate.id);
          await sleep(3);
        }
        const newestFirst = [...ids].reverse();
        expect((await store.certificates.list({ limit: 10, offset: 0 })).map((c) => c.id)).toEqual(newestFirst);
        expect((await store.certificates.list({ limit: 2, offset: 1 })).map((c) => c.id)).toEqual(newestFirst.slice(1, 3));
        expect((await store.certificates.list({ caIds: [caId], limit: 10, offset: 0 })).map((c) => c.id)).toEqual([ids[3], ids[2], ids[0]]);
        expect((await store.certificates.list({ caIds: [otherCa], limit: 1, offset: 1 })).map((c) => c.id)).toEqual([ids[1]]);
        expect((await store.certificates.list({ caIds: [otherCa, caId], limit: 2, offset: 0 })).map((c) => c.id)).toEqual(newestFirst.slice(0, 2));
        expect(await store.certificates.list({ caIds: [randomUUID()], limit: 10, offset: 0 })).toEqual([]);
        expect(await store.certificates.list({ caIds: [], limit: 10, offset: 0 })).toEqual([]);
        expect(await store.certificates.get(randomUUID())).toBeUndefined();
        expect(await store.certificates.getBySerial(otherCa, 'ff')).toBeUndefined();
      });
    });

    describe('apiKeys', () => {
      it('round-trips, lists and revokes once', async () => {
        const id = randomUUID();
        const inserted = await store.apiKeys.insert({
          id,
          name: 'ci',
          secretHash: 'ab'.repeat(32),
          permissions: [
            { ca: caId, actions: ['read', 'issue'] },
            { ca: '*', actions: ['read'] },
          ],
          admin: false,
        });
        expect(inserted.revokedAt).toBeNull();
        expect(await store.apiKeys.get(id)).toEqual(inserted);
        await sleep(3);
        const admin = await store.apiKeys.insert({ id: randomUUID(), name: 'root', secretHash: 'cd'.repeat(32), permissions: [], admin: true });
        expect((await store.apiKeys.get(admin.id))?.admin).toBe(true);
        expect((await store.apiKeys.list()).map((k) => k.name)).toEqual(['ci', 'root']);

        expect(await store.apiKeys.revoke(id)).toBe(true);
        const revoked = await store.apiKeys.get(id);
        expect(revoked?.revokedAt).toBeInstanceOf(Date);
        expect({ ...revoked, revokedAt: null }).toEqual(inserted);
        expect(await store.apiKeys.revoke(id)).toBe(false);
        expect(await store.apiKeys.revoke(randomUUID())).toBe(false);
        expect((await store.apiKeys.get(id))?.revokedAt).toEqual(revoked?.revokedAt);
        expect((await store.apiKeys.get(admin.id))?.revokedAt).toBeNull();
      });
    });
  });
}

storeContract('sqlite :memory:', async () => ({ store: await openStore({ sqlitePath: ':memory:' }) }));

// openStore's SQLite store takes a fast path; the all-Kysely store must stay correct on SQLite too.
storeContract('sqlite :memory: (all-Kysely store)', async () => ({
  store: await createStoreFromKysely(
    new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }),
    'sqlite',
  ),
}));

storeContract('sqlite file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'certgate-store-'));
  const store = await openStore({ sqlitePath: join(dir, 'nested', 'certgate.sqlite') });
  return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

const postgresUrl = inject('postgresUrl');
describe.skipIf(!postgresUrl)('postgres', () => {
  storeContract('postgres', async () => ({
    store: await openStore({ databaseUrl: await createTestDatabase(postgresUrl!) }),
  }));

  it('reports its kind and runs migrations idempotently', async () => {
    const url = await createTestDatabase(postgresUrl!);
    const [a, b] = await Promise.all([openStore({ databaseUrl: url }), openStore({ databaseUrl: url })]);
    expect(a.kind).toBe('postgres');
    await a.close();
    await b.close();
  });
});

describe('sqlite file specifics', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'certgate-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrations are idempotent: reopening keeps the data', async () => {
    const path = join(dir, 'certgate.sqlite');
    const first = await openStore({ sqlitePath: path });
    expect(first.kind).toBe('sqlite');
    await first.apiKeys.insert({ id: 'k1', name: 'kept', secretHash: '00', permissions: [], admin: false });
    await first.close();
    const second = await openStore({ sqlitePath: path });
    expect((await second.apiKeys.get('k1'))?.name).toBe('kept');
    // Two stores on one file at once (two processes, in effect): both work.
    const third = await openStore({ sqlitePath: path });
    await third.apiKeys.insert({ id: 'k2', name: 'also', secretHash: '00', permissions: [], admin: false });
    expect((await second.apiKeys.list()).map((k) => k.id)).toEqual(['k1', 'k2']);
    await third.close();
    await second.close();
  });

  it('a write is committed (visible to another connection) when its promise resolves, and not before', async () => {
    const path = join(dir, 'visible.sqlite');
    const writer = await openStore({ sqlitePath: path });
    const reader = await openStore({ sqlitePath: path });
    const key = { id: 'k1', name: 'k', secretHash: '00', permissions: [], admin: false };
    await writer.apiKeys.insert(key);
    const caId = randomUUID();
    const productId = randomUUID();
    await writer.cas.insert({
      id: caId, name: 'ca', kind: 'root', parentId: null, keyAlgorithm: 'ec-p256', subject: 'CN=ca',
      certificatePem: 'pem', encryptedKey: 'key', notBefore: new Date(), notAfter: new Date(),
    });
    await writer.products.insert({ id: productId, name: 'p', caId, template });
    const request = (id: string) => ({
      id, productId, caId, requester: 'apikey:k1', protocol: 'rest' as const, csrPem: 'csr', validityDays: null, idempotencyKey: null,
    });

    const ids = [randomUUID(), randomUUID(), randomUUID()];
    let settled = 0;
    const writes = ids.map((id) => writer.requests.insert(request(id)).finally(() => settled++));
    // A duplicate id in the same batch fails alone (handled now, so it is never unhandled).
    const failing = writer.requests.insert(request(ids[0]!)).then(
      () => 'committed',
      (error: unknown) => error,
    );
    // Reads on either connection never see a write whose promise has not settled.
    while (settled < ids.length) {
      const seenByWriter = await writer.requests.get(ids[2]!);
      const seenByReader = await reader.requests.get(ids[2]!);
      if (settled < ids.length) {
        expect(seenByWriter).toBeUndefined();
        expect(seenByReader).toBeUndefined();
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(writes);
    expect(await failing).toBeInstanceOf(Error);
    for (const id of ids) expect((await reader.requests.get(id))?.id).toBe(id);
    await reader.close();
    await writer.close();
  });

  it('close() commits the writes already accepted', async () => {
    const path = join(dir, 'close.sqlite');
    const store = await openStore({ sqlitePath: path });
    await store.apiKeys.insert({ id: 'k1', name: 'k', secretHash: '00', permissions: [], admin: false });
    const caId = randomUUID();
    const productId = randomUUID();
    await store.cas.insert({
      id: caId, name: 'ca', kind: 'root', parentId: null, keyAlgorithm: 'ec-p256', subject: 'CN=ca',
      certificatePem: 'pem', encryptedKey: 'key', notBefore: new Date(), notAfter: new Date(),
    });
    await store.products.insert({ id: productId, name: 'p', caId, template });
    const id = randomUUID();
    const pending = store.requests.insert({
      id, productId, caId, requester: 'cli', protocol: 'rest', csrPem: 'csr', validityDays: null, idempotencyKey: null,
    });
    await store.close();
    await expect(pending).resolves.toMatchObject({ created: true });
    const reopened = await openStore({ sqlitePath: path });
    expect((await reopened.requests.get(id))?.status).toBe('queued');
    await reopened.close();
  });

  it('enforces foreign keys', async () => {
    const store = await openStore({ sqlitePath: join(dir, 'fk.sqlite') });
    await expect(
      store.products.insert({ id: 'p', name: 'orphan', caId: 'no-such-ca', template }),
    ).rejects.toThrow();
    await store.close();
  });

  it('rejects a database URL that is not PostgreSQL', async () => {
    await expect(openStore({ databaseUrl: 'mysql://localhost/x' })).rejects.toThrow(/postgres/);
  });
});
