// The inventory over REST, on both deployments: certificates of another CA (made here with the
// openssl CLI) imported with and without their chain, listed and filtered beside ours, edited,
// marked renewed or revoked by hand, removed; deployment locations; products and their custom
// fields, from `certgate product create` to issuance, storage and the list filter.
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestEnv } from './helpers/restEnv.js';
import { REST_DEPLOYMENTS, startRestEnv } from './helpers/restEnv.js';
import { openssl, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

type Json = Record<string, unknown>;
interface Cert {
  id: string;
  ca_id: string | null;
  product_id: string | null;
  source: string;
  status: string;
  issuer: string | null;
  common_name: string | null;
  serial_number: string;
  san_dns: string[];
  san_ip: string[];
  key_algorithm: string;
  valid_from: string;
  valid_to: string;
  revoked_at: string | null;
  revocation_reason: string | null;
  owner: string | null;
  notes: string | null;
  custom_fields: Record<string, unknown>;
  renewed_by: string | null;
  certificate_pem?: string;
}

const root = join(import.meta.dirname, '..');
const execFileAsync = promisify(execFile);

/** A CA of "another company", made with openssl as its operators would. */
interface OtherCa {
  name: string;
  certPath: string;
  keyPath: string;
  pem: string;
}

function makeOtherCa(dir: string, name: string, subject: string): OtherCa {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath,
    '-subj', subject, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { name, certPath, keyPath, pem: openssl(['x509', '-in', certPath]) };
}

/** A leaf signed by `ca`, RSA-2048, with the serial given (hex) and the names given. */
function makeLeaf(dir: string, ca: OtherCa, o: { cn: string; san: string[]; serialHex: string }): string {
  const base = join(dir, `leaf-${o.serialHex.slice(0, 8)}`);
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${o.cn}`, '-addext', `subjectAltName=${o.san.join(',')}`]);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', `0x${o.serialHex}`, '-days', '200', '-copy_extensions', 'copy', '-out', `${base}.pem`]);
  return openssl(['x509', '-in', `${base}.pem`]);
}

/** Serial numbers as certgate keeps them: lower-case hex, no leading zero byte. */
const randomSerial = (): string => {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x10;
  return b.toString('hex');
};

for (const d of REST_DEPLOYMENTS) {
  describe.skipIf(d.skip)(`REST inventory, ${d.name}`, () => {
    const dir = tempDir();
    let env: RestEnv;
    let other: OtherCa;
    let leafPem: string;
    let leafSerial: string;
    let chainedPem: string;
    let importedId: string;
    let chainedId: string;
    const ISSUER = 'C=US, O=Elsewhere Inc, CN=Elsewhere Root';

    const api = (method: string, path: string, body?: unknown, token = env.adminToken) => env.api(method, path, token, body);
    const certOf = (json: Json): Cert => json.certificate as Cert;
    const listed = async (query: string, token = env.adminToken): Promise<Cert[]> => {
      const r = await env.api('GET', `/v1/certificates?pageSize=100&${query}`, token);
      expect(r.status, r.text).toBe(200);
      return r.json.certificates as Cert[];
    };
    /** Serial numbers on a CA's current CRL, as openssl reads them. */
    const crlSerials = async (caId: string): Promise<string[]> => {
      const pem = await (await fetch(`${env.base}/crl/${caId}.pem`)).text();
      return [...openssl(['crl', '-noout', '-text'], pem).matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => (m[1] as string).toLowerCase());
    };
    const issueManaged = async (commonName: string, extra: Json = {}): Promise<Cert & { certificate_pem: string }> => {
      const r = await api('POST', '/v1/certificates', { productId: env.productId, commonName, keyAlgorithm: 'ECDSA-P256', validityDays: 30, ...extra });
      expect(r.status, r.text).toBe(201);
      return certOf(r.json) as Cert & { certificate_pem: string };
    };
    /** Revokes one of ours and waits until its CA's CRL shows it: the CRL is then newer than anything before. */
    const revokeAndAwaitCrl = async (cert: Cert) => {
      expect((await api('POST', `/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
      await until(async () => (await crlSerials(cert.ca_id as string)).includes(cert.serial_number), 20_000, `the CRL lists ${cert.serial_number}`);
    };

    beforeAll(async () => {
      env = await startRestEnv(d, { crlDebounceMs: 50 });
      other = makeOtherCa(dir, 'elsewhere', '/C=US/O=Elsewhere Inc/CN=Elsewhere Root');
      leafSerial = randomSerial();
      leafPem = makeLeaf(dir, other, { cn: 'legacy.example.net', san: ['DNS:legacy.example.net', 'DNS:www.legacy.example.net', 'IP:198.51.100.7'], serialHex: leafSerial });
      chainedPem = makeLeaf(dir, other, { cn: 'chained.example.net', san: ['DNS:chained.example.net'], serialHex: randomSerial() });
    });

    afterAll(async () => {
      await env?.close();
    });

    it('imports a certificate of another CA without its chain: the fields come from the certificate', async () => {
      const r = await api('POST', '/v1/certificates/import', { certificatePem: leafPem, owner: 'legacy team', notes: 'bought in 2024', customFields: { costCenter: '42', rack: 7 } });
      expect(r.status, r.text).toBe(201);
      const cert = certOf(r.json);
      importedId = cert.id;
      expect(r.headers.get('location')).toBe(`/v1/certificates/${cert.id}`);
      const x509 = new X509Certificate(leafPem);
      expect(cert).toMatchObject({
        source: 'imported',
        ca_id: null,
        product_id: null,
        status: 'active',
        issuer: ISSUER,
        common_name: 'legacy.example.net',
        serial_number: leafSerial,
        san_dns: ['legacy.example.net', 'www.legacy.example.net'],
        san_ip: ['198.51.100.7'],
        key_algorithm: 'RSA-2048',
        valid_from: new Date(x509.validFrom).toISOString(),
        valid_to: new Date(x509.validTo).toISOString(),
        owner: 'legacy team',
        notes: 'bought in 2024',
        custom_fields: { costCenter: '42', rack: 7 },
      });

      const got = await api('GET', `/v1/certificates/${cert.id}`);
      expect(got.status).toBe(200);
      expect(new X509Certificate(got.json.certificate_pem as string).fingerprint256).toBe(x509.fingerprint256);
      expect(openssl(['x509', '-noout', '-serial'], got.json.certificate_pem as string).trim()).toBe(`serial=${leafSerial.toUpperCase()}`);
    });

    it('refuses the same certificate twice, one of certgate\'s own, and what is not a certificate', async () => {
      const again = await api('POST', '/v1/certificates/import', { certificatePem: leafPem });
      expect(again.status).toBe(409);
      expect(again.json.error).toContain(importedId);

      const ours = await issueManaged('ours.example.com');
      const refused = await api('POST', '/v1/certificates/import', { certificatePem: ours.certificate_pem });
      expect(refused.status).toBe(409);
      expect(refused.json.error).toContain(ours.id);

      const key = openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const answers: string[] = [];
      for (const certificatePem of ['hello', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', leafPem + key, leafPem + chainedPem]) {
        const r = await api('POST', '/v1/certificates/import', { certificatePem });
        answers.push(`${r.status} ${String(r.json.error)}`);
      }
      // Each refused for its own reason (the second's tail is OpenSSL's, which varies by version).
      expect(answers).toEqual([
        '400 certificatePem: no PEM certificate (-----BEGIN CERTIFICATE-----)',
        expect.stringMatching(/^400 certificatePem: not an X\.509 certificate: /),
        '400 certificatePem holds a PRIVATE KEY block: send certificates only',
        '400 certificatePem holds 2 certificates: give the certificate in certificatePem and its issuers in chainPem',
      ]);
      expect((await api('POST', '/v1/certificates/import', { certificatePem: chainedPem, customFields: { 'bad name': 'x' } })).status).toBe(422);
      expect(await listed('source=imported')).toHaveLength(1);
    });

    it('refuses a forgery naming certgate\'s own CA as issuer with a live serial; the real certificate stays revocable and revoked in OCSP (finding 9)', async () => {
      const real = await issueManaged('forged-target.example.com');
      const caSubject = `/${new X509Certificate(env.issuingPem).subject.split('\n').join('/')}`;
      // Same issuer name, another key: what anyone can make with openssl.
      const forger = makeOtherCa(dir, 'forger', caSubject);
      const forged = makeLeaf(dir, forger, { cn: 'forged-target.example.com', san: ['DNS:forged-target.example.com'], serialHex: real.serial_number });
      expect(new X509Certificate(forged).issuer).toBe(new X509Certificate(env.issuingPem).subject);
      expect(new X509Certificate(forged).serialNumber.toLowerCase().replace(/^0+/, '')).toBe(real.serial_number.replace(/^0+/, ''));
      // The name in another case, as OpenSSL's name matching ignores it.
      const lowerForger = makeOtherCa(dir, 'lower-forger', caSubject.replace(/=([^/]*)/g, (_, value: string) => `=${value.toLowerCase()}`));
      expect(new X509Certificate(lowerForger.pem).subject).toMatch(/CN=certgate dev issuing ca/);
      const lowerForged = makeLeaf(dir, lowerForger, { cn: 'forged-target.example.com', san: ['DNS:forged-target.example.com'], serialHex: real.serial_number });

      const importedBefore = (await listed('source=imported')).length;
      for (const [what, body] of [
        ['alone', { certificatePem: forged }],
        ['with the forger as its chain', { certificatePem: forged, chainPem: forger.pem }],
        ['issuer in lower case', { certificatePem: lowerForged }],
      ] as const) {
        const r = await api('POST', '/v1/certificates/import', body);
        expect(r.status, `${what}: ${r.text}`).toBe(422);
        expect(r.json.error, what).toMatch(/names certgate's CA .* as its issuer, but its signature does not verify/);
      }
      expect(await listed('source=imported')).toHaveLength(importedBefore);
      const audited = await api('GET', `/v1/audit?action=certificate.import&target=${env.issuingId}&pageSize=100`);
      const refusals = (audited.json.entries as { outcome: string; detail: Json }[]).filter((e) => e.outcome === 'refused' && e.detail.serial === real.serial_number);
      expect(refusals).toHaveLength(3);
      expect(refusals[0]?.detail).toMatchObject({ reason: 'forgedIssuer' });

      // The real one is ours: a conflict naming its record, not an import.
      const ours = await api('POST', '/v1/certificates/import', { certificatePem: real.certificate_pem });
      expect(ours.status, ours.text).toBe(409);
      expect(ours.json.error).toContain(real.id);
      // So are its CAs' own certificates.
      const issuingCa = await api('POST', '/v1/certificates/import', { certificatePem: env.issuingPem });
      expect(issuingCa.status, issuingCa.text).toBe(409);
      expect(issuingCa.json.error).toContain(env.issuingId);

      // Nothing imported to mark revoked in its name; revoking the real one shows in OCSP.
      const issuerText = openssl(['x509', '-noout', '-issuer'], forged).trim();
      expect((await api('POST', '/v1/certificates/imported/revoke', { issuer: issuerText, serialNumber: real.serial_number, reason: 'key-compromise' })).status).toBe(404);
      const file = (name: string, pem: string): string => {
        const path = join(dir, name);
        writeFileSync(path, pem);
        return path;
      };
      const files = { issuing: file('issuing.pem', env.issuingPem), chain: file('chain.pem', `${env.issuingPem}${env.rootPem}`), leaf: file('forged-target.pem', real.certificate_pem) };
      const ocsp = async (): Promise<string> => {
        const { stdout, stderr } = await execFileAsync('openssl', ['ocsp', '-issuer', files.issuing, '-cert', files.leaf, '-url', `${env.base}/ocsp`, '-CAfile', files.chain]).catch((e: { stdout: string; stderr: string }) => e);
        return `${stdout}${stderr}`;
      };
      expect(await ocsp()).toMatch(/forged-target\.pem: good/);
      expect((await api('POST', `/v1/certificates/${real.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
      await until(async () => /forged-target\.pem: revoked/.test(await ocsp()), 20_000, 'OCSP says the real certificate is revoked');
    });

    it('imports with the chain when the signature verifies, and refuses a chain that did not sign it', async () => {
      const impostor = makeOtherCa(dir, 'impostor', '/C=US/O=Elsewhere Inc/CN=Elsewhere Root');
      const wrong = await api('POST', '/v1/certificates/import', { certificatePem: chainedPem, chainPem: impostor.pem });
      expect(wrong.status, wrong.text).toBe(422);
      const unrelated = await api('POST', '/v1/certificates/import', { certificatePem: chainedPem, chainPem: env.issuingPem });
      expect(unrelated.status, unrelated.text).toBe(422);
      expect(unrelated.json.error).toContain('issuer');

      const r = await api('POST', '/v1/certificates/import', { certificatePem: chainedPem, chainPem: impostor.pem + other.pem });
      expect(r.status, r.text).toBe(201);
      chainedId = certOf(r.json).id;
      expect(certOf(r.json)).toMatchObject({ source: 'imported', common_name: 'chained.example.net', key_algorithm: 'RSA-2048', issuer: ISSUER });
    });

    it('lists imported certificates beside ours, marked imported, and filters them', async () => {
      const imported = await listed('source=imported');
      expect(imported.map((c) => c.id).sort()).toEqual([importedId, chainedId].sort());
      expect(imported.every((c) => c.source === 'imported' && c.ca_id === null)).toBe(true);
      expect((await listed('source=issued')).every((c) => c.source === 'issued')).toBe(true);
      expect((await listed('search=LEGACY.example')).map((c) => c.id)).toEqual([importedId]);
      expect((await listed('')).map((c) => c.id)).toEqual(expect.arrayContaining([importedId, chainedId]));
      expect((await listed('customField.costCenter=42&source=imported')).map((c) => c.id)).toEqual([importedId]);
      expect((await listed(`caId=${env.issuingId}`)).map((c) => c.source)).not.toContain('imported');
    });

    it('edits owner, notes and free-form custom fields of an imported certificate', async () => {
      const r = await api('PUT', `/v1/certificates/${importedId}`, { owner: 'platform team', customFields: { rack: null, site: 'fra1', critical: true } });
      expect(r.status, r.text).toBe(200);
      expect(certOf(r.json)).toMatchObject({ owner: 'platform team', notes: 'bought in 2024', custom_fields: { costCenter: '42', site: 'fra1', critical: true } });
      expect(certOf(r.json).custom_fields).not.toHaveProperty('rack');
      const cleared = await api('PUT', `/v1/certificates/${importedId}`, { notes: null });
      expect(certOf(cleared.json)).toMatchObject({ owner: 'platform team', notes: null });
      expect((await api('GET', `/v1/certificates/${importedId}`)).json).toMatchObject({ owner: 'platform team', notes: null, custom_fields: { costCenter: '42', site: 'fra1', critical: true } });

      expect((await api('PUT', `/v1/certificates/${importedId}`, {})).status).toBe(400);
      expect((await api('PUT', `/v1/certificates/${importedId}`, { customFields: { '9lives': 'x' } })).status).toBe(422);
      expect((await api('PUT', `/v1/certificates/${importedId}`, { serialNumber: '01' })).status).toBe(400);
      expect((await api('PUT', '/v1/certificates/00000000-0000-0000-0000-000000000000', { owner: 'x' })).status).toBe(404);
    });

    it('marks an imported certificate revoked by issuer and serial as openssl prints them; it never reaches our CRL', async () => {
      const issuerAsOpensslPrintsIt = openssl(['x509', '-noout', '-issuer'], leafPem).trim();
      expect(issuerAsOpensslPrintsIt).toBe('issuer=C = US, O = Elsewhere Inc, CN = Elsewhere Root');
      const serialWithColons = leafSerial.toUpperCase().match(/../g)!.join(':');
      const body = { issuer: issuerAsOpensslPrintsIt, serialNumber: serialWithColons, reason: 'key-compromise', revokedAt: '2026-01-02T03:04:05.678Z' };

      // certgate never revokes or renews what it did not issue.
      // Revocation knows only certificates of ours (404); renewal says why (422).
      const revoke = await api('POST', `/v1/certificates/${importedId}/revoke`, {});
      expect(revoke.status, revoke.text).toBe(404);
      expect(revoke.json.error).toBe(`certificate ${importedId} not found`);
      const renew = await api('POST', `/v1/certificates/${importedId}/renew`, {});
      expect(renew.status, renew.text).toBe(422);
      expect(renew.json.error).toBe(`certificate ${importedId} was imported: it is renewed by the CA that issued it (mark it renewed instead)`);
      expect((await api('GET', `/v1/certificates/${importedId}`)).json).toMatchObject({ status: 'active', revoked_at: null });
      expect((await api('POST', '/v1/certificates/imported/revoke', { ...body, serialNumber: 'abcdef' })).status).toBe(404);
      expect((await api('POST', '/v1/certificates/imported/revoke', { ...body, issuer: 'CN=Somebody Else' })).status).toBe(404);
      const r = await api('POST', '/v1/certificates/imported/revoke', body);
      expect(r.status, r.text).toBe(200);
      expect(certOf(r.json)).toMatchObject({ id: importedId, status: 'revoked', revoked_at: '2026-01-02T03:04:05.678Z', revocation_reason: 'keyCompromise' });
      expect((await api('GET', `/v1/certificates/${importedId}`)).json).toMatchObject({ status: 'revoked', revocation_reason: 'keyCompromise' });
      expect((await api('POST', '/v1/certificates/imported/revoke', body)).status).toBe(409);
      expect((await listed('source=imported&status=revoked')).map((c) => c.id)).toEqual([importedId]);
      expect((await listed('source=imported&status=active')).map((c) => c.id)).toEqual([chainedId]);

      // Most specific first (RFC 4514), as `-nameopt RFC2253` prints it.
      const rfc4514 = openssl(['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], chainedPem).trim().replace(/^issuer=/, '');
      expect(rfc4514).toBe('CN=Elsewhere Root,O=Elsewhere Inc,C=US');
      const chained = await api('POST', '/v1/certificates/imported/revoke', { issuer: rfc4514, serialNumber: new X509Certificate(chainedPem).serialNumber });
      expect(chained.status, chained.text).toBe(200);
      expect(certOf(chained.json)).toMatchObject({ id: chainedId, revocation_reason: 'unspecified' });

      // A revocation of ours rebuilds our CRLs; the imported serials are on none of them.
      await revokeAndAwaitCrl(await issueManaged('crl-trigger.example.com'));
      for (const caId of [env.issuingId, env.rootId]) {
        const serials = await crlSerials(caId);
        expect(serials).not.toContain(leafSerial);
        expect(serials).not.toContain(new X509Certificate(chainedPem).serialNumber.toLowerCase());
      }
    });

    it('marks certificates renewed', async () => {
      const r = await api('POST', `/v1/certificates/${importedId}/mark-renewed`, { renewedBy: chainedId });
      expect(r.status, r.text).toBe(200);
      expect(certOf(r.json).renewed_by).toBe(chainedId);
      const ours = await issueManaged('renewed-by-hand.example.com');
      const plain = await api('POST', `/v1/certificates/${ours.id}/mark-renewed`, {});
      expect(plain.status, plain.text).toBe(200);
      expect(certOf(plain.json).renewed_by).toBe('renewed elsewhere');
      expect((await api('GET', `/v1/certificates/${ours.id}`)).json.renewed_by).toBe('renewed elsewhere');
      expect((await api('POST', '/v1/certificates/no-such-id/mark-renewed', {})).status).toBe(404);
    });

    it('keeps deployment locations: create, list, replace, delete', async () => {
      const base = `/v1/certificates/${chainedId}/locations`;
      const a = await api('POST', base, { host: 'lb1.example.net', port: 443, kind: 'load-balancer', notes: 'F5 pool web' });
      expect(a.status, a.text).toBe(201);
      const location = a.json.location as Json;
      expect(location).toMatchObject({ certificate_id: chainedId, host: 'lb1.example.net', port: 443, path: null, kind: 'load-balancer', notes: 'F5 pool web' });
      expect(a.headers.get('location')).toBe(`${base}/${location.id as string}`);
      const b = await api('POST', base, { host: '10.0.0.12', path: '/etc/nginx/tls/chained.pem', kind: 'server' });
      expect(b.status).toBe(201);
      expect(((await api('GET', base)).json.locations as Json[]).map((l) => l.host)).toEqual(['lb1.example.net', '10.0.0.12']);

      const replaced = await api('PUT', `${base}/${location.id as string}`, { host: 'lb2.example.net', kind: 'load-balancer' });
      expect(replaced.status, replaced.text).toBe(200);
      expect(replaced.json.location).toMatchObject({ id: location.id, host: 'lb2.example.net', port: null, notes: null });
      expect((await api('DELETE', `${base}/${(b.json.location as Json).id as string}`)).status).toBe(204);
      expect(((await api('GET', base)).json.locations as Json[]).map((l) => l.host)).toEqual(['lb2.example.net']);

      expect((await api('POST', base, { host: 'x', port: 70_000, kind: 'server' })).status).toBe(400);
      expect((await api('POST', base, { host: 'has space', kind: 'server' })).status).toBe(400);
      expect((await api('POST', base, { host: 'x' })).status).toBe(400);
      expect((await api('PUT', `${base}/no-such-location`, { host: 'x', kind: 'server' })).status).toBe(404);
      expect((await api('DELETE', `${base}/no-such-location`)).status).toBe(404);
      expect((await api('GET', '/v1/certificates/no-such-id/locations')).status).toBe(404);
      expect((await api('POST', '/v1/certificates/no-such-id/locations', { host: 'x', kind: 'server' })).status).toBe(404);
    });

    it('deletes an imported certificate, with its locations', async () => {
      expect((await api('DELETE', `/v1/certificates/${chainedId}`)).status).toBe(204);
      expect((await api('GET', `/v1/certificates/${chainedId}`)).status).toBe(404);
      expect((await api('GET', `/v1/certificates/${chainedId}/locations`)).status).toBe(404);
      expect((await api('DELETE', `/v1/certificates/${chainedId}`)).status).toBe(404);
      expect((await listed('source=imported')).map((c) => c.id)).toEqual([importedId]);
      // Gone for good: it can be imported again.
      const again = await api('POST', '/v1/certificates/import', { certificatePem: chainedPem });
      expect(again.status, again.text).toBe(201);
      expect(certOf(again.json).id).not.toBe(chainedId);
    });

    it('removes one of ours only once it has expired, and keeps its revocation on the CRL', async () => {
      const valid = await issueManaged('still-valid.example.com');
      const refused = await api('DELETE', `/v1/certificates/${valid.id}`);
      expect(refused.status).toBe(409);
      expect(refused.json.error).toMatch(/valid until/);
      expect((await api('GET', `/v1/certificates/${valid.id}`)).status).toBe(200);

      const old = await issueManaged('expired.example.com');
      await revokeAndAwaitCrl(old);
      // No product issues a certificate that has already expired: move this one's end into the past.
      await env.server.rt.store.db.updateTable('certificates').set({ valid_to: Date.now() - 60_000 }).where('id', '=', old.id).execute();
      expect((await api('GET', `/v1/certificates/${old.id}`)).json.status).toBe('revoked');
      expect((await api('DELETE', `/v1/certificates/${old.id}`)).status).toBe(204);
      expect((await api('GET', `/v1/certificates/${old.id}`)).status).toBe(404);
      expect((await listed('search=expired.example.com')).map((c) => c.id)).not.toContain(old.id);
      expect((await api('DELETE', `/v1/certificates/${old.id}`)).status).toBe(404);

      // A CRL built after the removal still lists it.
      await revokeAndAwaitCrl(valid);
      expect(await crlSerials(old.ca_id as string)).toContain(old.serial_number);
    });

    describe('products and custom fields', () => {
      let productId: string;

      beforeAll(async () => {
        const config = env.server.rt.config;
        const { stdout } = await execFileAsync(
          process.execPath,
          [
            '--import', 'tsx', join(root, 'main.ts'), 'product', 'create', '--name', `fields-${randomSerial().slice(0, 8)}`, '--ca', env.issuingId,
            '--custom-field', 'costCenter:string:required', '--custom-field', 'priority:number', '--custom-field', 'pci:boolean:optional', '--escrow-keys', '--json',
          ],
          {
            cwd: root,
            env: {
              ...process.env,
              CERTGATE_DATA_DIR: config.dataDir,
              CERTGATE_MASTER_KEY: config.masterKey as string,
              DATABASE_URL: config.databaseUrl ?? '',
              REDIS_URL: '',
              CERTGATE_LOG_LEVEL: 'silent',
            },
          },
        );
        productId = (JSON.parse(stdout) as { id: string }).id;
      });

      it('the CLI refuses a malformed --custom-field', async () => {
        const run = execFileAsync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), 'product', 'create', '--name', 'never', '--ca', env.issuingId, '--custom-field', 'costCenter:money'], {
          cwd: root,
          env: { ...process.env, CERTGATE_DATA_DIR: tempDir(), CERTGATE_LOG_LEVEL: 'silent', DATABASE_URL: '', REDIS_URL: '' },
        });
        await expect(run).rejects.toMatchObject({ stderr: expect.stringContaining('must be one of string, number, boolean') });
      });

      it('GET /v1/products and /v1/products/:id say what each product allows', async () => {
        const list = await api('GET', '/v1/products');
        expect(list.status).toBe(200);
        const byId = new Map((list.json.products as Json[]).map((p) => [p.id, p]));
        expect(byId.get(env.productId)).toMatchObject({ ca_id: env.issuingId, custom_fields: [], escrow_keys: false, subject_policy: { unlisted: expect.any(String) } });
        expect(byId.get(env.productId)?.key_algorithms).toContain('ECDSA-P256');
        const one = await api('GET', `/v1/products/${productId}`);
        expect(one.status, one.text).toBe(200);
        expect(one.json.product).toMatchObject({
          id: productId,
          ca_id: env.issuingId,
          key_algorithms: ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096'],
          extended_key_usages: ['serverAuth', 'clientAuth'],
          requires_approval: false,
          escrow_keys: true,
          custom_fields: [
            { name: 'costCenter', type: 'string', required: true },
            { name: 'priority', type: 'number', required: false },
            { name: 'pci', type: 'boolean', required: false },
          ],
        });
        expect((await api('GET', '/v1/products/no-such-product')).status).toBe(404);
      });

      it('issuance enforces the declared fields, stores them on the certificate, and the list filters on them', async () => {
        const issue = (customFields: Json, commonName = 'fields.example.com') => api('POST', '/v1/certificates', { productId, commonName, customFields });
        for (const [customFields, words] of [
          [{ priority: 1 }, 'costCenter" is required'],
          [{ costCenter: 42 }, 'costCenter" must be a string'],
          [{ costCenter: '42', color: 'red' }, 'color" is not declared'],
        ] as const) {
          const r = await issue(customFields);
          expect(r.status, r.text).toBe(422);
          expect(r.json).toMatchObject({ rule: 'customFields' });
          expect(r.json.error).toContain(words);
        }
        const ok = await issue({ costCenter: '42', priority: 2, pci: true }, 'cc42.example.com');
        expect(ok.status, ok.text).toBe(201);
        const cert = certOf(ok.json);
        expect((await api('GET', `/v1/certificates/${cert.id}`)).json.custom_fields).toEqual({ costCenter: '42', priority: 2, pci: true });
        const other = await issue({ costCenter: '7' }, 'cc7.example.com');
        expect(other.status).toBe(201);
        expect((await listed('customField.costCenter=42&source=issued')).map((c) => c.id)).toEqual([cert.id]);
        expect((await listed('customField.costCenter=7')).map((c) => c.id)).toEqual([certOf(other.json).id]);
        expect((await listed(`customField.costCenter=42&productId=${productId}`)).map((c) => c.id)).toEqual([cert.id]);
        // Numbers and booleans filter by their text, on either database.
        expect((await listed(`customField.priority=2&productId=${productId}`)).map((c) => c.id)).toEqual([cert.id]);
        expect((await listed(`customField.pci=true&productId=${productId}`)).map((c) => c.id)).toEqual([cert.id]);
        expect(await listed(`customField.pci=1&productId=${productId}`)).toEqual([]);

        // Edits are checked against the same declarations.
        expect((await api('PUT', `/v1/certificates/${cert.id}`, { customFields: { priority: 'high' } })).status).toBe(422);
        expect((await api('PUT', `/v1/certificates/${cert.id}`, { customFields: { color: 'red' } })).status).toBe(422);
        expect((await api('PUT', `/v1/certificates/${cert.id}`, { customFields: { costCenter: null } })).status).toBe(422);
        const edited = await api('PUT', `/v1/certificates/${cert.id}`, { customFields: { costCenter: '43', pci: null } });
        expect(edited.status, edited.text).toBe(200);
        expect(certOf(edited.json).custom_fields).toEqual({ costCenter: '43', priority: 2 });
        expect((await listed('customField.costCenter=43')).map((c) => c.id)).toEqual([cert.id]);
      });
    });

    describe('permissions', () => {
      it('a read-only key reads imported certificates and locations but cannot import or change anything', async () => {
        const { token } = await env.restKey('read-all', [{ ca: '*', actions: ['read'] }]);
        expect((await env.api('GET', `/v1/certificates/${importedId}`, token)).status).toBe(200);
        expect((await env.api('GET', `/v1/certificates/${importedId}/locations`, token)).status).toBe(200);
        expect((await listed('source=imported', token)).map((c) => c.id)).toContain(importedId);
        const refused: [string, string, unknown][] = [
          ['POST', '/v1/certificates/import', { certificatePem: leafPem }],
          ['PUT', `/v1/certificates/${importedId}`, { owner: 'me' }],
          ['POST', `/v1/certificates/${importedId}/mark-renewed`, {}],
          ['POST', '/v1/certificates/imported/revoke', { issuer: ISSUER, serialNumber: leafSerial }],
          ['DELETE', `/v1/certificates/${importedId}`, undefined],
          ['POST', `/v1/certificates/${importedId}/locations`, { host: 'h', kind: 'server' }],
        ];
        for (const [method, path, body] of refused) expect((await env.api(method, path, token, body)).status, `${method} ${path}`).toBe(403);
        expect((await api('GET', `/v1/certificates/${importedId}`)).json.owner).toBe('platform team');
      });

      it('a key for one CA does not see imported certificates, and may change only its own CA\'s', async () => {
        const { token } = await env.restKey('issuing-only', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
        expect(await listed('source=imported', token)).toEqual([]);
        expect((await listed('', token)).every((c) => c.source === 'issued' && c.ca_id === env.issuingId)).toBe(true);
        expect((await env.api('GET', `/v1/certificates/${importedId}`, token)).status).toBe(403);
        expect((await env.api('GET', `/v1/certificates/${importedId}/locations`, token)).status).toBe(403);
        expect((await env.api('PUT', `/v1/certificates/${importedId}`, token, { owner: 'me' })).status).toBe(403);
        expect((await env.api('POST', '/v1/certificates/import', token, { certificatePem: chainedPem })).status).toBe(403);

        const ours = await issueManaged('mine.example.com');
        const edited = await env.api('PUT', `/v1/certificates/${ours.id}`, token, { owner: 'issuing team' });
        expect(edited.status, edited.text).toBe(200);
        const loc = await env.api('POST', `/v1/certificates/${ours.id}/locations`, token, { host: 'web1', kind: 'server' });
        expect(loc.status, loc.text).toBe(201);

        const { token: readOnly } = await env.restKey('issuing-read', [{ ca: env.issuingId, actions: ['read'] }]);
        expect((await env.api('GET', `/v1/certificates/${ours.id}/locations`, readOnly)).status).toBe(200);
        expect((await env.api('PUT', `/v1/certificates/${ours.id}`, readOnly, { owner: 'x' })).status).toBe(403);
        expect((await env.api('DELETE', `/v1/certificates/${ours.id}/locations/${(loc.json.location as Json).id as string}`, readOnly)).status).toBe(403);
        const { token: rootOnly } = await env.restKey('root-read', [{ ca: env.rootId, actions: ['read'] }]);
        expect((await env.api('GET', `/v1/products/${env.productId}`, rootOnly)).status).toBe(403);
        expect(((await env.api('GET', '/v1/products', rootOnly)).json.products as Json[]).map((p) => p.id)).not.toContain(env.productId);
      });
    });

    it('records every change in the audit trail', async () => {
      for (const action of ['certificate.import', 'certificate.edit', 'certificate.mark_renewed', 'certificate.mark_revoked', 'certificate.remove', 'location.add', 'location.edit', 'location.remove']) {
        const r = await api('GET', `/v1/audit?action=${action}`);
        expect(r.json.total, action).toBeGreaterThan(0);
      }
      const edits = await api('GET', `/v1/audit?action=certificate.edit&target=${importedId}`);
      // Refused edits (a narrow key's, above) are in the trail under the same action, with outcome refused.
      const done = (edits.json.entries as { outcome: string; detail: Json }[]).filter((e) => e.outcome === 'success');
      expect(done[0]).toMatchObject({ detail: { fields: expect.any(Array) } });
    });

    it('the imported leaf is the other CA\'s, as openssl verify says', () => {
      writeFileSync(join(dir, 'imported.pem'), leafPem);
      expect(openssl(['verify', '-CAfile', other.certPath, join(dir, 'imported.pem')])).toContain('OK');
    });
  });
}
