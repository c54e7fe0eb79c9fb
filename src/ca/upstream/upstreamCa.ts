// A CA whose certificates come from an upstream ACME server (step-ca's RA mode, acme2certifier's
// ACME handler): after certgate's own policy, approval and DCV, the worker's claim lands here, and
// this backend places (or resumes) the upstream order for the decided names, answers its
// challenges, finalizes it with the requester's CSR and returns the certificate with the chain
// the upstream sent.
import { calculateJwkThumbprint } from 'jose';
import { CA_CAPABILITIES } from '../../core/caCapabilities.js';
import { REVOCATION_REASON_CODES } from '../../core/types.js';
import { keyAuthorizationDigest } from '../../dcv/keyAuthorization.js';
import { readCertificateBasics } from '../../pki/certInfo.js';
import { parseCsr } from '../../pki/csr.js';
import { fromPem, pemBlocks, toPem } from '../../pki/pem.js';
import { serialIntegerContent } from '../../pki/serial.js';
import { storedRequestFormat } from '../../pki/storedRequest.js';
import type { CaBackend, IssueRequest, IssuedCertificate, UpstreamRevocation } from '../types.js';
import { AcmeHttp, DEFAULT_RETRY_AFTER_SECONDS, retryAfterSeconds, type AcmeResponse } from './acmeHttp.js';
import type { UpstreamAcmeConfig } from './config.js';
import type { DnsChallengePublisher } from './dnsChallenge.js';
import { UpstreamProblem, UpstreamRetryLater, UpstreamUnreachable } from './errors.js';
import { upstreamEntry, type RenewalWindow, type UpstreamOrders } from './orders.js';

/** How long one job waits for the upstream to validate or issue before handing the request back to the queue. */
const POLL_BUDGET_MS = 60_000;
const POLL_INTERVAL_MS = 250;

interface AcmeOrder {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: { type?: string; detail?: string };
}
interface AcmeChallenge {
  type: string;
  url: string;
  token: string;
  status: string;
}
interface AcmeAuthorization {
  status: string;
  identifier: { type: string; value: string };
  challenges: AcmeChallenge[];
  wildcard?: boolean;
}

export interface UpstreamAcmeCaOptions {
  caId: string;
  certificatePem: string;
  chainPem: string[];
  notAfter: Date;
  config: UpstreamAcmeConfig;
  http: AcmeHttp;
  orders: UpstreamOrders;
  /** dns-01 only: where TXT records are published. */
  dnsPublisher?: DnsChallengePublisher;
  /** Tests only: called once the order is recorded and before it is worked on (a crash there must not place a second order). */
  afterOrderRecorded?: (requestId: string) => Promise<void>;
}

/** The decided names as the upstream sees them: DNS names and IP addresses, lower case, sorted. */
function decidedNames(request: IssueRequest): string[] {
  if (request.san.email.length || request.san.uri.length) {
    throw new UpstreamProblem('urn:ietf:params:acme:error:rejectedIdentifier', 'an upstream ACME CA issues for DNS names and IP addresses only, not e-mail addresses or URIs', 400);
  }
  return [...new Set([...request.san.dns, ...request.san.ip].map((n) => n.toLowerCase()))].sort();
}

/**
 * The upstream signs the CSR as it is, so the CSR must carry exactly the names certgate decided
 * (its CN, when it has one, among them); otherwise the upstream would issue what policy did not.
 */
export function csrNameMismatch(csrPem: string, names: string[]): string | null {
  const csr = parseCsr(csrPem);
  const inCsr = new Set([...csr.san.dns, ...csr.san.ip].map((n) => n.toLowerCase()));
  const cn = csr.subject.commonName?.toLowerCase();
  if (cn) inCsr.add(cn);
  const extra = [...inCsr].filter((n) => !names.includes(n));
  const missing = names.filter((n) => !inCsr.has(n));
  if (!extra.length && !missing.length) return null;
  return `the CSR must carry exactly the decided names for an upstream ACME CA${extra.length ? `; not decided: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`;
}

export class UpstreamAcmeCa implements CaBackend {
  readonly capabilities = CA_CAPABILITIES['upstream-acme'];
  readonly caId: string;
  readonly certificatePem: string;
  readonly chainPem: readonly string[];
  readonly notAfter: Date;

  constructor(private readonly o: UpstreamAcmeCaOptions) {
    this.caId = o.caId;
    this.certificatePem = o.certificatePem;
    this.chainPem = o.chainPem;
    this.notAfter = o.notAfter;
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    if (!request.requestId || !request.csrPem) throw new Error('an upstream ACME CA issues only for enrollment requests (request id and CSR)');
    const requestId = request.requestId;
    if (storedRequestFormat(request.csrPem) === 'crmf') {
      // ACME finalizes an order with a PKCS#10 CSR; a CRMF request cannot be passed on as one.
      throw new UpstreamProblem('urn:ietf:params:acme:error:badCSR', 'an upstream ACME CA needs a PKCS#10 CSR, and this is a CMP CRMF request: use p10cr', 400);
    }
    const names = decidedNames(request);
    const mismatch = csrNameMismatch(request.csrPem, names);
    if (mismatch) throw new UpstreamProblem('urn:ietf:params:acme:error:badCSR', mismatch, 400);

    const orders = this.o.orders;
    const kid = this.o.config.accountUrl;
    const known = await orders.get(requestId);
    let orderUrl: string;
    let order: AcmeOrder;
    if (known) {
      orderUrl = known.orderUrl;
      order = await this.read<AcmeOrder>(orderUrl);
      await orders.note(upstreamEntry(requestId, this.caId, 'resumed', { order: orderUrl, status: order.status }));
    } else {
      const dir = await this.o.http.getDirectory();
      const payload: Record<string, unknown> = {
        identifiers: names.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? 'ip' : 'dns', value: n })),
      };
      if (this.o.config.profile) payload.profile = this.o.config.profile;
      const res = await this.o.http.post(dir.newOrder, payload, kid, [201]);
      const location = res.headers.location;
      if (typeof location !== 'string') throw new UpstreamUnreachable('the upstream created an order without telling where it is');
      orderUrl = location;
      order = res.json as unknown as AcmeOrder;
      await orders.record(requestId, this.caId, orderUrl, names);
    }
    await this.o.afterOrderRecorded?.(requestId);

    try {
      order = await this.authorize(requestId, orderUrl, order);
      if (order.status === 'ready') {
        const csrDer = fromPem(request.csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
        const res = await this.o.http.post(order.finalize, { csr: csrDer.toString('base64url') }, kid, [200]);
        order = res.json as unknown as AcmeOrder;
      }
      order = await this.pollOrder(orderUrl, order, (s) => s !== 'processing');
      if (order.status !== 'valid' || !order.certificate) throw this.orderFailed(order);
      const certRes = await this.o.http.post(order.certificate, null, kid, [200]);
      const blocks = pemBlocks(certRes.body.toString('utf8')).filter((b) => b.label === 'CERTIFICATE');
      const [leaf, ...chain] = blocks;
      if (!leaf) throw new UpstreamUnreachable('the upstream returned no certificate');
      const basics = readCertificateBasics(leaf.der);
      const chainPem = chain.map((b) => toPem('CERTIFICATE', b.der));
      const renewal = chain[0] ? await this.renewalInfo(basics.serialHex, chain[0].der) : null;
      await orders.finish(requestId, 'valid', chainPem.join(''), upstreamEntry(requestId, this.caId, 'finalized', { order: orderUrl, serial: basics.serialHex }), renewal);
      await orders.removeHttpChallenges(requestId);
      return { der: leaf.der, pem: toPem('CERTIFICATE', leaf.der), serialHex: basics.serialHex, notBefore: basics.notBefore, notAfter: basics.notAfter, chainPem };
    } catch (e) {
      if (e instanceof UpstreamProblem) {
        await orders.finish(requestId, 'invalid', null, upstreamEntry(requestId, this.caId, 'refused', { order: orderUrl, type: e.type, detail: e.detail }));
        await orders.removeHttpChallenges(requestId);
      }
      throw e;
    }
  }

  signCrl(): Promise<Buffer> {
    return Promise.reject(new Error('an upstream ACME CA publishes its own CRL; certgate does not sign one for it'));
  }

  /** RFC 8555 §7.6, signed with the account key (the account that ordered the certificate). */
  async revokeUpstream(r: UpstreamRevocation): Promise<void> {
    const dir = await this.o.http.getDirectory();
    const der = fromPem(r.certificatePem, ['CERTIFICATE']);
    const reason = REVOCATION_REASON_CODES[r.reason];
    try {
      await this.o.http.post(dir.revokeCert, { certificate: der.toString('base64url'), reason }, this.o.config.accountUrl, [200]);
    } catch (e) {
      // Revoking twice is no error for the caller: the certificate is revoked upstream either way.
      if (e instanceof UpstreamProblem && e.type === 'urn:ietf:params:acme:error:alreadyRevoked') return;
      // A rate limit is the caller's to wait out (429 with the upstream's delay), not a queue's.
      if (e instanceof UpstreamRetryLater) throw new UpstreamProblem('urn:ietf:params:acme:error:rateLimited', e.message, 429, e.seconds);
      throw e;
    }
  }

  /**
   * The upstream's suggested renewal window (ARI, RFC 9773) when its directory offers renewalInfo.
   * Advice only: an upstream that does not answer leaves certgate's own window in force.
   */
  private async renewalInfo(serialHex: string, issuerDer: Buffer): Promise<RenewalWindow | null> {
    try {
      const dir = await this.o.http.getDirectory();
      if (!dir.renewalInfo) return null;
      const keyId = readCertificateBasics(issuerDer).subjectKeyId;
      if (!keyId) return null;
      const certId = `${keyId.toString('base64url')}.${serialIntegerContent(serialHex).toString('base64url')}`;
      const res = await this.o.http.request('GET', `${dir.renewalInfo.replace(/\/$/, '')}/${certId}`);
      const window = (res.json?.suggestedWindow ?? null) as { start?: unknown; end?: unknown } | null;
      if (res.status !== 200 || typeof window?.start !== 'string' || typeof window.end !== 'string') return null;
      const start = new Date(window.start);
      const end = new Date(window.end);
      return Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start ? null : { start, end };
    } catch {
      return null;
    }
  }

  /** Answers the order's pending authorizations and waits until the order is ready (or refused). */
  private async authorize(requestId: string, orderUrl: string, order: AcmeOrder): Promise<AcmeOrder> {
    if (order.status !== 'pending') return order;
    for (const url of order.authorizations) {
      const authz = await this.read<AcmeAuthorization>(url);
      if (authz.status === 'valid') continue;
      if (authz.status !== 'pending') throw this.authzFailed(authz);
      const { challenge, withdraw } = await this.answer(requestId, authz);
      let done: AcmeAuthorization;
      try {
        if (challenge.status === 'pending') await this.o.http.post(challenge.url, {}, this.o.config.accountUrl, [200]);
        done = await this.poll<AcmeAuthorization>(url, (a) => a.status !== 'pending');
      } finally {
        // A TXT record is withdrawn once the upstream has looked (or given up); a retry publishes it again.
        await withdraw();
      }
      if (done.status !== 'valid') throw this.authzFailed(done);
    }
    return this.pollOrder(orderUrl, order, (s) => s !== 'pending');
  }

  private async answer(requestId: string, authz: AcmeAuthorization): Promise<{ challenge: AcmeChallenge; withdraw: () => Promise<void> }> {
    const type = this.o.config.challenge.type;
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) throw new UpstreamProblem('urn:ietf:params:acme:error:unsupportedIdentifier', `the upstream offers no ${type} challenge for ${authz.identifier.value}`, 400);
    if (type === 'http-01') {
      // Served until the order is done (removeHttpChallenges), whichever process is asked.
      await this.o.orders.addHttpChallenge(requestId, challenge.token, await this.keyAuthorization(challenge.token));
      return { challenge, withdraw: async () => undefined };
    }
    if (!this.o.dnsPublisher) throw new Error('dns-01 is configured but no DNS publisher is available in this version');
    const record = await this.dnsRecord(authz, challenge);
    await this.o.dnsPublisher.add(record.name, record.value);
    return { challenge, withdraw: () => this.unpublish(requestId, record) };
  }

  /** The TXT record answering a dns-01 challenge (RFC 8555 §8.4); a wildcard's goes at its base name. */
  private async dnsRecord(authz: AcmeAuthorization, challenge: AcmeChallenge): Promise<{ name: string; value: string }> {
    return { name: `_acme-challenge.${authz.identifier.value.replace(/^\*\./, '')}`, value: keyAuthorizationDigest(await this.keyAuthorization(challenge.token)) };
  }

  /**
   * Once the upstream has decided an authorization, its TXT record has served. A record that
   * cannot be removed is left behind (audited), not a reason to fail the request.
   */
  private async unpublish(requestId: string, { name, value }: { name: string; value: string }): Promise<void> {
    if (!this.o.dnsPublisher) return;
    try {
      await this.o.dnsPublisher.remove(name, value);
    } catch (e) {
      await this.o.orders.note(upstreamEntry(requestId, this.caId, 'dns_record_left', { name, error: (e as Error).message }));
    }
  }

  private thumbprint: Promise<string> | null = null;
  /** RFC 8555 §8.1: the token, a dot and the account key's JWK thumbprint (RFC 7638, by jose). */
  private async keyAuthorization(token: string): Promise<string> {
    this.thumbprint ??= calculateJwkThumbprint(this.o.http.accountJwk(), 'sha256');
    return `${token}.${await this.thumbprint}`;
  }

  /** POST-as-GET of an order or authorization; its Retry-After says how long to wait when it is not done. */
  private async readWithWait<T>(url: string): Promise<{ body: T; res: AcmeResponse }> {
    const res = await this.o.http.post(url, null, this.o.config.accountUrl, [200]);
    return { body: res.json as unknown as T, res };
  }

  private async read<T>(url: string): Promise<T> {
    return (await this.readWithWait<T>(url)).body;
  }

  private async poll<T>(url: string, done: (t: T) => boolean): Promise<T> {
    const deadline = Date.now() + POLL_BUDGET_MS;
    for (;;) {
      const { body, res } = await this.readWithWait<T>(url);
      if (done(body)) return body;
      if (Date.now() > deadline) {
        // Still working upstream: the order is recorded, so the request comes back to it later.
        throw new UpstreamRetryLater(`the upstream is still working on ${url}`, retryAfterSeconds(res.headers['retry-after']) ?? DEFAULT_RETRY_AFTER_SECONDS);
      }
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
  }

  private async pollOrder(url: string, order: AcmeOrder, done: (status: string) => boolean): Promise<AcmeOrder> {
    if (done(order.status)) return order;
    return this.poll<AcmeOrder>(url, (o) => done(o.status));
  }

  private orderFailed(order: AcmeOrder): UpstreamProblem {
    return new UpstreamProblem(order.error?.type ?? '', order.error?.detail ?? `the upstream order ended ${order.status}`, 403);
  }

  private authzFailed(authz: AcmeAuthorization): UpstreamProblem {
    const failed = authz.challenges.find((c) => (c as AcmeChallenge & { error?: unknown }).error) as (AcmeChallenge & { error?: { type?: string; detail?: string } }) | undefined;
    const detail = failed?.error?.detail ?? `the upstream's authorization for ${authz.identifier.value} is ${authz.status}`;
    return new UpstreamProblem(failed?.error?.type ?? 'urn:ietf:params:acme:error:unauthorized', detail, 403);
  }
}
