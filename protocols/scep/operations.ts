// PKIOperation (RFC 8894 §3.3): a pkiMessage in, a CertRep out. PKCSReq and RenewalReq become
// enrollment requests on the shared queue; CertPoll finds one again by transactionID; GetCert and
// GetCRL read. Every answer a request can have is a CertRep (SUCCESS, PENDING, or FAILURE with
// its failInfo); only a message with no transactionID or senderNonce to echo is refused outright.
import { createHash } from 'node:crypto';
import type * as pkijs from 'pkijs';
import { AppError } from '../../src/core/errors.js';
import { capabilitiesOf, capabilityRefusal } from '../../src/core/caCapabilities.js';
import type { Grant, Outcome } from '../../src/core/enrollmentService.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CertificateRecord, Constraint, EnrollmentRequest, ProductRecord } from '../../src/core/types.js';
import { CsrError, parseCsr, type ParsedCsr } from '../../src/pki/csr.js';
import { namesOfCertificate } from '../../src/pki/names.js';
import { fromPem } from '../../src/pki/pem.js';
import { MESSAGE_TYPE, type FailInfo } from './algorithms.js';
import type { ChallengeCheck, Challenges } from './challenges.js';
import { parseCertificate } from './certRef.js';
import { addressedEnvelope, decryptContent, UNKNOWN_RECIPIENT } from './envelope.js';
import { MalformedMessage, ScepFailure } from './messageErrors.js';
import { readIssuerAndSerial, type PkiMessage, type ReplyTo } from './pkiMessage.js';
import { asBuffer, reply as buildReply, type ReadResult, type RecipientMaterial, type ReplyJob } from './cmsJobs.js';
import { scepConfig } from './config.js';
import type { CmsRunner } from './cmsPool.js';
import type { LoadedRa, RaCertificates } from './ra.js';
import type { RaIssuers } from './raIssuer.js';

/** A signingTime further than this from our clock is badTime (devices without a clock exist). */
const MAX_CLOCK_SKEW_MS = 24 * 3_600_000;
/** How long a PKCSReq waits for the worker before answering PENDING. */
const ENROLL_WAIT_MS = 10_000;
/** How long a CertPoll waits for a request that is still queued. */
const POLL_WAIT_MS = 2_000;

interface CaView {
  /** The CA's certificate, then its parents up to the root, DER. */
  chain: Buffer[];
  /** The CA's own certificate, parsed (its subject names the issuer in GetCert and GetCRL). */
  ca: pkijs.Certificate;
}

/** What a SUCCESS carries: certificates (and CRLs), encrypted to the requester with its own cipher. */
type Answer = { status: 'SUCCESS'; certificates: Buffer[]; crls?: Buffer[] } | { status: 'PENDING' } | { status: 'FAILURE'; failInfo: FailInfo; reason: string };

const failure = (failInfo: FailInfo, reason: string): Answer => ({ status: 'FAILURE', failInfo, reason });

const recipientOf = (ra: LoadedRa): { id: string; der: Buffer } & Pick<RecipientMaterial, 'key' | 'inToken'> => (ra.key ? { id: ra.id, der: ra.der, key: ra.key } : { id: ra.id, der: ra.der, inToken: true });

/** Who sent a request, for polls that carry no CSR: the certificate it is signed with. */
export const principalOf = (signerDer: Buffer): string => `scep:${createHash('sha256').update(signerDer).digest('hex').slice(0, 40)}`;

export class PkiOperations {
  private readonly caViews = new Map<string, Promise<CaView>>();

  constructor(
    private readonly core: CoreServices,
    private readonly ras: RaCertificates,
    private readonly raIssuers: RaIssuers,
    private readonly challenges: Challenges,
    private readonly cms: CmsRunner,
  ) {}

  /** The CA's chain, parsed once (CA certificates do not change). */
  caView(caId: string): Promise<CaView> {
    let view = this.caViews.get(caId);
    if (!view) {
      view = this.core.cas.chainOf(caId).then((pems) => {
        const chain = pems.map((pem) => fromPem(pem, ['CERTIFICATE']));
        return { chain, ca: parseCertificate(chain[0] as Buffer) };
      });
      this.caViews.set(caId, view);
      view.catch(() => this.caViews.delete(caId));
    }
    return view;
  }

  /** Answers a pkiMessage sent under `product`. Throws MalformedMessage when there is nothing to answer. */
  async handle(product: ProductRecord, der: Buffer, sourceIp: string | null): Promise<Buffer> {
    const raCa = await this.raIssuers.of(product.caId);
    const current = await this.ras.current(raCa);
    let ras = await this.ras.all(raCa);
    let read = await this.cms.read({ der, now: Date.now(), maxClockSkewMs: MAX_CLOCK_SKEW_MS }, ras.map(recipientOf));
    // Encrypted to an RA another process issued since we looked: look again, once.
    if (read.kind === 'verified' && read.openFailure?.reason.startsWith(UNKNOWN_RECIPIENT)) {
      const known = new Set(ras.map((r) => r.id));
      ras = await this.ras.reload(raCa);
      if (ras.some((r) => !known.has(r.id))) read = await this.cms.read({ der, now: Date.now(), maxClockSkewMs: MAX_CLOCK_SKEW_MS }, ras.map(recipientOf));
    }
    if (read.kind === 'verified' && read.forTokenRa && read.message.envelope) read = { ...read, ...(await this.openInToken(read.message.envelope, ras)) };
    if (read.kind === 'malformed') throw new MalformedMessage(read.reason);
    if (read.kind === 'failure') return this.reply(current, read.replyTo, failure(read.failInfo, read.reason));
    const { message, opened, openFailure } = read;
    // Sign with the RA the client encrypted to: it holds that certificate to verify with.
    const ra = (opened && ras.find((r) => r.id === opened.recipientId)) || current;
    let answer: Answer;
    try {
      // The reply is encrypted to the signer's key: RSA key transport needs an RSA key.
      if (message.signer.publicKey.asymmetricKeyType !== 'rsa') throw new ScepFailure('badAlg', "the signer's key is not an RSA key, so no reply can be encrypted to it");
      if (!message.envelope) throw new ScepFailure('badRequest', 'the pkiMessage has no pkcsPKIEnvelope');
      if (!opened) throw new ScepFailure(openFailure?.failInfo ?? 'badMessageCheck', openFailure?.reason ?? 'the envelope cannot be decrypted');
      answer = await this.answer(product, message, asBuffer(opened.content), sourceIp);
    } catch (e) {
      if (e instanceof ScepFailure) answer = failure(e.failInfo, e.message);
      else if (e instanceof AppError) answer = failure('badRequest', e.message);
      else throw e;
    }
    if (answer.status === 'FAILURE') this.core.log.info({ product: product.id, transactionId: message.transactionId, messageType: message.messageType, failInfo: answer.failInfo, reason: answer.reason }, 'SCEP request answered FAILURE');
    return this.reply(ra, message, answer, opened?.cipherOid, message);
  }

  /**
   * Opens an envelope for an RA whose key is in a token: the token unwraps the content key (it
   * has no implicit rejection: a refused padding is a badMessageCheck at once), here.
   */
  private async openInToken(envelope: Buffer, ras: LoadedRa[]): Promise<Pick<Extract<ReadResult, { kind: 'verified' }>, 'opened' | 'openFailure'>> {
    try {
      const addressed = addressedEnvelope(envelope, ras);
      const { recipient } = addressed;
      if (!recipient.tokenKey) throw new Error(`RA ${recipient.id} has no key in a token`);
      const content = decryptContent(addressed, await recipient.tokenKey.decrypt(addressed.encryptedKey));
      return { opened: { content, cipherOid: addressed.cipher.oid, recipientId: recipient.id } };
    } catch (e) {
      if (e instanceof ScepFailure) return { openFailure: { failInfo: e.failInfo, reason: e.message } };
      throw e;
    }
  }

  private async answer(product: ProductRecord, message: PkiMessage, content: Buffer, sourceIp: string | null): Promise<Answer> {
    switch (message.messageType) {
      case MESSAGE_TYPE.PKCSReq:
      case MESSAGE_TYPE.RenewalReq:
        return this.enroll(product, message, content, sourceIp);
      case MESSAGE_TYPE.CertPoll:
        return this.poll(product, message);
      case MESSAGE_TYPE.GetCert:
        return this.getCert(product, content);
      case MESSAGE_TYPE.GetCRL:
        return this.getCrl(product, content);
      default:
        return failure('badRequest', `messageType ${message.messageType} is not a request`);
    }
  }

  private async enroll(product: ProductRecord, message: PkiMessage, content: Buffer, sourceIp: string | null): Promise<Answer> {
    let csr: ParsedCsr;
    try {
      csr = parseCsr(content);
    } catch (e) {
      if (e instanceof CsrError) return failure('badRequest', e.message);
      throw e;
    }
    const principal = principalOf(message.signer.der);
    // A message sent again (RFC 8894 §3.3.1: same transactionID) gets the first one's answer.
    const existing = await this.core.enrollments.find(principal, message.transactionId);
    if (existing) {
      if (existing.productId !== product.id || !fromPem(existing.csrPem, ['CERTIFICATE REQUEST']).equals(csr.der)) {
        return failure('badRequest', 'this transactionID was used for another request');
      }
      return this.answerOf(await this.core.enrollments.waitForOutcome(existing, this.waitMs(ENROLL_WAIT_MS)));
    }

    let actor: string;
    let credentialId: string | null = null;
    let constraints: Constraint[];
    let admitted: { check: Extract<ChallengeCheck, { ok: true }>; usedBy: string } | null = null;
    if (message.messageType === MESSAGE_TYPE.RenewalReq) {
      const renewal = await this.renewalOf(product, message);
      if ('failInfo' in renewal) return failure(renewal.failInfo, renewal.reason);
      actor = `scep-renewal:${renewal.certificate.id}`;
      constraints = [{ kind: 'namesWithin', names: renewal.names }];
    } else {
      const usedBy = `${principal}/${message.transactionId}`;
      const check = await this.challenges.check(csr.challengePassword, product, { sourceIp, usedBy, csr });
      if (!check.ok) return failure('badRequest', check.message);
      admitted = { check, usedBy };
      actor = check.actor;
      credentialId = check.credentialId;
      constraints = check.constraints;
    }
    const productPerMinute = scepConfig.of(this.core.config).scepIssuePerProductPerMinute;
    const grant: Grant = { principal, actor, credentialId, sourceIp, protocol: 'scep', product: { id: product.id }, constraints, productPerMinute };
    let request: EnrollmentRequest;
    try {
      ({ request } = await this.core.enrollments.submit(grant, csr, { transactionId: message.transactionId }));
    } catch (e) {
      // Refused before anything was stored: a one-time challenge is not used up by a request the
      // device may send again once the limit allows.
      if (admitted && e instanceof AppError && e.kind === 'rate_limited') await this.challenges.release(admitted.check, admitted.usedBy);
      throw e;
    }
    return this.answerOf(await this.core.enrollments.waitForOutcome(request, this.waitMs(ENROLL_WAIT_MS)));
  }

  /** RenewalReq: signed with a certificate of ours under this product, unexpired and unrevoked; the new one keeps its names. */
  private async renewalOf(product: ProductRecord, message: PkiMessage): Promise<{ certificate: CertificateRecord; names: string[] } | { failInfo: FailInfo; reason: string }> {
    const certificate = await this.core.queries.certificateBySerial(product.caId, message.signer.serialHex);
    if (!certificate || !fromPem(certificate.certificatePem, ['CERTIFICATE']).equals(message.signer.der)) {
      return { failInfo: 'badCertId', reason: 'a RenewalReq is signed with the certificate it renews, and that is not a certificate of this CA' };
    }
    if (certificate.productId !== product.id) return { failInfo: 'badRequest', reason: 'the certificate was issued under another product' };
    if (certificate.revokedAt) return { failInfo: 'badRequest', reason: 'the certificate being renewed is revoked' };
    if (certificate.validTo.getTime() <= Date.now()) return { failInfo: 'badRequest', reason: 'the certificate being renewed has expired' };
    return { certificate, names: namesOfCertificate(certificate) };
  }

  private async poll(product: ProductRecord, message: PkiMessage): Promise<Answer> {
    const request = await this.core.enrollments.find(principalOf(message.signer.der), message.transactionId);
    if (!request || request.productId !== product.id) return failure('badCertId', 'no request with this transactionID from this requester');
    return this.answerOf(await this.core.enrollments.waitForOutcome(request, this.waitMs(POLL_WAIT_MS)));
  }

  private async getCert(product: ProductRecord, content: Buffer): Promise<Answer> {
    const { issuer, serialHex } = readIssuerAndSerial(content);
    const view = await this.caView(product.caId);
    if (!view.ca.subject.isEqual(issuer)) return failure('badCertId', 'the issuer is not this CA');
    const certificate = await this.core.queries.certificateBySerial(product.caId, serialHex);
    if (!certificate) return failure('badCertId', `no certificate with serial ${serialHex}`);
    return { status: 'SUCCESS', certificates: [fromPem(certificate.certificatePem, ['CERTIFICATE'])] };
  }

  private async getCrl(product: ProductRecord, content: Buffer): Promise<Answer> {
    const { issuer } = readIssuerAndSerial(content);
    const view = await this.caView(product.caId);
    if (!view.ca.subject.isEqual(issuer)) return failure('badCertId', 'the issuer is not this CA');
    // An upstream CA publishes its own CRL (its certificates say where): a refusal, not a fault.
    const ca = await this.core.queries.caById(product.caId);
    if (ca && !capabilitiesOf(ca).crl) return failure('badRequest', capabilityRefusal(ca, 'crl').message);
    const crl = await this.core.crls.current(product.caId);
    return { status: 'SUCCESS', certificates: [], crls: [crl.der] };
  }

  private async answerOf(outcome: Outcome): Promise<Answer> {
    switch (outcome.state) {
      case 'issued':
        // The issued certificate alone (RFC 8894 §3.3.2 asks for at least it): clients have the
        // chain from GetCACert, and each certificate more costs every reply its encoding.
        return { status: 'SUCCESS', certificates: [fromPem(outcome.certificate.certificatePem, ['CERTIFICATE'])] };
      case 'pending':
        return { status: 'PENDING' };
      case 'rejected':
        return failure('badRequest', `${outcome.rejection.detail} [rule: ${outcome.rejection.rule}]`);
      case 'failed':
        return failure('badRequest', outcome.request.statusReason ?? 'the request failed');
    }
  }

  private waitMs(cap: number): number {
    return Math.min(cap, this.core.config.issueWaitMs);
  }

  private reply(ra: LoadedRa, replyTo: ReplyTo, answer: Answer, cipherOid?: string, message?: PkiMessage): Promise<Buffer> {
    if (answer.status === 'SUCCESS' && (!cipherOid || !message)) throw new Error('a SUCCESS answers a decrypted request');
    const job: Omit<ReplyJob, 'op'> = {
      signer: { der: ra.der, issuerDer: ra.issuerDer, serial: ra.serial, key: ra.key },
      digest: replyTo.digest,
      transactionId: replyTo.transactionId,
      recipientNonce: replyTo.senderNonce,
      status: answer.status,
      ...(answer.status === 'FAILURE' ? { failInfo: answer.failInfo } : {}),
      ...(answer.status === 'SUCCESS' && message && cipherOid
        ? { success: { certificates: answer.certificates, crls: answer.crls ?? [], recipient: { issuerDer: message.signer.issuerDer, serial: message.signer.serial, publicKey: message.signer.publicKey }, cipherOid } }
        : {}),
    };
    // A token's key signs here, where its sessions are; the CMS threads never see it.
    const { tokenKey } = ra;
    if (tokenKey) return buildReply({ op: 'reply', ...job }, (digest, data) => tokenKey.sign(digest, data)).then(asBuffer);
    return this.cms.reply(job);
  }
}
