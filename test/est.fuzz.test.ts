// Property tests of EST's parsers and encoders, and of the server on arbitrary input: every input is
// either understood or refused with a 4xx and a reason, never a crash or a 5xx.
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLenientBase64 } from '../src/pki/base64.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { certsOnlyPkcs7 } from '../src/pki/pkcs7.js';
import { csrAttrsFor } from '../protocols/est/csrattrs.js';
import { matchEstPath, OPERATIONS } from '../protocols/est/paths.js';
import { estSettingsOf } from '../protocols/est/settings.js';
import { base64Lines, decodePkcs10Body, EstHttpError, parseBasicAuth } from '../protocols/est/wire.js';
import { basic, csrDer, startEstEnv, type EstEnv } from './helpers/est.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';
import { CertsOnlyError, readCertsOnly } from './helpers/pkijs.js';

const PKCS10 = { 'content-type': 'application/pkcs10' };

/**
 * Runs `f` and hands back what it returned, or the EstHttpError it threw: any other throw fails the
 * test. The caller says which of the two the input must give, so a return cannot pass for a refusal.
 */
function outcomeOf<T>(f: () => T): { returned: T } | { refused: EstHttpError } {
  try {
    return { returned: f() };
  } catch (e) {
    if (!(e instanceof EstHttpError)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
    return { refused: e };
  }
}

/** How EST must read a body, written out from RFC 7030 section 4.2.1 and RFC 8951, independently of wire.ts. */
function expectedBody(body: Buffer, headers: Record<string, string>): { der: Buffer } | { status: 400 | 415; says: RegExp } {
  if (headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== 'application/pkcs10') return { status: 415, says: /must be application\/pkcs10/ };
  const cte = headers['content-transfer-encoding']?.trim().toLowerCase();
  if (cte !== undefined && !['base64', 'binary', '8bit', '7bit'].includes(cte)) return { status: 400, says: /^Content-Transfer-Encoding .* is not supported/ };
  if (body.length === 0) return { status: 400, says: /is empty/ };
  if (cte === 'binary' || cte === '8bit') return { der: body };
  const text = body.toString('latin1').replace(/-----(BEGIN|END) [A-Z0-9 ]{1,64}-----/g, '').replace(/\s+/g, '');
  const bytes = Buffer.from(text, 'base64');
  // Canonical base64 only: what an encoder writes for these bytes, padded or not.
  if (/^[A-Za-z0-9+/]*={0,2}$/.test(text) && (text === bytes.toString('base64') || text === bytes.toString('base64').replace(/=+$/, ''))) {
    return bytes.length === 0 ? { status: 400, says: /is empty/ } : { der: bytes };
  }
  if (cte === undefined && body[0] === 0x30) return { der: body };
  return { status: 400, says: /is not base64/ };
}

const decodes = (segment: string): boolean => {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
};

/** Where EST answers (RFC 7030 section 3.2.2), in the order a path is read: null when the path is not EST's. */
function expectedRoute(path: string): { operation: string; label: string | null } | { status: 400 | 404 } | null {
  const m = /^(?:\/([^/]+))?\/\.well-known\/est(?=\/|$)(.*)$/.exec(path);
  if (!m) return null;
  const prefix = m[1];
  if (prefix !== undefined && !decodes(prefix)) return { status: 400 };
  const segments = (m[2] as string).split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.length > 2) return { status: 404 };
  const last = segments[segments.length - 1] as string;
  if (!decodes(last)) return { status: 400 };
  if (!(OPERATIONS as readonly string[]).includes(decodeURIComponent(last))) return { status: 404 };
  const inner = segments.length === 2 ? (segments[0] as string) : undefined;
  if (inner !== undefined && !decodes(inner)) return { status: 400 };
  const label = inner !== undefined ? decodeURIComponent(inner) : prefix !== undefined ? decodeURIComponent(prefix) : null;
  if (inner !== undefined && prefix !== undefined && decodeURIComponent(inner) !== decodeURIComponent(prefix)) return { status: 404 };
  return { operation: decodeURIComponent(last), label };
}

const scratch = tempDir('certgate-est-fuzz-');

/** openssl reading DER from a file (its stdin here is text). */
function opensslDer(args: string[], der: Buffer): string {
  const file = join(scratch, `in-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, der);
  return openssl([...args, '-inform', 'DER', '-in', file]);
}

const whitespace = fc.constantFrom('\r\n', '\n', ' ', '\t', '');

describe('EST codecs', () => {
  it('base64 bodies decode to the bytes, whatever the line length and line breaks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(0, 64, 76), whitespace, (bytes, lineLength, sep) => {
        const text = base64Lines(bytes, lineLength);
        if (lineLength === 0) expect(text).not.toMatch(/\s/);
        else for (const line of text.split('\r\n')) expect(line.length).toBeLessThanOrEqual(lineLength);
        expect(decodeLenientBase64(text)).toEqual(Buffer.from(bytes));
        expect(decodeLenientBase64(text.replace(/\r\n/g, sep))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('request bodies: arbitrary bytes, types and encodings are decoded to the DER they carry or refused with the exact 400 or 415', () => {
    const headers = fc.record(
      {
        'content-type': fc.constantFrom('application/pkcs10', 'Application/PKCS10; charset=x', 'application/json', 'text/plain', ''),
        'content-transfer-encoding': fc.constantFrom('base64', 'binary', 'BASE64', '8bit', 'gzip', ' '),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 300 }).map((s) => Buffer.from(s, 'latin1'))), headers, (body, h) => {
        const expected = expectedBody(body, h);
        const got = outcomeOf(() => decodePkcs10Body(body, h));
        if ('der' in expected) expect(got).toEqual({ returned: expected.der });
        else {
          expect('refused' in got && got.refused.status).toBe(expected.status);
          if ('refused' in got) expect(got.refused.message).toMatch(expected.says);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a CSR arrives intact in every encoding a client may use', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = csrDer(buildCsr(privateKey, 'CN=fuzz.test', { dns: ['fuzz.test'] }));
    fc.assert(
      fc.property(fc.constantFrom(0, 64, 76), whitespace, fc.boolean(), (lineLength, sep, cte) => {
        const text = base64Lines(der, lineLength).replace(/\r\n/g, sep);
        expect(decodePkcs10Body(Buffer.from(text), { ...PKCS10, ...(cte ? { 'content-transfer-encoding': 'base64' } : {}) })).toEqual(der);
      }),
    );
    expect(decodePkcs10Body(der, PKCS10)).toEqual(der);
    expect(decodePkcs10Body(der, { ...PKCS10, 'content-transfer-encoding': 'binary' })).toEqual(der);
  });

  it('Basic credentials: arbitrary headers never throw; user:password round-trips', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (header) => {
        const parsed = parseBasicAuth(header);
        expect(parsed === null || parsed === 'malformed' || typeof parsed.username === 'string').toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }).filter((u) => !u.includes(':')), fc.string({ maxLength: 60 }), (username, password) => {
        expect(parseBasicAuth(`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`)).toEqual({ username, password: Buffer.from(password).toString('utf8') });
      }),
    );
  });

  it('paths: arbitrary paths are the EST route they name, not EST, or the exact 400 or 404', () => {
    const segment = fc.oneof(fc.constantFrom(...OPERATIONS, '.well-known', 'est', '', '%zz', 'default', '..'), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), (segments) => {
        const path = `/${segments.join('/')}`;
        const got = outcomeOf(() => matchEstPath(path));
        const expected = expectedRoute(path);
        if (expected === null || 'operation' in expected) expect(got).toEqual({ returned: expected });
        else expect('refused' in got && got.refused.status).toBe(expected.status);
      }),
      { numRuns: 3000 },
    );
    expect(matchEstPath('/.well-known/est/cacerts')).toEqual({ operation: 'cacerts', label: null });
    expect(matchEstPath('/.well-known/est/routers/simpleenroll')).toEqual({ operation: 'simpleenroll', label: 'routers' });
    expect(matchEstPath('/routers/.well-known/est/simpleenroll')).toEqual({ operation: 'simpleenroll', label: 'routers' });
    expect(matchEstPath('/v1/certificates')).toBeNull();
  });

  it('certs-only CMS: what pkijs writes, pkijs and openssl read back; garbage is a CertsOnlyError', () => {
    const dir = scratch;
    const certs = Array.from({ length: 3 }, (_, i) => {
      const pem = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/k${i}.pem`, '-subj', `/CN=c${i}.test`, '-days', '1']);
      return csrDer(pem);
    });
    fc.assert(
      fc.property(fc.subarray(certs), (chosen) => {
        expect(readCertsOnly(certsOnlyPkcs7(chosen)).certificates).toEqual(chosen);
      }),
    );
    const p7 = certsOnlyPkcs7(certs);
    expect(opensslDer(['pkcs7', '-print_certs'], p7).match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(p7.length - 1), fc.integer({ min: 1, max: 255 }), (junk, at, flip) => {
        const mutated = Buffer.from(p7);
        mutated[at] = (mutated[at] as number) ^ flip;
        for (const input of [Buffer.from(junk), mutated]) {
          let read: Buffer[] | undefined;
          try {
            read = readCertsOnly(input).certificates;
          } catch (e) {
            expect(e).toBeInstanceOf(CertsOnlyError);
            expect((e as Error).message).not.toBe('');
          }
          // What is read is certificates that a certs-only message carries as they were read.
          if (read !== undefined) expect(readCertsOnly(certsOnlyPkcs7(read)).certificates).toEqual(read);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('csrattrs for any product template is DER that openssl reads', () => {
    const keyAlgorithms = fc.subarray(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const, { minLength: 1 });
    fc.assert(
      fc.property(keyAlgorithms, fc.boolean(), (algs, withOu) => {
        const template = parseProductTemplate({ keyAlgorithms: algs, ...(withOu ? { subject: { attributes: { OU: { allowed: ['A'] } } } } : {}) });
        const der = csrAttrsFor(template);
        const parsed = opensslDer(['asn1parse'], der);
        expect(parsed).toContain('Extension Request');
        expect(parsed.includes('organizationalUnitName')).toBe(withOu);
      }),
      { numRuns: 30 },
    );
  });

  it('EST settings: what zod refuses is reported, never half-applied', () => {
    const product = (est: unknown) => ({ id: 'p', name: 'p', caId: 'c', createdAt: new Date(), template: parseProductTemplate({ protocols: { est } }) });
    expect(estSettingsOf(product({}))).toEqual({ auth: 'basic', base64LineLength: 0 });
    // A bare CA id or name is an entry that keeps names.
    expect(estSettingsOf(product({ trustedCas: ['issuing', { ca: 'other', namesMayDiffer: true }] })).trustedCas).toEqual([
      { ca: 'issuing', namesMayDiffer: false, anchor: null },
      { ca: 'other', namesMayDiffer: true, anchor: null },
    ]);
    expect(estSettingsOf(product({ auth: 'basic', base64LineLength: 64, retryAfterSeconds: 5 }))).toEqual({ auth: 'basic', base64LineLength: 64, retryAfterSeconds: 5 });
    for (const bad of [{ auth: 'maybe' }, { base64LineLength: 65 }, { retryAfterSeconds: 0 }, { trustedCas: 'x' }, { trustedCas: [{ ca: 'x', names: 'any' }] }, { trustedCas: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'] }, { typo: 1 }]) {
      expect(() => estSettingsOf(product(bad))).toThrow(/invalid EST settings/);
    }
  });
});

describe('EST server on arbitrary input', () => {
  let env: EstEnv;
  let valid: Buffer;

  beforeAll(async () => {
    env = await startEstEnv({ products: {}, users: { fuzz: '*' } });
    valid = csrDer(makeCsr(env.dir, { subject: '/CN=fuzz.test' }).csrPem);
  });

  afterAll(async () => {
    await env?.close();
  });

  const issuedCount = async () => (await env.server.rt.store.inventory.list({ includeImported: true }, { limit: 1, offset: 0 })).total;

  it('answers arbitrary and mutated request bodies with a 200 and one certificate, or a 400, 401 or 403 in plain text and none', async () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(Buffer.from(b).toString('base64'))),
      fc.tuple(fc.nat(4096), fc.integer({ min: 1, max: 255 })).map(([at, flip]) => {
        const mutated = Buffer.from(valid);
        const i = at % mutated.length;
        mutated[i] = (mutated[i] as number) ^ flip;
        return Buffer.from(mutated.toString('base64'));
      }),
      fc.nat(valid.length).map((n) => Buffer.from(valid.subarray(0, n).toString('base64'))),
    );
    const operation = fc.constantFrom('simpleenroll', 'serverkeygen', 'simplereenroll');
    // EST's transaction id is the operation and the CSR: the same body sent again is the same
    // request, answered with its certificate and not issued twice.
    const issuedFor = new Set<string>();
    await fc.assert(
      fc.asyncProperty(body, operation, async (b, op) => {
        const before = await issuedCount();
        const reply = await env.call(`/.well-known/est/${op}`, { body: b, headers: { ...PKCS10, authorization: basic(env.users.fuzz!) } });
        // A 400 for what is no CSR, a 403 for a CSR the product or the operation refuses; a 200 issued one.
        // simplereenroll authenticates with the certificate it renews, which no call here presents: 401
        // (after the body is read: a body that is no CSR is a 400 first).
        expect(op === 'simplereenroll' ? [400, 401] : [200, 400, 403], `${reply.status} ${reply.text}`).toContain(reply.status);
        if (reply.status === 200) {
          expect(reply.headers['content-type']).toMatch(op === 'serverkeygen' ? /^multipart\/mixed/ : /^application\/pkcs7-mime/);
          const request = `${op}:${b.toString('base64')}`;
          expect(await issuedCount()).toBe(issuedFor.has(request) ? before : before + 1);
          issuedFor.add(request);
        } else {
          expect(reply.headers['content-type']).toBe('text/plain; charset=us-ascii');
          expect(reply.text).toMatch(/^[\x20-\x7e]+\n$/);
          expect(await issuedCount()).toBe(before);
        }
      }),
      { numRuns: 300 },
    );
  });
});
