// The validation authority's door: the ACME front-end (from a queue job) asks whether a challenge is
// met and whether CAA lets this CA issue. Answers are values, never exceptions, except for settings
// that are wrong (a RangeError or setServers' error): those are the operator's to fix.
import { startAttempt } from './attempt.js';
import { checkCaaRecords } from './caa.js';
import { validateDns01 } from './dns01.js';
import { validateHttp01 } from './http01.js';
import { parseIdentifier } from './identifiers.js';
import { challengeInputProblem } from './keyAuthorization.js';
import { fail } from './problems.js';
import { validateTlsAlpn01 } from './tlsAlpn01.js';
import type { CaaResult, ChallengeType, DcvSettings, Identifier, ValidationResult } from './types.js';

export type * from './types.js';
export { keyAuthorizationDigest } from './keyAuthorization.js';
export { HTTP_FILE_DIRECTORIES, validateDomainControl, type DomainControlInput, type DomainControlMethod } from './domainControl.js';

/** Defaults of the settings a deployment may leave out. */
export const DCV_DEFAULTS = { http01Port: 80, tlsAlpn01Port: 443, timeoutMs: 10_000 } as const satisfies Omit<DcvSettings, 'dnsServer'>;

export interface ChallengeInput {
  type: ChallengeType;
  identifier: Identifier;
  token: string;
  keyAuthorization: string;
}

export async function validateChallenge(input: ChallengeInput, settings: DcvSettings): Promise<ValidationResult> {
  const result = await validate(input, settings);
  settings.onAttempt?.(input.type, result.ok ? 'valid' : result.problem.type);
  return result;
}

async function validate(input: ChallengeInput, settings: DcvSettings): Promise<ValidationResult> {
  const target = parseIdentifier(input.identifier);
  if ('problem' in target) return target;
  // RFC 8555 §7.1.3: a wildcard is proved through DNS only. `malformed` rather than
  // `rejectedIdentifier`: the name is acceptable, this challenge type for it is the mistake (and one
  // the front-end should never make, since it must not offer these challenges for a wildcard).
  if (target.wildcard && input.type !== 'dns-01') return fail('malformed', `${input.type} cannot validate the wildcard ${input.identifier.value}; use dns-01`);
  // RFC 8738 §7: there is no DNS zone to publish an IP address's TXT record in.
  if (target.type === 'ip' && input.type === 'dns-01') return fail('malformed', 'dns-01 cannot validate an IP address; use http-01 or tls-alpn-01');
  const badInput = challengeInputProblem(input.token, input.keyAuthorization);
  if (badInput) return badInput;
  const attempt = startAttempt(settings);
  switch (input.type) {
    case 'http-01':
      return validateHttp01(target, input.token, input.keyAuthorization, attempt);
    case 'dns-01':
      return validateDns01(target, input.keyAuthorization, attempt);
    case 'tls-alpn-01':
      return validateTlsAlpn01(target, input.keyAuthorization, attempt);
    default:
      return fail('malformed', `unknown challenge type ${JSON.stringify(input.type satisfies never)}`);
  }
}

/**
 * RFC 8659 CAA check for one name. `domain` may be given as "*.example.com" or as "example.com"
 * with `wildcard: true`; `caaIdentities` are the issuer domains this CA answers to.
 */
export function checkCaa(input: { domain: string; wildcard: boolean; caaIdentities: string[] }, settings: DcvSettings): Promise<CaaResult> {
  return checkCaaRecords(input.domain, input.wildcard, input.caaIdentities, startAttempt(settings));
}
