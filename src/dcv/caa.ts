// CAA (RFC 8659): may this CA issue for the name? The relevant record set is the first one found
// climbing from the name towards the root; a name with none anywhere above it is unrestricted.
import type { CaaRecord } from 'node:dns';
import type { Attempt } from './attempt.js';
import { isDnsName } from './identifiers.js';
import { dnsFailure, isAbsent, quote } from './problems.js';
import type { CaaResult } from './types.js';

export interface CaaProperty {
  flags: number;
  /** lower case: tags match case-insensitively (RFC 8659 §4.1). */
  tag: string;
  value: string;
}

const CRITICAL = 128;
/**
 * Tags this CA understands. The issuer-critical flag on any other tag forbids issuance (RFC 8659
 * §4.1). iodef is understood and ignored (no incident reports are sent); issuemail (RFC 9495) and
 * the contact tags concern other certificates or people, never TLS issuance.
 */
const KNOWN_TAGS = new Set(['issue', 'issuewild', 'iodef', 'issuemail', 'contactemail', 'contactphone']);

/**
 * Node reports a CAA record as { critical: <flags>, <tag>: <value> }. A record whose tag is itself
 * "critical" clobbers the flags; it is then read as an unknown critical property, which forbids
 * issuance: the safe reading of what cannot be read.
 */
export function fromNode(record: CaaRecord): CaaProperty {
  const entries = Object.entries(record).filter(([key]) => key !== 'critical');
  const [tag, value] = entries[0] ?? ['critical', ''];
  if (typeof record.critical !== 'number' || entries.length !== 1) return { flags: CRITICAL, tag: 'critical', value: String(value) };
  return { flags: record.critical, tag: tag.toLowerCase(), value: String(value) };
}

/** The issuer domain of an issue/issuewild value ("ca.example; account=1" -> "ca.example"); "" for ";", which names no one. */
function issuerOf(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase();
}

/** RFC 8659 §4.2-4.3 applied to the relevant record set found at `owner`. */
export function evaluateCaa(properties: CaaProperty[], owner: string, wildcard: boolean, caaIdentities: string[]): CaaResult {
  const unknownCritical = properties.find((p) => p.flags & CRITICAL && !KNOWN_TAGS.has(p.tag));
  if (unknownCritical) return { ok: false, detail: `CAA record for ${owner} has an unknown critical property ${quote(unknownCritical.tag)}`, retryable: false };
  const issue = properties.filter((p) => p.tag === 'issue');
  const issuewild = properties.filter((p) => p.tag === 'issuewild');
  // For a wildcard, issuewild overrides issue when there is any; otherwise issue governs both.
  const governing = wildcard && issuewild.length > 0 ? issuewild : issue;
  if (governing.length === 0) return { ok: true };
  const ours = new Set(caaIdentities.map((id) => id.trim().toLowerCase()).filter((id) => id !== ''));
  if (governing.some((p) => ours.has(issuerOf(p.value)))) return { ok: true };
  return { ok: false, detail: `CAA record for ${owner} prevents issuance${wildcard ? ' of a wildcard' : ''}`, retryable: false };
}

/** a.b.example.com -> a.b.example.com, b.example.com, example.com, com */
function selfAndParents(name: string): string[] {
  const labels = name.split('.');
  return labels.map((_, i) => labels.slice(i).join('.'));
}

export async function checkCaaRecords(domain: string, wildcard: boolean, caaIdentities: string[], attempt: Attempt): Promise<CaaResult> {
  const lower = domain.toLowerCase();
  // "*.example.com" is looked up at example.com, as a wildcard (RFC 8659 §3).
  const isWildcard = wildcard || lower.startsWith('*.');
  const name = lower.startsWith('*.') ? lower.slice(2) : lower;
  if (!isDnsName(name)) return { ok: false, detail: `${quote(domain)} is not a DNS name`, retryable: false };
  for (const owner of selfAndParents(name)) {
    let records: CaaRecord[];
    try {
      records = await attempt.resolver.resolveCaa(owner);
    } catch (err) {
      if (isAbsent(err)) continue;
      // SERVFAIL, timeout: the record set may exist but could not be seen; issuing anyway would
      // ignore what the owner may have published (RFC 8659 §5.4), so refuse for now and retry.
      const failure = dnsFailure(err, 'CAA', owner);
      return { ok: false, detail: failure.problem.detail, retryable: failure.retryable };
    }
    if (records.length > 0) return evaluateCaa(records.map(fromNode), owner, isWildcard, caaIdentities);
  }
  return { ok: true };
}
