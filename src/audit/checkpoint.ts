// A signed checkpoint of the audit trail: sequence number and link of its last entry, and when.
// The operator keeps it outside the database; `audit verify --checkpoint` then catches what the
// chain alone cannot: a cut-off tail (the chain that is left still verifies) and a rewrite of
// entries before the checkpoint. Signed with Ed25519 under a key derived from the master key, so
// the file can be checked anywhere with the public key in it, and forged by no one without the
// master key (verify compares that public key with the deployment's own).
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { deriveKey, equalText as sameHash } from '../auth/secrets.js';
import { canonicalJson, type ChainHead } from './chain.js';

const CHECKPOINT_KEY_LABEL = 'certgate audit checkpoint v1';
/** PKCS#8 for an Ed25519 private key, up to the 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function checkpointKeyOf(masterKey: string): { privateKey: KeyObject; publicKey: KeyObject; publicKeyB64: string } {
  const seed = deriveKey(masterKey, CHECKPOINT_KEY_LABEL);
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyB64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
}

const checkpointSchema = z.object({
  format: z.literal('certgate-audit-checkpoint-v1'),
  seq: z.number().int().nonnegative(),
  head_hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.iso.datetime(),
  public_key: z.string().min(1).max(200),
  signature: z.string().min(1).max(200),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

const signedPart = (c: Omit<Checkpoint, 'signature'>): Buffer =>
  Buffer.from(canonicalJson({ format: c.format, seq: c.seq, head_hash: c.head_hash, at: c.at, public_key: c.public_key }));

export function makeCheckpoint(masterKey: string, head: ChainHead, at: Date): Checkpoint {
  const { privateKey, publicKeyB64 } = checkpointKeyOf(masterKey);
  const body = { format: 'certgate-audit-checkpoint-v1' as const, seq: head.seq, head_hash: head.hash, at: at.toISOString(), public_key: publicKeyB64 };
  return { ...body, signature: sign(null, signedPart(body), privateKey).toString('base64') };
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

/** The checkpoint in `text`, once its signature is this deployment's; throws CheckpointError otherwise. */
export function readCheckpoint(masterKey: string, text: string): Checkpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CheckpointError('the checkpoint is not JSON');
  }
  const result = checkpointSchema.safeParse(parsed);
  if (!result.success) throw new CheckpointError(`not a certgate audit checkpoint: ${result.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ')}`);
  const c = result.data;
  const { publicKey, publicKeyB64 } = checkpointKeyOf(masterKey);
  if (!sameHash(c.public_key, publicKeyB64)) throw new CheckpointError("the checkpoint was signed with another key than this deployment's (another master key)");
  if (!verify(null, signedPart(c), publicKey, Buffer.from(c.signature, 'base64'))) throw new CheckpointError('the checkpoint\'s signature does not verify: it was altered');
  return c;
}

export type CheckpointBreak = { kind: 'truncated' | 'rewritten'; seq: number; detail: string };

/** What the trail must show for a checkpoint: the entry it names, with the link it recorded. */
export function checkAgainst(c: Checkpoint, atSeq: ChainHead | undefined, head: ChainHead | null): CheckpointBreak | undefined {
  if (c.seq === 0 || (atSeq && sameHash(atSeq.hash, c.head_hash))) return undefined;
  if (!atSeq && (head?.seq ?? 0) < c.seq) {
    return {
      kind: 'truncated',
      seq: c.seq,
      detail: `the trail ends at entry ${head?.seq ?? 0}, but the checkpoint of ${c.at} saw entry ${c.seq}: entries were cut off`,
    };
  }
  return {
    kind: 'rewritten',
    seq: c.seq,
    detail: atSeq
      ? `entry ${c.seq} is not the one the checkpoint of ${c.at} saw: the trail was rewritten up to there`
      : `entry ${c.seq}, which the checkpoint of ${c.at} saw, is missing: the trail was rewritten`,
  };
}
