// Without Redis there is no broadcast between processes, yet an embedded server shares its SQLite
// file with the CLI, whose `cert revoke` publishes a new CRL at once. A new CRL number is the
// signal that a CA's revocations changed: the watcher reads each CA's CRL header (a small query)
// and reports the CAs whose number moved, so the server's OCSP answers follow within seconds.
// CRLs this process published itself are not news (its own revocations were handled when made,
// certificate by certificate), so they never drop a whole CA's cached answers.
import type { Logger } from 'pino';
import type { CrlReads } from '../../src/core/protocol.js';
import type { StatusReads } from './reads.js';

export class CrlWatcher {
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reads: StatusReads,
    private readonly publisher: CrlReads,
    private readonly onChange: (caId: string) => void,
    private readonly log: Logger,
  ) {}

  /** One look at every CA; the first look only records the numbers. */
  async check(): Promise<void> {
    for (const ca of await this.reads.caList()) {
      const number = (await this.reads.latestCrlHeader(ca.id))?.crlNumber ?? 0;
      const before = this.seen.get(ca.id);
      if (before !== undefined && before !== number) {
        // Numbers only grow; a smaller one means the CRLs were replaced underneath us.
        let news = number < before;
        let undecided = false;
        for (let n = before + 1; n <= number && !news; n++) {
          const origin = this.publisher.origin(ca.id, n);
          news = origin === 'elsewhere';
          undecided ||= origin === 'undecided';
        }
        // A CRL this process is still storing: judged at the next look, once its origin is known.
        if (undecided && !news) continue;
        if (news) this.onChange(ca.id);
      }
      this.seen.set(ca.id, number);
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
