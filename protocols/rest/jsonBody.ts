import type { NextFunction, Request, Response } from 'express';
import { badRequest } from '../../src/core/errors.js';

/**
 * Reads a JSON request body. express.json() (body-parser, raw-body, iconv, type-is) cost about a
 * sixth of the REST front-end's CPU per issuance; this reads UTF-8 JSON and nothing else.
 */
export function jsonBody(limitBytes: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE') {
      next();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limitBytes) {
      res.status(413).json({ error: `request body larger than ${limitBytes} bytes` });
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes && !failed) {
        failed = true;
        res.status(413).json({ error: `request body larger than ${limitBytes} bytes` });
        return;
      }
      if (!failed) chunks.push(chunk);
    });
    req.on('error', (e) => {
      if (!failed) next(e);
      failed = true;
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks, size).toString('utf8');
      if (text.trim() === '') {
        req.body = {};
        next();
        return;
      }
      try {
        req.body = JSON.parse(text) as unknown;
      } catch {
        next(badRequest('request body is not valid JSON'));
        return;
      }
      next();
    });
  };
}
