// The one classification of a failed request every front-end renders (src/core/failure.ts).
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { badRequest, rateLimited, unprocessable } from '../src/core/errors.js';
import { classifyFailure, HTTP_STATUS_OF, logFailure, plainAnswerOf, UNAVAILABLE_SENTENCE, type Failure } from '../src/core/failure.js';
import { DependencyUnavailableError, RETRY_AFTER_SECONDS } from '../src/core/unavailable.js';

describe('classifyFailure', () => {
  // Real body-parser and router errors, as a front-end's error handler receives them.
  let base: string;
  let close: () => Promise<void>;
  const seen: Failure[] = [];
  beforeAll(async () => {
    const app = express();
    app.post('/json', express.json({ limit: 64 }), (_req, res) => void res.end());
    app.post('/raw', express.raw({ type: () => true, limit: 64 }), (_req, res) => void res.end());
    app.get('/p/:id', (_req, res) => void res.end());
    app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen.push(classifyFailure(err));
      res.status(599).end();
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(async () => close?.());

  async function failureOf(path: string, init?: RequestInit): Promise<Failure> {
    seen.length = 0;
    expect((await fetch(`${base}${path}`, init)).status).toBe(599);
    expect(seen).toHaveLength(1);
    return seen[0] as Failure;
  }

  it('gives each body-parser and router error its 4xx and one sentence', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await failureOf('/json', { method: 'POST', headers: json, body: '{"a":' })).toMatchObject({ kind: 'unreadable', status: 400, sentence: 'the request body is not valid JSON', headers: {} });
    expect(await failureOf('/raw', { method: 'POST', body: 'A'.repeat(65) })).toMatchObject({ kind: 'unreadable', status: 413, sentence: 'the request body is larger than 64 bytes' });
    expect(await failureOf('/raw', { method: 'POST', headers: { 'content-encoding': 'x-nonsense' }, body: 'A' })).toMatchObject({ kind: 'unreadable', status: 415, sentence: 'unsupported content encoding "x-nonsense"' });
    expect(await failureOf('/json', { method: 'POST', headers: { 'content-type': 'application/json; charset=x-nonsense' }, body: '{}' })).toMatchObject({ kind: 'unreadable', status: 415, sentence: 'unsupported charset "X-NONSENSE"' });
    expect(await failureOf('/p/%ff')).toMatchObject({ kind: 'unreadable', status: 400, sentence: 'the request path is not valid percent-encoded UTF-8' });
  });

  it('passes the core refusals through, rate limits with their wait', () => {
    const limited = rateLimited('slow down', 7.2);
    expect(classifyFailure(limited)).toEqual({ kind: 'refused', error: limited });
    expect(plainAnswerOf(classifyFailure(limited))).toEqual({ status: 429, sentence: 'slow down', headers: { 'Retry-After': '8' } });
    expect(plainAnswerOf(classifyFailure(badRequest('no')))).toEqual({ status: 400, sentence: 'no', headers: {} });
    expect(plainAnswerOf(classifyFailure(unprocessable('later')), { ...HTTP_STATUS_OF, unprocessable: 409 }).status).toBe(409);
  });

  it('tells a dependency that is down from a bug, and logs neither stack nor credentials', () => {
    const down = classifyFailure(new Error('query failed', { cause: new DependencyUnavailableError('store', 'ping timed out') }));
    expect(down).toMatchObject({ kind: 'unavailable', status: 503, sentence: UNAVAILABLE_SENTENCE, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
    expect(classifyFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).kind).toBe('unavailable');

    const bug = classifyFailure(new TypeError('cannot read postgres://certgate:s3cret@db/x'));
    expect(bug).toMatchObject({ kind: 'internal', status: 500, sentence: 'internal error', headers: {} });
    expect((bug as { logged: string }).logged).toBe('TypeError: cannot read postgres://***@db/x');
    expect(classifyFailure('a string').kind).toBe('internal');
    // An error that only looks like a 5xx HTTP error is still ours.
    expect(classifyFailure(Object.assign(new Error('boom'), { status: 502 })).kind).toBe('internal');
  });

  it('logs an outage as a warning and a bug as an error, nothing else', () => {
    const log = { warn: vi.fn(), error: vi.fn() };
    logFailure(log, classifyFailure(new DependencyUnavailableError('queue', 'down')), 'the X front-end', '/x');
    logFailure(log, classifyFailure(new Error('bug')), 'the X front-end', '/y');
    logFailure(log, classifyFailure(badRequest('no')), 'the X front-end', '/z');
    logFailure(log, classifyFailure(new URIError('bad')), 'the X front-end', '/z');
    expect(log.warn.mock.calls).toEqual([[{ err: 'DependencyUnavailableError: down', path: '/x' }, 'dependency unavailable (the X front-end)']]);
    expect(log.error.mock.calls).toEqual([[{ err: 'Error: bug', path: '/y' }, 'unhandled error in the X front-end']]);
  });
});
