// One contract for the Store, run against SQLite (in memory and on disk) and a real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { TransitionError } from '../src/core/requestStatus.js';
import { entryHash, PUBLIC_TEST_CHAIN_KEY } from '../src/audit/chain.js';
import { EXACT_SEARCH_COUNT, type Constraint, type CredentialRecord, type EnrollmentRequest, type InventoryFilter, type InventoryOrder, type ProductTemplate, type Rejection, type RequestStatus } from '../src/core/types.js';
import {
  createStoreFromKysely,
  DuplicateSerialError,
  InvalidRequestStateError,
  MIGRATIONS,
  openStore,
  RequestNotFoundError,
  SerialMismatchError,
  type Database,
  type NewCertificate,
  type NewCredential,
  type NewEnrollmentRequest,
  type NewImportedCertificate,
  type Store,
} from '../src/store/index.js';
import type { EnrollmentRequestsTable } from '../src/store/schema.js';
import { createTestDatabase } from './harness/postgres.js';
import { testAudit } from './helpers/audit.js';
import { runningClock, type TestClock } from './helpers/clock.js';
import { insertCaAndProduct, newRequestRow } from './helpers/storeRows.js';
import type { StoreClock } from '../src/store/clock.js';

interface Opened {
  store: Store;
  cleanup?: () => Promise<void> | void;
}

const newSerial = () => randomUUID().replaceAll('-', '');

/** What the applyMigrations test's migrations read and write. */
interface OwnerTables {
  owner_a_things: { id: string };
  kysely_migration: { name: string };
  [migrations: `certgate_migrations_${string}`]: { name: string };
}

/** The schema as it was before the claims migration. */
type BeforeClaims = Omit<Database, 'enrollment_requests'> & {
  enrollment_requests: Omit<EnrollmentRequestsTable, 'transaction_id' | 'constraints' | 'fingerprint' | 'rejection' | 'serial_number' | 'lease_expires_at' | 'key_source' | 'escrowed_key' | 'custom_fields' | 'owner' | 'notes' | 'supersedes'>;
};
/** The schema as it was before the credentials migration, with its API keys. */
type BeforeCredentials = Database & {
  api_keys: { id: string; name: string; secret_hash: string; permissions: string; admin: number; created_at: number; revoked_at: number | null };
};
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
  subject: { attributes: { O: { fixed: 'Example Inc' } }, unlisted: 'drop' },
  protocols: { acme: { eabRequired: true } },
  customFields: [{ name: 'costCenter', type: 'string', required: true }],
  escrowKeys: false,
  dcv: { mode: 'required', reuseDays: 30, subdomains: true, dnsLabel: '_certgate-challenge' },
};

/** `now`: the store's clock; the contract moves it where stamps must differ or a lease must run out. */
function storeContract(label: string, open: (now: StoreClock) => Promise<Opened>): void {
  describe(`Store contract: ${label}`, () => {
    let clock: TestClock;
    let opened: Opened;
    let store: Store;
    let caId: string;
    let productId: string;

    beforeEach(async () => {
      clock = runningClock();
      opened = await open(clock.date);
      store = opened.store;
      caId = randomUUID();
      productId = randomUUID();
      await store.cas.insert(newCa(caId, 'root-ca'), testAudit());
      await store.products.insert({ id: productId, name: 'tls-server', caId, template }, testAudit());
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
      return newRequestRow(productId, caId, overrides);
    }

    function newCertificate(requestId: string | null, overrides: Partial<NewCertificate> = {}): NewCertificate {
      return {
        id: randomUUID(),
        caId,
        productId,
        requestId,
        serialNumber: newSerial(),
        commonName: 'www.example.com',
        sanDns: ['www.example.com', 'example.com'],
        sanIp: ['192.0.2.1', '2001:db8::1'],
        sanEmail: [],
        sanUri: ['spiffe://example.com/web'],
        keyAlgorithm: 'ec-p256',
        validFrom: at('2025-03-04T05:06:07.089Z'),
        validTo: at('2025-06-02T05:06:07.001Z'),
        certificatePem: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
        owner: null,
        notes: null,
        customFields: {},
        supersedes: null,
        ...overrides,
      };
    }

    async function queuedRequest(overrides: Partial<NewEnrollmentRequest> = {}) {
      return (await store.requests.insert(newRequest(overrides), testAudit())).request;
    }

    const LEASE_MS = 60_000;

    /** A request a worker has claimed: `signing`, with a serial allocated. */
    async function claimedRequest(overrides: Partial<NewEnrollmentRequest> = {}, serialNumber = newSerial()) {
      const request = await queuedRequest(overrides);
      const claimed = await store.requests.claim(request.id, { serialNumber, leaseMs: LEASE_MS });
      if (!claimed) throw new Error('a queued request must be claimable');
      return claimed;
    }

    /** The certificate the claim's serial was allocated for. */
    function certificateFor(request: EnrollmentRequest, overrides: Partial<NewCertificate> = {}): NewCertificate {
      return newCertificate(request.id, { serialNumber: request.serialNumber!, caId: request.caId, ...overrides });
    }

    it('pings', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    describe('revocation', () => {
      async function issued() {
        const request = await claimedRequest();
        return (await store.recordIssuance(request.id, certificateFor(request), null, testAudit())).certificate;
      }

      it('revokes once; a second revoke changes nothing', async () => {
        const cert = await issued();
        const first = await store.certificates.revoke(cert.id, { reason: 'keyCompromise', revokedAt: at('2025-04-01T00:00:00.123Z'), invalidityDate: at('2025-03-30T12:00:00.000Z') }, testAudit());
        expect(first?.changed).toBe(true);
        expect(first?.certificate).toMatchObject({ revocationReason: 'keyCompromise', revokedAt: at('2025-04-01T00:00:00.123Z'), invalidityDate: at('2025-03-30T12:00:00.000Z') });
        const second = await store.certificates.revoke(cert.id, { reason: 'superseded', revokedAt: new Date(), invalidityDate: null }, testAudit());
        expect(second?.changed).toBe(false);
        expect(second?.certificate.revocationReason).toBe('keyCompromise');
        expect(await store.certificates.get(cert.id)).toEqual(first?.certificate);
        expect(await store.certificates.revoke(randomUUID(), { reason: 'unspecified', revokedAt: new Date(), invalidityDate: null }, testAudit())).toBeUndefined();
      });

      it('a hold can be lifted or made permanent; nothing else can be reinstated', async () => {
        const held = await issued();
        await store.certificates.revoke(held.id, { reason: 'certificateHold', revokedAt: new Date(), invalidityDate: null }, testAudit());
        const lifted = await store.certificates.reinstate(held.id, testAudit());
        expect(lifted).toMatchObject({ revokedAt: null, revocationReason: null, invalidityDate: null });
        await store.certificates.revoke(held.id, { reason: 'certificateHold', revokedAt: new Date(), invalidityDate: null }, testAudit());
        const permanent = await store.certificates.revoke(held.id, { reason: 'cessationOfOperation', revokedAt: new Date(), invalidityDate: null }, testAudit());
        expect(permanent?.changed).toBe(true);
        expect(await store.certificates.reinstate(held.id, testAudit())).toBeUndefined();
        expect(await store.certificates.reinstate((await issued()).id, testAudit())).toBeUndefined();
      });

      it('lists the revoked certificates of one CA only', async () => {
        const a = await issued();
        const b = await issued();
        await issued();
        await store.certificates.revoke(a.id, { reason: 'unspecified', revokedAt: at('2025-01-01T00:00:00.000Z'), invalidityDate: null }, testAudit());
        await store.certificates.revoke(b.id, { reason: 'certificateHold', revokedAt: at('2025-01-02T00:00:00.000Z'), invalidityDate: null }, testAudit());
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

    describe('inventory list', () => {
      // Fixtures are written straight into the table (ours and imported ones alike), with the
      // dates each case needs; the expected answer of every filter is computed here, in plain code.
      const DAY = 86_400_000;
      /** Noon, so that the day boundaries of the store's counts fall inside the fixtures' spread. */
      const NOW = Date.UTC(2030, 0, 15, 12);
      interface Fixture {
        id: string;
        caId: string | null;
        productId: string | null;
        source: 'issued' | 'imported';
        commonName: string | null;
        createdAt: number;
        validTo: number;
        revokedAt: number | null;
        revocationReason: string | null;
        deletedAt: number | null;
        owner: string | null;
        customFields: Record<string, string>;
        keyAlgorithm?: string;
      }
      let otherCaId: string;
      let otherProductId: string;
      let seq = 0;

      beforeEach(async () => {
        otherCaId = randomUUID();
        otherProductId = randomUUID();
        seq = 0;
        await store.cas.insert(newCa(otherCaId, 'other-ca'), testAudit());
        await store.products.insert({ id: otherProductId, name: 'other', caId: otherCaId, template }, testAudit());
      });

      function fixture(o: Partial<Fixture> = {}): Fixture {
        seq++;
        return {
          id: randomUUID(),
          caId,
          productId,
          source: 'issued',
          commonName: `host${seq}.example.com`,
          // Mostly distinct, a few the same (the id breaks ties).
          createdAt: NOW - 100 * DAY + Math.floor(seq / 2) * 3_600_000,
          validTo: NOW + 30 * DAY,
          revokedAt: null,
          revocationReason: null,
          deletedAt: null,
          owner: null,
          customFields: {},
          ...o,
        };
      }

      async function insert(fixtures: Fixture[]): Promise<void> {
        for (let i = 0; i < fixtures.length; i += 500) {
          await store.db
            .insertInto('certificates')
            .values(
              fixtures.slice(i, i + 500).map((f) => ({
                id: f.id,
                ca_id: f.caId,
                product_id: f.productId,
                request_id: null,
                serial_number: newSerial(),
                common_name: f.commonName,
                san_dns: JSON.stringify(f.commonName ? [f.commonName] : []),
                san_ip: '[]',
                san_email: '[]',
                san_uri: '[]',
                key_algorithm: f.keyAlgorithm ?? 'ec-p256',
                valid_from: f.createdAt,
                valid_to: f.validTo,
                certificate_pem: 'pem',
                revoked_at: f.revokedAt,
                revocation_reason: f.revocationReason,
                invalidity_date: null,
                created_at: f.createdAt,
                source: f.source,
                issuer: f.source === 'imported' ? 'CN=Elsewhere' : null,
                owner: f.owner,
                notes: null,
                custom_fields: JSON.stringify(f.customFields),
                supersedes: null,
                renewed_by: null,
                deleted_at: f.deletedAt,
              })),
            )
            .execute();
        }
      }

      /** What list() must answer, newest first (SQLite's lower() folds ASCII only: the fixtures' names are ASCII). */
      function expected(fixtures: Fixture[], f: InventoryFilter): string[] {
        const now = (f.now ?? new Date()).getTime();
        return fixtures
          .filter((c) => {
            if (c.deletedAt !== null) return false;
            if (f.caIds !== undefined || !f.includeImported) {
              const ours = f.caIds === undefined ? c.source === 'issued' : c.caId !== null && f.caIds.includes(c.caId);
              if (!(ours || (f.includeImported && c.source === 'imported'))) return false;
            }
            if (f.source && c.source !== f.source) return false;
            if (f.productId && c.productId !== f.productId) return false;
            if (f.owner && c.owner !== f.owner) return false;
            if (f.search && !(c.commonName ?? '').toLowerCase().includes(f.search.toLowerCase())) return false;
            if (f.createdFrom && c.createdAt < f.createdFrom.getTime()) return false;
            if (f.createdTo && c.createdAt > f.createdTo.getTime()) return false;
            const live = c.revokedAt === null;
            if (f.expiringInDays !== undefined && !(live && c.validTo > now && c.validTo <= now + f.expiringInDays * DAY)) return false;
            if (f.status === 'active' && !(live && c.validTo > now)) return false;
            if (f.status === 'revoked' && live) return false;
            if (f.status === 'expired' && !(live && c.validTo <= now)) return false;
            return Object.entries(f.customFields ?? {}).every(([k, v]) => c.customFields[k] === v);
          })
          .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
          .map((c) => c.id);
      }

      async function expectPage(fixtures: Fixture[], f: InventoryFilter, limit: number, offset: number): Promise<void> {
        const all = expected(fixtures, f);
        const { certificates, total } = await store.inventory.list(f, { limit, offset });
        expect({ filter: f, limit, offset, total, ids: certificates.map((c) => c.id) }).toEqual({ filter: f, limit, offset, total: all.length, ids: all.slice(offset, offset + limit) });
      }

      /** Around NOW and the day boundaries the counts are kept by, to the millisecond. */
      function spread(): Fixture[] {
        const today = Math.floor(NOW / DAY) * DAY;
        const validTos = [
          NOW - 1, NOW, NOW + 1, today - 1, today, today + DAY - 1, today + DAY, NOW - 400 * DAY, NOW - 5 * DAY,
          NOW + 5 * DAY - 1, NOW + 5 * DAY, NOW + 5 * DAY + 1, NOW + 30 * DAY, NOW + 30 * DAY + 1, NOW + 31 * DAY, NOW + 200 * DAY,
        ];
        const out: Fixture[] = [];
        for (const validTo of validTos) {
          out.push(fixture({ validTo }));
          out.push(fixture({ validTo, caId: otherCaId, productId: otherProductId, owner: 'team-a' }));
          out.push(fixture({ validTo, revokedAt: NOW - DAY, revocationReason: 'keyCompromise' }));
          out.push(fixture({ validTo, caId: null, productId: null, source: 'imported', customFields: { costCenter: 'CC-1' } }));
        }
        out.push(fixture({ revokedAt: NOW - 2 * DAY, revocationReason: 'certificateHold', caId: otherCaId, productId: otherProductId }));
        out.push(fixture({ deletedAt: NOW - DAY }));
        out.push(fixture({ deletedAt: NOW - DAY, source: 'imported', caId: null, productId: null }));
        out.push(fixture({ commonName: 'API-17.Payments.prod.example.com', owner: 'team-a' }));
        out.push(fixture({ commonName: 'api-170.payments.dev.example.com', caId: otherCaId, productId: otherProductId }));
        out.push(fixture({ commonName: '100%_sure.example.com' }));
        out.push(fixture({ commonName: '100x-sure.example.com' }));
        out.push(fixture({ commonName: null }));
        return out;
      }

      function filters(): InventoryFilter[] {
        const now = new Date(NOW);
        const everyone = { includeImported: true, now };
        return [
          everyone,
          { includeImported: false, now },
          { ...everyone, status: 'active' },
          { ...everyone, status: 'revoked' },
          { ...everyone, status: 'expired' },
          { ...everyone, status: 'all' },
          ...[0, 1, 5, 30, 31, 365].map((expiringInDays) => ({ ...everyone, expiringInDays })),
          { ...everyone, status: 'revoked', expiringInDays: 30 },
          { ...everyone, status: 'expired', expiringInDays: 30 },
          { ...everyone, status: 'active', expiringInDays: 5 },
          { caIds: [caId], includeImported: false, now },
          { caIds: [otherCaId], includeImported: false, now, status: 'active' },
          { caIds: [caId, otherCaId], includeImported: false, now, expiringInDays: 30 },
          { caIds: [otherCaId], includeImported: true, now, status: 'expired' },
          { caIds: [], includeImported: false, now },
          { caIds: [], includeImported: true, now, status: 'active' },
          { caIds: ['no-such-ca'], includeImported: false, now },
          { ...everyone, source: 'imported' },
          { ...everyone, source: 'issued', status: 'revoked' },
          { ...everyone, productId: otherProductId },
          { ...everyone, productId: otherProductId, status: 'active' },
          { ...everyone, owner: 'team-a' },
          { ...everyone, owner: 'team-a', status: 'expired' },
          { ...everyone, search: 'api-17' },
          { ...everyone, search: 'API-17.PAY' },
          { ...everyone, search: 'payments' },
          { ...everyone, search: 'payments', caIds: [otherCaId] },
          { ...everyone, search: '%_' },
          { ...everyone, search: '0%' },
          { ...everyone, search: 'x' },
          { ...everyone, search: 'no such name' },
          { ...everyone, createdFrom: new Date(NOW - 95 * DAY), createdTo: new Date(NOW - 90 * DAY) },
          { ...everyone, createdFrom: new Date(NOW - 95 * DAY), status: 'active' },
          { ...everyone, customFields: { costCenter: 'CC-1' } },
          { ...everyone, customFields: { costCenter: 'CC-1' }, expiringInDays: 5 },
        ];
      }

      it('answers every filter with its matches, newest first, and their total', async () => {
        const fixtures = spread();
        await insert(fixtures);
        for (const f of filters()) {
          await expectPage(fixtures, f, 100, 0);
          await expectPage(fixtures, f, 3, 2);
          await expectPage(fixtures, f, 5, 60);
        }
      });

      it('totals follow revocation, reinstatement, deletion and edits', async () => {
        const fixtures = spread();
        await insert(fixtures);
        const live = fixtures.filter((c) => c.caId === caId && c.revokedAt === null && c.deletedAt === null && c.validTo > NOW);
        const [a, b, c] = live as [Fixture, Fixture, Fixture];
        const revoked = await store.certificates.revoke(a.id, { reason: 'certificateHold', revokedAt: new Date(NOW - 1000), invalidityDate: null }, testAudit());
        expect(revoked?.changed).toBe(true);
        a.revokedAt = NOW - 1000;
        await store.certificates.revoke(b.id, { reason: 'certificateHold', revokedAt: new Date(NOW - 1000), invalidityDate: null }, testAudit());
        await store.certificates.reinstate(b.id, testAudit());
        await store.db.updateTable('certificates').set({ deleted_at: NOW - 10 }).where('id', '=', c.id).execute();
        c.deletedAt = NOW - 10;
        const moved = fixtures.find((x) => x.caId === otherCaId && x.deletedAt === null) as Fixture;
        await store.db.updateTable('certificates').set({ valid_to: NOW + 3 * DAY, owner: 'team-b' }).where('id', '=', moved.id).execute();
        Object.assign(moved, { validTo: NOW + 3 * DAY, owner: 'team-b' });
        const gone = fixtures.find((x) => x.source === 'imported' && x.deletedAt === null) as Fixture;
        await store.db.deleteFrom('certificates').where('id', '=', gone.id).execute();
        fixtures.splice(fixtures.indexOf(gone), 1);
        const undeleted = fixtures.find((x) => x.deletedAt !== null) as Fixture;
        await store.db.updateTable('certificates').set({ deleted_at: null }).where('id', '=', undeleted.id).execute();
        undeleted.deletedAt = null;
        for (const f of filters()) await expectPage(fixtures, f, 100, 0);
      });

      it('reports the counts of what a filter admits by product, CA, status, key algorithm and expiry bucket, equal to the list totals', async () => {
        const fixtures = spread();
        fixtures.forEach((c, i) => (c.keyAlgorithm = ['ec-p256', 'rsa-2048', 'ed25519'][i % 3]));
        await insert(fixtures);
        const statusOf = (c: Fixture) => (c.revokedAt !== null ? 'revoked' : c.validTo <= NOW ? 'expired' : 'active');
        const bucketOf = (c: Fixture) => {
          const days = (c.validTo - NOW) / DAY;
          return c.revokedAt !== null ? null : days <= 0 ? 'expired' : days <= 7 ? 'within_7_days' : days <= 30 ? 'within_30_days' : days <= 90 ? 'within_90_days' : 'beyond_90_days';
        };
        const tally = <K,>(items: Fixture[], key: (c: Fixture) => K) => {
          const m = new Map<K, number>();
          for (const c of items) m.set(key(c), (m.get(key(c)) ?? 0) + 1);
          return m;
        };
        const now = new Date(NOW);
        for (const f of [{ includeImported: true, now }, { includeImported: false, caIds: [otherCaId], now }, { includeImported: true, productIds: [productId], now }, { includeImported: false, caIds: [], now }] as InventoryFilter[]) {
          const admitted = new Set(expected(fixtures, f));
          const mine = fixtures.filter((c) => admitted.has(c.id) && (f.productIds === undefined || c.source === 'imported' || f.productIds.includes(c.productId as string)));
          const report = await store.inventory.report(f);
          expect(report.total, JSON.stringify(f)).toBe(mine.length);
          expect(new Map(report.byProduct.map((p) => [p.productId, p.count]))).toEqual(tally(mine, (c) => c.productId));
          expect(new Map(report.byCa.map((p) => [p.caId, p.count]))).toEqual(tally(mine, (c) => c.caId));
          expect(new Map(report.byKeyAlgorithm.map((p) => [p.keyAlgorithm, p.count]))).toEqual(tally(mine, (c) => c.keyAlgorithm));
          expect(report.byStatus).toEqual({ active: 0, revoked: 0, expired: 0, ...Object.fromEntries(tally(mine, statusOf)) });
          const buckets = tally(mine.filter((c) => c.revokedAt === null), bucketOf);
          expect(report.byExpiry).toEqual({ expired: 0, within_7_days: 0, within_30_days: 0, within_90_days: 0, beyond_90_days: 0, ...Object.fromEntries(buckets) });
          // The same numbers as the list's totals for the same questions (without a product binding, which only the report test covers).
          if (f.productIds) continue;
          const total = async (more: Partial<InventoryFilter>) => (await store.inventory.list({ ...f, ...more }, { limit: 1, offset: 0 })).total;
          expect(report.byStatus.expired).toBe(await total({ status: 'expired' }));
          expect(report.byStatus.revoked).toBe(await total({ status: 'revoked' }));
          expect(report.byExpiry.within_7_days).toBe(await total({ expiringInDays: 7 }));
          expect(report.byExpiry.within_7_days + report.byExpiry.within_30_days).toBe(await total({ expiringInDays: 30 }));
        }
        expect(fixtures.some((c) => c.deletedAt !== null)).toBe(true);
        expect((await store.inventory.report({ includeImported: true, now })).byExpiry.within_30_days).toBeGreaterThan(0);
      });

      it('reads a deep page the same from either end, with and without filters', async () => {
        const fixtures = Array.from({ length: 3_000 }, (_, i) =>
          fixture({
            createdAt: NOW - 5_000 * 60_000 + Math.floor(i / 3) * 60_000,
            validTo: NOW + ((i % 7) - 3) * DAY,
            ...(i % 2 ? { caId: otherCaId, productId: otherProductId } : {}),
            ...(i % 20 === 0 ? { revokedAt: NOW - DAY, revocationReason: 'superseded' } : {}),
          }),
        );
        await insert(fixtures);
        const now = new Date(NOW);
        const everyone = { includeImported: true, now };
        for (const [f, offsets] of [
          [everyone, [999, 1_000, 1_400, 1_600, 2_990, 2_999, 3_000, 5_000]],
          [{ ...everyone, status: 'active' as const }, [1_000, 1_250, 1_280]],
          [{ ...everyone, status: 'expired' as const }, [1_000, 1_700]],
          [{ ...everyone, status: 'revoked' as const }, [100, 149, 150]],
          [{ caIds: [otherCaId], includeImported: false, now }, [1_000, 1_480, 1_500]],
          [{ caIds: [caId], includeImported: false, now, status: 'revoked' }, [1_000]],
          [{ ...everyone, search: 'host1' }, [1_000, 1_100]],
          [{ ...everyone, createdFrom: new Date(NOW - 4_000 * 60_000) }, [1_000, 2_000]],
        ] as [InventoryFilter, number[]][]) {
          for (const offset of offsets) await expectPage(fixtures, f, 30, offset);
        }
        await expectPage(fixtures, everyone, 100, 2_950);
        // Oldest first, a deep page from either end too.
        const oldest = [...expected(fixtures, everyone)].reverse();
        for (const offset of [1_000, 1_600, 2_990]) {
          const { certificates } = await store.inventory.list(everyone, { limit: 30, offset, order: 'oldest' });
          expect(certificates.map((c) => c.id), `oldest, offset ${offset}`).toEqual(oldest.slice(offset, offset + 30));
        }
      });

      /** Every page by cursor from the first (an offset page), until the store says none follows. */
      async function walk(f: InventoryFilter, order: InventoryOrder, limit: number, between?: (page: number) => Promise<void>): Promise<string[]> {
        const ids: string[] = [];
        let listing = await store.inventory.list(f, { limit, offset: 0, order });
        for (let page = 0; ; page++) {
          ids.push(...listing.certificates.map((c) => c.id));
          if (!listing.next) return ids;
          expect(listing.certificates).toHaveLength(limit);
          await between?.(page);
          listing = await store.inventory.list(f, { limit, after: listing.next, order });
        }
      }

      it('walks every filter by cursor, newest and oldest first: each match once, in order, to the end', async () => {
        const fixtures = spread();
        await insert(fixtures);
        for (const f of filters()) {
          const newest = expected(fixtures, f);
          expect(await walk(f, 'newest', 4), JSON.stringify(f)).toEqual(newest);
          expect(await walk(f, 'oldest', 7), JSON.stringify(f)).toEqual([...newest].reverse());
          const { certificates, total, totalExact } = await store.inventory.list(f, { limit: 5, offset: 3, order: 'oldest' });
          expect({ ids: certificates.map((c) => c.id), total, totalExact }).toEqual({ ids: [...newest].reverse().slice(3, 8), total: newest.length, totalExact: true });
        }
      });

      it('lists each certificate there was when a walk by cursor began exactly once, while others are written beside it', async () => {
        const fixtures = Array.from({ length: 120 }, (_, i) => fixture({ createdAt: NOW - 1_000 * 60_000 + Math.floor(i / 4) * 60_000 }));
        await insert(fixtures);
        const f: InventoryFilter = { includeImported: true, now: new Date(NOW) };
        for (const order of ['newest', 'oldest'] as const) {
          const written: Fixture[] = [];
          const ids = await walk(f, order, 9, async (page) => {
            // Newer and older than any, and at the very moment of existing ones (ties the id breaks).
            const moments = [NOW + page * 1_000, NOW - 2_000 * 60_000 - page, fixtures[(page * 13) % fixtures.length]?.createdAt as number];
            const more = moments.map((createdAt) => fixture({ createdAt }));
            written.push(...more);
            await insert(more);
          });
          expect(new Set(ids).size, order).toBe(ids.length);
          const before = new Set(fixtures.map((c) => c.id));
          const seenBefore = ids.filter((id) => before.has(id));
          const inOrder = expected(fixtures, f);
          expect(seenBefore, order).toEqual(order === 'newest' ? inOrder : [...inOrder].reverse());
          fixtures.push(...written);
        }
      });

      it('estimates the total of a search too broad to count, says so, and still lists every match by cursor', async () => {
        const broad = Array.from({ length: EXACT_SEARCH_COUNT + 1_500 }, (_, i) =>
          fixture({ commonName: `web-${i}.shop.example.com`, createdAt: NOW - 10_000 * 60_000 + i * 60_000, ...(i % 3 === 0 ? { caId: otherCaId, productId: otherProductId } : {}) }),
        );
        const others = Array.from({ length: 2_000 }, (_, i) => fixture({ commonName: `db-${i}.example.org`, createdAt: NOW - 20_000 * 60_000 + i * 5_000 }));
        await insert([...others, ...broad]);
        const f: InventoryFilter = { includeImported: true, now: new Date(NOW), search: 'SHOP.example' };
        const matches = expected([...others, ...broad], f);
        const first = await store.inventory.list(f, { limit: 50, offset: 0 });
        expect(first.totalExact).toBe(false);
        expect(first.total).toBeGreaterThan(matches.length / 2);
        expect(first.total).toBeLessThan(matches.length * 2);
        expect(first.certificates.map((c) => c.id)).toEqual(matches.slice(0, 50));
        expect(await walk(f, 'newest', 100)).toEqual(matches);
        // Within one CA the share differs: estimated within that scope.
        const scoped: InventoryFilter = { ...f, includeImported: false, caIds: [caId] };
        const inCa = expected([...others, ...broad], scoped);
        const listed = await store.inventory.list(scoped, { limit: 10, offset: 0 });
        expect(listed.certificates.map((c) => c.id)).toEqual(inCa.slice(0, 10));
        expect(listed.total).toBeGreaterThan(inCa.length / 2);
        expect(listed.total).toBeLessThan(inCa.length * 2);
        // A narrow search is counted exactly.
        const narrow = await store.inventory.list({ ...f, search: 'web-42' }, { limit: 10, offset: 0 });
        expect({ total: narrow.total, totalExact: narrow.totalExact }).toEqual({ total: expected(broad, { ...f, search: 'web-42' }).length, totalExact: true });
      });
    });

    describe('cas', () => {
      it('round-trips every field, dates exact to the millisecond', async () => {
        const id = randomUUID();
        const inserted = await store.cas.insert({ ...newCa(id, 'issuing-1'), kind: 'issuing', parentId: caId }, testAudit());
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
        clock.advance(3);
        await store.cas.insert(newCa(randomUUID(), 'b-second'), testAudit());
        clock.advance(3);
        await store.cas.insert(newCa(randomUUID(), 'a-third'), testAudit());
        expect((await store.cas.list()).map((c) => c.name)).toEqual(['root-ca', 'b-second', 'a-third']);
        await expect(store.cas.insert(newCa(randomUUID(), 'root-ca'), testAudit())).rejects.toThrow();
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
        clock.advance(3);
        const second = await store.products.insert({
          id: randomUUID(),
          name: 'a-device',
          caId,
          template: { ...template, requiresApproval: false, allowedDnsSuffixes: [] },
        }, testAudit());
        const list = await store.products.list();
        expect(list.map((p) => p.name)).toEqual(['tls-server', 'a-device']);
        expect(list[1]).toEqual(second);
        await expect(store.products.insert({ id: randomUUID(), name: 'a-device', caId, template }, testAudit())).rejects.toThrow();
      });
    });

    describe('requests', () => {
      it('stores a new request as queued and round-trips it', async () => {
        const input = newRequest({ idempotencyKey: 'key-1', validityDays: null, protocol: 'est' });
        const { request, created } = await store.requests.insert(input, testAudit());
        expect(created).toBe(true);
        expect(request).toMatchObject({
          ...input,
          status: 'queued',
          statusReason: null,
          rejection: null,
          certificateId: null,
          approvedBy: null,
          serialNumber: null,
          leaseExpiresAt: null,
          attempts: 0,
        });
        expect(request.createdAt.getTime()).toBe(request.updatedAt.getTime());
        expect(await store.requests.get(input.id)).toEqual(request);
        expect(await store.requests.get(randomUUID())).toBeUndefined();
      });

      it('round-trips constraints, transaction id and fingerprint', async () => {
        const constraints: Constraint[] = [
          { kind: 'exactNames', names: ['a.example.com', 'b.example.com'] },
          { kind: 'namesWithin', names: ['c.example.com'] },
          { kind: 'keyFingerprint', sha256: 'ab'.repeat(32) },
          { kind: 'maxValidityDays', days: 7 },
        ];
        const input = newRequest({ constraints, transactionId: 'tx-1', fingerprint: 'cd'.repeat(32) });
        const { request } = await store.requests.insert(input, testAudit());
        expect(request).toMatchObject({ constraints, transactionId: 'tx-1', fingerprint: 'cd'.repeat(32) });
        expect(await store.requests.get(input.id)).toEqual(request);
      });

      it('returns the existing request for a repeated idempotency key (created=false)', async () => {
        const first = await store.requests.insert(newRequest({ idempotencyKey: 'same' }), testAudit());
        const again = await store.requests.insert(newRequest({ idempotencyKey: 'same', csrPem: 'other', fingerprint: 'other' }), testAudit());
        expect(again.created).toBe(false);
        expect(again.request).toEqual(first.request);
        // The key is scoped to the requester, and a null key never collides.
        const otherRequester = await store.requests.insert(newRequest({ idempotencyKey: 'same', requester: 'cli' }), testAudit());
        expect(otherRequester.created).toBe(true);
        const n1 = await store.requests.insert(newRequest(), testAudit());
        const n2 = await store.requests.insert(newRequest(), testAudit());
        expect([n1.created, n2.created]).toEqual([true, true]);
        expect(await store.requests.listByStatus(['queued'], 100)).toHaveLength(4);
      });

      it('returns the existing request for a repeated transaction id (created=false), per requester', async () => {
        const first = await store.requests.insert(newRequest({ transactionId: 'tx' }), testAudit());
        const again = await store.requests.insert(newRequest({ transactionId: 'tx', fingerprint: 'a replay or a clash' }), testAudit());
        expect(again).toEqual({ request: first.request, created: false });
        // Either key finds the earlier request.
        const keyed = await store.requests.insert(newRequest({ transactionId: 'tx', idempotencyKey: 'fresh-key' }), testAudit());
        expect(keyed).toEqual({ request: first.request, created: false });
        const otherRequester = await store.requests.insert(newRequest({ transactionId: 'tx', requester: 'scep:other' }), testAudit());
        expect(otherRequester.created).toBe(true);
        expect((await store.requests.listByStatus(['queued'], 100)).map((r) => r.id).sort()).toEqual(
          [first.request.id, otherRequester.request.id].sort(),
        );
      });

      it('inserting a taken id throws, keyed or not', async () => {
        const { request } = await store.requests.insert(newRequest(), testAudit());
        await expect(store.requests.insert(newRequest({ id: request.id }), testAudit())).rejects.toThrow();
        await expect(store.requests.insert(newRequest({ id: request.id, transactionId: 'unused' }), testAudit())).rejects.toThrow();
        expect(await store.requests.get(request.id)).toEqual(request);
        expect(await store.requests.findByTransaction(request.requester, 'unused')).toBeUndefined();
      });

      it('finds a request by (requester, transaction id)', async () => {
        const { request } = await store.requests.insert(newRequest({ transactionId: 'tx-find', requester: 'scep:a' }), testAudit());
        await store.requests.insert(newRequest({ transactionId: 'tx-find', requester: 'scep:b' }), testAudit());
        expect(await store.requests.findByTransaction('scep:a', 'tx-find')).toEqual(request);
        expect(await store.requests.findByTransaction('scep:c', 'tx-find')).toBeUndefined();
        expect(await store.requests.findByTransaction('scep:a', 'other')).toBeUndefined();
        // It follows the request through its life.
        const claimed = await store.requests.claim(request.id, { serialNumber: 'ab12', leaseMs: LEASE_MS });
        expect(await store.requests.findByTransaction('scep:a', 'tx-find')).toEqual(claimed);
      });

      it('idempotent insert is race-free', async () => {
        const results = await Promise.all(
          [0, 1, 2, 3].map((i) => store.requests.insert(newRequest(i % 2 ? { idempotencyKey: 'race' } : { idempotencyKey: 'race', transactionId: 'race' }), testAudit())),
        );
        expect(results.filter((r) => r.created)).toHaveLength(1);
        const ids = new Set(results.map((r) => r.request.id));
        expect(ids.size).toBe(1);
        expect(await store.requests.listByStatus(['queued'], 100)).toHaveLength(1);
      });

      it('transition is a compare-and-set', async () => {
        const request = await queuedRequest();
        clock.advance(2);
        const moved = await store.requests.transition(request.id, ['queued'], 'pending_dcv', { reason: 'names to validate' });
        expect(moved).toMatchObject({ id: request.id, status: 'pending_dcv', statusReason: 'names to validate' });
        expect(moved!.updatedAt.getTime()).toBeGreaterThan(request.updatedAt.getTime());
        expect(await store.requests.get(request.id)).toEqual(moved);

        // Wrong from-state: nothing happens.
        expect(await store.requests.transition(request.id, ['queued'], 'rejected', { reason: 'too late' })).toBeUndefined();
        expect(await store.requests.transition(request.id, [], 'rejected')).toBeUndefined();
        expect(await store.requests.transition(randomUUID(), ['queued'], 'rejected')).toBeUndefined();
        expect(await store.requests.get(request.id)).toEqual(moved);

        // Any of several from-states; without a reason, the old reason is cleared.
        const back = await store.requests.transition(request.id, ['pending_approval', 'pending_dcv'], 'queued');
        expect(back).toMatchObject({ status: 'queued', statusReason: null });
      });

      it('transition refuses a move the table does not allow, and writes nothing', async () => {
        const request = await queuedRequest();
        const refused: [RequestStatus[], RequestStatus][] = [
          [['queued'], 'issued'],
          // One disallowed pair is enough, even when the actual status would allow the move.
          [['queued', 'issued'], 'rejected'],
          [['rejected'], 'queued'],
          // Only claim() sets a lease and a serial.
          [['queued'], 'signing'],
        ];
        for (const [from, to] of refused) {
          await expect(store.requests.transition(request.id, from, to, { reason: 'no' })).rejects.toBeInstanceOf(TransitionError);
        }
        expect(await store.requests.get(request.id)).toEqual(request);
      });

      it('stores a structured rejection with a move to rejected', async () => {
        const request = await queuedRequest();
        const rejection: Rejection = {
          code: 'rejectedIdentifier',
          rule: 'allowedDnsSuffixes',
          detail: 'names outside the product',
          sub: [{ identifier: 'evil.test', detail: 'not under example.com' }],
        };
        const rejected = await store.requests.transition(request.id, ['queued'], 'rejected', { reason: 'names', rejection });
        expect(rejected).toMatchObject({ status: 'rejected', statusReason: 'names', rejection });
        expect(await store.requests.get(request.id)).toEqual(rejected);
      });

      it('claim: queued → signing with a serial, a lease and one more attempt', async () => {
        const request = await queuedRequest();
        const before = Date.now();
        const claimed = await store.requests.claim(request.id, { serialNumber: '0a1b2c', leaseMs: LEASE_MS });
        expect(claimed).toMatchObject({ id: request.id, status: 'signing', serialNumber: '0a1b2c', attempts: 1 });
        expect(claimed!.leaseExpiresAt!.getTime()).toBeGreaterThanOrEqual(before + LEASE_MS);
        expect(claimed!.leaseExpiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + LEASE_MS);
        expect(await store.requests.get(request.id)).toEqual(claimed);

        // Another worker, while the lease lives: nothing, and nothing changes.
        expect(await store.requests.claim(request.id, { serialNumber: 'ffff', leaseMs: LEASE_MS })).toBeUndefined();
        expect(await store.requests.get(request.id)).toEqual(claimed);
        expect(await store.requests.claim(randomUUID(), { serialNumber: 'ffff', leaseMs: LEASE_MS })).toBeUndefined();
      });

      it('claim: an expired lease can be re-claimed, and the serial stays', async () => {
        const request = await queuedRequest();
        const first = await store.requests.claim(request.id, { serialNumber: '01', leaseMs: LEASE_MS });
        const expiry = first!.leaseExpiresAt!.getTime();
        clock.advance(expiry - clock.now() + 1);
        const second = await store.requests.claim(request.id, { serialNumber: '02', leaseMs: LEASE_MS });
        expect(second).toMatchObject({ status: 'signing', serialNumber: '01', attempts: 2 });
        expect(second!.leaseExpiresAt!.getTime()).toBeGreaterThan(expiry);
        expect(await store.requests.claim(request.id, { serialNumber: '03', leaseMs: LEASE_MS })).toBeUndefined();
      });

      it('claim: nothing but queued or an expired signing is claimable', async () => {
        for (const status of ['pending_approval', 'pending_dcv', 'rejected', 'failed'] as const) {
          const request = await queuedRequest();
          const moved = await store.requests.transition(request.id, ['queued'], status);
          expect(await store.requests.claim(request.id, { serialNumber: '01', leaseMs: LEASE_MS })).toBeUndefined();
          expect(await store.requests.get(request.id)).toEqual(moved);
        }
        const issued = await claimedRequest();
        await store.recordIssuance(issued.id, certificateFor(issued), null, testAudit());
        expect(await store.requests.claim(issued.id, { serialNumber: '01', leaseMs: LEASE_MS })).toBeUndefined();
      });

      it('a move out of signing ends the lease', async () => {
        const request = await claimedRequest();
        const failed = await store.requests.transition(request.id, ['signing'], 'failed', { reason: 'CA unreachable' });
        expect(failed).toMatchObject({ status: 'failed', statusReason: 'CA unreachable', leaseExpiresAt: null, serialNumber: request.serialNumber, attempts: 1 });
      });

      it('approve moves pending_approval to queued and records the approver, once', async () => {
        const request = await queuedRequest();
        expect(await store.requests.approve(request.id, 'apikey:admin', testAudit())).toBeUndefined();
        await store.requests.transition(request.id, ['queued'], 'pending_approval', { reason: 'waiting' });
        const approved = await store.requests.approve(request.id, 'apikey:admin', testAudit());
        expect(approved).toMatchObject({ status: 'queued', statusReason: null, approvedBy: 'apikey:admin' });
        expect(await store.requests.get(request.id)).toEqual(approved);
        expect(await store.requests.approve(request.id, 'apikey:other', testAudit())).toBeUndefined();
        expect(await store.requests.approve(randomUUID(), 'apikey:admin', testAudit())).toBeUndefined();
        // The approver survives later transitions and issuance.
        const claimed = await store.requests.claim(request.id, { serialNumber: newSerial(), leaseMs: LEASE_MS });
        await store.recordIssuance(request.id, certificateFor(claimed!), null, testAudit());
        expect((await store.requests.get(request.id))?.approvedBy).toBe('apikey:admin');
      });

      it('listByStatus returns the oldest first, filtered and limited', async () => {
        const ids: string[] = [];
        const statuses: RequestStatus[] = ['queued', 'pending_dcv', 'queued', 'rejected', 'queued', 'pending_dcv'];
        for (const status of statuses) {
          const request = await queuedRequest();
          if (status !== 'queued') await store.requests.transition(request.id, ['queued'], status);
          ids.push(request.id);
          clock.advance(3);
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
        const request = await claimedRequest();
        const input = certificateFor(request);
        const { certificate, alreadyIssued } = await store.recordIssuance(request.id, input, null, testAudit());
        expect(alreadyIssued).toBe(false);
        expect(certificate).toEqual({ ...input, revokedAt: null, revocationReason: null, invalidityDate: null, renewedBy: null, createdAt: expect.any(Date) });

        const after = await store.requests.get(request.id);
        expect(after).toMatchObject({ status: 'issued', certificateId: input.id, statusReason: null, serialNumber: input.serialNumber, leaseExpiresAt: null });
        expect(await store.certificates.get(input.id)).toEqual(certificate);
        expect(await store.certificates.getByRequestId(request.id)).toEqual(certificate);
        expect(await store.certificates.getBySerial(caId, input.serialNumber)).toEqual(certificate);
        const read = await store.certificates.get(input.id);
        expect(read?.validFrom.toISOString()).toBe('2025-03-04T05:06:07.089Z');
        expect(read?.sanIp).toEqual(['192.0.2.1', '2001:db8::1']);
        expect(read?.sanEmail).toEqual([]);
      });

      it('fills in the request id when the certificate has none', async () => {
        const request = await claimedRequest();
        const { certificate } = await store.recordIssuance(request.id, certificateFor(request, { requestId: null }), null, testAudit());
        expect(certificate.requestId).toBe(request.id);
        expect((await store.certificates.getByRequestId(request.id))?.id).toBe(certificate.id);
      });

      it('a second call for the same request stores nothing and returns the first certificate', async () => {
        const request = await claimedRequest();
        const first = await store.recordIssuance(request.id, certificateFor(request), null, testAudit());
        const issued = await store.requests.get(request.id);
        const secondInput = newCertificate(request.id);
        const second = await store.recordIssuance(request.id, secondInput, null, testAudit());
        expect(second).toEqual({ certificate: first.certificate, alreadyIssued: true });
        expect(await store.certificates.get(secondInput.id)).toBeUndefined();
        expect(await store.certificates.getBySerial(caId, secondInput.serialNumber)).toBeUndefined();
        expect(await store.certificates.list({ limit: 10, offset: 0 })).toHaveLength(1);
        expect(await store.requests.get(request.id)).toEqual(issued);
      });

      it('concurrent calls for one request store exactly one certificate', async () => {
        const request = await claimedRequest();
        const inputs = [certificateFor(request), certificateFor(request, { id: randomUUID() })];
        const results = await Promise.all(inputs.map((c) => store.recordIssuance(request.id, c, null, testAudit())));
        expect(results.map((r) => r.alreadyIssued).sort()).toEqual([false, true]);
        const winner = results.find((r) => !r.alreadyIssued)!.certificate;
        expect(results.every((r) => r.certificate.id === winner.id)).toBe(true);
        const stored = await store.certificates.list({ limit: 10, offset: 0 });
        expect(stored.map((c) => c.id)).toEqual([winner.id]);
        expect(await store.requests.get(request.id)).toMatchObject({ status: 'issued', certificateId: winner.id });
      });

      it('many concurrent calls across requests: one certificate per request', async () => {
        const requests = await Promise.all([0, 1, 2, 3].map(() => claimedRequest()));
        const calls = requests.flatMap((r) => [0, 1, 2].map(() => store.recordIssuance(r.id, certificateFor(r, { id: randomUUID() }), null, testAudit())));
        const results = await Promise.all(calls);
        expect(results.filter((r) => !r.alreadyIssued)).toHaveLength(requests.length);
        const stored = await store.certificates.list({ limit: 100, offset: 0 });
        expect(new Set(stored.map((c) => c.requestId))).toEqual(new Set(requests.map((r) => r.id)));
        expect(stored).toHaveLength(requests.length);
      });

      it('throws on a request that is not signing and writes nothing', async () => {
        const queued = await queuedRequest();
        await expect(store.recordIssuance(queued.id, newCertificate(queued.id), null, testAudit())).rejects.toBeInstanceOf(InvalidRequestStateError);
        expect(await store.requests.get(queued.id)).toEqual(queued);

        const request = await claimedRequest();
        const rejected = await store.requests.transition(request.id, ['signing'], 'rejected', { reason: 'policy' });
        const input = certificateFor(request);
        await expect(store.recordIssuance(request.id, input, null, testAudit())).rejects.toBeInstanceOf(InvalidRequestStateError);
        expect(await store.certificates.get(input.id)).toBeUndefined();
        expect(await store.certificates.getByRequestId(request.id)).toBeUndefined();
        expect(await store.requests.get(request.id)).toEqual(rejected);
      });

      it('refuses a certificate whose serial is not the claimed one, and writes nothing', async () => {
        const request = await claimedRequest();
        const input = certificateFor(request, { serialNumber: newSerial() });
        await expect(store.recordIssuance(request.id, input, null, testAudit())).rejects.toBeInstanceOf(SerialMismatchError);
        expect(await store.certificates.get(input.id)).toBeUndefined();
        expect(await store.requests.get(request.id)).toEqual(request);
        // The claimed serial is still accepted.
        expect((await store.recordIssuance(request.id, certificateFor(request), null, testAudit())).alreadyIssued).toBe(false);
      });

      it('throws on an unknown request and writes nothing', async () => {
        const missing = randomUUID();
        const input = newCertificate(missing);
        await expect(store.recordIssuance(missing, input, null, testAudit())).rejects.toBeInstanceOf(RequestNotFoundError);
        expect(await store.certificates.get(input.id)).toBeUndefined();
      });

      it('rejects a certificate naming another request', async () => {
        const request = await claimedRequest();
        await expect(store.recordIssuance(request.id, certificateFor(request, { requestId: randomUUID() }), null, testAudit())).rejects.toThrow(/names request/);
        expect(await store.requests.get(request.id)).toEqual(request);
      });

      it('a taken (caId, serial) throws and leaves the request signing', async () => {
        const first = await claimedRequest();
        const taken = await store.recordIssuance(first.id, certificateFor(first), null, testAudit());
        const second = await claimedRequest({}, taken.certificate.serialNumber);
        const clash = certificateFor(second);
        await expect(store.recordIssuance(second.id, clash, null, testAudit())).rejects.toBeInstanceOf(DuplicateSerialError);
        expect(await store.requests.get(second.id)).toEqual(second);
        expect(await store.certificates.get(clash.id)).toBeUndefined();
        expect(await store.certificates.getByRequestId(second.id)).toBeUndefined();

        // The same serial under another CA is fine.
        const otherCa = randomUUID();
        await store.cas.insert(newCa(otherCa, 'other-ca'), testAudit());
        const third = await claimedRequest({ caId: otherCa }, taken.certificate.serialNumber);
        const ok = await store.recordIssuance(third.id, certificateFor(third), null, testAudit());
        expect(ok.alreadyIssued).toBe(false);
      });
    });

    describe('concurrent writes', () => {
      // On SQLite the writes issued together are committed together (group commit); each must
      // still succeed or fail on its own.
      it('a failing write does not affect the writes issued with it', async () => {
        const existing = await claimedRequest();
        const toIssue = await claimedRequest();
        const toMove = await queuedRequest();
        const toClaim = await queuedRequest();
        const taken = await store.recordIssuance(existing.id, certificateFor(existing), null, testAudit());
        const clashing = await claimedRequest({}, taken.certificate.serialNumber);
        const fresh = newRequest();

        const [insertOk, insertDup, issueOk, issueClash, moved, claimed, refused, unknown] = await Promise.allSettled([
          store.requests.insert(fresh, testAudit()),
          store.requests.insert(newRequest({ id: existing.id }), testAudit()),
          store.recordIssuance(toIssue.id, certificateFor(toIssue), null, testAudit()),
          store.recordIssuance(clashing.id, certificateFor(clashing), null, testAudit()),
          store.requests.transition(toMove.id, ['queued'], 'rejected', { reason: 'no' }),
          store.requests.claim(toClaim.id, { serialNumber: 'c1a1', leaseMs: LEASE_MS }),
          store.requests.transition(toClaim.id, ['issued'], 'queued'),
          store.recordIssuance(randomUUID(), newCertificate(null), null, testAudit()),
        ]);

        expect(insertOk.status).toBe('fulfilled');
        expect(insertDup.status).toBe('rejected');
        expect(issueOk).toMatchObject({ status: 'fulfilled', value: { alreadyIssued: false } });
        expect(issueClash).toMatchObject({ status: 'rejected', reason: expect.any(DuplicateSerialError) });
        expect(moved).toMatchObject({ status: 'fulfilled', value: { status: 'rejected' } });
        expect(claimed).toMatchObject({ status: 'fulfilled', value: { status: 'signing', serialNumber: 'c1a1' } });
        expect(refused).toMatchObject({ status: 'rejected', reason: expect.any(TransitionError) });
        expect(unknown).toMatchObject({ status: 'rejected', reason: expect.any(RequestNotFoundError) });

        expect(await store.requests.get(fresh.id)).toMatchObject({ status: 'queued', csrPem: fresh.csrPem });
        expect(await store.requests.get(existing.id)).toMatchObject({ status: 'issued', csrPem: existing.csrPem });
        expect(await store.requests.get(toIssue.id)).toMatchObject({ status: 'issued' });
        expect(await store.certificates.getByRequestId(toIssue.id)).toMatchObject({ requestId: toIssue.id });
        expect(await store.requests.get(clashing.id)).toEqual(clashing);
        expect(await store.certificates.getByRequestId(clashing.id)).toBeUndefined();
        expect(await store.requests.get(toMove.id)).toMatchObject({ status: 'rejected', attempts: 0 });
        expect(await store.requests.get(toClaim.id)).toMatchObject({ status: 'signing', attempts: 1 });
        expect(await store.certificates.list({ limit: 10, offset: 0 })).toHaveLength(2);
      });

      it('concurrent claims of one request: exactly one wins', async () => {
        const request = await queuedRequest();
        const results = await Promise.all(
          ['01', '02', '03', '04'].map((serialNumber) => store.requests.claim(request.id, { serialNumber, leaseMs: LEASE_MS })),
        );
        const winners = results.filter((r) => r !== undefined);
        expect(winners).toHaveLength(1);
        expect(await store.requests.get(request.id)).toEqual(winners[0]);
        expect(winners[0]).toMatchObject({ attempts: 1 });
      });

      it('issuance racing a rejection: either one certificate or none, never both outcomes', async () => {
        for (let round = 0; round < 5; round++) {
          const request = await claimedRequest();
          // The rejection is issued first in round 0, last in round 4, in between otherwise.
          const issuing: Promise<{ certificate: { id: string }; alreadyIssued: boolean }>[] = [];
          let rejecting: Promise<unknown> | undefined;
          for (let i = 0; i < 5; i++) {
            if (i === round) rejecting = store.requests.transition(request.id, ['signing'], 'rejected', { reason: 'raced' });
            else issuing.push(store.recordIssuance(request.id, certificateFor(request, { id: randomUUID() }), null, testAudit()));
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
        const results = await Promise.all(inputs.map((r) => store.requests.insert(r, testAudit())));
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
        await store.cas.insert(newCa(otherCa, 'other-ca'), testAudit());
        const ids: string[] = [];
        for (const ca of [caId, otherCa, caId, caId, otherCa]) {
          const request = await claimedRequest({ caId: ca });
          const { certificate } = await store.recordIssuance(request.id, certificateFor(request), null, testAudit());
          ids.push(certificate.id);
          clock.advance(3);
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

    describe('inventory writes', () => {
      const ISSUER = 'C=US, O=Elsewhere Inc, CN=Elsewhere CA';
      const auditTotal = async () => (await store.audit.list({}, { limit: 1, offset: 0 })).total;

      function imported(overrides: Partial<NewImportedCertificate> = {}): NewImportedCertificate {
        return {
          id: randomUUID(),
          serialNumber: newSerial(),
          issuer: ISSUER,
          commonName: 'legacy.example.net',
          sanDns: ['legacy.example.net'],
          sanIp: ['198.51.100.7'],
          sanEmail: [],
          sanUri: [],
          keyAlgorithm: 'rsa-2048',
          validFrom: at('2025-01-01T00:00:00.123Z'),
          validTo: at('2099-01-01T00:00:00.456Z'),
          certificatePem: '-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----\n',
          owner: 'ops',
          notes: 'bought from Elsewhere',
          customFields: { costCenter: '42', critical: true },
          ...overrides,
        };
      }

      async function ours(overrides: Partial<NewCertificate> = {}) {
        const request = await claimedRequest();
        return (await store.recordIssuance(request.id, certificateFor(request, overrides), null, testAudit())).certificate;
      }

      it('imports a certificate once per issuer and serial, with no CA or product', async () => {
        const input = imported();
        const before = await auditTotal();
        const first = await store.inventory.insertImported(input, testAudit('certificate.import', input.id));
        expect(first.created).toBe(true);
        expect(first.record).toMatchObject({
          ...input,
          caId: null,
          productId: null,
          requestId: null,
          source: 'imported',
          revokedAt: null,
          supersedes: null,
          renewedBy: null,
        });
        expect(await store.inventory.get(input.id)).toEqual(first.record);
        expect(await store.inventory.findImported(ISSUER, input.serialNumber)).toEqual(first.record);
        expect(await auditTotal()).toBe(before + 1);

        const again = await store.inventory.insertImported({ ...input, id: randomUUID() }, testAudit());
        expect(again).toEqual({ record: first.record, created: false });
        expect(await auditTotal()).toBe(before + 1);
        // Another issuer may use the same serial.
        const other = await store.inventory.insertImported({ ...input, id: randomUUID(), issuer: 'CN=Another CA' }, testAudit());
        expect(other.created).toBe(true);
        const listed = await store.inventory.list({ includeImported: true, source: 'imported' }, { limit: 10, offset: 0 });
        expect(listed.total).toBe(2);
        expect((await store.certificates.listRevoked(caId)).length).toBe(0);
      });

      it('stores one record when imports of one certificate race, and one audit entry', async () => {
        const input = imported();
        const before = await auditTotal();
        const results = await Promise.all(Array.from({ length: 6 }, () => store.inventory.insertImported({ ...input, id: randomUUID() }, testAudit('certificate.import'))));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.record.id)).size).toBe(1);
        expect(await auditTotal()).toBe(before + 1);
      });

      it('edits owner, notes and custom fields; custom fields merge and a null takes one away', async () => {
        const cert = await ours({ customFields: { costCenter: '7', region: 'eu' } });
        const edited = await store.inventory.update(cert.id, { owner: 'web team', customFields: { costCenter: '42', region: null, tier: 2 } }, testAudit('certificate.edit', cert.id));
        expect(edited).toMatchObject({ owner: 'web team', notes: null, customFields: { costCenter: '42', tier: 2 } });
        expect(edited?.customFields).not.toHaveProperty('region');
        const cleared = await store.inventory.update(cert.id, { owner: null, notes: 'renew by hand' }, testAudit());
        expect(cleared).toMatchObject({ owner: null, notes: 'renew by hand', customFields: { costCenter: '42', tier: 2 } });
        expect(await store.certificates.get(cert.id)).toMatchObject({ notes: 'renew by hand', customFields: { costCenter: '42', tier: 2 } });
        const before = await auditTotal();
        expect(await store.inventory.update(randomUUID(), { owner: 'x' }, testAudit())).toBeUndefined();
        expect(await auditTotal()).toBe(before);
      });

      it('marks a certificate renewed, and an imported one revoked by issuer and serial', async () => {
        const { record } = await store.inventory.insertImported(imported(), testAudit());
        expect(await store.inventory.markRenewed(record.id, 'successor-id', testAudit())).toMatchObject({ renewedBy: 'successor-id' });
        const revokedAt = at('2025-05-05T05:05:05.505Z');
        expect(await store.inventory.markRevoked('CN=Another CA', record.serialNumber, { reason: 'keyCompromise', revokedAt }, testAudit())).toBeUndefined();
        const revoked = await store.inventory.markRevoked(ISSUER, record.serialNumber, { reason: 'keyCompromise', revokedAt }, testAudit());
        expect(revoked).toMatchObject({ id: record.id, revokedAt, revocationReason: 'keyCompromise' });
        const before = await auditTotal();
        expect(await store.inventory.markRevoked(ISSUER, record.serialNumber, { reason: 'superseded', revokedAt: new Date() }, testAudit())).toBeUndefined();
        expect(await auditTotal()).toBe(before);
        expect((await store.inventory.get(record.id))?.revocationReason).toBe('keyCompromise');

        // Ours are revoked by the revocation service only.
        const mine = await ours();
        expect(await store.inventory.markRevoked(ISSUER, mine.serialNumber, { reason: 'unspecified', revokedAt }, testAudit())).toBeUndefined();
        expect((await store.certificates.get(mine.id))?.revokedAt).toBeNull();
        expect(await store.inventory.markRenewed(randomUUID(), 'x', testAudit())).toBeUndefined();
      });

      it('deletes an imported certificate with its locations; hides an expired one of ours, keeping its revocation; keeps a valid one', async () => {
        const { record } = await store.inventory.insertImported(imported(), testAudit());
        await store.inventory.insertLocation({ id: randomUUID(), certificateId: record.id, host: 'lb1', port: 443, path: null, kind: 'load-balancer', notes: null }, testAudit());
        const deleted = await store.inventory.remove(record.id, new Date(), testAudit('certificate.remove', record.id));
        expect(deleted).toMatchObject({ removal: 'deleted', record: { id: record.id } });
        expect(await store.inventory.get(record.id)).toBeUndefined();
        expect(await store.inventory.findImported(ISSUER, record.serialNumber)).toBeUndefined();
        expect(await store.inventory.listLocations(record.id)).toEqual([]);
        const [entry] = (await store.audit.list({ action: 'certificate.remove' }, { limit: 1, offset: 0 })).entries;
        expect(entry?.detail).toMatchObject({ removal: 'deleted' });

        const expired = await ours({ validTo: at('2025-01-01T00:00:00.000Z') });
        await store.certificates.revoke(expired.id, { reason: 'keyCompromise', revokedAt: at('2024-12-01T00:00:00.000Z'), invalidityDate: null }, testAudit());
        expect(await store.inventory.remove(expired.id, new Date(), testAudit())).toMatchObject({ removal: 'hidden' });
        expect(await store.inventory.get(expired.id)).toBeUndefined();
        expect((await store.inventory.list({ includeImported: true }, { limit: 10, offset: 0 })).certificates.map((c) => c.id)).not.toContain(expired.id);
        expect((await store.certificates.listRevoked(caId)).map((e) => e.serialNumber)).toContain(expired.serialNumber);
        expect(await store.certificates.getBySerial(caId, expired.serialNumber)).toMatchObject({ id: expired.id, revocationReason: 'keyCompromise' });
        expect(await store.inventory.remove(expired.id, new Date(), testAudit())).toBeUndefined();

        const valid = await ours({ validTo: at('2099-01-01T00:00:00.000Z') });
        const before = await auditTotal();
        expect(await store.inventory.remove(valid.id, new Date(), testAudit())).toBe('stillValid');
        expect(await store.inventory.get(valid.id)).toMatchObject({ id: valid.id });
        expect(await auditTotal()).toBe(before);
        expect(await store.inventory.remove(randomUUID(), new Date(), testAudit())).toBeUndefined();
      });

      it('keeps deployment locations of a listed certificate', async () => {
        const cert = await ours({ validTo: at('2099-01-01T00:00:00.000Z') });
        const a = await store.inventory.insertLocation({ id: randomUUID(), certificateId: cert.id, host: 'web1.example.com', port: 8443, path: '/etc/ssl/web.pem', kind: 'server', notes: 'nginx' }, testAudit());
        expect(a).toMatchObject({ certificateId: cert.id, host: 'web1.example.com', port: 8443, path: '/etc/ssl/web.pem', kind: 'server', notes: 'nginx' });
        expect(a?.createdAt).toBeInstanceOf(Date);
        clock.advance(3);
        const b = await store.inventory.insertLocation({ id: randomUUID(), certificateId: cert.id, host: 'lb', port: null, path: null, kind: 'load-balancer', notes: null }, testAudit());
        expect((await store.inventory.listLocations(cert.id)).map((l) => l.id)).toEqual([a?.id, b?.id]);

        const moved = await store.inventory.updateLocation(cert.id, a!.id, { host: 'web2.example.com', port: null, path: null, kind: 'server', notes: null }, testAudit());
        expect(moved).toMatchObject({ id: a?.id, host: 'web2.example.com', port: null, path: null, notes: null });
        expect(moved!.updatedAt.getTime()).toBeGreaterThanOrEqual(a!.updatedAt.getTime());
        expect(await store.inventory.updateLocation(randomUUID(), a!.id, { host: 'x', port: null, path: null, kind: 'server', notes: null }, testAudit())).toBeUndefined();
        expect(await store.inventory.removeLocation(randomUUID(), b!.id, testAudit())).toBeUndefined();
        expect(await store.inventory.removeLocation(cert.id, b!.id, testAudit())).toMatchObject({ id: b?.id });
        expect((await store.inventory.listLocations(cert.id)).map((l) => l.host)).toEqual(['web2.example.com']);

        const expired = await ours({ validTo: at('2025-01-01T00:00:00.000Z') });
        await store.inventory.remove(expired.id, new Date(), testAudit());
        const before = await auditTotal();
        expect(await store.inventory.insertLocation({ id: randomUUID(), certificateId: randomUUID(), host: 'h', port: null, path: null, kind: 'server', notes: null }, testAudit())).toBeUndefined();
        expect(await store.inventory.insertLocation({ id: randomUUID(), certificateId: expired.id, host: 'h', port: null, path: null, kind: 'server', notes: null }, testAudit())).toBeUndefined();
        expect(await auditTotal()).toBe(before);
      });
    });

    describe('applyMigrations', () => {
      it("runs an owner's migrations once, recorded in that owner's own table", async () => {
        const seen: Record<string, unknown[]> = {};
        const record = (name: string): Migration => ({
          async up(db: Kysely<OwnerTables>) {
            seen[name] = (await db.selectFrom(`certgate_migrations_${name}`).select('name').orderBy('name').execute()).map((r) => r.name);
          },
        });
        const ownerA: Record<string, Migration> = {
          '0001_things': {
            // No "if not exists": running it twice would throw.
            async up(db: Kysely<OwnerTables>) {
              await db.schema.createTable('owner_a_things').addColumn('id', 'text', (c) => c.primaryKey()).execute();
            },
          },
          '0002_record': record('owner_a'),
        };
        await store.applyMigrations('owner_a', ownerA);
        await store.applyMigrations('owner_a', ownerA);
        expect(seen.owner_a).toEqual(['0001_things']);

        // Another owner may use the same migration names: its own table says what ran for it.
        await store.applyMigrations('owner_b', {
          '0001_things': {
            async up(db: Kysely<OwnerTables>) {
              await db.insertInto('owner_a_things').values({ id: 'from-b' }).execute();
              const core = await db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
              seen.core = core.map((r) => r.name);
            },
          },
          '0002_record': record('owner_b'),
        });
        expect(seen.owner_b).toEqual(['0001_things']);
        // The core's record is the core's migrations only.
        expect(seen.core).toEqual(Object.keys(MIGRATIONS).sort());

        // The store still works, and an owner name that is not a plain identifier is refused.
        expect((await queuedRequest()).status).toBe('queued');
        await expect(store.applyMigrations('Bad-Owner; drop', ownerA)).rejects.toThrow(/owner/);
      });
    });

    describe('credentials', () => {
      function newCredential(overrides: Partial<NewCredential> = {}): NewCredential {
        return {
          id: randomUUID(),
          type: 'rest',
          name: 'ci',
          products: '*',
          ownerUser: null,
          ownerGroup: null,
          expiresAt: null,
          allowIps: [],
          permissions: [],
          admin: false,
          secret: 'ab'.repeat(32),
          ...overrides,
        };
      }

      it('round-trips every field, dates exact to the millisecond', async () => {
        const input = newCredential({
          name: 'ci',
          products: [productId],
          ownerUser: 'alice',
          ownerGroup: 'platform',
          expiresAt: at('2099-01-02T03:04:05.678Z'),
          allowIps: ['10.0.0.0/8', '2001:db8::/32'],
          permissions: [
            { ca: caId, actions: ['read', 'issue'] },
            { ca: '*', actions: ['read'] },
          ],
          scope: 'own',
        });
        const inserted = await store.credentials.insert(input, testAudit('credential.create', input.id));
        expect(inserted).toEqual({
          ...input,
          previousSecret: null,
          previousSecretUntil: null,
          secretVersion: 1,
          enabled: true,
          revokedAt: null,
          createdAt: expect.any(Date),
          lastUsedAt: null,
          useCount: 0,
        });
        expect(await store.credentials.get(input.id)).toEqual(inserted);
        expect((await store.credentials.get(input.id))?.expiresAt?.toISOString()).toBe('2099-01-02T03:04:05.678Z');
        expect(await store.credentials.get(randomUUID())).toBeUndefined();

        const admin = await store.credentials.insert(newCredential({ name: 'root', admin: true }), testAudit());
        expect((await store.credentials.get(admin.id))?.admin).toBe(true);
      });

      it('findLive finds the unrevoked credential of that type and name only', async () => {
        const device = await store.credentials.insert(newCredential({ type: 'est', name: 'device-1', products: [productId] }), testAudit());
        expect(await store.credentials.findLive('est', 'device-1')).toEqual(device);
        expect(await store.credentials.findLive('rest', 'device-1')).toBeUndefined();
        expect(await store.credentials.findLive('est', 'device-2')).toBeUndefined();
        // Two live credentials of one type cannot share a name; a revoked one frees it.
        await expect(store.credentials.insert(newCredential({ type: 'est', name: 'device-1' }), testAudit())).rejects.toThrow();
        await store.credentials.revoke(device.id, testAudit());
        expect(await store.credentials.findLive('est', 'device-1')).toBeUndefined();
        const successor = await store.credentials.insert(newCredential({ type: 'est', name: 'device-1' }), testAudit());
        expect(await store.credentials.findLive('est', 'device-1')).toEqual(successor);
      });

      it('lists oldest first, by type and status, with the total the filter matches', async () => {
        const made: CredentialRecord[] = [];
        const specs: Partial<NewCredential>[] = [
          { type: 'rest', name: 'a' },
          { type: 'est', name: 'b' },
          { type: 'rest', name: 'c', expiresAt: at('2020-01-01T00:00:00.000Z') },
          { type: 'scep', name: 'd' },
          { type: 'rest', name: 'e' },
        ];
        for (const spec of specs) {
          made.push(await store.credentials.insert(newCredential(spec), testAudit()));
          clock.advance(3);
        }
        await store.credentials.revoke(made[4]!.id, testAudit());
        const ids = (r: { credentials: CredentialRecord[] }) => r.credentials.map((c) => c.id);
        const all = await store.credentials.list({}, { limit: 10, offset: 0 });
        expect(all.total).toBe(5);
        expect(ids(all)).toEqual(made.map((c) => c.id));
        expect(all.credentials[4]?.revokedAt).toBeInstanceOf(Date);

        const page = await store.credentials.list({ status: 'all' }, { limit: 2, offset: 1 });
        expect(page).toMatchObject({ total: 5 });
        expect(ids(page)).toEqual([made[1]!.id, made[2]!.id]);

        const rest = await store.credentials.list({ type: 'rest' }, { limit: 10, offset: 0 });
        expect(rest.total).toBe(3);
        expect(ids(rest)).toEqual([made[0]!.id, made[2]!.id, made[4]!.id]);
        const active = await store.credentials.list({ status: 'active' }, { limit: 10, offset: 0 });
        expect(ids(active)).toEqual([made[0]!.id, made[1]!.id, made[3]!.id]);
        expect(active.total).toBe(3);
        expect(ids(await store.credentials.list({ status: 'revoked' }, { limit: 10, offset: 0 }))).toEqual([made[4]!.id]);
        expect(ids(await store.credentials.list({ status: 'expired' }, { limit: 10, offset: 0 }))).toEqual([made[2]!.id]);
        const activeRest = await store.credentials.list({ type: 'rest', status: 'active' }, { limit: 1, offset: 0 });
        expect(activeRest).toMatchObject({ total: 1 });
        expect(ids(activeRest)).toEqual([made[0]!.id]);
        expect(await store.credentials.list({ type: 'acme' }, { limit: 10, offset: 0 })).toEqual({ credentials: [], total: 0 });
      });

      it('rotate keeps the old secret until the given time, or drops it; never on a revoked credential', async () => {
        const c = await store.credentials.insert(newCredential({ secret: 'old' }), testAudit());
        const until = at('2099-05-06T07:08:09.123Z');
        const rotated = await store.credentials.rotate(c.id, 'new', until, testAudit('credential.rotate', c.id));
        expect(rotated).toEqual({ ...c, secret: 'new', previousSecret: 'old', previousSecretUntil: until, secretVersion: 2 });
        expect(await store.credentials.get(c.id)).toEqual(rotated);

        const dropped = await store.credentials.rotate(c.id, 'newer', null, testAudit('credential.rotate', c.id));
        expect(dropped).toMatchObject({ secret: 'newer', previousSecret: null, previousSecretUntil: null, secretVersion: 3 });

        expect(await store.credentials.rotate(randomUUID(), 'x', null, testAudit())).toBeUndefined();
        await store.credentials.revoke(c.id, testAudit());
        expect(await store.credentials.rotate(c.id, 'after', null, testAudit())).toBeUndefined();
        expect((await store.credentials.get(c.id))?.secret).toBe('newer');
      });

      it('revokes once', async () => {
        const c = await store.credentials.insert(newCredential(), testAudit());
        const other = await store.credentials.insert(newCredential({ name: 'other' }), testAudit());
        const revoked = await store.credentials.revoke(c.id, testAudit('credential.revoke', c.id));
        expect(revoked?.revokedAt).toBeInstanceOf(Date);
        expect(revoked).toEqual({ ...c, revokedAt: revoked?.revokedAt, enabled: false });
        expect(await store.credentials.get(c.id)).toEqual(revoked);
        expect(await store.credentials.revoke(c.id, testAudit())).toBeUndefined();
        expect(await store.credentials.revoke(randomUUID(), testAudit())).toBeUndefined();
        expect((await store.credentials.get(c.id))?.revokedAt).toEqual(revoked?.revokedAt);
        expect((await store.credentials.get(other.id))?.revokedAt).toBeNull();
      });

      it('recordUse adds to the count and keeps the latest time of use', async () => {
        const a = await store.credentials.insert(newCredential({ name: 'a' }), testAudit());
        const b = await store.credentials.insert(newCredential({ name: 'b' }), testAudit());
        const t1 = at('2025-05-05T05:05:05.555Z');
        const t0 = at('2025-05-05T05:05:04.999Z');
        const t2 = at('2025-05-05T05:05:06.001Z');
        await store.credentials.recordUse([{ id: a.id, count: 2, lastUsedAt: t1 }]);
        expect(await store.credentials.get(a.id)).toMatchObject({ useCount: 2, lastUsedAt: t1 });
        // Another process reports older uses later: counted, but the time stays the latest.
        await store.credentials.recordUse([
          { id: a.id, count: 3, lastUsedAt: t0 },
          { id: b.id, count: 1, lastUsedAt: t0 },
        ]);
        expect(await store.credentials.get(a.id)).toMatchObject({ useCount: 5, lastUsedAt: t1 });
        expect(await store.credentials.get(b.id)).toMatchObject({ useCount: 1, lastUsedAt: t0 });
        await store.credentials.recordUse([{ id: a.id, count: 1, lastUsedAt: t2 }]);
        expect(await store.credentials.get(a.id)).toMatchObject({ useCount: 6, lastUsedAt: t2 });
        // An unknown id and an empty report change nothing.
        await store.credentials.recordUse([{ id: randomUUID(), count: 1, lastUsedAt: t2 }]);
        await store.credentials.recordUse([]);
        expect(await store.credentials.get(b.id)).toMatchObject({ useCount: 1, lastUsedAt: t0 });
      });
    });

    describe('audit', () => {
      async function chain() {
        return store.audit.after(0, 1000);
      }

      it('chains the entries of audited writes in order, each linked to the one before', async () => {
        // beforeEach: the CA and the product.
        const request = await queuedRequest();
        await store.requests.transition(request.id, ['queued'], 'pending_approval', { reason: 'waiting', audit: testAudit('request.await_approval', request.id) });
        await store.requests.approve(request.id, 'apikey:admin', testAudit('request.approve', request.id));
        const claimed = await store.requests.claim(request.id, { serialNumber: newSerial(), leaseMs: LEASE_MS });
        const { certificate } = await store.recordIssuance(request.id, certificateFor(claimed!), null, testAudit('certificate.issue', request.id));
        await store.certificates.revoke(certificate.id, { reason: 'certificateHold', revokedAt: new Date(), invalidityDate: null }, testAudit('certificate.revoke', certificate.id));
        await store.certificates.reinstate(certificate.id, testAudit('certificate.reinstate', certificate.id));
        const credential = await store.credentials.insert(
          { id: randomUUID(), type: 'rest', name: 'ci', products: '*', ownerUser: null, ownerGroup: null, expiresAt: null, allowIps: [], permissions: [], admin: true, secret: '00' },
          { ...testAudit('credential.create', 'c'), sourceIp: '192.0.2.9', detail: { name: 'ci', nested: { b: 2, a: [1, 'x'] } } },
        );
        await store.credentials.rotate(credential.id, '11', null, testAudit('credential.rotate', credential.id));
        await store.credentials.revoke(credential.id, testAudit('credential.revoke', credential.id));
        const refused = await store.audit.append({ ...testAudit('auth.refused', 'unknown'), outcome: 'refused', detail: { reason: 'unknown' } });

        const entries = await chain();
        expect(entries.map((e) => e.action)).toEqual([
          'test', // the CA (beforeEach)
          'test', // the product (beforeEach)
          'test', // the request
          'request.await_approval',
          'request.approve',
          'certificate.issue',
          'certificate.revoke',
          'certificate.reinstate',
          'credential.create',
          'credential.rotate',
          'credential.revoke',
          'auth.refused',
        ]);
        expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
        expect(entries[0]?.prevHash).toBe('0'.repeat(64));
        entries.forEach((e, i) => {
          if (i > 0) expect(e.prevHash).toBe(entries[i - 1]?.hash);
          expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
          // What was stored is what was sealed: the hash still covers the fields read back.
          expect(entryHash(PUBLIC_TEST_CHAIN_KEY, e)).toBe(e.hash);
        });
        expect(new Set(entries.map((e) => e.hash)).size).toBe(entries.length);
        expect(entries.at(-1)).toEqual(refused);
        expect(entries[8]).toMatchObject({
          actor: 'test',
          protocol: 'cli',
          sourceIp: '192.0.2.9',
          target: 'c',
          outcome: 'success',
          detail: { name: 'ci', nested: { b: 2, a: [1, 'x'] } },
        });
        expect(entries[8]?.at).toBeInstanceOf(Date);
        expect(entries[3]).toMatchObject({ target: request.id, detail: {} });
        // Times never go backwards along the chain.
        for (let i = 1; i < entries.length; i++) expect(entries[i]!.at.getTime()).toBeGreaterThanOrEqual(entries[i - 1]!.at.getTime());

        // after() pages through the chain in order.
        expect((await store.audit.after(3, 2)).map((e) => e.seq)).toEqual([4, 5]);
        expect(await store.audit.after(entries.length, 10)).toEqual([]);
        expect((await store.audit.after(0, 100, { action: 'credential.rotate' })).map((e) => e.seq)).toEqual([10]);
        expect(await store.audit.seqOfHash(entries[5]!.hash)).toBe(6);
        expect(await store.audit.seqOfHash('f'.repeat(64))).toBeUndefined();
      });

      it('a write that changes nothing, or fails, adds no entry', async () => {
        const request = await queuedRequest();
        const before = await chain();
        expect(before).toHaveLength(3);

        // Not pending approval, unknown, a replayed insert, a compare-and-set that does not match.
        expect(await store.requests.approve(request.id, 'apikey:admin', testAudit('request.approve'))).toBeUndefined();
        expect(await store.requests.approve(randomUUID(), 'apikey:admin', testAudit('request.approve'))).toBeUndefined();
        expect((await store.requests.insert(newRequest({ id: randomUUID(), idempotencyKey: null, transactionId: null, requester: request.requester }), null)).created).toBe(true);
        const replay = await store.requests.insert(newRequest({ idempotencyKey: 'once' }), testAudit('request.submit'));
        expect(replay.created).toBe(true);
        const again = await store.requests.insert(newRequest({ idempotencyKey: 'once' }), testAudit('request.submit'));
        expect(again.created).toBe(false);
        expect(await store.requests.transition(request.id, ['pending_approval'], 'rejected', { audit: testAudit('request.decline') })).toBeUndefined();
        // Internal moves carry no entry.
        await store.requests.transition(request.id, ['queued'], 'pending_dcv');
        // Credentials: unknown, already revoked.
        expect(await store.credentials.revoke(randomUUID(), testAudit('credential.revoke'))).toBeUndefined();
        expect(await store.credentials.rotate(randomUUID(), 's', null, testAudit('credential.rotate'))).toBeUndefined();
        // Certificates: unknown, not on hold, already revoked for good, a repeated issuance.
        const claimed = await claimedRequest();
        const { certificate } = await store.recordIssuance(claimed.id, certificateFor(claimed), null, testAudit('certificate.issue'));
        const afterIssue = await chain();
        expect(afterIssue).toHaveLength(before.length + 3); // the keyed request, the claimed one's insert, the issuance
        expect((await store.recordIssuance(claimed.id, certificateFor(claimed, { id: randomUUID() }), null, testAudit('certificate.issue'))).alreadyIssued).toBe(true);
        expect(await store.certificates.reinstate(certificate.id, testAudit('certificate.reinstate'))).toBeUndefined();
        expect(await store.certificates.revoke(randomUUID(), { reason: 'unspecified', revokedAt: new Date(), invalidityDate: null }, testAudit('certificate.revoke'))).toBeUndefined();
        await store.certificates.revoke(certificate.id, { reason: 'keyCompromise', revokedAt: new Date(), invalidityDate: null }, testAudit('certificate.revoke'));
        const afterRevoke = await chain();
        expect(afterRevoke).toHaveLength(afterIssue.length + 1);
        expect((await store.certificates.revoke(certificate.id, { reason: 'superseded', revokedAt: new Date(), invalidityDate: null }, testAudit('certificate.revoke')))?.changed).toBe(false);
        // Writes that fail: a taken CA name, a taken product name, an issuance the request's state refuses.
        await expect(store.cas.insert(newCa(randomUUID(), 'root-ca'), testAudit('ca.create'))).rejects.toThrow();
        await expect(store.products.insert({ id: randomUUID(), name: 'tls-server', caId, template }, testAudit('product.create'))).rejects.toThrow();
        await expect(store.recordIssuance(request.id, newCertificate(request.id), null, testAudit('certificate.issue'))).rejects.toBeInstanceOf(InvalidRequestStateError);

        expect(await chain()).toEqual(afterRevoke);
      });

      it('concurrent audited writes still make one unbroken chain', async () => {
        const requests = await Promise.all([0, 1, 2, 3, 4, 5].map(() => queuedRequest()));
        await Promise.all([
          ...requests.map((r) => store.requests.transition(r.id, ['queued'], 'rejected', { reason: 'no', audit: testAudit('request.reject', r.id) })),
          ...[0, 1, 2, 3].map((i) => store.credentials.insert({
            id: randomUUID(), type: 'rest', name: `c${i}`, products: '*', ownerUser: null, ownerGroup: null, expiresAt: null, allowIps: [], permissions: [], admin: false, secret: '00',
          }, testAudit('credential.create'))),
          ...[0, 1, 2].map(() => store.audit.append({ ...testAudit('auth.refused'), outcome: 'refused' })),
        ]);
        const entries = await store.audit.after(0, 1000);
        expect(entries).toHaveLength(2 + 6 + 6 + 4 + 3);
        expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
        entries.forEach((e, i) => {
          expect(e.prevHash).toBe(i === 0 ? '0'.repeat(64) : entries[i - 1]?.hash);
          expect(entryHash(PUBLIC_TEST_CHAIN_KEY, e)).toBe(e.hash);
        });
        expect(entries.filter((e) => e.action === 'request.reject').map((e) => e.target).sort()).toEqual(requests.map((r) => r.id).sort());
      });

      it('lists newest first, filtered, with the number of entries the filter matches', async () => {
        const requests = [await queuedRequest(), await queuedRequest(), await queuedRequest()];
        for (const r of requests) {
          await store.requests.transition(r.id, ['queued'], 'pending_approval', { audit: testAudit('request.await_approval', r.id) });
        }
        await store.requests.approve(requests[0]!.id, 'apikey:admin', { ...testAudit('request.approve', requests[0]!.id), actor: 'admin-1' });
        await store.requests.approve(requests[2]!.id, 'apikey:admin', { ...testAudit('request.approve', requests[2]!.id), actor: 'admin-2' });
        const all = await chain();
        expect(all).toHaveLength(10);

        const listed = await store.audit.list({}, { limit: 100, offset: 0 });
        expect(listed.total).toBe(10);
        expect(listed.entries).toEqual([...all].reverse());

        const waiting = await store.audit.list({ action: 'request.await_approval' }, { limit: 2, offset: 0 });
        expect(waiting.total).toBe(3);
        expect(waiting.entries.map((e) => e.target)).toEqual([requests[2]!.id, requests[1]!.id]);
        const rest = await store.audit.list({ action: 'request.await_approval' }, { limit: 2, offset: 2 });
        expect(rest).toMatchObject({ total: 3 });
        expect(rest.entries.map((e) => e.target)).toEqual([requests[0]!.id]);

        const approvals = await store.audit.list({ action: 'request.approve' }, { limit: 10, offset: 0 });
        expect(approvals.total).toBe(2);
        expect(approvals.entries.map((e) => e.actor)).toEqual(['admin-2', 'admin-1']);
        const byActor = await store.audit.list({ actor: 'admin-1' }, { limit: 10, offset: 0 });
        expect(byActor).toEqual({ total: 1, entries: [approvals.entries[1]] });
        const byTarget = await store.audit.list({ target: requests[2]!.id }, { limit: 10, offset: 0 });
        expect(byTarget.entries.map((e) => e.action)).toEqual(['request.approve', 'request.await_approval']);
        expect(byTarget.total).toBe(2);
        expect(await store.audit.list({ action: 'nothing.like.this' }, { limit: 10, offset: 0 })).toEqual({ entries: [], total: 0 });
        const inWindow = await store.audit.list({ from: all[3]!.at, to: new Date(Date.now() + 1000) }, { limit: 100, offset: 0 });
        expect(inWindow.entries.every((e) => e.at.getTime() >= all[3]!.at.getTime())).toBe(true);
        expect(inWindow.total).toBe(inWindow.entries.length);
        expect(await store.audit.list({ to: new Date(0) }, { limit: 10, offset: 0 })).toEqual({ entries: [], total: 0 });
      });
    });
  });
}

storeContract('sqlite :memory:', async (now) => ({ store: await openStore({ sqlitePath: ':memory:', now }) }));

// openStore's SQLite store takes a fast path; the all-Kysely store must stay correct on SQLite too.
storeContract('sqlite :memory: (all-Kysely store)', async (now) => ({
  store: await createStoreFromKysely(
    new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }),
    'sqlite',
    undefined,
    now,
  ),
}));

storeContract('sqlite file', async (now) => {
  const dir = mkdtempSync(join(tmpdir(), 'certgate-store-'));
  const store = await openStore({ sqlitePath: join(dir, 'nested', 'certgate.sqlite'), now });
  return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

const postgresUrl = inject('postgresUrl');
// The runtime always names an SQLite file too; a database URL wins over it.
const onPostgres = (databaseUrl: string, now?: StoreClock) => openStore({ databaseUrl, sqlitePath: ':memory:', now });
describe.skipIf(!postgresUrl)('postgres', () => {
  storeContract('postgres', async (now) => ({ store: await onPostgres(await createTestDatabase(postgresUrl!), now) }));

  it('reports its kind and runs migrations idempotently', async () => {
    const url = await createTestDatabase(postgresUrl!);
    const [a, b] = await Promise.all([onPostgres(url), onPostgres(url)]);
    expect(a.kind).toBe('postgres');
    await a.close();
    await b.close();
  });
});

describe('sqlite file specifics', () => {
  /** A credential as the credential service would store one. */
  const credential = (id: string, name: string): NewCredential => ({
    id,
    type: 'rest',
    name,
    products: '*',
    ownerUser: null,
    ownerGroup: null,
    expiresAt: null,
    allowIps: [],
    permissions: [],
    admin: false,
    secret: '00',
  });
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'certgate-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrations are idempotent: reopening keeps the data', async () => {
    const path = join(dir, 'certgate.sqlite');
    const first = await openStore({ sqlitePath: path });
    expect(first.kind).toBe('sqlite');
    await first.credentials.insert(credential('k1', 'kept'), testAudit('credential.create', 'k1'));
    await first.close();
    const second = await openStore({ sqlitePath: path });
    expect((await second.credentials.get('k1'))?.name).toBe('kept');
    // Two stores on one file at once (two processes, in effect): both work.
    const third = await openStore({ sqlitePath: path });
    await third.credentials.insert(credential('k2', 'also'), testAudit('credential.create', 'k2'));
    expect((await second.credentials.list({}, { limit: 10, offset: 0 })).credentials.map((c) => c.id)).toEqual(['k1', 'k2']);
    // The audit trail is one chain, whichever store wrote to it.
    const entries = await second.audit.after(0, 10);
    expect(entries.map((e) => [e.seq, e.target])).toEqual([
      [1, 'k1'],
      [2, 'k2'],
    ]);
    expect(entries[1]?.prevHash).toBe(entries[0]?.hash);
    await third.close();
    await second.close();
  });

  // That this store's own reads never see a write before it is durable is shown, with a sync the
  // test holds, in sqlite.groupCommit.test.ts. Another connection may see a batch between its
  // COMMIT and the end of its sync (see sqliteWriteBatch.ts).
  it('a write is committed (visible to another connection) when its promise resolves', async () => {
    const path = join(dir, 'visible.sqlite');
    const writer = await openStore({ sqlitePath: path });
    const reader = await openStore({ sqlitePath: path });
    await writer.credentials.insert(credential('k1', 'k'), testAudit());
    const { caId, productId } = await insertCaAndProduct(writer, template);
    const request = (id: string) => newRequestRow(productId, caId, { id });

    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const writes = ids.map((id) => writer.requests.insert(request(id), testAudit()));
    // A duplicate id in the same batch fails alone (handled now, so it is never unhandled).
    const failing = writer.requests.insert(request(ids[0]!), testAudit()).then(
      () => 'committed',
      (error: unknown) => error,
    );
    await Promise.all(writes);
    expect(await failing).toBeInstanceOf(Error);
    for (const id of ids) expect((await reader.requests.get(id))?.id).toBe(id);
    await reader.close();
    await writer.close();
  });

  it('close() commits the writes already accepted', async () => {
    const path = join(dir, 'close.sqlite');
    const store = await openStore({ sqlitePath: path });
    await store.credentials.insert(credential('k1', 'k'), testAudit());
    const { caId, productId } = await insertCaAndProduct(store, template);
    const id = randomUUID();
    const pending = store.requests.insert(newRequestRow(productId, caId, { id, requester: 'cli' }), testAudit());
    await store.close();
    await expect(pending).resolves.toMatchObject({ created: true });
    const reopened = await openStore({ sqlitePath: path });
    expect((await reopened.requests.get(id))?.status).toBe('queued');
    await reopened.close();
  });

  it('enforces foreign keys', async () => {
    const store = await openStore({ sqlitePath: join(dir, 'fk.sqlite') });
    await expect(
      store.products.insert({ id: 'p', name: 'orphan', caId: 'no-such-ca', template }, testAudit()),
    ).rejects.toThrow();
    await store.close();
  });

  it('rejects a database URL that is not PostgreSQL', async () => {
    await expect(openStore({ databaseUrl: 'mysql://localhost/x', sqlitePath: ':memory:' })).rejects.toThrow(/postgres/);
  });

  it('the credentials migration turns the stored API keys into REST credentials, same ids and secrets', async () => {
    const path = join(dir, 'keys.sqlite');
    const old = new Kysely<BeforeCredentials>({ dialect: new SqliteDialect({ database: new BetterSqlite3(path) }) });
    const migrator = new Migrator({ db: old, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
    expect((await migrator.migrateTo('0003_claims')).error).toBeUndefined();
    const permissions = [{ ca: 'ca-1', actions: ['read', 'issue'] }];
    await old.insertInto('api_keys').values([
      { id: '0123456789abcdef', name: 'ci', secret_hash: 'ab'.repeat(32), permissions: JSON.stringify(permissions), admin: 0, created_at: 1_700_000_000_123, revoked_at: null },
      { id: 'fedcba9876543210', name: 'old-admin', secret_hash: 'cd'.repeat(32), permissions: '[]', admin: 1, created_at: 1_700_000_000_456, revoked_at: 1_700_000_100_789 },
    ]).execute();
    await old.destroy();

    const store = await openStore({ sqlitePath: path });
    expect(await store.credentials.get('0123456789abcdef')).toEqual({
      id: '0123456789abcdef',
      type: 'rest',
      name: 'ci',
      products: '*',
      ownerUser: null,
      ownerGroup: null,
      expiresAt: null,
      allowIps: [],
      permissions,
      admin: false,
      // 0009 gives every credential of before the scope they had: their products.
      scope: 'product',
      secret: 'ab'.repeat(32),
      previousSecret: null,
      previousSecretUntil: null,
      secretVersion: 1,
      enabled: true,
      revokedAt: null,
      createdAt: new Date(1_700_000_000_123),
      lastUsedAt: null,
      useCount: 0,
    });
    expect(await store.credentials.get('fedcba9876543210')).toMatchObject({ admin: true, revokedAt: new Date(1_700_000_100_789) });
    expect(await store.credentials.findLive('rest', 'old-admin')).toBeUndefined();
    expect((await store.credentials.list({ status: 'active' }, { limit: 10, offset: 0 })).total).toBe(1);
    await store.close();
  });

  it('the claims migration keeps the requests stored before it', async () => {
    const path = join(dir, 'old.sqlite');
    const connection = new BetterSqlite3(path);
    const old = new Kysely<BeforeClaims>({ dialect: new SqliteDialect({ database: connection }) });
    const migrator = new Migrator({ db: old, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
    expect((await migrator.migrateTo('0002_revocation')).error).toBeUndefined();
    const now = Date.now();
    await old.insertInto('cas').values({ id: 'ca', name: 'ca', kind: 'root', parent_id: null, key_algorithm: 'ec-p256', subject: 'CN=ca', certificate_pem: 'pem', encrypted_key: 'k', not_before: now, not_after: now, created_at: now }).execute();
    await old.insertInto('products').values({ id: 'p', name: 'p', ca_id: 'ca', template: JSON.stringify(template), created_at: now }).execute();
    await old.insertInto('enrollment_requests').values({ id: 'r', product_id: 'p', ca_id: 'ca', requester: 'cli', protocol: 'rest', csr_pem: 'csr', validity_days: null, idempotency_key: null, status: 'queued', status_reason: null, certificate_id: null, approved_by: null, attempts: 0, created_at: now, updated_at: now }).execute();
    await old.destroy();

    const store = await openStore({ sqlitePath: path });
    expect(await store.requests.get('r')).toMatchObject({
      status: 'queued', transactionId: null, constraints: [], fingerprint: '', rejection: null, serialNumber: null, leaseExpiresAt: null,
    });
    expect(await store.requests.claim('r', { serialNumber: '0f', leaseMs: 1000 })).toMatchObject({ status: 'signing', serialNumber: '0f' });
    await store.close();
  });
});

describe('the inventory indexes migration', () => {
  const NOW = Date.UTC(2030, 0, 15, 12);
  const DAY = 86_400_000;
  const row = (id: string, o: { caId?: string | null; validTo?: number; revokedAt?: number | null; deletedAt?: number | null; commonName?: string }) => ({
    id,
    ca_id: o.caId === undefined ? 'ca' : o.caId,
    product_id: o.caId === null ? null : 'p',
    request_id: null,
    serial_number: newSerial(),
    common_name: o.commonName ?? `${id}.example.com`,
    san_dns: '[]',
    san_ip: '[]',
    san_email: '[]',
    san_uri: '[]',
    key_algorithm: 'ec-p256',
    valid_from: NOW - 10 * DAY,
    valid_to: o.validTo ?? NOW + 30 * DAY,
    certificate_pem: 'pem',
    revoked_at: o.revokedAt ?? null,
    revocation_reason: o.revokedAt ? 'superseded' : null,
    invalidity_date: null,
    created_at: NOW - 10 * DAY + id.length,
    source: o.caId === null ? 'imported' : 'issued',
    issuer: null,
    owner: null,
    notes: null,
    custom_fields: '{}',
    supersedes: null,
    renewed_by: null,
    deleted_at: o.deletedAt ?? null,
  });

  /** Certificates stored under 0005 are counted, filtered and searched once the store migrates past it. */
  async function keepsWhatWasStored(old: Kysely<Database>, reopen: () => Promise<Store>): Promise<void> {
    const migrator = new Migrator({ db: old, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
    expect((await migrator.migrateTo('0005_inventory')).error).toBeUndefined();
    await old.insertInto('cas').values({ id: 'ca', name: 'ca', kind: 'issuing', parent_id: null, key_algorithm: 'ec-p256', subject: 'CN=ca', certificate_pem: 'pem', encrypted_key: 'k', not_before: 0, not_after: 0, created_at: 0 }).execute();
    await old.insertInto('products').values({ id: 'p', name: 'p', ca_id: 'ca', template: JSON.stringify(template), created_at: 0 }).execute();
    await old
      .insertInto('certificates')
      .values([
        row('live-1', { commonName: 'api-1.payments.example.com' }),
        row('live-22', {}),
        row('revoked-333', { revokedAt: NOW - DAY }),
        row('expired-4444', { validTo: NOW - DAY }),
        row('imported-55555', { caId: null, commonName: 'legacy.payments.example.org' }),
        row('deleted-666666', { deletedAt: NOW - DAY, commonName: 'gone.payments.example.com' }),
      ])
      .execute();
    await old.destroy();

    const store = await reopen();
    try {
      const now = new Date(NOW);
      const total = async (f: Partial<InventoryFilter>) => (await store.inventory.list({ includeImported: true, now, ...f }, { limit: 10, offset: 0 })).total;
      expect(await total({})).toBe(5);
      expect(await total({ status: 'active' })).toBe(3);
      expect(await total({ status: 'revoked' })).toBe(1);
      expect(await total({ status: 'expired' })).toBe(1);
      expect(await total({ caIds: ['ca'], includeImported: false })).toBe(4);
      expect(await total({ expiringInDays: 30 })).toBe(3);
      const found = await store.inventory.list({ includeImported: true, now, search: 'PAYMENTS' }, { limit: 10, offset: 0 });
      expect(found.certificates.map((c) => c.id).sort()).toEqual(['imported-55555', 'live-1']);
      // Written after the migration: the triggers keep counts and search up to date.
      await store.db.insertInto('certificates').values(row('later-7', { commonName: 'api-2.payments.example.com' })).execute();
      expect(await total({ status: 'active' })).toBe(4);
      expect(await total({ search: 'payments' })).toBe(3);
    } finally {
      await store.close();
    }
  }

  it('on SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certgate-store-'));
    try {
      const path = join(dir, 'old.sqlite');
      await keepsWhatWasStored(new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(path) }) }), () => openStore({ sqlitePath: path }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!postgresUrl)('on PostgreSQL', async () => {
    const url = await createTestDatabase(postgresUrl!);
    await keepsWhatWasStored(new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) }), () => onPostgres(url));
  });
});
