// What a domain's holder publishes to prove control of it, and the record as REST and the CLI show
// it: one view, so the API, the console and the validator never disagree on where a token goes.
import { HTTP_FILE_DIRECTORIES } from '../dcv/domainControl.js';
import { DEFAULT_DNS_LABEL } from './types.js';
import type { DomainRecord } from './types.js';

export interface DomainChallenges {
  'http-01': { url: string; alternative_url: string; content: string };
  'dns-01': { record_name: string; type: 'TXT'; value: string };
}

export function domainChallenges(d: Pick<DomainRecord, 'name' | 'token'>, dnsLabel = DEFAULT_DNS_LABEL): DomainChallenges {
  const [primary, alternative] = HTTP_FILE_DIRECTORIES;
  return {
    'http-01': { url: `http://${d.name}${primary}${d.token}`, alternative_url: `http://${d.name}${alternative}${d.token}`, content: d.token },
    'dns-01': { record_name: `${dnsLabel}.${d.name}`, type: 'TXT', value: d.token },
  };
}

const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A domain record as REST answers it and `certgate domain ... --json` prints it. */
export function domainJson(d: DomainRecord, dnsLabel = DEFAULT_DNS_LABEL) {
  return {
    id: d.id,
    name: d.name,
    holder: d.holder,
    status: d.status,
    method: d.method,
    validated_at: isoOrNull(d.validatedAt),
    expires_at: isoOrNull(d.expiresAt),
    last_error: d.lastError,
    source: d.source,
    created_by: d.createdBy,
    created_at: d.createdAt.toISOString(),
    challenges: domainChallenges(d, dnsLabel),
  };
}

export type DomainJson = ReturnType<typeof domainJson>;
