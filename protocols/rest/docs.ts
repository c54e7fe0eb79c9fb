// /docs: the REST API's OpenAPI document in Swagger UI, served from the swagger-ui-dist package
// (no CDN: the viewer works where the gateway has no way out, and loads nothing it did not ship).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type ErrorRequestHandler, type Response } from 'express';
import { classifyFailure, plainAnswerOf } from '../../src/core/failure.js';
import type { ProtocolModule } from '../../src/core/protocol.js';
import { REST_PATH } from './index.js';
import { OPENAPI_PATH } from './openapi.js';

export const DOCS_PATH = '/docs';

const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
/** What the page loads; the package's other files (its own index.html, node entry points) stay unserved. */
const ASSETS = new Set(['/swagger-ui.css', '/index.css', '/swagger-ui-bundle.js', '/swagger-ui-standalone-preset.js', '/favicon-32x32.png', '/favicon-16x16.png']);

// No inline script or style element anywhere: the page runs under a CSP that forbids them. Swagger
// UI sets element styles from script, which style-src 'unsafe-inline' still has to allow.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Relative URLs throughout, so that the page also works behind a proxy that adds a prefix.
const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>certgate REST API</title>
    <link rel="stylesheet" type="text/css" href="./swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="./index.css">
    <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
`;

/** The page is at <docs>/, the document at <rest>/openapi: one level up, then down. */
const documentUrl = `..${REST_PATH}${OPENAPI_PATH}`;

const INITIALIZER = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(documentUrl)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    // The public validator would be sent our document: nothing leaves for a third party.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
});
`;

const secured = (res: Response): Response => res.set({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' });

const docsErrors: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
  const answer = plainAnswerOf(classifyFailure(err));
  res.status(answer.status).set(answer.headers).json({ error: answer.sentence });
};

export const docsProtocol: ProtocolModule = {
  name: 'docs',
  mount: () => {
    const router = express.Router();
    router.get('/', (req, res) => {
      // The page's relative URLs need the trailing slash: /docs → /docs/.
      const path = req.originalUrl.split('?')[0] as string;
      if (!path.endsWith('/')) {
        res.redirect(301, `${path.slice(path.lastIndexOf('/') + 1)}/`);
        return;
      }
      secured(res).type('html').send(PAGE);
    });
    router.get('/swagger-initializer.js', (_req, res) => {
      secured(res).type('application/javascript').send(INITIALIZER);
    });
    const assets = express.static(SWAGGER_UI_DIR, { index: false, redirect: false, maxAge: '1d' });
    router.use((req, res, next) => {
      if (!ASSETS.has(req.path)) {
        next();
        return;
      }
      secured(res);
      assets(req, res, next);
    });
    router.use((req, res) => {
      res.status(404).json({ error: `not found: ${req.method} ${req.baseUrl}${req.path}` });
    });
    router.use(docsErrors);
    return { path: DOCS_PATH, router };
  },
};
