// Who a REST credential is to the authorization decision, and what it acts on: shared by every
// front-end that takes a REST credential (the REST API, the console through it, MCP), so one
// credential is one requester everywhere and four eyes hold whichever door it comes through.
import { AUDIT } from '../audit/actions.js';
import { caResource, listScope, principalOfCredential, type AuthzAction, type Principal, type Resource } from '../auth/authorize.js';
import { readProductTemplate } from '../policy/productSchema.js';
import { notFound } from './errors.js';
import type { CoreServices } from './protocol.js';
import type { AuditContext, CredentialRecord, EnrollmentRequest, InventoryFilter, InventoryRecord, RequestFilter } from './types.js';

/** The requester a REST credential's enrollment requests carry (the API keys of before did the same). */
export const restRequester = (c: CredentialRecord): string => `apikey:${c.id}`;

/** A REST credential acting: as the decision sees it, and as the audit trail records it. */
export interface Caller {
  credential: CredentialRecord;
  principal: Principal;
  audit: AuditContext;
}

export const restCaller = (credential: CredentialRecord, audit: AuditContext): Caller => ({
  credential,
  principal: principalOfCredential(credential, restRequester(credential)),
  audit,
});

type Deciding = Pick<CoreServices, 'queries' | 'authz'>;

/** A certificate with what decides who may touch it: CA, product, and the requester of the request that made it. */
export async function certificateResource(core: Pick<CoreServices, 'queries'>, cert: Pick<InventoryRecord, 'id' | 'caId' | 'productId' | 'requestId' | 'owner'>): Promise<Resource> {
  const request = cert.requestId ? await core.queries.requestById(cert.requestId) : undefined;
  return { kind: 'certificate', id: cert.id, caId: cert.caId, productId: cert.productId, requester: request?.requester ?? null, owner: cert.owner };
}

export async function requestResource(core: Pick<CoreServices, 'queries'>, r: EnrollmentRequest): Promise<Resource> {
  const product = (await core.queries.productList()).find((p) => p.id === r.productId);
  const selfApproval = readProductTemplate(product?.template)?.selfApproval === true;
  return { kind: 'request', id: r.id, caId: r.caId, productId: r.productId, requester: r.requester, owner: r.details.owner, selfApproval };
}

/** Loads the certificate and throws 403 (audited) unless the caller may do `action` to it; 404 when there is none. */
export async function authorizedCertificateFor(core: Deciding, caller: Caller, id: string, action: AuthzAction, tried?: string): Promise<InventoryRecord> {
  const cert = await core.queries.inventoryById(id);
  if (!cert) throw notFound(`certificate ${id} not found`);
  await core.authz.require(caller.principal, action, await certificateResource(core, cert), caller.audit, tried);
  return cert;
}

/** Which certificates of the inventory a credential may read. `caId`: the one CA asked for (the caller checks read on it first). */
export function readableInventoryOf(principal: Principal, caId?: string): Pick<InventoryFilter, 'caIds' | 'includeImported' | 'productIds' | 'requester'> {
  const scope = listScope(principal, 'read');
  const readable = scope.caIds;
  return {
    ...(caId ? { caIds: [caId] } : readable === '*' ? {} : { caIds: readable }),
    // Imported certificates have no requester: a credential scoped to its own never sees them.
    includeImported: !caId && readable === '*' && scope.requester === null,
    ...(scope.productIds === '*' ? {} : { productIds: scope.productIds }),
    ...(scope.requester !== null ? { requester: scope.requester } : {}),
  };
}

/** The CAs whose requests a credential sees: those it reads, and those it approves for. */
function visibleCas(principal: Principal): '*' | string[] {
  const read = listScope(principal, 'read').caIds;
  const approve = listScope(principal, 'approve').caIds;
  return read === '*' || approve === '*' ? '*' : [...new Set([...read, ...approve])];
}

/**
 * The requests a credential may list (an approver sees the queue of the CAs it approves for, as a
 * reader sees those it reads, and everyone their own); with `caId`, read or approve on it first.
 */
export async function visibleRequests(core: Deciding, caller: Caller, caId?: string): Promise<Pick<RequestFilter, 'caIds' | 'orRequester' | 'productIds' | 'requester'>> {
  const { principal } = caller;
  if (caId) {
    const onCa = caResource(caId);
    if (!core.authz.may(principal, 'approve', onCa)) await core.authz.require(principal, 'read', onCa, caller.audit);
  }
  const readable = visibleCas(principal);
  const scope = listScope(principal, 'read');
  return {
    ...(caId ? { caIds: [caId] } : readable === '*' ? {} : { caIds: readable, orRequester: principal.as }),
    ...(scope.productIds === '*' ? {} : { productIds: scope.productIds }),
    ...(scope.requester !== null ? { requester: scope.requester } : {}),
  };
}

/** Seeing a request: read on it, or approve on it for an approver's queue (four eyes aside: looking is not deciding). */
export async function requireRequestSight(core: Deciding, caller: Caller, r: EnrollmentRequest): Promise<void> {
  const resource = { ...(await requestResource(core, r)), selfApproval: true };
  if (core.authz.may(caller.principal, 'approve', resource)) return;
  await core.authz.require(caller.principal, 'read', resource, caller.audit);
}

/** The request an approver acts on; a credential that may approve nowhere is refused before anything is looked up. */
export async function requestToDecide(core: Deciding, caller: Caller, id: string, decision: 'approve' | 'decline'): Promise<EnrollmentRequest> {
  const approvable = listScope(caller.principal, 'approve').caIds;
  if (approvable !== '*' && approvable.length === 0) await core.authz.require(caller.principal, 'approve', caResource('*'), caller.audit);
  const r = await core.queries.requestById(id);
  if (!r) throw notFound(`request ${id} not found`);
  const resource = await requestResource(core, r);
  // Four eyes guard the approval; a requester withdrawing its own request harms no one.
  if (decision === 'decline') await core.authz.require(caller.principal, 'approve', { ...resource, selfApproval: true }, caller.audit, AUDIT.requestDecline);
  else await core.authz.require(caller.principal, 'approve', resource, caller.audit);
  return r;
}
