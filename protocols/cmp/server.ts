// The CMP front-end over HTTP (RFC 9811): POST of application/pkixcmp at /.well-known/cmp and
// /.well-known/cmp/p/<label> (the label names the product, as EST's does). Every answer is a
// PKIMessage with HTTP 200 and a Content-Length (OpenSSL 3.0 speaks HTTP/1.0 and reads no
// chunked answers), errors included; only misuse of HTTP itself (method, content type, size) has
// no message to answer and gets a plain 405, 415 or 413.
import { randomBytes } from 'node:crypto';
import express, { type Response, type Router } from 'express';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import type { ClientCertificates } from '../../src/auth/certificateLogin.js';
import { logFailure } from '../../src/core/failure.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { ProductRecord } from '../../src/core/types.js';
import { decodePkiMessage } from './asn1.js';
import { recordEnd, type CmpDeps, type CmpLimits, type Exchange, type Handler } from './exchange.js';
import { clientError, confirm, enroll, poll } from './enroll.js';
import { general } from './general.js';
import { checkHeader, refuseReplay, type HeaderLimits } from './header.js';
import type { PkiBodyType, PkiMessage } from './messages.js';
import { CmpRefusal, refusalOf } from './refusal.js';
import { encodeAnswer, type Answer } from './respond.js';
import { revoke } from './revoke.js';
import { authenticateSender, type Sender } from './sender.js';
import { cmpSettingsOf } from './settings.js';
import type { CmpSigners } from './signers.js';
import type { Transactions } from './transactions.js';

export const CMP_PATHS = ['/.well-known/cmp', '/.well-known/cmp/p/:label'];
export const CMP_CONTENT_TYPE = 'application/pkixcmp';
/** A CMP request is a few kilobytes (a request, a chain of extraCerts); anything far larger is not one. */
export const MAX_BODY_BYTES = 64 * 1024;

const HANDLERS: Partial<Record<PkiBodyType, Handler>> = {
  ir: enroll,
  cr: enroll,
  kur: enroll,
  p10cr: enroll,
  pollReq: poll,
  certConf: confirm,
  rr: revoke,
  genm: general,
  error: clientError,
};

const unsupported = (type: string): Handler => () =>
  Promise.reject(new CmpRefusal('badRequest', type === 'unsupported' ? 'this message body is not served by certgate (ccr, krr, nested and the like are not supported)' : `${type} is a message of the server's, not a request`));

export interface CmpServerOptions extends CmpLimits, HeaderLimits {}

export class CmpServer {
  private readonly deps: CmpDeps;
  private readonly raw = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  constructor(
    private readonly core: CoreServices,
    private readonly signers: CmpSigners,
    transactions: Transactions,
    certificates: ClientCertificates,
    private readonly options: CmpServerOptions,
  ) {
    this.deps = { core, transactions, certificates, limits: options };
  }

  router(): Router {
    const r = express.Router();
    r.all(CMP_PATHS, (req, res) => {
      if (req.method !== 'POST') return plain(res, 405, 'CMP requests are sent with POST (RFC 9811 section 3)', { Allow: 'POST' });
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== CMP_CONTENT_TYPE) return plain(res, 415, `CMP requests are ${CMP_CONTENT_TYPE} (RFC 9811 section 3)`);
      this.raw(req, res, (err?: unknown) => {
        if (err) {
          const e = err as { type?: string; status?: number };
          if (e.type === 'entity.too.large') return plain(res, 413, `a CMP request is at most ${MAX_BODY_BYTES} bytes`);
          return plain(res, typeof e.status === 'number' && e.status < 500 ? e.status : 400, 'the request body could not be read');
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        this.answer(body, typeof req.params.label === 'string' ? req.params.label : undefined, sourceIpOf(req), req.path)
          .then((der) => {
            res.writeHead(200, { 'Content-Type': CMP_CONTENT_TYPE, 'Content-Length': der.length, 'Cache-Control': 'no-store' });
            res.end(der);
          })
          .catch((e: unknown) => {
            // encodeAnswer's last resort failed too: nothing sensible to say in CMP.
            logFailure(this.core.log, { kind: 'internal', status: 500, sentence: '', headers: {}, logged: String(e) }, 'the CMP front-end', req.path);
            if (!res.headersSent) plain(res, 503, 'the CMP service cannot answer now', { 'Retry-After': '30' });
          });
      });
    });
    return r;
  }

  /** The answer to one request's DER: a protected PKIMessage, an error message for every refusal. */
  async answer(der: Buffer, label: string | undefined, sourceIp: string | null, path = '/.well-known/cmp'): Promise<Buffer> {
    const now = this.core.now();
    const answerNonce = randomBytes(16);
    let message: PkiMessage | null = null;
    let sender: Sender | null = null;
    let product: ProductRecord | undefined;
    let transactionId: string | null = null;
    try {
      // The product first: even an unreadable message is answered signed for its CA.
      product = await this.core.enrollments.productForLabel(label);
      const decoded: PkiMessage = decodePkiMessage(der);
      message = decoded;
      if (!product) throw new CmpRefusal('badRequest', label === undefined ? 'no product to enroll under: create one with "certgate product create"' : `no CMP label "${label}": no product has that name`);
      const settings = cmpSettingsOf(product);
      const checked = checkHeader(decoded.header, this.options, now);
      transactionId = checked.transactionId;
      const authenticated = await authenticateSender(decoded, { core: this.core, certificates: this.deps.certificates, product, sourceIp });
      sender = authenticated;
      await refuseReplay(this.core.oneTimeTokens, checked.senderNonce, this.options);
      const type = decoded.body.type;
      const handler = HANDLERS[type] ?? unsupported(type);
      const x: Exchange = { message: decoded, transactionId: checked.transactionId, sender: authenticated, product, settings, sourceIp, answerNonce, now };
      const answer = await handler(this.deps, x);
      return await this.encode(answer, decoded, authenticated, product, answerNonce, now);
    } catch (e) {
      const r = refusalOf(e);
      if (r.failure) logFailure(this.core.log, r.failure, 'the CMP front-end', path);
      if (sender && product && transactionId) {
        await recordEnd(this.deps, { sender, sourceIp, transactionId, product }, 'error', { failInfo: r.failInfo, statusString: r.text }).catch((err: Error) => this.core.log.warn({ err: err.message }, 'could not audit a CMP error'));
      }
      const answer: Answer = { body: { type: 'error', status: { status: 'rejection', statusString: [r.text], failInfo: [r.failInfo] }, errorCode: null, errorDetails: [] } };
      try {
        return await this.encode(answer, message, sender, product, answerNonce, now);
      } catch (again) {
        const r2 = refusalOf(again);
        if (r2.failure) logFailure(this.core.log, r2.failure, 'the CMP front-end', path);
        // Nothing to sign with (the CA has no CMP signer, or it cannot be made now): an
        // unprotected error, which RFC 9483 §3.6.4 allows and `openssl cmp -unprotected_errors` reads.
        const bare: Answer = { body: { type: 'error', status: { status: 'rejection', statusString: [r.text, r2.text], failInfo: [r.failInfo] }, errorCode: null, errorDetails: [] } };
        try {
          return encodeAnswer(bare, { request: message?.header ?? null, sender: null, senderNonce: answerNonce, now }, null);
        } catch {
          return encodeAnswer(bare, { request: null, sender: null, senderNonce: answerNonce, now }, null);
        }
      }
    }
  }

  private async encode(answer: Answer, message: PkiMessage | null, sender: Sender | null, product: ProductRecord | undefined, senderNonce: Buffer, now: number): Promise<Buffer> {
    // A MAC-protected answer needs the signer only to name the sender: without one it names nobody.
    const signer = product ? await this.signers.current(product.caId).catch((e: unknown) => (sender?.kind === 'mac' ? null : Promise.reject(e))) : null;
    return encodeAnswer(answer, { request: message?.header ?? null, sender, senderNonce, now }, signer);
  }
}

function plain(res: Response, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(`${text}\n`, 'utf8');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
  res.end(body);
}

