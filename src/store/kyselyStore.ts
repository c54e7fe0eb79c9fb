// The Store over a Kysely<Database>: the same code for SQLite and PostgreSQL. The aggregates live
// in their own modules; this one composes them and owns the one multi-table write, recordIssuance.
// openStore uses it for PostgreSQL; for SQLite it opens the faster SqliteStore (sqliteStore.ts),
// which reuses the aggregates' Kysely code for everything off the issuance hot path.
import type { Compilable, Kysely } from 'kysely';
import type { AuditEntryInput, CertificateRecord } from '../core/types.js';
import { appendAudit, upgradeChainKysely } from './audit.js';
import { KyselyCredentialStore } from './credentials.js';
import { KyselyDomainStore } from './domains.js';
import { realTimeMs } from './clock.js';
import { KyselyWriter } from './kyselyWriter.js';
import { KyselyCaStore } from './cas.js';
import { certificateFromRow, KyselyCertificateStore, storeCertificate } from './certificates.js';
import { DuplicateSerialError, InvalidRequestStateError, isUniqueViolation } from './errors.js';
import { KyselyInventoryStore } from './inventory.js';
import { issuanceStep } from './issuance.js';
import { KyselyProductStore } from './products.js';
import { certificateById, certificateByRequestId, issuanceState, markIssued } from './queries.js';
import { KyselyRequestStore } from './requests.js';
import type { Database } from './schema.js';
import { StoreBase } from './storeBase.js';
import type { NewCertificate, Store } from './types.js';

export type StoreKind = Store['kind'];

export class KyselyStore extends StoreBase implements Store {
  readonly cas: KyselyCaStore;
  readonly products: KyselyProductStore;
  readonly requests: KyselyRequestStore;
  readonly certificates: KyselyCertificateStore;
  readonly inventory: KyselyInventoryStore;
  readonly credentials: KyselyCredentialStore;
  readonly domains: KyselyDomainStore;
  private readonly writer: KyselyWriter;

  /** `now`: the clock rows and audit entries are stamped with (milliseconds). */
  constructor(
    db: Kysely<Database>,
    readonly kind: StoreKind,
    chainKey: Buffer,
    now: () => number = realTimeMs,
  ) {
    super(db, chainKey, now);
    this.writer = new KyselyWriter(db, kind, chainKey, now);
    this.cas = new KyselyCaStore(db, this.writer);
    this.products = new KyselyProductStore(db, this.writer);
    this.requests = new KyselyRequestStore(db, kind, this.writer, chainKey);
    this.certificates = new KyselyCertificateStore(db, this.writer);
    this.inventory = new KyselyInventoryStore(db, kind, this.writer);
    this.credentials = new KyselyCredentialStore(db, this.writer);
    this.domains = new KyselyDomainStore(db, this.writer);
  }

  protected appendAudit(entry: AuditEntryInput) {
    return this.writer.transaction((tx) => appendAudit(tx, this.kind, this.writer.chainKey, entry, this.writer.now()));
  }

  protected upgradeAuditChain() {
    return upgradeChainKysely((fn) => this.writer.transaction(fn), this.kind, this.writer.chainKey, this.writer.now);
  }

  protected async recordChecked(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    try {
      return await this.writer.transaction(async (tx) => {
        let query = issuanceState(tx, { id: requestId });
        // Concurrent jobs for one request queue up here; the loser then sees `issued`.
        if (this.kind === 'postgres') query = query.forUpdate();
        const state = await query.executeTakeFirst();
        if (issuanceStep(requestId, state, certificate) === 'alreadyIssued') {
          const certificateId = state?.certificate_id ?? null;
          const row = await (certificateId !== null
            ? certificateById(tx, { id: certificateId })
            : certificateByRequestId(tx, { requestId })
          ).executeTakeFirst();
          if (!row) throw new InvalidRequestStateError(requestId, 'issued without a stored certificate');
          return { certificate: certificateFromRow(row), alreadyIssued: true };
        }

        const now = this.writer.now();
        const stored = await storeCertificate(tx, { ...certificate, requestId }, now);
        await markIssued(tx, { id: requestId, certificateId: stored.id, note, now }).execute();
        await appendAudit(tx, this.kind, this.writer.chainKey, audit, now);
        return { certificate: stored, alreadyIssued: false };
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // The transaction rolled back. Either a race slipped past the row lock and the request was
      // issued by someone else (UNIQUE(request_id)), or the serial number is taken.
      const existing = await this.certificates.getByRequestId(requestId);
      if (existing) return { certificate: existing, alreadyIssued: true };
      const clash = await this.certificates.getBySerial(certificate.caId, certificate.serialNumber);
      if (clash) throw new DuplicateSerialError(certificate.caId, certificate.serialNumber);
      throw error;
    }
  }

  async write<R>(statement: Compilable<R>, entryOf?: (row: R | undefined) => AuditEntryInput | null): Promise<R | undefined> {
    if (entryOf) return this.writer.one(statement, entryOf);
    return (await this.db.executeQuery(statement.compile())).rows[0];
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
