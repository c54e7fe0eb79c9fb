// Revocation as relying parties see it, with openssl as the relying party: OCSP says good, then
// revoked after a REST revoke; CRLs carry the reason; verify -crl_check rejects what was revoked.
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { freePort } from './helpers/net.js';
import { makeCsr, openssl, tempDir, x509Text } from './helpers/openssl.js';
import { until } from './helpers/until.js';
import { readCrlWithPkijs } from './helpers/pkijs.js';

/**
 * openssl ocsp prints its verdicts on stdout and "Response verify OK" on stderr; it may exit 1.
 * Asynchronous: with -url it talks to the server running in this very process.
 */
function ocspQuery(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('openssl', ['ocsp', ...args], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

describe('revocation status: CRL and OCSP', () => {
  const dir = tempDir();
  let server: Gateway;
  let base: string;
  let admin: string;
  let issuingId: string;
  let rootFile: string;
  let issuingFile: string;
  let chainFile: string;

  const api = (method: string, path: string, body?: unknown) => restCall(base, admin, method, path, body);

  const issue = async (cn: string): Promise<{ id: string; file: string; pem: string }> => {
    const { csrPem } = makeCsr(dir, { subject: `/CN=${cn}` });
    const res = await api('POST', '/v1/certificates', { caId: issuingId, csrPem });
    expect(res.status).toBe(201);
    const file = join(dir, `${cn}.pem`);
    const cert = res.json.certificate as { id: string; certificate_pem: string };
    writeFileSync(file, cert.certificate_pem);
    return { id: cert.id, file, pem: cert.certificate_pem };
  };

  const fetchCrl = async (): Promise<string> => {
    const res = await fetch(`${base}/crl/${issuingId}.pem`);
    expect(res.status).toBe(200);
    const pem = await res.text();
    writeFileSync(join(dir, 'crl.pem'), pem);
    return pem;
  };

  const crlCheck = (leafFile: string): string => {
    const r = spawnSync('openssl', ['verify', '-crl_check', '-CAfile', rootFile, '-untrusted', issuingFile, '-CRLfile', join(dir, 'crl.pem'), leafFile], { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`;
  };

  beforeAll(async () => {
    // Certificates carry pointers built from the public URL, so it must be where we listen.
    const port = await freePort();
    server = await startGateway({ overrides: { dataDir: dir, httpPort: port, publicUrl: `http://127.0.0.1:${port}`, crlDebounceMs: 50 } });
    admin = server.adminToken;
    base = server.baseUrl;
    const cas = (await api('GET', '/v1/cas')).json.cas as { id: string; type: string }[];
    issuingId = cas.find((c) => c.type === 'intermediate')!.id;
    const rootId = cas.find((c) => c.type === 'root')!.id;
    rootFile = join(dir, 'root.pem');
    issuingFile = join(dir, 'issuing.pem');
    chainFile = join(dir, 'chain.pem');
    writeFileSync(rootFile, ((await api('GET', `/v1/cas/${rootId}`)).json.ca as { certificate_pem: string }).certificate_pem);
    writeFileSync(issuingFile, ((await api('GET', `/v1/cas/${issuingId}`)).json.ca as { certificate_pem: string }).certificate_pem);
    writeFileSync(chainFile, `${((await api('GET', `/v1/cas/${issuingId}`)).json.ca as { certificate_pem: string }).certificate_pem}${((await api('GET', `/v1/cas/${rootId}`)).json.ca as { certificate_pem: string }).certificate_pem}`);
  });

  afterAll(async () => server?.close());

  it('puts CRL, OCSP and caIssuers pointers in issued certificates, and serves the CA certificate there', async () => {
    const leaf = await issue('pointers.host1.test');
    const text = x509Text(leaf.pem);
    expect(text).toContain(`URI:${base}/crl/${issuingId}.crl`);
    expect(text).toContain(`OCSP - URI:${base}/ocsp`);
    expect(text).toContain(`CA Issuers - URI:${base}/ca/${issuingId}.crt`);
    const caRes = await fetch(`${base}/ca/${issuingId}.crt`);
    expect(caRes.headers.get('content-type')).toMatch(/application\/pkix-cert/);
    const der = Buffer.from(await caRes.arrayBuffer());
    expect(new X509Certificate(der).toString()).toBe(new X509Certificate(((await api('GET', `/v1/cas/${issuingId}`)).json.ca as { certificate_pem: string }).certificate_pem).toString());
    expect((await fetch(`${base}/ca/nope.crt`)).status).toBe(404);
  });

  it('OCSP says good, then revoked with the reason after a REST revoke; the CRL agrees', async () => {
    const leaf = await issue('ocsp.host1.test');
    const good = await ocspQuery(['-issuer', issuingFile, '-cert', leaf.file, '-url', `${base}/ocsp`, '-CAfile', chainFile]);
    expect(good).toContain('Response verify OK');
    expect(good).toMatch(/ocsp\.host1\.test\.pem: good/);

    await fetchCrl();
    expect(crlCheck(leaf.file)).toMatch(/: OK/);

    const revoked = await api('POST', `/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    const revokedAt = (revoked.json.certificate as Record<string, unknown>).revoked_at as string;
    expect(revoked.json).toMatchObject({ message: 'certificate revoked', certificate: { id: leaf.id, revocation_reason: 'keyCompromise' } });
    expect(revokedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.now() - Date.parse(revokedAt)).toBeLessThan(60_000);
    expect((await api('POST', `/v1/certificates/${leaf.id}/revoke`, {})).status).toBe(409);

    const after = await ocspQuery(['-issuer', issuingFile, '-cert', leaf.file, '-url', `${base}/ocsp`, '-CAfile', chainFile]);
    expect(after).toContain('Response verify OK');
    expect(after).toMatch(/ocsp\.host1\.test\.pem: revoked/);
    expect(after).toMatch(/Reason: keyCompromise/);

    // The CRL is rebuilt by a debounced job; wait for the one that lists the serial.
    const serial = new X509Certificate(leaf.pem).serialNumber;
    let crlText = '';
    await until(
      async () => {
        await fetchCrl();
        crlText = openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text'], undefined);
        return crlText.includes(serial);
      },
      20_000,
      'the served CRL lists the revoked serial',
    );
    expect(crlText).toMatch(/Key Compromise/);
    expect(crlCheck(leaf.file)).toMatch(/certificate revoked/);
  });

  it('a held certificate leaves the next CRL when reinstated, and CRL numbers only grow', async () => {
    const leaf = await issue('hold.host1.test');
    const serial = new X509Certificate(leaf.pem).serialNumber.toLowerCase();
    const numberOf = async (): Promise<{ n: bigint; serials: string[] }> => {
      const der = Buffer.from(await (await fetch(`${base}/crl/${issuingId}.crl`)).arrayBuffer());
      const crl = readCrlWithPkijs(der);
      return { n: crl.crlNumber as bigint, serials: crl.entries.map((e) => e.serialHex) };
    };
    const waitFor = async (want: (c: { n: bigint; serials: string[] }) => boolean) => {
      let latest = await numberOf();
      await until(
        async () => want((latest = await numberOf())),
        20_000,
        'the served CRL changed as expected',
      );
      return latest;
    };
    const before = await numberOf();
    expect((await api('POST', `/v1/certificates/${leaf.id}/revoke`, { reason: 'certificate_hold' })).status).toBe(200);
    const held = await waitFor((c) => c.serials.includes(serial));
    expect(held.n).toBeGreaterThan(before.n);
    expect((await api('POST', `/v1/certificates/${leaf.id}/reinstate`, {})).status).toBe(200);
    const lifted = await waitFor((c) => !c.serials.includes(serial));
    expect(lifted.n).toBeGreaterThan(held.n);
    expect((await api('POST', `/v1/certificates/${leaf.id}/reinstate`, {})).status).toBe(409);
    const good = await ocspQuery(['-issuer', issuingFile, '-cert', leaf.file, '-url', `${base}/ocsp`, '-CAfile', chainFile]);
    expect(good).toMatch(/hold\.host1\.test\.pem: good/);
  });

  it('answers several certificates in one request, echoes the nonce, and says unknown for serials it never issued', async () => {
    const a = await issue('multi-a.host1.test');
    const b = await issue('multi-b.host1.test');
    await api('POST', `/v1/certificates/${b.id}/revoke`, { reason: 'superseded' });
    const reqFile = join(dir, 'multi.req');
    openssl(['ocsp', '-issuer', issuingFile, '-cert', a.file, '-cert', b.file, '-serial', '0x0123456789abcdef', '-reqout', reqFile], undefined);
    const respFile = join(dir, 'multi.resp');
    const res = await fetch(`${base}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: readFileSync(reqFile) });
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    writeFileSync(respFile, Buffer.from(await res.arrayBuffer()));
    // Without -cert, openssl checks the nonce of the request it read against the response.
    const text = await ocspQuery(['-reqin', reqFile, '-respin', respFile, '-CAfile', chainFile, '-resp_text']);
    expect(text).toContain('Response verify OK');
    expect(text).toMatch(/Cert Status: good/);
    expect(text).toMatch(/Cert Status: revoked[\s\S]*Revocation Reason: superseded/);
    expect(text).toMatch(/Cert Status: unknown/);
    expect(text).toMatch(/OCSP Nonce/);
  });

  it('answers GET requests (base64 in the path)', async () => {
    const leaf = await issue('get.host1.test');
    const reqFile = join(dir, 'get.req');
    openssl(['ocsp', '-issuer', issuingFile, '-cert', leaf.file, '-no_nonce', '-reqout', reqFile], undefined);
    const b64 = readFileSync(reqFile).toString('base64');
    const res = await fetch(`${base}/ocsp/${encodeURIComponent(b64)}`);
    expect(res.status).toBe(200);
    const respFile = join(dir, 'get.resp');
    writeFileSync(respFile, Buffer.from(await res.arrayBuffer()));
    const text = await ocspQuery(['-respin', respFile, '-issuer', issuingFile, '-cert', leaf.file, '-CAfile', chainFile, '-no_nonce']);
    expect(text).toMatch(/get\.host1\.test\.pem: good/);

    // What an HTTP cache in front needs (RFC 5019): kept no longer than the responder keeps it.
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    expect(res.headers.get('cache-control')).toMatch(/public/);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(60); // CERTGATE_OCSP_CACHE_SECONDS
    const thisUpdate = Date.parse(res.headers.get('last-modified') ?? '');
    const nextUpdate = Date.parse(res.headers.get('expires') ?? '');
    expect(thisUpdate).toBeLessThanOrEqual(Date.now());
    expect(nextUpdate).toBeGreaterThan(Date.now());
    // The same instant the answer itself names (openssl prints it like "Nov  5 10:30:00 2026 GMT").
    expect(Date.parse(/This Update: (.+)/.exec(await ocspQuery(['-respin', respFile, '-resp_text', '-noverify']))?.[1] ?? '')).toBe(thisUpdate);
    const again = await fetch(`${base}/ocsp/${encodeURIComponent(b64)}`);
    expect(again.headers.get('etag')).toBe(res.headers.get('etag'));
    await again.arrayBuffer();
    // Errors are not to be kept.
    const bad = await fetch(`${base}/ocsp/AAAA`);
    expect(bad.headers.get('cache-control')).toBe('no-store');
    await bad.arrayBuffer();
  });

  it('says malformedRequest for garbage and unauthorized for an issuer it does not serve; never a 5xx', async () => {
    const post = async (body: Uint8Array) => {
      const res = await fetch(`${base}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body });
      return { status: res.status, der: Buffer.from(await res.arrayBuffer()) };
    };
    const garbage = await post(Buffer.from('hello'));
    expect(garbage.status).toBe(200);
    expect(garbage.der).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));

    // A request about a certificate from another CA (openssl makes one with its own CA here).
    const otherKey = join(dir, 'other.key');
    const otherCa = join(dir, 'other-ca.pem');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', otherKey, '-subj', '/CN=Other CA', '-days', '2', '-out', otherCa], undefined);
    const reqFile = join(dir, 'other.req');
    openssl(['ocsp', '-issuer', otherCa, '-serial', '0x01', '-reqout', reqFile], undefined);
    const foreign = await post(readFileSync(reqFile));
    expect(foreign.der).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]));

    const leaf = await issue('fuzz.host1.test');
    const validReq = join(dir, 'fuzz.req');
    openssl(['ocsp', '-issuer', issuingFile, '-cert', leaf.file, '-reqout', validReq], undefined);
    const valid = readFileSync(validReq);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([pos, v]) => {
            const b = Buffer.from(valid);
            b[pos] = v;
            return b;
          }),
          fc.nat(valid.length).map((cut) => valid.subarray(0, cut)),
        ),
        async (body) => {
          const res = await post(body);
          expect(res.status).toBe(200);
          expect(res.der[0]).toBe(0x30);
        },
      ),
      { numRuns: 300 },
    );
    // What is no OCSP request is answered as one (RFC 6960 section 2.3: malformedRequest); no CRL by that name, 404.
    for (const path of ['/ocsp/%zz', '/ocsp/!!!!', '/ocsp/AAAA']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe('application/ocsp-response');
      expect(Buffer.from(await res.arrayBuffer()), path).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));
    }
    for (const path of ['/crl/nope.crl', '/crl/x']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).toBe('no such CRL\n');
    }
    // GET: whatever follows /ocsp/ (a path fetch may also normalize away from /ocsp, hence the if).
    const validB64 = valid.toString('base64');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }).map(encodeURIComponent),
          fc.base64String({ maxLength: 400 }),
          fc.string({ maxLength: 100 }).map((t) => t.replace(/[^\x21-\x7e]/g, '')),
          fc.nat(validB64.length).map((cut) => encodeURIComponent(validB64.slice(0, cut))),
        ),
        async (tail) => {
          const res = await fetch(`${base}/ocsp/${tail}`);
          expect(res.status).toBeLessThan(500);
          if (res.headers.get('content-type') === 'application/ocsp-response') expect(Buffer.from(await res.arrayBuffer())[0]).toBe(0x30);
          else await res.arrayBuffer();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads chunked and query-string requests, answers oversized ones with malformedRequest, and leaves other methods to the API', async () => {
    const leaf = await issue('http.host1.test');
    const reqFile = join(dir, 'http.req');
    openssl(['ocsp', '-issuer', issuingFile, '-cert', leaf.file, '-no_nonce', '-reqout', reqFile], undefined);
    const req = readFileSync(reqFile);
    const statusOf = async (res: Response): Promise<string> => {
      const respFile = join(dir, 'http.resp');
      writeFileSync(respFile, Buffer.from(await res.arrayBuffer()));
      return ocspQuery(['-respin', respFile, '-issuer', issuingFile, '-cert', leaf.file, '-CAfile', chainFile, '-no_nonce']);
    };

    // A body sent in chunks, without Content-Length.
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(req.subarray(0, 10));
        c.enqueue(req.subarray(10));
        c.close();
      },
    });
    const res1 = await fetch(`${base}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: chunked, duplex: 'half' } as RequestInit);
    expect(await statusOf(res1)).toMatch(/http\.host1\.test\.pem: good/);
    const res2 = await fetch(`${base}/ocsp/?from=test`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: req });
    expect(await statusOf(res2)).toMatch(/http\.host1\.test\.pem: good/);

    const huge = await fetch(`${base}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: Buffer.alloc(1 << 20, 0x30) });
    expect(huge.status).toBe(200);
    expect(Buffer.from(await huge.arrayBuffer())).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));

    const put = await fetch(`${base}/ocsp`, { method: 'PUT', body: req });
    expect(put.status).toBe(404);
    expect(put.headers.get('content-type')).toMatch(/json/);
  });
});
