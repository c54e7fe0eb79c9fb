// The console's dashboard, products and CAs in headless Chromium (embedded deployment): the charts
// and counts show what the signed-in credential may read, the alerts lead to the filtered views, an
// admin makes an issuing CA and a product and edits it (a certificate issued afterwards follows the
// edit and verifies against the new CA), and a non-admin gets no create or edit controls.
import { randomBytes, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { chromiumMissing, launchChromium, openConsole, screenshot, seriousA11yViolations, signIn } from './helpers/browser.js';
import { opensslVerify } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

const skip = chromiumMissing();
const DAY_MS = 86_400_000;
const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

describe.skipIf(skip)('console: dashboard, products and CAs', () => {
  const d = REST_DEPLOYMENTS[0]!;
  let env: RestEnv;
  let browser: Browser;
  let adminKey: string;
  beforeAll(async () => {
    env = await startRestEnv(d);
    browser = await launchChromium();
    adminKey = (await env.server.rt.credentials.create({ type: 'rest', name: 'console-admin', products: '*', permissions: [{ ca: '*', actions: ['read', 'issue', 'revoke', 'approve'] }], admin: true }, CLI_CONTEXT)).secret;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await env.api(method, path, env.adminToken, body);
    expect(res.status, res.text).toBeLessThan(300);
    return res.json;
  };
  const checked = async (page: Page, name: string) => {
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, name);
  };

  it('shows a reader its own CA\'s issuance, expiry, counts and alerts, and another CA\'s reader none of them', async () => {
    const ca = (await admin('POST', '/v1/cas', { name: unique('dash-ca'), parent_ca_id: env.rootId, validity_days: 400 })).ca as { id: string };
    const other = (await admin('POST', '/v1/cas', { name: unique('dash-other'), parent_ca_id: env.rootId, validity_days: 400 })).ca as { id: string };
    const product = (await admin('POST', '/v1/products', { name: unique('dash'), ca_id: ca.id, template: { defaultValidityDays: 20 } })).product as { id: string };
    const held = (await admin('POST', '/v1/products', { name: unique('dash-held'), ca_id: ca.id, template: { requiresApproval: true } })).product as { id: string };
    for (let i = 0; i < 3; i++) await admin('POST', '/v1/certificates', { productId: product.id, commonName: `d${i}.dash.test` });
    const pending = await env.api('POST', '/v1/certificates', env.adminToken, { productId: held.id, commonName: 'held.dash.test' });
    expect(pending.status, pending.text).toBe(202);
    const reader = await env.restKey(unique('dash-reader'), [{ ca: ca.id, actions: ['read', 'approve'] }]);
    // The reader's domain, failed as the validator records it (a real validation would leave loopback).
    const rt = env.server.rt;
    const domain = await rt.domains.add({ name: `${unique('failed')}.dash.test`, holder: `credential:${reader.credential.id}`, createdBy: 'cli' }, CLI_CONTEXT);
    await rt.store.domains.move(domain.domain.id, ['pending'], { status: 'failed', lastError: 'no TXT record found' }, () => null);
    const stranger = await env.restKey(unique('dash-stranger'), [{ ca: other.id, actions: ['read'] }]);

    const c = await openConsole(browser, env.base);
    try {
      await signIn(c.page, reader.token);
      const page = c.page;
      const issued = page.getByRole('img', { name: /Certificates issued per day/ });
      await issued.waitFor();
      expect(await issued.getAttribute('aria-label')).toMatch(/3 in all; most in one day: 3/);
      expect(await page.getByRole('img', { name: /Certificates expiring per week/ }).getAttribute('aria-label')).toMatch(/3 in all; most in one week: 3/);
      await page.getByText('3 certificates expire within 30 days.').waitFor();
      await page.getByText('1 request waits for approval.').waitFor();
      await page.getByText(`Domain validation failed for 1 domain: ${domain.domain.name}.`).waitFor();
      await checked(page, 'dashboard');
      // The numbers as a table: today's row says 3, and the third week's (20 days out) too.
      await page.getByText('Show the numbers as a table').first().click();
      const issuedRows = page.getByRole('table', { name: /Certificates issued per day/ }).getByRole('row');
      await expect.poll(() => issuedRows.count()).toBe(31);
      expect(await issuedRows.last().getByRole('cell').textContent()).toBe('3');
      await page.getByText('Show the numbers as a table').last().click();
      const weekCells = await page.getByRole('table', { name: /Certificates expiring per week/ }).getByRole('cell').allTextContents();
      expect(weekCells).toEqual(['0', '0', '3', '0', '0', '0', '0', '0', '0', '0', '0', '0']);
      const counts = page.getByRole('list', { name: 'Counts' });
      expect(await counts.getByRole('listitem').filter({ hasText: 'Active certificates' }).locator('.count').textContent()).toBe('3');
      expect(await counts.getByRole('listitem').filter({ hasText: 'Waiting for approval' }).locator('.count').textContent()).toBe('1');
      await page.getByRole('link', { name: 'See the expiring certificates' }).click();
      await expect.poll(() => new URL(page.url()).hash).toBe('#/certificates?expiringInDays=30&status=active');
      // The inventory, filtered: the reader's three certificates.
      const rows = page.getByRole('table', { name: 'Certificates' }).getByRole('row');
      await expect.poll(() => rows.count()).toBe(4);
      for (let i = 0; i < 3; i++) await page.getByRole('table', { name: 'Certificates' }).getByRole('link', { name: `d${i}.dash.test` }).first().waitFor();
      await page.goBack();
      await page.getByRole('link', { name: 'Open the request queue' }).click();
      await expect.poll(() => new URL(page.url()).hash).toBe('#/requests');
      await page.goBack();
      await page.getByRole('link', { name: 'See the domains' }).click();
      await expect.poll(() => new URL(page.url()).hash).toBe('#/domains');
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }

    const s = await openConsole(browser, env.base);
    try {
      await signIn(s.page, stranger.token);
      const issued = s.page.getByRole('img', { name: /Certificates issued per day/ });
      await issued.waitFor();
      expect(await issued.getAttribute('aria-label')).toMatch(/None in this period/);
      expect(await s.page.getByRole('list', { name: 'Counts' }).getByRole('listitem').filter({ hasText: 'Active certificates' }).locator('.count').textContent()).toBe('0');
      await s.page.getByText('Nothing needs attention').waitFor();
      expect(s.problems).toEqual([]);
    } finally {
      await s.close();
    }
  }, 40_000);

  it('lets an admin make an issuing CA and a product on it, and edit the product; a certificate issued afterwards follows the edit', async () => {
    const caName = unique('Console Issuing');
    const productName = unique('console-web');
    const c = await openConsole(browser, env.base);
    try {
      await signIn(c.page, adminKey);
      const page = c.page;
      await page.goto('/console/#/cas');
      await page.getByRole('link', { name: 'New CA' }).click();
      // A taken name: the API's refusal, in words.
      await page.getByLabel('Name').fill('certgate-root');
      await page.getByRole('button', { name: 'Create CA' }).click();
      await page.getByText('Could not create the CA: Name: a CA named "certgate-root" already exists.').waitFor();
      await checked(page, 'ca-new');
      await page.getByLabel('Name').fill(caName);
      await page.getByLabel('Subject').fill(`CN=${caName}, O=certgate console test`);
      await page.getByLabel('Parent').selectOption({ label: 'certgate-root (root)' });
      await page.getByLabel('Validity (days)').fill('400');
      await page.getByRole('button', { name: 'Create CA' }).click();
      await page.getByText(`CA ${caName} created.`).waitFor();
      await checked(page, 'ca');
      const caId = decodeURIComponent(new URL(page.url()).hash.replace(/^#\/cas\/([^?]+).*$/, '$1'));
      await page.goto('/console/#/cas');
      await page.getByRole('link', { name: caName }).waitFor();
      await checked(page, 'cas');

      await page.goto('/console/#/products');
      await page.getByRole('link', { name: 'New product' }).click();
      await page.getByLabel('Name').fill(productName);
      await page.getByLabel('CA', { exact: true }).selectOption(caId);
      await page.getByLabel('DNS suffixes').fill('console.test');
      await page.getByLabel('Maximum validity (days)').fill('200');
      await page.getByRole('button', { name: 'Create product' }).click();
      await page.getByText(`Product ${productName} created.`).waitFor();
      await page.getByText('at most 200').waitFor();
      await checked(page, 'product');

      await page.getByRole('link', { name: 'Edit product' }).click();
      // The API's refusal, in words, for a template it will not take.
      await page.getByLabel('Default validity (days)').fill('90');
      await page.getByLabel('Maximum validity (days)').fill('40');
      await page.getByRole('button', { name: 'Save product' }).click();
      await page.getByText(/Could not save the product: .*defaultValidityDays: must not exceed maxValidityDays/).waitFor();
      await checked(page, 'product-edit');
      await page.getByLabel('Default validity (days)').fill('40');
      await page.getByRole('button', { name: 'Save product' }).click();
      await page.getByText(`Product ${productName} saved.`).waitFor();
      await page.getByText('40 days by default, at most 40').waitFor();
      await page.goto('/console/#/products');
      await page.getByRole('link', { name: productName }).waitFor();
      await checked(page, 'products');
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }

    const product = ((await admin('GET', '/v1/products')).products as { id: string; name: string }[]).find((p) => p.name === productName)!;
    const productCa = ((await admin('GET', `/v1/products/${product.id}`)).product as { ca_id: string }).ca_id;
    const ca = (await admin('GET', `/v1/cas/${productCa}`)).ca as { certificate_pem: string; name: string; parent_ca_id: string };
    expect(ca).toMatchObject({ name: caName, parent_ca_id: env.rootId });
    const caPem = ca.certificate_pem;
    const issued = await env.api('POST', '/v1/certificates', env.adminToken, { productId: product.id, commonName: 'www.console.test' });
    expect(issued.status, issued.text).toBe(201);
    const pem = (issued.json.certificate as { certificate_pem: string }).certificate_pem;
    const x509 = new X509Certificate(pem);
    expect(Math.round((Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / DAY_MS)).toBe(40);
    expect(opensslVerify(env.dir, env.rootPem, caPem, pem)).toMatch(/OK/);
    const edits = (await admin('GET', `/v1/audit?action=product.update&target=${product.id}`)).entries as { protocol: string; detail: { changed: Record<string, unknown> } }[];
    expect(edits[0]).toMatchObject({ protocol: 'console', detail: { changed: { maxValidityDays: { from: 200, to: 40 }, defaultValidityDays: { from: 90, to: 40 } } } });
  }, 40_000);

  it('offers a non-admin no create or edit controls, and the API refuses it', async () => {
    const reader = await env.restKey(unique('catalogue-reader'), [{ ca: '*', actions: ['read', 'issue'] }]);
    const c = await openConsole(browser, env.base);
    try {
      await signIn(c.page, reader.token);
      const page = c.page;
      await page.goto('/console/#/products');
      await page.getByRole('table', { name: 'Products' }).waitFor();
      expect(await page.getByRole('link', { name: 'New product' }).count()).toBe(0);
      await page.goto(`/console/#/products/${env.productId}`);
      await page.getByRole('heading', { name: 'Issuing' }).waitFor();
      expect(await page.getByRole('link', { name: 'Edit product' }).count()).toBe(0);
      await page.goto('/console/#/cas');
      await page.getByRole('table', { name: 'Certificate authorities' }).waitFor();
      expect(await page.getByRole('link', { name: 'New CA' }).count()).toBe(0);
      await page.goto('/console/#/products/new');
      await page.getByText('Only an admin credential makes or edits products').waitFor();
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
    expect((await env.api('POST', '/v1/products', reader.token, { name: unique('nope'), ca_id: env.issuingId, template: {} })).status).toBe(403);
    expect((await env.api('POST', '/v1/cas', reader.token, { name: unique('nope') })).status).toBe(403);
  }, 30_000);
});
