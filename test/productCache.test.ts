// The catalogue cache: product and CA lists read once, not per request; a product added in any
// process seen by the others at once through Redis, and within the cache's lifetime without it.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CatalogueCache } from '../src/core/productCache.js';
import type { CaRecord, ProductRecord } from '../src/core/types.js';
import { createBroadcast, type Broadcast } from '../src/queue/broadcast.js';
import type { Store } from '../src/store/types.js';
import { until } from './helpers/until.js';

const redisUrl = inject('redisUrl');

/** A store whose lists count their reads; `products` is the live catalogue, shared by every "process". */
function fakeStore(products: ProductRecord[], cas: CaRecord[] = []) {
  const reads = { products: 0, cas: 0 };
  let failNext = false;
  const store = {
    products: {
      list: async () => {
        reads.products++;
        if (failNext) {
          failNext = false;
          throw new Error('database unreachable');
        }
        return [...products];
      },
    },
    cas: {
      list: async () => {
        reads.cas++;
        return [...cas];
      },
    },
  } as unknown as Pick<Store, 'products' | 'cas'>;
  return { store, reads, failOnce: () => (failNext = true) };
}

const product = (name: string) => ({ id: randomUUID(), name }) as unknown as ProductRecord;
const names = (list: ProductRecord[]) => list.map((p) => p.name);

describe('catalogue cache', () => {
  const open: Broadcast[] = [];
  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()));
  });

  it('reads each list from the store once within its lifetime, and concurrent first reads share one read', async () => {
    const live = [product('default')];
    const { store, reads } = fakeStore(live, [{ id: 'ca-1' } as CaRecord]);
    let now = 0;
    const cache = new CatalogueCache(store, 5_000, () => now);
    const first = await Promise.all([cache.products(), cache.products(), cache.products()]);
    expect(first.map(names)).toEqual([['default'], ['default'], ['default']]);
    now += 4_999;
    expect(names(await cache.products())).toEqual(['default']);
    expect((await cache.cas()).map((c) => c.id)).toEqual(['ca-1']);
    expect(await cache.cas()).toHaveLength(1);
    expect(reads).toEqual({ products: 1, cas: 1 });
  });

  it('without a broadcast reaching it, sees a product added elsewhere once its lifetime is over', async () => {
    const live = [product('default')];
    const { store } = fakeStore(live);
    let now = 0;
    const cache = new CatalogueCache(store, 5_000, () => now);
    await cache.products();
    live.push(product('added-by-the-cli'));
    now += 4_000;
    expect(names(await cache.products())).toEqual(['default']);
    now += 1_000;
    expect(names(await cache.products())).toEqual(['default', 'added-by-the-cli']);
  });

  it('changed(): this process and every other on the broadcast read the lists afresh at once', async () => {
    const live = [product('default')];
    const broadcast = createBroadcast();
    open.push(broadcast);
    const here = fakeStore(live);
    const there = fakeStore(live);
    const now = () => 0;
    const adder = new CatalogueCache(here.store, 60_000, now, broadcast);
    const other = new CatalogueCache(there.store, 60_000, now, broadcast);
    await Promise.all([adder.products(), other.products(), other.cas()]);
    live.push(product('new'));
    await adder.changed();
    expect(names(await adder.products())).toEqual(['default', 'new']);
    expect(names(await other.products())).toEqual(['default', 'new']);
    expect(there.reads).toEqual({ products: 2, cas: 1 });
    await other.cas();
    expect(there.reads.cas).toBe(2);
  });

  it('a failed read is not kept: the next request reads again', async () => {
    const { store, reads, failOnce } = fakeStore([product('default')]);
    const cache = new CatalogueCache(store, 60_000, () => 0);
    failOnce();
    await expect(cache.products()).rejects.toThrow('database unreachable');
    expect(names(await cache.products())).toEqual(['default']);
    expect(reads.products).toBe(2);
  });

  it.skipIf(!redisUrl)('Redis: a product added in one process is in another process\'s list at once', async () => {
    const prefix = `cgtest-${randomUUID()}`;
    const [a, b] = [createBroadcast({ redisUrl: redisUrl as string, prefix }), createBroadcast({ redisUrl: redisUrl as string, prefix })];
    open.push(a, b);
    const live = [product('default')];
    const adder = new CatalogueCache(fakeStore(live).store, 60_000, () => 0, a);
    const other = new CatalogueCache(fakeStore(live).store, 60_000, () => 0, b);
    await other.products();
    live.push(product('new'));
    // Subscriptions are set up in the background: announce until the other process has heard.
    await until(async () => {
      await adder.changed();
      return names(await other.products()).includes('new');
    });
  });
});
