// The inventory list sorted by a column (page paging), exported as CSV with the same filters and
// order, and a certificate's audit history, on both deployments.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

interface Cert {
  id: string;
  common_name: string;
  status: string;
  valid_to: string;
  request_id: string;
  owner: string | null;
}

/** RFC 4180 rows (quoted cells, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  return rows;
}

for (const d of REST_DEPLOYMENTS) {
  describe.skipIf(d.skip)(`REST inventory sort, CSV and history, ${d.name}`, () => {
    let env: RestEnv;
    // A formula-looking owner: the export must defuse it; and the filter that keeps this suite's certificates.
    const owner = `=owner-${randomBytes(4).toString('hex')}`;
    const q = `owner=${encodeURIComponent(owner)}`;
    const certs: Cert[] = [];

    beforeAll(async () => {
      env = await startRestEnv(d);
      for (const [cn, days] of [['bravo', 30], ['alpha', 50], ['charlie', 10]] as const) {
        const res = await env.api('POST', '/v1/certificates', env.adminToken, { productId: env.productId, commonName: `${cn}.sort.test`, validityDays: days, owner });
        expect(res.status, res.text).toBe(201);
        certs.push(res.json.certificate as Cert);
      }
      const revoked = await env.api('POST', `/v1/certificates/${certs[1]!.id}/revoke`, env.adminToken, { reason: 'superseded' });
      expect(revoked.status, revoked.text).toBe(200);
    });
    afterAll(async () => env?.close());

    const names = async (query: string): Promise<string[]> => {
      const res = await env.api('GET', `/v1/certificates?${q}&${query}`, env.adminToken);
      expect(res.status, res.text).toBe(200);
      return (res.json.certificates as Cert[]).map((c) => c.common_name.split('.')[0] as string);
    };

    it('sorts by common name, expiry and status, either way, and pages by number', async () => {
      expect(await names('sort=commonName')).toEqual(['alpha', 'bravo', 'charlie']);
      expect(await names('sort=-commonName')).toEqual(['charlie', 'bravo', 'alpha']);
      expect(await names('sort=expires')).toEqual(['charlie', 'bravo', 'alpha']);
      expect(await names('sort=-expires')).toEqual(['alpha', 'bravo', 'charlie']);
      // active before revoked; the id breaks the tie between the two active ones.
      const byStatus = await names('sort=status');
      expect(byStatus[2]).toBe('alpha');
      expect(await names('sort=-status')).toEqual(['alpha', ...byStatus.slice(0, 2).reverse()]);
      const second = await env.api('GET', `/v1/certificates?${q}&sort=expires&pageSize=2&page=2`, env.adminToken);
      expect((second.json.certificates as Cert[]).map((c) => c.common_name)).toEqual(['alpha.sort.test']);
      expect(second.json).toMatchObject({ total: 3, totalExact: true, page: 2, totalPages: 2, nextCursor: null });
      // The default order is unchanged: newest first.
      expect(await names('pageSize=5')).toEqual(['charlie', 'alpha', 'bravo']);
    });

    it('refuses a cursor with a column sort, and a sort it does not know, with a 400 that says why', async () => {
      const first = await env.api('GET', `/v1/certificates?${q}&pageSize=1`, env.adminToken);
      const cursor = String(first.json.nextCursor);
      const mixed = await env.api('GET', `/v1/certificates?${q}&sort=expires&after=${cursor}`, env.adminToken);
      expect(mixed.status).toBe(400);
      expect(mixed.text).toMatch(/creation order.*page with page/);
      expect((await env.api('GET', `/v1/certificates?sort=serial`, env.adminToken)).status).toBe(400);
    });

    it('exports every match as CSV, in the asked order, by format=csv or Accept, with formula cells defused', async () => {
      const res = await env.api('GET', `/v1/certificates?${q}&sort=-expires&pageSize=1&format=csv`, env.adminToken);
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="certgate-certificates-\d{4}-\d\d-\d\d\.csv"$/);
      const [header, ...rows] = parseCsv(res.text);
      expect(header?.slice(0, 5)).toEqual(['id', 'common_name', 'san_dns', 'san_ip', 'status']);
      const col = (name: string) => header!.indexOf(name);
      expect(rows.map((r) => r[col('common_name')])).toEqual(['alpha.sort.test', 'bravo.sort.test', 'charlie.sort.test']);
      expect(rows.map((r) => r[col('status')])).toEqual(['revoked', 'active', 'active']);
      expect(rows.every((r) => r[col('owner')] === `'${owner}`)).toBe(true);
      expect(rows[0]?.[col('ca_id')]).toBe(env.issuingId);
      expect(rows[0]?.[col('product_name')]).not.toBe('');

      const byAccept = await env.api('GET', `/v1/certificates?${q}&status=active`, env.adminToken, undefined, { accept: 'text/csv' });
      expect(byAccept.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(parseCsv(byAccept.text).slice(1).map((r) => r[1])).toEqual(['charlie.sort.test', 'bravo.sort.test']);

      // A credential of another CA exports nothing of this one.
      const { token } = await env.restKey('csv-other-ca', [{ ca: env.rootId, actions: ['read'] }]);
      const none = await env.api('GET', `/v1/certificates?${q}&format=csv`, token);
      expect(none.status).toBe(200);
      expect(parseCsv(none.text)).toHaveLength(1);
    });

    it("answers a certificate's audit history, oldest first and paged, to a reader of its CA only", async () => {
      const cert = certs[1]!;
      const edited = await env.api('PUT', `/v1/certificates/${cert.id}`, env.adminToken, { notes: 'history note' });
      expect(edited.status, edited.text).toBe(200);
      const { token: reader } = await env.restKey('history-reader', [{ ca: env.issuingId, actions: ['read'] }]);
      const res = await env.api('GET', `/v1/certificates/${cert.id}/audit`, reader);
      expect(res.status, res.text).toBe(200);
      const entries = res.json.entries as { seq: number; action: string; target: string }[];
      const actions = entries.map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['request.submit', 'certificate.issue', 'certificate.revoke', 'certificate.edit']));
      expect(actions.indexOf('request.submit')).toBeLessThan(actions.indexOf('certificate.issue'));
      expect(actions.indexOf('certificate.revoke')).toBeLessThan(actions.indexOf('certificate.edit'));
      expect(entries.every((e) => e.target === cert.id || e.target === cert.request_id)).toBe(true);
      expect(res.json.total).toBe(entries.length);

      // Paged: one at a time, the same entries.
      const walked: number[] = [];
      for (let after = 0; ; ) {
        const page = await env.api('GET', `/v1/certificates/${cert.id}/audit?pageSize=1&after=${after}`, reader);
        walked.push(...(page.json.entries as { seq: number }[]).map((e) => e.seq));
        if (page.json.nextAfter === null) break;
        after = page.json.nextAfter as number;
      }
      expect(walked).toEqual(entries.map((e) => e.seq));

      const { token: otherCa, credential: other } = await env.restKey('history-other-ca', [{ ca: env.rootId, actions: ['read', 'revoke'] }]);
      expect((await env.api('GET', `/v1/certificates/${cert.id}/audit`, otherCa)).status).toBe(403);
      expect((await env.api('GET', `/v1/certificates/${cert.id}/audit?pageSize=0`, reader)).status).toBe(400);

      // Another tenant's refused attempt is in the trail, under this certificate: an admin sees it
      // in the history, a reader of the certificate does not (not the credential, not its address).
      expect((await env.api('POST', `/v1/certificates/${cert.id}/revoke`, otherCa, { reason: 'keyCompromise' })).status).toBe(403);
      const asAdmin = (await env.api('GET', `/v1/certificates/${cert.id}/audit`, env.adminToken)).json.entries as { actor: string; outcome: string }[];
      expect(asAdmin.filter((e) => e.actor === other.id && e.outcome === 'refused').length).toBeGreaterThan(0);
      const asReader = (await env.api('GET', `/v1/certificates/${cert.id}/audit`, reader)).json.entries as { seq: number; actor: string; outcome: string }[];
      expect(asReader.filter((e) => e.actor === other.id)).toEqual([]);
      expect(asReader.every((e) => e.outcome === 'success')).toBe(true);
      expect(asReader.map((e) => e.seq)).toEqual(entries.map((e) => e.seq));
    });
  });
}
