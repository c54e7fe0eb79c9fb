// The dns-01 publisher an upstream ACME CA's settings name: RFC 2136 with TSIG, or the operator's
// hook command. The TSIG secret is not in the settings: they name the environment variable that
// holds it (base64, as BIND's key files and tsig-keygen write it), read when a record is published.
import type { DnsPublisherConfig } from './config.js';
import { DnsPublishError, type DnsChallengePublisher } from './dnsChallenge.js';
import { hookPublisher } from './dnsHook.js';
import type { DnsServerAddress } from './dnsTcp.js';
import { rfc2136Publisher } from './rfc2136.js';
import { TSIG_ALGORITHMS, type TsigAlgorithm } from './tsig.js';

const DNS_PORT = 53;

/** "host", "host:port", "[v6]" or "[v6]:port" (port 53 when not given); null when it is none of those. */
export function parseDnsServer(text: string): DnsServerAddress | null {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([^:[\]\s]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m?.[1]) return null;
  const port = m[2] === undefined ? DNS_PORT : Number(m[2]);
  if (port < 1 || port > 65_535) return null;
  return { host: m[1], port };
}

export function isTsigAlgorithm(name: string): name is TsigAlgorithm {
  return (TSIG_ALGORITHMS as readonly string[]).includes(name.toLowerCase());
}

function secretFrom(caName: string, envName: string): Buffer {
  const text = process.env[envName]?.trim();
  if (!text) throw new DnsPublishError(`CA "${caName}": the environment variable ${envName} is empty; it must hold the TSIG secret (base64)`, false);
  const secret = Buffer.from(text, 'base64');
  if (secret.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new DnsPublishError(`CA "${caName}": the environment variable ${envName} does not hold a base64 TSIG secret`, false);
  }
  return secret;
}

export function dnsPublisherFor(caName: string, publisher: DnsPublisherConfig): DnsChallengePublisher {
  if (publisher.kind === 'hook') return hookPublisher(publisher.path);
  const server = parseDnsServer(publisher.server);
  const algorithm = publisher.tsigAlgorithm.toLowerCase();
  // Settings that cannot work (the CLI checks them; a record edited since may not) are refused
  // when a record is to be published, so the request says why.
  const publisherWith = (): DnsChallengePublisher => {
    if (!server) throw new DnsPublishError(`CA "${caName}": the DNS server "${publisher.server}" is not host[:port]`, false);
    if (!isTsigAlgorithm(algorithm)) throw new DnsPublishError(`CA "${caName}": TSIG algorithm "${publisher.tsigAlgorithm}" is not one of ${TSIG_ALGORITHMS.join(', ')}`, false);
    return rfc2136Publisher({ server, zone: publisher.zone, keyName: publisher.tsigKeyName, algorithm, secret: secretFrom(caName, publisher.tsigSecretEnv) });
  };
  return {
    add: async (fqdn, value) => publisherWith().add(fqdn, value),
    remove: async (fqdn, value) => publisherWith().remove(fqdn, value),
  };
}
