// The OCSP responder's answer cache. ECDSA signatures are randomized, so two byte-identical
// answers mean the second came from the cache, and different bytes mean it was signed again.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspResponder, type OcspPolicy } from '../protocols/status/ocspResponder.js';
import { OcspSigners } from '../protocols/status/ocspSigners.js';
import type { StatusReads } from '../protocols/status/reads.js';
import type { CaRecord, CertificateRecord } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { createLogger } from '../src/log.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';
import { statusReadsOf } from './helpers/status.js';
import { until } from './helpers/until.js';
import { testConfig } from './helpers/gateway.js';

const dir = tempDir('certgate-ocsp-responder-');
let rt: Runtime;
let issuing: CaRecord;
const certs: CertificateRecord[] = [];

beforeAll(async () => {
  rt = await openRuntime(testConfig({ dataDir: dir }));
  issuing = (await initialize(rt)).issuing as CaRecord;
  await rt.startWorker();
  for (let i = 0; i < 3; i++) {
    const { request } = await rt.enrollments.submit({ principal: 'test', protocol: 'cli', product: { caId: issuing.id } }, makeCsr(dir).csrPem);
    const done = await rt.enrollments.waitForOutcome(request, 30_000);
    certs.push((done.state === 'issued' ? done.certificate : undefined) as CertificateRecord);
  }
  writeFileSync(join(dir, 'issuing.pem'), issuing.certificatePem);
});
afterAll(async () => {
  await rt.close();
});

/** openssl's request for certificate i, with or without a nonce, its CertID hashed with `digest`. */
function requestFor(i: number, nonce = false, digest = 'sha1'): Buffer {
  const out = join(dir, `req-${i}-${nonce}-${digest}.der`);
  openssl(['ocsp', '-issuer', join(dir, 'issuing.pem'), `-${digest}`, '-serial', `0x${serialOf(i)}`, nonce ? '-nonce' : '-no_nonce', '-reqout', out]);
  return readFileSync(out);
}

function writeAnswer(name: string, der: Buffer): string {
  writeFileSync(join(dir, name), der);
  return join(dir, name);
}

const serialOf = (i: number): string => (certs[i] as CertificateRecord).serialNumber;

/** The first value `next` gives. */
async function eventually<T>(next: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  let value: T | undefined;
  await until(async () => (value = await next()) !== undefined, timeoutMs, 'a value came');
  return value as T;
}

function responder(policy: Partial<OcspPolicy> = {}, reads: StatusReads = statusReadsOf(rt.store)): OcspResponder {
  const signers = new OcspSigners(rt.store.ocspSigners, rt.signer, reads, rt.sealing, 7 * 86_400_000);
  return new OcspResponder(reads, signers, { validityMs: 4 * 3_600_000, cacheMaxAgeMs: 60_000, cacheEntries: 1000, ...policy }, createLogger('silent'));
}

describe('OCSP answer cache', () => {
  it('answers a repeated plain request from the cache, and signs every nonce request afresh', async () => {
    const r = responder();
    const plain = requestFor(0);
    const first = await r.respond(plain);
    expect(await r.respond(Buffer.from(plain))).toEqual(first);
    const withNonce = requestFor(0, true);
    expect(await r.respond(withNonce)).not.toEqual(await r.respond(withNonce));
  });

  it('signs again after invalidate() for that CA, and after the cache age bound', async () => {
    const r = responder();
    const plain = requestFor(1);
    const first = await r.respond(plain);
    r.invalidate('some-other-ca');
    expect(await r.respond(plain)).toEqual(first);
    r.invalidate(issuing.id);
    const second = await r.respond(plain);
    expect(second).not.toEqual(first);
    expect(await r.respond(plain)).toEqual(second);

    const uncached = responder({ cacheMaxAgeMs: 0 });
    expect(await uncached.respond(plain)).not.toEqual(await uncached.respond(plain));
  });

  it("invalidate() for one certificate signs its answers again and keeps the CA's others", async () => {
    const r = responder();
    const [a, aSha256, b] = [requestFor(0), requestFor(0, false, 'sha256'), requestFor(1)];
    const [answerA, answerASha256, answerB] = [await r.respond(a), await r.respond(aSha256), await r.respond(b)];
    r.invalidate(issuing.id, serialOf(1).replace(/.$/, (c) => (c === '0' ? '1' : '0'))); // another serial
    expect(await r.respond(a)).toEqual(answerA);
    r.invalidate(issuing.id, serialOf(0));
    expect(await r.respond(a)).not.toEqual(answerA);
    expect(await r.respond(aSha256)).not.toEqual(answerASha256);
    expect(await r.respond(b)).toEqual(answerB);
  });

  it('signs a hot answer again in the background in the last quarter of its cache time, answering from the cache meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const start = Date.now();
      const r = responder({ cacheMaxAgeMs: 60_000 });
      const plain = requestFor(2);
      const first = await r.respond(plain);
      vi.setSystemTime(start + 40_000);
      expect(await r.respond(plain)).toEqual(first);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await r.respond(plain)).toEqual(first); // not yet due: nothing was signed
      vi.setSystemTime(start + 50_000);
      expect(await r.respond(plain)).toEqual(first); // due: still answered from the cache
      const next = await eventually(async () => {
        const answer = await r.respond(plain);
        return answer.equals(first) ? undefined : answer;
      });
      vi.setSystemTime(start + 70_000); // past the first answer's time, within its successor's
      expect(await r.respond(plain)).toEqual(next);
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    ['its CA', false],
    ['its certificate', true],
  ])('does not cache an answer whose status was read before an invalidate() of %s', async (_, one) => {
    let gate: (() => void) | null = null;
    // Reads whose status lookup waits until the test lets it go.
    const reads = statusReadsOf(rt.store);
    const slow: StatusReads = {
      ...reads,
      certificateBySerial: async (caId, serialHex) => {
        const cert = await reads.certificateBySerial(caId, serialHex);
        await new Promise<void>((resolve) => (gate = resolve));
        return cert;
      },
    };
    const r = responder({}, slow);
    const plain = requestFor(2);
    const pending = r.respond(plain);
    await until(() => gate !== null, 5_000, 'the status read is held');
    r.invalidate(issuing.id, one ? serialOf(2) : undefined); // a revocation lands while the old status is in hand
    (gate as unknown as () => void)();
    const stale = await pending;
    gate = null;
    const next = r.respond(plain);
    await until(() => gate !== null, 5_000, 'the status read is held');
    (gate as unknown as () => void)();
    expect(await next).not.toEqual(stale);
  });

  it('keeps no unknown answer: the serial may be a CA created elsewhere since the CA records were read', async () => {
    const r = responder();
    const out = join(dir, 'req-unknown.der');
    openssl(['ocsp', '-issuer', join(dir, 'issuing.pem'), '-serial', '0x0123456789abcdef', '-no_nonce', '-reqout', out]);
    const plain = readFileSync(out);
    const first = await r.respond(plain);
    expect(openssl(['ocsp', '-respin', writeAnswer('resp-unknown.der', first), '-resp_text', '-noverify'])).toMatch(/Cert Status: unknown/);
    expect(await r.respond(plain)).not.toEqual(first);
  });

  it('keeps at most cacheEntries answers, evicting the oldest', async () => {
    const r = responder({ cacheEntries: 2 });
    const [a, b, c] = [requestFor(0), requestFor(1), requestFor(2)];
    const answerA = await r.respond(a);
    const answerB = await r.respond(b);
    await r.respond(c);
    expect(await r.respond(b)).toEqual(answerB);
    expect(await r.respond(a)).not.toEqual(answerA);
  });
});
