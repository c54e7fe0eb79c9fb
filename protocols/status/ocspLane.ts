// A fast lane for OCSP on the plain-HTTP listener. Relying parties ask far more often than anyone
// else calls the gateway, and node:http's per-request machinery costs several times what a cached
// answer does. The lane reads requests for /ocsp straight off the socket and writes each answer,
// head and body prepared together, with one write.
//
// It takes only requests it holds whole and understands completely: HTTP/1.1 `POST /ocsp` with one Content-Length
// or `GET /ocsp/{base64}` with no body, exactly one Host, and no Transfer-Encoding, Expect, Upgrade
// or Connection other than keep-alive. At the first request that is anything else, it hands the
// connection over to node:http with the bytes it has read but not answered; node:http owns it from
// then on. So the rest of the gateway, malformed HTTP and its error answers, and node's defences
// (header limits, timeouts, smuggling) are unchanged: the lane never answers what node:http would
// have read differently.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { OcspAnswer, OcspResponder } from '../../src/ca/ocspResponder.js';
import { ocspErrorResponse } from '../../src/pki/ocsp.js';
import { cacheHeaders, MAX_OCSP_REQUEST, requestFromPath } from './ocspHttp.js';

/** node:http's default limit on a request's header block. */
const MAX_HEADER_BLOCK = 16 * 1024;
/** Pipelined bytes held while an answer is signed, before the lane stops reading. */
const MAX_BUFFERED = 64 * 1024;

export type LaneRequest =
  /** Not for the lane: node:http takes the connection from here. */
  | { kind: 'foreign' }
  | { kind: 'post'; body: Buffer; length: number }
  | { kind: 'get'; encoded: string; length: number };

const FOREIGN: LaneRequest = { kind: 'foreign' };
const STARTS = [Buffer.from('POST /ocsp'), Buffer.from('GET /ocsp/')];
const REQUEST_LINE = /^(GET|POST) (\/ocsp[\x21-\x7e]*) HTTP\/1\.1$/;
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e\t]*?)[ \t]*$/;
const CONTENT_LENGTH = /^\d{1,9}$/;

/**
 * The next request in the buffer, as far as the lane is concerned. The lane takes only a request it
 * holds whole, and never waits for more of one: node:http may already have rejected the part that
 * has arrived, and its timeouts govern slow senders. Clients send an OCSP request in one segment,
 * so in practice this costs the lane nothing.
 */
export function nextLaneRequest(buf: Buffer): LaneRequest {
  if (!STARTS.some((start) => buf.length >= start.length && buf.compare(start, 0, start.length, 0, start.length) === 0)) return FOREIGN;
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0 || end > MAX_HEADER_BLOCK) return FOREIGN;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const requestLine = REQUEST_LINE.exec(lines[0] as string);
  if (!requestLine) return FOREIGN;
  const [, method, target] = requestLine as unknown as [string, string, string];
  if (target.includes('#')) return FOREIGN;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);

  let contentLength: number | undefined;
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER.exec(lines[i] as string);
    if (!header) return FOREIGN;
    const name = (header[1] as string).toLowerCase();
    const value = header[2] as string;
    if (name === 'content-length') {
      if (contentLength !== undefined || !CONTENT_LENGTH.test(value)) return FOREIGN;
      contentLength = Number(value);
    } else if (name === 'host') {
      hosts++;
    } else if (name === 'connection') {
      if (value.split(',').some((token) => token.trim().toLowerCase() !== 'keep-alive')) return FOREIGN;
    } else if (name === 'transfer-encoding' || name === 'expect' || name === 'upgrade') {
      return FOREIGN;
    }
  }
  if (hosts !== 1) return FOREIGN;
  const bodyStart = end + 4;
  if (method === 'GET') {
    if (!path.startsWith('/ocsp/') || (contentLength ?? 0) !== 0) return FOREIGN;
    return { kind: 'get', encoded: path.slice('/ocsp/'.length), length: bodyStart };
  }
  if ((path !== '/ocsp' && path !== '/ocsp/') || contentLength === undefined || contentLength > MAX_OCSP_REQUEST) return FOREIGN;
  if (buf.length < bodyStart + contentLength) return FOREIGN;
  return { kind: 'post', body: buf.subarray(bodyStart, bodyStart + contentLength), length: bodyStart + contentLength };
}

/**
 * The whole HTTP response for an answer. A cached answer goes out many times a second, so its bytes
 * are built once per second (the Date header's resolution) and kind (GET answers carry cache headers).
 */
function responseBuilder(server: Server): (answer: OcspAnswer, kind: 'post' | 'get') => Buffer {
  let second = 0;
  let fixed = '';
  let built = { post: new WeakMap<OcspAnswer, Buffer>(), get: new WeakMap<OcspAnswer, Buffer>() };
  return (answer, kind) => {
    const now = Date.now();
    if (now - second >= 1000) {
      second = now - (now % 1000);
      fixed = `Date: ${new Date(second).toUTCString()}\r\nKeep-Alive: timeout=${Math.floor(server.keepAliveTimeout / 1000)}\r\n`;
      built = { post: new WeakMap(), get: new WeakMap() };
    }
    const known = built[kind].get(answer);
    if (known) return known;
    const extra = kind === 'get' ? Object.entries(cacheHeaders(answer)).map(([k, v]) => `${k}: ${v}\r\n`).join('') : '';
    const head = `HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: ${answer.der.length}\r\n${fixed}${extra}\r\n`;
    const bytes = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + answer.der.length);
    answer.der.copy(bytes, bytes.write(head, 'latin1'));
    built[kind].set(answer, bytes);
    return bytes;
  };
}

export interface OcspLane {
  /** Ends the lane's idle connections now and its busy ones after their answer. */
  close(): void;
}

/**
 * Puts the lane in front of a node:http server's connections. The server keeps listening,
 * tracking and timing out the connections it is handed, and closing as before.
 */
export function installOcspLane(server: Server, ocsp: OcspResponder): OcspLane {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  // node:http's own, which the lane calls for the connections it hands over.
  const [nodeListener] = listeners;
  if (listeners.length !== 1 || !nodeListener) throw new Error('installOcspLane: expected a node:http server with only its own connection listener');
  server.removeListener('connection', nodeListener);
  const open = new Set<() => void>();
  let closing = false;
  const responseBytes = responseBuilder(server);

  server.on('connection', (socket: Socket) => {
    let buf: Buffer | null = null;
    let busy = false;

    const write = (answer: OcspAnswer, kind: 'post' | 'get'): void => {
      // A client that does not read its answers stops being read until it does.
      if (!socket.write(responseBytes(answer, kind))) socket.pause();
    };

    const answerFor = (request: LaneRequest & { kind: 'post' | 'get' }): OcspAnswer | Promise<OcspAnswer> => {
      if (request.kind === 'post') return ocsp.cached(request.body) ?? ocsp.answer(request.body);
      const der = requestFromPath(request.encoded);
      if (der === null) return { der: ocspErrorResponse('malformedRequest') };
      return ocsp.cached(der) ?? ocsp.answer(der);
    };

    const serve = (): void => {
      while (buf !== null && !busy) {
        const request = nextLaneRequest(buf);
        if (request.kind === 'foreign') return handOver();
        buf = request.length === buf.length ? null : buf.subarray(request.length);
        const answer = answerFor(request);
        const kind = request.kind;
        if (!(answer instanceof Promise)) {
          write(answer, kind);
          continue;
        }
        // Signing is asynchronous; later pipelined requests wait, so answers keep their order.
        busy = true;
        void answer.catch(() => ({ der: ocspErrorResponse('internalError') })).then((a) => {
          busy = false;
          if (socket.destroyed) return;
          write(a, kind);
          serve();
        });
      }
      if (buf !== null && buf.length > MAX_BUFFERED) socket.pause();
      else if (!socket.writableNeedDrain) socket.resume();
      if (closing && !busy) socket.end();
    };

    const onData = (chunk: Buffer): void => {
      if (socket.writableEnded) return;
      buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
      if (!busy) serve();
    };
    const onDrain = (): void => {
      if (buf === null || buf.length <= MAX_BUFFERED) socket.resume();
    };
    const onTimeout = (): void => {
      if (!busy) socket.destroy();
    };
    const onError = (): void => {
      // The peer went away; there is no one to tell.
    };
    const closeIdle = (): void => {
      if (!busy) socket.end();
    };
    const forget = (): void => {
      open.delete(closeIdle);
    };

    const handOver = (): void => {
      forget();
      socket.removeListener('data', onData);
      socket.removeListener('drain', onDrain);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('error', onError);
      socket.removeListener('close', forget);
      socket.setTimeout(0);
      // Paused, the unread bytes wait in the stream's buffer until node:http starts reading.
      socket.pause();
      if (buf !== null) socket.unshift(buf);
      buf = null;
      nodeListener.call(server, socket);
      socket.resume();
    };

    if (closing) {
      socket.destroy();
      return;
    }
    open.add(closeIdle);
    socket.on('data', onData);
    socket.on('drain', onDrain);
    socket.on('timeout', onTimeout);
    socket.on('error', onError);
    socket.on('close', forget);
    socket.setTimeout(server.keepAliveTimeout);
  });

  return {
    close(): void {
      closing = true;
      for (const closeIdle of open) closeIdle();
    },
  };
}
