// Domain control validation for the domain registry (every protocol but ACME): the same validator,
// redirect and address rules as ACME's challenges, but the proof is the record's own token, as
// CA/Browser Forum BR 3.2.2.4.18 (a file under /.well-known/pki-validation/) and 3.2.2.4.7 (a DNS
// TXT record) have it, rather than a key authorization bound to an ACME account.
import { isIP } from 'node:net';
import { startAttempt } from './attempt.js';
import { findTxtRecord } from './dns01.js';
import { fetchExpectedFile } from './http01.js';
import { parseIdentifier } from './identifiers.js';
import { fail, quote } from './problems.js';
import type { DcvSettings, Failure, ValidationResult } from './types.js';

export type DomainControlMethod = 'http-01' | 'dns-01';

export interface DomainControlInput {
  method: DomainControlMethod;
  /** A DNS name or an IP address; never a wildcard (a wildcard's record is its base name, over dns-01). */
  name: string;
  /** base64url: it becomes a URL path segment. */
  token: string;
  /** dns-01: the TXT record is looked for at `<label>.<name>` for each of these (any one will do). */
  dnsLabels: readonly string[];
}

/** Where http-01 looks, in order: the CA/B Forum's path, then the ACME one a site may already serve. */
export const HTTP_FILE_DIRECTORIES = ['/.well-known/pki-validation/', '/.well-known/acme-challenge/'] as const;

const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;
const DNS_LABEL = /^_?[a-z0-9-]{1,63}$/;

/** The problem with the input, before any look-up or connection, or null. */
function inputProblem(input: DomainControlInput): Failure | null {
  if (!TOKEN.test(input.token)) return fail('malformed', 'the validation token is not base64url (16 to 256 characters)');
  if (input.method === 'dns-01') {
    if (isIP(input.name)) return fail('malformed', 'dns-01 cannot validate an IP address; use http-01');
    if (input.dnsLabels.length === 0) return fail('malformed', 'dns-01 needs a label to look under');
    const bad = input.dnsLabels.find((l) => !DNS_LABEL.test(l));
    if (bad !== undefined) return fail('malformed', `${quote(bad)} is not a DNS label`);
  }
  return null;
}

/** Both paths answered and neither held the token: one sentence naming both. */
function neither(first: Failure, second: Failure): Failure {
  return { ok: false, problem: { type: second.problem.type, detail: `${first.problem.detail}; and ${second.problem.detail}` }, retryable: second.retryable };
}

/** Only a server that answered is asked the second path: an unreachable host is as unreachable there. */
const answered = (f: Failure): boolean => f.problem.type === 'unauthorized' || f.problem.type === 'incorrectResponse';

export async function validateDomainControl(input: DomainControlInput, settings: DcvSettings): Promise<ValidationResult> {
  const result = await check(input, settings);
  settings.onAttempt?.(input.method, result.ok ? 'valid' : result.problem.type);
  return result;
}

async function check(input: DomainControlInput, settings: DcvSettings): Promise<ValidationResult> {
  const target = parseIdentifier({ type: isIP(input.name) ? 'ip' : 'dns', value: input.name });
  if ('problem' in target) return target;
  if (target.wildcard) return fail('malformed', `${quote(input.name)} is a wildcard: validate its base name over dns-01`);
  const bad = inputProblem(input);
  if (bad) return bad;
  const attempt = startAttempt(settings);
  if (input.method === 'http-01') {
    let first: Failure | undefined;
    for (const directory of HTTP_FILE_DIRECTORIES) {
      const result = await fetchExpectedFile(target, { path: `${directory}${input.token}`, value: input.token, what: 'validation token', trim: 'both' }, attempt);
      if (result.ok) return result;
      if (first) return neither(first, result);
      if (!answered(result)) return result;
      first = result;
    }
    return first ?? fail('malformed', 'no path to fetch');
  }
  const failures: Failure[] = [];
  for (const label of new Set(input.dnsLabels)) {
    const result = await findTxtRecord(`${label}.${target.name}`, input.token, attempt);
    if (result.ok) return result;
    failures.push(result);
  }
  const [only, ...more] = failures;
  if (!only) return fail('malformed', 'dns-01 needs a label to look under');
  if (more.length === 0) return only;
  return { ok: false, problem: { type: only.problem.type, detail: failures.map((f) => f.problem.detail).join('; ') }, retryable: failures.some((f) => f.retryable) };
}
