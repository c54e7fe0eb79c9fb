// Bad input against SCEP: fuzzed, truncated, re-signed and wrongly encrypted pkiMessages. The codec
// throws only its own errors; the server answers a CertRep (FAILURE, signed by the RA) or 400,
// never a 5xx, and keeps answering.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { AES_128_CBC, MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { buildEnvelope, openEnvelope } from '../protocols/scep/envelope.js';
import { MalformedMessage, ScepFailure } from '../protocols/scep/messageErrors.js';
import { readPkiMessage } from '../protocols/scep/pkiMessage.js';
import { buildPkiMessage } from '../protocols/scep/signedData.js';
import { fuzzAround } from './helpers/fuzz.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';
import { buildRequest, getCaCert, pkiOperation, readCertRep, rsaKey, selfSigned, type RaInfo, type Requester } from './helpers/scepClient.js';

const key = rsaKey();
const requester: Requester = selfSigned(key, 'CN=fuzz.host1.test');
const csr = (challenge: string) => fromPem(buildCsr(key, 'CN=fuzz.host1.test', {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);

describe('SCEP codec on fuzzed input', () => {
  // A stand-in RA: the codec does not care whose key it is.
  const ra = selfSigned(rsaKey(), 'CN=fuzz RA');
  let message: Buffer;
  let envelope: Buffer;

  beforeAll(async () => {
    envelope = buildEnvelope(csr('x'), ra, AES_128_CBC);
    message = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr('x'), transactionId: 'fuzz-tx' });
  });

  it('reads pkiMessages: MalformedMessage, or an answer (a message or a failure to send back), nothing else', () => {
    fuzzAround(
      message,
      (input) => {
        try {
          const read = readPkiMessage(input, new Date(), 86_400_000);
          expect(read.message !== undefined || read.failure instanceof ScepFailure).toBe(true);
        } catch (e) {
          if (!(e instanceof MalformedMessage)) throw e;
        }
      },
      { random: 1000, edits: 1500, cuts: 300 },
    );
  });

  it('opens envelopes: the content, or a ScepFailure, nothing else', () => {
    fuzzAround(
      envelope,
      (input) => {
        try {
          openEnvelope(input, [{ cert: ra.cert, key: ra.key }]);
        } catch (e) {
          if (!(e instanceof ScepFailure)) throw e;
        }
      },
      { random: 500, edits: 1000, cuts: 200 },
    );
  });
});

describe('SCEP server on bad input', () => {
  let env: ScepEnv;
  let url: string;
  let ra: RaInfo;
  let challenge: string;

  beforeAll(async () => {
    env = await startScepEnv();
    url = `${env.base}/scep`;
    ra = await getCaCert(url);
    const product = await env.server.rt.store.products.getByName('default');
    challenge = (await env.staticChallenge([product?.id as string])).challenge;
  });
  afterAll(async () => {
    await env?.stop();
  });

  /** A 200 is a CertRep the RA signed; anything else is a 400. */
  function expectAnswered(res: { status: number; body: Buffer }): void {
    expect([200, 400]).toContain(res.status);
    if (res.status === 200) expect(readCertRep(res.body).signer.der.equals(ra.der)).toBe(true);
  }

  it('answers fuzzed, truncated and random pkiMessages over POST with a CertRep or 400', async () => {
    const good = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr(challenge), transactionId: 'fuzz-http' });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
          fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
            const m = Buffer.from(good);
            for (const [at, v] of edits) m[at] = v;
            return m;
          }),
          fc.nat(good.length).map((cut) => good.subarray(0, cut)),
        ),
        async (body) => expectAnswered(await pkiOperation(url, body)),
      ),
      { numRuns: 300 },
    );
  });

  it('answers signed messages around a fuzzed envelope or a fuzzed CSR with FAILURE', async () => {
    const goodCsr = csr(challenge);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // Anything as the envelope, signed properly.
          fc.uint8Array({ maxLength: 1500 }).map((b) => ({ envelope: Buffer.from(b) })),
          // A properly encrypted envelope around a CSR with a few bytes changed.
          fc.array(fc.tuple(fc.nat(goodCsr.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
            const m = Buffer.from(goodCsr);
            for (const [at, v] of edits) m[at] = v;
            return { content: m };
          }),
        ),
        fc.constantFrom(MESSAGE_TYPE.PKCSReq, MESSAGE_TYPE.RenewalReq, MESSAGE_TYPE.CertPoll, MESSAGE_TYPE.GetCert, MESSAGE_TYPE.GetCRL, 3, 99),
        async (input, messageType) => {
          const transactionId = `fuzz-${randomBytes(8).toString('hex')}`;
          const der =
            'envelope' in input
              ? await buildPkiMessage({ signer: requester, digest: 'sha256', messageType, transactionId, envelope: input.envelope })
              : await buildRequest({ requester, ra, messageType, content: input.content, transactionId });
          const res = await pkiOperation(url, der);
          expect(res.status).toBe(200);
          const rep = readCertRep(res.body);
          expect(rep.transactionId).toBe(transactionId);
          // A changed byte of the CSR can land where nothing reads it (its outer length in a way BER
          // allows, say), so an enrollment may succeed; an envelope of noise, or a message of
          // another type around a CSR, is FAILURE.
          const enrolls = 'content' in input && (messageType === MESSAGE_TYPE.PKCSReq || messageType === MESSAGE_TYPE.RenewalReq);
          expect(enrolls ? ['FAILURE', 'SUCCESS'] : ['FAILURE']).toContain(rep.status);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answers fuzzed query strings (GET) with 200, 400 or 404, as the operation says', async () => {
    // GetCACaps and GetCACert read no message; no CA rollover is staged; noise is no pkiMessage;
    // a query string that is not valid percent-encoding is a 400 whatever the operation.
    const answer: Record<string, number> = { GetCACaps: 200, GetCACert: 200, GetNextCACert: 404, PKIOperation: 400, '': 400 };
    const decodes = (s: string) => {
      try {
        decodeURIComponent(s);
        return true;
      } catch {
        return false;
      }
    };
    /** Every parameter name decodes, and the value of each name's first occurrence (the one read). */
    const percentEncoded = (query: string): boolean => {
      const seen = new Set<string>();
      for (const part of query.split('&').filter((p) => p !== '')) {
        const eq = part.indexOf('=');
        const name = eq < 0 ? part : part.slice(0, eq);
        if (!decodes(name)) return false;
        if (seen.has(decodeURIComponent(name))) continue;
        seen.add(decodeURIComponent(name));
        if (eq >= 0 && !decodes(part.slice(eq + 1))) return false;
      }
      return true;
    };
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), fc.constantFrom('GetCACaps', 'GetCACert', 'PKIOperation', 'GetNextCACert', ''), async (message, operation) => {
        const query = `operation=${operation}&message=${message.replace(/[#\s]/g, '')}`;
        const res = await fetch(`${url}?${query}`);
        expect(res.status, query).toBe(percentEncoded(query) ? answer[operation] : 400);
      }),
      { numRuns: 300 },
    );
    // Still serving.
    expect((await fetch(`${url}?operation=GetCACaps`)).status).toBe(200);
  });
});
