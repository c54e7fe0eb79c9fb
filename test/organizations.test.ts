// Organization records over REST, on SQLite and PostgreSQL: made pending, approved by someone other
// than who made it (four eyes, refusals audited), declined only with a reason; a product with
// subject.organization 'validated' puts the record's O, OU, C (not the CSR's) in the certificate,
// and refuses an O the requester has no approved, unexpired record of. Bad bodies are 400s.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldResource, principalOfCredential } from '../src/auth/authorize.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { Permission } from '../src/core/types.js';
import { parseDnString, parseNameDer } from '../src/pki/name.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { buildSubject, organizationAttributes } from '../src/policy/subject.js';
import { runningClock } from './helpers/clock.js';
import { certgate } from './helpers/certgateCli.js';
import { makeCsr, openssl, opensslVerify, tempDir } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

const DAY_MS = 86_400_000;

// The decision alone: what a validated organization puts in the subject, and what it leaves to the product.
describe('the subject under subject.organization "validated"', () => {
  const policy = (over: object = {}) => parseProductTemplate({ subject: { organization: 'validated', ...over } }).subject;
  const record = organizationAttributes({ name: 'Acme Corp', unit: null, country: 'DE', state: null, locality: 'Berlin' });
  const dn = (d: ReturnType<typeof buildSubject>) => (d.ok ? parseNameDer(d.subjectDer).text : d);

  it('takes the record\'s attributes, a fixed value where the record has none, and none of the CSR\'s', () => {
    const asked = parseDnString('O=Acme Corp,OU=Ops,C=US,ST=Nowhere,L=Paris');
    expect(dn(buildSubject(policy(), asked, 'a.test', { asked: 'Acme Corp', record }))).toBe('C=DE, L=Berlin, O=Acme Corp, CN=a.test');
    const fixedOu = policy({ attributes: { OU: { fixed: 'Web' }, O: { allowed: ['Other'] } } });
    expect(dn(buildSubject(fixedOu, asked, 'a.test', { asked: 'Acme Corp', record }))).toBe('C=DE, L=Berlin, O=Acme Corp, OU=Web, CN=a.test');
  });

  it('refuses with rule organization when the CSR names none or the requester has no record, and keeps refusing unlisted attributes', () => {
    expect(buildSubject(policy(), [], 'a.test', { asked: null, record: null })).toMatchObject({ ok: false, rule: 'organization' });
    expect(buildSubject(policy(), parseDnString('O=Acme'), 'a.test', { asked: 'Acme', record: null })).toMatchObject({ ok: false, rule: 'organization', detail: 'O="Acme" is not a validated organization of this requester' });
    expect(buildSubject(policy(), parseDnString('O=Acme'), 'a.test')).toMatchObject({ ok: false, rule: 'organization' });
    const email = [{ type: '1.2.840.113549.1.9.1', value: 'x@a.test' }];
    expect(buildSubject(policy({ unlisted: 'refuse' }), email, 'a.test', { asked: 'Acme Corp', record })).toMatchObject({ ok: false, rule: 'subjectAttributes' });
  });
});
const VALIDITY_DAYS = 30;

describe.each(REST_DEPLOYMENTS.filter((d) => !d.skip))('organizations ($name)', (d) => {
  const clock = runningClock();
  let env: RestEnv;
  let validatedProduct: string;
  /** Two members of group web (one may approve), one of group ops. */
  const tokens: Record<'maker' | 'approver' | 'ops', { token: string; id: string }> = {} as never;

  const key = async (name: string, ownerGroup: string, actions: Permission['actions']) => {
    const { credential, secret } = await env.server.rt.credentials.create(
      { type: 'rest', name: `${name}-${randomUUID()}`, products: '*', permissions: [{ ca: env.issuingId, actions }], admin: false, ownerGroup },
      CLI_CONTEXT,
    );
    return { token: secret, id: credential.id };
  };

  const create = (token: string, body: unknown) => env.api('POST', '/v1/organizations', token, body);
  const auditOf = async (action: string, target: string) => (await env.server.rt.store.audit.list({ action, target }, { limit: 20, offset: 0 })).entries;

  /** Issues over REST under the validated product; the CSR asks for `subject`. */
  const issue = (token: string, subject: string) => env.api('POST', '/v1/certificates', token, { productId: validatedProduct, mode: 'csr', csrPem: makeCsr(env.dir, { subject }).csrPem });

  /** A record of group web made by the maker and approved by the approver. */
  const approvedRecord = async (fields: Record<string, string>) => {
    const made = await create(tokens.maker.token, fields);
    expect(made.status, made.text).toBe(201);
    const approved = await env.api('POST', `/v1/organizations/${made.json.id as string}/approve`, tokens.approver.token);
    expect(approved.status, approved.text).toBe(200);
    return approved.json;
  };

  beforeAll(async () => {
    env = await startRestEnv(d, { organizationValidityDays: VALIDITY_DAYS }, clock.now);
    validatedProduct = (
      await createProduct(env.server.rt.store, { name: `validated-${randomUUID()}`, caId: env.issuingId, template: parseProductTemplate({ subject: { organization: 'validated' } }) }, CLI_CONTEXT)
    ).id;
    tokens.maker = await key('maker', 'web', ['read', 'issue']);
    tokens.approver = await key('approver', 'web', ['read', 'issue', 'approve']);
    tokens.ops = await key('ops', 'ops', ['read', 'issue', 'approve']);
  }, 120_000);

  afterAll(async () => {
    await env?.close();
  });

  it('makes a record pending, under the caller\'s group, and audits it', async () => {
    const res = await create(tokens.maker.token, { name: 'Pending Corp', unit: 'Web', country: 'DE', locality: 'Berlin' });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('location')).toBe(`/v1/organizations/${res.json.id as string}`);
    expect(res.json).toMatchObject({ name: 'Pending Corp', unit: 'Web', country: 'DE', state: null, locality: 'Berlin', holder: 'group:web', status: 'pending', created_by: `apikey:${tokens.maker.id}`, expires_at: null });
    const [entry] = await auditOf('organization.create', res.json.id as string);
    expect(entry).toMatchObject({ actor: tokens.maker.id, outcome: 'success', detail: { name: 'Pending Corp', holder: 'group:web' } });
    // Visible to the group, not to another.
    expect((await env.api('GET', `/v1/organizations/${res.json.id as string}`, tokens.approver.token)).json).toMatchObject({ id: res.json.id, status: 'pending' });
    expect((await env.api('GET', `/v1/organizations/${res.json.id as string}`, tokens.ops.token)).status).toBe(403);
  });

  it('keeps four eyes: the maker approving is refused (audited), another approver approves until now + the validity', async () => {
    const made = await create(tokens.approver.token, { name: 'Four Eyes GmbH' });
    const id = made.json.id as string;
    const self = await env.api('POST', `/v1/organizations/${id}/approve`, tokens.approver.token);
    expect(self.status).toBe(403);
    expect(self.json.error).toMatch(/four eyes/);
    expect((await auditOf('organization.approve', id)).map((e) => e.outcome)).toEqual(['refused']);
    // The core holds to it too, for a caller that skipped the decision (the console alone may).
    const as = { actor: tokens.approver.id, protocol: 'rest', sourceIp: null };
    await expect(env.server.rt.organizations.decline(id, 'mine', as, `apikey:${tokens.approver.id}`)).rejects.toThrow(/four eyes/);
    expect((await auditOf('organization.decline', id)).map((e) => e.outcome)).toEqual(['refused']);
    // An admin who made one is held to it too.
    const byAdmin = await create(env.adminToken, { name: 'Admin Made Ltd', holder: 'group:web' });
    expect((await env.api('POST', `/v1/organizations/${byAdmin.json.id as string}/approve`, env.adminToken)).status).toBe(403);

    const before = clock.now();
    const other = await env.api('POST', `/v1/organizations/${id}/approve`, env.adminToken);
    expect(other.status, other.text).toBe(200);
    expect(other.json).toMatchObject({ status: 'approved', expired: false, decided_by: expect.stringMatching(/^apikey:/) });
    const decidedAt = Date.parse(other.json.decided_at as string);
    expect(decidedAt).toBeGreaterThanOrEqual(before);
    expect(Date.parse(other.json.expires_at as string)).toBe(decidedAt + VALIDITY_DAYS * DAY_MS);
    expect((await auditOf('organization.approve', id)).map((e) => e.outcome).sort()).toEqual(['refused', 'success']);
    // Decided once.
    expect((await env.api('POST', `/v1/organizations/${id}/approve`, tokens.ops.token)).status).toBe(403);
    expect((await env.api('POST', `/v1/organizations/${id}/decline`, env.adminToken, { reason: 'changed my mind' })).status).toBe(409);
  });

  it('declines only with a reason', async () => {
    const id = (await create(tokens.maker.token, { name: 'Declined Inc' })).json.id as string;
    for (const body of [{}, { reason: '' }, { reason: '   ' }, { reason: 7 }, { reason: 'x'.repeat(501) }]) {
      const res = await env.api('POST', `/v1/organizations/${id}/decline`, tokens.approver.token, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const res = await env.api('POST', `/v1/organizations/${id}/decline`, tokens.approver.token, { reason: 'no such company in the register' });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ status: 'declined', reason: 'no such company in the register', expires_at: null });
    expect(await auditOf('organization.decline', id)).toMatchObject([{ outcome: 'success', detail: { reason: 'no such company in the register' } }]);
    expect((await env.api('POST', `/v1/organizations/${id}/approve`, env.adminToken)).status).toBe(409);
  });

  it('issues with the record\'s O, OU and C, whatever the CSR says beside the O, and the certificate verifies', async () => {
    await approvedRecord({ name: 'Acme Corp', unit: 'Shop', country: 'DE' });
    const res = await issue(tokens.maker.token, '/CN=shop.acme.test/O=Acme Corp/OU=Something Else/C=US/L=Nowhere');
    expect(res.status, res.text).toBe(201);
    const pem = (res.json.certificate as { certificate_pem: string }).certificate_pem;
    const subject = openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], pem).trim();
    expect(subject).toBe('subject=CN=shop.acme.test,OU=Shop,O=Acme Corp,C=DE');
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/OK/);
  });

  it('rejects an O the requester has no approved record of (rule organization), and a CSR with no O', async () => {
    const unknown = await issue(tokens.maker.token, '/CN=shop.acme.test/O=Unknown Holdings');
    expect(unknown.status, unknown.text).toBe(422);
    expect(unknown.json).toMatchObject({ rule: 'organization' });
    expect(unknown.json.error).toMatch(/O="Unknown Holdings" is not a validated organization of this requester/);
    const pending = await create(tokens.maker.token, { name: 'Not Yet Approved AG' });
    expect(pending.status).toBe(201);
    expect((await issue(tokens.maker.token, '/CN=shop.acme.test/O=Not Yet Approved AG')).json).toMatchObject({ rule: 'organization' });
    const none = await issue(tokens.maker.token, '/CN=shop.acme.test');
    expect(none.status).toBe(422);
    expect(none.json).toMatchObject({ rule: 'organization' });
  });

  it('does not let another group use, see or decide a group\'s record', async () => {
    const record = await approvedRecord({ name: 'Web Group Only SA' });
    expect((await issue(tokens.approver.token, '/CN=a.web.test/O=Web Group Only SA')).status).toBe(201);
    const res = await issue(tokens.ops.token, '/CN=a.ops.test/O=Web Group Only SA');
    expect(res.status, res.text).toBe(422);
    expect(res.json).toMatchObject({ rule: 'organization' });
    const listed = await env.api('GET', '/v1/organizations?pageSize=100', tokens.ops.token);
    expect(listed.status).toBe(200);
    expect((listed.json.organizations as { id: string }[]).map((o) => o.id)).not.toContain(record.id);
    const pending = await create(tokens.maker.token, { name: 'Web Pending SA' });
    expect((await env.api('POST', `/v1/organizations/${pending.json.id as string}/approve`, tokens.ops.token)).status).toBe(403);
    expect((await env.api('DELETE', `/v1/organizations/${pending.json.id as string}`, tokens.ops.token)).status).toBe(403);
    expect((await auditOf('organization.remove', pending.json.id as string)).map((e) => e.outcome)).toEqual(['refused']);
    // Nor make one for another group, or for the whole deployment.
    expect((await create(tokens.ops.token, { name: 'Smuggled', holder: 'group:web' })).status).toBe(403);
    expect((await create(tokens.ops.token, { name: 'Smuggled', holder: '*' })).status).toBe(403);
  });

  it('lets the deployment\'s records (an admin\'s) cover every requester', async () => {
    const made = await create(env.adminToken, { name: 'Everyone Ltd', holder: '*', country: 'GB' });
    expect(made.status, made.text).toBe(201);
    expect((await env.api('POST', `/v1/organizations/${made.json.id as string}/approve`, tokens.ops.token)).status).toBe(403);
    await env.server.rt.organizations.approve(made.json.id as string, CLI_CONTEXT, 'cli');
    const res = await issue(tokens.ops.token, '/CN=x.everyone.test/O=Everyone Ltd');
    expect(res.status, res.text).toBe(201);
    expect(openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], (res.json.certificate as { certificate_pem: string }).certificate_pem).trim()).toBe('subject=CN=x.everyone.test,O=Everyone Ltd,C=GB');
  });

  it('lists by status, page by page with the cursor', async () => {
    for (let i = 0; i < 3; i++) expect((await create(tokens.maker.token, { name: `Paged ${i}` })).status).toBe(201);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const res = await env.api('GET', `/v1/organizations?status=pending&pageSize=2${after ? `&after=${after}` : ''}`, tokens.maker.token);
      expect(res.status, res.text).toBe(200);
      const page = res.json.organizations as { id: string; status: string; holder: string }[];
      expect(page.length).toBeLessThanOrEqual(2);
      for (const o of page) expect(o).toMatchObject({ status: 'pending' });
      seen.push(...page.map((o) => o.id));
      after = res.json.nextCursor as string | null;
    } while (after);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort());
    const all = await env.server.rt.organizations.list({ holders: ['group:web'], status: 'pending', limit: 1000 });
    expect(seen).toEqual(all.map((o) => o.id));
    expect((await env.api('GET', '/v1/organizations?status=expired', tokens.maker.token)).status).toBe(400);
  });

  it('removes a record (audited): it is gone and covers nothing', async () => {
    const record = await approvedRecord({ name: 'Removed Co' });
    const res = await env.api('DELETE', `/v1/organizations/${record.id as string}`, tokens.maker.token);
    expect(res.status, res.text).toBe(200);
    expect((await env.api('GET', `/v1/organizations/${record.id as string}`, tokens.maker.token)).status).toBe(404);
    expect(await auditOf('organization.remove', record.id as string)).toMatchObject([{ outcome: 'success' }]);
    expect((await issue(tokens.maker.token, '/CN=a.removed.test/O=Removed Co')).json).toMatchObject({ rule: 'organization' });
  });

  it('refuses a device credential: it authenticates to no REST route, and the decision refuses it every action', async () => {
    const { credential, secret } = await env.server.rt.credentials.create({ type: 'est', name: `router-${randomUUID()}`, products: '*', ownerGroup: 'web' }, CLI_CONTEXT);
    expect((await create(secret, { name: 'Device Made' })).status).toBe(401);
    const device = principalOfCredential(credential, `est:${credential.name}`);
    const record = heldResource('organization', { id: 'o1', holder: 'group:web', createdBy: 'apikey:someone' });
    for (const action of ['read', 'issue', 'approve', 'delete'] as const) expect(env.server.rt.core.authz.may(device, action, record), action).toBe(false);
  });

  it('answers a bad body with a 400, never a 5xx', async () => {
    for (const body of [
      {},
      { name: '' },
      { name: 'x'.repeat(65) },
      { name: ' Padded' },
      { name: 'Line\nBreak' },
      { name: 'Acme', country: 'de' },
      { name: 'Acme', country: 'DEU' },
      { name: 'Acme', unit: 'u'.repeat(65) },
      { name: 'Acme', holder: 'nobody' },
      { name: 'Acme', extra: true },
      { name: 42 },
      '{"name":',
      '[]',
    ]) {
      const res = await create(tokens.maker.token, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const value = fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }));
    await fc.assert(
      fc.asyncProperty(
        fc.record({ name: value, unit: value, country: fc.oneof(value, fc.constantFrom('DE', 'de', 'D')), state: value, locality: value, holder: fc.oneof(value, fc.constantFrom('group:web', '*')) }, { requiredKeys: [] }),
        async (body) => {
          const res = await create(tokens.maker.token, body);
          expect(res.status, `${JSON.stringify(body)} → ${res.text}`).toBeLessThan(500);
          if (res.status === 201) expect(typeof body.name === 'string' && body.name.length <= 64).toBe(true);
          else expect([400, 403]).toContain(res.status);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  // Last: the deployment's clock moves on past every record's validity.
  it('stops issuing under a record once it has expired', async () => {
    const record = await approvedRecord({ name: 'Expiring Corp', country: 'FR' });
    expect((await issue(tokens.maker.token, '/CN=a.expiring.test/O=Expiring Corp')).status).toBe(201);
    clock.advance((VALIDITY_DAYS + 1) * DAY_MS);
    const res = await issue(tokens.maker.token, '/CN=a.expiring.test/O=Expiring Corp');
    expect(res.status, res.text).toBe(422);
    expect(res.json).toMatchObject({ rule: 'organization' });
    expect((await env.api('GET', `/v1/organizations/${record.id as string}`, tokens.maker.token)).json).toMatchObject({ status: 'approved', expired: true });
  });
});

// The console is the operator: it makes deployment records, decides what it made itself, and says
// what is wrong without a stack trace. Each step is a separate `certgate` process on one data dir.
describe('certgate organization (the console)', () => {
  const dir = tempDir();

  it('adds, lists, approves, refuses a second decision and a bad country, and removes', () => {
    expect(certgate(dir, ['init', '--json']).code).toBe(0);
    const added = certgate(dir, ['organization', 'add', '--name', 'Console Corp', '--country', 'NL', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const id = added.json().id as string;
    expect(added.json()).toMatchObject({ name: 'Console Corp', country: 'NL', holder: '*', status: 'pending', created_by: 'cli' });
    const approved = certgate(dir, ['organization', 'approve', id, '--json']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.json()).toMatchObject({ status: 'approved', decided_by: 'cli', expired: false });
    const again = certgate(dir, ['organization', 'decline', id, '--reason', 'too late']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is approved: only a pending organization/);
    const bad = certgate(dir, ['organization', 'add', '--name', 'Bad Country', '--country', 'nl']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/two-letter country code/);
    const listed = certgate(dir, ['organization', 'list', '--status', 'approved', '--json']);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((o) => o.id)).toEqual([id]);
    expect(certgate(dir, ['organization', 'remove', id]).code).toBe(0);
    expect(JSON.parse(certgate(dir, ['organization', 'list', '--json']).stdout)).toEqual([]);
  }, 120_000);
});
