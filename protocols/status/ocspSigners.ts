// Each CA answers OCSP through a delegated signer (RFC 6960 §4.2.2.2): a short-lived P-256
// certificate issued by the CA itself (clients check that the signer's issuer is the CertID's),
// with id-kp-OCSPSigning and keyUsage digitalSignature, not a CA. It carries id-pkix-ocsp-nocheck,
// so clients do not ask about the signer's own status; that is why it lives days, not years. The
// core's signer issues it (recorded under the CA's system product, audited); its key is sealed by
// the core like a CA key; a successor is issued once a third of its life remains. A CA whose key
// is in a PKCS#11 token signs its answers itself, through the core (no key is made for a delegated
// signer there, and none would be kept outside the token).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { newId } from '../../src/core/ids.js';
import type { Sealing } from '../../src/core/sealing.js';
import type { SystemSigning } from '../../src/core/systemSigner.js';
import type { OcspSignerRecord } from '../../src/core/types.js';
import { encodeName } from '../../src/pki/name.js';
import { responderKeyHash, type OcspAnswerContent } from '../../src/pki/ocsp.js';
import { OID } from '../../src/pki/oids.js';
import { fromPem } from '../../src/pki/pem.js';
import type { OcspSignerStore } from '../../src/store/types.js';
import type { StatusReads } from './reads.js';

export interface LoadedOcspSigner {
  certificateDer: Buffer;
  keyHash: Buffer;
  /** The delegated signer's key, or the CA's own signing (which brings its certificate and key hash). */
  signing: { key: KeyObject } | { byCa: (content: OcspAnswerContent) => Promise<Buffer> };
  notAfter: Date;
  /** When to issue the successor. */
  renewAt: number;
}

export class OcspSigners {
  private readonly loaded = new Map<string, Promise<LoadedOcspSigner>>();

  constructor(
    private readonly store: OcspSignerStore,
    private readonly signer: SystemSigning,
    private readonly reads: Pick<StatusReads, 'caById'>,
    private readonly sealing: Sealing,
    private readonly lifetimeMs: number,
  ) {}

  /** The signer to use now for this CA, issuing or rotating it when due. */
  async current(caId: string): Promise<LoadedOcspSigner> {
    const cached = this.loaded.get(caId);
    if (cached) {
      const signer = await cached.catch(() => undefined);
      if (signer && Date.now() < signer.renewAt) return signer;
      if (this.loaded.get(caId) !== cached) return this.current(caId);
    }
    const next = this.loadOrIssue(caId);
    this.loaded.set(caId, next);
    next.catch(() => this.loaded.delete(caId));
    return next;
  }

  private async loadOrIssue(caId: string): Promise<LoadedOcspSigner> {
    const byCa = await this.signer.caOcspSigning?.(caId);
    if (byCa) {
      const ca = await this.reads.caById(caId);
      if (!ca) throw new Error(`CA ${caId} not found`);
      const certificateDer = fromPem(ca.certificatePem, ['CERTIFICATE']);
      return { certificateDer, keyHash: responderKeyHash(certificateDer), signing: { byCa }, notAfter: ca.notAfter, renewAt: Number.POSITIVE_INFINITY };
    }
    const stored = await this.store.latest(caId);
    const usable = stored && this.toLoaded(stored);
    if (usable && Date.now() < usable.renewAt) return usable;
    return this.toLoaded(await this.issue(caId));
  }

  private toLoaded(record: OcspSignerRecord): LoadedOcspSigner {
    const certificateDer = fromPem(record.certificatePem, ['CERTIFICATE']);
    const life = record.notAfter.getTime() - record.notBefore.getTime();
    return {
      certificateDer,
      keyHash: responderKeyHash(certificateDer),
      signing: { key: this.sealing.openKey(record.encryptedKey) },
      notAfter: record.notAfter,
      renewAt: record.notAfter.getTime() - life / 3,
    };
  }

  private async issue(caId: string): Promise<OcspSignerRecord> {
    const caRecord = await this.reads.caById(caId);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    // Back-dated for clock skew, but never by a large part of a (test-sized) lifetime.
    const notBefore = new Date(Date.now() - Math.min(60_000, this.lifetimeMs / 10));
    const commonName = `${caRecord?.name ?? caId} OCSP Responder`;
    const issued = await this.signer.issue({
      caId,
      purpose: 'ocsp-signer',
      commonName,
      subjectDer: encodeName([{ type: OID.commonName, value: commonName }]),
      publicKey: privateKey,
      notBefore,
      notAfter: new Date(notBefore.getTime() + this.lifetimeMs),
    });
    return this.store.insert({
      id: newId(),
      caId,
      certificatePem: issued.pem,
      encryptedKey: this.sealing.sealKey(privateKey),
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
    });
  }
}
