// dns-01 for an upstream ACME CA, end to end: Pebble resolves through a local BIND 9, certgate
// publishes its _acme-challenge TXT records there by RFC 2136 with TSIG (a CA made with the CLI's
// dns-01 options), or through a hook command that itself calls nsupdate. A REST csr request for a
// name and its wildcard is issued by Pebble, verifies against Pebble's chain, and the records are
// gone afterwards. RFC 2136 on SQLite with the in-process queue and on PostgreSQL with BullMQ and a
// separate worker; the hook once.
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamCa } from '../src/ca/upstream/create.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { upstreamCaOptions } from '../src/cli/upstreamCaOptions.js';
import { createProduct } from '../src/core/products.js';
import type { CaRecord, ProductRecord } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { bindMissingReason, BIND_ZONE, startBind, type RunningBind } from './harness/bind.js';
import { findBinary, missingBinaryReason } from './harness/binaries.js';
import { startPebble, type RunningPebble } from './harness/pebble.js';
import { GATEWAY_DEPLOYMENTS, startGateway, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { until } from './helpers/until.js';
import { makeCsr, openssl, tempDir, x509Text } from './helpers/openssl.js';

const run = promisify(execFile);
const skip =
  bindMissingReason() ??
  missingBinaryReason('dig', 'apt-get install -y bind9-dnsutils') ??
  missingBinaryReason('nsupdate', 'apt-get install -y bind9-dnsutils') ??
  missingBinaryReason('pebble', 'apt-get install pebble');
const SECRET_ENV = 'CERTGATE_TEST_TSIG_SECRET';

/** The hook and wrong-secret cases run once (`all`), on the embedded deployment. */
const DEPLOYMENTS = GATEWAY_DEPLOYMENTS.map((d, i) => ({ ...d, skip: Boolean(skip) || d.skip, all: i === 0 }));

describe.each(DEPLOYMENTS)('dns-01 for an upstream ACME CA through a local BIND 9 (Pebble upstream): $name', (d) => {
  const dir = tempDir('certgate-upstream-dns-');
  let bind: RunningBind;
  let gw: Gateway;
  let pebble: RunningPebble;
  let chainFile: string;
  let token: string;
  const rest = (method: string, path: string, body?: unknown) => restCall(gw.baseUrl, token, method, path, body);

  async function servedTxt(name: string): Promise<string[]> {
    const { stdout } = await run(findBinary('dig') as string, ['+short', '+norecurse', '-p', String(bind.port), '@127.0.0.1', 'TXT', name]);
    return stdout.split('\n').filter((l) => l !== '');
  }

  /** An upstream CA on Pebble whose dns-01 records go to BIND by RFC 2136, with the TSIG secret in `secretEnv`. */
  function rfc2136Ca(name: string, secretEnv: string): Promise<CaRecord> {
    return createUpstreamCa(
      gw.rt.store,
      upstreamCaOptions({
        name,
        upstreamAcme: pebble.directoryUrl,
        upstreamChainFile: chainFile,
        upstreamCaFile: pebble.caFile,
        challenge: 'dns-01',
        dnsServer: bind.address,
        dnsZone: BIND_ZONE,
        tsigKeyName: bind.key.name,
        tsigAlgorithm: 'hmac-sha256',
        tsigSecretEnv: secretEnv,
      }),
      gw.rt.secrets,
      CLI_CONTEXT,
    );
  }

  /** A product on `ca` that allows wildcards under the test zone, and a REST credential for it. */
  async function productOn(ca: CaRecord, name: string): Promise<ProductRecord> {
    const product = await createProduct(
      gw.rt.store,
      { name, caId: ca.id, template: parseProductTemplate({ allowedDnsSuffixes: [BIND_ZONE], allowWildcards: true, keyAlgorithms: ['ec-p256'] }) },
      CLI_CONTEXT,
      undefined,
      gw.config,
    );
    await gw.rt.catalogue.changed();
    return product;
  }

  /** Asks for `base` and `*.base` over REST; checks the certificate against Pebble's chain and its names. */
  async function issueWithWildcard(product: ProductRecord, base: string): Promise<void> {
    const names = [base, `*.${base}`];
    const { csrPem } = makeCsr(dir, { subject: `/CN=${base}`, san: names.map((n) => `DNS:${n}`) });
    const res = await rest('POST', '/v1/certificates', { productId: product.id, csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const cert = res.json.certificate as { certificate_pem: string; chain_pem: string; serial_number: string };
    const rootFile = join(dir, 'pebble-root.pem');
    const leafFile = join(dir, `${base}.pem`);
    const servedChain = join(dir, `${base}.chain.pem`);
    writeFileSync(rootFile, await pebble.root());
    writeFileSync(leafFile, cert.certificate_pem);
    writeFileSync(servedChain, cert.chain_pem);
    expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', servedChain, leafFile])).toMatch(/OK/);
    const text = x509Text(cert.certificate_pem);
    for (const n of names) expect(text).toContain(`DNS:${n}`);
    expect(text).toMatch(/Issuer: CN\s*=\s*Pebble Intermediate CA/);
    expect((await pebble.certStatus(cert.serial_number))?.Status).toBe('Valid');
    // Both challenges' records (one name, two values) are gone once the order is done.
    expect(await servedTxt(`_acme-challenge.${base}`)).toEqual([]);
  }

  beforeAll(async () => {
    if (d.skip) return;
    bind = (await startBind()) as RunningBind;
    process.env[SECRET_ENV] = bind.key.secret.toString('base64');
    gw = await startGateway({ backend: d.backend, queue: d.queue, worker: d.worker, dirPrefix: 'certgate-upstream-dns-gw-' });
    pebble = (await startPebble({ dnsServer: bind.address, httpPort: Number(new URL(gw.baseUrl).port) })) as RunningPebble;
    chainFile = join(dir, 'pebble-chain.pem');
    writeFileSync(chainFile, (await pebble.intermediate()) + (await pebble.root()));
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    await pebble?.stop();
    await bind?.stop();
    delete process.env[SECRET_ENV];
    rmSync(dir, { recursive: true, force: true });
    if (gw) rmSync(gw.config.dataDir, { recursive: true, force: true });
  });

  it.skipIf(d.skip)('RFC 2136 with TSIG: a name and its wildcard are issued, the records removed', async () => {
    const ca = await rfc2136Ca('pebble-rfc2136', SECRET_ENV);
    // The secret is named, never stored.
    expect(JSON.stringify(ca.backendConfig)).not.toContain(bind.key.secret.toString('base64'));
    const product = await productOn(ca, 'dns-rfc2136');
    token = (await gw.rt.credentials.create({ type: 'rest', name: 'team-rfc2136', products: [product.id], permissions: [{ ca: ca.id, actions: ['read', 'issue'] }], admin: false, ownerGroup: 'team' }, CLI_CONTEXT)).secret;
    await issueWithWildcard(product, `web.${BIND_ZONE}`);
  }, 120_000);

  it.skipIf(d.skip || !d.all)('a TSIG secret the server does not take: the request fails, saying why, and nothing is issued', async () => {
    const WRONG_ENV = 'CERTGATE_TEST_TSIG_WRONG';
    process.env[WRONG_ENV] = Buffer.alloc(32, 7).toString('base64');
    try {
      const ca = await rfc2136Ca('pebble-wrong-tsig', WRONG_ENV);
      const product = await productOn(ca, 'dns-wrong-tsig');
      token = (await gw.rt.credentials.create({ type: 'rest', name: 'team-wrong-tsig', products: [product.id], permissions: [{ ca: ca.id, actions: ['read', 'issue'] }], admin: false, ownerGroup: 'team' }, CLI_CONTEXT)).secret;
      const name = `wrong.${BIND_ZONE}`;
      const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
      const res = await rest('POST', '/v1/certificates', { productId: product.id, csrPem });
      expect(res.status).not.toBe(201);
      const requestId = res.json.request_id as string;
      let waited: Record<string, unknown> = {};
      await until(async () => {
        waited = (await rest('GET', `/v1/requests/${requestId}`)).json;
        return waited.status === 'failed';
      }, 60_000, 'the request failed');
      // The DNS server's answer in words, not "internal error"; the secret is nowhere in it.
      expect(String(waited.status_reason)).toMatch(/dns-01 record could not be published.*BADSIG/);
      expect(String(waited.status_reason)).not.toContain(process.env[WRONG_ENV]);
      expect(await servedTxt(`_acme-challenge.${name}`)).toEqual([]);
    } finally {
      delete process.env[WRONG_ENV];
    }
  }, 120_000);

  it.skipIf(d.skip || !d.all)('a hook command (here calling nsupdate with a key file): a name and its wildcard are issued, the records removed', async () => {
    const keyFile = join(dir, 'tsig.key');
    writeFileSync(keyFile, `key "${bind.key.name}" { algorithm ${bind.key.algorithm}; secret "${bind.key.secret.toString('base64')}"; };\n`, { mode: 0o600 });
    const calls = join(dir, 'hook-calls.log');
    const hook = join(dir, 'dns-hook.sh');
    writeFileSync(
      hook,
      [
        '#!/bin/sh',
        'set -e',
        `echo "$1 $2 $3" >> '${calls}'`,
        `if [ "$1" = add ]; then op="update add $2. 60 TXT \\"$3\\""; else op="update delete $2. TXT \\"$3\\""; fi`,
        `printf 'server 127.0.0.1 ${bind.port}\\nzone ${BIND_ZONE}.\\n%s\\nsend\\n' "$op" | nsupdate -k '${keyFile}'`,
        '',
      ].join('\n'),
    );
    chmodSync(hook, 0o755);
    const ca = await createUpstreamCa(
      gw.rt.store,
      upstreamCaOptions({
        name: 'pebble-hook',
        upstreamAcme: pebble.directoryUrl,
        upstreamChainFile: chainFile,
        upstreamCaFile: pebble.caFile,
        challenge: 'dns-01',
        dnsHook: hook,
        tsigAlgorithm: 'hmac-sha256',
      }),
      gw.rt.secrets,
      CLI_CONTEXT,
    );
    const product = await productOn(ca, 'dns-hook');
    token = (await gw.rt.credentials.create({ type: 'rest', name: 'team-hook', products: [product.id], permissions: [{ ca: ca.id, actions: ['read', 'issue'] }], admin: false, ownerGroup: 'team' }, CLI_CONTEXT)).secret;
    const base = `hook.${BIND_ZONE}`;
    await issueWithWildcard(product, base);
    // Called once to add and once to remove each challenge's value, both at the base name.
    const lines = readFileSync(calls, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' ')).sort()).toEqual([`add _acme-challenge.${base}`, `add _acme-challenge.${base}`, `remove _acme-challenge.${base}`, `remove _acme-challenge.${base}`]);
    const values = (action: string) => lines.filter((l) => l.startsWith(`${action} `)).map((l) => l.split(' ')[2]).sort();
    expect(new Set(values('add')).size).toBe(2);
    expect(values('remove')).toEqual(values('add'));
  }, 120_000);
});
