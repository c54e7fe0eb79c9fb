// The console's sign-in in headless Chromium, and its session over HTTP: the cookie's attributes,
// CSRF on every change, sign-out everywhere, and the page's Content-Security-Policy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, openConsole, screenshot, seriousA11yViolations, signIn } from './helpers/browser.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { httpRequest } from './helpers/http.js';

const skip = chromiumMissing();

const sessionCookieOf = (setCookie: string | string[] | undefined): string => {
  const line = [setCookie ?? []].flat().find((c) => c.startsWith('__Host-certgate_session='));
  if (!line) throw new Error('no __Host-certgate_session cookie was set');
  return line;
};

describe.skipIf(skip)('console session', () => {
  const d = REST_DEPLOYMENTS[0]!;
  let env: RestEnv;
  let browser: Browser;
  beforeAll(async () => {
    env = await startRestEnv(d);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it('serves the console with a strict CSP and no inline script', async () => {
    const res = await httpRequest(`${env.base}/console/`, { method: 'GET' });
    expect(res.status).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.text).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i);
  });

  it('exchanges an API key for an HttpOnly, Secure, SameSite=Strict session; a change needs the CSRF token', async () => {
    const { credential, token } = await env.restKey('session-http', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
    const refused = await httpRequest(`${env.base}/console/session`, { method: 'POST', json: { key: `${token}x` } });
    expect(refused.status).toBe(401);
    const res = await httpRequest(`${env.base}/console/session`, { method: 'POST', json: { key: token } });
    expect(res.status, res.text).toBe(201);
    const cookie = sessionCookieOf(res.headers['set-cookie']);
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*Secure/i);
    expect(cookie).toMatch(/;\s*SameSite=Strict/i);
    expect(cookie).toMatch(/;\s*Path=\//i);
    expect(res.text).not.toContain(cookie.split(';')[0]!.split('=')[1]!);
    const csrf = String(res.json.csrfToken);
    const sessionCookie = cookie.split(';')[0]!;

    // Reads with the cookie alone; the credential is the session's.
    const me = await httpRequest(`${env.base}/v1/whoami`, { method: 'GET', headers: { cookie: sessionCookie } });
    expect(me.status).toBe(200);
    expect((me.json.apiKey as { id: string }).id).toBe(credential.id);

    // A change without the token (what a forged cross-site form would send) is refused; with it, it goes through.
    const body = { mode: 'managed', productId: env.productId, commonName: 'csrf.example.test' };
    const forged = await httpRequest(`${env.base}/v1/certificates`, { method: 'POST', json: body, headers: { cookie: sessionCookie } });
    expect(forged.status).toBe(403);
    expect(forged.text).toMatch(/CSRF/);
    const wrong = await httpRequest(`${env.base}/v1/certificates`, { method: 'POST', json: body, headers: { cookie: sessionCookie, 'x-csrf-token': `${csrf}A` } });
    expect(wrong.status).toBe(403);
    const made = await httpRequest(`${env.base}/v1/certificates`, { method: 'POST', json: body, headers: { cookie: sessionCookie, 'x-csrf-token': csrf } });
    expect(made.status, made.text).toBe(201);

    // A session is not a bearer token.
    const asBearer = await httpRequest(`${env.base}/v1/whoami`, { method: 'GET', bearer: sessionCookie.split('=')[1]! });
    expect(asBearer.status).toBe(401);

    // Signing out ends the session for every copy of the cookie.
    const out = await httpRequest(`${env.base}/console/session`, { method: 'DELETE', headers: { cookie: sessionCookie, 'x-csrf-token': csrf } });
    expect(out.status).toBe(204);
    const after = await httpRequest(`${env.base}/v1/whoami`, { method: 'GET', headers: { cookie: sessionCookie } });
    expect(after.status).toBe(401);

    const audit = await env.api('GET', `/v1/audit?actor=${credential.id}`, env.adminToken);
    const actions = (audit.json.entries as { action: string; protocol: string }[]).map((e) => `${e.action}/${e.protocol}`);
    // The enrollment is REST's (the API the console calls); the refused changes and the session's own steps are the console's.
    expect(actions).toEqual(expect.arrayContaining(['console.sign_in/console', 'request.submit/rest', 'auth.refused/console', 'console.sign_out/console']));
  });

  it('a revoked credential ends its session', async () => {
    const { credential, token } = await env.restKey('session-revoked', [{ ca: env.issuingId, actions: ['read'] }]);
    const res = await httpRequest(`${env.base}/console/session`, { method: 'POST', json: { key: token } });
    const sessionCookie = sessionCookieOf(res.headers['set-cookie']).split(';')[0]!;
    expect((await httpRequest(`${env.base}/v1/whoami`, { method: 'GET', headers: { cookie: sessionCookie } })).status).toBe(200);
    expect((await env.api('POST', `/v1/credentials/${credential.id}/revoke`, env.adminToken)).status).toBe(200);
    expect((await httpRequest(`${env.base}/v1/whoami`, { method: 'GET', headers: { cookie: sessionCookie } })).status).toBe(401);
  });

  it('signs in and out in Chromium with no console error or CSP violation', async () => {
    const { token } = await env.restKey('session-browser', [{ ca: env.issuingId, actions: ['read'] }]);
    const c = await openConsole(browser, env.base);
    try {
      await c.page.goto('/console/');
      await c.page.getByLabel('API key').fill('cg_nope_nope');
      await c.page.getByRole('button', { name: 'Sign in' }).click();
      await c.page.getByText('That key was not accepted').waitFor();
      expect(await seriousA11yViolations(c.page)).toEqual([]);
      await screenshot(c.page, 'sign-in');
      await signIn(c.page, token);
      await c.page.getByText('Signed in as').waitFor();
      await c.page.getByRole('button', { name: 'Sign out' }).click();
      await c.page.getByRole('button', { name: 'Sign in' }).waitFor();
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('lays the console out from a laptop window to a wide screen: nothing runs off the side, the navigation is reachable', async () => {
    const { token } = await env.restKey('session-layout', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
    const c = await openConsole(browser, env.base);
    try {
      await signIn(c.page, token);
      for (const [name, width, height] of [['narrow', 900, 800], ['laptop', 1280, 800], ['wide', 1920, 1080]] as const) {
        await c.page.setViewportSize({ width, height });
        await c.page.goto('/console/#/certificates');
        await c.page.getByRole('heading', { level: 1 }).waitFor();
        // The page itself never scrolls sideways (a wide table scrolls inside its own region).
        expect(await c.page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), name).toBe(true);
        if (width < 960) {
          // Narrow: the navigation folds behind a Menu button that says whether it is open.
          const menu = c.page.getByRole('button', { name: 'Menu' });
          await expect(menu.getAttribute('aria-expanded')).resolves.toBe('false');
          await menu.click();
          await expect(menu.getAttribute('aria-expanded')).resolves.toBe('true');
        }
        await c.page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Certificates' }).waitFor();
        expect(await seriousA11yViolations(c.page), name).toEqual([]);
        await screenshot(c.page, `layout-${name}`);
      }
      // An admin's page reached by its address: said in words, and no form to fill that the API would refuse.
      for (const page of ['credentials', 'audit']) {
        await c.page.goto(`/console/#/${page}`);
        await c.page.getByText('This page is for admin credentials').waitFor();
        expect(await c.page.getByRole('button', { name: /New credential|Verify now/ }).count()).toBe(0);
      }
      expect(c.problems).toEqual([]);
    } finally {
      await c.close();
    }
  });

  // Last: it spends this address's sign-ins for the minute.
  it('limits sign-ins per address (429 with Retry-After), audited once', async () => {
    let status = 0;
    let retryAfter: unknown;
    for (let i = 0; i < 70 && status !== 429; i++) {
      const res = await httpRequest(`${env.base}/console/session`, { method: 'POST', json: { key: 'not-a-key' } });
      status = res.status;
      retryAfter = res.headers['retry-after'];
    }
    expect(status).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    const audit = await env.api('GET', '/v1/audit?action=rate_limit.refused', env.adminToken);
    expect((audit.json.entries as { target: string; protocol: string }[]).filter((e) => e.protocol === 'console')).toHaveLength(1);
  });
});
