// The SCEP CMS jobs on worker threads (protocols/scep/cmsPool.ts): they start from the TypeScript
// sources, answer exactly what the same jobs answer on the event loop, keep each RA key they were
// sent, and a thread that dies is replaced.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { AES_128_CBC, MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { CmsPool, inlineCms, type CmsRunner } from '../protocols/scep/cmsPool.js';
import { rehearse } from '../protocols/scep/cmsRehearsal.js';
import { buildRequest, readReply, rsaKey, selfSigned } from './helpers/scepClient.js';

describe('SCEP CMS pool', () => {
  const ra = selfSigned(rsaKey(), 'CN=pool RA');
  const key = rsaKey();
  const requester = selfSigned(key, 'CN=pool.host1.test');
  const csr = fromPem(buildCsr(key, 'CN=pool.host1.test', {}, { challengePassword: 'c' }), ['CERTIFICATE REQUEST']);
  const raMaterial = { id: 'ra-1', der: ra.der, key: ra.key };
  let pool: CmsPool;
  let message: Buffer;

  beforeAll(async () => {
    pool = new CmsPool(2, pino({ level: 'silent' }));
    message = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: 'pool-tx', cipher: AES_128_CBC });
  });
  afterAll(async () => {
    await pool?.close();
  });

  async function roundTrip(runner: CmsRunner) {
    const read = await runner.read({ der: message, now: Date.now(), maxClockSkewMs: 60_000 }, [raMaterial]);
    if (read.kind !== 'verified' || !read.opened) throw new Error(`not opened: ${JSON.stringify(read)}`);
    const reply = await runner.reply({
      signer: { der: ra.der, issuerDer: ra.issuerDer, serial: ra.serial, key: ra.key },
      digest: read.message.digest,
      transactionId: read.message.transactionId,
      recipientNonce: read.message.senderNonce,
      status: 'SUCCESS',
      success: { certificates: [requester.der], crls: [], recipient: read.message.signer, cipherOid: read.opened.cipherOid },
    });
    return { read, reply: readReply(reply, requester) };
  }

  it('runs on threads started from the TypeScript sources, and answers as the event loop does', async () => {
    await pool.warm();
    expect(pool.mode).toBe('threads');
    const [threaded, inline] = await Promise.all([roundTrip(pool), roundTrip(inlineCms())]);
    for (const r of [threaded, inline]) {
      expect(Buffer.isBuffer(r.read.message.signer.der)).toBe(true);
      expect(r.read.message.signer.der.equals(requester.der)).toBe(true);
      expect(r.read.message.signer.publicKey.asymmetricKeyType).toBe('rsa');
      expect(r.read.opened && Buffer.from(r.read.opened.content).equals(csr)).toBe(true);
      expect(r.reply).toMatchObject({ status: 'SUCCESS', transactionId: 'pool-tx' });
      expect(r.reply.certificates.map((c) => c.equals(requester.der))).toEqual([true]);
      expect(r.reply.cipher?.oid).toBe(AES_128_CBC.oid);
    }
  });

  it('sends an RA key to a thread once, and answers many jobs at once', async () => {
    await pool.warm();
    // Counts the jobs that carry the RA's certificate and key, per thread, as they are posted.
    type Posted = { job: { recipients?: { id: string; der?: unknown }[] } }[];
    const threads = (pool as unknown as { threads: { sent: Set<string>; worker: { postMessage(batch: Posted): void } }[] }).threads;
    const carried = threads.map(() => 0);
    const had = threads.map((t) => t.sent.has(raMaterial.id));
    const posts = threads.map((t, i) => {
      const post = t.worker.postMessage.bind(t.worker);
      t.worker.postMessage = (batch) => {
        carried[i]! += batch.filter((b) => b.job.recipients?.some((r) => r.id === raMaterial.id && r.der !== undefined)).length;
        post(batch);
      };
      return post;
    });
    const results = await Promise.all(Array.from({ length: 20 }, () => pool.read({ der: message, now: Date.now(), maxClockSkewMs: 60_000 }, [raMaterial])));
    threads.forEach((t, i) => (t.worker.postMessage = posts[i]!));
    expect(results.map((r) => r.kind === 'verified' && r.opened !== undefined)).toEqual(Array(20).fill(true));
    // Once per thread: a thread that had the key gets none, one that had not gets it with its first job only.
    expect(threads.length).toBe(2);
    expect(carried).toEqual(had.map((h) => (h ? 0 : 1)));
  });

  it('tells malformed input from a failure to answer, as the codec does', async () => {
    expect(await pool.read({ der: Buffer.from('no'), now: Date.now(), maxClockSkewMs: 60_000 }, [raMaterial])).toMatchObject({ kind: 'malformed' });
    const late = await pool.read({ der: message, now: Date.now() + 10 * 86_400_000, maxClockSkewMs: 60_000 }, [raMaterial]);
    expect(late).toMatchObject({ kind: 'failure', failInfo: 'badTime' });
  });

  it('rehearses an enrollment (a PKCSReq read, opened and answered) on each thread before it takes jobs', async () => {
    await expect(rehearse()).resolves.toBeUndefined();
    const lines: string[] = [];
    const fresh = new CmsPool(1, pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }));
    try {
      await fresh.warm();
      expect(fresh.mode).toBe('threads');
      expect(lines.join('')).toBe('');
      expect((await roundTrip(fresh)).reply.status).toBe('SUCCESS');
    } finally {
      await fresh.close();
    }
  });

  it('replaces a thread that died', async () => {
    const threads = (pool as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads;
    await Promise.all(threads.map((t) => t.worker.terminate()));
    const { reply } = await roundTrip(pool);
    expect(reply.status).toBe('SUCCESS');
    expect(pool.mode).toBe('threads');
  });
});
