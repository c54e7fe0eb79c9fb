// A stub authoritative DNS server on a free UDP port of 127.0.0.1, for validation tests (and the ACME
// tests and benchmark): every name has A 127.0.0.1 unless told otherwise, and TXT and CAA records,
// NXDOMAIN, SERVFAIL or silence come from what the test sets. The wire format is dns2's (it encodes
// CAA too); names are matched case-insensitively, without a trailing dot.
import { isIPv4, isIPv6 } from 'node:net';
import { Packet, UDPServer, type Question, type Resource } from 'dns2';

export interface CaaRecordSpec {
  /** 128 is the issuer-critical flag; default 0. */
  flags?: number;
  tag: string;
  value: string;
}

/** SERVFAIL and NXDOMAIN answer with that rcode; TIMEOUT never answers, so the client's query times out. */
export type DnsFailure = 'SERVFAIL' | 'NXDOMAIN' | 'TIMEOUT';

export interface StubDnsServer {
  /** "127.0.0.1:<port>", as DcvSettings.dnsServer takes it. */
  address: string;
  /** TXT records at `name`, one per value; [] removes them. */
  setTxt(name: string, values: string[]): void;
  /** CAA records at `name`; [] removes them. */
  setCaa(name: string, records: CaaRecordSpec[]): void;
  /** The address of `name`: an IPv4 address answers A (and no AAAA), IPv6 answers AAAA (and no A), null neither. */
  setA(name: string, ip: string | null): void;
  /** Every query for `name` fails this way until null is set again. */
  failWith(name: string, failure: DnsFailure | null): void;
  /** Every question asked so far, lower-case names. */
  readonly queries: ReadonlyArray<{ name: string; type: number }>;
  stop(): Promise<void>;
}

const DEFAULT_ADDRESS = '127.0.0.1';
const TTL = 1;

function key(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export async function startDnsServer(): Promise<StubDnsServer> {
  const txt = new Map<string, string[]>();
  const caa = new Map<string, CaaRecordSpec[]>();
  const addresses = new Map<string, string | null>();
  const failures = new Map<string, DnsFailure>();
  const queries: Array<{ name: string; type: number }> = [];

  function answersFor(question: Question): Array<Partial<Resource>> {
    const name = key(question.name);
    const ip = addresses.has(name) ? addresses.get(name) : DEFAULT_ADDRESS;
    switch (question.type) {
      case Packet.TYPE.A:
        return ip && isIPv4(ip) ? [{ type: Packet.TYPE.A, address: ip }] : [];
      case Packet.TYPE.AAAA:
        return ip && isIPv6(ip) ? [{ type: Packet.TYPE.AAAA, address: ip }] : [];
      case Packet.TYPE.TXT:
        return (txt.get(name) ?? []).map((value) => ({ type: Packet.TYPE.TXT, data: splitTxt(value) }));
      case Packet.TYPE.CAA:
        return (caa.get(name) ?? []).map((r) => ({ type: Packet.TYPE.CAA, flags: r.flags ?? 0, tag: r.tag, value: r.value }));
      default:
        return [];
    }
  }

  const server = new UDPServer((request: Packet, send: (response: Packet) => Promise<Buffer>) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    for (const question of request.questions) {
      const name = key(question.name);
      queries.push({ name, type: question.type });
      const failure = failures.get(name);
      if (failure === 'TIMEOUT') return;
      if (failure) {
        response.header.rcode = failure === 'SERVFAIL' ? 2 : 3;
        continue;
      }
      for (const record of answersFor(question)) {
        response.answers.push(Packet.createResourceFromQuestion(question, { ...record, ttl: TTL, class: Packet.CLASS.IN }));
      }
    }
    send(response).catch(() => undefined);
  });
  await server.listen(0, '127.0.0.1');
  const { port } = server.address();

  return {
    address: `127.0.0.1:${port}`,
    setTxt: (name, values) => void (values.length ? txt.set(key(name), [...values]) : txt.delete(key(name))),
    setCaa: (name, records) => void (records.length ? caa.set(key(name), [...records]) : caa.delete(key(name))),
    setA: (name, ip) => void addresses.set(key(name), ip),
    failWith: (name, failure) => void (failure ? failures.set(key(name), failure) : failures.delete(key(name))),
    queries,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TXT value longer than one character-string (255 bytes) goes out as several, as a zone file would split it. */
function splitTxt(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255).toString('utf8'));
  return parts.length ? parts : [''];
}
