// The store stamps times with the clock it was opened with (default real time), so a test can
// move time for the store without faking Date: created/updated times, lease expiry, audit entries.
import { randomUUID } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProductTemplate } from '../src/core/types.js';
import { createStoreFromKysely, openStore, type Database, type Store, type StoreClock } from '../src/store/index.js';
import { testAudit } from './helpers/audit.js';
import { newRequestRow } from './helpers/storeRows.js';

const template = { defaultValidityDays: 30, maxValidityDays: 90 } as unknown as ProductTemplate;

const stores: [string, (now: StoreClock) => Promise<Store>][] = [
  ['SQLite (hot path)', (now) => openStore({ sqlitePath: ':memory:', now })],
  ['all-Kysely on SQLite', (now) => createStoreFromKysely(new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }), 'sqlite', undefined, now)],
];

describe.each(stores)('store clock: %s', (_label, open) => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('stamps rows, leases and audit entries with the injected clock, wherever it is set', async () => {
    let now = new Date('2031-05-06T07:08:09.000Z');
    store = await open(() => now);
    const caId = randomUUID();
    const ca = await store.cas.insert(
      {
        id: caId,
        name: 'root',
        kind: 'root',
        parentId: null,
        keyAlgorithm: 'ec-p256',
        subject: 'CN=root',
        certificatePem: '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n',
        encryptedKey: '{}',
        notBefore: new Date('2030-01-01T00:00:00Z'),
        notAfter: new Date('2040-01-01T00:00:00Z'),
      },
      testAudit(),
    );
    expect(ca.createdAt).toEqual(now);
    const product = await store.products.insert({ id: randomUUID(), name: 'p', caId, template }, testAudit());
    expect((await store.products.get(product.id))?.createdAt).toEqual(now);

    const { request } = await store.requests.insert(newRequestRow(product.id, caId), testAudit());
    expect(request.createdAt).toEqual(now);
    expect((await store.requests.get(request.id))?.updatedAt).toEqual(now);

    now = new Date(now.getTime() + 60_000);
    const claimed = await store.requests.claim(request.id, { serialNumber: '7a'.repeat(16), leaseMs: 30_000 });
    expect(claimed?.updatedAt).toEqual(now);
    expect(claimed?.leaseExpiresAt).toEqual(new Date(now.getTime() + 30_000));

    now = new Date(now.getTime() + 60_000);
    const entry = await store.audit.append(testAudit('moved'));
    expect(entry.at).toEqual(now);
    expect((await store.audit.head())?.at).toEqual(now);
  });
});
