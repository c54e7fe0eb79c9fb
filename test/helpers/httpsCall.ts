// One HTTPS request to a loopback listener that trusts only the given CAs, optionally with a TLS
// client certificate: what an EST client sends when a suite's gateway is not an EstEnv.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { EstCall, EstReply } from './est.js';

export function httpsCall(port: number, ca: string, path: string, o: EstCall = {}): Promise<EstReply> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions = {
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      path,
      method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
      ca,
      agent: false,
      headers: { ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}), ...o.headers },
      ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    };
    const req = httpsRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('latin1') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
