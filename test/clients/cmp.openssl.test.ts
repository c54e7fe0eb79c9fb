// OpenSSL 3.0's `openssl cmp` against certgate's CMP server (RFC 9483 over RFC 9811 HTTP), on
// both deployments: ir with a cmp credential's MAC (with and without implicitConfirm), cr and kur
// signed with a certificate, p10cr, rr (then OCSP says revoked), genm, a product that waits for
// an approver (openssl polls), and refusals with their failure info: a wrong secret, a replayed
// request, another product's certificate. Every certificate verifies against certgate's chain and
// carries the names asked for; the audit trail has each transaction's end.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import { createProduct } from '../../src/core/products.js';
import type { ProductRecord } from '../../src/core/types.js';
import { parseProductTemplate } from '../../src/policy/productSchema.js';
import { makeCsr, openssl, opensslVerify } from '../helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from '../helpers/restEnv.js';
import { until } from '../helpers/until.js';

interface Run {
  code: number;
  out: string;
}

/**
 * openssl asynchronously: the server answers from this very process. The secret goes by
 * environment, never argv. Its output is line-buffered (stdbuf), so that what it said so far can
 * be read while it runs.
 */
function start(args: string[], secret?: string): { output(): string; done: Promise<Run> } {
  let out = '';
  const done = new Promise<Run>((resolve) => {
    const child = execFile('stdbuf', ['-oL', '-eL', 'openssl', ...args], { encoding: 'utf8', env: { ...process.env, ...(secret ? { CMP_SECRET: secret } : {}) }, timeout: 60_000 }, (err) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out });
    });
    child.stdout?.on('data', (chunk: string) => (out += chunk));
    child.stderr?.on('data', (chunk: string) => (out += chunk));
  });
  return { output: () => out, done };
}

const run = (args: string[], secret?: string): Promise<Run> => start(args, secret).done;

describe.each(REST_DEPLOYMENTS)('openssl cmp against certgate: $name', (d) => {
  let env: RestEnv;
  let server: string;
  const products: Record<string, ProductRecord> = {};
  let secret: string;
  let dir: string;
  let rootFile: string;
  let chainFile: string;

  const file = (name: string): string => join(dir, name);
  const cmp = (path: string, args: string[], withSecret = true): Promise<Run> =>
    run(['cmp', '-server', server, '-path', path, '-msg_timeout', '30', '-total_timeout', '60', ...args], withSecret ? secret : undefined);
  const mac = ['-ref', 'device1', '-secret', 'env:CMP_SECRET'];
  const signedBy = (cert: string, key: string): string[] => ['-cert', cert, '-key', key, '-trusted', rootFile, '-untrusted', chainFile];

  function expectIssued(certPath: string, names: string[]): X509Certificate {
    const pem = readFileSync(certPath, 'utf8');
    expect(opensslVerify(dir, env.rootPem, env.issuingPem, pem)).toMatch(/OK/);
    const x = new X509Certificate(pem);
    expect(x.subjectAltName?.split(', ').sort()).toEqual(names.map((n) => `DNS:${n}`).sort());
    return x;
  }

  async function trailEnds(): Promise<{ target: string; detail: Record<string, unknown> }[]> {
    const { entries } = await env.server.rt.store.audit.list({ action: 'cmp.transaction' }, { limit: 500, offset: 0 });
    return entries.map((e) => ({ target: e.target, detail: (e.detail ?? {}) as Record<string, unknown> }));
  }

  beforeAll(async () => {
    env = await startRestEnv(d);
    dir = env.dir;
    server = env.base.replace(/^http:\/\//, '');
    rootFile = file('root.pem');
    chainFile = file('issuing.pem');
    writeFileSync(rootFile, env.rootPem);
    writeFileSync(chainFile, env.issuingPem);
    const rt = env.server.rt;
    const make = async (name: string, template: Record<string, unknown>) => {
      products[name] = await createProduct(rt.store, { name, caId: env.issuingId, template: parseProductTemplate(template) }, CLI_CONTEXT);
    };
    // Signature logins for new names need the issuing CA among the product's trusted CAs.
    await make('cmp-main', { protocols: { cmp: { trustedCas: ['certgate-issuing'], implicitConfirm: true } } });
    await make('cmp-other', { protocols: { cmp: { trustedCas: ['certgate-issuing'] } } });
    await make('cmp-approval', { requiresApproval: true, protocols: { cmp: { checkAfterSeconds: 1 } } });
    const ids = Object.values(products).map((p) => p.id);
    ({ secret } = await rt.credentials.create({ type: 'cmp', name: 'device1', products: ids }, CLI_CONTEXT));
  }, 120_000);

  afterAll(async () => {
    await env?.close();
  });

  const newKey = (name: string): string => {
    const path = file(`${name}.key`);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
    return path;
  };

  let macCert = '';
  let macKey = '';

  it.skipIf(d.skip)('ir with a MAC credential and certConf: the certificate verifies, caPubs is the root, the trail says confirmed', async () => {
    macKey = newKey('ir1');
    macCert = file('ir1.pem');
    const r = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'ir', ...mac, '-newkey', macKey, '-subject', '/CN=dev1.test', '-sans', 'dev1.test', '-recipient', '/CN=certgate', '-certout', macCert, '-cacertsout', file('capubs.pem')]);
    expect(r.code, r.out).toBe(0);
    const x = expectIssued(macCert, ['dev1.test']);
    expect(new X509Certificate(readFileSync(file('capubs.pem'))).raw.equals(new X509Certificate(env.rootPem).raw)).toBe(true);
    await until(async () => (await trailEnds()).some((e) => e.detail.end === 'confirmed' && e.detail.serial === x.serialNumber.toLowerCase()), 10_000, 'the confirmation is in the trail');
  });

  it.skipIf(d.skip)('ir with -implicit_confirm: granted, no certConf, the trail says implicitly confirmed', async () => {
    const out = file('ir2.pem');
    const r = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'ir', ...mac, '-newkey', newKey('ir2'), '-subject', '/CN=dev2.test', '-sans', 'dev2.test', '-recipient', '/CN=certgate', '-implicit_confirm', '-certout', out]);
    expect(r.code, r.out).toBe(0);
    const x = expectIssued(out, ['dev2.test']);
    const ends = await trailEnds();
    expect(ends.find((e) => e.detail.serial === x.serialNumber.toLowerCase())?.detail.end).toBe('implicitlyConfirmed');
  });

  it.skipIf(d.skip)('cr and kur signed with a certificate: same names, signed answers that openssl verifies against the root', async () => {
    const crCert = file('cr.pem');
    const crKey = newKey('cr');
    const cr = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'cr', ...signedBy(macCert, macKey), '-newkey', crKey, '-subject', '/CN=dev1.test', '-sans', 'dev1.test', '-certout', crCert]);
    expect(cr.code, cr.out).toBe(0);
    expectIssued(crCert, ['dev1.test']);
    // Other names than the signer certificate's are refused.
    const wider = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'cr', ...signedBy(macCert, macKey), '-newkey', newKey('cr-wide'), '-subject', '/CN=other.test', '-sans', 'other.test', '-certout', file('cr-wide.pem')]);
    expect(wider.code).not.toBe(0);
    expect(wider.out).toMatch(/notAuthorized/);

    const kupCert = file('kup.pem');
    const kur = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'kur', ...signedBy(crCert, crKey), '-newkey', newKey('kur'), '-certout', kupCert]);
    expect(kur.code, kur.out).toBe(0);
    expectIssued(kupCert, ['dev1.test']);
  });

  it.skipIf(d.skip)('p10cr with a CSR under the MAC credential', async () => {
    const { csrPem } = makeCsr(dir, { subject: '/CN=p10.test', san: ['DNS:p10.test'], name: 'p10' });
    writeFileSync(file('p10.csr'), csrPem);
    const out = file('p10.pem');
    const r = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'p10cr', ...mac, '-csr', file('p10.csr'), '-recipient', '/CN=certgate', '-certout', out]);
    expect(r.code, r.out).toBe(0);
    expectIssued(out, ['p10.test']);
  });

  it.skipIf(d.skip)('rr signed by the certificate revokes it with its reason; OCSP then says revoked', async () => {
    const key = newKey('rr');
    const cert = file('rr.pem');
    expect((await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'ir', ...mac, '-newkey', key, '-subject', '/CN=rr.test', '-sans', 'rr.test', '-recipient', '/CN=certgate', '-certout', cert])).code).toBe(0);
    const r = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'rr', ...signedBy(cert, key), '-oldcert', cert, '-revreason', '1']);
    expect(r.code, r.out).toBe(0);
    const status = await run(['ocsp', '-issuer', chainFile, '-cert', cert, '-url', `${env.base}/ocsp`, '-CAfile', rootFile, '-verify_other', chainFile, '-resp_text']);
    expect(status.out).toMatch(/: revoked/);
    expect(status.out).toMatch(/Reason: keyCompromise/);
    const serial = new X509Certificate(readFileSync(cert)).serialNumber.toLowerCase();
    expect((await trailEnds()).some((e) => e.detail.end === 'revoked' && e.detail.serial === serial)).toBe(true);
  });

  it.skipIf(d.skip)('genm: an empty genm is answered with the CA certificates', async () => {
    const r = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'genm', ...mac, '-recipient', '/CN=certgate']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/genp contains ITAV of type: id-it-caCerts/);
  });

  it.skipIf(d.skip)('a product that needs approval: openssl polls until a second REST credential approves', async () => {
    const approver = await env.restKey('cmp-approver', [{ ca: env.issuingId, actions: ['approve', 'read'] }], [products['cmp-approval']!.id]);
    const out = file('approved.pem');
    const running = start(
      ['cmp', '-server', server, '-path', '.well-known/cmp/p/cmp-approval', '-msg_timeout', '30', '-total_timeout', '60', '-cmd', 'ir', ...mac, '-newkey', newKey('approved'), '-subject', '/CN=approved.test', '-sans', 'approved.test', '-recipient', '/CN=certgate', '-certout', out],
      secret,
    );
    // Approved only once openssl has been told to wait and to come back (pollRep), so that the poll is seen.
    await until(() => running.output().includes('received POLLREP'), 30_000, 'openssl receives a pollRep');
    const held = (await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).filter((q) => q.productId === products['cmp-approval']!.id);
    expect(held).toHaveLength(1);
    const requestId = held[0]!.id;
    expect(running.output()).toContain(`request ${requestId} waits for an operator's approval`);
    const approved = await env.api('POST', `/v1/requests/${requestId}/approve`, approver.token, {});
    expect(approved.status, approved.text).toBe(200);
    const r = await running.done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/received 'waiting' PKIStatus/);
    expect(r.out).toMatch(/received POLLREP/);
    expectIssued(out, ['approved.test']);
  });

  it.skipIf(d.skip)('a wrong secret is refused with badMessageCheck', async () => {
    const r = await run(['cmp', '-server', server, '-path', '.well-known/cmp/p/cmp-main', '-cmd', 'ir', '-ref', 'device1', '-secret', 'env:CMP_SECRET', '-unprotected_errors', '-newkey', newKey('wrong'), '-subject', '/CN=wrong.test', '-recipient', '/CN=certgate', '-certout', file('wrong.pem')], `${secret}x`);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/badMessageCheck/);
  });

  it.skipIf(d.skip)('a replayed request is refused with badSenderNonce', async () => {
    const saved = file('saved-ir.der');
    const first = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'ir', ...mac, '-newkey', newKey('replay'), '-subject', '/CN=replay.test', '-sans', 'replay.test', '-recipient', '/CN=certgate', '-implicit_confirm', '-reqout', saved, '-certout', file('replay.pem')]);
    expect(first.code, first.out).toBe(0);
    const again = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'ir', ...mac, '-unprotected_errors', '-reqin', saved, '-newkey', file('replay.key'), '-subject', '/CN=replay.test', '-recipient', '/CN=certgate', '-certout', file('replay2.pem')]);
    expect(again.code).not.toBe(0);
    expect(again.out).toMatch(/badSenderNonce/);
  });

  it.skipIf(d.skip)("another product's certificate is refused with notAuthorized", async () => {
    const key = newKey('other');
    const cert = file('other.pem');
    expect((await cmp('.well-known/cmp/p/cmp-other', ['-cmd', 'ir', ...mac, '-newkey', key, '-subject', '/CN=other.test', '-sans', 'other.test', '-recipient', '/CN=certgate', '-certout', cert])).code).toBe(0);
    const r = await cmp('.well-known/cmp/p/cmp-main', ['-cmd', 'cr', ...signedBy(cert, key), '-unprotected_errors', '-newkey', newKey('other2'), '-subject', '/CN=other.test', '-sans', 'other.test', '-certout', file('other2.pem')]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/notAuthorized/);
  });
});
