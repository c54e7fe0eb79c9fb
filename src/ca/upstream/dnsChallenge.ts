// How an upstream ACME order's dns-01 challenges are published: the upstream CA asks for a TXT
// record at _acme-challenge.<name>. Implemented by RFC 2136 dynamic updates with TSIG, and by an
// operator's hook command, chosen per CA when it is created.
export interface DnsChallengePublisher {
  /** Publishes TXT `value` at `fqdn` (no trailing dot) and resolves once the server accepted it. */
  add(fqdn: string, value: string): Promise<void>;
  /** Removes that one record; removing one that is not there is no error. */
  remove(fqdn: string, value: string): Promise<void>;
}

/**
 * A publisher's failure, in words for the operator (never holding a secret). `transient`: the
 * server or hook may well succeed later (no answer, SERVFAIL, a timeout), so the order is worth
 * retrying; otherwise the settings are wrong (key, zone, permissions) and retrying will not help.
 */
export class DnsPublishError extends Error {
  override readonly name = 'DnsPublishError';
  constructor(
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
