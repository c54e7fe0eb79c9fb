// dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.<name> holds base64url(SHA-256(key
// authorization)). For a wildcard the "*." label is not part of the name asked (RFC 8555 §8.4, §7.1.3).
import type { Attempt } from './attempt.js';
import type { Target } from './identifiers.js';
import { keyAuthorizationDigest } from './keyAuthorization.js';
import { dnsFailure, errorCode, fail, quote } from './problems.js';
import type { ValidationResult } from './types.js';

export function validateDns01(target: Target, keyAuthorization: string, attempt: Attempt): Promise<ValidationResult> {
  return findTxtRecord(`_acme-challenge.${target.name}`, keyAuthorizationDigest(keyAuthorization), attempt);
}

/** Whether one of the TXT records at `name` is `expected`. */
export async function findTxtRecord(name: string, expected: string, attempt: Attempt): Promise<ValidationResult> {
  let records: string[][];
  try {
    records = await attempt.resolver.resolveTxt(name);
  } catch (err) {
    // NODATA: the name exists but has no TXT, the client has not published it (yet): not retried,
    // the client is told and may ask for the challenge again once it has. NXDOMAIN likewise, as dns.
    if (errorCode(err) === 'ENODATA') return fail('unauthorized', `No TXT record found at ${name}`);
    return dnsFailure(err, 'TXT', name);
  }
  // One TXT record may be split into several strings of up to 255 bytes; they form one value.
  const values = records.map((strings) => strings.join(''));
  if (values.includes(expected)) return { ok: true };
  if (values.length === 0) return fail('unauthorized', `No TXT record found at ${name}`);
  const more = values.length > 1 ? ` (and ${values.length - 1} more)` : '';
  return fail('unauthorized', `Incorrect TXT record ${quote(values[0] ?? '')}${more} found at ${name}`);
}
