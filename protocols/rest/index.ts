// The REST front-end (Certman-shaped JSON over HTTP, bearer credentials). Each route module
// declares its routes on one RestRoutes, which validates them and feeds the OpenAPI document.
import express, { type Router } from 'express';
import type { CoreServices, ProtocolModule } from '../../src/core/protocol.js';
import { AdminRoutes } from './adminRoutes.js';
import { mountAuditRoutes } from './auditRoutes.js';
import { authenticate, refuseSecretsInUrl } from './auth.js';
import { mountCaRoutes } from './caRoutes.js';
import { mountCertificateAuditRoutes } from './certificateAuditRoutes.js';
import { mountCertificateRoutes } from './certificateRoutes.js';
import { restCredential } from './credential.js';
import { restConfig } from './config.js';
import { mountCredentialRoutes, mountTokenRoute } from './credentialRoutes.js';
import { mountDomainRoutes } from './domainRoutes.js';
import { mountDownloadRoutes } from './downloadRoutes.js';
import { restErrorHandler } from './errors.js';
import { mountInventoryRoutes } from './inventoryRoutes.js';
import { mountLifecycleRoutes } from './lifecycleRoutes.js';
import { mountLocationRoutes } from './locationRoutes.js';
import { mountOpenApiRoute } from './openapi.js';
import { mountOrganizationRoutes } from './organizationRoutes.js';
import { mountProductRoutes } from './productRoutes.js';
import { rateLimit } from './rateLimit.js';
import { mountReportRoutes } from './reportRoutes.js';
import { mountRequestRoutes } from './requestRoutes.js';
import { RestRoutes } from './route.js';
import { mountVerifyRoutes } from './verifyRoutes.js';
import { mountWebhookRoutes } from './webhookRoutes.js';

/** Where the REST API lives; the /docs viewer finds the document under it. */
export const REST_PATH = '/v1';

export const restProtocol: ProtocolModule = {
  name: 'rest',
  credentialKind: restCredential,
  config: restConfig,
  mount(core) {
    const { router, adminRoutes } = createRestRouter(core);
    return {
      path: REST_PATH,
      router,
      serveAdminRoutes(declarations) {
        for (const { protocol, declare } of declarations) declare(adminRoutes.kitFor(protocol));
      },
    };
  },
};

/** Routes that need a credential, in the order they are matched. */
const AUTHENTICATED_MODULES: ((routes: RestRoutes, core: CoreServices) => void)[] = [
  mountCaRoutes,
  // Before the certificate routes: /certificates/import and /certificates/imported/revoke are
  // not certificate ids.
  mountInventoryRoutes,
  mountLocationRoutes,
  mountCertificateRoutes,
  mountLifecycleRoutes,
  mountDownloadRoutes,
  mountCertificateAuditRoutes,
  mountRequestRoutes,
  mountProductRoutes,
  mountCredentialRoutes,
  mountOrganizationRoutes,
  mountAuditRoutes,
  mountVerifyRoutes,
  mountReportRoutes,
  mountWebhookRoutes,
  mountDomainRoutes,
];

/** REST's router, and where other protocols' admin routes go (served once they are declared). */
export function createRestRouter(core: CoreServices): { router: Router; adminRoutes: AdminRoutes } {
  const router = express.Router();
  router.use(express.json({ limit: '256kb' }));
  router.use(refuseSecretsInUrl);
  const routes = new RestRoutes(router);
  const adminRoutes = new AdminRoutes(routes);
  // Before authentication: the token exchange is how a client gets a credential to send, and is
  // limited by address instead (it is where a secret would be guessed).
  router.use('/auth/token', rateLimit(core.requestLimits, restConfig.of(core.config), 'address'));
  mountTokenRoute(routes, core);
  // Published without a credential, as Certman publishes its own.
  mountOpenApiRoute(routes);

  router.use(authenticate(core));
  router.use(rateLimit(core.requestLimits, restConfig.of(core.config), 'credential', (req) => adminRoutes.isIssuing(req)));
  for (const mount of AUTHENTICATED_MODULES) mount(routes, core);
  router.use(adminRoutes.router);

  router.use((req, res) => {
    res.status(404).json({ error: `no such endpoint: ${req.method} ${req.baseUrl}${req.path}` });
  });
  router.use(restErrorHandler(core.log));
  return { router, adminRoutes };
}
