// Who is calling EST (RFC 7030 §3.2.3, §3.3.2): HTTP Basic with an `est` credential, checked by the
// credential service, or a TLS client certificate that certgate issued, unexpired and unrevoked. The
// listener asks every client for a certificate without requiring one, so the certificate is
// checked here, against certgate's own CAs and records, not by the TLS stack.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { TtlCache } from '../../src/core/ttlCache.js';
import type { CaRecord, CertificateRecord, CredentialRecord, ProductRecord } from '../../src/core/types.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
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
}

export type Identified = { ok: true; certificate: CertificateRecord } | { ok: false; reason: string };

const CA_CACHE_MS = 30_000;

export { sourceIpOf };

/** The certificate the TLS client presented (unverified), if any. */
export function peerCertificate(req: IncomingMessage): X509Certificate | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || typeof socket.getPeerX509Certificate !== 'function') return undefined;
  return socket.getPeerX509Certificate();
}

/** Tells whether a presented certificate is one certgate issued and still stands behind. */
export class ClientCertificates {
  private readonly cas = new TtlCache<{ record: CaRecord; x509: X509Certificate }[]>(CA_CACHE_MS);

  constructor(private readonly queries: CoreServices['queries']) {}

  private caCertificates(): Promise<{ record: CaRecord; x509: X509Certificate }[]> {
    return this.cas.get('all', async () => (await this.queries.caList()).map((record) => ({ record, x509: new X509Certificate(record.certificatePem) })));
  }

  /** CA ids for CA ids or names; unknown ones are left out. */
  async caIds(idsOrNames: readonly string[]): Promise<Set<string>> {
    const all = await this.caCertificates();
    return new Set(all.filter(({ record }) => idsOrNames.includes(record.id) || idsOrNames.includes(record.name)).map(({ record }) => record.id));
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
export async function claimedPrincipal(deps: AuthDeps, req: IncomingMessage): Promise<string | null> {
  const basic = parseBasicAuth(req.headers.authorization);
  if (basic && basic !== 'malformed') return principalOfUser(basic.username);
  const peer = peerCertificate(req);
  if (!peer) return null;
  const identified = await identifyOnce(deps.certificates, req, peer);
  return identified.ok ? principalOfCertificate(identified.certificate) : null;
}

/**
 * Authenticates an enrollment call (simpleenroll, simplereenroll, serverkeygen) under a product.
 * Presented Basic credentials are always checked (a wrong password is never ignored). A client
 * certificate counts when it is certgate's, current, and from this product (or, for simpleenroll
 * and serverkeygen, from a CA in the product's `trustedCas`). simplereenroll needs the certificate
 * it renews; the others need what the product's `auth` setting says.
 */
export async function authenticateCaller(deps: AuthDeps, req: IncomingMessage, product: ProductRecord, settings: EstSettings, operation: Operation): Promise<Caller> {
  const sourceIp = sourceIpOf(req);
  const basic = parseBasicAuth(req.headers.authorization);
  if (basic === 'malformed') throw unauthorized('the Authorization header is not valid HTTP Basic (base64 of user:password)');
  let credential: CredentialRecord | null = null;
  if (basic) {
    const result = await deps.credentials.authenticate({ type: 'est', username: basic.username, password: basic.password }, { protocol: 'est', sourceIp, productId: product.id });
    if (!result.ok) throw unauthorized(`EST credential refused: ${result.message}`);
    credential = result.credential;
  }

  const renewing = operation === 'simplereenroll';
  const peer = renewing || settings.auth !== 'basic' ? peerCertificate(req) : undefined;
  let certificate: CertificateRecord | null = null;
  let certificateRefusal: string | null = null;
  if (peer) {
    const identified = await identifyOnce(deps.certificates, req, peer);
    if (!identified.ok) certificateRefusal = identified.reason;
    else if (identified.certificate.productId === product.id) certificate = identified.certificate;
    else if (!renewing && settings.trustedCas && (await deps.certificates.caIds(settings.trustedCas)).has(identified.certificate.caId)) certificate = identified.certificate;
    else certificateRefusal = `the TLS client certificate was issued under another product, which ${product.name} does not trust`;
  }

  if (renewing) {
    if (!peer) throw unauthorized('simplereenroll authenticates with the TLS client certificate it renews, and none was presented');
    if (!certificate) throw unauthorized(certificateRefusal as string);
    if (settings.auth === 'basic' && !credential) throw unauthorized(`product ${product.name} requires HTTP Basic credentials (an est credential) as well`);
  } else if (settings.auth === 'basic') {
    if (!credential) throw unauthorized(`product ${product.name} requires HTTP Basic credentials (an est credential)`);
  } else if (settings.auth === 'certificate') {
    if (!certificate) throw unauthorized(certificateRefusal ?? `product ${product.name} requires a TLS client certificate issued by certgate`);
  } else if (!credential && !certificate) {
    throw unauthorized(certificateRefusal ?? 'send HTTP Basic credentials (an est credential) or a TLS client certificate issued by certgate');
  }

  if (credential) return { principal: principalOfUser(credential.name), actor: credential.id, certificate };
  // Every way past the checks above without a credential accepted a certificate.
  const accepted = certificate as CertificateRecord;
  return { principal: principalOfCertificate(accepted), actor: principalOfCertificate(accepted), certificate: accepted };
}
