// IP allowlists: CIDR blocks (IPv4 and IPv6) checked with node:net's BlockList.
import { BlockList, isIP } from 'node:net';

export class CidrError extends Error {
  override readonly name = 'CidrError';
}

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (one host). Returns the normalized text. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6'; text: string } {
  const trimmed = text.trim();
  if (!trimmed) throw new CidrError('an allowlist entry is empty');
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

/** An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; allowlists name it as a.b.c.d. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? (m[1] as string) : ip;
}

/** The address a request came from, as allowlists and the audit trail name it. */
export function sourceIpOf(req: { socket: { remoteAddress?: string | undefined } }): string | null {
  const ip = req.socket.remoteAddress;
  return ip ? normalizeIp(ip) : null;
}

const compiled = new Map<string, BlockList>();

/** True when the list is empty (anywhere) or `ip` is inside one of its blocks. */
export function ipAllowed(allow: readonly string[], ip: string | null): boolean {
  if (allow.length === 0) return true;
  if (!ip) return false;
  const key = allow.join(',');
  let list = compiled.get(key);
  if (!list) {
    list = new BlockList();
    for (const entry of allow) {
      const c = parseCidr(entry);
      list.addSubnet(c.address, c.prefix, c.family);
    }
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, list);
  }
  const address = normalizeIp(ip);
  const version = isIP(address);
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}
