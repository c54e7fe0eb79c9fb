// The product catalogue and the CAs as front-end requests read them (an ACME directory, newAccount
// and newOrder each did): from memory. Products and CAs are added, and products edited by an admin
// (never removed), so a stale list lacks an addition or holds a product's previous template: whoever
// changes one calls changed(), which drops the lists here at once and in the other processes through
// the broadcast; without Redis no notice reaches them, and `lifetimeMs` bounds how late they see it.
import type { Broadcast } from '../queue/broadcast.js';
import type { Store } from '../store/types.js';
import type { CaRecord, ProductRecord } from './types.js';

const CHANGED_CHANNEL = 'catalogue';

interface Entry<T> {
  at: number;
  value: Promise<T>;
}

export class CatalogueCache {
  private productList: Entry<ProductRecord[]> | undefined;
  private caList: Entry<CaRecord[]> | undefined;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly store: Pick<Store, 'products' | 'cas'>,
    private readonly lifetimeMs: number,
    private readonly now: () => number,
    private readonly broadcast?: Broadcast,
  ) {
    broadcast?.subscribe(CHANGED_CHANNEL, () => this.drop());
  }

  products(): Promise<ProductRecord[]> {
    this.productList = this.fresh(this.productList, () => this.store.products.list(), (e) => this.productList === e && (this.productList = undefined));
    return this.productList.value;
  }

  cas(): Promise<CaRecord[]> {
    this.caList = this.fresh(this.caList, () => this.store.cas.list(), (e) => this.caList === e && (this.caList = undefined));
    return this.caList.value;
  }

  /** After a product or CA was added, or a product edited: here at once, elsewhere through the broadcast. */
  async changed(): Promise<void> {
    this.drop();
    await this.broadcast?.publish(CHANGED_CHANNEL, '');
  }

  /** Called whenever the lists are dropped (a change here or, through the broadcast, elsewhere): for other copies of a product, such as the worker's. */
  onChanged(listener: () => void): void {
    this.listeners.push(listener);
  }

  private drop(): void {
    this.productList = undefined;
    this.caList = undefined;
    for (const listener of this.listeners) listener();
  }

  /** The entry if young enough, else a new load; concurrent misses share it, a failed one is not kept. */
  private fresh<T>(entry: Entry<T> | undefined, load: () => Promise<T>, forget: (e: Entry<T>) => void): Entry<T> {
    if (entry && this.now() - entry.at < this.lifetimeMs) return entry;
    const next: Entry<T> = { at: this.now(), value: load() };
    next.value.catch(() => forget(next));
    return next;
  }
}
