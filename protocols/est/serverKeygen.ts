// /serverkeygen (RFC 7030 §4.4): certgate makes the key pair (node:crypto, off the event loop),
// writes a PKCS#10 request for it with the names and subject of the client's request, and answers
// multipart/mixed with the PKCS#8 key and the certificate. The key and its request are kept,
// encrypted, so that the same client request sent again (while it waits for approval, or after a
// lost answer) is the same enrollment request and gets the same key. They are kept per credential
// id, never per name, and every delivery after the first is in the audit trail.
import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ProtocolTables } from '../../src/core/protocol.js';
import { resealSecret, type SecretSeal, type Sealing } from '../../src/core/sealing.js';
import type { KeyAlgorithm, ProductTemplate } from '../../src/core/types.js';
import type { ParsedCsr } from '../../src/pki/csr.js';
import { buildCsr } from '../../src/pki/csrBuilder.js';
import { keyGenSpec } from '../../src/pki/keys.js';
import { fromPem } from '../../src/pki/pem.js';
import { base64Lines, EstHttpError, PKCS7_CERTS_ONLY } from './wire.js';

interface Schema {
  est_credential_keys: { owner: string; transaction_id: string; key_envelope: string; csr: string; created_at: number | string; delivered_at: number | string | null };
}

export interface KeptKey {
  /** The private key, PKCS#8 DER. */
  pkcs8: Buffer;
  /** The request certgate made for it, DER. */
  csrDer: Buffer;
}

/** The key type for a client's request: its own key's type where the product allows it, else the product's first. */
export function keyAlgorithmFor(csr: ParsedCsr, template: ProductTemplate): KeyAlgorithm {
  return (template.keyAlgorithms as readonly string[]).includes(csr.keyAlgorithm) ? (csr.keyAlgorithm as KeyAlgorithm) : (template.keyAlgorithms[0] as KeyAlgorithm);
}

function generate(algorithm: KeyAlgorithm): Promise<KeyObject> {
  const spec = keyGenSpec(algorithm);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: KeyObject, privateKey: KeyObject): void => (err ? reject(err) : resolve(privateKey));
    if (spec.type === 'ec') generateKeyPair('ec', { namedCurve: spec.namedCurve as string }, done);
    else generateKeyPair('rsa', { modulusLength: spec.modulusLength as number, publicExponent: 0x10001 }, done);
  });
}

/** A new key of the product's type and a request for it asking for what the client's request asks for. */
export async function makeKeyAndCsr(clientCsr: ParsedCsr, template: ProductTemplate): Promise<{ key: KeyObject; csrDer: Buffer }> {
  if (clientCsr.san.unsupported.length) {
    throw new EstHttpError(400, 'the request asks for subjectAltName types certgate does not issue (only DNS, IP, email and URI)');
  }
  const key = await generate(keyAlgorithmFor(clientCsr, template));
  const { dns, ip, email, uri } = clientCsr.san;
  let pem: string;
  try {
    pem = buildCsr(key, clientCsr.subject.text, { dns, ip, email, uri });
  } catch (e) {
    throw new EstHttpError(400, `the request's subject cannot be carried over: ${(e as Error).message}`);
  }
  return { key, csrDer: fromPem(pem, ['CERTIFICATE REQUEST']) };
}

/** What the kept keys are sealed for: one purpose, and a key's owner and transaction as its AAD. */
const KEPT_KEYS_PURPOSE = 'est server-generated keys';
const keptKeyAad = (owner: string, transactionId: string): Buffer => Buffer.from(`certgate-est-key:v2:${owner}:${transactionId}`);

/**
 * `certgate master-key rotate`: every kept key opened under the current master key and sealed under
 * the new one, through `db` (the rotation's transaction). One that does not open stops the rotation.
 */
export async function resealKeptKeys(db: Kysely<unknown>, from: Sealing, to: Sealing): Promise<number> {
  const own = db as Kysely<Schema>;
  const opened = from.secrets(KEPT_KEYS_PURPOSE);
  const sealed = to.secrets(KEPT_KEYS_PURPOSE);
  const rows = await own.selectFrom('est_credential_keys').select(['owner', 'transaction_id', 'key_envelope']).execute();
  for (const r of rows) {
    const what = `the EST server-generated key kept for ${r.owner} (transaction ${r.transaction_id})`;
    await own
      .updateTable('est_credential_keys')
      .set({ key_envelope: resealSecret(opened, sealed, r.key_envelope, keptKeyAad(r.owner, r.transaction_id), what) })
      .where('owner', '=', r.owner)
      .where('transaction_id', '=', r.transaction_id)
      .execute();
  }
  return rows.length;
}

/** The kept keys: sealed under a key derived from the master key, bound to their owner and transaction. */
export class ServerKeys {
  private readonly db: Kysely<Schema>;
  private readonly box: SecretSeal;

  constructor(
    private readonly tables: ProtocolTables<Schema>,
    sealing: Sealing,
  ) {
    this.db = tables.db;
    this.box = sealing.secrets(KEPT_KEYS_PURPOSE);
  }

  /**
   * The key kept for this owner's request; made with `make` and kept first when there is none.
   * `owner` is the credential id (a certificate login's principal): whoever else sends the same
   * request, even under the same name, gets a key of its own.
   */
  async obtain(owner: string, transactionId: string, make: () => Promise<{ key: KeyObject; csrDer: Buffer }>): Promise<KeptKey> {
    let row = await this.row(owner, transactionId);
    if (!row) {
      const made = await make();
      const pkcs8 = made.key.export({ format: 'der', type: 'pkcs8' });
      await this.tables.write(
        this.db
          .insertInto('est_credential_keys')
          .values({ owner, transaction_id: transactionId, key_envelope: this.seal(pkcs8, owner, transactionId), csr: made.csrDer.toString('base64'), created_at: Date.now(), delivered_at: null })
          // The same request twice at once: both find the key of the one that was stored first.
          .onConflict((oc) => oc.columns(['owner', 'transaction_id']).doNothing()),
      );
      row = await this.row(owner, transactionId);
      if (!row) throw new Error('the generated key was not stored');
    }
    return { pkcs8: this.open(row.key_envelope, owner, transactionId), csrDer: Buffer.from(row.csr, 'base64') };
  }

  /**
   * Records that the key is handed out now; true when it was handed out before (a re-delivery).
   * One compare-and-set, so two first deliveries at once count one of them as the re-delivery.
   */
  async handOut(owner: string, transactionId: string): Promise<boolean> {
    const first = await this.tables.write(
      this.db
        .updateTable('est_credential_keys')
        .set({ delivered_at: Date.now() })
        .where('owner', '=', owner)
        .where('transaction_id', '=', transactionId)
        .where('delivered_at', 'is', null)
        .returning('owner'),
    );
    return first === undefined;
  }

  /** Forgets keys made before `before` (ms since the epoch). */
  async removeMadeBefore(before: number): Promise<void> {
    await this.tables.write(this.db.deleteFrom('est_credential_keys').where('created_at', '<', before));
  }

  private row(owner: string, transactionId: string) {
    return this.db.selectFrom('est_credential_keys').selectAll().where('owner', '=', owner).where('transaction_id', '=', transactionId).executeTakeFirst();
  }

  private seal(pkcs8: Buffer, owner: string, transactionId: string): string {
    return this.box.seal(pkcs8, keptKeyAad(owner, transactionId));
  }

  private open(envelope: string, owner: string, transactionId: string): Buffer {
    const pkcs8 = this.box.open(envelope, keptKeyAad(owner, transactionId));
    if (!pkcs8) throw new Error('a server-generated key does not open under this master key');
    return pkcs8;
  }
}

/** RFC 7030 §4.4.2: the PKCS#8 key, then the certs-only PKCS#7, each base64, as multipart/mixed. */
export function keyAndCertificateMultipart(pkcs8: Buffer, certsOnlyDer: Buffer, lineLength: number): { contentType: string; body: string } {
  const boundary = `est-${randomBytes(12).toString('hex')}`;
  const part = (type: string, der: Buffer): string =>
    `--${boundary}\r\nContent-Type: ${type}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(der, lineLength).replace(/\r\n$/, '')}\r\n`;
  return {
    contentType: `multipart/mixed; boundary=${boundary}`,
    body: `${part('application/pkcs8', pkcs8)}${part(PKCS7_CERTS_ONLY, certsOnlyDer)}--${boundary}--\r\n`,
  };
}
