// The Store over a Kysely<Database>: the same code for SQLite and PostgreSQL. The aggregates live
// in their own modules; this one composes them and owns the one multi-table write, recordIssuance.
// openStore uses it for PostgreSQL; for SQLite it opens the faster SqliteStore (sqliteStore.ts),
// which reuses the aggregates' Kysely code for everything off the issuance hot path.
import { sql, type Compilable, type Kysely, type Migration } from 'kysely';
import type { AuditEntryInput, CertificateRecord } from '../core/types.js';
import { appendAudit, KyselyAuditStore, upgradeChainKysely } from './audit.js';
import { KyselyCredentialStore } from './credentials.js';
import { KyselyWriter } from './kyselyWriter.js';
import { KyselyCaStore } from './cas.js';
import { certificateFromRow, KyselyCertificateStore, storeCertificate } from './certificates.js';
import { DuplicateSerialError, InvalidRequestStateError, isUniqueViolation } from './errors.js';
import { KyselyCrlStore } from './crls.js';
import { KyselyInventoryStore } from './inventory.js';
import { checkCertificateNamesRequest, issuanceStep } from './issuance.js';
import { migrateOwnerToLatest } from './migrations.js';
import { KyselyOcspSignerStore } from './ocspSigners.js';
import { KyselyProductStore } from './products.js';
import { certificateById, certificateByRequestId, issuanceState, markIssued } from './queries.js';
import { KyselyRequestStore } from './requests.js';
import type { Database } from './schema.js';
import type { AuditStore, NewCertificate, Store } from './types.js';

export type StoreKind = Store['kind'];

export class KyselyStore implements Store {
  readonly cas: KyselyCaStore;
  readonly products: KyselyProductStore;
  readonly requests: KyselyRequestStore;
  readonly certificates: KyselyCertificateStore;
  readonly inventory: KyselyInventoryStore;
  readonly credentials: KyselyCredentialStore;
  readonly audit: KyselyAuditStore & Pick<AuditStore, 'append' | 'upgradeChain'>;
  readonly crls: KyselyCrlStore;
  readonly ocspSigners: KyselyOcspSignerStore;
  private readonly writer: KyselyWriter;

  constructor(
    readonly db: Kysely<Database>,
    readonly kind: StoreKind,
    chainKey: Buffer,
  ) {
    this.writer = new KyselyWriter(db, kind, chainKey);
    this.cas = new KyselyCaStore(db, this.writer);
    this.products = new KyselyProductStore(db, this.writer);
    this.requests = new KyselyRequestStore(db, kind, this.writer, chainKey);
    this.certificates = new KyselyCertificateStore(db, this.writer);
    this.inventory = new KyselyInventoryStore(db, kind, this.writer);
    this.credentials = new KyselyCredentialStore(db, this.writer);
    const writer = this.writer;
    this.audit = Object.assign(new KyselyAuditStore(db, chainKey), {
      append: (entry: AuditEntryInput) => writer.transaction((tx) => appendAudit(tx, kind, chainKey, entry, Date.now())),
      upgradeChain: () => upgradeChainKysely((fn) => writer.transaction(fn), kind, chainKey),
    });
    this.crls = new KyselyCrlStore(db);
    this.ocspSigners = new KyselyOcspSignerStore(db);
  }

  async recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    checkCertificateNamesRequest(requestId, certificate);
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

        const now = Date.now();
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

  async write<R>(statement: Compilable<R>): Promise<R | undefined> {
    return (await this.db.executeQuery(statement.compile())).rows[0];
  }

  async applyMigrations(owner: string, migrations: Readonly<Record<string, Migration>>): Promise<void> {
    await migrateOwnerToLatest(this.db as unknown as Kysely<unknown>, owner, migrations);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
