// dns-01 records for an upstream ACME order published by RFC 2136 dynamic updates signed with TSIG
// (what BIND, Knot, PowerDNS and Windows DNS accept, and what nsupdate sends). The zone comes from
// the settings or from an SOA lookup at the same server; every answer that claims success must be
// signed by the same key for this very request, so a forged "done" cannot pass; and after an add
// the publisher waits until the server serves the record, because the upstream CA asks next.
import { randomInt } from 'node:crypto';
import type { Answer, Packet } from 'dns-packet';
import { DnsPublishError, type DnsChallengePublisher } from './dnsChallenge.js';
import { describeServer, DnsUnreachableError, exchangeTcp, type DnsServerAddress } from './dnsTcp.js';
import { dnsWire, OPCODE_UPDATE } from './dnsWire.js';
import { describeTsigError, signMessage, verifyResponse, type TsigAlgorithm } from './tsig.js';

export interface Rfc2136Settings {
  server: DnsServerAddress;
  /** The zone to update; found by an SOA lookup at `server` when not given. */
  zone?: string;
  keyName: string;
  algorithm: TsigAlgorithm;
  /** The TSIG secret (decoded, not base64). Never logged, never in an error. */
  secret: Buffer;
  /** TTL of the published TXT records, in seconds. */
  ttl?: number;
  /** Bound on each exchange with the server. */
  timeoutMs?: number;
  /** Bound on the wait, after an add, until the server answers the record. */
  propagationTimeoutMs?: number;
  /** The clock TSIG signs and checks with (tests move it). */
  now?: () => Date;
}

const DEFAULTS = { ttl: 60, timeoutMs: 10_000, propagationTimeoutMs: 30_000 };
const POLL_MS = 250;

const RCODE_NAMES: Record<number, string> = {
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};

function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `rcode ${rcode}`;
}

function normalize(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

function isInside(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

function txtText(record: Answer): string | null {
  if (record.type !== 'TXT') return null;
  const parts = Array.isArray(record.data) ? record.data : [record.data];
  return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : p)).join('');
}

export function rfc2136Publisher(settings: Rfc2136Settings): DnsChallengePublisher {
  const { server, keyName, algorithm, secret } = settings;
  const key = { name: keyName, algorithm, secret };
  const ttl = settings.ttl ?? DEFAULTS.ttl;
  const timeoutMs = settings.timeoutMs ?? DEFAULTS.timeoutMs;
  const propagationTimeoutMs = settings.propagationTimeoutMs ?? DEFAULTS.propagationTimeoutMs;
  const where = describeServer(server);
  const now = settings.now ?? (() => new Date());

  async function ask(message: Packet & { opcode?: number; classNone?: ReadonlySet<Answer> }, sign: boolean) {
    const id = randomInt(0, 0x10000);
    const wire = dnsWire.encode({ ...message, id });
    const signed = sign ? signMessage(wire, key, now()) : null;
    const answerWire = await exchangeTcp(server, signed ? signed.wire : wire, timeoutMs);
    let answer;
    try {
      answer = dnsWire.decode(answerWire);
    } catch (err) {
      throw new DnsPublishError(`the DNS server ${where} sent an answer that does not parse (${(err as Error).message})`, false);
    }
    if (answer.id !== id) throw new DnsPublishError(`the DNS server ${where} answered another request (id ${answer.id}, not ${id})`, false);
    return { answer, answerWire, requestMac: signed?.mac };
  }

  async function findZone(name: string): Promise<string> {
    const { answer } = await ask({ type: 'query', questions: [{ name, type: 'SOA', class: 'IN' }] }, false);
    const soa = [...(answer.packet.answers ?? []), ...(answer.packet.authorities ?? [])].find((r) => r.type === 'SOA' && isInside(name, normalize(r.name)));
    if (!soa || (answer.rcode !== 0 && answer.rcode !== 3)) {
      throw new DnsPublishError(
        `the DNS server ${where} serves no zone that contains ${name} (its SOA lookup answered ${answer.rcode === 0 ? 'no SOA record' : rcodeName(answer.rcode)}); set the zone or use the zone's primary server`,
        false,
      );
    }
    return normalize(soa.name);
  }

  async function update(action: 'add' | 'remove', fqdn: string, value: string): Promise<void> {
    const name = normalize(fqdn);
    const what = `${action === 'add' ? 'adding' : 'removing'} TXT ${name} at ${where}`;
    try {
      const zone = settings.zone !== undefined ? normalize(settings.zone) : await findZone(name);
      if (!isInside(name, zone)) throw new DnsPublishError(`${name} is not inside the zone ${zone}`, false);
      // Add: class IN with a TTL. Remove just this value (RFC 2136 §2.5.4): class NONE, TTL 0, so
      // a second challenge's record at the same name (a wildcard and its base name) stays.
      const record: Answer = { name, type: 'TXT', class: 'IN', ttl: action === 'add' ? ttl : 0, data: value };
      const { answer, answerWire, requestMac } = await ask(
        {
          type: 'query',
          opcode: OPCODE_UPDATE,
          questions: [{ name: zone, type: 'SOA', class: 'IN' }],
          authorities: [record],
          classNone: action === 'remove' ? new Set([record]) : undefined,
        },
        true,
      );
      checkUpdateAnswer(answer.rcode, verifyResponse(answerWire, key, requestMac as Buffer, now()), name, zone);
      if (action === 'add') await waitUntilServed(name, value);
    } catch (err) {
      if (err instanceof DnsPublishError) throw new DnsPublishError(`${what} failed: ${err.message}`, err.transient, { cause: err });
      if (err instanceof DnsUnreachableError) throw new DnsPublishError(`${what} failed: ${err.message}`, true, { cause: err });
      throw err;
    }
  }

  function checkUpdateAnswer(rcode: number, signature: ReturnType<typeof verifyResponse>, name: string, zone: string): void {
    if (signature.status === 'server-error') {
      throw new DnsPublishError(`the server refused the key "${keyName}": ${describeTsigError(signature.error)}`, false);
    }
    if (rcode === 0) {
      if (signature.status === 'valid') return;
      const why = signature.status === 'unsigned' ? 'it is not signed' : signature.reason;
      throw new DnsPublishError(`the answer claims success but is not trusted: ${why}`, false);
    }
    // A failure is reported even when unsigned: believing it can only make us stop, never publish.
    const unsigned = signature.status === 'valid' ? '' : ' (the answer was not signed by the key)';
    switch (rcode) {
      case 5:
        throw new DnsPublishError(`REFUSED: the key "${keyName}" may not update ${name} in the zone ${zone}${unsigned}`, false);
      case 9:
        throw new DnsPublishError(`NOTAUTH: the server is not the primary for the zone ${zone} or does not accept the key "${keyName}"${unsigned}`, false);
      case 10:
        throw new DnsPublishError(`NOTZONE: ${name} is not inside the zone ${zone}${unsigned}`, false);
      case 4:
        throw new DnsPublishError(`NOTIMP: the server does not accept dynamic updates${unsigned}`, false);
      case 2:
        throw new DnsPublishError(`SERVFAIL: the server could not apply the update${unsigned}`, true);
      default:
        throw new DnsPublishError(`the server answered ${rcodeName(rcode)}${unsigned}`, false);
    }
  }

  async function waitUntilServed(name: string, value: string): Promise<void> {
    const deadline = performance.now() + propagationTimeoutMs;
    for (;;) {
      const { answer } = await ask({ type: 'query', questions: [{ name, type: 'TXT', class: 'IN' }] }, false);
      if ((answer.packet.answers ?? []).some((r) => normalize(r.name) === name && txtText(r) === value)) return;
      if (performance.now() > deadline) {
        throw new DnsPublishError(`the server accepted the update but still does not answer the record after ${Math.round(propagationTimeoutMs / 1000)} s`, true);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  return {
    add: (fqdn, value) => update('add', fqdn, value),
    remove: (fqdn, value) => update('remove', fqdn, value),
  };
}
