// The CMP signer of each CA: an EC P-256 key and a certificate the CA issues to certgate (keyUsage
// digitalSignature, no EKU, no status pointers), with which CMP answers to signature-protected
// requests are signed (RFC 9483 §3.1). A CA key should sign certificates and CRLs only. The core's
// signer issues it (recorded under the CA's system product, audited) and its sealing keeps the key
// in cmp_signers. A successor is issued once a third of the lifetime is left; the older one stays
// valid until it expires (a client may have pinned it from an earlier answer). Processes that race
// to issue one each keep theirs on record and all sign with the newest.
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { BACKEND_NAMES, capabilitiesOf } from '../../src/core/caCapabilities.js';
import { newId } from '../../src/core/ids.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { encodeName } from '../../src/pki/name.js';
import { OID } from '../../src/pki/oids.js';
import { fromPem } from '../../src/pki/pem.js';
import type { CmpDb, SignerRecord } from './db.js';

/** What signs a CMP answer for one CA. */
export interface CmpSigner {
  key: KeyObject;
  certificateDer: Buffer;
  /** The CA's certificate and its parents, leaf-most first (the signer's own certificate is not in it). */
  chainDer: Buffer[];
  /** The signer certificate's subject: the answer's sender. */
  subjectDer: Buffer;
  /** Its subjectKeyIdentifier: the answer's senderKID. */
  subjectKeyId: Buffer | null;
}

/**
 * The CA has no CMP signer: it is unknown, or it cannot sign with a key certgate drives (an
 * upstream ACME CA certifies names for its subscribers, not a signer of ours). The message says
 * which, for the operator and the client.
 */
export class NoCmpSigner extends Error {
  override readonly name = 'NoCmpSigner';
  constructor(
    readonly caId: string,
    message: string,
  ) {
    super(message);
  }
}

export const CMP_SIGNER_COMMON_NAME = 'certgate CMP signer';

/** How long a process trusts what it read of a CA's signers before looking for one another process issued. */
const RELOAD_MS = 60_000;
/** How soon a successor that could not be issued is tried again, while its predecessor answers. */
const RENEWAL_RETRY_MS = 60_000;
/** Never a successor more often than this (a signer clamped to a CA about to expire would be due at once). */
const MIN_RENEWAL_INTERVAL_MS = 3_600_000;

interface Current {
  signer: CmpSigner;
  notAfter: number;
  /** When to issue the successor. */
  renewAt: number;
  loadedAt: number;
}

type Core = Pick<CoreServices, 'signer' | 'sealing' | 'cas' | 'queries' | 'log' | 'now'>;

export class CmpSigners {
  private readonly byCa = new Map<string, Promise<Current>>();
  /** Opened once per signer (the key envelope's scrypt is slow on purpose), by record id. */
  private readonly opened = new Map<string, Omit<CmpSigner, 'chainDer'>>();
  /** A CA's certificate and parents never change. */
  private readonly chains = new Map<string, Promise<Buffer[]>>();

  constructor(
    private readonly db: CmpDb,
    private readonly core: Core,
    /** Each signer certificate's lifetime (CERTGATE_CMP_SIGNER_DAYS). */
    private readonly lifetimeMs: number,
  ) {}

  /** The signer to answer with for this CA now, issuing one (or its successor) when due; NoCmpSigner when the CA can have none. */
  async current(caId: string): Promise<CmpSigner> {
    const entry = this.byCa.get(caId);
    const cached = await entry?.catch(() => undefined);
    const now = this.core.now();
    if (cached && now < cached.renewAt && now < cached.notAfter && now - cached.loadedAt < RELOAD_MS) return cached.signer;
    // Another call of this process began a load meanwhile: share it rather than issue twice.
    if (this.byCa.get(caId) !== entry) return this.current(caId);
    const next = this.load(caId);
    this.byCa.set(caId, next);
    next.catch(() => {
      if (this.byCa.get(caId) === next) this.byCa.delete(caId);
    });
    return (await next).signer;
  }

  private minRenewalMs(): number {
    return Math.min(MIN_RENEWAL_INTERVAL_MS, this.lifetimeMs / 3);
  }

  private renewAtOf(r: SignerRecord): number {
    const life = r.notAfter.getTime() - r.notBefore.getTime();
    return Math.max(r.notAfter.getTime() - life / 3, r.createdAt.getTime() + this.minRenewalMs());
  }

  private async load(caId: string): Promise<Current> {
    const ca = await this.core.queries.caById(caId);
    if (!ca) throw new NoCmpSigner(caId, `CA ${caId} does not exist: it has no CMP signer`);
    if (!capabilitiesOf(ca).signsLocally) throw new NoCmpSigner(caId, `CA "${ca.name}" is backed by ${BACKEND_NAMES[ca.backend]} and does not sign with a key certgate drives, so it has no CMP signer: use a product of a local CA for CMP`);
    let newest = (await this.db.liveSigners(caId, this.core.now()))[0];
    let renewAt = newest ? this.renewAtOf(newest) : 0;
    // Processes that find it due at once each issue one; all then answer with the newest on record.
    if (!newest || this.core.now() >= renewAt) {
      try {
        await this.issue(caId, ca.name);
      } catch (e) {
        if (!newest) throw e;
        this.core.log.warn({ err: (e as Error).message, ca: caId }, 'could not issue the successor of the CMP signer certificate');
      }
      const after = (await this.db.liveSigners(caId, this.core.now()))[0];
      if (after && after.id !== newest?.id) {
        newest = after;
        renewAt = this.renewAtOf(after);
      } else {
        // No successor on record: the signer still valid answers meanwhile, and one is tried again a little later.
        renewAt = this.core.now() + RENEWAL_RETRY_MS;
      }
    }
    if (!newest) throw new Error(`the CMP signer of CA ${caId} was issued but is not on record`);
    return {
      signer: { ...this.open(newest), chainDer: await this.chainOf(caId) },
      notAfter: newest.notAfter.getTime(),
      renewAt,
      loadedAt: this.core.now(),
    };
  }

  private open(record: SignerRecord): Omit<CmpSigner, 'chainDer'> {
    let signer = this.opened.get(record.id);
    if (!signer) {
      const certificateDer = fromPem(record.certificatePem, ['CERTIFICATE']);
      const { subjectDer, subjectKeyId } = readCertificateBasics(certificateDer);
      signer = { key: this.core.sealing.openKey(record.encryptedKey), certificateDer, subjectDer, subjectKeyId };
      this.opened.set(record.id, signer);
    }
    return signer;
  }

  private chainOf(caId: string): Promise<Buffer[]> {
    let chain = this.chains.get(caId);
    if (!chain) {
      chain = this.core.cas.chainOf(caId).then((pems) => pems.map((pem) => fromPem(pem, ['CERTIFICATE'])));
      chain.catch(() => this.chains.delete(caId));
      this.chains.set(caId, chain);
    }
    return chain;
  }

  private async issue(caId: string, caName: string): Promise<void> {
    const key = await new Promise<KeyObject>((resolve, reject) => generateKeyPair('ec', { namedCurve: 'prime256v1' }, (err, _pub, priv) => (err ? reject(err) : resolve(priv))));
    // Back-dated for clock skew, but never by a large part of a (test-sized) lifetime.
    const notBefore = new Date(this.core.now() - Math.min(60_000, this.lifetimeMs / 10));
    const issued = await this.core.signer.issue({
      caId,
      purpose: 'cmp-signer',
      commonName: CMP_SIGNER_COMMON_NAME,
      subjectDer: encodeName([
        { type: OID.organizationName, value: 'certgate' },
        // The CA's name tells apart the signers of several CAs (a DirectoryString holds 64 characters).
        { type: OID.organizationalUnitName, value: caName.slice(0, 64) },
        { type: OID.commonName, value: CMP_SIGNER_COMMON_NAME },
      ]),
      publicKey: key,
      notBefore,
      notAfter: new Date(notBefore.getTime() + this.lifetimeMs),
    });
    await this.db.insertSigner({
      id: newId(),
      caId,
      serialHex: issued.serialHex,
      certificatePem: issued.pem,
      encryptedKey: this.core.sealing.sealKey(key),
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      createdAt: new Date(this.core.now()),
    });
    this.core.log.info({ ca: caId, serial: issued.serialHex, notAfter: issued.notAfter.toISOString() }, 'issued a CMP signer certificate');
  }
}
