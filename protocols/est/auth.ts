// Who is calling EST (RFC 7030 §3.2.3, §3.3.2): HTTP Basic with an `est` credential, checked by the
// credential service, or a TLS client certificate. The listener asks every client for a certificate
// without requiring one, so the certificate is checked here, not by the TLS stack. A certificate is
// a login for simpleenroll/serverkeygen only when it chains to a CA the product lists in
// `est.trustedCas`, and then only for its own names (unless the entry says otherwise): a certificate
// certgate issued, for whatever names, is not a login merely because certgate issued it. Renewal
// (simplereenroll) takes a current certgate certificate of the same product, for the same names.
// Those checks are src/auth/certificateLogin.ts (shared with CMP); this file reads the TLS peer.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { MAX_INTERMEDIATES, presentedCertificateName, type CertificateLoginWording, type ClientCertificates, type Identified, type NameBinding } from '../../src/auth/certificateLogin.js';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CertificateRecord, CredentialRecord, ProductRecord } from '../../src/core/types.js';
import type { Operation } from './paths.js';
import type { EstSettings } from './settings.js';
import { parseBasicAuth, unauthorized } from './wire.js';

/** An authenticated EST caller. */
export interface Caller {
  /** The requester its enrollment requests carry. */
  principal: string;
  /** Who the audit trail names. */
  actor: string;
  /** The certgate certificate it presented and that was accepted, if any. */
  certificate: CertificateRecord | null;
  /** Set when a TLS client certificate, not a credential, admitted a simpleenroll or serverkeygen. */
  binding: NameBinding | null;
}

/** How EST's refusals name a certificate login (its users have read these words since EST began). */
export const EST_LOGIN_WORDING: CertificateLoginWording = {
  certificate: 'the TLS client certificate',
  login: 'a TLS client certificate login',
  aProtocolLogin: 'an EST login',
  protocolLogins: 'EST logins',
  settingsKey: 'est.trustedCas',
};

const presentedName = (peer: X509Certificate): string => presentedCertificateName('tls-client-certificate', peer);

export { sourceIpOf };

interface Peer {
  certificate: X509Certificate;
  /** The certificates the client sent above its own (unverified), nearest first. */
  intermediates: X509Certificate[];
}

const peers = new WeakMap<IncomingMessage, Peer | null>();

/**
 * What the TLS client presented (unverified), read once per request. Read with
 * getPeerCertificate(true) only: on Node 20, calling getPeerX509Certificate() first leaves the
 * detailed form without the client's chain, and a device's manufacturer chain is what lets its
 * root be the CA listed in est.trustedCas.
 */
function peerOf(req: IncomingMessage): Peer | null {
  if (peers.has(req)) return peers.get(req) as Peer | null;
  const socket = req.socket as Partial<TLSSocket>;
  let peer: Peer | null = null;
  if (socket.encrypted && typeof socket.getPeerCertificate === 'function') {
    let current = socket.getPeerCertificate(true);
    if (current?.raw) {
      peer = { certificate: new X509Certificate(current.raw), intermediates: [] };
      while (peer.intermediates.length < MAX_INTERMEDIATES && current.issuerCertificate?.raw && current.issuerCertificate !== current) {
        current = current.issuerCertificate;
        peer.intermediates.push(new X509Certificate(current.raw));
      }
    }
  }
  peers.set(req, peer);
  return peer;
}

/** The certificate the TLS client presented (unverified), if any. */
export function peerCertificate(req: IncomingMessage): X509Certificate | undefined {
  return peerOf(req)?.certificate;
}

// The Basic user name, not the credential id: it is what the caller presents, so an earlier request
// can be found before the credential is checked (see claimedPrincipal). Names are unique among live
// EST credentials.
const principalOfUser = (username: string): string => `est:${username}`;
const principalOfCertificate = (c: CertificateRecord): string => `est-cert:${c.caId}:${c.serialNumber}`;
// A certificate login's certificate may be no CA's of certgate's: it is known by its fingerprint.
const principalOfPeer = (peer: X509Certificate): string => `est-cert:sha256:${peer.fingerprint256.replace(/:/g, '').toLowerCase()}`;

// One look at the presented certificate per HTTP request, however often it is asked about.
const identifiedOf = new WeakMap<IncomingMessage, Promise<Identified>>();

function identifyOnce(certificates: ClientCertificates, req: IncomingMessage, peer: X509Certificate): Promise<Identified> {
  let identified = identifiedOf.get(req);
  if (!identified) {
    identified = certificates.identify(peer);
    identifiedOf.set(req, identified);
  }
  return identified;
}

export interface AuthDeps {
  credentials: CoreServices['credentials'];
  certificates: ClientCertificates;
}

/**
 * The requester a caller's enrollment requests carry, from what it presents and before anything is
 * checked: to find its earlier request. null when it presents nothing usable.
 */
export async function claimedPrincipal(deps: AuthDeps, req: IncomingMessage, operation: Operation): Promise<string | null> {
  const basic = parseBasicAuth(req.headers.authorization);
  if (basic && basic !== 'malformed') return principalOfUser(basic.username);
  const peer = peerCertificate(req);
  if (!peer) return null;
  if (operation !== 'simplereenroll') return principalOfPeer(peer);
  const identified = await identifyOnce(deps.certificates, req, peer);
  return identified.ok ? principalOfCertificate(identified.certificate) : null;
}

/**
 * Authenticates an enrollment call (simpleenroll, simplereenroll, serverkeygen) under a product.
 * Presented Basic credentials are always checked (a wrong password is never ignored).
 * simplereenroll needs the certgate certificate it renews, of this product, current and unrevoked
 * (and Basic too where `auth` is `basic`). simpleenroll and serverkeygen need what `auth` says; a
 * certificate counts only when it chains to one of the product's `trustedCas`, and binds the names
 * the caller may ask for (see NameBinding). Every refused certificate is in the audit trail.
 */
export async function authenticateCaller(deps: AuthDeps, req: IncomingMessage, product: ProductRecord, settings: EstSettings, operation: Operation): Promise<Caller> {
  const sourceIp = sourceIpOf(req);
  const context = { protocol: 'est', sourceIp, productId: product.id };
  const basic = parseBasicAuth(req.headers.authorization);
  if (basic === 'malformed') throw unauthorized('the Authorization header is not valid HTTP Basic (base64 of user:password)');
  let credential: CredentialRecord | null = null;
  if (basic) {
    const result = await deps.credentials.authenticate({ type: 'est', username: basic.username, password: basic.password }, context);
    if (!result.ok) throw unauthorized(`EST credential refused: ${result.message}`);
    credential = result.credential;
  }
  const refuseCertificate = async (peer: X509Certificate, reason: string): Promise<never> => {
    await deps.credentials.recordRefusal(context, presentedName(peer), reason, 'tls-client-certificate', credential?.id);
    throw unauthorized(reason);
  };

  if (operation === 'simplereenroll') {
    const peer = peerCertificate(req);
    if (!peer) throw unauthorized('simplereenroll authenticates with the TLS client certificate it renews, and none was presented');
    const identified = await identifyOnce(deps.certificates, req, peer);
    if (!identified.ok) return refuseCertificate(peer, identified.reason);
    if (identified.certificate.productId !== product.id) return refuseCertificate(peer, `the TLS client certificate was issued under another product: simplereenroll renews within ${product.name} only`);
    if (settings.auth === 'basic' && !credential) throw unauthorized(`product ${product.name} requires HTTP Basic credentials (an est credential) as well`);
    const renewed = identified.certificate;
    if (credential) return { principal: principalOfUser(credential.name), actor: credential.id, certificate: renewed, binding: null };
    return { principal: principalOfCertificate(renewed), actor: principalOfCertificate(renewed), certificate: renewed, binding: null };
  }

  if (settings.auth === 'basic' || (settings.auth === 'either' && credential)) {
    if (!credential) throw unauthorized(`product ${product.name} requires HTTP Basic credentials (an est credential)`);
    return { principal: principalOfUser(credential.name), actor: credential.id, certificate: null, binding: null };
  }
  const peer = peerCertificate(req);
  if (!peer) {
    throw unauthorized(
      settings.auth === 'certificate'
        ? `product ${product.name} requires a TLS client certificate from a CA it trusts (est.trustedCas)`
        : 'send HTTP Basic credentials (an est credential) or a TLS client certificate from a CA this product trusts (est.trustedCas)',
    );
  }
  const trusted = await deps.certificates.trusted(peer, product.id, settings.trustedCas ?? [], peerOf(req)?.intermediates ?? []);
  if (!trusted.ok) return refuseCertificate(peer, trusted.reason);
  const binding: NameBinding = { names: trusted.names, namesMayDiffer: trusted.namesMayDiffer, presented: presentedName(peer) };
  if (credential) return { principal: principalOfUser(credential.name), actor: credential.id, certificate: null, binding };
  const principal = principalOfPeer(peer);
  return { principal, actor: principal, certificate: null, binding };
}
