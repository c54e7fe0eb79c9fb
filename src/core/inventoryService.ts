// The inventory's writes, for front-ends that must not hold the store: certificates imported from
// other CAs, the fields operators edit, manual status for imported ones (they are never signed,
// revoked or published by certgate), removal, and where each certificate is deployed.
import { X509Certificate } from 'node:crypto';
import { AUDIT } from '../audit/actions.js';
import { serialFromText } from '../pki/serial.js';
import { certificatesInPem, chainProblem, ForeignCertificateError, readForeignCertificate, storedDnCandidates, type ForeignCertificate } from '../pki/foreignCertificate.js';
import { customFieldProblems, MAX_CUSTOM_FIELD_LENGTH } from '../policy/customFields.js';
import { parseProductTemplate } from '../policy/productSchema.js';
import type { InventoryEdit, Store } from '../store/types.js';
import { badRequest, conflict, notFound, refused, unprocessable } from './errors.js';
import { newId } from './ids.js';
import { inventoryReportJson, type InventoryReportJson } from './inventoryReport.js';
import type { AuditContext, AuditEntryInput, CustomFieldValues, DeploymentLocation, InventoryFilter, InventoryRecord, InventoryTimeline, LocationFields, RevocationReason } from './types.js';

/**
 * Asked before a change, with the certificate's CA, or null for an imported certificate (which
 * belongs to no CA). Throws when the caller may not.
 */
export type AuthorizeOn = (caId: string | null) => void;

export interface ImportInput {
  certificatePem: string;
  /** The certificates above it, to check its signature against; not stored. */
  chainPem?: string | null;
  owner?: string | null;
  notes?: string | null;
  customFields?: CustomFieldValues;
}

export interface MarkRevokedInput {
  /** The issuer's DN as certgate lists it, as openssl prints it, or most specific first. */
  issuer: string;
  /** Hex, any case, colons allowed. */
  serialNumber: string;
  reason: RevocationReason;
  revokedAt?: Date;
}

/** Imported certificates have no product to declare their custom fields: these bound them instead. */
const FREE_FORM_FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
export const MAX_CUSTOM_FIELDS = 50;
export const MAX_LOCATIONS = 100;
/** How far ahead of our clock another CA's revocation time may be (clocks differ). */
const CLOCK_SKEW_MS = 5 * 60_000;

export class InventoryService {
  constructor(private readonly store: Store) {}

  async import(input: ImportInput, by: AuditContext): Promise<InventoryRecord> {
    const customFields = input.customFields ?? {};
    this.checkFreeFormFields(customFields);
    const cert = readForeignCertificateOrRefuse(this.single(input.certificatePem), 'certificatePem');
    // Before the chain: a chain the caller brings could vouch for a forgery of one of our CAs.
    await this.refuseOurIssuers(cert, by);
    if (input.chainPem) {
      const chain = certificatesInPemOrRefuse(input.chainPem, 'chainPem').map((der) => readForeignCertificateOrRefuse(der, 'chainPem').x509);
      const problem = chainProblem(cert.x509, chain);
      if (problem) throw unprocessable(`certificatePem and chainPem do not fit: ${problem}`);
    }
    const id = newId();
    const { record, created } = await this.store.inventory.insertImported(
      {
        id,
        serialNumber: cert.serialNumber,
        issuer: cert.issuer,
        commonName: cert.commonName,
        sanDns: cert.san.dns,
        sanIp: cert.san.ip,
        sanEmail: cert.san.email,
        sanUri: cert.san.uri,
        keyAlgorithm: cert.keyAlgorithm,
        validFrom: cert.validFrom,
        validTo: cert.validTo,
        certificatePem: cert.pem,
        owner: input.owner ?? null,
        notes: input.notes ?? null,
        customFields,
      },
      this.entry(by, AUDIT.certificateImport, id, { issuer: cert.issuer, serial: cert.serialNumber, commonName: cert.commonName }),
    );
    if (!created) throw conflict(`a certificate with serial ${cert.serialNumber} from ${cert.issuer} is imported already, as ${record.id}`);
    return record;
  }

  /**
   * An imported certificate is one certgate knows nothing about but what it says, so one that says
   * one of certgate's CAs issued it would sit beside that CA's own records under the same issuer and
   * serial: marking it revoked would look like a revocation while the real certificate stays good
   * in OCSP. Such a certificate is either ours (signed by that CA and the very certificate on record:
   * a conflict naming the record) or a forgery, or one the CA signed but certgate has no record of;
   * both are refused, and audited, since either means someone holds what they should not.
   */
  private async refuseOurIssuers(cert: ForeignCertificate, by: AuditContext): Promise<void> {
    const cas = (await this.store.cas.list()).map((ca) => ({ ca, caCert: new X509Certificate(ca.certificatePem) }));
    const itself = cas.find(({ caCert }) => caCert.raw.equals(cert.x509.raw));
    if (itself) throw conflict(`this is the certificate of certgate's CA ${itself.ca.name} (${itself.ca.id}); only certificates of other CAs are imported`);
    for (const { ca, caCert } of cas) {
      const signed = signatureVerifies(cert.x509, caCert);
      if (!signed && !namesAsIssuer(cert, caCert)) continue;
      const ours = signed ? await this.store.certificates.getBySerial(ca.id, cert.serialNumber) : undefined;
      if (ours && new X509Certificate(ours.certificatePem).raw.equals(cert.x509.raw)) {
        throw conflict(`this certificate was issued by certgate's CA ${ca.name}, so it is in the inventory already as ${ours.id}; only certificates of other CAs are imported`);
      }
      const reason = signed
        ? `it is signed by certgate's CA ${ca.name}, but certgate has no record of it (serial ${cert.serialNumber})`
        : `it names certgate's CA ${ca.name} as its issuer, but its signature does not verify under that CA`;
      await this.store.audit.append({
        ...by,
        action: AUDIT.certificateImport,
        target: ca.id,
        outcome: 'refused',
        detail: { reason: signed ? 'unknownCertificateOfOurCa' : 'forgedIssuer', issuer: cert.issuer, serial: cert.serialNumber, fingerprint256: cert.x509.fingerprint256 },
      });
      throw unprocessable(`certificate refused: ${reason}; certificates that name one of certgate's CAs as issuer are not imported`);
    }
  }

  /**
   * The inventory counted for a compliance review: what `filter` admits (the caller narrows it to
   * what the credential may read, as for the list), at `now`, with product and CA names.
   */
  async report(filter: InventoryFilter, now: Date): Promise<InventoryReportJson> {
    const [counts, products, cas] = await Promise.all([this.store.inventory.report({ ...filter, now }), this.store.products.list(), this.store.cas.list()]);
    const productNames = new Map(products.map((p) => [p.id, p.name]));
    const caNames = new Map(cas.map((c) => [c.id, c.name]));
    return inventoryReportJson(counts, { product: (id) => productNames.get(id), ca: (id) => caNames.get(id) }, now);
  }

  /** The dashboard's series over what `filter` admits (narrowed by the caller as for the list). */
  timeline(filter: InventoryFilter, spans: { days: number; weeks: number; now: Date }): Promise<InventoryTimeline> {
    return this.store.inventory.timeline(filter, spans);
  }

  /** Changes the fields given (see InventoryEdit); custom fields are checked against the product's declarations. */
  async update(id: string, edit: InventoryEdit, by: AuditContext, authorize: AuthorizeOn): Promise<InventoryRecord> {
    const existing = await this.listed(id);
    authorize(existing.caId);
    if (edit.owner === undefined && edit.notes === undefined && edit.customFields === undefined) throw badRequest('nothing to change: give owner, notes or customFields');
    if (edit.customFields) await this.checkEdit(existing, edit.customFields);
    const changed = Object.keys(edit).filter((k) => edit[k as keyof InventoryEdit] !== undefined);
    const updated = await this.store.inventory.update(id, edit, this.entry(by, AUDIT.certificateEdit, id, { fields: changed, ...(edit.customFields ? { customFields: Object.keys(edit.customFields) } : {}) }));
    if (!updated) throw notFound(`certificate ${id} not found`);
    return updated;
  }

  /** `renewedBy`: the successor's id, or a note about a renewal that happened elsewhere. */
  async markRenewed(id: string, renewedBy: string, by: AuditContext, authorize: AuthorizeOn): Promise<InventoryRecord> {
    const existing = await this.listed(id);
    authorize(existing.caId);
    if (renewedBy === id) throw unprocessable('a certificate cannot be renewed by itself');
    const updated = await this.store.inventory.markRenewed(id, renewedBy, this.entry(by, AUDIT.certificateMarkRenewed, id, { renewedBy }));
    if (!updated) throw notFound(`certificate ${id} not found`);
    return updated;
  }

  /** Records another CA's revocation of a certificate imported from it. */
  async markRevoked(input: MarkRevokedInput, by: AuditContext, authorize: AuthorizeOn): Promise<InventoryRecord> {
    const serial = serialFromText(input.serialNumber, (reason) => badRequest(`serialNumber: ${reason}`));
    const revokedAt = input.revokedAt ?? new Date();
    if (revokedAt.getTime() > Date.now() + CLOCK_SKEW_MS) throw unprocessable('revokedAt is in the future');
    let found: InventoryRecord | undefined;
    for (const issuer of storedDnCandidates(input.issuer)) {
      found = await this.store.inventory.findImported(issuer, serial);
      if (found) break;
    }
    if (!found) throw notFound(`no imported certificate with serial ${serial} from issuer ${input.issuer}`);
    authorize(null);
    const alreadyRevoked = (r: InventoryRecord) => conflict(`certificate ${r.id} is marked revoked already (${r.revocationReason})`);
    if (found.revokedAt) throw alreadyRevoked(found);
    const issuer = found.issuer as string;
    const revoked = await this.store.inventory.markRevoked(
      issuer,
      serial,
      { reason: input.reason, revokedAt },
      this.entry(by, AUDIT.certificateMarkRevoked, found.id, { issuer, serial, reason: input.reason, revokedAt: revokedAt.toISOString() }),
    );
    if (revoked) return revoked;
    const now = await this.store.inventory.get(found.id);
    throw now ? alreadyRevoked(now) : notFound(`certificate ${found.id} not found`);
  }

  /**
   * Takes a certificate out of the inventory: an imported one is deleted; one of ours only once it
   * has expired, and then only hidden: its revocation stays on the CRL and in OCSP.
   */
  async remove(id: string, by: AuditContext, authorize: AuthorizeOn): Promise<'deleted' | 'hidden'> {
    const existing = await this.listed(id);
    authorize(existing.caId);
    const result = await this.store.inventory.remove(
      id,
      new Date(),
      this.entry(by, AUDIT.certificateRemove, id, { source: existing.source, ca: existing.caId, serial: existing.serialNumber }),
    );
    if (result === 'stillValid') {
      throw conflict(`certificate ${id} is valid until ${existing.validTo.toISOString()}: one of certgate's certificates leaves the inventory only once it has expired`);
    }
    if (!result) throw notFound(`certificate ${id} not found`);
    return result.removal;
  }

  /** Where the certificate is deployed; `authorize` gets its CA (null: imported). */
  async locations(certificateId: string, authorize: AuthorizeOn): Promise<DeploymentLocation[]> {
    authorize((await this.listed(certificateId)).caId);
    return this.store.inventory.listLocations(certificateId);
  }

  async addLocation(certificateId: string, fields: LocationFields, by: AuditContext, authorize: AuthorizeOn): Promise<DeploymentLocation> {
    authorize((await this.listed(certificateId)).caId);
    if ((await this.store.inventory.listLocations(certificateId)).length >= MAX_LOCATIONS) {
      throw unprocessable(`certificate ${certificateId} has ${MAX_LOCATIONS} locations already`);
    }
    const id = newId();
    const added = await this.store.inventory.insertLocation(
      { id, certificateId, ...fields },
      this.entry(by, AUDIT.locationAdd, certificateId, { location: id, host: fields.host, kind: fields.kind }),
    );
    if (!added) throw notFound(`certificate ${certificateId} not found`);
    return added;
  }

  async updateLocation(certificateId: string, locationId: string, fields: LocationFields, by: AuditContext, authorize: AuthorizeOn): Promise<DeploymentLocation> {
    authorize((await this.listed(certificateId)).caId);
    const updated = await this.store.inventory.updateLocation(
      certificateId,
      locationId,
      fields,
      this.entry(by, AUDIT.locationEdit, certificateId, { location: locationId, host: fields.host, kind: fields.kind }),
    );
    if (!updated) throw notFound(`location ${locationId} of certificate ${certificateId} not found`);
    return updated;
  }

  async removeLocation(certificateId: string, locationId: string, by: AuditContext, authorize: AuthorizeOn): Promise<void> {
    authorize((await this.listed(certificateId)).caId);
    const removed = await this.store.inventory.removeLocation(certificateId, locationId, this.entry(by, AUDIT.locationRemove, certificateId, { location: locationId }));
    if (!removed) throw notFound(`location ${locationId} of certificate ${certificateId} not found`);
  }

  private async listed(id: string): Promise<InventoryRecord> {
    const record = await this.store.inventory.get(id);
    if (!record) throw notFound(`certificate ${id} not found`);
    return record;
  }

  private single(pem: string): Buffer {
    const ders = certificatesInPemOrRefuse(pem, 'certificatePem');
    if (ders.length !== 1) throw badRequest(`certificatePem holds ${ders.length} certificates: give the certificate in certificatePem and its issuers in chainPem`);
    return ders[0] as Buffer;
  }

  /** One of ours: the product's declarations; an imported one: free-form fields within the same bounds. */
  private async checkEdit(existing: InventoryRecord, patch: NonNullable<InventoryEdit['customFields']>): Promise<void> {
    const values: CustomFieldValues = {};
    const removed: string[] = [];
    for (const [name, value] of Object.entries(patch)) {
      if (value === null) removed.push(name);
      else values[name] = value;
    }
    const product = existing.productId ? await this.store.products.get(existing.productId) : undefined;
    if (!product) {
      const merged = { ...existing.customFields, ...values };
      for (const name of removed) delete merged[name];
      this.checkFreeFormFields(merged);
      return;
    }
    const defs = parseProductTemplate(product.template).customFields;
    const problems = customFieldProblems(defs, values, true);
    for (const name of removed) {
      if (defs.some((d) => d.name === name && d.required)) problems.push(`custom field "${name}" is required by this product: it can be changed, not removed`);
    }
    if (problems.length > 0) throw refused('unprocessable', { code: 'policy', rule: 'customFields', detail: problems.join('; ') });
  }

  private checkFreeFormFields(values: CustomFieldValues): void {
    const problems: string[] = [];
    const names = Object.keys(values);
    if (names.length > MAX_CUSTOM_FIELDS) problems.push(`at most ${MAX_CUSTOM_FIELDS} custom fields`);
    for (const [name, value] of Object.entries(values)) {
      if (!FREE_FORM_FIELD_NAME.test(name)) problems.push(`custom field name "${name.slice(0, 80)}" must be a letter then up to 63 letters, digits or _`);
      else if (typeof value === 'string' && value.length > MAX_CUSTOM_FIELD_LENGTH) problems.push(`custom field "${name}" is longer than ${MAX_CUSTOM_FIELD_LENGTH} characters`);
      else if (typeof value === 'number' && !Number.isFinite(value)) problems.push(`custom field "${name}" must be a finite number`);
    }
    if (problems.length > 0) throw refused('unprocessable', { code: 'policy', rule: 'customFields', detail: problems.join('; ') });
  }

  private entry(by: AuditContext, action: string, target: string, detail: Record<string, unknown>): AuditEntryInput {
    return { ...by, action, target, outcome: 'success', detail };
  }
}

function certificatesInPemOrRefuse(text: string, what: string): Buffer[] {
  try {
    return certificatesInPem(text, what);
  } catch (e) {
    if (e instanceof ForeignCertificateError) throw badRequest(e.message);
    throw e;
  }
}

function readForeignCertificateOrRefuse(der: Buffer, what: string) {
  try {
    return readForeignCertificate(der);
  } catch (e) {
    if (e instanceof ForeignCertificateError) throw badRequest(`${what}: ${e.message}`);
    throw e;
  }
}

/** The CA's key signed `cert`, whatever issuer name `cert` carries. */
function signatureVerifies(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/**
 * `cert` names `ca` as its issuer: as OpenSSL matches names (canonical form, so case and spacing
 * aside), or as certgate prints them, compared the same way. Either is enough to claim to be
 * certgate's, and an authority key identifier that points elsewhere changes nothing.
 */
function namesAsIssuer(cert: ForeignCertificate, ca: X509Certificate): boolean {
  const canonical = (dn: string): string => dn.toLowerCase().replace(/\s+/g, ' ').trim();
  let caSubject: string;
  try {
    caSubject = readForeignCertificate(ca.raw).subject;
  } catch {
    caSubject = ca.subject;
  }
  if (canonical(cert.issuer) === canonical(caSubject)) return true;
  try {
    return cert.x509.checkIssued(ca);
  } catch {
    return false;
  }
}
