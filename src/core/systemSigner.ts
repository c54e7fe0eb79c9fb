// The one way the gateway issues certificates to itself (SCEP RA, delegated OCSP signers, its own
// TLS certificate). Front-ends never reach a CA: they ask this service, which signs with the CA,
// records the certificate under the CA's reserved system product (so it is in the inventory, and
// in the CRL and OCSP like every certificate of ours) and audits it, in one transaction.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { AUDIT, SYSTEM_ACTOR } from '../audit/actions.js';
import type { CaRegistry } from '../ca/registry.js';
import { randomSerial, type SubjectAltNameSet } from '../pki/certificate.js';
import { readSpki } from '../pki/spki.js';
import { parseProductTemplate } from '../policy/productSchema.js';
import type { Store } from '../store/types.js';
import { newId } from './ids.js';
import { systemProductId, systemProductName } from './systemProducts.js';
import type { ExtendedKeyUsage, KeyAlgorithm, KeyUsage } from './types.js';

/** What the certificate is for; recorded with it and in its audit entry. */
export type SystemCertificatePurpose = 'scep-ra' | 'ocsp-signer' | 'gateway-tls';

export interface SystemCertificateRequest {
  caId: string;
  purpose: SystemCertificatePurpose;
  /** The front-end that asked ('scep', 'status'), or 'system' for the gateway itself; audited. */
  protocol: string;
  commonName: string;
  /** The subject, DER; it carries commonName. */
  subjectDer: Buffer;
  /** The key the certificate is for (a private key stands for its public half). */
  publicKey: KeyObject;
  san?: SubjectAltNameSet;
  notBefore: Date;
  notAfter: Date;
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
  ocspNoCheck?: boolean;
  noStatusPointers?: boolean;
}

export interface SystemCertificate {
  /** The inventory record's id. */
  id: string;
  serialHex: string;
  der: Buffer;
  pem: string;
  notBefore: Date;
  /** Clamped to the CA's own notAfter. */
  notAfter: Date;
  /** The issuing CA's certificate and its parents, leaf-most first. */
  chainPem: readonly string[];
}

/** What front-ends are given: issuance of the gateway's own certificates, and nothing else of a CA. */
export interface SystemSigning {
  issue(request: SystemCertificateRequest): Promise<SystemCertificate>;
}

const NO_NAMES: SubjectAltNameSet = { dns: [], ip: [], email: [], uri: [] };

function keyAlgorithmOf(spkiDer: Buffer): KeyAlgorithm {
  // The inventory column is a KeyAlgorithm; a system key is always one we generated, of these.
  return readSpki(spkiDer).keyAlgorithm as KeyAlgorithm;
}

export class SystemSigner implements SystemSigning {
  /** Per CA, once its system product is known to exist. */
  private readonly products = new Map<string, Promise<string>>();

  constructor(
    private readonly store: Store,
    private readonly cas: CaRegistry,
    private readonly log?: Logger,
  ) {}

  async issue(request: SystemCertificateRequest): Promise<SystemCertificate> {
    const productId = await this.productOf(request.caId);
    const ca = await this.cas.get(request.caId);
    const spkiDer = createPublicKey(request.publicKey).export({ format: 'der', type: 'spki' });
    const san = request.san ?? NO_NAMES;
    // Drawn here, not by the backend, so that the serial is the one recorded whatever the backend.
    const serial = randomSerial();
    const issued = await ca.issue({
      serial,
      subjectDer: request.subjectDer,
      spkiDer,
      san,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      keyUsage: request.keyUsage,
      extendedKeyUsage: request.extendedKeyUsage,
      ...(request.ocspNoCheck ? { ocspNoCheck: true } : {}),
      ...(request.noStatusPointers ? { noStatusPointers: true } : {}),
    });
    const id = newId();
    await this.store.certificates.insertSystemIssued(
      {
        id,
        caId: request.caId,
        productId,
        requestId: null,
        serialNumber: issued.serialHex,
        commonName: request.commonName,
        sanDns: san.dns,
        sanIp: san.ip,
        sanEmail: san.email,
        sanUri: san.uri,
        keyAlgorithm: keyAlgorithmOf(spkiDer),
        validFrom: issued.notBefore,
        validTo: issued.notAfter,
        certificatePem: issued.pem,
        owner: null,
        notes: `certgate ${request.purpose}`,
        customFields: {},
        supersedes: null,
      },
      {
        actor: SYSTEM_ACTOR,
        protocol: request.protocol,
        sourceIp: null,
        action: AUDIT.certificateSystemIssue,
        target: id,
        outcome: 'success',
        detail: {
          ca: request.caId,
          product: productId,
          purpose: request.purpose,
          serial: issued.serialHex,
          names: [request.commonName, ...san.dns, ...san.ip],
          notAfter: issued.notAfter.toISOString(),
        },
      },
    );
    this.log?.info({ ca: request.caId, purpose: request.purpose, serial: issued.serialHex }, 'issued a system certificate');
    return { id, serialHex: issued.serialHex, der: issued.der, pem: issued.pem, notBefore: issued.notBefore, notAfter: issued.notAfter, chainPem: ca.chainPem };
  }

  /** The CA's system product, made (and audited) on its first system certificate. */
  private productOf(caId: string): Promise<string> {
    let p = this.products.get(caId);
    if (!p) {
      p = this.ensureProduct(caId);
      this.products.set(caId, p);
      p.catch(() => this.products.delete(caId));
    }
    return p;
  }

  private async ensureProduct(caId: string): Promise<string> {
    const id = systemProductId(caId);
    if (await this.store.products.get(id)) return id;
    if (!(await this.store.cas.get(caId))) throw new Error(`CA ${caId} not found`);
    // Never issued under (the list front-ends resolve products from leaves it out); a template is
    // stored only because every product has one, and it waits for an operator should anything slip.
    const template = parseProductTemplate({ requiresApproval: true, extendedKeyUsages: ['clientAuth'] });
    try {
      await this.store.products.insert(
        { id, name: systemProductName(caId), caId, template },
        { actor: SYSTEM_ACTOR, protocol: 'system', sourceIp: null, action: AUDIT.productCreate, target: id, outcome: 'success', detail: { name: systemProductName(caId), ca: caId, system: true } },
      );
    } catch (e) {
      // Another process made it first.
      if (!(await this.store.products.get(id))) throw e;
    }
    return id;
  }
}
