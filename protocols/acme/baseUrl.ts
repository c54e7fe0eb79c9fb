// Where ACME clients reach this server. RFC 8555 §6.1 requires HTTPS, and every URL the server hands
// out (directory, Location, Link, kid, the `url` a JWS must name) must be one an attacker cannot
// choose: so the base comes from the configuration, never from the request's Host header.
import { isIP } from 'node:net';
import type { Config } from '../../src/config.js';

/**
 * CERTGATE_PUBLIC_URL when it is https: (it names a front end the operator runs, which may listen on
 * 443 and forward the TLS connection to certgate's HTTPS port). Otherwise certgate's own HTTPS
 * listener: the public URL's host name, else the first CERTGATE_TLS_HOSTNAMES entry, else the bound
 * address unless it is a wildcard, else localhost (names the gateway's own TLS certificate carries),
 * on CERTGATE_HTTPS_PORT.
 */
export function acmeBaseUrl(config: Pick<Config, 'publicUrl' | 'tlsHostnames' | 'host' | 'httpsPort'>): string {
  const configured = config.publicUrl ? new URL(config.publicUrl) : undefined;
  if (configured?.protocol === 'https:') return `${configured.origin}${configured.pathname}`.replace(/\/+$/, '');
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = configured?.hostname.replace(/^\[|\]$/g, '') || config.tlsHostnames[0] || (wildcard ? 'localhost' : config.host);
  const hostPart = isIP(host) === 6 ? `[${host}]` : host;
  return `https://${hostPart}${config.httpsPort === 443 ? '' : `:${config.httpsPort}`}`;
}
