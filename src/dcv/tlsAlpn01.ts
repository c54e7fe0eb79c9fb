// tls-alpn-01 (RFC 8737): a TLS handshake that offers only the "acme-tls/1" protocol must negotiate
// it, and the certificate the server presents for it must name the identifier alone and carry the
// critical acmeIdentifier extension holding SHA-256(key authorization). The certificate is
// self-signed and never trusted: only its content is read, with pkijs and asn1js.
import { timingSafeEqual } from 'node:crypto';
import { connect } from 'node:tls';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { pinnedLookup } from './addressPolicy.js';
import type { Attempt } from './attempt.js';
import { reverseName, type Target } from './identifiers.js';
import { keyAuthorizationHash } from './keyAuthorization.js';
import { fail, networkFailure } from './problems.js';
import { addressesOf, firstReachable } from './resolver.js';
import type { Failure, ValidationResult } from './types.js';

export const ACME_TLS_ALPN = 'acme-tls/1';
/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const OID_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const GENERAL_NAME_DNS = 2;
const GENERAL_NAME_IP = 7;

interface Handshake {
  alpn: string | false | null;
  der: Buffer | undefined;
}

/** Connects, completes the handshake, keeps what was negotiated and the peer's certificate, and hangs up. */
function handshake(address: string, port: number, servername: string, signal: AbortSignal): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    // TLS 1.2 at least, Node's default; RFC 8737 §4 requires it.
    // `address` was checked against the validator's address policy; it is connected to as it is,
    // never looked up again.
    const socket = connect({ host: address, lookup: pinnedLookup(address), port, servername, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false });
    const onAbort = (): void => {
      socket.destroy(Object.assign(new Error('validation timed out'), { code: 'ABORT_ERR' }));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      resolve({ alpn: socket.alpnProtocol, der: socket.getPeerX509Certificate()?.raw });
      socket.destroy();
    });
    socket.on('error', reject);
    socket.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      reject(Object.assign(new Error('connection closed during the TLS handshake'), { code: 'ECONNRESET' }));
    });
  });
}

function onlySubjectAltName(cert: pkijs.Certificate): pkijs.GeneralName | string {
  const sans = (cert.extensions ?? []).filter((e) => e.extnID === OID_SUBJECT_ALT_NAME);
  if (sans.length !== 1) return sans.length === 0 ? 'has no subjectAltName extension' : 'has more than one subjectAltName extension';
  const value: unknown = sans[0]?.parsedValue;
  if (!(value instanceof pkijs.AltName) || 'parsingError' in value) return 'has a malformed subjectAltName extension';
  const [only, ...others] = value.altNames;
  if (!only || others.length > 0) return `must have exactly one subjectAltName, has ${value.altNames.length}`;
  return only;
}

function namesTarget(name: pkijs.GeneralName, target: Target): boolean {
  if (target.type === 'ip') {
    return name.type === GENERAL_NAME_IP && name.value instanceof asn1js.OctetString && target.ipBytes !== undefined && Buffer.from(name.value.valueBlock.valueHexView).equals(target.ipBytes);
  }
  return name.type === GENERAL_NAME_DNS && typeof name.value === 'string' && name.value.toLowerCase() === target.name;
}

/** The 32 bytes in the acmeIdentifier extension, or why there are none. */
function acmeIdentifierValue(cert: pkijs.Certificate): Buffer | string {
  const found = (cert.extensions ?? []).filter((e) => e.extnID === OID_ACME_IDENTIFIER);
  if (found.length !== 1) return found.length === 0 ? 'has no acmeIdentifier extension' : 'has more than one acmeIdentifier extension';
  const ext = found[0] as pkijs.Extension;
  if (!ext.critical) return 'has an acmeIdentifier extension that is not critical';
  // extnValue wraps the DER of `Authorization ::= OCTET STRING (SIZE (32))`, with nothing after it.
  const bytes = ext.extnValue.valueBlock.valueHexView;
  const inner = asn1js.fromBER(bytes);
  const ok = inner.offset === bytes.byteLength && inner.result instanceof asn1js.OctetString && !inner.result.idBlock.isConstructed && inner.result.valueBlock.valueHexView.byteLength === 32;
  if (!ok) return 'has an acmeIdentifier extension that is not an OCTET STRING of 32 bytes';
  return Buffer.from((inner.result as asn1js.OctetString).valueBlock.valueHexView);
}

function certificateProblem(cert: pkijs.Certificate, target: Target, expectedHash: Buffer): Failure | null {
  const san = onlySubjectAltName(cert);
  if (typeof san === 'string') return fail('incorrectResponse', `The tls-alpn-01 certificate ${san}`);
  if (!namesTarget(san, target)) return fail('incorrectResponse', `The tls-alpn-01 certificate's subjectAltName is not ${target.name}`);
  const value = acmeIdentifierValue(cert);
  if (typeof value === 'string') return fail('incorrectResponse', `The tls-alpn-01 certificate ${value}`);
  if (!timingSafeEqual(value, expectedHash)) return fail('unauthorized', `The tls-alpn-01 certificate's acmeIdentifier does not match this challenge's key authorization`);
  return null;
}

/** Judges the certificate a tls-alpn-01 server presented (DER, untrusted); null when it proves the key authorization. */
export function challengeCertificateProblem(der: Uint8Array, target: Target, expectedHash: Buffer): Failure | null {
  try {
    return certificateProblem(pkijs.Certificate.fromBER(der), target, expectedHash);
  } catch {
    // asn1js throws, rather than reporting, on some malformed content (a GeneralizedTime that is not
    // a time, inside an extension value): whatever the step, the certificate cannot be read.
    return fail('incorrectResponse', 'The tls-alpn-01 certificate could not be parsed');
  }
}

export async function validateTlsAlpn01(target: Target, keyAuthorization: string, attempt: Attempt): Promise<ValidationResult> {
  const resolved = await addressesOf(attempt.resolver, target.name);
  if (!resolved.ok) return resolved;
  // RFC 8738 §6: an IP address is sent as its reverse-DNS name, since SNI cannot carry an address.
  const servername = target.ipBytes ? reverseName(target.ipBytes) : target.name;
  const port = attempt.settings.tlsAlpn01Port;
  const expected = keyAuthorizationHash(keyAuthorization);
  return firstReachable(resolved.addresses, attempt.addresses, `TLS connection to ${servername} port ${port}`, async (address) => {
    const where = `${servername} at ${address} port ${port}`;
    let answer: Handshake;
    try {
      answer = await handshake(address, port, servername, attempt.signal);
    } catch (err) {
      return networkFailure(err, `TLS connection to ${where}`);
    }
    if (answer.alpn !== ACME_TLS_ALPN) return fail('incorrectResponse', `${where} did not negotiate the ${ACME_TLS_ALPN} protocol`);
    if (!answer.der) return fail('incorrectResponse', `${where} presented no certificate`);
    return challengeCertificateProblem(answer.der, target, expected) ?? { ok: true, addressUsed: address };
  });
}
