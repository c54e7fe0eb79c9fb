// One validation attempt's deadline and DNS resolver. Every step of the attempt (look-ups, connects,
// redirects, reading the body) shares one AbortSignal, so timeoutMs bounds the whole attempt and not
// each step: ten redirects to slow hosts cannot add up to ten timeouts.
import { addressPolicy, type AddressPolicy } from './addressPolicy.js';
import { createResolver, type DcvResolver } from './resolver.js';
import type { DcvSettings } from './types.js';

export interface Attempt {
  settings: DcvSettings;
  signal: AbortSignal;
  resolver: DcvResolver;
  addresses: AddressPolicy;
}

function checkSettings(settings: DcvSettings): void {
  const port = (p: number): boolean => Number.isInteger(p) && p > 0 && p < 65536;
  if (!port(settings.http01Port) || !port(settings.tlsAlpn01Port)) throw new RangeError('DcvSettings: http01Port and tlsAlpn01Port must be ports (1-65535)');
  if (!(Number.isFinite(settings.timeoutMs) && settings.timeoutMs > 0)) throw new RangeError('DcvSettings: timeoutMs must be a positive number');
}

/** Settings that are wrong are the operator's to fix, so they throw instead of failing one challenge. */
export function startAttempt(settings: DcvSettings): Attempt {
  checkSettings(settings);
  // A malformed range throws CidrError here, before any look-up or connection.
  const addresses = addressPolicy(settings);
  const signal = AbortSignal.timeout(settings.timeoutMs);
  return { settings, signal, resolver: createResolver(settings, signal), addresses };
}
