// The names a request waits on under a product with dcv: required, and how to prove each: one view
// for GET /v1/requests/:id/dcv, the certificate's, a recheck's answer, and a 202 pending_dcv.
import type { z } from 'zod';
import { domainChallenges } from '../../src/core/domainChallenges.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { DcvPolicy, EnrollmentRequest } from '../../src/core/types.js';
import type { RequestDcvEntry } from '../../src/core/domainRegistry.js';
import { productTemplateSchema, readProductTemplate } from '../../src/policy/productSchema.js';
import type { requestDcvEntrySchema } from './schemas.js';

const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The request's product's DCV policy; a product removed or unreadable since: the template's defaults. */
export async function dcvPolicyOf(core: CoreServices, request: EnrollmentRequest): Promise<DcvPolicy> {
  const product = (await core.queries.productList()).find((p) => p.id === request.productId);
  return readProductTemplate(product?.template)?.dcv ?? productTemplateSchema.shape.dcv.parse(undefined);
}

export function requestDcvEntryJson(e: RequestDcvEntry, policy: DcvPolicy): z.output<typeof requestDcvEntrySchema> {
  return {
    name: e.name,
    covered: e.covered,
    domain_id: e.domain.id,
    status: e.domain.status,
    method: e.domain.method,
    token: e.domain.token,
    last_error: e.domain.lastError,
    validated_at: isoOrNull(e.domain.validatedAt),
    challenges: domainChallenges(e.domain, policy.dnsLabel),
  };
}

/** Per name, what stands between the request and issuance. */
export async function requestDcvJson(core: CoreServices, request: EnrollmentRequest): Promise<z.output<typeof requestDcvEntrySchema>[]> {
  const policy = await dcvPolicyOf(core, request);
  return (await core.domains.ofRequest(request, policy)).map((e) => requestDcvEntryJson(e, policy));
}

/** The `dcv` block a request's answer carries while it waits on validation. */
export async function pendingDcvBlock(core: CoreServices, request: EnrollmentRequest): Promise<{ dcv?: z.output<typeof requestDcvEntrySchema>[] }> {
  return request.status === 'pending_dcv' ? { dcv: await requestDcvJson(core, request) } : {};
}
