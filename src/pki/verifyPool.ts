// Checks CSR signatures on worker threads. Decoding the public key and verifying cost ~120 µs of
// CPU per request; on the event loop that caps a front-end at a few thousand requests a second,
// on a second core it is nearly free. The thread body is plain JavaScript (node:crypto only), so
// it runs the same from TypeScript sources, from the build and under the test runner.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { verifyCsrSignature, type CsrSignatureCheck } from './csr.js';
import { SIGNATURE_HASH } from './oids.js';

export interface SignatureVerifier {
  verify(check: CsrSignatureCheck): Promise<boolean>;
  close(): Promise<void>;
}

const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
parentPort.on('message', (batch) => {
  const out = [];
  for (const m of batch) {
    let ok = false;
    try {
      const key = m.jwk ? createPublicKey({ key: m.jwk, format: 'jwk' }) : createPublicKey({ key: Buffer.from(m.spki), format: 'der', type: 'spki' });
      ok = verify(m.hash, Buffer.from(m.data), { key, dsaEncoding: 'der' }, Buffer.from(m.sig));
    } catch { ok = false; }
    out.push({ id: m.id, ok });
  }
  parentPort.postMessage(out);
});
`;

interface Pending {
  resolve: (ok: boolean) => void;
  reject: (e: Error) => void;
}

export class ThreadedVerifier implements SignatureVerifier {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queued: unknown[][];
  private nextId = 1;
  private rr = 0;
  private flushScheduled = false;

  constructor(threads = Math.max(1, availableParallelism() - 1)) {
    this.queued = Array.from({ length: threads }, () => []);
    for (let i = 0; i < threads; i++) this.workers.push(this.spawn(i));
  }

  private closing = false;

  private spawn(slot: number): Worker {
    const w = new Worker(THREAD_SOURCE, { eval: true });
    w.unref();
    w.on('message', (results: { id: number; ok: boolean }[]) => {
      for (const r of results) {
        this.pending.get(r.id)?.resolve(r.ok);
        this.pending.delete(r.id);
      }
    });
    // A dead thread fails what it held (the callers answer 5xx-free errors upstream) and is replaced.
    w.on('error', (e) => this.failAll(e));
    w.on('exit', () => {
      if (!this.closing) this.workers[slot] = this.spawn(slot);
    });
    return w;
  }

  verify(check: CsrSignatureCheck): Promise<boolean> {
    // Unsupported algorithms throw here, with the caller's stack, as verifyCsrSignature does.
    if (!Object.hasOwn(SIGNATURE_HASH, check.signatureAlgorithm)) return Promise.resolve().then(() => verifyCsrSignature(check));
    const id = this.nextId++;
    const slot = this.rr++ % this.workers.length;
    (this.queued[slot] as unknown[]).push({
      id,
      hash: SIGNATURE_HASH[check.signatureAlgorithm],
      jwk: check.spki.jwk,
      spki: check.spki.jwk ? null : check.spkiDer,
      data: check.infoDer,
      sig: check.signature,
    });
    // Requests arriving in the same tick travel in one message.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private flush(): void {
    this.flushScheduled = false;
    this.queued.forEach((batch, i) => {
      if (batch.length === 0) return;
      this.workers[i]?.postMessage(batch.splice(0));
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.failAll(new Error('verifier closed'));
  }
}
