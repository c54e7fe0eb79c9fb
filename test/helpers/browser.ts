// The console driven in headless Chromium (Debian's chromium, through playwright-core): a page
// that records every console error, uncaught exception and Content-Security-Policy violation (a
// suite fails on any), an axe-core scan, and screenshots saved as the run's artifacts
// (test-artifacts/console/).
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { findBinary, missingBinaryReason } from '../harness/binaries.js';

export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');

/** Why the suite is skipped (no Chromium to drive), or null; CERTGATE_REQUIRE_ALL=1 makes a missing one a failure. */
export const chromiumMissing = (): string | null => missingBinaryReason('chromium', 'apt-get install -y chromium');

export async function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: findBinary('chromium') as string, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** Answers the API refuses on purpose (a refused approval, a signed-out page) are logged by Chromium as errors too: those are not problems. */
const EXPECTED_REFUSAL = /^Failed to load resource: the server responded with a status of (400|401|403|404|409|422)\b/;

export interface ConsoleBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and CSP violations so far; a test expects none. */
  problems: string[];
  close(): Promise<void>;
}

/** A fresh browser context (its own cookies) with one page, watched for problems. */
export async function openConsole(browser: Browser, baseUrl: string): Promise<ConsoleBrowser> {
  const context = await browser.newContext({ baseURL: baseUrl, acceptDownloads: true, viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  // Runs before the console's own script, through DevTools (not subject to the page's CSP).
  // (Scripts for the page are text here: this project's tests are typed for Node, not the DOM.)
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => {
      console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')');
    });`,
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (EXPECTED_REFUSAL.test(text)) return;
    problems.push(`console error: ${text} (${msg.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return { context, page, problems, close: () => context.close() };
}

/** Signs in with a REST credential's key and waits for the signed-in frame. */
export async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/console/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** axe-core's violations of serious or critical impact on the page as it is now. */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through DevTools: the page's CSP (no inline script, no eval) does not apply to it.
  await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
    r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Saves a full-page screenshot as test-artifacts/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
