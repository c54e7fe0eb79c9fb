// The OCSP endpoint (RFC 6960 appendix A) on bare node:http, in front of express. Relying parties
// call it far more often than anything else, and a cached answer costs a few microseconds while
// express's routing, body parsing and response helpers cost several times that.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OcspAnswer, OcspResponder } from './ocspResponder.js';
import { decodeLenientBase64 } from '../../src/pki/base64.js';
import { ocspErrorResponse } from '../../src/pki/ocsp.js';

export const MAX_OCSP_REQUEST = 16 * 1024;
const MAX_GET_PATH = Math.ceil((MAX_OCSP_REQUEST * 4) / 3) * 3; // base64, every byte %-escaped at worst
type Headers = Record<string, string | number>;

function send(res: ServerResponse, der: Buffer, extra?: Headers): void {
  res.writeHead(200, { 'content-type': 'application/ocsp-response', 'content-length': der.length, ...extra });
  res.end(der);
}

/**
 * HTTP caching for GET answers (RFC 5019 section 6.2), so a CDN in front can absorb the load: kept
 * no longer than this responder keeps them itself, which bounds how late a revocation shows.
 * POST answers are not cached by HTTP caches; errors and nonce answers must not be.
 */
export function cacheHeaders(answer: OcspAnswer): Headers {
  if (!answer.caching) return { 'cache-control': 'no-store' };
  const { thisUpdate, nextUpdate, until } = answer.caching;
  const maxAge = Math.max(0, Math.floor((Math.min(until, nextUpdate.getTime()) - Date.now()) / 1000));
  return {
    'cache-control': `max-age=${maxAge}, public, no-transform, must-revalidate`,
    'last-modified': thisUpdate.toUTCString(),
    expires: nextUpdate.toUTCString(),
    etag: `"${createHash('sha1').update(answer.der).digest('hex')}"`,
  };
}

/** A relying party's request body, or null once it has gone past the limit. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** The request DER from a GET path's last part, or null if it is not url-encoded base64. */
export function requestFromPath(encoded: string): Buffer | null {
  if (encoded.length > MAX_GET_PATH) return null;
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return null;
  }
  return decodeLenientBase64(text);
}

/**
 * Answers `POST /ocsp` and `GET /ocsp/{base64}` and returns true; returns false for anything else,
 * which the caller passes on. Every answer is an OCSPResponse: bad input gets malformedRequest.
 */
export function createOcspHandler(ocsp: OcspResponder): (req: IncomingMessage, res: ServerResponse) => boolean {
  const answerPost = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, MAX_OCSP_REQUEST);
    if (body === null) {
      // Too large to be an OCSP request: answer, then drop the connection rather than read on.
      res.shouldKeepAlive = false;
      send(res, ocsp.malformed().der);
      return;
    }
    send(res, await ocsp.respond(body));
  };
  const answerGet = async (encoded: string, res: ServerResponse): Promise<void> => {
    const der = requestFromPath(encoded);
    const answer: OcspAnswer = der === null ? ocsp.malformed() : await ocsp.answer(der);
    send(res, answer.der, cacheHeaders(answer));
  };
  const failed = (res: ServerResponse) => (): void => {
    // respond() never throws; only the socket can fail here, and then there is no one to tell.
    if (!res.headersSent) send(res, ocspErrorResponse('internalError'));
  };

  return (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/ocsp')) return false;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method === 'POST' && (path === '/ocsp' || path === '/ocsp/')) {
      answerPost(req, res).catch(failed(res));
      return true;
    }
    if (req.method === 'GET' && path.startsWith('/ocsp/')) {
      answerGet(path.slice('/ocsp/'.length), res).catch(failed(res));
      return true;
    }
    return false;
  };
}
