// SCEP's records and the statements on its tables (tables.db to read, tables.write for each write).
import type { Kysely, Selectable } from 'kysely';
import type { ProtocolTables } from '../../src/core/protocol.js';

interface Schema {
  scep_ra_certificates: {
    id: string;
    ca_id: string;
    serial_hex: string;
    certificate_pem: string;
    encrypted_key: string;
    key_ref: string | null;
    not_before: number | string;
    not_after: number | string;
    created_at: number | string;
  };
  scep_challenges: {
    id: string;
    challenge_hash: string;
    product_id: string;
    subject: string | null;
    created_by: string;
    expires_at: number | string;
    used_at: number | string | null;
    used_by: string | null;
    created_at: number | string;
  };
}

export interface RaRecord {
  id: string;
  caId: string;
  serialHex: string;
  certificatePem: string;
  /** '' for a key in a token. */
  encryptedKey: string;
  /** Where the key is in the token (JSON: label, CKA_ID), or null for a sealed key. */
  keyRef: string | null;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

export interface ChallengeRecord {
  id: string;
  challengeHash: string;
  productId: string;
  /** The one name the certificate may carry, when the challenge was minted for a subject. */
  subject: string | null;
  createdBy: string;
  expiresAt: Date;
  usedAt: Date | null;
  usedBy: string | null;
  createdAt: Date;
}

const ms = (v: number | string): Date => new Date(Number(v));

const raOf = (r: Selectable<Schema['scep_ra_certificates']>): RaRecord => ({
  id: r.id,
  caId: r.ca_id,
  serialHex: r.serial_hex,
  certificatePem: r.certificate_pem,
  encryptedKey: r.encrypted_key,
  keyRef: r.key_ref ?? null,
  notBefore: ms(r.not_before),
  notAfter: ms(r.not_after),
  createdAt: ms(r.created_at),
});

const challengeOf = (r: Selectable<Schema['scep_challenges']>): ChallengeRecord => ({
  id: r.id,
  challengeHash: r.challenge_hash,
  productId: r.product_id,
  subject: r.subject,
  createdBy: r.created_by,
  expiresAt: ms(r.expires_at),
  usedAt: r.used_at === null ? null : ms(r.used_at),
  usedBy: r.used_by,
  createdAt: ms(r.created_at),
});

/**
 * `certgate master-key rotate`: every sealed RA key (expired ones too: requests encrypted to them may
 * still come) opened under the current master key and sealed under the new one, through `db`
 * (the rotation's transaction).
 */
export async function resealRaKeys(db: Kysely<unknown>, reseal: (envelope: string, id: string) => string): Promise<number> {
  const own = db as Kysely<Schema>;
  // Keys in a token are not under the master key.
  const rows = await own.selectFrom('scep_ra_certificates').select(['id', 'encrypted_key']).where('encrypted_key', '!=', '').execute();
  for (const r of rows) await own.updateTable('scep_ra_certificates').set({ encrypted_key: reseal(r.encrypted_key, r.id) }).where('id', '=', r.id).execute();
  return rows.length;
}

export class ScepDb {
  private readonly db: Kysely<Schema>;
  private readonly write: ProtocolTables<Schema>['write'];

  constructor(tables: ProtocolTables<Schema>) {
    this.db = tables.db;
    this.write = (statement) => tables.write(statement);
  }

  /** The CA's RA certificates that have not expired, newest first. */
  async liveRas(caId: string, now: number): Promise<RaRecord[]> {
    const rows = await this.db.selectFrom('scep_ra_certificates').selectAll().where('ca_id', '=', caId).where('not_after', '>', now).orderBy('not_before', 'desc').execute();
    return rows.map(raOf);
  }

  async insertRa(r: RaRecord): Promise<void> {
    await this.write(
      this.db.insertInto('scep_ra_certificates').values({
        id: r.id,
        ca_id: r.caId,
        serial_hex: r.serialHex,
        certificate_pem: r.certificatePem,
        encrypted_key: r.encryptedKey,
        key_ref: r.keyRef,
        not_before: r.notBefore.getTime(),
        not_after: r.notAfter.getTime(),
        created_at: r.createdAt.getTime(),
      }),
    );
  }

  async insertChallenge(c: ChallengeRecord): Promise<void> {
    await this.write(
      this.db.insertInto('scep_challenges').values({
        id: c.id,
        challenge_hash: c.challengeHash,
        product_id: c.productId,
        subject: c.subject,
        created_by: c.createdBy,
        expires_at: c.expiresAt.getTime(),
        used_at: null,
        used_by: null,
        created_at: c.createdAt.getTime(),
      }),
    );
  }

  async challengeByHash(hash: string): Promise<ChallengeRecord | undefined> {
    const row = await this.db.selectFrom('scep_challenges').selectAll().where('challenge_hash', '=', hash).executeTakeFirst();
    return row && challengeOf(row);
  }

  /** Marks the challenge used, if it is still unused and unexpired: one caller wins. */
  async consumeChallenge(id: string, usedBy: string, now: number): Promise<boolean> {
    const row = await this.write(
      this.db
        .updateTable('scep_challenges')
        .set({ used_at: now, used_by: usedBy })
        .where('id', '=', id)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning('id'),
    );
    return row !== undefined;
  }

  /** Gives a challenge back that admitted a request the core then refused before storing it (a rate limit). */
  async releaseChallenge(id: string, usedBy: string): Promise<void> {
    await this.write(this.db.updateTable('scep_challenges').set({ used_at: null, used_by: null }).where('id', '=', id).where('used_by', '=', usedBy).returning('id'));
  }

  /** Forgets challenges that expired (used or not) more than `keptMs` ago. */
  async removeExpiredChallenges(now: number, keptMs: number): Promise<void> {
    await this.write(this.db.deleteFrom('scep_challenges').where('expires_at', '<', now - keptMs));
  }

  /** Forgets RA certificates that expired more than `keptMs` ago. */
  async removeExpiredRas(now: number, keptMs: number): Promise<void> {
    await this.write(this.db.deleteFrom('scep_ra_certificates').where('not_after', '<', now - keptMs));
  }
}
