// The inventory and a certificate's page in headless Chromium, signed in as an operator
// (read, issue, revoke on the issuing CA): filter, sort and export the inventory; open a
// certificate, download it (openssl reads and verifies it), revoke it (OCSP then says revoked),
// suspend and reinstate, edit its fields, add a location, read its history. A read-only
// credential is offered no change, and the API's refusal is shown in words.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { chromiumMissing, launchChromium, openConsole, screenshot, seriousA11yViolations, signIn } from './helpers/browser.js';
import { openssl, opensslVerify } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

const skip = chromiumMissing();

interface Cert {
  id: string;
  common_name: string;
  status: string;
  notes: string | null;
  revocation_reason: string | null;
  custom_fields: Record<string, unknown>;
  certificate_pem: string;
}

const ocspQuery = (args: string[]): Promise<string> =>
  new Promise((resolve) => execFile('openssl', ['ocsp', ...args], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`)));

/** The common names in the inventory table, top to bottom. */
const listed = (page: Page): Promise<string[]> => page.locator('main tbody tr td:first-child a').allTextContents();

describe.skipIf(skip)('console inventory and certificate page', () => {
  const d = REST_DEPLOYMENTS[0]!;
  let env: RestEnv;
  let browser: Browser;
  let operatorKey: string;
  let escrowedId: string;
  const certs: Record<string, Cert> = {};

  const admin = (method: string, path: string, body?: unknown) => env.api(method, path, env.adminToken, body);

  beforeAll(async () => {
    env = await startRestEnv(d);
    browser = await launchChromium();
    const productId = (
      await createProduct(env.server.rt.store, { name: 'inventory-ui', caId: env.issuingId, template: parseProductTemplate({ customFields: [{ name: 'team', type: 'string' }] }) }, CLI_CONTEXT)
    ).id;
    for (const [cn, owner, team, days] of [
      ['web-a.inv.test', 'alice', 'red', 40],
      ['web-b.inv.test', 'bob', 'blue', 20],
      ['api-c.inv.test', 'alice', 'blue', 60],
      ['old-d.inv.test', 'bob', 'red', 30],
    ] as const) {
      const res = await admin('POST', '/v1/certificates', { productId, commonName: cn, validityDays: days, owner, customFields: { team } });
      expect(res.status, res.text).toBe(201);
      certs[cn] = res.json.certificate as Cert;
    }
    expect((await admin('POST', `/v1/certificates/${certs['old-d.inv.test']!.id}/revoke`, { reason: 'superseded' })).status).toBe(200);
    operatorKey = (await env.restKey('inventory-operator', [{ ca: env.issuingId, actions: ['read', 'issue', 'revoke', 'exportKeys'] }])).token;
    // A key kept in escrow, for a certificate the operator requested itself: its PKCS#12 is the operator's to download.
    const escrowProduct = await createProduct(env.server.rt.store, { name: 'inventory-escrow', caId: env.issuingId, template: parseProductTemplate({ escrowKeys: true }) }, CLI_CONTEXT);
    const keyed = await env.api('POST', '/v1/certificates', operatorKey, { productId: escrowProduct.id, commonName: 'keyed.escrow.test' });
    expect(keyed.status, keyed.text).toBe(201);
    escrowedId = (keyed.json.certificate as Cert).id;
  });
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it('filters by status, search and custom field, sorts by expiry, and exports what it shows as CSV', async () => {
    const c = await openConsole(browser, env.base);
    try {
      const { page } = c;
      await signIn(page, operatorKey);
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Certificates', exact: true }).click();
      // The gateway's own certificates (its OCSP signer…) are in the inventory too.
      await expect.poll(() => listed(page)).toEqual(expect.arrayContaining(Object.keys(certs)));

      await page.getByLabel('Status').selectOption('revoked');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(() => listed(page)).toEqual(['old-d.inv.test']);
      expect(page.url()).toContain('status=revoked');

      await page.getByRole('button', { name: 'Clear filters' }).first().click();
      await expect.poll(() => listed(page)).toEqual(expect.arrayContaining(Object.keys(certs)));
      await page.getByLabel('Search').fill('web-');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(async () => (await listed(page)).sort()).toEqual(['web-a.inv.test', 'web-b.inv.test']);

      await page.getByLabel('Search').fill('');
      await page.getByLabel('Custom field', { exact: true }).fill('team');
      await page.getByLabel('Custom field value').fill('blue');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(async () => (await listed(page)).sort()).toEqual(['api-c.inv.test', 'web-b.inv.test']);
      expect(page.url()).toContain('customField.team=blue');

      // Nothing matches: said so, with a way back.
      await page.getByLabel('Owner').fill('nobody');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('No certificate matches these filters.').waitFor();
      await page.getByRole('button', { name: 'Clear filters' }).last().click();
      await expect.poll(() => listed(page)).toEqual(expect.arrayContaining(Object.keys(certs)));
      expect(page.url()).not.toContain('owner=');

      await page.getByLabel('Search').fill('.inv.test');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByRole('button', { name: /^Expires/ }).click();
      await expect.poll(() => listed(page)).toEqual(['web-b.inv.test', 'old-d.inv.test', 'web-a.inv.test', 'api-c.inv.test']);
      expect(await page.getByRole('columnheader', { name: /Expires/ }).getAttribute('aria-sort')).toBe('ascending');
      await page.getByRole('button', { name: /^Expires/ }).click();
      await expect.poll(() => listed(page)).toEqual(['api-c.inv.test', 'web-a.inv.test', 'old-d.inv.test', 'web-b.inv.test']);

      // The export link carries the filters and the order; the session's cookie goes with it.
      const link = await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href');
      expect(link).toContain('sort=-expires');
      const csv = await page.request.get(new URL(link as string, env.base).toString());
      expect(csv.status()).toBe(200);
      expect(csv.headers()['content-type']).toMatch(/^text\/csv/);
      const lines = (await csv.text()).trim().split('\r\n');
      expect(lines[0]).toMatch(/^id,common_name,/);
      expect(lines.slice(1).map((l) => l.split(',')[1])).toEqual(['api-c.inv.test', 'web-a.inv.test', 'old-d.inv.test', 'web-b.inv.test']);

      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, 'inventory');
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('opens a certificate, downloads it, revokes it (OCSP says revoked), and its history shows it', async () => {
    const c = await openConsole(browser, env.base);
    try {
      const { page } = c;
      const cert = certs['web-a.inv.test']!;
      await signIn(page, operatorKey);
      await page.goto('/console/#/certificates?search=web-a');
      await page.getByRole('link', { name: 'web-a.inv.test' }).click();
      await page.getByRole('heading', { name: /web-a\.inv\.test/ }).waitFor();
      await page.getByRole('heading', { name: 'This certificate' }).waitFor();
      await page.getByRole('cell', { name: 'certificate.issue' }).waitFor();

      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'PEM', exact: true }).click()]);
      const file = join(env.dir, 'web-a.pem');
      await download.saveAs(file);
      const pem = readFileSync(file, 'utf8');
      expect(openssl(['x509', '-noout', '-subject'], pem)).toMatch(/CN\s*=\s*web-a\.inv\.test/);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
      // The serial and fingerprint shown are the file's.
      const fingerprint = openssl(['x509', '-noout', '-fingerprint', '-sha256'], pem).split('=')[1]!.trim();
      await page.getByText(fingerprint).waitFor();
      expect(c.problems).toEqual([]);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, 'certificate');

      const open = page.getByRole('button', { name: 'Revoke…' });
      await open.click();
      expect(await open.getAttribute('aria-expanded')).toBe('true');
      await expect.poll(() => page.evaluate('document.activeElement && document.activeElement.id')).toBe('revoke-reason');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, 'certificate-revoke');
      await page.getByLabel('Reason').selectOption('keyCompromise');
      await page.getByRole('button', { name: 'Revoke certificate' }).click();
      await page.getByText('The certificate is revoked.').waitFor();
      await page.getByRole('cell', { name: 'certificate.revoke' }).waitFor();
      expect((await admin('GET', `/v1/certificates/${cert.id}`)).json).toMatchObject({ status: 'revoked', revocation_reason: 'keyCompromise' });

      const issuing = join(env.dir, 'issuing-ca.pem');
      const chain = join(env.dir, 'ca-chain.pem');
      writeFileSync(issuing, env.issuingPem);
      writeFileSync(chain, `${env.issuingPem}${env.rootPem}`);
      let answer = '';
      await until(async () => {
        answer = await ocspQuery(['-issuer', issuing, '-cert', file, '-url', `${env.base}/ocsp`, '-CAfile', chain]);
        return /: revoked/.test(answer);
      }, 15_000, 'OCSP says revoked');
      expect(answer).toMatch(/Reason: keyCompromise/);
      expect(answer).toMatch(/Response verify OK/);
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('downloads an escrowed key as PKCS#12 under the password given', async () => {
    const c = await openConsole(browser, env.base);
    try {
      const { page } = c;
      await signIn(page, operatorKey);
      await page.goto(`/console/#/certificates/${escrowedId}`);
      await page.getByRole('heading', { name: /keyed\.escrow\.test/ }).waitFor();
      await page.getByRole('button', { name: 'PKCS#12 with key…' }).click();
      await page.getByLabel('File password').fill('correct horse');
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download PKCS#12' }).click()]);
      const file = join(env.dir, 'keyed.p12');
      await download.saveAs(file);
      expect(download.suggestedFilename()).toBe('keyed.escrow.test.p12');
      const bundle = openssl(['pkcs12', '-in', file, '-passin', 'pass:correct horse', '-nodes']);
      expect(bundle).toMatch(/BEGIN PRIVATE KEY/);
      expect(bundle).toMatch(/subject=.*CN\s*=\s*keyed\.escrow\.test/);
      await page.getByText('The download is recorded in the audit trail.').waitFor();
      await page.getByRole('cell', { name: 'certificate.key_export' }).waitFor();
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('suspends and reinstates, edits notes and a custom field, and adds a location', async () => {
    const c = await openConsole(browser, env.base);
    try {
      const { page } = c;
      const cert = certs['web-b.inv.test']!;
      await signIn(page, operatorKey);
      await page.goto(`/console/#/certificates/${cert.id}`);
      await page.getByRole('heading', { name: /web-b\.inv\.test/ }).waitFor();

      await page.getByRole('button', { name: 'Suspend…' }).click();
      await page.getByRole('button', { name: 'Suspend certificate' }).click();
      await page.getByText('The certificate is suspended').waitFor();
      expect((await admin('GET', `/v1/certificates/${cert.id}`)).json).toMatchObject({ status: 'revoked', revocation_reason: 'certificateHold' });
      await page.getByRole('button', { name: 'Reinstate' }).click();
      await page.getByText('The certificate is reinstated').waitFor();
      expect((await admin('GET', `/v1/certificates/${cert.id}`)).json).toMatchObject({ status: 'active' });

      await page.getByRole('textbox', { name: 'Notes', exact: true }).fill('rotated by the web team');
      await page.getByLabel('Custom field team').fill('green');
      await page.getByRole('button', { name: 'Save fields' }).click();
      await page.getByText('Saved.').waitFor();
      const edited = (await admin('GET', `/v1/certificates/${cert.id}`)).json as unknown as Cert;
      expect(edited.notes).toBe('rotated by the web team');
      expect(edited.custom_fields).toEqual({ team: 'green' });

      await page.getByRole('button', { name: 'Add a location…' }).click();
      await expect.poll(() => page.evaluate('document.activeElement && document.activeElement.id')).toBe('loc-host');
      await page.getByLabel('Host').fill('lb1.inv.test');
      await page.getByLabel('Port').fill('443');
      await page.getByLabel('Kind').fill('load-balancer');
      await page.getByRole('button', { name: 'Add location' }).click();
      await page.getByText('Location lb1.inv.test added.').waitFor();
      await page.getByRole('cell', { name: 'lb1.inv.test:443' }).waitFor();
      const locations = (await admin('GET', `/v1/certificates/${cert.id}/locations`)).json.locations as { host: string; port: number; kind: string }[];
      expect(locations).toEqual([expect.objectContaining({ host: 'lb1.inv.test', port: 443, kind: 'load-balancer' })]);

      for (const action of ['certificate.reinstate', 'certificate.edit', 'location.add']) await page.getByRole('cell', { name: action }).first().waitFor();

      // Renew: a new certificate with the same names; its new key is offered once, to save.
      await page.getByRole('button', { name: 'Renew…' }).click();
      await page.getByRole('button', { name: 'Renew certificate' }).click();
      await page.getByText('Renewed: a new certificate with the same names was issued.').waitFor();
      await page.getByRole('button', { name: 'Save the private key' }).waitFor();
      await page.getByRole('link', { name: 'web-b.inv.test' }).click();
      await page.getByText('Renews', { exact: true }).waitFor();
      const renewedId = page.url().split('/certificates/')[1] as string;
      expect(renewedId).not.toBe(cert.id);
      expect((await admin('GET', `/v1/certificates/${renewedId}`)).json).toMatchObject({ common_name: 'web-b.inv.test', supersedes: cert.id });
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('offers a read-only credential no change; the API refuses one anyway, and the page says why it cannot open another CA\'s certificate', async () => {
    const reader = await env.restKey('inventory-reader', [{ ca: env.issuingId, actions: ['read'] }]);
    const otherCa = await env.restKey('inventory-other-ca', [{ ca: env.rootId, actions: ['read'] }]);
    const cert = certs['api-c.inv.test']!;
    const c = await openConsole(browser, env.base);
    try {
      const { page } = c;
      await signIn(page, reader.token);
      await page.goto(`/console/#/certificates/${cert.id}`);
      await page.getByRole('heading', { name: /api-c\.inv\.test/ }).waitFor();
      await page.getByText('Your credential may read this certificate, not change it.').waitFor();
      expect(await page.getByRole('button', { name: 'Revoke…' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Save fields' }).count()).toBe(0);
      expect(await page.getByRole('link', { name: 'PEM', exact: true }).count()).toBe(1);

      // A revoke sent from the page anyway (the session's own CSRF token) is refused, in words.
      const signedIn = (await (await page.request.get(new URL('/console/session', env.base).toString())).json()) as { csrfToken: string };
      const refused = await page.request.post(new URL(`/v1/certificates/${cert.id}/revoke`, env.base).toString(), { data: {}, headers: { 'x-csrf-token': signedIn.csrfToken } });
      expect(refused.status()).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toMatch(/revoke/);
      expect((await admin('GET', `/v1/certificates/${cert.id}`)).json).toMatchObject({ status: 'active' });
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }

    const other = await openConsole(browser, env.base);
    try {
      await signIn(other.page, otherCa.token);
      await other.page.goto(`/console/#/certificates/${cert.id}`);
      await other.page.getByText(/Could not open this certificate: Your credential is not allowed to do this/).waitFor();
      expect(other.problems).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
