// The console's operations pages in headless Chromium (embedded deployment; the API beneath is
// tested on both elsewhere): the approval queue with four eyes and a declined request, credentials
// created, rotated with grace and revoked, the domain registry, and the audit trail with its verdict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { chromiumMissing, launchChromium, openConsole, screenshot, seriousA11yViolations, signIn, type ConsoleBrowser } from './helpers/browser.js';
import { makeCsr, opensslVerify } from './helpers/openssl.js';
import { openRawDb } from './helpers/rawDb.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

const skip = chromiumMissing();

describe.skipIf(skip)('console operations pages', () => {
  const d = REST_DEPLOYMENTS[0]!;
  let env: RestEnv;
  let browser: Browser;
  let held: string;
  let requester: { credential: { id: string }; token: string };
  let approver: { credential: { id: string }; token: string };
  const opened: ConsoleBrowser[] = [];

  beforeAll(async () => {
    env = await startRestEnv(d);
    browser = await launchChromium();
    held = (await createProduct(env.server.rt.store, { name: 'held-for-approval', caId: env.issuingId, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT)).id;
    requester = await env.restKey('requester-a', [{ ca: env.issuingId, actions: ['read', 'issue', 'approve'] }]);
    approver = await env.restKey('approver-b', [{ ca: env.issuingId, actions: ['read', 'approve'] }]);
  });
  afterAll(async () => {
    for (const c of opened) await c.close().catch(() => undefined);
    await browser?.close();
    await env?.close();
  });

  const consoleAs = async (key: string): Promise<ConsoleBrowser> => {
    const c = await openConsole(browser, env.base);
    opened.push(c);
    await signIn(c.page, key);
    return c;
  };
  const go = async (page: Page, fragment: string) => {
    await page.evaluate(`window.location.hash = ${JSON.stringify(fragment)}`);
  };
  const submit = async (cn: string): Promise<string> => {
    const res = await env.api('POST', '/v1/certificates', requester.token, { mode: 'csr', productId: held, csrPem: makeCsr(env.dir, { subject: `/CN=${cn}` }).csrPem });
    expect(res.status, res.text).toBe(202);
    return res.json.request_id as string;
  };
  const requestOf = async (id: string) => (await env.api('GET', `/v1/requests/${id}`, env.adminToken)).json;
  const whoamiWith = (token: string) => env.api('GET', '/v1/whoami', token);

  it('four eyes: the requester is refused in words; a second approver approves and the certificate is issued; a decline needs a comment', async () => {
    const toApprove = await submit('approve.ops.test');
    const toDecline = await submit('decline.ops.test');

    const a = await consoleAs(requester.token);
    await go(a.page, '#/requests');
    await a.page.getByRole('cell', { name: 'approve.ops.test', exact: true }).waitFor();
    await a.page.getByRole('button', { name: 'Approve the request for approve.ops.test' }).click();
    await a.page.getByText('You requested this certificate, so another approver must approve it').waitFor();
    expect((await requestOf(toApprove)).status).toBe('pending_approval');
    expect(a.problems).toEqual([]);

    const b = await consoleAs(approver.token);
    await go(b.page, '#/requests');
    await b.page.getByRole('cell', { name: 'decline.ops.test', exact: true }).waitFor();
    expect(await seriousA11yViolations(b.page)).toEqual([]);
    await screenshot(b.page, 'requests');

    await b.page.getByRole('button', { name: 'Approve the request for approve.ops.test' }).click();
    await b.page.getByRole('status').getByText('Approved the request for approve.ops.test').waitFor();
    await until(async () => (await requestOf(toApprove)).status === 'issued', 20_000, 'the approved request is issued');
    const certId = (await requestOf(toApprove)).certificate_id as string;
    const pem = (await env.api('GET', `/v1/certificates/${certId}`, env.adminToken)).json.certificate_pem as string;
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);

    // Declining: an empty comment is refused by the form, and nothing is sent.
    const opener = b.page.getByRole('button', { name: 'Decline the request for decline.ops.test' });
    await opener.click();
    expect(await opener.getAttribute('aria-expanded')).toBe('true');
    const comment = b.page.getByLabel('Why it is declined');
    await until(() => comment.evaluate((el) => el === el.ownerDocument.activeElement), 5_000, 'the comment field has the focus');
    await b.page.getByRole('button', { name: 'Decline request' }).click();
    await b.page.getByText('a comment is required').waitFor();
    expect((await requestOf(toDecline)).status).toBe('pending_approval');
    await comment.fill('Not a host of ours');
    await b.page.getByRole('button', { name: 'Decline request' }).click();
    await b.page.getByRole('status').getByText('Declined the request for decline.ops.test').waitFor();
    const declined = await requestOf(toDecline);
    expect(declined.status).toBe('rejected');
    expect(JSON.stringify(declined)).toContain('Not a host of ours');

    // Filters live in the fragment: the declined request under "rejected", nothing under "failed".
    await b.page.getByLabel('Status').selectOption('rejected');
    await b.page.getByRole('cell', { name: 'decline.ops.test', exact: true }).waitFor();
    expect(await b.page.evaluate('window.location.hash')).toContain('status=rejected');
    expect(await b.page.getByRole('cell', { name: 'approve.ops.test', exact: true }).count()).toBe(0);
    await b.page.getByLabel('Status').selectOption('failed');
    await b.page.getByText('No request matches these filters.').waitFor();

    // The issued request's page: its facts and the link to its certificate.
    await go(b.page, `#/requests/${toApprove}`);
    await b.page.getByRole('link', { name: 'Open the certificate' }).waitFor();
    expect(await b.page.getByRole('link', { name: 'Open the certificate' }).getAttribute('href')).toBe(`#/certificates/${certId}`);
    expect(await seriousA11yViolations(b.page)).toEqual([]);
    await screenshot(b.page, 'request');
    expect(b.problems).toEqual([]);
  });

  it('credentials: one created shows its secret once, which works; rotated with grace both secrets work; another revoked stops working', async () => {
    const doomed = await env.restKey('to-revoke', [{ ca: env.issuingId, actions: ['read'] }]);
    const c = await consoleAs(env.adminToken);
    const { page } = c;
    await go(page, '#/credentials');
    await page.getByRole('cell', { name: 'to-revoke', exact: true }).waitFor();

    await page.getByRole('button', { name: 'New credential' }).click();
    await page.getByLabel('Name').fill('ops-made');
    await page.getByLabel('All products, present and future').check();
    await page.getByRole('group', { name: 'Every CA' }).getByLabel('read').check();
    await page.getByRole('button', { name: 'Create credential' }).click();
    await page.getByText('Shown once: store it now').waitFor();
    const secret = await page.getByLabel('Secret', { exact: true }).inputValue();
    const me = await whoamiWith(secret);
    expect(me.status).toBe(200);
    expect((me.json.apiKey as { name: string }).name).toBe('ops-made');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.getByText('Shown once: store it now').waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(secret);

    // By keyboard alone: Enter opens the panel, focus lands on its field, Enter there confirms.
    const focused = (name: string) => page.getByRole('button', { name }).evaluate((el) => el === el.ownerDocument.activeElement);
    await page.getByRole('button', { name: 'Revoke ops-made' }).focus();
    await page.keyboard.press('Enter');
    // Focus moves into the panel (to its confirm button: it has no field).
    await until(() => focused('Revoke credential'), 5_000, 'the revoke panel has the focus');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Revoke credential' }).waitFor({ state: 'detached' });
    await until(() => focused('Revoke ops-made'), 5_000, 'the focus is back on the button that opened the panel');
    await page.getByRole('button', { name: 'Rotate ops-made' }).focus();
    await page.keyboard.press('Enter');
    const grace = page.getByLabel('Grace period (hours)');
    await until(() => grace.evaluate((el) => el === el.ownerDocument.activeElement), 5_000, 'the grace field has the focus');
    await page.keyboard.press('Enter');
    await page.getByText('Shown once: store it now').waitFor();
    const rotated = await page.getByLabel('Secret', { exact: true }).inputValue();
    expect(rotated).not.toBe(secret);
    expect((await whoamiWith(rotated)).status).toBe(200);
    expect((await whoamiWith(secret)).status).toBe(200); // the grace period
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.getByText('Shown once: store it now').waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(rotated);

    // Its page: the old secret's end of grace, and the changes made to it.
    await page.getByRole('link', { name: 'ops-made' }).click();
    await page.getByText('Old secret works until').waitFor();
    await page.getByRole('region', { name: 'Changes to this credential' }).getByRole('cell', { name: 'credential.rotate', exact: true }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'credential');
    await go(page, '#/credentials');

    expect((await whoamiWith(doomed.token)).status).toBe(200);
    await page.getByRole('button', { name: 'Revoke to-revoke' }).click();
    await page.getByRole('button', { name: 'Revoke credential' }).click();
    await page.getByRole('status').getByText('Revoked to-revoke').waitFor();
    expect((await whoamiWith(doomed.token)).status).toBe(401);
    await page.getByRole('button', { name: 'Rotate ops-made' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'credentials');
    expect(c.problems).toEqual([]);
  });

  it('domains: a domain added over REST is listed with its validation state', async () => {
    const added = await env.api('POST', '/v1/domains', env.adminToken, { name: 'registry.ops.test' });
    expect(added.status, added.text).toBe(201);
    const c = await consoleAs(env.adminToken);
    await go(c.page, '#/domains');
    const row = c.page.getByRole('row').filter({ has: c.page.getByRole('cell', { name: 'registry.ops.test', exact: true }) });
    await row.waitFor();
    expect(await row.getByText('pending').count()).toBeGreaterThan(0);
    expect(await seriousA11yViolations(c.page)).toEqual([]);
    await screenshot(c.page, 'domains');
    expect(c.problems).toEqual([]);
  });

  it('audit: the decisions are in the trail, which verifies', async () => {
    const c = await consoleAs(env.adminToken);
    const { page } = c;
    await go(page, '#/audit');
    await page.getByText(/All \d+ entries verify/).waitFor();
    await page.getByLabel('Action').fill('request.approve');
    await page.getByRole('button', { name: 'Filter' }).click();
    // The refused approval by the requester and the second approver's, each with its actor.
    await page.getByRole('cell', { name: approver.credential.id, exact: true }).first().waitFor();
    await page.getByRole('cell', { name: requester.credential.id, exact: true }).first().waitFor();
    expect(await page.getByRole('cell', { name: 'refused' }).count()).toBeGreaterThan(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'audit');

    // An entry altered in the database behind certgate's back: Verify now says which, and how.
    const raw = await openRawDb(undefined, env.dir);
    try {
      const [row] = (await raw.rows("select seq, target from audit_log where action = 'request.decline'")) as [{ seq: number; target: string }];
      await raw.exec('update audit_log set target = ? where seq = ?', ['forged', row.seq]);
      await page.getByRole('button', { name: 'Verify now' }).click();
      await page.getByRole('alert').getByText(`Entry ${row.seq} (altered)`).waitFor();
      await raw.exec('update audit_log set target = ? where seq = ?', [row.target, row.seq]);
      await page.getByRole('button', { name: 'Verify now' }).click();
      await page.getByText(/All \d+ entries verify/).waitFor();
    } finally {
      await raw.close();
    }
    expect(c.problems).toEqual([]);
  });
});
