// `certgate ca create --upstream-acme`: registers an ACME account at the upstream (its key made
// here and sealed under the master key like any CA key) and records the CA. The record's
// certificate is the upstream's issuing certificate the operator names, its root after it in the
// backend settings, so EST /cacerts, downloads and the CA views have a chain before the first
// certificate is issued; each certificate still carries the chain the upstream returned with it.
import { generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AUDIT } from '../../audit/actions.js';
import type { AuditContext, CaRecord, KeyAlgorithm } from '../../core/types.js';
import { readCertificateBasics } from '../../pki/certInfo.js';
import { parseNameDer } from '../../pki/name.js';
import { pemBlocks, toPem } from '../../pki/pem.js';
import type { Store } from '../../store/types.js';
import type { CaSecrets } from '../createCa.js';
import { encryptPrivateKey } from '../keyProtection.js';
import { AcmeHttp } from './acmeHttp.js';
import type { UpstreamAcmeConfig } from './config.js';

export interface CreateUpstreamCaOptions {
  name: string;
  directory: string;
  /** EAB: the key id, and the HMAC key (base64url) read from the operator's environment variable; used once, never stored. */
  eab?: { kid: string; hmacKey: string };
  profile?: string;
  challenge: UpstreamAcmeConfig['challenge'];
  /** PEM file trusted for the upstream's TLS certificate (a private upstream). */
  caFile?: string;
  /** PEM text: the upstream's issuing certificate first, then its parents up to the root. */
  issuerChainPem: string;
}

function keyAlgorithmOf(cert: X509Certificate): KeyAlgorithm {
  const details = cert.publicKey.asymmetricKeyDetails;
  if (cert.publicKey.asymmetricKeyType === 'ec') return details?.namedCurve === 'secp384r1' ? 'ec-p384' : 'ec-p256';
  const bits = details?.modulusLength ?? 2048;
  return bits >= 4096 ? 'rsa-4096' : bits >= 3072 ? 'rsa-3072' : 'rsa-2048';
}

export async function createUpstreamCa(store: Store, opts: CreateUpstreamCaOptions, secrets: CaSecrets, by: AuditContext): Promise<CaRecord> {
  if (await store.cas.getByName(opts.name)) throw new Error(`a CA named "${opts.name}" already exists`);
  const issuers = pemBlocks(opts.issuerChainPem).filter((b) => b.label === 'CERTIFICATE').map((b) => toPem('CERTIFICATE', b.der));
  const [issuing, ...above] = issuers;
  if (!issuing) throw new Error('the upstream chain file holds no certificate: give the upstream\'s issuing certificate first, then its parents');
  const issuingCert = new X509Certificate(issuing);
  const basics = readCertificateBasics(Buffer.from(issuingCert.raw));

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caPem = opts.caFile ? readFileSync(opts.caFile, 'utf8') : null;
  const http = new AcmeHttp(opts.directory, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), caPem);
  let accountUrl: string;
  try {
    const dir = await http.getDirectory();
    if (dir.meta?.externalAccountRequired && !opts.eab) throw new Error(`the upstream ${opts.directory} requires external account binding: give --eab-kid and --eab-hmac-key-env`);
    if (opts.profile && dir.meta?.profiles && !(opts.profile in dir.meta.profiles)) {
      throw new Error(`the upstream offers no profile "${opts.profile}" (it offers: ${Object.keys(dir.meta.profiles).join(', ')})`);
    }
    const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
    if (opts.eab) payload.externalAccountBinding = http.externalAccountBinding(opts.eab.kid, opts.eab.hmacKey, dir.newAccount);
    const res = await http.post(dir.newAccount, payload, null, [200, 201]);
    const location = res.headers.location;
    if (typeof location !== 'string') throw new Error('the upstream registered the account without giving its URL');
    accountUrl = location;
  } finally {
    http.close();
  }

  const config: UpstreamAcmeConfig = {
    directory: opts.directory,
    accountUrl,
    eabKid: opts.eab?.kid ?? null,
    profile: opts.profile ?? null,
    challenge: opts.challenge,
    caFile: opts.caFile ?? null,
    issuerChainPem: above,
  };
  const id = randomUUID();
  return store.cas.insert(
    {
      id,
      name: opts.name,
      kind: 'issuing',
      parentId: null,
      keyAlgorithm: keyAlgorithmOf(issuingCert),
      subject: parseNameDer(basics.subjectDer).text,
      certificatePem: issuing,
      encryptedKey: encryptPrivateKey(privateKey, secrets.masterKey, 'master'),
      backend: 'upstream-acme',
      backendConfig: config as unknown as Record<string, unknown>,
      notBefore: basics.notBefore,
      notAfter: basics.notAfter,
    },
    {
      ...by,
      action: AUDIT.caCreate,
      target: id,
      outcome: 'success',
      detail: { name: opts.name, kind: 'issuing', backend: 'upstream-acme', directory: opts.directory, account: accountUrl, eabKid: opts.eab?.kid ?? null, challenge: opts.challenge.type },
    },
  );
}
