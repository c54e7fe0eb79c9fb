// The validator's settings as the deployment configures them: the one place they are built from
// the config, for the domain registry's validations (and ACME's challenges).
import type { Config } from '../config.js';
import type { DcvSettings } from '../dcv/types.js';
import type { Metrics } from '../metrics/types.js';

/** One validation (DNS, connection, redirects and all) may take this long. */
export const DCV_TIMEOUT_MS = 10_000;
/** Attempts per validation job, the first included: network trouble is tried again, a wrong answer is not. */
export const VALIDATION_ATTEMPTS = 3;
/** The first retry's wait; the queue doubles it for the next. */
export const VALIDATION_BACKOFF_MS = 500;

export function dcvSettingsOf(config: Pick<Config, 'dnsServer' | 'http01Port' | 'tlsAlpn01Port' | 'vaDenyCidrs' | 'vaAllowCidrs'>, metrics: Pick<Metrics, 'dcvAttempt'>): DcvSettings {
  return {
    ...(config.dnsServer ? { dnsServer: config.dnsServer } : {}),
    http01Port: config.http01Port,
    tlsAlpn01Port: config.tlsAlpn01Port,
    denyCidrs: config.vaDenyCidrs,
    allowCidrs: config.vaAllowCidrs,
    timeoutMs: DCV_TIMEOUT_MS,
    onAttempt: (method, outcome) => metrics.dcvAttempt(method, outcome),
  };
}
