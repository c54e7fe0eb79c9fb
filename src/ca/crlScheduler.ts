// When CRLs get rebuilt: soon after a revocation (debounced, so a burst of revocations makes one
// CRL), and whenever a CRL is half-way to its nextUpdate. Builds run as jobs on their own queue,
// apart from enrollment jobs, so a big CRL never holds up issuance queued behind it.
import type { Logger } from 'pino';
import { capabilitiesOf } from '../core/caCapabilities.js';
import type { JobHandler, JobQueue } from '../queue/types.js';
import type { Store } from '../store/types.js';
import { CrlPublisher } from './crlPublisher.js';

export class CrlScheduler {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly queue: JobQueue,
    private readonly debounceMs: number,
    private readonly log: Logger,
  ) {}

  /** A certificate of this CA changed status: rebuild its CRL once the burst is over. */
  revoked(caId: string): void {
    if (this.pending.has(caId)) return;
    const timer = setTimeout(() => {
      this.pending.delete(caId);
      this.queue.enqueue(caId).catch((e: Error) => this.log.error({ caId, err: e.message }, 'could not queue a CRL build'));
    }, this.debounceMs);
    timer.unref();
    this.pending.set(caId, timer);
  }

  handler(publisher: CrlPublisher): JobHandler {
    return {
      process: async (caId) => {
        // Revocations of an upstream CA's certificates are told too; its CRL is not ours to sign.
        if (await publisher.publishesFor(caId)) await publisher.publish(caId);
      },
      onExhausted: async (caId, error) => {
        this.log.error({ caId, err: error.message }, 'CRL build failed after all retries; the periodic sweep will try again');
      },
    };
  }

  /** Queues a build for every CA whose CRL is missing or half-way to expiry, now and every intervalMs. */
  startSweeping(store: Store, intervalMs: number): void {
    const sweep = async (): Promise<void> => {
      for (const ca of await store.cas.list()) {
        if (!capabilitiesOf(ca).crl) continue;
        if (CrlPublisher.isDue(await store.crls.latestHeader(ca.id))) await this.queue.enqueue(ca.id);
      }
    };
    const run = (): void => {
      sweep().catch((e: Error) => this.log.warn({ err: e.message }, 'CRL sweep failed'));
    };
    run();
    this.sweeper = setInterval(run, intervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    if (this.sweeper) clearInterval(this.sweeper);
  }
}
