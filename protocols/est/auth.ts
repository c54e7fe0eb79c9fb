// Who is calling EST (RFC 7030 §3.2.3, §3.3.2): HTTP Basic with an `est` credential, checked by the
// credential service, or a TLS client certificate. The listener asks every client for a certificate
// without requiring one, so the certificate is checked here, not by the TLS stack. A certificate is
// a login for simpleenroll/serverkeygen only when it chains to a CA the product lists in
// `est.trustedCas`, and then only for its own names (unless the entry says otherwise): a certificate
// certgate issued, for whatever names, is not a login merely because certgate issued it. Renewal
// (simplereenroll) takes a current certgate certificate of the same product, for the same names.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { TtlCache } from '../../src/core/ttlCache.js';
import type { CaRecord, CertificateRecord, CredentialRecord, ProductRecord } from '../../src/core/types.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { isSignedBy, readForeignCertificate } from '../../src/pki/foreignCertificate.js';
import { comparableNames, namesOfCertificate } from '../../src/pki/names.js';
import type { Operation } from './paths.js';
import type { TrustedCa } from '../../src/auth/certificateLogin.js';
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

/** What a certificate login may ask for: its own names, unless its trusted CA's entry lets them differ. */
export interface NameBinding {
  /** The presented certificate's names, in the form names are compared in (src/pki/names.ts). */
  names: string[];
  namesMayDiffer: boolean;
  /** How the audit trail names the presented certificate. */
  presented: string;
}

export type Identified = { ok: true; certificate: CertificateRecord } | { ok: false; reason: string };
export type Trusted = { ok: true; names: string[]; namesMayDiffer: boolean } | { ok: false; reason: string };

/**
 * Why a certificate login may not ask for these names, or null. Equal sets unless the entry lets
 * them differ; even then a wildcard the certificate does not carry is refused, as wildcards
 * otherwise need dns-01.
 */
export function namesRefusal(binding: NameBinding, requested: readonly string[]): string | null {
  const own = new Set(binding.names);
  if (binding.namesMayDiffer) {
    const wild = requested.filter((n) => n.startsWith('*.') && !own.has(n));
    return wild.length ? `a TLS client certificate login may not ask for a wildcard it does not carry (${wild.join(', ')})` : null;
  }
  const extra = requested.filter((n) => !own.has(n));
  const missing = binding.names.filter((n) => !requested.includes(n));
  if (!extra.length && !missing.length) return null;
  return `a TLS client certificate login asks for its own names only (${binding.names.join(', ') || 'none'})${extra.length ? `; not authorized: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`;
}

const presentedName = (peer: X509Certificate): string => `tls-client-certificate:${peer.serialNumber.toLowerCase()} (${peer.subject.split('\n').join(', ')})`.slice(0, 200);

const CA_CACHE_MS = 30_000;

export { sourceIpOf };

/** How many CA certificates a client may send above its own for a trust path (IDevID chains are short). */
const MAX_INTERMEDIATES = 4;

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

const withinDates = (c: X509Certificate, now: number): boolean => now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo);

/**
 * Whether `anchor` vouches for `peer`, directly or through CA certificates among `intermediates`
 * (each within its dates, each signature checked with node:crypto).
 */
function anchoredIn(peer: X509Certificate, anchor: X509Certificate, intermediates: readonly X509Certificate[], now: number): boolean {
  const unused = new Set(intermediates);
  let current = peer;
  for (let depth = 0; depth <= MAX_INTERMEDIATES; depth++) {
    if (isSignedBy(current, anchor)) return true;
    const next = [...unused].find((c) => c.ca && withinDates(c, now) && isSignedBy(current, c));
    if (!next) return false;
    unused.delete(next);
    current = next;
  }
  return false;
}

/** The certificate the TLS client presented (unverified), if any. */
export function peerCertificate(req: IncomingMessage): X509Certificate | undefined {
  return peerOf(req)?.certificate;
}

/** Tells whether a presented certificate is one certgate issued and still stands behind. */
export class ClientCertificates {
  private readonly cas = new TtlCache<{ record: CaRecord; x509: X509Certificate }[]>(CA_CACHE_MS);

  constructor(private readonly queries: CoreServices['queries']) {}

  private caCertificates(): Promise<{ record: CaRecord; x509: X509Certificate }[]> {
    return this.cas.get('all', async () => (await this.queries.caList()).map((record) => ({ record, x509: new X509Certificate(record.certificatePem) })));
  }

  /**
   * Whether a presented certificate authenticates simpleenroll/serverkeygen under these entries:
   * signed by one of them, or (for a CA given by its certificate) through the CA certificates the
   * client sent along; within its dates, as must the CA. A certgate CA's certificate must also be
   * in certgate's records, current and unrevoked (certgate issues from that CA directly), and of
   * `productId`, the product the login is for: a certificate certgate issued is a credential of its
   * own product only, so a product that trusts a CA both share never lets another product's in.
   */
  async trusted(peer: X509Certificate, productId: string, entries: readonly TrustedCa[], intermediates: readonly X509Certificate[] = [], now = Date.now()): Promise<Trusted> {
    if (now < Date.parse(peer.validFrom)) return { ok: false, reason: 'the TLS client certificate is not valid yet' };
    if (now > Date.parse(peer.validTo)) return { ok: false, reason: 'the TLS client certificate has expired' };
    const ours = await this.caCertificates();
    // A certificate one of certgate's CAs signed answers to certgate's records (revocation
    // included), whichever entry vouches for it: also where certgate's CA sits under a listed root.
    const ourIssuer = ours.find(({ x509 }) => isSignedBy(peer, x509));
    const ourCertificate = async (): Promise<Identified> => {
      const identified = await this.identify(peer, now);
      if (identified.ok && identified.certificate.productId !== productId) {
        return { ok: false, reason: 'the TLS client certificate was issued under another product: a certgate certificate is an EST login for its own product only' };
      }
      return identified;
    };
    for (const entry of entries) {
      // A certgate CA listed by its PEM is still certgate's.
      const mine = entry.anchor ? ours.filter(({ x509 }) => x509.raw.equals((entry.anchor as X509Certificate).raw)) : ours.filter(({ record }) => record.id === entry.ca || record.name === entry.ca);
      if (mine.length) {
        if (!ourIssuer || !mine.includes(ourIssuer)) continue;
        const identified = await ourCertificate();
        if (!identified.ok) return identified;
        return { ok: true, names: namesOfCertificate(identified.certificate), namesMayDiffer: entry.namesMayDiffer };
      }
      const anchor = entry.anchor;
      if (!anchor || !anchoredIn(peer, anchor, intermediates, now)) continue;
      if (!withinDates(anchor, now)) return { ok: false, reason: 'the trusted CA that issued the TLS client certificate is outside its validity' };
      if (ourIssuer) {
        const identified = await ourCertificate();
        if (!identified.ok) return identified;
      }
      let read;
      try {
        read = readForeignCertificate(peer.raw);
      } catch {
        return { ok: false, reason: 'the TLS client certificate cannot be read' };
      }
      return { ok: true, names: comparableNames(read.san, [read.commonName]), namesMayDiffer: entry.namesMayDiffer };
    }
    return { ok: false, reason: 'the TLS client certificate was not issued by a CA this product trusts for EST logins (est.trustedCas)' };
  }

  async identify(peer: X509Certificate, now = Date.now()): Promise<Identified> {
    const issuer = (await this.caCertificates()).find(({ x509 }) => peer.checkIssued(x509) && peer.verify(x509.publicKey));
    if (!issuer) return { ok: false, reason: 'the TLS client certificate was not issued by a certgate CA' };
    if (now < Date.parse(peer.validFrom)) return { ok: false, reason: 'the TLS client certificate is not valid yet' };
    if (now > Date.parse(peer.validTo)) return { ok: false, reason: 'the TLS client certificate has expired' };
    let serialHex: string;
    try {
      serialHex = readCertificateBasics(peer.raw).serialHex;
    } catch {
      return { ok: false, reason: 'the TLS client certificate cannot be read' };
    }
    const certificate = await this.queries.certificateBySerial(issuer.record.id, serialHex);
    if (!certificate || !new X509Certificate(certificate.certificatePem).raw.equals(peer.raw)) {
      return { ok: false, reason: 'certgate has no record of issuing the TLS client certificate' };
    }
    if (certificate.revokedAt) return { ok: false, reason: 'the TLS client certificate has been revoked' };
    return { ok: true, certificate };
  }
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
