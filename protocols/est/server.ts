// The EST operations (RFC 7030 §4): cacerts, simpleenroll, simplereenroll, serverkeygen, csrattrs.
// Enrollments become requests on the shared queue (product policy and approval apply); a request is
// known again by its CSR, so a client that is told 202 sends the same CSR again and gets the
// certificate once it is approved, or a 403 with the reason once it is declined.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Router } from 'express';
import { ClientCertificates, namesRefusal } from '../../src/auth/certificateLogin.js';
import { AppError, type ErrorKind } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CsrInput } from '../../src/core/enrollmentService.js';
import { ProductSettingsError } from '../../src/core/productSettings.js';
import { TtlCache } from '../../src/core/ttlCache.js';
import { classifyFailure, HTTP_STATUS_OF, logFailure, plainAnswerOf } from '../../src/core/failure.js';
import type { CertificateRecord, Constraint, EnrollmentRequest, ProductRecord } from '../../src/core/types.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { CsrError, parseCsr, verifyCsrSignature, type ParsedCsr } from '../../src/pki/csr.js';
import { parseNameDer, type NameAttribute } from '../../src/pki/name.js';
import { namesOfCertificate, namesOfCsr } from '../../src/pki/names.js';
import { fromPem } from '../../src/pki/pem.js';
import { certsOnlyPkcs7 } from '../../src/pki/pkcs7.js';
import { authenticateCaller, claimedPrincipal, EST_LOGIN_WORDING, sourceIpOf, type Caller } from './auth.js';
import { csrAttrsFor } from './csrattrs.js';
import { matchEstPath, productFor, type EstRoute, type Operation } from './paths.js';
import { keyAndCertificateMultipart, makeKeyAndCsr, type ServerKeys } from './serverKeygen.js';
import { estSettingsOf, type EstSettings } from './settings.js';
import { decodePkcs10Body, EstHttpError, MAX_BODY_BYTES, PKCS7_CERTS_ONLY, send, sendBase64, sendText, UNAUTHORIZED_HEADERS } from './wire.js';

// EST has answered `unprocessable` with 409 from its first version on: clients may count on it.
const STATUS_OF: Record<ErrorKind, number> = { ...HTTP_STATUS_OF, unprocessable: 409 };

const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const certificateDer = (pem: string): Buffer => fromPem(pem, ['CERTIFICATE']);

function parseCsrOrRefuse(der: Buffer): ParsedCsr {
  try {
    return parseCsr(der);
  } catch (e) {
    if (e instanceof CsrError) throw new EstHttpError(400, e.message);
    throw e;
  }
}

/** What a 202 says the request waits for: the operator reading the device's log acts on it. */
function waitingFor(request: EnrollmentRequest): string {
  if (request.status === 'pending_approval') return "waits for an operator's approval";
  // The worker's reason is the registry's sentence, "waiting for domain control validation of <names>".
  if (request.status === 'pending_dcv') return request.statusReason ? `is ${request.statusReason}` : 'is waiting for domain control validation';
  return 'is being processed';
}

const attributeKey = (a: NameAttribute): string => `${a.type}=${a.value}`;

/** RFC 7030 §4.2.2: a renewal asks for the subject of the certificate it renews (in any order). */
function requireSameSubject(csr: ParsedCsr, certificate: CertificateRecord): void {
  const old = parseNameDer(readCertificateBasics(certificateDer(certificate.certificatePem)).subjectDer);
  const want = old.attributes.map(attributeKey).sort();
  const asked = csr.subject.attributes.map(attributeKey).sort();
  if (want.length !== asked.length || want.some((w, i) => w !== asked[i])) {
    throw new EstHttpError(400, `simplereenroll: the request's subject must be the subject of the certificate it renews ("${old.text}"), RFC 7030 section 4.2.2`);
  }
}

/** Every name of a certgate certificate (its SAN holds them all, CN included). */

type Deliver = (res: ServerResponse, certificate: CertificateRecord) => void | Promise<void>;

export class EstServer {
  private readonly certificates: ClientCertificates;
  /** CA certificates never change: one certs-only message per CA for the life of the process. */
  private readonly caCerts = new TtlCache<Buffer>(Number.POSITIVE_INFINITY);
  private readonly csrAttrs = new WeakMap<ProductRecord, Buffer>();
  private readonly readRaw = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  constructor(
    private readonly core: CoreServices,
    private readonly keys: ServerKeys,
  ) {
    this.certificates = new ClientCertificates(core.queries, EST_LOGIN_WORDING);
  }

  router(): Router {
    const router = express.Router();
    router.use((req, res, next) => {
      let route: EstRoute | null;
      try {
        route = matchEstPath(req.path);
      } catch (e) {
        this.fail(req, res, e);
        return;
      }
      if (!route) {
        next();
        return;
      }
      this.handle(route, req, res).catch((e: unknown) => this.fail(req, res, e));
    });
    return router;
  }

  private async handle(route: EstRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!(req.socket as { encrypted?: boolean }).encrypted) throw new EstHttpError(403, 'EST is served over HTTPS only (RFC 7030 section 3.3)');
    const op = route.operation;
    if (op === 'fullcmc') throw new EstHttpError(404, 'fullcmc is not supported: use simpleenroll, simplereenroll or serverkeygen');
    const method = op === 'cacerts' || op === 'csrattrs' ? 'GET' : 'POST';
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) throw new EstHttpError(405, `${op} takes ${method}`, { Allow: method === 'GET' ? 'GET, HEAD' : 'POST' });
    switch (op) {
      case 'cacerts':
      case 'csrattrs': {
        const product = await productFor(this.core, route.label);
        return op === 'cacerts' ? this.cacerts(res, product, estSettingsOf(product)) : this.csrattrs(res, product, estSettingsOf(product));
      }
      case 'simpleenroll':
      case 'simplereenroll':
        return this.enroll(op, route, req, res);
      case 'serverkeygen':
        return this.serverKeygen(route, req, res);
    }
  }

  /**
   * The product an enrollment goes to: the route's. strongSwan 5.9 drops the URL's path when it
   * sends a pending request again, so a request without a label first looks for the caller's
   * earlier request with the same CSR, wherever it was made, and goes where that one went. The
   * caller is then authenticated for that product like any other.
   */
  private async enrollmentProduct(route: EstRoute, req: IncomingMessage, op: Operation, transactionId: string): Promise<ProductRecord> {
    if (route.label === null) {
      const principal = await claimedPrincipal(this.deps(), req, op);
      const earlier = principal === null ? undefined : await this.core.enrollments.find(principal, transactionId);
      if (earlier) return this.core.enrollments.resolveProduct({ id: earlier.productId });
    }
    return productFor(this.core, route.label);
  }

  private async cacerts(res: ServerResponse, product: ProductRecord, settings: EstSettings): Promise<void> {
    const der = await this.caCerts.get(product.caId, async () => certsOnlyPkcs7((await this.core.cas.chainOf(product.caId)).map(certificateDer)));
    sendBase64(res, PKCS7_CERTS_ONLY, der, settings.base64LineLength);
  }

  private csrattrs(res: ServerResponse, product: ProductRecord, settings: EstSettings): void {
    let der = this.csrAttrs.get(product);
    if (!der) {
      der = csrAttrsFor(product.template);
      this.csrAttrs.set(product, der);
    }
    sendBase64(res, 'application/csrattrs', der, settings.base64LineLength);
  }

  private async enroll(op: 'simpleenroll' | 'simplereenroll', route: EstRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const der = decodePkcs10Body(await this.body(req, res), req.headers);
    const transactionId = `${op}:${sha256Hex(der)}`;
    const product = await this.enrollmentProduct(route, req, op, transactionId);
    const settings = estSettingsOf(product);
    const caller = await authenticateCaller(this.deps(), req, product, settings, op);
    const constraints: Constraint[] = [];
    // Parsed once: the enrollment service and the worker take this parsed form too.
    const csr = parseCsrOrRefuse(der);
    if (op === 'simplereenroll') {
      const renewed = caller.certificate as CertificateRecord;
      requireSameSubject(csr, renewed);
      constraints.push({ kind: 'exactNames', names: namesOfCertificate(renewed) });
    } else {
      constraints.push(...(await this.boundNames(req, caller, product, csr)));
    }
    await this.submitAndAnswer(res, caller, product, settings, csr, transactionId, constraints, (r, certificate) =>
      sendBase64(r, PKCS7_CERTS_ONLY, certsOnlyPkcs7([certificateDer(certificate.certificatePem)]), settings.base64LineLength),
    );
  }

  private async serverKeygen(route: EstRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const der = decodePkcs10Body(await this.body(req, res), req.headers);
    const transactionId = `serverkeygen:${sha256Hex(der)}`;
    const product = await this.enrollmentProduct(route, req, 'serverkeygen', transactionId);
    const settings = estSettingsOf(product);
    const caller = await authenticateCaller(this.deps(), req, product, settings, 'serverkeygen');
    const csr = parseCsrOrRefuse(der);
    if (!verifyCsrSignature(csr)) throw new EstHttpError(400, 'CSR signature does not verify: the request was not signed by the key it contains');
    const constraints = await this.boundNames(req, caller, product, csr);
    const kept = await this.keys.obtain(caller.actor, transactionId, () => makeKeyAndCsr(csr, product.template));
    await this.submitAndAnswer(res, caller, product, settings, kept.csrDer, transactionId, constraints, async (r, certificate) => {
      if (await this.keys.handOut(caller.actor, transactionId)) {
        await this.core.queries.recordKeyRedelivery(certificate, this.auditContext(req, caller), { protocol: 'est', operation: 'serverkeygen', transactionId });
      }
      const { contentType, body } = keyAndCertificateMultipart(kept.pkcs8, certsOnlyPkcs7([certificateDer(certificate.certificatePem)]), settings.base64LineLength);
      send(r, 200, contentType, body);
    });
  }

  /**
   * A certificate login asks for the presented certificate's names (see NameBinding): refused here,
   * audited, before anything is submitted, and carried to the worker as exactNames as well.
   */
  private async boundNames(req: IncomingMessage, caller: Caller, product: ProductRecord, csr: ParsedCsr): Promise<Constraint[]> {
    const binding = caller.binding;
    if (!binding) return [];
    const refusal = namesRefusal(binding, namesOfCsr(csr), EST_LOGIN_WORDING.login);
    if (refusal) {
      await this.core.credentials.recordRefusal({ protocol: 'est', sourceIp: sourceIpOf(req), productId: product.id }, binding.presented, refusal, 'tls-client-certificate', caller.actor);
      throw new EstHttpError(403, refusal);
    }
    return binding.namesMayDiffer ? [] : [{ kind: 'exactNames', names: binding.names }];
  }

  private auditContext(req: IncomingMessage, caller: Caller) {
    return { actor: caller.actor, protocol: 'est', sourceIp: sourceIpOf(req) };
  }

  private async submitAndAnswer(
    res: ServerResponse,
    caller: Caller,
    product: ProductRecord,
    settings: EstSettings,
    csr: CsrInput,
    transactionId: string,
    constraints: Constraint[],
    deliver: Deliver,
  ): Promise<void> {
    const { enrollments, config } = this.core;
    let request: EnrollmentRequest;
    try {
      ({ request } = await enrollments.submit(
        { principal: caller.principal, actor: caller.actor, credentialId: caller.actor !== caller.principal ? caller.actor : null, sourceIp: sourceIpOf(res.req), protocol: 'est', product: { id: product.id }, constraints },
        csr,
        { transactionId },
      ));
    } catch (e) {
      throw (await this.sentBefore(e, caller, transactionId, product)) ?? e;
    }
    const outcome = await enrollments.waitForOutcome(request, config.issueWaitMs);
    switch (outcome.state) {
      case 'issued': {
        // A request sent again is answered with what it got, unless that was revoked since: the
        // revocation may say the key is compromised, so neither the certificate (nor a kept key)
        // goes out again, and nothing is re-signed for the same key either. A new key, a new request.
        if (outcome.certificate.revokedAt) {
          const reason = `request ${outcome.request.id} got certificate ${outcome.certificate.serialNumber}, which has since been revoked: send a new request with a new key`;
          await this.core.credentials.recordRefusal({ protocol: 'est', sourceIp: sourceIpOf(res.req), productId: product.id }, `request:${outcome.request.id}`, reason, 'est-replay', caller.actor);
          sendText(res, 403, reason);
          return;
        }
        await deliver(res, outcome.certificate);
        return;
      }
      case 'pending': {
        const retryAfter = settings.retryAfterSeconds ?? outcome.retryAfterS;
        const what = waitingFor(outcome.request);
        sendText(res, 202, `request ${outcome.request.id} ${what}; send the same request again in ${retryAfter} seconds`, { 'Retry-After': String(retryAfter) });
        return;
      }
      case 'rejected':
        sendText(res, outcome.rejection.code === 'badCsr' ? 400 : 403, `${outcome.rejection.detail} [rule: ${outcome.rejection.rule}]`);
        return;
      case 'failed':
        sendText(res, 500, `issuance failed; request ${outcome.request.id} is recorded as failed`);
    }
  }

  /**
   * A CSR is known by who sent it, not where: the same CSR sent by the same caller under another
   * product (or renewing another certificate) is not a new request. Says so, instead of the core's
   * "transaction id already used".
   */
  private async sentBefore(e: unknown, caller: Caller, transactionId: string, product: ProductRecord): Promise<EstHttpError | null> {
    if (!(e instanceof AppError) || e.kind !== 'unprocessable') return null;
    const earlier = await this.core.enrollments.find(caller.principal, transactionId);
    if (!earlier) return null;
    const where = earlier.productId === product.id ? 'with other constraints (another certificate renewed, or by an earlier credential of the same name)' : `under product ${(await this.core.enrollments.resolveProduct({ id: earlier.productId })).name}`;
    return new EstHttpError(409, `this CSR was sent before ${where} (request ${earlier.id}); a CSR enrolls once: make a new one (a new key) for ${product.name}`);
  }

  private deps() {
    return { credentials: this.core.credentials, certificates: this.certificates };
  }

  private body(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.readRaw(req as express.Request, res as express.Response, (err?: unknown) => {
        if (err) reject(err);
        else {
          const body = (req as { body?: unknown }).body;
          resolve(Buffer.isBuffer(body) ? body : Buffer.alloc(0));
        }
      });
    });
  }

  /** Every failure as a plain-text answer; only certgate's own faults are 5xx. */
  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof EstHttpError) return sendText(res, err.status, err.message, err.headers);
    // The core's signature check throws this for a signature algorithm it does not know.
    if (err instanceof CsrError) return sendText(res, 400, err.message);
    if (err instanceof ProductSettingsError) {
      this.core.log.error({ err: err.message }, 'EST settings');
      return sendText(res, 500, err.message);
    }
    const failure = classifyFailure(err);
    logFailure(this.core.log, failure, 'the EST front-end', req.url ?? '');
    const answer = plainAnswerOf(failure, STATUS_OF);
    const unauthorized = failure.kind === 'refused' && failure.error.kind === 'unauthorized';
    sendText(res, answer.status, answer.sentence, unauthorized ? { ...UNAUTHORIZED_HEADERS } : answer.headers);
  }
}
