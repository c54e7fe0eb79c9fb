// The SCEP registration authority of each CA: an RSA-2048 certificate issued by the CA itself
// (keyUsage digitalSignature + keyEncipherment, no EKU, not a CA), to which clients encrypt their
// requests and with which CertReps are signed. An EC CA cannot decrypt RSA key transport, and a CA
// key should sign certificates and CRLs only. The core's signer issues it (recorded under the CA's
// system product, audited) and its sealing keeps the key, encrypted at rest like a CA key; a
// successor is issued once a third of the lifetime is left, and earlier RA certificates keep
// decrypting until they expire (a client may still hold one from an earlier GetCACert). When the
// operator names a PKCS#11 token (CERTGATE_SCEP_RA_PKCS11_*), new RA keys are made in it instead and
// the record keeps only their reference; the token decrypts and signs for them.
import { generateKeyPair, type KeyObject } from 'node:crypto';
import type * as pkijs from 'pkijs';
import type { Logger } from 'pino';
import { newId } from '../../src/core/ids.js';
import type { Sealing } from '../../src/core/sealing.js';
import type { SystemSigning } from '../../src/core/systemSigner.js';
import type { TokenKeyReference, TokenKeyStore } from '../../src/core/tokenKeys.js';
import type { CaRecord } from '../../src/core/types.js';
import { encodeName } from '../../src/pki/name.js';
import { OID } from '../../src/pki/oids.js';
import { fromPem } from '../../src/pki/pem.js';
import type { DigestName } from './algorithms.js';
import { certRef, parseCertificate, type CertRef } from './certRef.js';
import type { RaRecord, ScepDb } from './db.js';

/** An RA key in a token: it decrypts and signs there, on this thread (it cannot go to the CMS threads). */
export interface RaTokenKey {
  /** RSA PKCS#1 v1.5; null when the token refuses the ciphertext. */
  decrypt(ciphertext: Buffer): Promise<Buffer | null>;
  sign(digest: DigestName, data: Buffer): Promise<Buffer>;
}

export interface LoadedRa extends CertRef {
  id: string;
  serialHex: string;
  cert: pkijs.Certificate;
  /** Exactly one of `key` (software, sealed in the record) and `tokenKey` is set. */
  key: KeyObject | null;
  tokenKey: RaTokenKey | null;
  notAfter: Date;
  /** When to issue the successor. */
  renewAt: number;
}

interface CaRas {
  /** Every live RA of the CA, newest first; [0] is the one to hand out and sign with. */
  all: LoadedRa[];
  loadedAt: number;
}

/** How long a process trusts its list of a CA's RAs before looking for one another process issued. */
const RELOAD_MS = 60_000;
/** The least time between two reloads asked for by requests for an RA we do not know. */
const MIN_RELOAD_MS = 5_000;
/**
 * A successor is not issued more often than this, whatever the CA's remaining life (an RA clamped
 * to a CA about to expire would otherwise be due again at once); a third of the lifetime, for
 * lifetimes under three hours.
 */
const MIN_RENEWAL_INTERVAL_MS = 3_600_000;

export class RaCertificates {
  private readonly byCa = new Map<string, Promise<CaRas>>();
  /** Keys are decrypted once per RA (scrypt is slow on purpose). */
  private readonly keys = new Map<string, KeyObject>();

  constructor(
    private readonly db: ScepDb,
    private readonly signer: SystemSigning,
    private readonly caById: (id: string) => Promise<CaRecord | undefined>,
    private readonly sealing: Sealing,
    private readonly lifetimeMs: number,
    private readonly log: Logger,
    /** The deployment's clock (CoreServices.now): lifetimes and renewal are read on it. */
    private readonly now: () => number = () => Date.now(),
    /** The token new RA keys are made in (and token-held ones used in); null: software keys. */
    private readonly token: (() => Promise<TokenKeyStore>) | null = null,
  ) {}

  /** The RA to publish and sign with now, issuing one (or its successor) when due. */
  async current(caId: string): Promise<LoadedRa> {
    const ras = await this.ofCa(caId);
    const newest = ras.all[0] as LoadedRa;
    if (this.now() < newest.renewAt) return newest;
    return (await this.refresh(caId, true)).all[0] as LoadedRa;
  }

  /** Every live RA of the CA (a request may be encrypted to an older one). */
  async all(caId: string): Promise<LoadedRa[]> {
    return (await this.ofCa(caId)).all;
  }

  /**
   * The live RAs again from the store: a request encrypted to an RA another process issued. At
   * most every few seconds, so that requests for no RA of ours cannot make every request a read.
   */
  async reload(caId: string): Promise<LoadedRa[]> {
    const cached = await this.byCa.get(caId)?.catch(() => undefined);
    if (cached && this.now() - cached.loadedAt < MIN_RELOAD_MS) return cached.all;
    return (await this.refresh(caId, false)).all;
  }

  private async ofCa(caId: string): Promise<CaRas> {
    const cached = this.byCa.get(caId);
    if (cached) {
      const ras = await cached.catch(() => undefined);
      if (ras && this.now() - ras.loadedAt < RELOAD_MS && ras.all.length && this.now() < (ras.all[0] as LoadedRa).notAfter.getTime()) return ras;
      if (this.byCa.get(caId) !== cached) return this.ofCa(caId);
    }
    return this.refresh(caId, false);
  }

  private refresh(caId: string, renew: boolean): Promise<CaRas> {
    const next = this.load(caId, renew);
    this.byCa.set(caId, next);
    next.catch(() => this.byCa.delete(caId));
    return next;
  }

  private async load(caId: string, renew: boolean): Promise<CaRas> {
    const now = this.now();
    let records = this.usable(await this.db.liveRas(caId, now));
    const newest = records[0];
    const due = !newest || (renew && now >= this.loaded(newest).renewAt && now - newest.createdAt.getTime() >= this.minRenewalMs());
    if (due) {
      await this.issue(caId);
      records = this.usable(await this.db.liveRas(caId, this.now()));
    }
    if (!records.length) throw new Error(`no RA certificate for CA ${caId}`);
    return { all: records.map((r) => this.loaded(r)), loadedAt: this.now() };
  }

  /**
   * The RAs this process can use: one whose key is in a token is passed over (and a software
   * successor issued) once the token setting is gone, rather than failing every request.
   */
  private usable(records: RaRecord[]): RaRecord[] {
    if (this.token) return records;
    const own = records.filter((r) => r.keyRef === null);
    if (own.length < records.length) this.log.warn({ ras: records.filter((r) => r.keyRef !== null).map((r) => r.id) }, 'SCEP RA keys in a PKCS#11 token are passed over: CERTGATE_SCEP_RA_PKCS11_MODULE names no token');
    return own;
  }

  private minRenewalMs(): number {
    return Math.min(MIN_RENEWAL_INTERVAL_MS, this.lifetimeMs / 3);
  }

  private loaded(record: RaRecord): LoadedRa {
    const tokenKey = record.keyRef === null ? null : this.tokenKeyOf(record);
    let key = this.keys.get(record.id) ?? null;
    if (!key && !tokenKey) {
      key = this.sealing.openKey(record.encryptedKey);
      this.keys.set(record.id, key);
    }
    const der = fromPem(record.certificatePem, ['CERTIFICATE']);
    const cert = parseCertificate(der);
    const life = record.notAfter.getTime() - record.notBefore.getTime();
    return {
      id: record.id,
      serialHex: record.serialHex,
      ...certRef(der),
      cert,
      key,
      tokenKey,
      notAfter: record.notAfter,
      renewAt: Math.max(record.notAfter.getTime() - life / 3, record.createdAt.getTime() + this.minRenewalMs()),
    };
  }

  private tokenKeyOf(record: RaRecord): RaTokenKey {
    const ref = JSON.parse(record.keyRef as string) as TokenKeyReference;
    const store = (): Promise<TokenKeyStore> => {
      // usable() keeps token RAs out when there is no token: this is a fault of ours.
      if (!this.token) throw new Error(`the key of SCEP RA ${record.id} is in a PKCS#11 token and no token is set`);
      return this.token();
    };
    return {
      decrypt: async (ciphertext) => (await store()).decryptPkcs1(ref, ciphertext),
      sign: async (digest, data) => (await store()).signPkcs1(ref, digest, data),
    };
  }

  /** A new RA key: in the token (its reference to keep) or in software (sealed). */
  private async newKey(id: string): Promise<{ publicKey: KeyObject; encryptedKey: string; keyRef: string | null }> {
    if (this.token) {
      const { ref, publicKey } = await (await this.token()).generateRsa(`certgate-scep-ra-${id}`);
      return { publicKey, encryptedKey: '', keyRef: JSON.stringify(ref) };
    }
    const privateKey = await new Promise<KeyObject>((resolve, reject) =>
      generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, _pub, priv) => (err ? reject(err) : resolve(priv))),
    );
    return { publicKey: privateKey, encryptedKey: this.sealing.sealKey(privateKey), keyRef: null };
  }

  private async issue(caId: string): Promise<void> {
    const caRecord = await this.caById(caId);
    const id = newId();
    const key = await this.newKey(id);
    // Back-dated for clock skew, but never by a large part of a (test-sized) lifetime.
    const notBefore = new Date(this.now() - Math.min(60_000, this.lifetimeMs / 10));
    const commonName = `${caRecord?.name ?? caId} SCEP RA`;
    const issued = await this.signer.issue({
      caId,
      purpose: 'scep-ra',
      commonName,
      subjectDer: encodeName([
        { type: OID.organizationName, value: 'certgate' },
        { type: OID.commonName, value: commonName },
      ]),
      publicKey: key.publicKey,
      notBefore,
      notAfter: new Date(notBefore.getTime() + this.lifetimeMs),
    });
    await this.db.insertRa({
      id,
      caId,
      serialHex: issued.serialHex,
      certificatePem: issued.pem,
      encryptedKey: key.encryptedKey,
      keyRef: key.keyRef,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      createdAt: new Date(this.now()),
    });
    this.log.info({ ca: caId, serial: issued.serialHex, notAfter: issued.notAfter.toISOString(), keyIn: key.keyRef ? 'token' : 'software' }, 'issued a SCEP RA certificate');
  }
}
