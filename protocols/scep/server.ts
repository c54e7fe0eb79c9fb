// SCEP over HTTP (RFC 8894 §4): `/scep` (the product named `default`, else the first),
// `/scep/<product>`, and `/cgi-bin/pkiclient.exe` for devices that know no other path, on HTTP and
// HTTPS alike. GET takes `operation` and a percent-encoded base64 `message` (read from the raw
// URL: a `+` stays a `+`, line breaks are dropped); POST takes the DER as the body, whatever its
// Content-Type says.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { decodeLenientBase64 } from '../../src/pki/base64.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { classifyFailure, logFailure, plainAnswerOf } from '../../src/core/failure.js';
import type { ProductRecord } from '../../src/core/types.js';
import { certsOnlyPkcs7 } from '../../src/pki/pkcs7.js';
import { CA_CAPABILITIES } from './algorithms.js';
import { MalformedMessage } from './messageErrors.js';
import type { PkiOperations } from './operations.js';
import type { RaCertificates } from './ra.js';
import type { RaIssuers } from './raIssuer.js';

const PATHS = ['/scep', '/scep/:label', '/cgi-bin/pkiclient.exe', '/scep/:label/cgi-bin/pkiclient.exe', '/scep/:label/pkiclient.exe'];
const MAX_MESSAGE_BYTES = 256 * 1024;
const CAPABILITIES = `${CA_CAPABILITIES.join('\n')}\n`;
class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** The query string's parameters, percent-decoded without turning `+` into a space. */
export function queryOf(url: string): Map<string, string> {
  const params = new Map<string, string>();
  const q = url.indexOf('?');
  if (q < 0) return params;
  for (const part of url.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const decode = (s: string): string => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new BadRequest('the query string is not valid percent-encoding');
      }
    };
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!params.has(name)) params.set(name, eq < 0 ? '' : decode(part.slice(eq + 1)));
  }
  return params;
}

/** Base64 as SCEP clients send it: whitespace and line breaks anywhere, sometimes base64url. */
export function decodeBase64Message(text: string): Buffer {
  const der = decodeLenientBase64(text, { url: true });
  if (!der?.length) throw new BadRequest('message is not base64');
  return der;
}

/** A POST body is DER; a few clients send it base64-encoded instead. */
function bodyMessage(body: unknown): Buffer {
  const raw = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  if (raw.length === 0) throw new BadRequest('the request has no pkiMessage');
  if (raw[0] === 0x30) return raw;
  const text = raw.toString('latin1');
  if (/^[\sA-Za-z0-9+/=_-]+$/.test(text)) return decodeBase64Message(text);
  return raw;
}

export class ScepServer {
  /** GetCACert answers per CA and RA, built once. */
  private readonly caCerts = new Map<string, { raId: string; body: Buffer }>();

  constructor(
    private readonly core: CoreServices,
    private readonly ras: RaCertificates,
    private readonly raIssuers: RaIssuers,
    private readonly operations: PkiOperations,
  ) {}

  router(): Router {
    const r = express.Router();
    const raw = express.raw({ type: () => true, limit: MAX_MESSAGE_BYTES });
    r.get(PATHS, (req, res) => this.serve(req, res, 'GET'));
    r.post(PATHS, raw, (req, res) => this.serve(req, res, 'POST'));
    r.use(PATHS, (err: unknown, req: Request, res: Response, next: NextFunction) => this.renderError(err, req, res, next));
    return r;
  }

  private async serve(req: Request, res: Response, method: 'GET' | 'POST'): Promise<void> {
    res.set('Cache-Control', 'no-store');
    const params = queryOf(req.originalUrl);
    const operation = params.get('operation');
    const product = await this.productOf(req.params.label as string | undefined);
    switch (operation) {
      case 'GetCACaps':
        res.status(200).type('text/plain').send(CAPABILITIES);
        return;
      case 'GetCACert':
        res.status(200).type('application/x-x509-ca-ra-cert').send(await this.caCertificates(product));
        return;
      case 'GetNextCACert':
        // certgate has no staged CA rollover, so there is no next CA certificate; GetNextCACert is
        // not among the capabilities, and RFC 8894 §3.5.1 tells clients not to ask for it then.
        res.status(404).type('text/plain').send('no CA rollover is staged\n');
        return;
      case 'PKIOperation': {
        const der = method === 'POST' ? bodyMessage(req.body) : decodeBase64Message(params.get('message') ?? '');
        const sourceIp = sourceIpOf(req);
        const reply = await this.operations.handle(product, der, sourceIp);
        res.status(200).type('application/x-pki-message').send(reply);
        return;
      }
      default:
        throw new BadRequest(operation === undefined ? 'operation is required (GetCACaps, GetCACert, PKIOperation)' : `unknown operation ${JSON.stringify(operation.slice(0, 40))}`);
    }
  }

  private async productOf(label: string | undefined): Promise<ProductRecord> {
    const product = await this.core.enrollments.productForLabel(label);
    if (!product) throw new BadRequest(label === undefined ? 'no product to enroll under' : `no SCEP service for product ${JSON.stringify(label.slice(0, 100))}`, 404);
    return product;
  }

  /**
   * The RA, then the CA and its parents up to the root (strongSwan needs the root to trust the
   * rest). When another CA issues the RA (the product's CA cannot), that CA's chain comes first:
   * it verifies the CertRep, the product's chain the issued certificate.
   */
  private async caCertificates(product: ProductRecord): Promise<Buffer> {
    const raCa = await this.raIssuers.of(product.caId);
    const ra = await this.ras.current(raCa);
    const cached = this.caCerts.get(product.caId);
    if (cached?.raId === ra.id) return cached.body;
    const raChain = raCa === product.caId ? [] : (await this.operations.caView(raCa)).chain;
    const view = await this.operations.caView(product.caId);
    const body = certsOnlyPkcs7([ra.der, ...raChain, ...view.chain.filter((der) => !raChain.some((c) => c.equals(der)))]);
    this.caCerts.set(product.caId, { raId: ra.id, body });
    return body;
  }

  private renderError(err: unknown, req: Request, res: Response, next: NextFunction): void {
    if (res.headersSent) return next(err);
    const text = (status: number, message: string) => res.status(status).type('text/plain').send(`${message}\n`);
    if (err instanceof BadRequest) return void text(err.status, err.message);
    if (err instanceof MalformedMessage) return void text(400, `not a pkiMessage this server can answer: ${err.message}`);
    const failure = classifyFailure(err);
    logFailure(this.core.log, failure, 'the SCEP front-end', req.path);
    const answer = plainAnswerOf(failure);
    res.set(answer.headers);
    text(answer.status, answer.sentence);
  }
}
