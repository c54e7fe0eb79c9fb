// The CMS threads build each pkijs schema once and reuse it (pkijsSchemas.ts). Reading with reused
// schemas must answer exactly as reading with fresh ones: for good messages, for messages with
// bytes changed or cut short, and for a good message read right after a bad one (a match that
// failed half-way must leave nothing behind in the schema it used).
import fc from 'fast-check';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { DES_EDE3_CBC, MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { openEnvelope } from '../protocols/scep/envelope.js';
import { readPkiMessage } from '../protocols/scep/pkiMessage.js';
import { reusePkijsSchemas } from '../protocols/scep/pkijsSchemas.js';
import { buildRequest, rsaKey, selfSigned } from './helpers/scepClient.js';

const NOW = new Date();

/** Everything a reader answers for one input, as text: what it read, or the error it threw. */
function readOutcome(input: Buffer, ra: ReturnType<typeof selfSigned>): string {
  try {
    const read = readPkiMessage(input, NOW, 86_400_000);
    const m = read.message;
    let opened = 'no envelope';
    if (m?.envelope) {
      try {
        opened = openEnvelope(m.envelope, [{ cert: ra.cert, key: ra.key }]).content.toString('hex');
      } catch (e) {
        opened = `${(e as Error).name}: ${(e as Error).message}`;
      }
    }
    return JSON.stringify({
      replyTo: { ...read.replyTo, senderNonce: read.replyTo.senderNonce.toString('hex') },
      failure: read.failure ? [read.failure.failInfo, read.failure.message] : null,
      signer: m ? [m.signer.der.toString('hex'), m.signer.issuerDer.toString('hex'), m.signer.serialHex, m.signer.notAfter.toISOString()] : null,
      signingTime: m?.signingTime?.toISOString() ?? null,
      opened,
    });
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

describe('pkijs schemas built once and reused', () => {
  it('read every message, good, changed or cut short, exactly as fresh schemas do', async () => {
    const ra = selfSigned(rsaKey(), 'CN=schemas RA');
    const key = rsaKey();
    const requester = selfSigned(key, 'CN=schemas.host1.test');
    const csr = fromPem(buildCsr(key, 'CN=schemas.host1.test', {}, { challengePassword: 'pw' }), ['CERTIFICATE REQUEST']);
    const good = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: 'schemas-tx', cipher: DES_EDE3_CBC });
    const edits = fc.sample(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), { numRuns: 100, seed: 22 });
    const changed = edits.map((list) => {
      const m = Buffer.from(good);
      for (const [at, value] of list) m[at] = value;
      return m;
    });
    const cuts = fc.sample(fc.nat(good.length), { numRuns: 30, seed: 23 }).map((n) => good.subarray(0, n));
    // Each bad input followed by the good message.
    const inputs = [...changed, ...cuts].flatMap((bad) => [bad, good]);

    expect(pkijs.SignedData.schema()).not.toBe(pkijs.SignedData.schema());
    const fresh = inputs.map((input) => readOutcome(input, ra));
    expect(fresh[1]).toContain(csr.toString('hex'));
    expect(new Set(fresh).size).toBeGreaterThan(20);

    reusePkijsSchemas();
    expect(pkijs.SignedData.schema()).toBe(pkijs.SignedData.schema());
    const reused = inputs.map((input) => readOutcome(input, ra));
    expect(reused).toEqual(fresh);
  }, 120_000);
});
