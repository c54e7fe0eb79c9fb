// SCEP's CMS work on worker threads. pkijs takes several milliseconds of synchronous work to parse
// a pkiMessage and its envelope and to build a CertRep; on the event loop that would hold up every
// other request of the process (OCSP answers, REST, ACME) and leave the other cores idle. Jobs go
// to the threads round-robin; a thread keeps the RA keys it was sent, so each key crosses once.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { asBuffer, readResultFromThread, RecipientCache, runCmsJob, type CmsJob, type ReadJob, type ReadResult, type RecipientMaterial, type ReplyJob } from './cmsJobs.js';

export interface CmsRunner {
  read(job: Omit<ReadJob, 'op' | 'recipients'>, recipients: ({ id: string; der: Buffer } & Pick<RecipientMaterial, 'key' | 'inToken'>)[]): Promise<ReadResult>;
  reply(job: Omit<ReplyJob, 'op'>): Promise<Buffer>;
  close(): Promise<void>;
}

// The thread's entry: registers tsx first when certgate runs from its TypeScript sources.
const BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  (await import(workerData.module)).serve(parentPort);
})().catch((e) => parentPort.postMessage({ fatal: String((e && e.stack) || e) }));
`;

/** tsx's ESM API (its `register()` loads TypeScript in the thread), found next to its CommonJS twin. */
function tsxEsmApi(): string | null {
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const esm = cjs.replace(/\.cjs$/, '.mjs');
  return existsSync(esm) ? pathToFileURL(esm).href : null;
}

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  /** RA ids whose certificate and key this thread has. */
  sent: Set<string>;
  queue: { id: number; job: CmsJob }[];
}

/** Runs the jobs on this thread: for a pool that could not start, and for tests of the jobs. */
export function inlineCms(): CmsRunner {
  const cache = new RecipientCache();
  return {
    async read(job, recipients) {
      return (await runCmsJob({ op: 'read', ...job, recipients }, cache)) as ReadResult;
    },
    async reply(job) {
      return asBuffer((await runCmsJob({ op: 'reply', ...job }, cache)) as Uint8Array);
    },
    close: () => Promise.resolve(),
  };
}

export class CmsPool implements CmsRunner {
  private readonly threads: Thread[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; thread: Thread }>();
  private nextId = 0;
  private rr = 0;
  private closing = false;
  /** Set when a thread could not start at all (no worker_threads, a module that does not load): jobs run here. */
  private fallback: CmsRunner | null = null;

  constructor(
    private readonly size: number,
    private readonly log: Logger,
  ) {}

  /** Where jobs run: on the threads, or (when they could not start) on the event loop. */
  get mode(): 'threads' | 'inline' {
    return this.fallback ? 'inline' : 'threads';
  }

  /** Starts the threads now instead of on the first request. */
  warm(): Promise<void> {
    this.ensure();
    return Promise.all(this.threads.map((t) => t.ready)).then(() => undefined);
  }

  async read(job: Omit<ReadJob, 'op' | 'recipients'>, recipients: ({ id: string; der: Buffer } & Pick<RecipientMaterial, 'key' | 'inToken'>)[]): Promise<ReadResult> {
    if (this.fallback) return this.fallback.read(job, recipients);
    const thread = this.pick();
    if (!(await thread.ready.then(() => true, () => false))) return this.read(job, recipients);
    // Certificates and keys go to a thread once; after that, their ids. Marked as sent when posted,
    // not when answered: the thread keeps them from its first job on and reads its jobs in order,
    // so the jobs posted while that one runs need only the ids.
    const material = recipients.map((r) => (thread.sent.has(r.id) ? { id: r.id } : r));
    for (const r of recipients) thread.sent.add(r.id);
    return readResultFromThread((await this.run(thread, { op: 'read', ...job, recipients: material })) as ReadResult);
  }

  async reply(job: Omit<ReplyJob, 'op'>): Promise<Buffer> {
    if (this.fallback) return this.fallback.reply(job);
    const thread = this.pick();
    if (!(await thread.ready.then(() => true, () => false))) return this.reply(job);
    return asBuffer((await this.run(thread, { op: 'reply', ...job })) as Uint8Array);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.failAll(new Error('the CMS pool is closed'));
  }

  private ensure(): void {
    while (this.threads.length < this.size) this.threads.push(this.spawn());
  }

  private pick(): Thread {
    this.ensure();
    return this.threads[this.rr++ % this.threads.length] as Thread;
  }

  private run(thread: Thread, job: CmsJob): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, thread });
      thread.queue.push({ id, job });
      // Jobs of the same tick travel in one message, once the thread is up.
      if (thread.queue.length === 1) queueMicrotask(() => this.flush(thread));
    });
  }

  private flush(thread: Thread): void {
    if (thread.queue.length) thread.worker.postMessage(thread.queue.splice(0));
  }

  private spawn(): Thread {
    const fromSource = import.meta.url.endsWith('.ts');
    const workerData = { module: new URL(`./cmsWorker.${fromSource ? 'ts' : 'js'}`, import.meta.url).href, tsx: fromSource ? tsxEsmApi() : null };
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData });
    worker.unref();
    let started!: () => void;
    let failed!: (e: Error) => void;
    const thread: Thread = { worker, ready: new Promise<void>((resolve, reject) => ((started = resolve), (failed = reject))), sent: new Set(), queue: [] };
    thread.ready.catch(() => undefined);
    let up = false;
    worker.on('message', (m: { ready?: true; rehearsal?: string; fatal?: string; id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (m.ready) {
        if (m.rehearsal) this.log.warn({ err: m.rehearsal }, 'a SCEP CMS thread could not rehearse an enrollment; it serves, slower on its first requests');
        up = true;
        return started();
      }
      if (m.fatal !== undefined) {
        this.log.error({ err: m.fatal }, 'a SCEP CMS thread could not start; CMS work runs on the event loop');
        this.fallback ??= inlineCms();
        return failed(new Error(`the CMS thread could not start: ${m.fatal}`));
      }
      const p = this.pending.get(m.id as number);
      if (!p) return;
      this.pending.delete(m.id as number);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    worker.on('error', (e) => {
      failed(e);
      this.failThread(thread, e);
    });
    worker.on('exit', () => {
      const e = new Error('a CMS thread exited');
      // One that never came up will not come up the next time either.
      if (!up && !this.closing) this.fallback ??= inlineCms();
      failed(e);
      this.failThread(thread, e);
      const at = this.threads.indexOf(thread);
      // A thread that died is replaced; one that could not start at all is not retried in a loop.
      if (at >= 0) this.threads.splice(at, 1);
    });
    return thread;
  }

  private failThread(thread: Thread, e: Error): void {
    for (const [id, p] of this.pending) {
      if (p.thread !== thread) continue;
      this.pending.delete(id);
      p.reject(e);
    }
    thread.queue.length = 0;
    if (!this.closing) thread.sent.clear();
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
