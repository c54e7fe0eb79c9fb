// The vocabulary of domain control validation (RFC 8555 §8): what the ACME front-end asks the
// validation authority and what it is told back. Kept free of any I/O so the front-end can import
// it without pulling in sockets.

export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

/** dns value may be a wildcard "*.example.com" only for dns-01 (RFC 8555 §7.1.3). */
export interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

export interface DcvSettings {
  /** host:port of the DNS server to ask (CERTGATE_DNS_SERVER); undefined: the system resolver. */
  dnsServer?: string;
  /** default 80 (CERTGATE_HTTP01_PORT) */
  http01Port: number;
  /** default 443 (CERTGATE_TLSALPN01_PORT); also the port an http-01 redirect to https:// is followed to. */
  tlsAlpn01Port: number;
  /** per-attempt timeout for one validation, ms: DNS, connection, redirects and all. */
  timeoutMs: number;
  /** Ranges (CIDR) the validator never connects to, on top of link-local and metadata (CERTGATE_VA_DENY_CIDRS). */
  denyCidrs?: readonly string[];
  /** Ranges carved out of denyCidrs (CERTGATE_VA_ALLOW_CIDRS); they cannot reopen link-local or metadata. */
  allowCidrs?: readonly string[];
  /** Told each attempt's outcome: `valid`, or the problem type (the deployment's metrics). */
  onAttempt?: (method: ChallengeType, outcome: 'valid' | ProblemType) => void;
}

/** RFC 8555 §6.7 names, without the urn:ietf:params:acme:error: prefix. */
export type ProblemType = 'connection' | 'dns' | 'incorrectResponse' | 'unauthorized' | 'tls' | 'caa' | 'malformed' | 'rejectedIdentifier';

export interface Problem {
  type: ProblemType;
  detail: string;
}

export type ValidationResult =
  | { ok: true; addressUsed?: string }
  | {
      ok: false;
      problem: Problem;
      /** a network error worth another attempt */
      retryable: boolean;
    };

export type Failure = Extract<ValidationResult, { ok: false }>;

export type CaaResult = { ok: true } | { ok: false; detail: string; retryable: boolean };
