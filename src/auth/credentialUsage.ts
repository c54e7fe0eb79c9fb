// How often and when each credential was last used: counted in memory on every admitted login and
// written in one batch a second, so a busy credential costs no write per request.
import type { Store } from '../store/types.js';

const FLUSH_MS = 1000;

export class CredentialUsage {
  private readonly uses = new Map<string, { count: number; last: number }>();
  private readonly flusher: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly onError?: (message: string, error: Error) => void,
  ) {
    this.flusher = setInterval(() => void this.flush(), FLUSH_MS);
    this.flusher.unref();
  }

  count(id: string, now: number): void {
    const u = this.uses.get(id);
    if (u) {
      u.count++;
      u.last = now;
    } else this.uses.set(id, { count: 1, last: now });
  }

  async flush(): Promise<void> {
    if (this.uses.size === 0) return;
    const uses = [...this.uses].map(([id, u]) => ({ id, count: u.count, lastUsedAt: new Date(u.last) }));
    this.uses.clear();
    try {
      await this.store.credentials.recordUse(uses);
    } catch (e) {
      this.onError?.('could not record credential use', e as Error);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.flusher);
    await this.flush();
  }
}
