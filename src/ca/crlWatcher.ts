// Without Redis there is no broadcast between processes, yet an embedded server shares its SQLite
// file with the CLI, whose `cert revoke` publishes a new CRL at once. A new CRL number is the
// signal that a CA's revocations changed: the watcher reads each CA's CRL header (a small query)
// and reports the CAs whose number moved, so the server's OCSP answers follow within seconds.
// A step of one to a CRL this process published itself is not news (its own revocations were
// handled when made), so cached answers are not dropped twice for them.
import type { Logger } from 'pino';
import type { Store } from '../store/types.js';
import type { CrlPublisher } from './crlPublisher.js';

export class CrlWatcher {
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly publisher: CrlPublisher,
    private readonly onChange: (caId: string) => void,
    private readonly log: Logger,
  ) {}

  /** One look at every CA; the first look only records the numbers. */
  async check(): Promise<void> {
    for (const ca of await this.store.cas.list()) {
      const number = (await this.store.crls.latestHeader(ca.id))?.crlNumber ?? 0;
      const before = this.seen.get(ca.id);
      this.seen.set(ca.id, number);
      if (before === undefined || before === number) continue;
      if (number === before + 1 && number === this.publisher.lastPublishedHere(ca.id)) continue;
      this.onChange(ca.id);
    }
  }

  start(intervalMs: number): void {
    const run = (): void => {
      this.check().catch((e: Error) => this.log.warn({ err: e.message }, 'CRL watch failed'));
    };
    run();
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
