// Loads an upstream ACME CA from its record: the account key unsealed once, a transport trusting
// the operator's CA file, the challenge publisher the settings name.
import { readFileSync } from 'node:fs';
import type { Store } from '../../store/types.js';
import { caSecretFor, type CaSecrets } from '../createCa.js';
import { decryptPrivateKey } from '../keyProtection.js';
import type { CaBackendLoader } from '../types.js';
import { AcmeHttp } from './acmeHttp.js';
import { parseUpstreamConfig, type DnsPublisherConfig } from './config.js';
import type { DnsChallengePublisher } from './dnsChallenge.js';
import { UpstreamOrders } from './orders.js';
import { UpstreamAcmeCa, type UpstreamAcmeCaOptions } from './upstreamCa.js';

/** The dns-01 publisher a CA's settings name. */
export function dnsPublisherFor(caName: string, publisher: DnsPublisherConfig): DnsChallengePublisher {
  throw new Error(`CA "${caName}": dns-01 through ${publisher.kind === 'hook' ? 'a hook command' : 'RFC 2136'} is not available in this version`);
}

/** `testHooks`: only tests pass them (the runtime never does). */
export function upstreamAcmeLoader(store: Store, secrets: CaSecrets, testHooks: Pick<UpstreamAcmeCaOptions, 'afterOrderRecorded' | 'dnsPublisher'> = {}): CaBackendLoader {
  return async (ca, { chainPem }) => {
    const config = parseUpstreamConfig(ca.name, ca.backendConfig);
    if (!ca.encryptedKey) throw new Error(`CA "${ca.name}" has no sealed ACME account key`);
    const accountKey = decryptPrivateKey(ca.encryptedKey, caSecretFor(ca, secrets));
    const caPem = config.caFile ? readFileSync(config.caFile, 'utf8') : null;
    const http = new AcmeHttp(config.directory, accountKey.export({ format: 'pem', type: 'pkcs8' }).toString(), caPem);
    return new UpstreamAcmeCa({
      caId: ca.id,
      certificatePem: ca.certificatePem,
      chainPem,
      notAfter: ca.notAfter,
      config,
      http,
      orders: new UpstreamOrders(store),
      ...(config.challenge.type === 'dns-01' && !testHooks.dnsPublisher ? { dnsPublisher: dnsPublisherFor(ca.name, config.challenge.publisher) } : {}),
      ...testHooks,
    });
  };
}
