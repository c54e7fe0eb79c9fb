// The gateway's own HTTPS certificate. Like step-ca, the gateway signs it from its issuing CA at
// start-up (and keeps it in the data dir until a third of its life is left, while the store holds it
// unrevoked), through the core's signer, so that it is in the inventory, the CRL and OCSP, and the
// audit trail; operators who bring their own set CERTGATE_TLS_CERT_FILE and CERTGATE_TLS_KEY_FILE
// instead.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { capabilitiesOf } from './core/caCapabilities.js';
import { publicUrlOf } from './config.js';
import { encodeName } from './pki/name.js';
import { OID } from './pki/oids.js';
import { normalizeSerialHex } from './pki/serial.js';
import type { Runtime } from './runtime.js';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** Trust anchor for clients: the root of the chain. */
  caPem: string;
}

const LIFETIME_DAYS = 90;

function wantedNames(rt: Runtime): { dns: string[]; ip: string[] } {
  const names = new Set(['localhost', '127.0.0.1', '::1', new URL(publicUrlOf(rt.config)).hostname.replace(/^\[|\]$/g, ''), ...rt.config.tlsHostnames]);
  if (rt.config.host !== '0.0.0.0' && rt.config.host !== '::') names.add(rt.config.host);
  const list = [...names].filter(Boolean);
  return { dns: list.filter((n) => !isIP(n)), ip: list.filter((n) => isIP(n)) };
}

function stillGood(certPem: string, names: { dns: string[]; ip: string[] }): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (Date.now() > to - (to - from) / 3) return false;
    return names.dns.every((d) => cert.checkHost(d) !== undefined) && names.ip.every((ip) => cert.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}

/**
 * Whether this deployment's store holds the certificate, unrevoked, under the CA that signed it. A
 * file left by another deployment (a store initialized again, or moved to PostgreSQL) would be a
 * certificate that OCSP and the CRLs know nothing of, and one the operator revoked must go.
 */
async function recordedUnrevoked(rt: Runtime, certPem: string): Promise<boolean> {
  const cert = new X509Certificate(certPem);
  for (const ca of await rt.store.cas.list()) {
    if (!capabilitiesOf(ca).signsLocally) continue;
    if (!cert.verify(new X509Certificate(ca.certificatePem).publicKey)) continue;
    const record = await rt.store.certificates.getBySerial(ca.id, normalizeSerialHex(cert.serialNumber));
    return record !== undefined && !record.revokedAt;
  }
  return false;
}

export async function ensureTlsCertificate(rt: Runtime): Promise<TlsMaterial | null> {
  const dir = join(rt.config.dataDir, 'tls');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  const caFile = join(rt.config.dataDir, 'tls-ca.pem');
  const names = wantedNames(rt);
  if (existsSync(certFile) && existsSync(keyFile) && existsSync(caFile)) {
    const certPem = readFileSync(certFile, 'utf8');
    if (stillGood(certPem, names) && (await recordedUnrevoked(rt, certPem))) return { certPem, keyPem: readFileSync(keyFile, 'utf8'), caPem: readFileSync(caFile, 'utf8') };
  }
  // An upstream CA issues nothing to the gateway itself (the system signer refuses it).
  const issuing = (await rt.store.cas.list()).find((c) => c.kind === 'issuing' && capabilitiesOf(c).signsLocally);
  if (!issuing) return null;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = new Date(Date.now() - 60_000);
  const commonName = names.dns[0] ?? 'localhost';
  const issued = await rt.signer.issue({
    caId: issuing.id,
    purpose: 'gateway-tls',
    commonName,
    subjectDer: encodeName([{ type: OID.commonName, value: commonName }]),
    publicKey: privateKey,
    san: { dns: names.dns, ip: names.ip, email: [], uri: [] },
    notBefore,
    notAfter: new Date(notBefore.getTime() + LIFETIME_DAYS * 86_400_000),
  });
  const chain = issued.chainPem;
  const material = {
    certPem: issued.pem + chain.slice(0, -1).join(''),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    caPem: chain[chain.length - 1] as string,
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyFile, material.keyPem, { mode: 0o600 });
  writeFileSync(certFile, material.certPem);
  writeFileSync(caFile, material.caPem);
  rt.log.info({ names, file: certFile }, 'issued the gateway HTTPS certificate');
  return material;
}
