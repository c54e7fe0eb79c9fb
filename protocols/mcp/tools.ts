// The MCP tools: each one call of the core on behalf of the caller's REST credential, decided by
// the one authorization decision (src/core/access.ts, shared with REST) and written to the audit
// trail once per call (mcp.tool_call) besides what the core audits of the change itself.
// Private keys never leave through here: managed mode only where the product escrows the key,
// fetched afterwards as PKCS#12 over REST by a credential with exportKeys.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { auditEntryJson, auditFilterOf } from '../../src/audit/trail.js';
import { caResource } from '../../src/auth/authorize.js';
import {
  authorizedCertificateFor,
  certificateResource,
  readableInventoryOf,
  requestToDecide,
  requireRequestSight,
  visibleRequests,
  type Caller,
} from '../../src/core/access.js';
import { AppError, notFound, unprocessable } from '../../src/core/errors.js';
import { classifyFailure, logFailure } from '../../src/core/failure.js';
import { issueCertificate, issuedCertificate, keySourceOf, managedKeyLike, type IssueOrder } from '../../src/core/issuance.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { TRANSITIONS } from '../../src/core/requestStatus.js';
import { parseRevocationReason } from '../../src/core/revocationService.js';
import { KEY_ALGORITHMS, REVOCATION_REASON_CODES, type CertificateRecord, type InventoryFilter, type InventoryRecord, type RequestStatus } from '../../src/core/types.js';
import { namesOfCertificate } from '../../src/pki/names.js';
import { certificateView, rejectionView, requestView } from './views.js';

/** Where a key escrowed in managed mode is fetched: REST's PKCS#12 download, which asks for exportKeys. */
const pkcs12Hint = (id: string): string =>
  `The private key is escrowed by certgate and never returned through MCP: fetch it as PKCS#12 with POST /v1/certificates/${id}/download {"format":"pkcs12","password":"…"} (needs the exportKeys permission).`;

const id = z.string().min(1).max(200);
const page = z.number().int().min(1).max(1_000_000).default(1).describe('page number, from 1');
const pageSize = z.number().int().min(1).max(100).default(20).describe('items per page (at most 100)');
const REQUEST_STATUSES = Object.keys(TRANSITIONS) as [RequestStatus, ...RequestStatus[]];
/** RFC 5280's reasons as the core spells them (parseRevocationReason takes any case); removeFromCRL is no reason to revoke. */
const REVOCATION_REASONS = Object.keys(REVOCATION_REASON_CODES).filter((r) => r !== 'removeFromCRL') as [string, ...string[]];
const validityDays = z.number().int().min(1).max(36_500).describe('days the certificate is valid; default: the product\'s');
const csrPem = z.string().min(1).max(64_000).describe('a PKCS#10 certificate signing request in PEM ("-----BEGIN CERTIFICATE REQUEST-----")');
const customFieldValue = z.union([z.string().max(1024), z.number(), z.boolean()]);

const READ: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
/** Makes something new each call (a request, a certificate): not idempotent, nothing destroyed. */
const CREATES: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };
/** Ends something for good (a certificate, a request): the same call again changes nothing more, but it cannot be undone. */
const DESTROYS: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false };

export interface ToolKit {
  core: CoreServices;
  caller: Caller;
  /** Told of each call a tool's handler took (index.ts audits the calls the SDK refused before any handler ran). */
  ran(tool: string): void;
}

/** What a tool answers, and what its audit entry names (the certificate or request it touched). */
interface Answer {
  result: unknown;
  target?: string | undefined;
  /** A result the agent must treat as a failure (a rejected request), audited as refused. */
  failed?: boolean;
}

const text = (value: unknown, isError = false): CallToolResult => ({
  content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }],
  ...(isError ? { isError: true } : {}),
});

/** A refusal in words an agent can act on: what the core said, and where it was refused. */
function refusalText(tool: string, e: AppError): string {
  const why = e.kind === 'forbidden' ? `refused: ${e.message}` : e.kind === 'not_found' ? `not found: ${e.message}` : e.kind === 'rate_limited' ? `${e.message}; retry in ${e.retryAfterSeconds ?? 60} s` : e.message;
  return `${tool} failed — ${why}`;
}

function register<S extends z.ZodRawShape>(
  server: McpServer,
  kit: ToolKit,
  name: string,
  config: { title: string; description: string; inputSchema: S; annotations: ToolAnnotations },
  run: (args: z.output<z.ZodObject<S>>) => Promise<Answer>,
): void {
  const { core, caller } = kit;
  const handler = async (args: z.output<z.ZodObject<S>>): Promise<CallToolResult> => {
    kit.ran(name);
    const named = (args as { id?: unknown }).id;
    const asked = typeof named === 'string' ? named : '-';
    try {
      const answer = await run(args);
      await core.credentials.recordMcpToolCall(caller.audit, name, answer.failed ? 'refused' : 'ok', answer.target ?? asked);
      return text(answer.result, answer.failed === true);
    } catch (e) {
      const failure = classifyFailure(e);
      if (failure.kind === 'refused') {
        await core.credentials.recordMcpToolCall(caller.audit, name, 'refused', asked, { reason: failure.error.message.slice(0, 300) });
        return text(refusalText(name, failure.error), true);
      }
      logFailure(core.log, failure, 'MCP', name);
      await core.credentials.recordMcpToolCall(caller.audit, name, 'error', asked).catch(() => undefined);
      return text(`${name} failed — ${failure.sentence}`, true);
    }
  };
  server.registerTool(name, config, handler as never);
}

/** The chain PEM an issued certificate is handed out with; imported certificates have none of certgate's. */
async function chainPemOf(core: CoreServices, c: InventoryRecord | CertificateRecord): Promise<string | null> {
  if (c.caId === null) return null;
  return (await core.cas.chainFor({ caId: c.caId, requestId: c.requestId })).join('');
}

/** What an issuance came to, for the agent: the certificate, where the request waits, or why it was refused. */
async function issuedAnswer(core: CoreServices, order: IssueOrder, caller: Caller): Promise<Answer> {
  const { outcome } = await issueCertificate(core, caller, order, { protocol: 'mcp', escrowedKeysOnly: true });
  const managed = 'managed' in order.source;
  switch (outcome.state) {
    case 'issued': {
      const c = outcome.certificate;
      return {
        target: c.id,
        result: {
          state: 'issued',
          certificate: { ...certificateView(c, core.now()), certificatePem: c.certificatePem, chainPem: await chainPemOf(core, c) },
          ...(outcome.request.statusReason ? { notice: outcome.request.statusReason } : {}),
          ...(managed ? { privateKey: pkcs12Hint(c.id) } : {}),
        },
      };
    }
    case 'pending':
      return {
        target: outcome.request.id,
        result: {
          state: 'pending',
          request: requestView(outcome.request),
          next:
            outcome.request.status === 'pending_approval'
              ? 'The request waits for an approver (another credential with approve on its CA). Check it later with get_request.'
              : `Not settled yet; check it with get_request in about ${outcome.retryAfterS} s.`,
        },
      };
    case 'rejected':
      return { target: outcome.request.id, failed: true, result: { state: 'rejected', requestId: outcome.request.id, error: `${outcome.rejection.detail} [rule: ${outcome.rejection.rule}]`, rejection: rejectionView(outcome.rejection) } };
    case 'failed':
      return { target: outcome.request.id, failed: true, result: { state: 'failed', requestId: outcome.request.id, error: 'issuance failed; the request is recorded as failed' } };
  }
}

export function registerTools(server: McpServer, kit: ToolKit): void {
  const { core, caller } = kit;
  const { queries } = core;

  register(
    server,
    kit,
    'whoami',
    {
      title: 'Who am I',
      description:
        'The REST credential this MCP session acts as: its id, name, whether it is an admin, its products, and its permissions per CA (read, issue, revoke, approve, exportKeys, exportAnyKeys). Call it first to learn what the other tools will allow.',
      inputSchema: {},
      annotations: READ,
    },
    async () => {
      const c = caller.credential;
      return {
        target: c.id,
        result: { credential: { id: c.id, name: c.name, type: c.type, admin: c.admin, scope: c.scope, products: c.products, permissions: c.permissions, owner: c.ownerUser }, requester: caller.principal.as },
      };
    },
  );

  register(
    server,
    kit,
    'search_certificates',
    {
      title: 'Search certificates',
      description:
        'Search the certificate inventory this credential may read (issued by certgate, and imported ones with read on every CA), newest first. Filters combine: status, caId, productId, expiringInDays (neither revoked nor expired, and expiring within N days), owner, search (part of the common name, any case), customFields (exact values). Returns one page of certificate summaries (id, status, names, serial, validity, CA, product) and the total. Use get_certificate for the PEM and chain.',
      inputSchema: {
        status: z.enum(['active', 'revoked', 'expired', 'all']).default('all'),
        caId: id.optional().describe('only certificates of this CA (needs read on it)'),
        productId: id.optional(),
        expiringInDays: z.number().int().min(0).max(36_500).optional().describe('only certificates whose validity ends within this many days'),
        owner: z.string().min(1).max(200).optional(),
        search: z.string().min(1).max(200).optional().describe('a part of the common name, any case'),
        customFields: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), z.string().max(1024)).optional().describe('custom field name → exact value'),
        page,
        pageSize,
      },
      annotations: READ,
    },
    async (a) => {
      if (a.caId) await core.authz.require(caller.principal, 'read', caResource(a.caId), caller.audit);
      const filter: InventoryFilter = {
        ...readableInventoryOf(caller.principal, a.caId),
        status: a.status,
        ...(a.productId ? { productId: a.productId } : {}),
        ...(a.search ? { search: a.search } : {}),
        ...(a.owner ? { owner: a.owner } : {}),
        ...(a.expiringInDays !== undefined ? { expiringInDays: a.expiringInDays } : {}),
        ...(a.customFields && Object.keys(a.customFields).length ? { customFields: a.customFields } : {}),
      };
      const listing = await queries.inventoryList(filter, { limit: a.pageSize, offset: (a.page - 1) * a.pageSize, order: 'newest' });
      const now = core.now();
      return {
        target: a.caId ?? '*',
        result: { certificates: listing.certificates.map((c) => certificateView(c, now)), total: listing.total, totalExact: listing.totalExact, page: a.page, pageSize: a.pageSize },
      };
    },
  );

  register(
    server,
    kit,
    'get_certificate',
    {
      title: 'Get a certificate',
      description:
        'One certificate by id: its details (status, names, serial, validity, CA, product, revocation, owner, notes, custom fields), its PEM and its CA chain PEM. Never a private key (an escrowed key is fetched as PKCS#12 over REST with exportKeys). Needs read on its CA.',
      inputSchema: { id: id.describe('the certificate id (from search_certificates or issue_certificate)') },
      annotations: READ,
    },
    async (a) => {
      const c = await authorizedCertificateFor(core, caller, a.id, 'read');
      return { target: c.id, result: { ...certificateView(c, core.now()), certificatePem: c.certificatePem, chainPem: await chainPemOf(core, c) } };
    },
  );

  register(
    server,
    kit,
    'search_requests',
    {
      title: 'Search enrollment requests',
      description:
        'Enrollment requests this credential may see (of the CAs it reads or approves for, and its own), newest first. Use status "pending_approval" for the approval queue. Returns one page of requests (id, status, reason, product, CA, requester, certificate id once issued) and the total.',
      inputSchema: {
        status: z.enum(REQUEST_STATUSES).optional(),
        caId: id.optional().describe('only requests of this CA (needs read or approve on it)'),
        productId: id.optional(),
        page,
        pageSize,
      },
      annotations: READ,
    },
    async (a) => {
      const filter = {
        ...(await visibleRequests(core, caller, a.caId)),
        ...(a.status ? { status: a.status } : {}),
        ...(a.productId ? { productId: a.productId } : {}),
      };
      const { requests, total } = await queries.requestList(filter, { limit: a.pageSize, offset: (a.page - 1) * a.pageSize });
      return { target: a.caId ?? '*', result: { requests: requests.map(requestView), total, page: a.page, pageSize: a.pageSize } };
    },
  );

  register(
    server,
    kit,
    'get_request',
    {
      title: 'Get an enrollment request',
      description:
        'Where one enrollment request stands: queued, pending_approval, pending_dcv, issued (with certificateId), rejected (with the rule and detail) or failed. Use it to follow up a pending issue_certificate or renew_certificate. Needs to be its requester, or read or approve on its CA.',
      inputSchema: { id: id.describe('the request id') },
      annotations: READ,
    },
    async (a) => {
      const r = await queries.requestById(a.id);
      if (!r) throw notFound(`request ${a.id} not found`);
      await requireRequestSight(core, caller, r);
      return { target: r.id, result: requestView(r) };
    },
  );

  register(
    server,
    kit,
    'issue_certificate',
    {
      title: 'Issue a certificate',
      description:
        'Request a new certificate under a product (give productId, or caId for the CA\'s default product). Mode "csr" (preferred): send csrPem; the key stays with you. Mode "managed": certgate generates the key pair, only for a product that escrows keys (refused otherwise, as the key would be lost); the key is never returned here, fetch it as PKCS#12 over REST. The product\'s policy decides names, key types and validity. Returns the issued certificate with its PEM and chain, or the pending request (approval or domain validation) to follow with get_request, or the rejection with the rule that refused it. Needs issue on the product\'s CA.',
      inputSchema: {
        mode: z.enum(['csr', 'managed']).default('csr'),
        productId: id.optional(),
        caId: id.optional().describe('the CA: its default product when productId is not given'),
        csrPem: csrPem.optional().describe('csr mode: the PKCS#10 request in PEM'),
        commonName: z.string().min(1).max(253).optional().describe('managed mode: the certificate\'s main name'),
        sanDns: z.array(z.string().min(1).max(253)).max(100).default([]).describe('managed mode: further DNS names'),
        sanIp: z.array(z.string().min(2).max(45)).max(100).default([]).describe('managed mode: IP addresses'),
        keyAlgorithm: z.enum(KEY_ALGORITHMS as unknown as [string, ...string[]]).default('ec-p256').describe('managed mode: the key to generate'),
        validityDays: validityDays.optional(),
        owner: z.string().min(1).max(200).optional(),
        notes: z.string().max(4000).optional(),
        customFields: z.record(z.string().max(64), customFieldValue).optional().describe('values for the product\'s custom fields'),
      },
      annotations: CREATES,
    },
    async (a) => {
      if (!a.productId && !a.caId) throw new AppError('bad_request', 'give productId or caId');
      if (a.mode === 'csr' && !a.csrPem) throw new AppError('bad_request', 'csr mode needs csrPem (or use mode "managed" with commonName)');
      if (a.mode === 'managed' && !a.commonName) throw new AppError('bad_request', 'managed mode needs commonName');
      if (a.mode === 'managed' && a.csrPem) throw new AppError('bad_request', 'csrPem is for csr mode; managed mode generates the key');
      const order: IssueOrder = {
        product: a.productId ? { id: a.productId } : { caId: a.caId as string },
        ...(a.productId && a.caId ? { caId: a.caId } : {}),
        source:
          a.mode === 'csr'
            ? { csrPem: a.csrPem as string }
            : { managed: { commonName: a.commonName as string, sanDns: a.sanDns, sanIp: a.sanIp, keyAlgorithm: a.keyAlgorithm as (typeof KEY_ALGORITHMS)[number] } },
        validityDays: a.validityDays ?? null,
        idempotencyKey: null,
        customFields: a.customFields ?? {},
        owner: a.owner ?? null,
        notes: a.notes ?? null,
      };
      return issuedAnswer(core, order, caller);
    },
  );

  register(
    server,
    kit,
    'renew_certificate',
    {
      title: 'Renew a certificate',
      description:
        'Issue a successor to a certificate: same names, product, owner, notes and custom fields. A certificate issued from a CSR needs a new csrPem (for the same names); a managed one gets a new escrowed key (only where its product escrows keys). The original stays valid (revoke it with revoke_certificate once the successor is deployed). Returns the new certificate, or the pending request. Needs renew (issue) on its CA.',
      inputSchema: { id: id.describe('the certificate to renew'), csrPem: csrPem.optional(), validityDays: validityDays.optional() },
      annotations: CREATES,
    },
    async (a) => {
      const original = await issuedCertificate(core, a.id);
      await core.authz.require(caller.principal, 'renew', await certificateResource(core, original), caller.audit);
      const managed = (await keySourceOf(core, original)) === 'managed';
      if (!managed && !a.csrPem) throw unprocessable('csrPem is required to renew a certificate issued from a CSR');
      return issuedAnswer(
        core,
        {
          product: { id: original.productId },
          source: a.csrPem ? { csrPem: a.csrPem } : { managed: managedKeyLike(original) },
          validityDays: a.validityDays ?? null,
          idempotencyKey: null,
          constraints: [{ kind: 'namesWithin', names: namesOfCertificate(original) }],
          customFields: original.customFields,
          owner: original.owner,
          notes: original.notes,
          supersedes: original.id,
        },
        caller,
      );
    },
  );

  register(
    server,
    kit,
    'revoke_certificate',
    {
      title: 'Revoke a certificate',
      description:
        'Revoke a certificate for good: its CA lists it in the CRL and OCSP answers revoked. It cannot be undone (except reason certificateHold, which an operator may lift). Give the reason (RFC 5280): keyCompromise when the key leaked, superseded when replaced, cessationOfOperation when no longer used. Returns the certificate as revoked. Needs revoke on its CA.',
      inputSchema: {
        id: id.describe('the certificate to revoke'),
        reason: z.enum(REVOCATION_REASONS).describe('why, as RFC 5280 names it'),
        invalidityDate: z.iso.datetime({ offset: true }).optional().describe('keyCompromise: since when the key is known or suspected compromised'),
      },
      annotations: DESTROYS,
    },
    async (a) => {
      const reason = parseRevocationReason(a.reason);
      await authorizedCertificateFor(core, caller, a.id, 'revoke');
      const revoked = await core.revocations.revoke(a.id, { reason, invalidityDate: a.invalidityDate ? new Date(a.invalidityDate) : null }, caller.audit, () => undefined);
      return { target: revoked.id, result: { message: 'certificate revoked', certificate: certificateView(revoked, core.now()) } };
    },
  );

  register(
    server,
    kit,
    'approve_request',
    {
      title: 'Approve a request',
      description:
        'Approve an enrollment request that waits for an approver (status pending_approval; find them with search_requests). Four eyes: the credential that requested it cannot approve it (unless its product allows self-approval). The request is then signed; follow it with get_request. Needs approve on its CA.',
      inputSchema: { id: id.describe('the request to approve') },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (a) => {
      await requestToDecide(core, caller, a.id, 'approve');
      const r = await core.enrollments.approve(a.id, caller.audit, caller.principal.as);
      return { target: r.id, result: { message: 'request approved: queued for signing', request: requestView(r) } };
    },
  );

  register(
    server,
    kit,
    'decline_request',
    {
      title: 'Decline a request',
      description:
        'Decline an enrollment request that waits for an approver, saying why: the comment becomes the reason the requester reads, and is kept in the audit trail. It cannot be undone (the requester must ask again). Needs approve on its CA (a requester may withdraw its own).',
      inputSchema: { id: id.describe('the request to decline'), comment: z.string().trim().min(1).max(500).describe('why it is declined (required)') },
      annotations: DESTROYS,
    },
    async (a) => {
      await requestToDecide(core, caller, a.id, 'decline');
      const r = await core.enrollments.reject(a.id, a.comment, caller.audit);
      return { target: r.id, result: { message: 'request declined', request: requestView(r) } };
    },
  );

  register(
    server,
    kit,
    'expiring_certificates',
    {
      title: 'Expiring certificates',
      description:
        'The expiry report: active certificates this credential may read that expire within `withinDays` days (newest issued first), and (includeCounts) the inventory counted by expiry bucket, status, CA and product. Use it to plan renewals. Needs read.',
      inputSchema: {
        withinDays: z.number().int().min(0).max(36_500).default(30),
        includeCounts: z.boolean().default(true).describe('add the inventory report\'s counts'),
        page,
        pageSize,
      },
      annotations: READ,
    },
    async (a) => {
      const scope = readableInventoryOf(caller.principal);
      const listing = await queries.inventoryList({ ...scope, status: 'active', expiringInDays: a.withinDays }, { limit: a.pageSize, offset: (a.page - 1) * a.pageSize, order: 'newest' });
      const now = core.now();
      const certificates = listing.certificates.map((c) => certificateView(c, now));
      const counts = a.includeCounts ? await core.inventory.report(scope, new Date(now)) : undefined;
      return { target: '*', result: { withinDays: a.withinDays, certificates, total: listing.total, page: a.page, pageSize: a.pageSize, ...(counts ? { report: counts } : {}) } };
    },
  );

  register(
    server,
    kit,
    'audit_trail',
    {
      title: 'Audit trail',
      description:
        'The audit trail (admin credentials only), oldest first, filtered by time (from/to, ISO 8601), actor (a credential id), action (e.g. certificate.revoke, request.approve, auth.refused, mcp.tool_call) and target (a certificate, request or credential id). Use it to see who did what. Returns one page of entries and the total.',
      inputSchema: {
        from: z.iso.datetime({ offset: true }).optional(),
        to: z.iso.datetime({ offset: true }).optional(),
        actor: z.string().min(1).max(200).optional(),
        action: z.string().min(1).max(64).optional(),
        target: z.string().min(1).max(200).optional(),
        page,
        pageSize,
      },
      annotations: READ,
    },
    async (a) => {
      if (!caller.credential.admin) await core.authz.refuse(caller.audit, 'audit.read', '*', 'this action needs an admin credential', { authz: 'admin' });
      const filter = auditFilterOf(a);
      const { entries, total } = await core.audit.list(filter, { limit: a.pageSize, offset: (a.page - 1) * a.pageSize });
      return { target: a.target ?? '*', result: { entries: entries.map(auditEntryJson), total, page: a.page, pageSize: a.pageSize } };
    },
  );
}
