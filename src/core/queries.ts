// Read-only questions a front-end may ask of the store. Front-ends get this, never the Store,
// so a protocol cannot write around the enrollment and revocation services. The one read with a
// record of its own is an escrowed key's: it goes into the audit trail.
import { AUDIT } from '../audit/actions.js';
import type { CertificateStore, Store } from '../store/types.js';
import type { AuditContext, CaRecord, CertificateRecord, CrlHeader, EnrollmentRequest, InventoryFilter, InventoryListing, InventoryPageRequest, InventoryRecord, ProductRecord, RequestFilter } from './types.js';

export type CertificateListOptions = Parameters<CertificateStore['list']>[0];

export class QueryService {
  constructor(private readonly store: Store) {}

  caById(id: string): Promise<CaRecord | undefined> {
    return this.store.cas.get(id);
  }

  caList(): Promise<CaRecord[]> {
    return this.store.cas.list();
  }

  productList(): Promise<ProductRecord[]> {
    return this.store.products.list();
  }

  certificateById(id: string): Promise<CertificateRecord | undefined> {
    return this.store.certificates.get(id);
  }

  certificateBySerial(caId: string, serialHex: string): Promise<CertificateRecord | undefined> {
    return this.store.certificates.getBySerial(caId, serialHex);
  }

  certificateList(options: CertificateListOptions): Promise<CertificateRecord[]> {
    return this.store.certificates.list(options);
  }

  /** Ours and imported, filtered and paged, with the number of matches. */
  inventoryList(filter: InventoryFilter, page: InventoryPageRequest): Promise<InventoryListing> {
    return this.store.inventory.list(filter, page);
  }

  /** A certificate of ours or an imported one, unless deleted from the inventory. */
  inventoryById(id: string): Promise<InventoryRecord | undefined> {
    return this.store.inventory.get(id);
  }

  /** The latest CRL's number and dates, without its body. */
  latestCrlHeader(caId: string): Promise<CrlHeader | undefined> {
    return this.store.crls.latestHeader(caId);
  }

  requestById(id: string): Promise<EnrollmentRequest | undefined> {
    return this.store.requests.get(id);
  }

  /** Enrollment requests, newest first, filtered and paged, with the number of matches. */
  requestList(filter: RequestFilter, page: { limit: number; offset: number }): Promise<{ requests: EnrollmentRequest[]; total: number }> {
    return this.store.requests.list(filter, page);
  }

  /**
   * The escrowed private key of one of our certificates (its envelope, encrypted under the master
   * key), or null when its key was not escrowed. The one read that writes: a private key leaving
   * certgate is recorded in the audit trail before the caller gets it.
   */
  async escrowedKeyForExport(certificate: CertificateRecord, by: AuditContext, detail: Record<string, unknown> = {}): Promise<string | null> {
    const request = certificate.requestId ? await this.store.requests.get(certificate.requestId) : undefined;
    const envelope = request?.details.escrowedKey ?? null;
    if (envelope === null) return null;
    await this.store.audit.append({
      ...by,
      action: AUDIT.certificateKeyExport,
      target: certificate.id,
      outcome: 'success',
      detail: { ca: certificate.caId, serial: certificate.serialNumber, ...detail },
    });
    return envelope;
  }

  /**
   * A private key certgate generated for a client (EST serverkeygen) leaves certgate again, for a
   * request sent again: recorded in the audit trail before the caller gets it, as an export is.
   */
  async recordKeyRedelivery(certificate: CertificateRecord, by: AuditContext, detail: Record<string, unknown> = {}): Promise<void> {
    await this.store.audit.append({
      ...by,
      action: AUDIT.certificateKeyRedeliver,
      target: certificate.id,
      outcome: 'success',
      detail: { ca: certificate.caId, serial: certificate.serialNumber, ...detail },
    });
  }
}
