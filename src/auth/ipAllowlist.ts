// IP allowlists: CIDR blocks (IPv4 and IPv6) checked with node:net's BlockList.
import { isIP, type BlockList } from 'node:net';
import { blockListOf } from '../pki/cidr.js';

export { CidrError, parseCidr } from '../pki/cidr.js';

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
    list = blockListOf(allow);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, list);
  }
  const address = normalizeIp(ip);
  const version = isIP(address);
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}
