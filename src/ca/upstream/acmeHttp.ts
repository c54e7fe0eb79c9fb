// The wire side of talking to an upstream ACME server (RFC 8555 §6): JWS-signed POSTs with
// nonces, over HTTPS trusting the CA file the operator named for this upstream only. acme-client's
// own HTTP layer sleeps through rate limits in-process and keeps one global trust setting for every
// upstream; certgate instead hands a Retry-After back to its queue and trusts per CA, so requests
// go out here, signed with acme-client's JWS code.
import { createRequire } from 'node:module';
import https from 'node:https';
import { UpstreamProblem, UpstreamRetryLater, UpstreamUnreachable } from './errors.js';

const require = createRequire(import.meta.url);
// acme-client's JWS body builder (the same one its Client uses); its package exports only the
// high-level client, whose transport is the part replaced here.
const HttpClient = require('acme-client/src/http.js') as new (
  directoryUrl: string,
  accountKey: string,
  externalAccountBinding?: { kid: string; hmacKey: string },
) => {
  getJwk(): Record<string, string>;
  createSignedBody(url: string, payload: unknown, opts: { nonce: string; kid?: string | null }): Record<string, string>;
  createSignedHmacBody(hmacKey: string, url: string, payload: unknown, opts: { kid: string }): Record<string, string>;
};

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Parsed JSON body, when it is JSON. */
  json: Record<string, unknown> | null;
}

export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  renewalInfo?: string;
  meta?: { externalAccountRequired?: boolean; profiles?: Record<string, string> };
}

const REQUEST_TIMEOUT_MS = 30_000;
/** Used when an upstream asks to wait (429, 503) without saying how long. */
export const DEFAULT_RETRY_AFTER_SECONDS = 30;

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(header: string | string[] | undefined, now = Date.now()): number | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export class AcmeHttp {
  private directory: Promise<AcmeDirectory> | null = null;
  private nonces: string[] = [];
  private readonly jws: InstanceType<typeof HttpClient>;
  private readonly agent: https.Agent;

  constructor(
    readonly directoryUrl: string,
    accountKeyPem: string,
    /** PEM of the CA(s) the upstream's TLS certificate chains to; absent: the system's trust store. */
    caPem: string | null,
  ) {
    this.jws = new HttpClient(directoryUrl, accountKeyPem);
    this.agent = new https.Agent({ keepAlive: true, ...(caPem ? { ca: caPem } : {}) });
  }

  close(): void {
    this.agent.destroy();
  }

  getDirectory(): Promise<AcmeDirectory> {
    if (!this.directory) {
      this.directory = this.request('GET', this.directoryUrl).then((res) => {
        if (res.status !== 200 || !res.json || typeof res.json.newOrder !== 'string') {
          throw new UpstreamUnreachable(`the upstream directory ${this.directoryUrl} answered HTTP ${res.status} without an ACME directory`);
        }
        return res.json as unknown as AcmeDirectory;
      });
      this.directory.catch(() => (this.directory = null));
    }
    return this.directory;
  }

  accountJwk(): Record<string, string> {
    return this.jws.getJwk();
  }

  /** The EAB inner JWS (RFC 8555 §7.3.4): the account key signed with the operator's HMAC key. */
  externalAccountBinding(kid: string, hmacKeyBase64url: string, newAccountUrl: string): Record<string, string> {
    // acme-client decodes the key as base64, which also accepts base64url's alphabet in Node.
    return this.jws.createSignedHmacBody(Buffer.from(hmacKeyBase64url, 'base64url').toString('base64'), newAccountUrl, this.jws.getJwk(), { kid });
  }

  /**
   * A signed POST (payload null: POST-as-GET). `kid` null signs with the JWK (newAccount,
   * revocation by certificate key). A problem document throws UpstreamProblem, a rate limit or
   * 503 throws UpstreamRetryLater, a transport failure UpstreamUnreachable; `accept` lists the
   * statuses that are answers.
   */
  async post(url: string, payload: unknown, kid: string | null, accept: number[] = [200, 201]): Promise<AcmeResponse> {
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.nonce();
      const body = this.jws.createSignedBody(url, payload, { nonce, kid });
      const res = await this.request('POST', url, JSON.stringify(body));
      this.keepNonce(res);
      const type = typeof res.json?.type === 'string' ? res.json.type : '';
      if (res.status === 400 && type === 'urn:ietf:params:acme:error:badNonce' && attempt < 3) continue;
      if (accept.includes(res.status)) return res;
      throw problemOf(res, url);
    }
  }

  private async nonce(): Promise<string> {
    const kept = this.nonces.pop();
    if (kept) return kept;
    const dir = await this.getDirectory();
    const res = await this.request('HEAD', dir.newNonce);
    const nonce = res.headers['replay-nonce'];
    if (typeof nonce !== 'string') throw new UpstreamUnreachable(`the upstream gave no nonce (HTTP ${res.status})`);
    return nonce;
  }

  private keepNonce(res: AcmeResponse): void {
    const nonce = res.headers['replay-nonce'];
    if (typeof nonce === 'string') this.nonces.push(nonce);
  }

  request(method: 'GET' | 'HEAD' | 'POST', url: string, body?: string): Promise<AcmeResponse> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: body ? { 'content-type': 'application/jose+json', 'content-length': Buffer.byteLength(body) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            let json: Record<string, unknown> | null = null;
            if (/json/.test(String(res.headers['content-type'] ?? ''))) {
              try {
                json = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
              } catch {
                json = null;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json });
          });
          res.on('error', (e) => reject(new UpstreamUnreachable(`reading ${url}: ${e.message}`, { cause: e })));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (e) => reject(new UpstreamUnreachable(`${method} ${url}: ${e.message}`, { cause: e })));
      req.end(body);
    });
  }
}

/** What an error answer means for the request: wait and retry, or a refusal with the upstream's words. */
export function problemOf(res: AcmeResponse, url: string): Error {
  const type = typeof res.json?.type === 'string' ? res.json.type : '';
  const detail = typeof res.json?.detail === 'string' ? res.json.detail : `HTTP ${res.status} from ${url}`;
  const wait = retryAfterSeconds(res.headers['retry-after']);
  if (res.status === 429 || type === 'urn:ietf:params:acme:error:rateLimited' || res.status === 503) {
    return new UpstreamRetryLater(`the upstream asks to wait: ${detail}`, wait ?? DEFAULT_RETRY_AFTER_SECONDS);
  }
  if (res.status >= 500) return new UpstreamUnreachable(`the upstream failed: ${detail} (HTTP ${res.status})`);
  return new UpstreamProblem(type, detail, res.status, res.json);
}

