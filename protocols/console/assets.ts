// The console's pages: the files `npm run build` bundled into console/dist (the browser app in
// console/src), served with a Content-Security-Policy that allows only this origin's own script,
// style and calls. Nothing is loaded from anywhere else, so the console works with no way out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Response, type Router } from 'express';
import { packageRoot } from '../../src/version.js';

/** Where the build puts the bundle (see console/build.ts). */
export const CONSOLE_DIST = join(packageRoot(), 'console', 'dist');

// No inline script or style anywhere (not even style attributes): the bundle is one script file and
// one stylesheet. Downloads are links to the REST API on this origin.
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const secured = (res: Response): Response =>
  res.set({ 'Content-Security-Policy': CONSOLE_CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY', 'Cross-Origin-Opener-Policy': 'same-origin' });

export function assetsRouter(): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    secured(res);
    next();
  });
  router.get('/', (req, res) => {
    // The page's relative URLs need the trailing slash: /console → /console/.
    const path = req.originalUrl.split('?')[0] as string;
    if (!path.endsWith('/')) {
      res.redirect(301, `${path.slice(path.lastIndexOf('/') + 1)}/`);
      return;
    }
    if (!existsSync(join(CONSOLE_DIST, 'index.html'))) {
      res.status(503).type('text/plain').send('The console has not been built: run `npm run build` (npm ci does it too).\n');
      return;
    }
    res.set('Cache-Control', 'no-cache').sendFile(join(CONSOLE_DIST, 'index.html'));
  });
  // Bundled files are named by their content's hash: cached for good.
  router.use('/assets', express.static(join(CONSOLE_DIST, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: false }));
  return router;
}
