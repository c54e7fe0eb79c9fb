import { generateKeyPair, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { AUDIT } from '../audit/actions.js';
import type { AuditContext, CaBackendKind, CaRecord, KeyAlgorithm } from '../core/types.js';
import { keyIdentifier, randomSerial, signCertificateAsync, type AnySigner } from '../pki/certificate.js';
import { readCertificateBasics } from '../pki/certInfo.js';
import { keyGenSpec } from '../pki/keys.js';
import { encodeName, parseDnString, parseNameDer } from '../pki/name.js';
import { fromPem, toPem } from '../pki/pem.js';
import { conflict } from '../core/errors.js';
import type { Store } from '../store/types.js';
import { decryptPrivateKey, encryptPrivateKey, envelopeSecretKind } from './keyProtection.js';
import type { StatusPointers } from './types.js';

const generateKeyPairAsync = promisify(generateKeyPair) as (
  type: 'ec' | 'rsa',
  options: { namedCurve?: string; modulusLength?: number },
) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;

export interface CreateCaOptions {
  name: string;
  /** e.g. "CN=certgate Root CA, O=certgate". Defaults to CN=<name>. */
  subject?: string;
  keyAlgorithm: KeyAlgorithm;
  validityDays: number;
  /** Issuing CAs name their parent; roots omit it. */
  parentId?: string;
  /** Protect this CA's key with its own passphrase instead of the master key. */
  passphrase?: string;
  /**
   * Where the parent publishes status (its CRL, OCSP, its certificate), printed into an issuing
   * CA's certificate so relying parties (strongSwan) can check the CA as they check leaves.
   */
  parentPointers?: StatusPointers | null;
}

export interface CaSecrets {
  masterKey: string;
  /** Passphrases of passphrase-protected CAs, by CA id or name. */
  passphrases?: Record<string, string>;
}

export function caSecretFor(ca: Pick<CaRecord, 'id' | 'name' | 'encryptedKey'>, secrets: CaSecrets): string {
  const kind = envelopeSecretKind(ca.encryptedKey);
  if (kind === null) throw new Error(`CA "${ca.name}" keeps its key outside certgate: there is nothing to decrypt`);
  if (kind === 'master') return secrets.masterKey;
  const p = secrets.passphrases?.[ca.id] ?? secrets.passphrases?.[ca.name];
  if (!p) throw new Error(`CA "${ca.name}" is protected by a passphrase and none is configured for it`);
  return p;
}

/** The sealed key of a CA whose key certgate holds; throws for one that keeps its key elsewhere. */
export function sealedKeyOf(ca: Pick<CaRecord, 'name' | 'encryptedKey' | 'backend'>): string {
  if (ca.encryptedKey === null || ca.backend !== 'local') throw new Error(`CA "${ca.name}" (${ca.backend}) does not sign with a key certgate holds`);
  return ca.encryptedKey;
}

export async function createCa(store: Store, opts: CreateCaOptions, secrets: CaSecrets, by: AuditContext): Promise<CaRecord> {
  if (await store.cas.getByName(opts.name)) throw new Error(`a CA named "${opts.name}" already exists`);
  const spec = keyGenSpec(opts.keyAlgorithm);
  const { privateKey } = await generateKeyPairAsync(spec.type, spec);
  const encryptedKey = opts.passphrase
    ? encryptPrivateKey(privateKey, opts.passphrase, 'passphrase')
    : encryptPrivateKey(privateKey, secrets.masterKey, 'master');
  return certifyCa(store, opts, secrets, by, {
    spkiDer: createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
    selfSigner: { key: privateKey, algorithm: opts.keyAlgorithm },
    encryptedKey,
    backend: 'local',
    backendConfig: null,
  });
}

/** A new CA's key, wherever it is kept, and what its record says about it. */
export interface NewCaKey {
  spkiDer: Buffer;
  /** Signs a root's own certificate. */
  selfSigner: AnySigner;
  encryptedKey: string | null;
  backend: CaBackendKind;
  backendConfig: Record<string, unknown> | null;
}

/** The signer of a CA record's key, wherever the key is (for signing a child CA's certificate). */
async function signerOf(ca: CaRecord, secrets: CaSecrets): Promise<AnySigner> {
  if (ca.backend === 'pkcs11') {
    // Loaded only for a token-kept parent: the PKCS#11 binding is native code most CLIs never need.
    const { tokenSignerOf } = await import('./pkcs11/backend.js');
    return tokenSignerOf(ca);
  }
  return { key: decryptPrivateKey(sealedKeyOf(ca), caSecretFor(ca, secrets)), algorithm: ca.keyAlgorithm };
}

/** A CA made under a parent must outlive at least this. */
const MIN_PARENT_LIFE_MS = 86_400_000;

/**
 * Why `parent` cannot certify a new CA now, or null. An issuing CA carries path length 0: a CA
 * under it would sign certificates no client accepts. An expired parent would make a CA that is
 * never valid (its notAfter is cut to the parent's).
 */
export function parentRefusal(parent: Pick<CaRecord, 'name' | 'kind' | 'certificatePem'>, now = Date.now()): string | null {
  if (parent.kind !== 'root') return `CA "${parent.name}" is an issuing CA: it may sign only end-entity certificates (path length 0); make the new CA under a root`;
  const { notAfter } = readCertificateBasics(fromPem(parent.certificatePem, ['CERTIFICATE']));
  if (notAfter.getTime() - now < MIN_PARENT_LIFE_MS) return `CA "${parent.name}" expires ${notAfter.toISOString()}: a CA under it would not be valid for a day`;
  return null;
}

/** Certifies a CA's key (itself for a root, its parent otherwise) and records the CA, audited. */
export async function certifyCa(store: Store, opts: CreateCaOptions, secrets: CaSecrets, by: AuditContext, key: NewCaKey): Promise<CaRecord> {
  const { spkiDer } = key;
  const subjectDer = encodeName(parseDnString(opts.subject ?? `CN=${opts.name}`));

  const notBefore = new Date(Date.now() - 60_000); // tolerate clock skew on relying parties
  let notAfter = new Date(notBefore.getTime() + opts.validityDays * 86_400_000);
  let issuer: { subjectDer: Buffer; keyId: Buffer | null; signer: AnySigner };
  if (opts.parentId) {
    const parent = await store.cas.get(opts.parentId);
    if (!parent) throw new Error(`parent CA ${opts.parentId} not found`);
    const refusal = parentRefusal(parent);
    if (refusal) throw conflict(refusal);
    const basics = readCertificateBasics(fromPem(parent.certificatePem, ['CERTIFICATE']));
    if (notAfter > basics.notAfter) notAfter = basics.notAfter;
    issuer = { subjectDer: basics.subjectDer, keyId: basics.subjectKeyId, signer: await signerOf(parent, secrets) };
  } else {
    issuer = { subjectDer, keyId: keyIdentifier(spkiDer), signer: key.selfSigner };
  }

  const der = await signCertificateAsync(
    {
      serial: randomSerial(),
      issuerDer: issuer.subjectDer,
      subjectDer,
      spkiDer,
      notBefore,
      notAfter,
      // Roots may sign any depth; an issuing CA signs only end entities.
      ca: opts.parentId ? { pathLength: 0 } : {},
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      extendedKeyUsage: [],
      ...(issuer.keyId ? { authorityKeyId: issuer.keyId } : {}),
      ...(opts.parentId && opts.parentPointers
        ? { crlUrls: [opts.parentPointers.crlUrl], ocspUrls: [opts.parentPointers.ocspUrl], caIssuerUrls: [opts.parentPointers.caIssuersUrl] }
        : {}),
    },
    issuer.signer,
  );

  const id = randomUUID();
  const kind = opts.parentId ? 'issuing' : 'root';
  return store.cas.insert(
    {
      id,
      name: opts.name,
      kind,
      parentId: opts.parentId ?? null,
      keyAlgorithm: opts.keyAlgorithm,
      subject: parseNameDer(subjectDer).text,
      certificatePem: toPem('CERTIFICATE', der),
      encryptedKey: key.encryptedKey,
      backend: key.backend,
      backendConfig: key.backendConfig,
      notBefore,
      notAfter,
    },
    {
      ...by,
      action: AUDIT.caCreate,
      target: id,
      outcome: 'success',
      detail: {
        name: opts.name,
        kind,
        parent: opts.parentId ?? null,
        keyAlgorithm: opts.keyAlgorithm,
        notAfter: notAfter.toISOString(),
        ...(key.backend === 'local' ? {} : { backend: key.backend }),
      },
    },
  );
}
