// The one way the gateway issues certificates to itself (SCEP RA, delegated OCSP signers, its own
// TLS certificate). Front-ends never reach a CA: they ask this service, which signs with the CA,
// records the certificate under the CA's reserved system product (so it is in the inventory, and
// in the CRL and OCSP like every certificate of ours) and audits it, in one transaction.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { AUDIT, SYSTEM_ACTOR } from '../audit/actions.js';
import type { CaRegistry } from '../ca/registry.js';
import type { OcspAnswerContent } from '../pki/ocsp.js';
import { randomSerial, type SubjectAltNameSet } from '../pki/certificate.js';
import { readSpki } from '../pki/spki.js';
import { parseProductTemplate } from '../policy/productSchema.js';
import type { Store } from '../store/types.js';
import { capabilitiesOf, requireCapability } from './caCapabilities.js';
import { notFound } from './errors.js';
import { newId } from './ids.js';
import { systemProductId, systemProductName } from './systemProducts.js';
import type { ExtendedKeyUsage, KeyAlgorithm, KeyUsage } from './types.js';

/** What the certificate is for; recorded with it and in its audit entry. */
export type SystemCertificatePurpose = 'scep-ra' | 'ocsp-signer' | 'cmp-signer' | 'gateway-tls';

/** What a purpose's certificate may say. The purpose decides, not the caller. */
interface Profile {
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
  /** id-pkix-ocsp-nocheck. */
  ocspNoCheck: boolean;
  /** Without CRL/OCSP pointers (a signer must not be checked through what it signs). */
  noStatusPointers: boolean;
  /** Whether the certificate may carry subjectAltNames. */
  names: boolean;
  /** Only the core itself (not a front-end) may ask for it. */
  coreOnly: boolean;
}

const PROFILES: Record<SystemCertificatePurpose, Profile> = {
  // Signs CertReps and receives the key transport of requests; no EKU, so that nothing that checks
  // purposes refuses it for signing.
  'scep-ra': { keyUsage: ['digitalSignature', 'keyEncipherment'], extendedKeyUsage: [], ocspNoCheck: false, noStatusPointers: true, names: false, coreOnly: false },
  // RFC 6960 §4.2.2.2: a delegated responder, never itself asked about.
  'ocsp-signer': { keyUsage: ['digitalSignature'], extendedKeyUsage: ['ocspSigning'], ocspNoCheck: true, noStatusPointers: true, names: false, coreOnly: false },
  // Signs CMP responses (RFC 9483 §3.1 protection); no EKU (OpenSSL's client checks keyUsage only).
  'cmp-signer': { keyUsage: ['digitalSignature'], extendedKeyUsage: [], ocspNoCheck: false, noStatusPointers: true, names: false, coreOnly: false },
  'gateway-tls': { keyUsage: ['digitalSignature'], extendedKeyUsage: ['serverAuth'], ocspNoCheck: false, noStatusPointers: false, names: true, coreOnly: true },
};

export interface SystemCertificateRequest {
  caId: string;
  purpose: SystemCertificatePurpose;
  commonName: string;
  /** The subject, DER; it carries commonName. */
  subjectDer: Buffer;
  /** The key the certificate is for (a private key stands for its public half). */
  publicKey: KeyObject;
  /** Only for purposes that carry names (the gateway's TLS certificate). */
  san?: SubjectAltNameSet;
  notBefore: Date;
  notAfter: Date;
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

/**
 * What front-ends are given: issuance of the gateway's own certificates, and nothing else of a CA.
 * Each front-end's is bound to its name (the audit entry says who asked) and cannot ask for the
 * core's own purposes.
 */
export interface SystemSigning {
  issue(request: SystemCertificateRequest): Promise<SystemCertificate>;
  /**
   * For a CA whose own key signs its OCSP answers (a key in a token: no delegated signer's key is
   * made there), what signs them: the core builds the whole answer, so nothing but an OCSP answer
   * is ever signed with the CA key this way. null for a CA answered through a delegated signer.
   */
  caOcspSigning?(caId: string): Promise<((content: OcspAnswerContent) => Promise<Buffer>) | null>;
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

  /** As the core itself (audited with protocol `system`). */
  issue(request: SystemCertificateRequest): Promise<SystemCertificate> {
    return this.issueAs('system', request, true);
  }

  /** The signer a front-end is given: audited under its name, refused the core's own purposes. */
  forProtocol(protocol: string): SystemSigning {
    return { issue: (request) => this.issueAs(protocol, request, false), caOcspSigning: (caId) => this.caOcspSigning(caId) };
  }

  async caOcspSigning(caId: string): Promise<((content: OcspAnswerContent) => Promise<Buffer>) | null> {
    // Decided from the record, so that answering for a software CA never loads (decrypts) its key
    // here: a CA that answers OCSP with no key certgate holds has no delegated signer to seal one for.
    const record = await this.store.cas.get(caId);
    if (!record || record.encryptedKey !== null || !capabilitiesOf(record).ocsp) return null;
    const ca = await this.cas.get(caId);
    return ca.signOcspResponse ? (content) => (ca.signOcspResponse as (c: OcspAnswerContent) => Promise<Buffer>).call(ca, content) : null;
  }

  private async issueAs(protocol: string, request: SystemCertificateRequest, core: boolean): Promise<SystemCertificate> {
    const profile = PROFILES[request.purpose] as Profile | undefined;
    if (!profile) throw new Error(`no such system certificate purpose ${JSON.stringify(request.purpose)}`);
    if (profile.coreOnly && !core) throw new Error(`${protocol} may not issue a ${request.purpose} certificate`);
    const san = request.san ?? NO_NAMES;
    if (!profile.names && san.dns.length + san.ip.length + san.email.length + san.uri.length > 0) throw new Error(`a ${request.purpose} certificate carries no names`);
    // An upstream CA certifies names for its subscribers; it would not issue an RA or OCSP
    // signer certificate of our profile, so no system product is made for it either.
    const record = await this.store.cas.get(request.caId);
    if (!record) throw notFound(`CA ${request.caId} not found`);
    requireCapability(record, 'signsLocally');
    const productId = await this.productOf(request.caId);
    const ca = await this.cas.get(request.caId);
    // Node's createPublicKey takes a private KeyObject but refuses a public one (a key a token made).
    const publicKey = request.publicKey.type === 'public' ? request.publicKey : createPublicKey(request.publicKey);
    const spkiDer = publicKey.export({ format: 'der', type: 'spki' });
    // Drawn here, not by the backend, so that the serial is the one recorded whatever the backend.
    const serial = randomSerial();
    const issued = await ca.issue({
      serial,
      subjectDer: request.subjectDer,
      spkiDer,
      san,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      keyUsage: profile.keyUsage,
      extendedKeyUsage: profile.extendedKeyUsage,
      ...(profile.ocspNoCheck ? { ocspNoCheck: true } : {}),
      ...(profile.noStatusPointers ? { noStatusPointers: true } : {}),
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
        protocol,
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
