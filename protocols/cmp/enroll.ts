// Enrollment transactions (RFC 9483 §4.1, §4.4): ir, cr, kur and p10cr submit one request to the
// core, answered ip/cp/kup with the certificate, or with status waiting and then pollRep until
// the request is decided; certConf confirms (or rejects) what was issued, unless the client
// asked for implicitConfirm and the product allows it.
import type { Constraint, EnrollmentRequest, Rejection } from '../../src/core/types.js';
import type { Outcome } from '../../src/core/enrollmentService.js';
import { namesRefusal } from '../../src/auth/certificateLogin.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { CsrError, parseCsr, type ParsedCsr } from '../../src/pki/csr.js';
import { parseCrmfRequest } from '../../src/pki/crmf.js';
import { namesOfCertificate, namesOfCsr } from '../../src/pki/names.js';
import { fromPem } from '../../src/pki/pem.js';
import { certHash } from './certHash.js';
import { auditContextOf, recordEnd, type CmpDeps, type Exchange, type Handler } from './exchange.js';
import { checkRecipNonce } from './header.js';
import { IMPLICIT_CONFIRM, type FailInfo, type PkiBody, type PkiHeader, type PkiStatusInfo } from './messages.js';
import { CmpRefusal } from './refusal.js';
import type { Answer } from './respond.js';
import { CMP_LOGIN_WORDING, trustSigner, type SignatureSender } from './sender.js';
import type { CmpTransaction, EnrollBody, TransactionState } from './transactions.js';

const REPLY_OF = { ir: 'ip', cr: 'cp', kur: 'kup', p10cr: 'cp' } as const;
/** RFC 9483 §4.1.4: a p10cr's certificate is answered (and confirmed) under certReqId -1. */
const P10CR_CERT_REQ_ID = -1n;

/** The core's transaction id of a CMP transaction: requests are found again by it (and their requester). */
export const coreTransactionId = (transactionId: string): string => `cmp:${transactionId}`;

const der = (pem: string): Buffer => fromPem(pem, ['CERTIFICATE']);
const status = (s: PkiStatusInfo['status'], text: string[] = [], failInfo: FailInfo[] = []): PkiStatusInfo => ({ status: s, statusString: text, failInfo });

function readRequest(body: PkiBody): { parsed: ParsedCsr; certReqId: bigint; oldCertId: { issuerDer: Buffer; serialHex: string } | null } {
  try {
    if (body.type === 'p10cr') return { parsed: parseCsr(body.csrDer), certReqId: P10CR_CERT_REQ_ID, oldCertId: null };
    if (body.type !== 'ir' && body.type !== 'cr' && body.type !== 'kur') throw new Error(`not an enrollment: ${body.type}`);
    // RFC 9483 §4.1.1: the lightweight profile carries exactly one CertReqMsg.
    if (body.requests.length !== 1) throw new CmpRefusal('badRequest', `the ${body.type} carries ${body.requests.length} certificate requests; certgate takes exactly one (RFC 9483 section 4.1.1)`);
    const parsed = parseCrmfRequest(body.requests[0] as Buffer);
    // RFC 9483 §4.1.1: a signature key proves possession by signing the request; the others are not served.
    if (parsed.popo !== 'signature') throw new CmpRefusal('badPOP', `proof of possession "${parsed.popo}" is not accepted: certgate takes signature keys, which sign their request (POPOSigningKey)`);
    if (parsed.certReqId < 0n) throw new CmpRefusal('badRequest', 'certReqId must not be negative');
    return { parsed, certReqId: parsed.certReqId, oldCertId: parsed.oldCertId };
  } catch (e) {
    if (e instanceof CsrError) throw new CmpRefusal(body.type === 'p10cr' ? 'badDataFormat' : 'badCertTemplate', e.message);
    throw e;
  }
}

const asksImplicitConfirm = (header: PkiHeader): boolean => header.generalInfo.some((i) => i.oid === IMPLICIT_CONFIRM.oid);

function requireProtection(x: Exchange, type: EnrollBody): void {
  if (type === 'kur') {
    if (x.sender.kind !== 'signature') throw new CmpRefusal('wrongIntegrity', 'a kur is signed with the certificate it replaces (RFC 9483 section 4.1.3), not MAC-protected');
    return;
  }
  const auth = x.settings.auth;
  if (auth === 'mac' && x.sender.kind !== 'mac') throw new CmpRefusal('wrongIntegrity', `product ${x.product.name} takes ${type} MAC-protected with a cmp credential only (cmp.auth = mac)`);
  if (auth === 'signature' && x.sender.kind !== 'signature') throw new CmpRefusal('wrongIntegrity', `product ${x.product.name} takes ${type} signed with a certificate from a CA it trusts only (cmp.auth = signature)`);
}

/**
 * What a signature login binds: kur renews the certificate that signs it (same names); ir, cr,
 * p10cr under a certificate from a trusted CA ask for that certificate's names, as EST's
 * certificate logins do. A MAC credential may ask for any names the product allows.
 */
async function constraintsFor(deps: CmpDeps, x: Exchange, type: EnrollBody, parsed: ParsedCsr, oldCertId: { issuerDer: Buffer; serialHex: string } | null): Promise<Constraint[]> {
  if (x.sender.kind !== 'signature') return [];
  const signer: SignatureSender = x.sender;
  const ctx = { core: deps.core, certificates: deps.certificates, product: x.product, sourceIp: x.sourceIp, settings: x.settings };
  if (type === 'kur') {
    const old = (await trustSigner(signer, ctx, 'holder')).certificate;
    if (!old) throw new CmpRefusal('signerNotTrusted', 'a kur is signed with the certgate certificate it replaces');
    if (oldCertId) {
      const basics = readCertificateBasics(der(old.certificatePem));
      if (!oldCertId.issuerDer.equals(basics.issuerDer) || oldCertId.serialHex.toLowerCase() !== basics.serialHex.toLowerCase()) {
        throw new CmpRefusal('badCertId', 'the oldCertID control names another certificate than the one that signs the kur');
      }
    }
    return [{ kind: 'exactNames', names: namesOfCertificate(old) }];
  }
  const trust = await trustSigner(signer, ctx, 'enroll');
  const refusal = namesRefusal({ names: trust.names, namesMayDiffer: trust.namesMayDiffer, presented: signer.presented }, namesOfCsr(parsed), CMP_LOGIN_WORDING.login);
  if (refusal) {
    await deps.core.credentials.recordRefusal({ protocol: 'cmp', sourceIp: x.sourceIp, productId: x.product.id }, signer.presented, refusal, 'cmp-signature', signer.principal);
    throw new CmpRefusal('notAuthorized', refusal);
  }
  return trust.namesMayDiffer ? [] : [{ kind: 'exactNames', names: trust.names }];
}

export const enroll: Handler = async (deps, x) => {
  const type = x.message.body.type as EnrollBody;
  requireProtection(x, type);
  const { parsed, certReqId, oldCertId } = readRequest(x.message.body);
  const constraints = await constraintsFor(deps, x, type, parsed, oldCertId);
  const implicitConfirm = asksImplicitConfirm(x.message.header) && x.settings.implicitConfirm === true;
  const nonce = x.answerNonce.toString('hex');
  const transaction: CmpTransaction = { transactionId: x.transactionId, sender: x.sender.principal, productId: x.product.id, bodyType: type, certReqId, requestId: null, state: 'open', expectedNonce: nonce, implicitConfirm, expiresAt: x.now + deps.limits.transactionLifetimeMs };
  if (!(await deps.transactions.open(transaction, x.now))) {
    throw new CmpRefusal('transactionIdInUse', 'this transactionID belongs to a transaction that is still running: start a new transaction with a fresh transactionID');
  }
  const { enrollments, config } = deps.core;
  let request: EnrollmentRequest;
  try {
    ({ request } = await enrollments.submit(
      {
        principal: x.sender.principal,
        actor: auditContextOf(x).actor,
        credentialId: x.sender.kind === 'mac' ? x.sender.credential.id : null,
        sourceIp: x.sourceIp,
        protocol: 'cmp',
        product: { id: x.product.id },
        constraints,
        ...(deps.limits.productPerMinute > 0 ? { productPerMinute: deps.limits.productPerMinute } : {}),
      },
      parsed,
      { transactionId: coreTransactionId(x.transactionId) },
    ));
  } catch (e) {
    await deps.transactions.advance(x.transactionId, ['open'], nonce, { state: 'done', expectedNonce: nonce });
    throw e;
  }
  const outcome = await enrollments.waitForOutcome(request, config.issueWaitMs);
  return answerOutcome(deps, x, transaction, outcome, 'open');
};

/** What a rejection says in failInfo: a request the product refuses is a bad template; a name not allowed is not authorized. */
const failInfoOfRejection = (r: Rejection): FailInfo => (r.code === 'badCsr' ? (r.rule === 'proofOfPossession' ? 'badPOP' : 'badCertTemplate') : r.code === 'unauthorized' || r.code === 'rejectedIdentifier' ? 'notAuthorized' : 'badCertTemplate');

function waitingFor(request: EnrollmentRequest): string {
  if (request.status === 'pending_approval') return `request ${request.id} waits for an operator's approval`;
  if (request.status === 'pending_dcv') return `request ${request.id} is ${request.statusReason ?? 'waiting for domain control validation'}`;
  return `request ${request.id} is being processed`;
}

/** The ip/cp/kup for where the request stands, moving the transaction from `from` on. */
async function answerOutcome(deps: CmpDeps, x: Exchange, t: CmpTransaction, outcome: Outcome, from: TransactionState): Promise<Answer> {
  const nonce = x.answerNonce.toString('hex');
  const move = async (state: TransactionState): Promise<void> => {
    if (!(await deps.transactions.advance(t.transactionId, [from], t.expectedNonce, { state, expectedNonce: nonce, requestId: outcome.request.id, expiresAt: x.now + deps.limits.transactionLifetimeMs }))) {
      throw new CmpRefusal('badRequest', 'another message of this transaction was answered meanwhile');
    }
  };
  const type = REPLY_OF[t.bodyType];
  const reply = (s: PkiStatusInfo, certificateDer: Buffer | null = null, caPubs: Buffer[] = []): PkiBody => ({ type, caPubs, responses: [{ certReqId: t.certReqId, status: s, certificateDer }] });
  const detail = { request: outcome.request.id };
  switch (outcome.state) {
    case 'issued': {
      const certificate = outcome.certificate;
      if (certificate.revokedAt) {
        // Revoked before it was collected (an operator acted meanwhile): neither handed out nor signed again, as EST does.
        await move('done');
        await recordEnd(deps, x, 'rejected', { ...detail, certificate: certificate.id, failInfo: 'certRevoked' });
        return { body: reply(status('rejection', [`request ${outcome.request.id} got certificate ${certificate.serialNumber}, which has since been revoked: send a new request with a new key`], ['certRevoked'])) };
      }
      await move(t.implicitConfirm ? 'done' : 'confirm');
      if (t.implicitConfirm) await recordEnd(deps, x, 'implicitlyConfirmed', { ...detail, certificate: certificate.id, serial: certificate.serialNumber });
      const chain = (await deps.core.cas.chainFor(certificate)).map(der);
      // RFC 9483 §4.1.1: a MAC-authenticated client learns its trust anchor from caPubs.
      const root = chain[chain.length - 1];
      const caPubs = x.sender.kind === 'mac' && root ? [root] : [];
      return {
        body: reply(status('accepted'), der(certificate.certificatePem), caPubs),
        extraCerts: chain,
        generalInfo: t.implicitConfirm ? [IMPLICIT_CONFIRM] : [],
      };
    }
    case 'pending':
      await move('waiting');
      return { body: reply(status('waiting', [waitingFor(outcome.request)])) };
    case 'rejected': {
      await move('done');
      const failInfo = failInfoOfRejection(outcome.rejection);
      await recordEnd(deps, x, 'rejected', { ...detail, failInfo, rule: outcome.rejection.rule });
      return { body: reply(status('rejection', [`${outcome.rejection.detail} [rule: ${outcome.rejection.rule}]`], [failInfo])) };
    }
    case 'failed':
      await move('done');
      await recordEnd(deps, x, 'failed', detail);
      return { body: reply(status('rejection', [`issuance failed; request ${outcome.request.id} is recorded as failed`], ['systemFailure'])) };
  }
}

/**
 * A signing certificate is trusted again on every message of its transaction, as a MAC credential
 * is authenticated again: one revoked or expired since the transaction began collects nothing.
 */
async function stillTrusted(deps: CmpDeps, x: Exchange, t: CmpTransaction): Promise<void> {
  if (x.sender.kind !== 'signature') return;
  await trustSigner(x.sender, { core: deps.core, certificates: deps.certificates, product: x.product, sourceIp: x.sourceIp, settings: x.settings }, t.bodyType === 'kur' ? 'holder' : 'enroll');
}

/** The running transaction a follow-up message belongs to: the same sender, the nonce certgate handed out, the step it waits for. */
async function followUp(deps: CmpDeps, x: Exchange, state: TransactionState): Promise<CmpTransaction> {
  const t = await deps.transactions.get(x.transactionId, x.now);
  if (!t || t.state === 'done' || t.state === 'open') throw new CmpRefusal('badRequest', `no running transaction has this transactionID (${x.message.body.type} continues a transaction certgate answered)`);
  if (t.sender !== x.sender.principal || t.productId !== x.product.id) throw new CmpRefusal('notAuthorized', 'this transaction was started by another sender');
  await stillTrusted(deps, x, t);
  checkRecipNonce(x.message.header, t.expectedNonce);
  if (t.state !== state) throw new CmpRefusal('badRequest', t.state === 'waiting' ? 'the certificate is not issued yet: send pollReq' : 'the certificate was issued: confirm it with certConf');
  return t;
}

async function outcomeOf(deps: CmpDeps, t: CmpTransaction): Promise<Outcome> {
  // A transaction that waits or awaits its certConf was answered about its request, which it names.
  const request = t.requestId === null ? undefined : await deps.core.queries.requestById(t.requestId);
  if (!request) throw new Error(`CMP transaction ${t.transactionId} has no request in the core`);
  return deps.core.enrollments.outcomeOf(request);
}

export const poll: Handler = async (deps, x) => {
  const body = x.message.body as Extract<PkiBody, { type: 'pollReq' }>;
  const t = await followUp(deps, x, 'waiting');
  if (body.certReqIds.length !== 1 || body.certReqIds[0] !== t.certReqId) throw new CmpRefusal('badRequest', `pollReq names certReqId ${t.certReqId}, the one request of this transaction`);
  const outcome = await outcomeOf(deps, t);
  if (outcome.state !== 'pending') return answerOutcome(deps, x, t, outcome, 'waiting');
  const nonce = x.answerNonce.toString('hex');
  // Each answer gives the client the transaction's lifetime again to send its next message.
  if (!(await deps.transactions.advance(t.transactionId, ['waiting'], t.expectedNonce, { state: 'waiting', expectedNonce: nonce, expiresAt: x.now + deps.limits.transactionLifetimeMs }))) {
    throw new CmpRefusal('badRequest', 'another message of this transaction was answered meanwhile');
  }
  const checkAfter = x.settings.checkAfterSeconds ?? deps.limits.checkAfterSeconds;
  return { body: { type: 'pollRep', entries: [{ certReqId: t.certReqId, checkAfter, reason: waitingFor(outcome.request) }] } };
};

/** What a client's rejection of its new certificate revokes it for: it was never put to use (RFC 5280 §5.3.1). */
export const CLIENT_REJECTED_REASON = 'cessationOfOperation';

export const confirm: Handler = async (deps, x) => {
  const body = x.message.body as Extract<PkiBody, { type: 'certConf' }>;
  const t = await followUp(deps, x, 'confirm');
  const s = body.statuses[0];
  if (body.statuses.length !== 1 || !s || s.certReqId !== t.certReqId) throw new CmpRefusal('badRequest', `certConf confirms certReqId ${t.certReqId}, the one certificate of this transaction`);
  const outcome = await outcomeOf(deps, t);
  if (outcome.state !== 'issued') throw new Error(`CMP transaction ${t.transactionId} awaits certConf without an issued certificate`);
  const certificate = outcome.certificate;
  if (!certHash(der(certificate.certificatePem), s.hashAlg).equals(s.certHash)) throw new CmpRefusal('badCertId', 'the certHash is not the hash of the certificate issued in this transaction');
  const refused = s.statusInfo?.status === 'rejection';
  const detail = { request: outcome.request.id, certificate: certificate.id, serial: certificate.serialNumber };
  if (refused && !certificate.revokedAt) {
    // Revoked before the transaction ends: a failure here leaves it waiting for the certConf again.
    await deps.core.revocations.revoke(certificate.id, { reason: CLIENT_REJECTED_REASON }, auditContextOf(x), () => undefined);
  }
  if (!(await deps.transactions.advance(t.transactionId, ['confirm'], t.expectedNonce, { state: 'done', expectedNonce: x.answerNonce.toString('hex') }))) {
    throw new CmpRefusal('badRequest', 'another message of this transaction was answered meanwhile');
  }
  if (refused) await recordEnd(deps, x, 'refusedByClient', { ...detail, revocationReason: CLIENT_REJECTED_REASON, statusString: s.statusInfo?.statusString ?? [] });
  else await recordEnd(deps, x, 'confirmed', detail);
  return { body: { type: 'pkiConf' } };
};

/** RFC 9483 §3.6.4: a client's error message ends its transaction; certgate answers pkiConf. */
export const clientError: Handler = async (deps, x) => {
  const body = x.message.body as Extract<PkiBody, { type: 'error' }>;
  const t = await deps.transactions.get(x.transactionId, x.now);
  if (t && t.state !== 'done' && t.sender === x.sender.principal && t.productId === x.product.id) {
    await stillTrusted(deps, x, t);
    checkRecipNonce(x.message.header, t.expectedNonce);
    await deps.transactions.advance(t.transactionId, [t.state], t.expectedNonce, { state: 'done', expectedNonce: x.answerNonce.toString('hex') });
    await recordEnd(deps, x, 'errorFromClient', { failInfo: body.status.failInfo, statusString: body.status.statusString, errorDetails: body.errorDetails });
  }
  return { body: { type: 'pkiConf' } };
};
