// The inventory beyond issuance: certificates imported from other CAs, editable fields, manual
// status (marked renewed; an imported one marked revoked by its issuer and serial), removal.
// Imported certificates belong to no CA: importing or changing them needs issue on every CA.
import { z } from 'zod';
import type { CoreServices } from '../../src/core/protocol.js';
import { parseRevocationReason } from '../../src/core/revocationService.js';
import type { Resource } from '../../src/auth/authorize.js';
import { auditContextOf, authorize, authorizedCertificate } from './auth.js';
import type { RestRoutes } from './route.js';
import { certificateDetailSchema, idParams } from './schemas.js';
import { certificateDetailJson } from './serialize.js';

const pem = z.string().min(1).max(200_000);
const owner = z.string().min(1).max(200).nullable();
const notes = z.string().max(4000).nullable();
const fieldName = z.string().min(1).max(64);
const fieldValue = z.union([z.string().max(1024), z.number(), z.boolean()]);
const atMost50 = (r: Record<string, unknown>) => Object.keys(r).length <= 50;

const importBody = z
  .object({
    certificatePem: pem.describe('one certificate, PEM'),
    chainPem: pem.optional().describe('the certificates above it (PEM); its signature is checked against them, and they are not stored'),
    owner: owner.optional(),
    notes: notes.optional(),
    customFields: z
      .record(fieldName, fieldValue)
      .refine(atMost50, 'at most 50 custom fields')
      .optional()
      .describe('free-form (an imported certificate has no product to declare them): names a letter then letters, digits or _'),
  })
  .strict();

const editBody = z
  .object({
    owner: owner.optional().describe('null clears it'),
    notes: notes.optional().describe('null clears it'),
    customFields: z
      .record(fieldName, fieldValue.nullable())
      .refine(atMost50, 'at most 50 custom fields')
      .optional()
      .describe('merged into the stored ones; null removes a field. Checked against the product\'s declarations (imported: free-form)'),
  })
  .strict();

const changedSchema = z.object({ message: z.string(), certificate: certificateDetailSchema });

const RENEWED_ELSEWHERE = 'renewed elsewhere';

/** An imported certificate, before it is found: it belongs to no CA, product or requester. */
const IMPORTED: Resource = { kind: 'certificate', id: 'imported', caId: null, productId: null, requester: null };

export function mountInventoryRoutes(routes: RestRoutes, core: CoreServices): void {
  const { inventory } = core;

  routes.add(
    {
      method: 'post',
      path: '/certificates/import',
      tag: 'Inventory',
      summary: 'Import a certificate issued by another CA into the inventory (listed with source "imported"; never signed, revoked or published by certgate)',
      description:
        'A certificate issued by one of certgate\'s CAs is in the inventory already (409), as is one imported before with the same issuer and serial (409). With chainPem, a signature that does not verify against the chain is refused (422).',
      permission: 'issue on every CA (*)',
      body: importBody,
      responses: { 201: { description: 'Imported', schema: changedSchema, headers: { Location: 'the certificate' } } },
    },
    async ({ req, res, body }) => {
      await authorize(core, req, 'issue', IMPORTED);
      const record = await inventory.import(
        { certificatePem: body.certificatePem, chainPem: body.chainPem ?? null, owner: body.owner ?? null, notes: body.notes ?? null, customFields: body.customFields ?? {} },
        auditContextOf(req),
      );
      res.status(201).location(`/v1/certificates/${record.id}`).json({ message: 'certificate imported', certificate: certificateDetailJson(record) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/imported/revoke',
      tag: 'Inventory',
      summary: 'Mark an imported certificate revoked, found by its issuer and serial number (its own CA revoked it)',
      description: 'issuer as the inventory lists it, as openssl prints it, or most specific first; serialNumber in hex (colons allowed).',
      permission: 'issue on every CA (*)',
      body: z
        .object({
          issuer: z.string().min(1).max(2048),
          serialNumber: z.string().min(1).max(128),
          reason: z.string().max(64).optional().describe('an RFC 5280 reason name; default unspecified'),
          revokedAt: z.iso.datetime({ offset: true }).optional().describe('when its CA revoked it; default now'),
        })
        .strict(),
      responses: { 200: { description: 'Marked revoked', schema: changedSchema } },
    },
    async ({ req, res, body }) => {
      await authorize(core, req, 'edit', IMPORTED);
      const record = await inventory.markRevoked(
        {
          issuer: body.issuer,
          serialNumber: body.serialNumber,
          reason: parseRevocationReason(body.reason),
          ...(body.revokedAt ? { revokedAt: new Date(body.revokedAt) } : {}),
        },
        auditContextOf(req),
        () => undefined,
      );
      res.json({ message: 'certificate marked revoked', certificate: certificateDetailJson(record) });
    },
  );

  routes.add(
    {
      method: 'put',
      path: '/certificates/:id',
      tag: 'Inventory',
      summary: 'Edit a certificate\'s owner, notes and custom fields (only those given change)',
      permission: 'issue on its CA, within the credential\'s products (imported: on every CA)',
      params: idParams,
      body: editBody,
      responses: { 200: { description: 'Edited', schema: changedSchema } },
    },
    async ({ req, res, params, body }) => {
      await authorizedCertificate(core, req, params.id, 'edit');
      const record = await inventory.update(
        params.id,
        {
          ...(body.owner !== undefined ? { owner: body.owner } : {}),
          ...(body.notes !== undefined ? { notes: body.notes } : {}),
          ...(body.customFields !== undefined ? { customFields: body.customFields } : {}),
        },
        auditContextOf(req),
        () => undefined,
      );
      res.json({ message: 'certificate updated', certificate: certificateDetailJson(record) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/mark-renewed',
      tag: 'Inventory',
      summary: 'Mark a certificate renewed outside certgate\'s renew call',
      permission: 'issue on its CA (imported: on every CA)',
      params: idParams,
      body: z
        .object({ renewedBy: z.string().min(1).max(200).optional().describe(`the successor's id, or a note; default "${RENEWED_ELSEWHERE}"`) })
        .strict(),
      responses: { 200: { description: 'Marked renewed', schema: changedSchema } },
    },
    async ({ req, res, params, body }) => {
      await authorizedCertificate(core, req, params.id, 'edit');
      const record = await inventory.markRenewed(params.id, body.renewedBy ?? RENEWED_ELSEWHERE, auditContextOf(req), () => undefined);
      res.json({ message: 'certificate marked renewed', certificate: certificateDetailJson(record) });
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/certificates/:id',
      tag: 'Inventory',
      summary: 'Remove a certificate from the inventory: an imported one, or one of certgate\'s that has expired',
      description:
        'An imported certificate is deleted with its locations. One of certgate\'s is only hidden, once expired: its revocation stays on the CRL and in OCSP. One still valid is refused (409): revoke it, or wait.',
      permission: 'issue on its CA (imported: on every CA)',
      params: idParams,
      responses: { 204: { description: 'Removed' } },
    },
    async ({ req, res, params }) => {
      await authorizedCertificate(core, req, params.id, 'delete');
      await inventory.remove(params.id, auditContextOf(req), () => undefined);
      res.status(204).end();
    },
  );
}
