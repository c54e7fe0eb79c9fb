// Issue 19, findings 2, 3 and 4, as a stranger holding one credential would try them: two products
// on one CA, each with its own credentials. A credential of product A touches nothing of product B
// (not its private keys, not its revocation, not its notes); keys leave only to their requester
// (or to exportAnyKeys); nobody approves its own request unless the product says so; and a
// credential scoped to its own requests sees and touches nothing else. Every refusal is a 403
// with {error}, changes nothing and is in the audit trail.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldResource, may, type Principal, type Resource } from '../src/auth/authorize.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { CredentialScope, Permission } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

interface AuditRow {
  actor: string;
  action: string;
  target: string;
  outcome: string;
  detail: Record<string, unknown>;
}

describe.each(REST_DEPLOYMENTS.filter((d) => !d.skip))('one authorization decision, $name', (d) => {
  let env: RestEnv;
  let productA: string;
  let productB: string;
  let approvalProduct: string;
  let selfApprovalProduct: string;

  beforeAll(async () => {
    env = await startRestEnv(d, { rateLimitPerMinute: 0, issueRateLimitPerMinute: 0 });
    const rt = env.server.rt;
    const make = async (name: string, template: Record<string, unknown>) => (await createProduct(rt.store, { name, caId: env.issuingId, template: parseProductTemplate(template) }, CLI_CONTEXT)).id;
    productA = await make('tenant-a', { escrowKeys: true });
    productB = await make('tenant-b', { escrowKeys: true });
    approvalProduct = await make('held', { requiresApproval: true });
    selfApprovalProduct = await make('held-self', { requiresApproval: true, selfApproval: true });
  });

  afterAll(async () => {
    await env?.close();
  });

  /** A rest credential with these actions on the issuing CA, bound to these products. */
  const key = async (products: string[], actions: Permission['actions'], scope: CredentialScope = 'product') => {
    const name = `k-${randomBytes(4).toString('hex')}`;
    const { credential, secret } = await env.server.rt.credentials.create({ type: 'rest', name, products, permissions: [{ ca: env.issuingId, actions }], admin: false, scope }, CLI_CONTEXT);
    return { id: credential.id, token: secret };
  };

  const issueManaged = async (token: string, productId: string) => {
    const res = await env.api('POST', '/v1/certificates', token, { productId, commonName: `h-${randomBytes(4).toString('hex')}.tenant.test` });
    expect(res.status, res.text).toBe(201);
    return (res.json.certificate as { id: string }).id;
  };

  const pkcs12 = (token: string, certId: string) => env.api('POST', `/v1/certificates/${certId}/download`, token, { format: 'pkcs12', password: 'correct horse' });

  const refusals = async (actor: string, action: string): Promise<AuditRow[]> => {
    const res = await env.api('GET', `/v1/audit?actor=${actor}&action=${action}&pageSize=100`, env.adminToken);
    expect(res.status, res.text).toBe(200);
    return (res.json.entries as AuditRow[]).filter((e) => e.outcome === 'refused');
  };

  describe('finding 2: PKCS#12 export of escrowed keys', () => {
    it('refuses a credential of product A the key of product B\'s certificate on the same CA, and audits the refusal', async () => {
      const b = await key([productB], ['read', 'issue', 'exportKeys']);
      const a = await key([productA], ['read', 'issue', 'exportAnyKeys']);
      const certB = await issueManaged(b.token, productB);

      const stolen = await pkcs12(a.token, certB);
      expect(stolen.status, stolen.text).toBe(403);
      expect(stolen.json.error).toMatch(/product/);
      expect(stolen.headers.get('content-type')).toMatch(/json/);
      expect((await refusals(a.id, 'certificate.key_export')).map((e) => e.target)).toEqual([certB]);
      // Nothing left certgate: no successful export is recorded for it.
      const exports = await env.api('GET', `/v1/audit?action=certificate.key_export&target=${certB}&pageSize=100`, env.adminToken);
      expect((exports.json.entries as AuditRow[]).filter((e) => e.outcome === 'success')).toEqual([]);
    });

    it('refuses read+issue without exportKeys, even for the credential\'s own certificate', async () => {
      const b = await key([productB], ['read', 'issue']);
      const own = await issueManaged(b.token, productB);
      const res = await pkcs12(b.token, own);
      expect(res.status, res.text).toBe(403);
      expect(res.json.error).toMatch(/exportKeys/);
      expect(await refusals(b.id, 'certificate.key_export')).toHaveLength(1);
    });

    it('gives exportKeys the keys of its own certificates only; exportAnyKeys those of every certificate of its products', async () => {
      const requester = await key([productB], ['read', 'issue', 'exportKeys']);
      const colleague = await key([productB], ['read', 'issue', 'exportKeys']);
      const custodian = await key([productB], ['read', 'exportAnyKeys']);
      const certB = await issueManaged(requester.token, productB);

      const other = await pkcs12(colleague.token, certB);
      expect(other.status, other.text).toBe(403);
      expect(other.json.error).toMatch(/requested by another/);
      expect(await refusals(colleague.id, 'certificate.key_export')).toHaveLength(1);

      const own = await pkcs12(requester.token, certB);
      expect(own.status, own.text).toBe(200);
      expect(own.headers.get('content-type')).toBe('application/x-pkcs12');
      const any = await pkcs12(custodian.token, certB);
      expect(any.status, any.text).toBe(200);
    });
  });

  describe('finding 3: product binding on revoke and edit', () => {
    it('refuses a credential of product A revoking or editing product B\'s certificate: 403, nothing changed, both refusals audited', async () => {
      const b = await key([productB], ['read', 'issue']);
      const a = await key([productA], ['read', 'issue', 'revoke']);
      const certB = await issueManaged(b.token, productB);
      await env.api('PUT', `/v1/certificates/${certB}`, env.adminToken, { notes: 'kept by B' });

      const revoke = await env.api('POST', `/v1/certificates/${certB}/revoke`, a.token, { reason: 'keyCompromise' });
      expect(revoke.status, revoke.text).toBe(403);
      const serial = (await env.api('GET', `/v1/certificates/${certB}`, env.adminToken)).json.serial_number as string;
      const bySerial = await env.api('POST', `/v1/certificates/serial/${serial}/revoke`, a.token, {});
      expect(bySerial.status, bySerial.text).toBe(403);
      const suspend = await env.api('POST', `/v1/certificates/${certB}/suspend`, a.token, {});
      expect(suspend.status, suspend.text).toBe(403);
      const edit = await env.api('PUT', `/v1/certificates/${certB}`, a.token, { notes: 'owned by A now' });
      expect(edit.status, edit.text).toBe(403);
      const read = await env.api('GET', `/v1/certificates/${certB}`, a.token);
      expect(read.status, read.text).toBe(403);

      const after = (await env.api('GET', `/v1/certificates/${certB}`, env.adminToken)).json;
      expect(after.revoked_at).toBeNull();
      expect(after.notes).toBe('kept by B');
      expect((await refusals(a.id, 'certificate.revoke')).map((e) => e.target)).toEqual([certB, certB]);
      expect((await refusals(a.id, 'certificate.edit')).map((e) => e.target)).toEqual([certB]);
      expect(await refusals(a.id, 'certificate.suspend')).toHaveLength(1);

      // Its own product's certificate, it may revoke.
      const certA = await issueManaged(a.token, productA);
      expect((await env.api('POST', `/v1/certificates/${certA}/revoke`, a.token, {})).status).toBe(200);
    });

    it('keeps product B\'s certificates out of product A\'s inventory list', async () => {
      const b = await key([productB], ['read', 'issue']);
      const a = await key([productA], ['read', 'issue']);
      const certB = await issueManaged(b.token, productB);
      const certA = await issueManaged(a.token, productA);
      const listed = (await env.api('GET', '/v1/certificates?pageSize=100', a.token)).json.certificates as { id: string; product_id: string }[];
      expect(listed.map((c) => c.id)).toContain(certA);
      expect(listed.map((c) => c.id)).not.toContain(certB);
      expect(new Set(listed.map((c) => c.product_id))).toEqual(new Set([productA]));
    });
  });

  describe('finding 4: four eyes', () => {
    it('refuses a credential approving its own pending request; another approver approves it', async () => {
      const requester = await key([approvalProduct], ['read', 'issue', 'approve']);
      const approver = await key([approvalProduct], ['approve']);
      const held = await env.api('POST', '/v1/certificates', requester.token, { productId: approvalProduct, commonName: 'held.tenant.test' });
      expect(held.status, held.text).toBe(202);
      const requestId = held.json.request_id as string;

      const self = await env.api('POST', `/v1/requests/${requestId}/approve`, requester.token, {});
      expect(self.status, self.text).toBe(403);
      expect(self.json.error).toMatch(/four eyes/);
      expect((await env.api('GET', `/v1/requests/${requestId}`, requester.token)).json.status).toBe('pending_approval');
      expect((await refusals(requester.id, 'request.approve')).map((e) => e.target)).toEqual([requestId]);

      const other = await env.api('POST', `/v1/requests/${requestId}/approve`, approver.token, {});
      expect(other.status, other.text).toBe(200);
      expect(other.json.status).toBe('queued');
    });

    it('holds the core to it too: EnrollmentService.approve refuses the requester and audits it', async () => {
      const requester = await key([approvalProduct], ['issue']);
      const held = await env.api('POST', '/v1/certificates', requester.token, { productId: approvalProduct, commonName: 'core.tenant.test' });
      const requestId = held.json.request_id as string;
      const by = { actor: requester.id, protocol: 'rest', sourceIp: null };
      await expect(env.server.rt.enrollments.approve(requestId, by, `apikey:${requester.id}`)).rejects.toMatchObject({ kind: 'forbidden' });
      await expect(env.server.rt.enrollments.approve(requestId, by)).rejects.toMatchObject({ kind: 'forbidden' });
      expect((await env.server.rt.store.requests.get(requestId))?.status).toBe('pending_approval');
      expect(await refusals(requester.id, 'request.approve')).toHaveLength(2);
    });

    it('lets the requester approve its own request where the product sets selfApproval', async () => {
      const requester = await key([selfApprovalProduct], ['read', 'issue', 'approve']);
      const held = await env.api('POST', '/v1/certificates', requester.token, { productId: selfApprovalProduct, commonName: 'self.tenant.test' });
      expect(held.status, held.text).toBe(202);
      const res = await env.api('POST', `/v1/requests/${held.json.request_id as string}/approve`, requester.token, {});
      expect(res.status, res.text).toBe(200);
      expect((await env.api('GET', `/v1/products/${selfApprovalProduct}`, env.adminToken)).json.product).toMatchObject({ self_approval: true });
    });

    it('refuses an approver of product A approving product B\'s request', async () => {
      const requester = await key([approvalProduct], ['issue']);
      const outsider = await key([productA], ['approve']);
      const held = await env.api('POST', '/v1/certificates', requester.token, { productId: approvalProduct, commonName: 'b.tenant.test' });
      const res = await env.api('POST', `/v1/requests/${held.json.request_id as string}/approve`, outsider.token, {});
      expect(res.status, res.text).toBe(403);
      expect(res.json.error).toMatch(/product/);
    });
  });

  describe('scope own', () => {
    it('is set on create (REST and store) and answered', async () => {
      const res = await env.api('POST', '/v1/credentials', env.adminToken, { type: 'rest', products: [productA], permissions: [`read,issue:${env.issuingId}`], scope: 'own' });
      expect(res.status, res.text).toBe(201);
      expect(res.json.scope).toBe('own');
      expect((await env.api('GET', `/v1/credentials/${res.json.id as string}`, env.adminToken)).json.scope).toBe('own');
      const plain = await env.api('POST', '/v1/credentials', env.adminToken, { type: 'est', products: [productA] });
      expect(plain.json.scope).toBe('product');
      const bad = await env.api('POST', '/v1/credentials', env.adminToken, { type: 'rest', products: [productA], permissions: [`read:${env.issuingId}`], scope: 'mine' });
      expect(bad.status).toBe(400);
    });

    it('reads and acts only on what the credential requested itself', async () => {
      const own = await key([productA], ['read', 'issue', 'revoke'], 'own');
      const colleague = await key([productA], ['read', 'issue']);
      const mine = await issueManaged(own.token, productA);
      const theirs = await issueManaged(colleague.token, productA);

      expect((await env.api('GET', `/v1/certificates/${mine}`, own.token)).status).toBe(200);
      const peek = await env.api('GET', `/v1/certificates/${theirs}`, own.token);
      expect(peek.status, peek.text).toBe(403);
      const revoke = await env.api('POST', `/v1/certificates/${theirs}/revoke`, own.token, {});
      expect(revoke.status, revoke.text).toBe(403);
      expect((await env.api('GET', `/v1/certificates/${theirs}`, env.adminToken)).json.revoked_at).toBeNull();
      expect(await refusals(own.id, 'certificate.revoke')).toHaveLength(1);

      const listed = ((await env.api('GET', '/v1/certificates?pageSize=100', own.token)).json.certificates as { id: string }[]).map((c) => c.id);
      expect(listed).toEqual([mine]);
      expect((await env.api('POST', `/v1/certificates/${mine}/revoke`, own.token, {})).status).toBe(200);
    });
  });
});

// The decision itself, for the principals that are not REST credentials (every protocol asks it).
describe('may(principal, action, resource) for protocol credentials', () => {
  const est: Principal = { id: 'e1', type: 'est', as: 'est:router1', products: ['p-a'], permissions: [], admin: false, scope: 'product', holders: ['*', 'credential:e1'] };
  const cert = (productId: string, requester: string | null): Resource => ({ kind: 'certificate', id: 'c1', caId: 'ca1', productId, requester });

  it('lets a device credential issue and follow up on its own, within its products, and nothing else', () => {
    expect(may(est, 'issue', { kind: 'product', id: 'p-a', caId: 'ca1', productId: 'p-a', requester: est.as }).ok).toBe(true);
    expect(may(est, 'issue', { kind: 'product', id: 'p-b', caId: 'ca1', productId: 'p-b', requester: est.as }).ok).toBe(false);
    expect(may(est, 'renew', cert('p-a', est.as)).ok).toBe(true);
    expect(may(est, 'read', cert('p-a', 'est:router2')).ok).toBe(false);
    for (const action of ['revoke', 'suspend', 'edit', 'delete', 'approve', 'exportKeys'] as const) expect(may(est, action, cert('p-a', est.as)).ok, action).toBe(false);
  });

  it('keeps four eyes for an admin too, and lets a product relax it', () => {
    const admin: Principal = { id: 'a1', type: 'rest', as: 'apikey:a1', products: '*', permissions: [], admin: true, scope: 'product', holders: ['*', 'credential:a1'] };
    const held: Resource = { kind: 'request', id: 'r1', caId: 'ca1', productId: 'p-a', requester: admin.as };
    expect(may(admin, 'approve', held)).toMatchObject({ ok: false, reason: expect.stringMatching(/four eyes/) });
    expect(may(admin, 'approve', { ...held, selfApproval: true }).ok).toBe(true);
    expect(may(admin, 'approve', { ...held, requester: 'apikey:other' }).ok).toBe(true);
  });

  it('lets a device credential manage no domain or organization, even of its own holder', () => {
    const domain = heldResource('domain', { id: 'd1', holder: 'credential:e1', createdBy: est.as });
    for (const action of ['read', 'issue', 'delete'] as const) expect(may(est, action, domain).ok, action).toBe(false);
  });
});

// Domains and organizations belong to a holder (a user, a group, one credential, or the deployment).
describe('may(principal, action, resource) for domain and organization records', () => {
  const rest = (id: string, over: Partial<Principal> = {}): Principal => ({
    id,
    type: 'rest',
    as: `apikey:${id}`,
    products: ['p-a'],
    permissions: [{ ca: 'ca1', actions: ['read', 'issue'] }],
    admin: false,
    scope: 'product',
    holders: ['*', `credential:${id}`, 'group:web'],
    ...over,
  });
  const ofWeb = heldResource('domain', { id: 'd1', holder: 'group:web', createdBy: 'apikey:k1' });
  const ofOps = heldResource('domain', { id: 'd2', holder: 'group:ops', createdBy: 'apikey:k9' });
  const ofAll = heldResource('domain', { id: 'd3', holder: '*', createdBy: 'cli' });

  it('lets a credential act on the records of its holders, with the permission each action needs on some CA', () => {
    const k2 = rest('k2');
    for (const action of ['read', 'issue', 'delete'] as const) expect(may(k2, action, ofWeb).ok, action).toBe(true);
    expect(may(k2, 'read', ofOps)).toMatchObject({ ok: false, reason: expect.stringMatching(/another owner/) });
    expect(may(rest('k3', { permissions: [{ ca: 'ca1', actions: ['read'] }] }), 'issue', ofWeb)).toMatchObject({ ok: false, reason: expect.stringMatching(/issue permission/) });
    expect(may(rest('k4', { scope: 'own' }), 'delete', ofWeb)).toMatchObject({ ok: false, reason: expect.stringMatching(/made by another/) });
    expect(may(rest('k4', { scope: 'own' }), 'read', ofWeb).ok).toBe(true);
  });

  it('lets everyone read the deployment\'s records and only an admin change them; an admin reaches every holder', () => {
    expect(may(rest('k2'), 'read', ofAll).ok).toBe(true);
    expect(may(rest('k2'), 'delete', ofAll)).toMatchObject({ ok: false, reason: expect.stringMatching(/only an admin/) });
    const admin = rest('a1', { admin: true, permissions: [], holders: ['*', 'credential:a1'] });
    for (const r of [ofWeb, ofOps, ofAll]) expect(may(admin, 'delete', r).ok).toBe(true);
  });

  it('keeps four eyes on approving an organization, for admins too', () => {
    const org = heldResource('organization', { id: 'o1', holder: 'group:web', createdBy: 'apikey:k2' });
    const approver = rest('k5', { permissions: [{ ca: 'ca1', actions: ['approve'] }] });
    expect(may(approver, 'approve', org).ok).toBe(true);
    expect(may(rest('k2', { permissions: [{ ca: '*', actions: ['approve'] }] }), 'approve', org)).toMatchObject({ ok: false, reason: expect.stringMatching(/four eyes/) });
    expect(may(rest('k2', { admin: true }), 'approve', org)).toMatchObject({ ok: false, reason: expect.stringMatching(/four eyes/) });
    expect(may(rest('k6'), 'approve', org)).toMatchObject({ ok: false, reason: expect.stringMatching(/approve permission/) });
  });
});
