// Address ranges (CIDR blocks, IPv4 and IPv6) as operators write them, checked with node:net's
// BlockList: credentials' IP allowlists and the validator's deny and allow lists read them alike.
import { BlockList, isIP } from 'node:net';

export class CidrError extends Error {
  override readonly name = 'CidrError';
}

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (one host). Returns the normalized text. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6'; text: string } {
  const trimmed = text.trim();
  if (!trimmed) throw new CidrError('an address range is empty');
  const slash = trimmed.indexOf('/');
  const address = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const version = isIP(address);
  if (version === 0) throw new CidrError(`"${text}" is not an IPv4 or IPv6 address or CIDR block`);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : trimmed.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw new CidrError(`"${text}" has a prefix length outside 0..${max}`);
  const prefix = Number(prefixText);
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6', text: `${address}/${prefix}` };
}

/** The ranges as one BlockList; throws CidrError naming the first that does not parse. */
export function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const { address, prefix, family } = parseCidr(text);
    list.addSubnet(address, prefix, family);
  }
  return list;
}
