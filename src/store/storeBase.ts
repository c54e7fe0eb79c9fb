// What the two stores share: the audit trail's reads (its append and chain upgrade are each
// store's own), CRLs, OCSP signers, migrations, ping, and the check before an issuance is recorded.
import { sql, type Kysely, type Migration } from 'kysely';
import type { AuditEntry, AuditEntryInput, CertificateRecord } from '../core/types.js';
import { KyselyAuditStore } from './audit.js';
import { KyselyCrlStore } from './crls.js';
import { checkCertificateNamesRequest } from './issuance.js';
import { migrateOwnerToLatest } from './migrations.js';
import { KyselyOcspSignerStore } from './ocspSigners.js';
import type { Database } from './schema.js';
import type { AuditStore, ChainUpgrade, NewCertificate } from './types.js';

export abstract class StoreBase {
  readonly audit: KyselyAuditStore & Pick<AuditStore, 'append' | 'upgradeChain'>;
  readonly crls: KyselyCrlStore;
  readonly ocspSigners: KyselyOcspSignerStore;

  constructor(
    readonly db: Kysely<Database>,
    chainKey: Buffer,
    now: () => number,
  ) {
    this.audit = Object.assign(new KyselyAuditStore(db, chainKey), {
      append: (entry: AuditEntryInput) => this.appendAudit(entry),
      upgradeChain: () => this.upgradeAuditChain(),
    });
    this.crls = new KyselyCrlStore(db);
    this.ocspSigners = new KyselyOcspSignerStore(db, now);
  }

  protected abstract appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  protected abstract upgradeAuditChain(): Promise<ChainUpgrade>;
  /** recordIssuance once the certificate is known to name its request. */
  protected abstract recordChecked(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }>;

  async recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    checkCertificateNamesRequest(requestId, certificate);
    return this.recordChecked(requestId, certificate, note, audit);
  }

  /**
   * Migrations are schema changes, never part of a write batch of the SQLite store: the migrator
   * runs its statements one by one (SQLite has no transactional DDL in Kysely), so it opens no
   * transaction a batch could land in.
   */
  async applyMigrations(owner: string, migrations: Readonly<Record<string, Migration>>): Promise<void> {
    await migrateOwnerToLatest(this.db as unknown as Kysely<unknown>, owner, migrations);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}
