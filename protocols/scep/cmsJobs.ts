// The CMS work of one SCEP request, as jobs whose inputs and results cross a worker_threads
// boundary (structured clone: Buffers arrive as Uint8Arrays, KeyObjects are cloned): reading and
// opening a pkiMessage, and building a CertRep. pkijs spends milliseconds of synchronous work on
// each; the pool (cmsPool.ts) runs these jobs off the event loop, on every core.
import type { KeyObject } from 'node:crypto';
import type * as pkijs from 'pkijs';
import { CIPHERS, type DigestName, type FailInfo, type PkiStatus } from './algorithms.js';
import { certsOnlyPkcs7 } from '../../src/pki/pkcs7.js';
import { buildCertRep } from './certRep.js';
import { parseCertificate, type CertRef, type Signer } from './certRef.js';
import { addressedEnvelope, buildEnvelope, openWithKey } from './envelope.js';
import { MalformedMessage, ScepFailure } from './messageErrors.js';
import { readPkiMessage, type PkiMessage, type ReplyTo } from './pkiMessage.js';
import type { MessageSigner } from './signedData.js';

/**
 * An RA a request may be encrypted to. `der` and `key` may be left out once the thread has them.
 * An RA whose key is in a token comes without a key (`inToken`): the thread finds that the
 * envelope is for it, and the token opens it on the main thread.
 */
export interface RecipientMaterial {
  id: string;
  der?: Uint8Array;
  key?: KeyObject;
  inToken?: true;
}

export interface ReadJob {
  op: 'read';
  der: Uint8Array;
  now: number;
  maxClockSkewMs: number;
  recipients: RecipientMaterial[];
}

export interface ReplyJob {
  op: 'reply';
  /** key null: the RA's key is in a token, and the main thread signs (see reply()). */
  signer: CertRef & { key: KeyObject | null };
  digest: DigestName;
  transactionId: string;
  recipientNonce: Uint8Array;
  status: PkiStatus;
  failInfo?: FailInfo;
  /** SUCCESS: what the envelope holds, for whom, with which cipher. */
  success?: { certificates: Uint8Array[]; crls: Uint8Array[]; recipient: Pick<Signer, 'issuerDer' | 'serial' | 'publicKey'>; cipherOid: string };
}

export type CmsJob = ReadJob | ReplyJob;

export type ReadResult =
  /** Nothing to answer: HTTP 400. */
  | { kind: 'malformed'; reason: string }
  /** Answer FAILURE: the message could not be trusted (or names something we do not do). */
  | { kind: 'failure'; replyTo: ReplyTo; failInfo: FailInfo; reason: string }
  /** Signed by its signer; the envelope opened (`opened`), or why not. */
  | { kind: 'verified'; message: PkiMessage; opened?: { content: Uint8Array; cipherOid: string; recipientId: string }; openFailure?: { failInfo: FailInfo; reason: string }; forTokenRa?: string };

/** What a thread keeps between jobs: the RA certificates and keys it was given. */
export class RecipientCache {
  private readonly known = new Map<string, { id: string; der: Buffer; key: KeyObject | null; cert?: pkijs.Certificate }>();

  /** Keeps what a job brought, whether or not the job gets as far as using it. */
  learn(list: RecipientMaterial[]): void {
    for (const r of list) if (r.der && (r.key || r.inToken) && !this.known.has(r.id)) this.known.set(r.id, { id: r.id, der: asBuffer(r.der), key: r.key ?? null });
  }

  resolve(list: RecipientMaterial[]): { id: string; cert: pkijs.Certificate; key: KeyObject | null }[] {
    return list.map((r) => {
      const known = this.known.get(r.id);
      if (!known) throw new Error(`RA ${r.id} was not sent to this thread`);
      known.cert ??= parseCertificate(known.der);
      return { id: known.id, cert: known.cert, key: known.key };
    });
  }
}

export const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

export async function runCmsJob(job: CmsJob, cache: RecipientCache): Promise<ReadResult | Uint8Array> {
  return job.op === 'read' ? read(job, cache) : reply(job);
}

function read(job: ReadJob, cache: RecipientCache): ReadResult {
  cache.learn(job.recipients);
  let read: ReturnType<typeof readPkiMessage>;
  try {
    read = readPkiMessage(asBuffer(job.der), new Date(job.now), job.maxClockSkewMs);
  } catch (e) {
    if (e instanceof MalformedMessage) return { kind: 'malformed', reason: e.message };
    throw e;
  }
  if (!read.message) {
    const failure = read.failure as ScepFailure;
    return { kind: 'failure', replyTo: read.replyTo, failInfo: failure.failInfo, reason: failure.message };
  }
  const message = read.message;
  if (!message.envelope) return { kind: 'verified', message };
  try {
    const addressed = addressedEnvelope(message.envelope, cache.resolve(job.recipients));
    const { recipient, cipher } = addressed;
    if (!recipient.key) return { kind: 'verified', message, forTokenRa: recipient.id };
    return { kind: 'verified', message, opened: { content: openWithKey(addressed, recipient.key), cipherOid: cipher.oid, recipientId: recipient.id } };
  } catch (e) {
    if (e instanceof ScepFailure) return { kind: 'verified', message, openFailure: { failInfo: e.failInfo, reason: e.message } };
    throw e;
  }
}

/**
 * Builds the CertRep of `job`, signed with `key`: the job's own (on a CMS thread) or an RA key's
 * token signature (on the main thread, where the token's sessions are).
 */
export async function reply(job: ReplyJob, key: MessageSigner['key'] | null = job.signer.key): Promise<Uint8Array> {
  if (!key) throw new Error('the RA key is in a token: its CertRep is signed on the main thread');
  let envelope: Buffer | undefined;
  if (job.success) {
    const cipher = CIPHERS[job.success.cipherOid];
    if (!cipher) throw new Error(`no cipher ${job.success.cipherOid}`);
    const { recipient } = job.success;
    envelope = buildEnvelope(
      certsOnlyPkcs7(job.success.certificates.map(asBuffer), job.success.crls.map(asBuffer)),
      { issuerDer: asBuffer(recipient.issuerDer), serial: asBuffer(recipient.serial), publicKey: recipient.publicKey },
      cipher,
    );
  }
  return buildCertRep({
    signer: { der: asBuffer(job.signer.der), issuerDer: asBuffer(job.signer.issuerDer), serial: asBuffer(job.signer.serial), key },
    digest: job.digest,
    transactionId: job.transactionId,
    recipientNonce: asBuffer(job.recipientNonce),
    status: job.status,
    ...(job.failInfo ? { failInfo: job.failInfo } : {}),
    ...(envelope ? { envelope } : {}),
  });
}

/** A ReadResult as it arrives from another thread, its byte fields Buffers again. */
export function readResultFromThread(r: ReadResult): ReadResult {
  if (r.kind === 'malformed') return r;
  if (r.kind === 'failure') return { ...r, replyTo: { ...r.replyTo, senderNonce: asBuffer(r.replyTo.senderNonce) } };
  const m = r.message;
  return {
    ...r,
    message: {
      ...m,
      senderNonce: asBuffer(m.senderNonce),
      envelope: m.envelope ? asBuffer(m.envelope) : null,
      signer: { ...m.signer, der: asBuffer(m.signer.der), issuerDer: asBuffer(m.signer.issuerDer), serial: asBuffer(m.signer.serial) },
    },
    ...(r.opened ? { opened: { ...r.opened, content: asBuffer(r.opened.content) } } : {}),
  };
}
