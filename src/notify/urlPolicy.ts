// Where a webhook may be delivered. A subscription's URL comes from a credential holder, and the
// gateway's workers sit inside the network: without a check, a subscription could make them post
// to an internal service or a cloud metadata address (SSRF). So private, loopback and unique-local
// addresses are refused unless the operator allows them (CERTGATE_WEBHOOK_ALLOW_PRIVATE), and the
// link-local and metadata ranges always are. Every address is checked after resolution, right
// before the connection to it (dcv/addressPolicy pins it), so a rebinding DNS answer cannot slip in.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { addressPolicy, type AddressPolicy } from '../dcv/addressPolicy.js';

/** Loopback, RFC 1918, CGNAT, "this network", IPv6 loopback and unique-local. */
export const PRIVATE_CIDRS: readonly string[] = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '0.0.0.0/8', '::1/128', 'fc00::/7', '::/128'];

export function webhookAddressPolicy(allowPrivate: boolean): AddressPolicy {
  return addressPolicy({ denyCidrs: allowPrivate ? [] : PRIVATE_CIDRS });
}

/** Why `text` cannot be a webhook URL (null: it can). The host's addresses are checked at delivery. */
export function urlRefusal(text: string, policy: AddressPolicy): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'url: not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'url: must start with http:// or https://';
  // Credentials in the URL would be stored and shown in every listing; the signature is the proof.
  if (url.username || url.password) return 'url: must not carry a user name or password';
  if (url.hash) return 'url: must not carry a #fragment';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const refusal = policy.refusal(host);
    if (refusal) return `url: ${refusal}`;
  }
  return null;
}

/** The address to connect to for `hostname`, checked; throws, saying why, when none may be used. */
export async function resolveChecked(hostname: string, policy: AddressPolicy): Promise<string> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  // Every answer must pass: picking a passing one among refused ones would let a name point at both.
  for (const address of addresses) {
    const refusal = policy.refusal(address);
    if (refusal) throw new Error(`${refusal} (webhook deliveries to private addresses need CERTGATE_WEBHOOK_ALLOW_PRIVATE=true)`);
  }
  return addresses[0] as string;
}
