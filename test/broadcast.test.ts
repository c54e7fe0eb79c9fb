// Notices between the processes of one deployment, and what rides on them: a revocation made in
// one process is what another process's OCSP responder says next, not up to a minute later.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { until } from './helpers/until.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { CaRecord, CertificateRecord } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { createOcspResponder } from '../protocols/status/index.js';
import { createBroadcast, type Broadcast } from '../src/queue/broadcast.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { testConfig } from './helpers/gateway.js';
import { makeCsr, openssl } from './helpers/openssl.js';

const redisUrl = inject('redisUrl');


describe('broadcast', () => {
  const open: Broadcast[] = [];
  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()));
  });

  it('in-process: a subscriber hears what the process publishes', async () => {
    const b = createBroadcast();
    open.push(b);
    const heard: string[] = [];
    b.subscribe('revocations', (m) => heard.push(m));
    await b.publish('revocations', 'ca-1');
    await b.publish('other', 'ca-2');
    expect(heard).toEqual(['ca-1']);
  });

  it.skipIf(!redisUrl)('Redis: every process under the same prefix hears it, other prefixes do not', async () => {
    const prefix = `cgtest-${randomUUID()}`;
    const [a, b, stranger] = [createBroadcast({ redisUrl: redisUrl as string, prefix }), createBroadcast({ redisUrl: redisUrl as string, prefix }), createBroadcast({ redisUrl: redisUrl as string, prefix: `${prefix}-x` })];
    open.push(a, b, stranger);
    const heard = { a: [] as string[], b: [] as string[], stranger: [] as string[] };
    a.subscribe('revocations', (m) => heard.a.push(m));
    b.subscribe('revocations', (m) => heard.b.push(m));
    stranger.subscribe('revocations', (m) => heard.stranger.push(m));
    // Subscriptions are set up in the background: publish until the first one lands.
    await until(async () => {
      await a.publish('revocations', 'probe');
      return heard.b.length > 0;
    });
    await a.publish('revocations', 'ca-1');
    await until(() => heard.a.includes('ca-1') && heard.b.includes('ca-1'));
    expect(heard.stranger).toEqual([]);
  });

  it('an unreachable Redis is reported, never thrown, and close() does not hang', async () => {
    const errors: string[] = [];
    const b = createBroadcast({ redisUrl: 'redis://127.0.0.1:1', onError: (m) => errors.push(m) });
    b.subscribe('revocations', () => undefined);
    await b.publish('revocations', 'ca-1');
    await b.close();
    expect(errors).toContain('could not broadcast on revocations');
  });
});

describe.skipIf(!redisUrl)('OCSP across processes', () => {
  const runtimes: Runtime[] = [];
  afterAll(async () => {
    for (const rt of runtimes.reverse()) await rt.close();
  });

  it('a revocation made through one runtime changes the next answer of another at once', async () => {
    // Two processes of one deployment: one data dir, one Redis.
    const config = testConfig({ redisUrl: redisUrl as string });
    const dir = config.dataDir;
    const queuePrefix = `cgtest-${randomUUID()}`;
    const responder = await openRuntime(config, { queuePrefix });
    runtimes.push(responder);
    // The runtime's own status news: its revocations, and the notices other runtimes publish on Redis.
    const ocsp = createOcspResponder(responder.core);
    const issuing = (await initialize(responder)).issuing as CaRecord;
    await responder.startWorker();
    writeFileSync(join(dir, 'issuing.pem'), issuing.certificatePem);
    const requests: Buffer[] = [];
    const certs: CertificateRecord[] = [];
    for (let i = 0; i < 2; i++) {
      const { request } = await responder.enrollments.submit({ principal: 'test', protocol: 'cli', product: { caId: issuing.id } }, makeCsr(dir).csrPem);
      const done = await responder.enrollments.waitForOutcome(request, 30_000);
      const cert = (done.state === 'issued' ? done.certificate : undefined) as CertificateRecord;
      certs.push(cert);
      openssl(['ocsp', '-issuer', join(dir, 'issuing.pem'), '-serial', `0x${cert.serialNumber}`, '-no_nonce', '-reqout', join(dir, `req${i}.der`)]);
      requests.push(readFileSync(join(dir, `req${i}.der`)));
    }
    const status = async (): Promise<string> => {
      writeFileSync(join(dir, 'resp.der'), await ocsp.respond(requests[0] as Buffer));
      return /Cert Status: (\w+)/.exec(openssl(['ocsp', '-respin', join(dir, 'resp.der'), '-resp_text', '-noverify']))?.[1] ?? '';
    };
    expect(await status()).toBe('good'); // and now cached, for a minute by default
    const bystander = await ocsp.respond(requests[1] as Buffer);

    // As `certgate cert revoke` does: a fresh process that revokes right after it starts.
    const other = await openRuntime(config, { queuePrefix });
    runtimes.push(other);
    await other.revocations.revoke((certs[0] as CertificateRecord).id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
    await until(async () => (await status()) === 'revoked');
    // The notice named the certificate: the CA's other cached answers still stand (ECDSA
    // signatures are randomized, so identical bytes mean the cache answered).
    expect(await ocsp.respond(requests[1] as Buffer)).toEqual(bystander);
  });
});
