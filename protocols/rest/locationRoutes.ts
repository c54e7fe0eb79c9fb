// Where each certificate is deployed (host, port, path, kind of place), for the operator who has
// to replace it there.
import { z } from 'zod';
import type { CoreServices } from '../../src/core/protocol.js';
import type { DeploymentLocation } from '../../src/core/types.js';
import type { LocationFields } from '../../src/core/types.js';
import { auditContextOf, authorizedCertificate } from './auth.js';
import type { RestRoutes } from './route.js';
import { idParams, resourceId } from './schemas.js';

const time = z.string().meta({ format: 'date-time' });

export const locationSchema = z
  .object({
    id: z.string(),
    certificate_id: z.string(),
    host: z.string(),
    port: z.number().int().nullable(),
    path: z.string().nullable(),
    kind: z.string(),
    notes: z.string().nullable(),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Location' });

export function locationJson(l: DeploymentLocation): z.output<typeof locationSchema> {
  return {
    id: l.id,
    certificate_id: l.certificateId,
    host: l.host,
    port: l.port,
    path: l.path,
    kind: l.kind,
    notes: l.notes,
    created_at: l.createdAt.toISOString(),
    updated_at: l.updatedAt.toISOString(),
  };
}

const locationBody = z
  .object({
    host: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\s\p{Cc}]+$/u, 'a host name or address, without spaces')
      .describe('host name or address'),
    port: z.number().int().min(1).max(65_535).nullable().optional(),
    path: z.string().min(1).max(1024).nullable().optional().describe('where the file lives, or a URL path'),
    kind: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'a short word: letters, digits, space, . _ -')
      .describe('what kind of place: server, load-balancer, appliance, ...'),
    notes: z.string().max(4000).nullable().optional(),
  })
  .strict();

const fieldsOf = (b: z.output<typeof locationBody>): LocationFields => ({ host: b.host, port: b.port ?? null, path: b.path ?? null, kind: b.kind, notes: b.notes ?? null });

const locationParams = idParams.extend({ locationId: resourceId });

export function mountLocationRoutes(routes: RestRoutes, core: CoreServices): void {
  const { inventory } = core;
  // Decided on the certificate before the inventory is asked; its own check then has nothing left to refuse.
  const decided = () => undefined;

  routes.add(
    {
      method: 'get',
      path: '/certificates/:id/locations',
      tag: 'Locations',
      summary: 'Where a certificate is deployed, oldest first',
      permission: 'read on its CA (imported: on every CA)',
      params: idParams,
      responses: { 200: { description: 'Its locations', schema: z.object({ locations: z.array(locationSchema) }) } },
    },
    async ({ req, res, params }) => {
      await authorizedCertificate(core, req, params.id, 'read');
      res.json({ locations: (await inventory.locations(params.id, decided)).map(locationJson) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/locations',
      tag: 'Locations',
      summary: 'Record a place where a certificate is deployed',
      permission: 'issue on its CA (imported: on every CA)',
      params: idParams,
      body: locationBody,
      responses: { 201: { description: 'Recorded', schema: z.object({ location: locationSchema }), headers: { Location: 'the location' } } },
    },
    async ({ req, res, params, body }) => {
      await authorizedCertificate(core, req, params.id, 'edit');
      const location = await inventory.addLocation(params.id, fieldsOf(body), auditContextOf(req), decided);
      res.status(201).location(`/v1/certificates/${params.id}/locations/${location.id}`).json({ location: locationJson(location) });
    },
  );

  routes.add(
    {
      method: 'put',
      path: '/certificates/:id/locations/:locationId',
      tag: 'Locations',
      summary: 'Replace a location\'s fields (those left out become empty)',
      permission: 'issue on its CA (imported: on every CA)',
      params: locationParams,
      body: locationBody,
      responses: { 200: { description: 'Replaced', schema: z.object({ location: locationSchema }) } },
    },
    async ({ req, res, params, body }) => {
      await authorizedCertificate(core, req, params.id, 'edit');
      const location = await inventory.updateLocation(params.id, params.locationId, fieldsOf(body), auditContextOf(req), decided);
      res.json({ location: locationJson(location) });
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/certificates/:id/locations/:locationId',
      tag: 'Locations',
      summary: 'Forget a location',
      permission: 'issue on its CA (imported: on every CA)',
      params: locationParams,
      responses: { 204: { description: 'Removed' } },
    },
    async ({ req, res, params }) => {
      await authorizedCertificate(core, req, params.id, 'edit');
      await inventory.removeLocation(params.id, params.locationId, auditContextOf(req), decided);
      res.status(204).end();
    },
  );
}
