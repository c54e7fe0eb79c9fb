// A CSR the front-end has parsed and checked, handed to the worker of the same process so that it
// does not decode the same request again. The queue carries only the request id (a job may run in
// another process, or after a restart), so this is a shortcut, never the record: the worker takes
// the parsed form only when it came from exactly the PEM text stored with the request, and parses
// the stored text otherwise.
import type { ParsedCsr } from './csr.js';

/** Requests waiting for this process's worker; past it, the oldest are dropped (the worker then parses). */
const DEFAULT_CAPACITY = 1024;

export class ParsedCsrHandoff {
  private readonly waiting = new Map<string, { pem: string; csr: ParsedCsr }>();
  private accepting = false;

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /** `pem`: the text stored with the request, which the taker compares against its own copy. */
  put(requestId: string, pem: string, csr: ParsedCsr): void {
    // An API process that runs no worker (`serve --no-worker`) keeps nothing.
    if (!this.accepting) return;
    this.waiting.delete(requestId);
    this.waiting.set(requestId, { pem, csr });
    // Jobs another process took (BullMQ spreads them) are never taken here: they fall out.
    if (this.waiting.size > this.capacity) this.waiting.delete(this.waiting.keys().next().value as string);
  }

  /** Called by the worker of this process when it starts: from then on, parsed CSRs are kept for it. */
  open(): void {
    this.accepting = true;
  }

  /** The parsed form of the request's stored CSR, once, if this process parsed that very text. */
  take(requestId: string, storedPem: string): ParsedCsr | undefined {
    const entry = this.waiting.get(requestId);
    if (!entry) return undefined;
    this.waiting.delete(requestId);
    return entry.pem === storedPem ? entry.csr : undefined;
  }
}
