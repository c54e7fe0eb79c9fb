// After issuance: revoke, suspend (certificateHold) and reinstate.
import { z } from 'zod';
import type { CoreServices } from '../../src/core/protocol.js';
import { parseRevocationReason } from '../../src/core/revocationService.js';
import { auditContextOf, requirePermission } from './auth.js';
import type { RestRoutes } from './route.js';
import { revokedJson } from './serialize.js';

const revokedSchema = z.object({
  message: z.string(),
  certificate: z.object({
    id: z.string(),
    common_name: z.string().nullable(),
    serial_number: z.string(),
    revoked_at: z.string().nullable(),
    revocation_reason: z.string().nullable(),
    invalidity_date: z.string().nullable(),
  }),
});

const idParams = z.object({ id: z.string().min(1).max(200) });

export function mountLifecycleRoutes(routes: RestRoutes, core: CoreServices): void {
  const { revocations } = core;

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/revoke',
      tag: 'Lifecycle',
      summary: 'Revoke a certificate; it shows in its CA\'s CRL and as revoked in OCSP',
      permission: 'revoke on the certificate\'s CA',
      params: idParams,
      body: z
        .object({
          reason: z.string().max(64).optional(),
          invalidityDate: z.iso.datetime({ offset: true }).optional(),
          caPassphrase: z.string().max(1024).optional(),
        })
        .strict(),
      responses: { 200: { description: 'Revoked', schema: revokedSchema } },
    },
    async ({ req, res, params, body }) => {
      const cert = await revocations.revoke(
        params.id,
        { reason: parseRevocationReason(body.reason), invalidityDate: body.invalidityDate ? new Date(body.invalidityDate) : null },
        auditContextOf(req),
        (caId) => requirePermission(req, 'revoke', caId),
      );
      res.json({ message: 'certificate revoked', certificate: revokedJson(cert) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/reinstate',
      tag: 'Lifecycle',
      summary: 'Lift a certificateHold',
      permission: 'revoke on the certificate\'s CA',
      params: idParams,
      responses: { 200: { description: 'Reinstated', schema: revokedSchema } },
    },
    async ({ req, res, params }) => {
      const cert = await revocations.reinstate(params.id, auditContextOf(req), (caId) => requirePermission(req, 'revoke', caId));
      res.json({ message: 'certificate reinstated', certificate: revokedJson(cert) });
    },
  );
}
