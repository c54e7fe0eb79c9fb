// Which addresses the validator may connect to. The names it validates come from strangers, and so
// do the addresses they resolve to and the redirects their servers send: without this check, an ACME
// client could make the gateway fetch from whatever sits on the network behind it. Every address is
// checked after resolution and right before the connection to it, so there is no second look-up for
// a rebinding DNS server to answer differently.
import { isIP } from 'node:net';
import { blockListOf } from '../pki/cidr.js';

/**
 * Denied whatever the operator says: link-local (where cloud metadata services answer, 169.254.169.254)
 * in both families, the same range reached through NAT64, and AWS's IPv6 metadata address. Private
 * and loopback ranges stay allowed by default: a private CA validates internal hosts.
 */
export const ALWAYS_DENIED_CIDRS: readonly string[] = ['169.254.0.0/16', 'fe80::/10', '64:ff9b::a9fe:0/112', 'fd00:ec2::254/128'];

export interface AddressPolicy {
  /** Why the validator must not connect to `address`, or null when it may. */
  refusal(address: string): string | null;
}

/**
 * The operator's deny list minus its allow list, on top of the ranges always denied (which the
 * allow list cannot reopen: carving out a metadata range is never what an operator means). An IPv4
 * address written as IPv6 (::ffff:169.254.169.254) is judged as the IPv4 address it is.
 */
export function addressPolicy(settings: { denyCidrs?: readonly string[]; allowCidrs?: readonly string[] }): AddressPolicy {
  const always = blockListOf(ALWAYS_DENIED_CIDRS);
  const denied = blockListOf(settings.denyCidrs ?? []);
  const allowed = blockListOf(settings.allowCidrs ?? []);
  return {
    refusal(address) {
      const version = isIP(address);
      // Only addresses reach here (resolver answers, parsed literals); anything else is not connectable.
      if (version === 0) return `${address} is not an IP address`;
      const family = version === 4 ? 'ipv4' : 'ipv6';
      if (always.check(address, family)) return `${address} is a link-local or metadata address, which the validator never connects to`;
      if (denied.check(address, family) && !allowed.check(address, family)) return `${address} is in a range the validator is configured not to connect to`;
      return null;
    },
  };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;

/**
 * A `lookup` for node:http, node:net and node:tls that answers every name with `address`, already
 * checked: a connection made with it can reach no other address, whatever name it is given.
 */
export function pinnedLookup(address: string): (hostname: string, options: { all?: boolean }, callback: LookupCallback) => void {
  const family = isIP(address);
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}
