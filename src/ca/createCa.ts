import { generateKeyPair, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { AUDIT } from '../audit/actions.js';
import type { AuditContext, CaRecord, KeyAlgorithm } from '../core/types.js';
import { keyIdentifier, randomSerial, signCertificate } from '../pki/certificate.js';
import { readCertificateBasics } from '../pki/certInfo.js';
import { keyGenSpec } from '../pki/keys.js';
import { encodeName, parseDnString, parseNameDer } from '../pki/name.js';
import { fromPem, toPem } from '../pki/pem.js';
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
  const spkiDer = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const subjectDer = encodeName(parseDnString(opts.subject ?? `CN=${opts.name}`));

  const notBefore = new Date(Date.now() - 60_000); // tolerate clock skew on relying parties
  let notAfter = new Date(notBefore.getTime() + opts.validityDays * 86_400_000);
  let issuer: { subjectDer: Buffer; keyId: Buffer | null; key: KeyObject; algorithm: KeyAlgorithm };
  if (opts.parentId) {
    const parent = await store.cas.get(opts.parentId);
    if (!parent) throw new Error(`parent CA ${opts.parentId} not found`);
    const basics = readCertificateBasics(fromPem(parent.certificatePem, ['CERTIFICATE']));
    if (notAfter > basics.notAfter) notAfter = basics.notAfter;
    issuer = {
      subjectDer: basics.subjectDer,
      keyId: basics.subjectKeyId,
      key: decryptPrivateKey(sealedKeyOf(parent), caSecretFor(parent, secrets)),
      algorithm: parent.keyAlgorithm,
    };
  } else {
    issuer = { subjectDer, keyId: keyIdentifier(spkiDer), key: privateKey, algorithm: opts.keyAlgorithm };
  }

  const der = signCertificate(
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
    { key: issuer.key, algorithm: issuer.algorithm },
  );

  const encryptedKey = opts.passphrase
    ? encryptPrivateKey(privateKey, opts.passphrase, 'passphrase')
    : encryptPrivateKey(privateKey, secrets.masterKey, 'master');
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
      encryptedKey,
      notBefore,
      notAfter,
    },
    {
      ...by,
      action: AUDIT.caCreate,
      target: id,
      outcome: 'success',
      detail: { name: opts.name, kind, parent: opts.parentId ?? null, keyAlgorithm: opts.keyAlgorithm, notAfter: notAfter.toISOString() },
    },
  );
}
