// The lifecycle beyond Certman over REST, on both deployments, with openssl as the judge: rekey and
// replace, suspend and reinstate (OCSP and CRL), revoke by serial, the approval queue, downloads.
import { execFile, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { makeCsr, openssl, opensslVerify, x509Text } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

interface Cert {
  id: string;
  certificate_pem: string;
  serial_number: string;
  product_id: string;
  key_algorithm: string;
  revocation_reason: string | null;
  supersedes: string | null;
  owner: string | null;
  notes: string | null;
}

/** openssl ocsp prints verdicts on stdout and "Response verify OK" on stderr; asynchronous, as the responder runs in this process. */
function ocspQuery(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('openssl', ['ocsp', ...args], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

const sansOf = (pem: string): string[] => (new X509Certificate(pem).subjectAltName ?? '').split(', ').sort();
const spkiHash = (key: string | X509Certificate): string =>
  createHash('sha256')
    .update((typeof key === 'string' ? createPublicKey(key) : key.publicKey).export({ type: 'spki', format: 'der' }))
    .digest('hex');

for (const d of REST_DEPLOYMENTS) {
  describe.skipIf(d.skip)(`REST lifecycle, ${d.name}`, () => {
    let env: RestEnv;
    let dir: string;
    let files: { root: string; issuing: string; chain: string };
    let escrowProductId: string;

    const api = (method: string, path: string, body?: unknown, token?: string, headers?: Record<string, string>) => env.api(method, path, token ?? env.adminToken, body, headers);

    const issueCsr = async (csrPem: string, extra: Record<string, unknown> = {}): Promise<Cert> => {
      const res = await api('POST', '/v1/certificates', { mode: 'csr', caId: env.issuingId, csrPem, ...extra });
      expect(res.status, res.text).toBe(201);
      return res.json.certificate as Cert;
    };

    const issueManaged = async (body: Record<string, unknown>): Promise<{ certificate: Cert; privateKey: string }> => {
      const res = await api('POST', '/v1/certificates', { mode: 'managed', ...body });
      expect(res.status, res.text).toBe(201);
      return res.json as unknown as { certificate: Cert; privateKey: string };
    };

    const certificate = async (id: string): Promise<Cert> => (await api('GET', `/v1/certificates/${id}`)).json as unknown as Cert;

    const write = (name: string, content: string | Buffer): string => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };

    const crlText = async (caId = env.issuingId): Promise<string> => {
      const res = await fetch(`${env.base}/crl/${caId}.pem`);
      expect(res.status).toBe(200);
      return openssl(['crl', '-noout', '-text'], await res.text());
    };

    /** The serial as `openssl crl -text` prints it: upper-case hex, a leading 00 when the top bit is set. */
    const crlSerial = (pem: string): string => new X509Certificate(pem).serialNumber.toUpperCase();

    const ocsp = (leafFile: string) => ocspQuery(['-issuer', files.issuing, '-cert', leafFile, '-url', `${env.base}/ocsp`, '-CAfile', files.chain]);

    const product = async (name: string, template: Record<string, unknown>) =>
      (await createProduct(env.server.rt.store, { name: `${name}-${Math.random().toString(36).slice(2)}`, caId: env.issuingId, template: parseProductTemplate(template) }, CLI_CONTEXT)).id;

    beforeAll(async () => {
      env = await startRestEnv(d, { crlDebounceMs: 50 });
      dir = env.dir;
      files = { root: write('root.pem', env.rootPem), issuing: write('issuing.pem', env.issuingPem), chain: write('chain.pem', `${env.issuingPem}${env.rootPem}`) };
      escrowProductId = await product('escrow', { escrowKeys: true });
    });

    afterAll(async () => env?.close());

    it('rekeys a managed certificate: a new key pair, the same subject and names; revokeOriginal puts the original on the CRL as superseded', async () => {
      const original = await issueManaged({ productId: escrowProductId, commonName: 'rekey.host1.test', sanDns: ['www.rekey.host1.test'] });

      const rekeyed = await api('POST', `/v1/certificates/${original.certificate.id}/rekey`, {});
      expect(rekeyed.status, rekeyed.text).toBe(201);
      const fresh = rekeyed.json.certificate as Cert;
      expect(opensslVerify(dir, env.rootPem, env.issuingPem, fresh.certificate_pem)).toMatch(/: OK/);
      expect(sansOf(fresh.certificate_pem)).toEqual(['DNS:rekey.host1.test', 'DNS:www.rekey.host1.test']);
      expect(new X509Certificate(fresh.certificate_pem).subject).toBe(new X509Certificate(original.certificate.certificate_pem).subject);
      expect(spkiHash(new X509Certificate(fresh.certificate_pem))).not.toBe(spkiHash(new X509Certificate(original.certificate.certificate_pem)));
      // The key handed back is the new certificate's.
      expect(spkiHash(rekeyed.json.privateKey as string)).toBe(spkiHash(new X509Certificate(fresh.certificate_pem)));
      expect(fresh).toMatchObject({ product_id: escrowProductId, supersedes: original.certificate.id, key_algorithm: 'ECDSA-P256' });
      expect(rekeyed.json.original).toBeUndefined();
      expect((await certificate(original.certificate.id)).revocation_reason).toBeNull();

      // Another algorithm, and this time the original goes.
      const rsa = await api('POST', `/v1/certificates/${original.certificate.id}/rekey`, { keyAlgorithm: 'RSA-2048', revokeOriginal: true });
      expect(rsa.status, rsa.text).toBe(201);
      expect((rsa.json.certificate as Cert).key_algorithm).toBe('RSA-2048');
      expect(x509Text((rsa.json.certificate as Cert).certificate_pem)).toMatch(/Public-Key: \(2048 bit\)/);
      expect(rsa.json.original).toMatchObject({ id: original.certificate.id, revocation_reason: 'superseded' });
      expect((await certificate(original.certificate.id)).revocation_reason).toBe('superseded');
      const serial = crlSerial(original.certificate.certificate_pem);
      let text = '';
      await until(async () => (text = await crlText()).includes(serial), 20_000, 'the CRL lists the superseded original');
      expect(text.slice(text.indexOf(serial), text.indexOf(serial) + 300)).toMatch(/Superseded/);

      // An algorithm the product does not issue is refused before a key is made.
      const narrow = await product('p256-only', { keyAlgorithms: ['ec-p256'] });
      const p256 = await issueManaged({ productId: narrow, commonName: 'narrow.host1.test' });
      expect((await api('POST', `/v1/certificates/${p256.certificate.id}/rekey`, { keyAlgorithm: 'RSA-2048' })).status).toBe(422);
      expect((await api('POST', `/v1/certificates/${p256.certificate.id}/rekey`, { keyAlgorithm: 'RSA-2048', csrPem: makeCsr(dir).csrPem })).status).toBe(400);
    });

    it('rekeys a certificate issued from a CSR only with a CSR for a new key and the same names', async () => {
      const { csrPem, keyPath } = makeCsr(dir, { subject: '/CN=csr-rekey.host1.test', san: ['DNS:csr-rekey.host1.test', 'DNS:alt.csr-rekey.host1.test'] });
      const original = await issueCsr(csrPem);
      const path = `/v1/certificates/${original.id}/rekey`;

      const noCsr = await api('POST', path, {});
      expect(noCsr.status).toBe(422);
      expect(noCsr.json.error).toMatch(/csrPem is required/);

      const sameKey = openssl(['req', '-new', '-key', keyPath, '-subj', '/CN=csr-rekey.host1.test', '-addext', 'subjectAltName=DNS:csr-rekey.host1.test,DNS:alt.csr-rekey.host1.test']);
      const reused = await api('POST', path, { csrPem: sameKey });
      expect(reused.status).toBe(422);
      expect(reused.json.error).toMatch(/current key/);

      const otherNames = await api('POST', path, { csrPem: makeCsr(dir, { subject: '/CN=csr-rekey.host1.test', san: ['DNS:csr-rekey.host1.test', 'DNS:evil.host1.test'] }).csrPem });
      expect(otherNames.status).toBe(422);
      expect(otherNames.json.rule).toBe('exactNames');
      const fewer = await api('POST', path, { csrPem: makeCsr(dir, { subject: '/CN=csr-rekey.host1.test', san: ['DNS:csr-rekey.host1.test'] }).csrPem });
      expect(fewer.status).toBe(422);
      expect(fewer.json.rule).toBe('exactNames');

      const fresh = makeCsr(dir, { key: 'rsa-2048', subject: '/CN=csr-rekey.host1.test', san: ['DNS:alt.csr-rekey.host1.test', 'DNS:csr-rekey.host1.test'] });
      const rekeyed = await api('POST', path, { csrPem: fresh.csrPem, revokeOriginal: true });
      expect(rekeyed.status, rekeyed.text).toBe(201);
      const cert = rekeyed.json.certificate as Cert;
      expect(opensslVerify(dir, env.rootPem, env.issuingPem, cert.certificate_pem)).toMatch(/: OK/);
      expect(sansOf(cert.certificate_pem)).toEqual(sansOf(original.certificate_pem));
      expect(spkiHash(new X509Certificate(cert.certificate_pem))).toBe(spkiHash(openssl(['pkey', '-in', fresh.keyPath, '-pubout'])));
      expect(rekeyed.json.privateKey).toBeUndefined();
      expect(rekeyed.json.original).toMatchObject({ id: original.id, revocation_reason: 'superseded' });
    });

    it('replaces a certificate from a new CSR under the same product and names, keeping owner, notes and custom fields', async () => {
      const san = ['DNS:replace.host1.test', 'IP:192.0.2.7'];
      const fielded = await product('fielded', { allowIpSans: true, customFields: [{ name: 'costCenter', type: 'string', required: true }, { name: 'tier', type: 'number' }] });
      const customFields = { costCenter: 'cc-42', tier: 2 };
      const original = await issueCsr(makeCsr(dir, { subject: '/CN=replace.host1.test', san }).csrPem, { productId: fielded, owner: 'team-web', notes: 'behind the LB', customFields });
      const path = `/v1/certificates/${original.id}/replace`;

      expect((await api('POST', path, {})).status).toBe(400);
      const wider = await api('POST', path, { csrPem: makeCsr(dir, { subject: '/CN=replace.host1.test', san: [...san, 'DNS:more.host1.test'] }).csrPem });
      expect(wider.status).toBe(422);
      expect(wider.json.rule).toBe('exactNames');

      const replaced = await api('POST', path, { csrPem: makeCsr(dir, { subject: '/CN=replace.host1.test', san }).csrPem });
      expect(replaced.status, replaced.text).toBe(201);
      expect(replaced.json.message).toBe('certificate replaced');
      const cert = replaced.json.certificate as Cert;
      expect(opensslVerify(dir, env.rootPem, env.issuingPem, cert.certificate_pem)).toMatch(/: OK/);
      expect(sansOf(cert.certificate_pem)).toEqual(sansOf(original.certificate_pem));
      expect(cert).toMatchObject({ product_id: fielded, owner: 'team-web', notes: 'behind the LB', custom_fields: customFields, supersedes: original.id });
      expect((await certificate(original.id)).revocation_reason).toBeNull();

      // With revokeOriginal, a key that may issue but not revoke is refused before anything is issued.
      const issuer = await env.restKey('issuer-only', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
      const before = (await api('GET', `/v1/certificates?search=replace.host1.test`)).json.total;
      expect((await api('POST', path, { csrPem: makeCsr(dir, { subject: '/CN=replace.host1.test', san }).csrPem, revokeOriginal: true }, issuer.token)).status).toBe(403);
      expect((await api('GET', `/v1/certificates?search=replace.host1.test`)).json.total).toBe(before);

      const body = { csrPem: makeCsr(dir, { subject: '/CN=replace.host1.test', san }).csrPem, revokeOriginal: true };
      const key = { 'Idempotency-Key': `replace-${Math.random()}` };
      const again = await api('POST', path, body, undefined, key);
      expect(again.status, again.text).toBe(201);
      expect(again.json.original).toMatchObject({ id: original.id, revocation_reason: 'superseded' });
      expect((await certificate(original.id)).revocation_reason).toBe('superseded');
      // A replay answers the same certificate; the original, already gone, is no error.
      const replay = await api('POST', path, body, undefined, key);
      expect(replay.status).toBe(201);
      expect((replay.json.certificate as Cert).id).toBe((again.json.certificate as Cert).id);
      expect(replay.json.original).toEqual(again.json.original);
      // A replacement of an imported or unknown certificate is refused.
      expect((await api('POST', '/v1/certificates/00000000-0000-0000-0000-000000000000/replace', { csrPem: makeCsr(dir).csrPem })).status).toBe(404);
    });

    it('suspends: OCSP says revoked for certificateHold and the CRL lists "Certificate Hold"; reinstating clears both', async () => {
      const cert = await issueCsr(makeCsr(dir, { subject: '/CN=hold.host1.test', san: ['DNS:hold.host1.test'] }).csrPem);
      const leafFile = write('hold.pem', cert.certificate_pem);
      const serial = crlSerial(cert.certificate_pem);
      expect(await ocsp(leafFile)).toMatch(/hold\.pem: good/);

      const held = await api('POST', `/v1/certificates/${cert.id}/suspend`, {});
      expect(held.status, held.text).toBe(200);
      expect(held.json.certificate).toMatchObject({ id: cert.id, revocation_reason: 'certificateHold' });
      expect((await api('POST', `/v1/certificates/${cert.id}/suspend`, {})).status).toBe(409);

      const onHold = await ocsp(leafFile);
      expect(onHold).toContain('Response verify OK');
      expect(onHold).toMatch(/hold\.pem: revoked/);
      expect(onHold).toMatch(/Reason: certificateHold/);
      let text = '';
      await until(async () => (text = await crlText()).includes(serial), 20_000, 'the CRL lists the held certificate');
      expect(text.slice(text.indexOf(serial), text.indexOf(serial) + 300)).toMatch(/Certificate Hold/);

      const lifted = await api('POST', `/v1/certificates/${cert.id}/reinstate`, {});
      expect(lifted.status, lifted.text).toBe(200);
      expect(lifted.json.certificate).toMatchObject({ revocation_reason: null, revoked_at: null });
      expect(await ocsp(leafFile)).toMatch(/hold\.pem: good/);
      await until(async () => !(await crlText()).includes(serial), 20_000, 'the CRL no longer lists the reinstated certificate');
      expect((await api('POST', `/v1/certificates/${cert.id}/reinstate`, {})).status).toBe(409);

      const reader = await env.restKey('hold-reader', [{ ca: env.issuingId, actions: ['read'] }]);
      expect((await api('POST', `/v1/certificates/${cert.id}/suspend`, {}, reader.token)).status).toBe(403);
    });

    it('revokes by serial number in any spelling; a serial two CAs issued needs caId', async () => {
      const cert = await issueCsr(makeCsr(dir, { subject: '/CN=serial.host1.test' }).csrPem);
      const hex = new X509Certificate(cert.certificate_pem).serialNumber;
      const colons = hex.toUpperCase().match(/../g)!.join(':');

      expect((await api('POST', '/v1/certificates/serial/not-hex/revoke', {})).status).toBe(400);
      expect((await api('POST', '/v1/certificates/serial/0badc0ffee/revoke', {})).status).toBe(404);
      const reader = await env.restKey('serial-reader', [{ ca: '*', actions: ['read'] }]);
      expect((await api('POST', `/v1/certificates/serial/${colons}/revoke`, {}, reader.token)).status).toBe(403);

      const revoked = await api('POST', `/v1/certificates/serial/${colons}/revoke`, { reason: 'key_compromise' });
      expect(revoked.status, revoked.text).toBe(200);
      expect(revoked.json.certificate).toMatchObject({ id: cert.id, serial_number: cert.serial_number, revocation_reason: 'keyCompromise' });
      expect((await api('POST', `/v1/certificates/serial/${hex.toLowerCase()}/revoke`, {})).status).toBe(409);

      // 128-bit random serials do not clash by chance: plant one, a certificate of another CA given this serial.
      const rt = env.server.rt;
      const other = await createCa(rt.store, { name: `other-${Date.now()}`, subject: 'CN=Other Issuing CA', keyAlgorithm: 'ec-p256', validityDays: 30, parentId: env.rootId }, rt.secrets, CLI_CONTEXT);
      await createProduct(rt.store, { name: `other-${Date.now()}`, caId: other.id, template: parseProductTemplate({}) }, CLI_CONTEXT);
      const twin = await api('POST', '/v1/certificates', { mode: 'csr', caId: other.id, csrPem: makeCsr(dir, { subject: '/CN=twin.host1.test' }).csrPem });
      expect(twin.status, twin.text).toBe(201);
      const twinId = (twin.json.certificate as Cert).id;
      await rt.store.write(rt.store.db.updateTable('certificates').set({ serial_number: cert.serial_number }).where('id', '=', twinId));

      const clash = await api('POST', `/v1/certificates/serial/${colons}/revoke`, {});
      expect(clash.status).toBe(409);
      expect(clash.json.error).toMatch(/caId/);
      // A key that may revoke on one of the two CAs only sees no clash.
      const narrow = await env.restKey('serial-revoker', [{ ca: other.id, actions: ['revoke'] }]);
      const one = await api('POST', `/v1/certificates/serial/${colons}/revoke`, { reason: 'superseded' }, narrow.token);
      expect(one.status, one.text).toBe(200);
      expect(one.json.certificate).toMatchObject({ id: twinId, revocation_reason: 'superseded' });
      expect((await api('POST', `/v1/certificates/serial/${colons}/revoke`, { caId: env.issuingId }, narrow.token)).status).toBe(403);
      const byCa = await api('POST', `/v1/certificates/serial/${colons}/revoke`, { caId: other.id });
      expect(byCa.status).toBe(409); // found on the CA named, and already revoked
    });

    it('approval: a key with approve on the CA approves and declines, others get 403; the comment is on the request and in the audit trail', async () => {
      const held = await product('held', { requiresApproval: true });
      const submit = async (cn: string): Promise<string> => {
        const res = await api('POST', '/v1/certificates', { mode: 'csr', productId: held, csrPem: makeCsr(dir, { subject: `/CN=${cn}` }).csrPem });
        expect(res.status, res.text).toBe(202);
        return res.json.request_id as string;
      };
      const [toApprove, toDecline, viaAlias] = [await submit('approve.host1.test'), await submit('decline.host1.test'), await submit('alias.host1.test')];
      const approver = await env.restKey('approver', [{ ca: env.issuingId, actions: ['read', 'approve'] }]);
      const reader = await env.restKey('approval-reader', [{ ca: env.issuingId, actions: ['read', 'issue', 'revoke'] }]);
      const elsewhere = await env.restKey('approver-elsewhere', [{ ca: env.rootId, actions: ['approve'] }]);

      for (const token of [reader.token, elsewhere.token]) {
        expect((await api('POST', `/v1/requests/${toApprove}/approve`, {}, token)).status).toBe(403);
        expect((await api('POST', `/v1/requests/${toDecline}/decline`, { comment: 'no' }, token)).status).toBe(403);
        expect((await api('POST', `/v1/requests/${toDecline}/reject`, { reason: 'no' }, token)).status).toBe(403);
      }
      expect((await api('GET', `/v1/requests/${toApprove}`, undefined, reader.token)).json.status).toBe('pending_approval');
      // An approver sees what it approves: the names the CSR asks for.
      expect((await api('GET', `/v1/requests/${toApprove}`, undefined, reader.token)).json.names).toEqual(['approve.host1.test']);

      const approved = await api('POST', `/v1/requests/${toApprove}/approve`, {}, approver.token);
      expect(approved.status, approved.text).toBe(200);
      await until(async () => (await api('GET', `/v1/requests/${toApprove}`)).json.status === 'issued', 20_000, 'the approved request is issued');
      const certId = (await api('GET', `/v1/requests/${toApprove}`)).json.certificate_id as string;
      expect(opensslVerify(dir, env.rootPem, env.issuingPem, (await certificate(certId)).certificate_pem)).toMatch(/: OK/);
      expect((await api('POST', `/v1/requests/${toApprove}/approve`, {}, approver.token)).status).toBe(409);
      // The original of a replacement that waits for approval cannot be revoked when it is issued.
      const replace = (revokeOriginal: boolean) => api('POST', `/v1/certificates/${certId}/replace`, { csrPem: makeCsr(dir, { subject: '/CN=approve.host1.test' }).csrPem, revokeOriginal });
      const refused = await replace(true);
      expect(refused.status).toBe(422);
      expect(refused.json.error).toMatch(/approval/);
      expect((await replace(false)).status).toBe(202);

      expect((await api('POST', `/v1/requests/${toDecline}/decline`, {}, approver.token)).status).toBe(400);
      expect((await api('POST', `/v1/requests/${toDecline}/decline`, { comment: 'x'.repeat(501) }, approver.token)).status).toBe(400);
      const comment = 'not in the asset inventory; open a ticket with team-web';
      const declined = await api('POST', `/v1/requests/${toDecline}/decline`, { comment }, approver.token);
      expect(declined.status, declined.text).toBe(200);
      expect(declined.json).toMatchObject({ status: 'rejected', status_reason: comment });
      expect((await api('GET', `/v1/requests/${toDecline}`, undefined, reader.token)).json).toMatchObject({ status: 'rejected', status_reason: comment });
      const audit = await api('GET', `/v1/audit?action=request.decline&target=${toDecline}`);
      // The refused declines of other keys are in the trail under the same action, as refused.
      const declines = (audit.json.entries as { outcome: string }[]).filter((e) => e.outcome === 'success');
      expect(declines).toEqual([expect.objectContaining({ actor: approver.credential.id, detail: expect.objectContaining({ reason: comment }) })]);
      // The key that may approve elsewhere was refused on this request twice (decline, and reject,
      // its older name); the reader, which may approve nowhere, was refused before the request was
      // looked up, so not under this target.
      const refusedDeclines = (audit.json.entries as { outcome: string; actor: string }[]).filter((e) => e.outcome === 'refused');
      expect(refusedDeclines.map((e) => e.actor)).toEqual([elsewhere.credential.id, elsewhere.credential.id]);
      expect((await api('POST', `/v1/requests/${toDecline}/decline`, { comment }, approver.token)).status).toBe(409);

      const alias = await api('POST', `/v1/requests/${viaAlias}/reject`, { comment: 'duplicate' }, approver.token);
      expect(alias.json).toMatchObject({ status: 'rejected', status_reason: 'duplicate' });
    });

    it('lists requests by status and product, paged, only of the CAs a key may read', async () => {
      const held = await product('queue', { requiresApproval: true });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await api('POST', '/v1/certificates', { mode: 'csr', productId: held, csrPem: makeCsr(dir, { subject: `/CN=queue${i}.host1.test` }).csrPem });
        expect(res.status).toBe(202);
        ids.unshift(res.json.request_id as string);
      }
      const declined = ids[1] as string;
      expect((await api('POST', `/v1/requests/${declined}/decline`, { comment: 'no' })).status).toBe(200);
      const pending = ids.filter((id) => id !== declined);

      const list = async (query: string, token?: string) => api('GET', `/v1/requests?${query}`, undefined, token);
      const all = await list(`productId=${held}`);
      expect(all.json).toMatchObject({ total: 5, page: 1, pageSize: 20, totalPages: 1 });
      expect((all.json.requests as { id: string }[]).map((r) => r.id)).toEqual(ids);

      const pages: string[] = [];
      for (let page = 1; page <= 2; page++) {
        const res = await list(`productId=${held}&status=pending_approval&pageSize=3&page=${page}`);
        expect(res.json).toMatchObject({ total: 4, page, pageSize: 3, totalPages: 2 });
        pages.push(...(res.json.requests as { id: string; status: string }[]).map((r) => r.id));
      }
      expect(pages).toEqual(pending);
      expect((await list(`productId=${held}&status=pending_approval&pageSize=3&page=3`)).json).toMatchObject({ requests: [], total: 4 });
      expect((await list(`productId=${held}&status=rejected`)).json).toMatchObject({ total: 1, requests: [expect.objectContaining({ id: declined, status_reason: 'no' })] });
      expect((await list('status=pending_approval&pageSize=100')).json.total).toBeGreaterThanOrEqual(4);

      for (const bad of ['pageSize=101', 'pageSize=0', 'page=0', 'status=pending', 'sort=asc']) expect((await list(bad)).status, bad).toBe(400);

      // A key reading another CA sees none of them, nor may it ask for this CA's.
      const outsider = await env.restKey('queue-outsider', [{ ca: env.rootId, actions: ['read', 'issue'] }]);
      expect((await list(`productId=${held}`, outsider.token)).json).toMatchObject({ total: 0, requests: [] });
      expect((await list(`caId=${env.issuingId}`, outsider.token)).status).toBe(403);
      const reader = await env.restKey('queue-reader', [{ ca: env.issuingId, actions: ['read'] }]);
      expect((await list(`productId=${held}&caId=${env.issuingId}`, reader.token)).json.total).toBe(5);
    });

    it('downloads pem, der, chain and pkcs7 that openssl reads', async () => {
      const cert = await issueCsr(makeCsr(dir, { subject: '/CN=download.host1.test', san: ['DNS:download.host1.test'] }).csrPem);
      const path = `/v1/certificates/${cert.id}/download`;
      const x509 = new X509Certificate(cert.certificate_pem);

      const pem = await api('GET', `${path}?format=pem`);
      expect(pem.status).toBe(200);
      expect(pem.headers.get('content-disposition')).toBe('attachment; filename="download.host1.test.pem"');
      expect(new X509Certificate(pem.text).fingerprint256).toBe(x509.fingerprint256);
      expect((await api('GET', path)).text).toBe(pem.text);

      const der = await api('GET', `${path}?format=der`);
      expect(der.headers.get('content-type')).toMatch(/^application\/pkix-cert/);
      expect(openssl(['x509', '-inform', 'DER', '-in', write('download.cer', der.body), '-noout', '-fingerprint', '-sha256'])).toContain(x509.fingerprint256);

      const chain = await api('GET', `${path}?format=chain`);
      expect(chain.headers.get('content-type')).toMatch(/^application\/pem-certificate-chain/);
      const blocks = chain.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      expect(blocks.map((b) => new X509Certificate(b).fingerprint256)).toEqual([x509, new X509Certificate(env.issuingPem), new X509Certificate(env.rootPem)].map((c) => c.fingerprint256));
      const verified = spawnSync('openssl', ['verify', '-CAfile', files.root, '-untrusted', write('download-chain.pem', chain.text), write('download.pem', pem.text)], { encoding: 'utf8' });
      expect(verified.stdout).toMatch(/: OK/);

      const p7 = await api('GET', `${path}?format=pkcs7`);
      expect(p7.status).toBe(200);
      expect(p7.headers.get('content-type')).toMatch(/^application\/pkcs7-mime/);
      const printed = openssl(['pkcs7', '-inform', 'DER', '-in', write('download.p7b', p7.body), '-print_certs', '-noout']);
      expect(printed.match(/subject=/g)).toHaveLength(3);
      expect(printed).toMatch(/subject=CN ?= ?download\.host1\.test/);

      expect((await api('GET', `${path}?format=pkcs12`)).status).toBe(400);
      expect((await api('GET', `${path}?format=pkcs12&password=hunter22`)).status).toBe(400);
      expect((await api('GET', `${path}?format=zip`)).status).toBe(400);
      expect((await api('GET', '/v1/certificates/00000000-0000-0000-0000-000000000000/download')).status).toBe(404);
      const reader = await env.restKey('download-reader', [{ ca: env.issuingId, actions: ['read'] }]);
      expect((await api('GET', `${path}?format=der`, undefined, reader.token)).status).toBe(200);
      const stranger = await env.restKey('download-stranger', [{ ca: env.rootId, actions: ['read', 'issue'] }]);
      expect((await api('GET', path, undefined, stranger.token)).status).toBe(403);
    });

    it('downloads an escrowed key as PKCS#12 (AES-256-CBC) whose key is the certificate\'s, in the audit trail; nothing else has one', async () => {
      const password = 'correct horse battery staple';
      for (const keyAlgorithm of ['ECDSA-P256', 'RSA-2048']) {
        const { certificate: cert } = await issueManaged({ productId: escrowProductId, commonName: `p12-${keyAlgorithm.toLowerCase()}.host1.test`, keyAlgorithm });
        const res = await api('POST', `/v1/certificates/${cert.id}/download`, { format: 'pkcs12', password });
        expect(res.status, res.text).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/x-pkcs12/);
        expect(res.headers.get('cache-control')).toBe('no-store');
        const file = write(`${cert.id}.p12`, res.body);

        // openssl prints the bags' algorithms on stderr.
        const opened = spawnSync('openssl', ['pkcs12', '-info', '-in', file, '-passin', `pass:${password}`, '-nodes'], { encoding: 'utf8' });
        expect(opened.status, opened.stderr).toBe(0);
        const info = `${opened.stdout}${opened.stderr}`;
        expect(info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
        expect(info.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
        const keyPem = openssl(['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nocerts', '-nodes']);
        expect(spkiHash(openssl(['pkey', '-pubout'], keyPem))).toBe(spkiHash(new X509Certificate(cert.certificate_pem)));
        const certs = openssl(['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nokeys', '-clcerts']);
        expect(new X509Certificate(certs).fingerprint256).toBe(new X509Certificate(cert.certificate_pem).fingerprint256);
        const wrong = spawnSync('openssl', ['pkcs12', '-info', '-in', file, '-passin', 'pass:wrong password', '-nodes'], { encoding: 'utf8' });
        expect(wrong.status).not.toBe(0);

        const audit = await api('GET', `/v1/audit?action=certificate.key_export&target=${cert.id}`);
        expect(audit.json.entries).toEqual([expect.objectContaining({ actor: expect.any(String), outcome: 'success', detail: expect.objectContaining({ format: 'pkcs12', serial: cert.serial_number }) })]);
        expect(JSON.stringify(audit.json)).not.toContain(password);
      }

      const managed = await issueManaged({ productId: escrowProductId, commonName: 'p12-perm.host1.test' });
      const reader = await env.restKey('p12-reader', [{ ca: env.issuingId, actions: ['read'] }]);
      expect((await api('POST', `/v1/certificates/${managed.certificate.id}/download`, { format: 'pkcs12', password }, reader.token)).status).toBe(403);
      expect((await api('POST', `/v1/certificates/${managed.certificate.id}/download`, { format: 'pkcs12', password: 'abc' })).status).toBe(400);
      expect((await api('POST', `/v1/certificates/${managed.certificate.id}/download`, { format: 'pem', password })).status).toBe(400);
      expect((await api('POST', `/v1/certificates/${managed.certificate.id}/download`, { format: 'pkcs12' })).status).toBe(400);

      // Not escrowed: a managed key under a product that does not keep keys, and a CSR's key.
      const unkept = await issueManaged({ productId: env.productId, commonName: 'p12-unkept.host1.test' });
      const fromCsr = await issueCsr(makeCsr(dir, { subject: '/CN=p12-csr.host1.test' }).csrPem);
      for (const id of [unkept.certificate.id, fromCsr.id]) {
        const res = await api('POST', `/v1/certificates/${id}/download`, { format: 'pkcs12', password });
        expect(res.status).toBe(422);
        expect(res.json.error).toMatch(/no escrowed private key/);
        expect((await api('GET', `/v1/audit?action=certificate.key_export&target=${id}`)).json.total).toBe(0);
      }
    });

    it('answers bad input on these routes with a 4xx {error}, never a 5xx', async () => {
      const managed = await issueManaged({ productId: escrowProductId, commonName: 'fuzz.host1.test' });
      const id = managed.certificate.id;
      const anything = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string(), { maxKeys: 3 }));
      const body = fc.oneof(
        fc.dictionary(fc.constantFrom('csrPem', 'keyAlgorithm', 'revokeOriginal', 'validityDays', 'caId', 'reason', 'comment', 'format', 'password', 'invalidityDate', 'other'), anything, { maxKeys: 4 }),
        fc.string(),
      );
      const route = fc.constantFrom(
        `/v1/certificates/${id}/rekey`,
        `/v1/certificates/${id}/replace`,
        `/v1/certificates/${id}/suspend`,
        `/v1/certificates/${id}/download`,
        `/v1/requests/${id}/decline`,
        '/v1/certificates/serial/00ff/revoke',
      );
      await fc.assert(
        fc.asyncProperty(route, body, fc.string({ maxLength: 40 }), async (path, b, segment) => {
          for (const [method, url, payload] of [
            ['POST', path, b],
            ['POST', `/v1/certificates/serial/${encodeURIComponent(segment)}/revoke`, b],
            ['GET', `/v1/certificates/${id}/download?format=${encodeURIComponent(segment)}`, undefined],
            ['GET', `/v1/requests?status=${encodeURIComponent(segment)}&page=${encodeURIComponent(segment)}`, undefined],
          ] as const) {
            const res = await api(method, url, payload);
            expect(res.status, `${method} ${url} ${JSON.stringify(payload)}: ${res.text}`).toBeLessThan(500);
            if (res.status >= 400) expect(typeof res.json.error).toBe('string');
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
