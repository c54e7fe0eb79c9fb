// The REST permission matrix, enumerated: every route × every permission (read, issue, revoke,
// approve, exportKeys, exportAnyKeys) × where it holds (on the target's CA, on another CA, on every
// CA), plus admin and keys holding two of them; and every route × product binding (bound to the
// target's product, or to another product on the same CA) × ownership (a target the key requested
// itself, or one another credential requested) × scope (product, own), for keys holding every
// action on the target's CA. Each call acts on a fresh target under one CA ("own"); the answer
// must be the route's own success status (200, 201 or 204) exactly when the one authorization
// decision allows it, and a 403 with a reason otherwise: any other status (another 2xx, a 404, a
// 500) fails the test instead of passing as allowed or refused. Every route
// of the OpenAPI document must be in the table.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { encryptPrivateKey } from '../src/ca/keyProtection.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { CredentialScope, Permission, PermissionAction } from '../src/core/types.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { makeCsr, openssl } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type ApiAnswer, type RestEnv } from './helpers/restEnv.js';
import { NOWHERE } from './helpers/webhookReceiver.js';

type Scope = 'own' | 'other' | 'all';
/**
 * What a route needs: actions on the target's CA, actions on every CA (imported certificates belong
 * to none), actions on some CA (domain records belong to no CA), admin, or any credential.
 */
type Need = { on: 'ca' | 'all' | 'some'; actions: PermissionAction[]; /** Another action that does as well. */ or?: PermissionAction[] } | 'admin' | 'any';

interface Key {
  name: string;
  id: string;
  token: string;
  admin: boolean;
  grants: { action: PermissionAction; scope: Scope }[];
  /** Bound to the targets' products, or to another product on the same CA; absent: every product. */
  binding?: 'target' | 'sibling';
  scope: CredentialScope;
}

/** Who requested the call's target: the calling key, or another credential. */
type Owner = 'own' | 'other';

/** What the route acts on, which decides whether product binding and ownership apply. */
/** `held`: a change to a domain record of the key's holder that another (the admin) added. */
type Kind = 'none' | 'ca' | 'product' | 'issue' | 'certificate' | 'request' | 'imported' | 'held';

interface Fixture {
  certId: string;
  serial: string;
  requestId: string;
  locationId: string;
  importedId: string;
  importedSerial: string;
  importedIssuer: string;
  foreignLeaf: string;
  credentialId: string;
  /** A webhook subscription another credential (the admin) made. */
  webhookId: string;
}

type Prepare = (keys: Partial<Record<keyof Fixture, true>>, owner?: Key) => Promise<Fixture>;

interface RouteCase {
  op: string;
  /** The status it answers a key it allows. */
  ok: number;
  need: Need;
  kind: Kind;
  /** export: exportAnyKeys, or exportKeys on the key's own target; approve: never the requester (four eyes); sight: a requester always sees its own request. */
  special?: 'export' | 'approve' | 'sight';
  /** The parts of the fixture this call consumes (made fresh for every call). */
  uses?: Partial<Record<keyof Fixture, true>>;
  /** How a key without the permission is answered, when not 403 (a lookup among what it may touch finds nothing: 404). */
  denied?: number;
  call(token: string, fx: Fixture): Promise<ApiAnswer>;
}

const covers = (key: Key, need: Need): boolean => {
  if (key.admin || need === 'any') return true;
  if (need === 'admin') return false;
  const holds = (actions: PermissionAction[]) => actions.every((action) => key.grants.some((g) => g.action === action && (g.scope === 'all' || need.on === 'some' || (need.on === 'ca' && g.scope === 'own'))));
  return holds(need.actions) || (need.or !== undefined && holds(need.or));
};

const PRODUCT_BOUND: ReadonlySet<Kind> = new Set(['product', 'issue', 'certificate', 'request']);
const OWNABLE: ReadonlySet<Kind> = new Set(['certificate', 'request', 'imported', 'held']);

/** The decision, written out from the issue's rules, independently of src/auth/authorize.ts. */
const allowed = (key: Key, route: RouteCase, owned: boolean): boolean => {
  if (route.need === 'any') return true;
  if (route.need === 'admin') return key.admin;
  if (PRODUCT_BOUND.has(route.kind) && key.binding === 'sibling') return false;
  if (key.scope === 'own' && OWNABLE.has(route.kind) && !owned) return false;
  if (route.special === 'sight' && owned) return true;
  if (route.special === 'export') return covers(key, { on: 'ca', actions: ['exportAnyKeys'] }) || (owned && covers(key, { on: 'ca', actions: ['exportKeys'] }));
  if (!covers(key, route.need)) return false;
  return !(route.special === 'approve' && owned);
};

describe.each(REST_DEPLOYMENTS.filter((d) => !d.skip).slice(0, 1))('REST permission matrix, $name', (d) => {
  let env: RestEnv;
  let ownCa: string;
  let otherCa: string;
  let escrowProduct: string;
  let approvalProduct: string;
  let siblingProduct: string;
  const keys: Key[] = [];
  /** Requests the targets "another credential" made: every product, every action on the own CA. */
  let maker: string;
  let foreign: { certPath: string; keyPath: string };

  beforeAll(async () => {
    env = await startRestEnv(d, { rateLimitPerMinute: 0, issueRateLimitPerMinute: 0, webhookAllowPrivate: true });
    const rt = env.server.rt;
    ownCa = env.issuingId;
    otherCa = (await createCa(rt.store, { name: 'other-issuing', subject: 'CN=Other Issuing CA', keyAlgorithm: 'ec-p256', validityDays: 30, parentId: env.rootId }, rt.secrets, CLI_CONTEXT)).id;
    await createProduct(rt.store, { name: 'other-default', caId: otherCa, template: parseProductTemplate({}) }, CLI_CONTEXT);
    escrowProduct = (await createProduct(rt.store, { name: 'escrowing', caId: ownCa, template: parseProductTemplate({ escrowKeys: true }) }, CLI_CONTEXT)).id;
    approvalProduct = (await createProduct(rt.store, { name: 'approval', caId: ownCa, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT)).id;
    siblingProduct = (await createProduct(rt.store, { name: 'sibling', caId: ownCa, template: parseProductTemplate({ escrowKeys: true }) }, CLI_CONTEXT)).id;
    maker = (await env.restKey('maker', [{ ca: ownCa, actions: ['read', 'issue', 'revoke', 'approve'] }])).token;

    const scopeCa: Record<Scope, string> = { own: ownCa, other: otherCa, all: '*' };
    const bindings = { target: [env.productId, escrowProduct, approvalProduct], sibling: [siblingProduct] };
    const add = async (name: string, grants: Key['grants'], binding?: Key['binding'], scope: CredentialScope = 'product') => {
      const permissions: Permission[] = grants.map((g) => ({ ca: scopeCa[g.scope], actions: [g.action] }));
      const products = binding ? bindings[binding] : '*';
      const { credential, secret } = await rt.credentials.create({ type: 'rest', name: name.replace(/[^A-Za-z0-9]/g, '-'), products, permissions, admin: false, scope }, CLI_CONTEXT);
      keys.push({ name, id: credential.id, token: secret, admin: false, grants, scope, ...(binding ? { binding } : {}) });
    };
    keys.push({ name: 'admin', id: 'admin', token: env.adminToken, admin: true, grants: [], scope: 'product' });
    for (const action of ['read', 'issue', 'revoke', 'approve', 'exportKeys', 'exportAnyKeys'] as const) {
      for (const scope of ['own', 'other', 'all'] as const) await add(`${action}:${scope}`, [{ action, scope }]);
    }
    // Routes that need two actions are allowed to a key holding both.
    await add('read+issue:own', [{ action: 'read', scope: 'own' }, { action: 'issue', scope: 'own' }]);
    await add('read+issue:all', [{ action: 'read', scope: 'all' }, { action: 'issue', scope: 'all' }]);
    await add('issue+revoke:own', [{ action: 'issue', scope: 'own' }, { action: 'revoke', scope: 'own' }]);
    // Every action on the own CA, bound one way or the other, scoped one way or the other.
    const every = (['read', 'issue', 'revoke', 'approve', 'exportKeys'] as const).map((action) => ({ action, scope: 'own' as const }));
    for (const binding of ['target', 'sibling'] as const) {
      for (const scope of ['product', 'own'] as const) await add(`every:own bound to ${binding} products, scope ${scope}`, every, binding, scope);
    }

    // Another company's CA, for certificates to import.
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(env.dir, 'foreign.key'), '-out', join(env.dir, 'foreign.pem'), '-subj', '/O=Elsewhere/CN=Elsewhere CA', '-days', '30']);
    foreign = { certPath: join(env.dir, 'foreign.pem'), keyPath: join(env.dir, 'foreign.key') };
  });

  afterAll(async () => {
    await env?.close();
  });

  const admin = (method: string, path: string, body?: unknown) => env.api(method, path, env.adminToken, body);

  /** A leaf of the foreign CA, never seen before. */
  const foreignLeaf = (): string => {
    const name = randomBytes(6).toString('hex');
    const key = join(env.dir, `${name}.key`);
    const csr = join(env.dir, `${name}.csr`);
    const out = join(env.dir, `${name}.pem`);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}.elsewhere.test`]);
    writeFileSync(join(env.dir, `${name}.ext`), `subjectAltName=DNS:${name}.elsewhere.test\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', foreign.certPath, '-CAkey', foreign.keyPath, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '10', '-extfile', join(env.dir, `${name}.ext`), '-out', out]);
    return openssl(['x509', '-in', out]);
  };

  /**
   * A request the key itself sent, made through the core as its REST calls would make it (whatever
   * the key may do now): a managed key, escrowed, as REST's managed mode keeps it.
   */
  const requestedBy = async (key: Key, productId: string, commonName: string) => {
    const rt = env.server.rt;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { request } = await rt.enrollments.submit(
      { principal: `apikey:${key.id}`, actor: key.id, protocol: 'rest', product: { id: productId } },
      buildCsr(privateKey, `CN=${commonName}`, { dns: [commonName] }),
      { details: { keySource: 'managed', escrowedKey: encryptPrivateKey(privateKey, rt.secrets.masterKey, 'master') } },
    );
    return rt.enrollments.waitForOutcome(request, 15_000);
  };

  const prepare: Prepare = async (uses, owner) => {
    const fx = {} as Fixture;
    if (uses.certId || uses.serial || uses.locationId) {
      const commonName = `m-${randomBytes(4).toString('hex')}.host1.test`;
      if (owner) {
        const outcome = await requestedBy(owner, escrowProduct, commonName);
        expect(outcome.state).toBe('issued');
        if (outcome.state !== 'issued') throw new Error('no certificate');
        fx.certId = outcome.certificate.id;
        fx.serial = outcome.certificate.serialNumber;
      } else {
        const made = await env.api('POST', '/v1/certificates', maker, { productId: escrowProduct, commonName });
        expect(made.status, made.text).toBe(201);
        const cert = made.json.certificate as { id: string; serial_number: string };
        fx.certId = cert.id;
        fx.serial = cert.serial_number;
      }
    }
    if (uses.locationId) {
      const loc = await admin('POST', `/v1/certificates/${fx.certId}/locations`, { host: 'web1.host1.test', port: 443, kind: 'server' });
      expect(loc.status, loc.text).toBe(201);
      fx.locationId = ((loc.json.location ?? loc.json) as { id: string }).id;
    }
    if (uses.requestId) {
      if (owner) {
        const outcome = await requestedBy(owner, approvalProduct, 'held.host1.test');
        expect(outcome.state).toBe('pending');
        fx.requestId = outcome.request.id;
      } else {
        const held = await env.api('POST', '/v1/certificates', maker, { productId: approvalProduct, commonName: 'held.host1.test' });
        expect(held.status, held.text).toBe(202);
        fx.requestId = held.json.request_id as string;
      }
    }
    if (uses.importedId || uses.importedSerial) {
      const imported = await admin('POST', '/v1/certificates/import', { certificatePem: foreignLeaf() });
      expect(imported.status, imported.text).toBe(201);
      const cert = imported.json.certificate as { id: string; serial_number: string; issuer: string };
      fx.importedId = cert.id;
      fx.importedSerial = cert.serial_number;
      fx.importedIssuer = cert.issuer;
    }
    if (uses.foreignLeaf) fx.foreignLeaf = foreignLeaf();
    if (uses.webhookId) {
      const made = await admin('POST', '/v1/webhooks', { url: `${NOWHERE}/matrix`, events: ['certificate.issued'], products: [escrowProduct] });
      expect(made.status, made.text).toBe(201);
      fx.webhookId = made.json.id as string;
    }
    if (uses.credentialId) {
      const made = await admin('POST', '/v1/credentials', { type: 'scep', products: '*' });
      fx.credentialId = made.json.id as string;
    }
    return fx;
  };

  /** A domain record the admin adds for the calling key's holder (a key with no owner holds its own records). */
  const domainOf = async (token: string): Promise<string> => {
    const key = keys.find((k) => k.token === token);
    const made = await admin('POST', '/v1/domains', { name: `d-${randomBytes(4).toString('hex')}.host1.test`, holder: key?.admin ? '*' : `credential:${key?.id}` });
    expect(made.status, made.text).toBe(201);
    return made.json.id as string;
  };

  /** An organization record another made, pending: the admin for the calling key's holder, the maker for the admin (four eyes). */
  const organizationOf = async (token: string): Promise<string> => {
    const key = keys.find((k) => k.token === token);
    const name = `Org ${randomBytes(4).toString('hex')}`;
    const made = key?.admin ? await env.api('POST', '/v1/organizations', maker, { name }) : await admin('POST', '/v1/organizations', { name, holder: `credential:${key?.id}` });
    expect(made.status, made.text).toBe(201);
    return made.json.id as string;
  };

  const onCa = (...actions: PermissionAction[]): Need => ({ on: 'ca', actions });
  const onSome = (...actions: PermissionAction[]): Need => ({ on: 'some', actions });
  const onAll = (...actions: PermissionAction[]): Need => ({ on: 'all', actions });
  const cert = { certId: true } as const;

  const ROUTES: RouteCase[] = [
    { op: 'GET /whoami', ok: 200, need: 'any', kind: 'none', call: (t) => env.api('GET', '/v1/whoami', t) },
    { op: 'GET /cas/{id}', ok: 200, need: onCa('read'), kind: 'ca', call: (t) => env.api('GET', `/v1/cas/${ownCa}`, t) },
    { op: 'GET /cas/{id}/chain', ok: 200, need: onCa('read'), kind: 'ca', call: (t) => env.api('GET', `/v1/cas/${ownCa}/chain`, t) },
    { op: 'POST /certificates', ok: 201, need: onCa('issue'), kind: 'issue', call: (t) => env.api('POST', '/v1/certificates', t, { caId: ownCa, commonName: 'new.host1.test' }) },
    { op: 'GET /certificates/{id}', ok: 200, need: onCa('read'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('GET', `/v1/certificates/${fx.certId}`, t) },
    { op: 'POST /certificates/{id}/renew', ok: 201, need: onCa('issue'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/renew`, t, {}) },
    { op: 'POST /certificates/{id}/rekey', ok: 201, need: onCa('issue'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/rekey`, t, {}) },
    { op: 'POST /certificates/{id}/rekey (revokeOriginal)', ok: 201, need: onCa('issue', 'revoke'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/rekey`, t, { revokeOriginal: true }) },
    {
      op: 'POST /certificates/{id}/replace',
      ok: 201,
      need: onCa('issue'),
      kind: 'certificate',
      uses: cert,
      call: async (t, fx) => {
        // Replace keeps product and names: the new CSR asks for the same ones.
        const name = (await admin('GET', `/v1/certificates/${fx.certId}`)).json.common_name as string;
        return env.api('POST', `/v1/certificates/${fx.certId}/replace`, t, { csrPem: makeCsr(env.dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] }).csrPem });
      },
    },
    { op: 'POST /certificates/{id}/revoke', ok: 200, need: onCa('revoke'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/revoke`, t, {}) },
    { op: 'POST /certificates/serial/{serial}/revoke', ok: 200, need: onCa('revoke'), kind: 'certificate', uses: cert, denied: 404, call: (t, fx) => env.api('POST', `/v1/certificates/serial/${fx.serial}/revoke`, t, {}) },
    { op: 'POST /certificates/{id}/suspend', ok: 200, need: onCa('revoke'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/suspend`, t, {}) },
    {
      op: 'POST /certificates/{id}/reinstate',
      ok: 200,
      need: onCa('revoke'),
      kind: 'certificate',
      uses: cert,
      call: async (t, fx) => {
        expect((await admin('POST', `/v1/certificates/${fx.certId}/suspend`, {})).status).toBe(200);
        return env.api('POST', `/v1/certificates/${fx.certId}/reinstate`, t, {});
      },
    },
    { op: 'GET /certificates/{id}/audit', ok: 200, need: onCa('read'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('GET', `/v1/certificates/${fx.certId}/audit`, t) },
    { op: 'GET /certificates/{id}/download', ok: 200, need: onCa('read'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('GET', `/v1/certificates/${fx.certId}/download?format=pem`, t) },
    { op: 'POST /certificates/{id}/download', ok: 200, need: onCa('read', 'issue'), kind: 'certificate', special: 'export', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/download`, t, { format: 'pkcs12', password: 'correct horse' }) },
    { op: 'PUT /certificates/{id}', ok: 200, need: onCa('issue'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('PUT', `/v1/certificates/${fx.certId}`, t, { notes: 'edited' }) },
    { op: 'POST /certificates/{id}/mark-renewed', ok: 200, need: onCa('issue'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/mark-renewed`, t, {}) },
    { op: 'GET /certificates/{id}/locations', ok: 200, need: onCa('read'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('GET', `/v1/certificates/${fx.certId}/locations`, t) },
    { op: 'POST /certificates/{id}/locations', ok: 201, need: onCa('issue'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('POST', `/v1/certificates/${fx.certId}/locations`, t, { host: 'lb.host1.test', kind: 'load-balancer' }) },
    { op: 'PUT /certificates/{id}/locations/{locationId}', ok: 200, need: onCa('issue'), kind: 'certificate', uses: { certId: true, locationId: true }, call: (t, fx) => env.api('PUT', `/v1/certificates/${fx.certId}/locations/${fx.locationId}`, t, { host: 'web2.host1.test', kind: 'server' }) },
    { op: 'DELETE /certificates/{id}/locations/{locationId}', ok: 204, need: onCa('issue'), kind: 'certificate', uses: { certId: true, locationId: true }, call: (t, fx) => env.api('DELETE', `/v1/certificates/${fx.certId}/locations/${fx.locationId}`, t) },
    { op: 'POST /certificates/import', ok: 201, need: onAll('issue'), kind: 'ca', uses: { foreignLeaf: true }, call: (t, fx) => env.api('POST', '/v1/certificates/import', t, { certificatePem: fx.foreignLeaf }) },
    { op: 'GET /certificates/{id} (imported)', ok: 200, need: onAll('read'), kind: 'imported', uses: { importedId: true }, call: (t, fx) => env.api('GET', `/v1/certificates/${fx.importedId}`, t) },
    { op: 'PUT /certificates/{id} (imported)', ok: 200, need: onAll('issue'), kind: 'imported', uses: { importedId: true }, call: (t, fx) => env.api('PUT', `/v1/certificates/${fx.importedId}`, t, { owner: 'someone' }) },
    { op: 'DELETE /certificates/{id}', ok: 204, need: onAll('issue'), kind: 'imported', uses: { importedId: true }, call: (t, fx) => env.api('DELETE', `/v1/certificates/${fx.importedId}`, t) },
    { op: 'POST /certificates/imported/revoke', ok: 200, need: onAll('issue'), kind: 'imported', uses: { importedId: true }, call: (t, fx) => env.api('POST', '/v1/certificates/imported/revoke', t, { issuer: fx.importedIssuer, serialNumber: fx.importedSerial }) },
    { op: 'GET /products/{id}', ok: 200, need: onCa('read'), kind: 'product', call: (t) => env.api('GET', `/v1/products/${escrowProduct}`, t) },
    { op: 'GET /requests/{id}', ok: 200, need: { on: 'ca', actions: ['read'], or: ['approve'] }, kind: 'request', special: 'sight', uses: { requestId: true }, call: (t, fx) => env.api('GET', `/v1/requests/${fx.requestId}`, t) },
    { op: 'POST /requests/{id}/approve', ok: 200, need: onCa('approve'), kind: 'request', special: 'approve', uses: { requestId: true }, call: (t, fx) => env.api('POST', `/v1/requests/${fx.requestId}/approve`, t, {}) },
    { op: 'POST /requests/{id}/decline', ok: 200, need: onCa('approve'), kind: 'request', uses: { requestId: true }, call: (t, fx) => env.api('POST', `/v1/requests/${fx.requestId}/decline`, t, { comment: 'not this one' }) },
    { op: 'POST /requests/{id}/reject', ok: 200, need: onCa('approve'), kind: 'request', uses: { requestId: true }, call: (t, fx) => env.api('POST', `/v1/requests/${fx.requestId}/reject`, t, { reason: 'no' }) },
    { op: 'POST /verify', ok: 200, need: 'any', kind: 'none', uses: cert, call: async (t, fx) => env.api('POST', '/v1/verify', t, { certificatePem: (await admin('GET', `/v1/certificates/${fx.certId}`)).json.certificate_pem }) },
    {
      op: 'POST /verify/signature',
      ok: 200,
      need: onCa('read'),
      kind: 'certificate',
      uses: cert,
      call: (t, fx) => env.api('POST', '/v1/verify/signature', t, { certificateId: fx.certId, data: Buffer.from('hello').toString('base64'), signature: Buffer.from('not a signature').toString('base64') }),
    },
    { op: 'POST /credentials', ok: 201, need: 'admin', kind: 'none', call: (t) => env.api('POST', '/v1/credentials', t, { type: 'scep', products: '*' }) },
    { op: 'GET /credentials', ok: 200, need: 'admin', kind: 'none', call: (t) => env.api('GET', '/v1/credentials', t) },
    { op: 'GET /credentials/{id}', ok: 200, need: 'admin', kind: 'none', uses: { credentialId: true }, call: (t, fx) => env.api('GET', `/v1/credentials/${fx.credentialId}`, t) },
    { op: 'POST /credentials/{id}/rotate', ok: 200, need: 'admin', kind: 'none', uses: { credentialId: true }, call: (t, fx) => env.api('POST', `/v1/credentials/${fx.credentialId}/rotate`, t, {}) },
    { op: 'POST /credentials/{id}/revoke', ok: 200, need: 'admin', kind: 'none', uses: { credentialId: true }, call: (t, fx) => env.api('POST', `/v1/credentials/${fx.credentialId}/revoke`, t, {}) },
    { op: 'GET /audit', ok: 200, need: 'admin', kind: 'none', call: (t) => env.api('GET', '/v1/audit', t) },
    // The catalogue's writes: admin only (console.catalogue.test.ts and rest.catalogue.test.ts check what they make).
    { op: 'POST /products', ok: 201, need: 'admin', kind: 'none', call: (t) => env.api('POST', '/v1/products', t, { name: `matrix-${randomBytes(4).toString('hex')}`, ca_id: ownCa, template: {} }) },
    {
      op: 'PUT /products/{id}',
      ok: 200,
      need: 'admin',
      kind: 'none',
      call: async (t) => {
        const made = await admin('POST', '/v1/products', { name: `matrix-${randomBytes(4).toString('hex')}`, ca_id: ownCa, template: {} });
        const id = (made.json.product as { id: string }).id;
        return env.api('PUT', `/v1/products/${id}`, t, { name: `matrix-${randomBytes(4).toString('hex')}`, template: { maxValidityDays: 200 } });
      },
    },
    { op: 'POST /cas', ok: 201, need: 'admin', kind: 'none', call: (t) => env.api('POST', '/v1/cas', t, { name: `matrix-${randomBytes(4).toString('hex')}`, validity_days: 30 }) },
    // Every credential gets its series, counted over what it may read (rest.catalogue.test.ts checks the narrowing).
    { op: 'GET /reports/timeline', ok: 200, need: 'any', kind: 'none', call: (t) => env.api('GET', '/v1/reports/timeline', t) },
    // SCEP's admin route, served by REST: a one-time challenge is an issuance under the product.
    { op: 'POST /scep/challenges', ok: 201, need: onCa('issue'), kind: 'product', call: (t) => env.api('POST', '/v1/scep/challenges', t, { productId: escrowProduct }) },
    { op: 'GET /audit/verify', ok: 200, need: 'admin', kind: 'none', call: (t) => env.api('GET', '/v1/audit/verify', t) },
    // A subscription tells what happens under its products: read on their CA, for products the key is bound to.
    { op: 'POST /webhooks', ok: 201, need: onCa('read'), kind: 'product', call: (t) => env.api('POST', '/v1/webhooks', t, { url: `${NOWHERE}/mine`, events: ['certificate.issued'], products: [escrowProduct] }) },
    { op: 'GET /webhooks', ok: 200, need: 'any', kind: 'none', call: (t) => env.api('GET', '/v1/webhooks', t) },
    // Another's subscription: only an admin sees or removes it (its maker does too: webhooks.test.ts).
    { op: 'GET /webhooks/{id}', ok: 200, need: 'admin', kind: 'none', uses: { webhookId: true }, call: (t, fx) => env.api('GET', `/v1/webhooks/${fx.webhookId}`, t) },
    { op: 'GET /webhooks/{id}/deliveries', ok: 200, need: 'admin', kind: 'none', uses: { webhookId: true }, call: (t, fx) => env.api('GET', `/v1/webhooks/${fx.webhookId}/deliveries`, t) },
    { op: 'DELETE /webhooks/{id}', ok: 200, need: 'admin', kind: 'none', uses: { webhookId: true }, call: (t, fx) => env.api('DELETE', `/v1/webhooks/${fx.webhookId}`, t) },
    // Domain records belong to a holder, not to a CA: the key's own, with the action's permission on any CA.
    { op: 'POST /domains', ok: 201, need: onSome('issue'), kind: 'none', call: (t) => env.api('POST', '/v1/domains', t, { name: `n-${randomBytes(4).toString('hex')}.host1.test` }) },
    { op: 'GET /domains', ok: 200, need: 'any', kind: 'none', call: (t) => env.api('GET', '/v1/domains', t) },
    { op: 'GET /domains/{id}', ok: 200, need: onSome('read'), kind: 'none', call: async (t) => env.api('GET', `/v1/domains/${await domainOf(t)}`, t) },
    { op: 'POST /domains/{id}/validate', ok: 202, need: onSome('issue'), kind: 'held', call: async (t) => env.api('POST', `/v1/domains/${await domainOf(t)}/validate`, t, {}) },
    { op: 'DELETE /domains/{id}', ok: 204, need: onSome('issue'), kind: 'held', call: async (t) => env.api('DELETE', `/v1/domains/${await domainOf(t)}`, t) },
    // Organization records too; deciding one the admin made needs approve on any CA (four eyes: organizations.test.ts).
    { op: 'POST /organizations', ok: 201, need: onSome('issue'), kind: 'none', call: (t) => env.api('POST', '/v1/organizations', t, { name: `New ${randomBytes(4).toString('hex')}` }) },
    { op: 'GET /organizations', ok: 200, need: onSome('read'), kind: 'none', call: (t) => env.api('GET', '/v1/organizations', t) },
    { op: 'GET /organizations/{id}', ok: 200, need: onSome('read'), kind: 'none', call: async (t) => env.api('GET', `/v1/organizations/${await organizationOf(t)}`, t) },
    { op: 'POST /organizations/{id}/approve', ok: 200, need: onSome('approve'), kind: 'held', call: async (t) => env.api('POST', `/v1/organizations/${await organizationOf(t)}/approve`, t, {}) },
    { op: 'POST /organizations/{id}/decline', ok: 200, need: onSome('approve'), kind: 'held', call: async (t) => env.api('POST', `/v1/organizations/${await organizationOf(t)}/decline`, t, { reason: 'not vetted' }) },
    { op: 'DELETE /organizations/{id}', ok: 200, need: onSome('issue'), kind: 'held', call: async (t) => env.api('DELETE', `/v1/organizations/${await organizationOf(t)}`, t) },
    { op: 'GET /requests/{id}/dcv', ok: 200, need: onCa('read'), kind: 'request', special: 'sight', uses: { requestId: true }, call: (t, fx) => env.api('GET', `/v1/requests/${fx.requestId}/dcv`, t) },
    // Decided before the request's state: one waiting for approval is then refused with 409 (not waiting on DCV).
    { op: 'POST /requests/{id}/dcv/recheck', ok: 409, need: onCa('read', 'issue'), kind: 'request', uses: { requestId: true }, call: (t, fx) => env.api('POST', `/v1/requests/${fx.requestId}/dcv/recheck`, t, {}) },
    { op: 'GET /certificates/{id}/dcv', ok: 200, need: onCa('read'), kind: 'certificate', uses: cert, call: (t, fx) => env.api('GET', `/v1/certificates/${fx.certId}/dcv`, t) },
  ];

  /** Lists answer every key, with what it may read: the own CA's items exactly when read covers them. */
  const LISTS: { op: string; visible: (key: Key) => boolean; call: (token: string, fx: Fixture) => Promise<boolean> }[] = [
    { op: 'GET /cas', visible: (k) => covers(k, onCa('read')), call: async (t) => ((await env.api('GET', '/v1/cas', t)).json.cas as { id: string }[]).some((c) => c.id === ownCa) },
    { op: 'GET /products', visible: (k) => covers(k, onCa('read')) && k.binding !== 'sibling', call: async (t) => ((await env.api('GET', '/v1/products', t)).json.products as { id: string }[]).some((p) => p.id === escrowProduct) },
    { op: 'GET /certificates', visible: (k) => covers(k, onCa('read')) && k.binding !== 'sibling' && k.scope !== 'own', call: async (t, fx) => ((await env.api('GET', '/v1/certificates?pageSize=100', t)).json.certificates as { id: string }[]).some((c) => c.id === fx.certId) },
    { op: 'GET /certificates (imported)', visible: (k) => covers(k, onAll('read')) && k.scope !== 'own', call: async (t, fx) => ((await env.api('GET', '/v1/certificates?source=imported&pageSize=100', t)).json.certificates as { id: string }[]).some((c) => c.id === fx.importedId) },
    // The report counts what the certificate list shows: it sees others' certificates of the product exactly
    // when its count for the product is the whole deployment's.
    { op: 'GET /reports/inventory', visible: (k) => covers(k, onCa('read')) && k.binding !== 'sibling' && k.scope !== 'own', call: async (t) => {
      const countOf = (json: { by_product?: { product_id: string | null; count: number }[] }): number => json.by_product?.find((p) => p.product_id === escrowProduct)?.count ?? 0;
      const all = countOf((await admin('GET', '/v1/reports/inventory')).json);
      return all > 0 && countOf((await env.api('GET', '/v1/reports/inventory', t)).json) === all;
    } },
    { op: 'GET /requests', visible: (k) => covers(k, { on: 'ca', actions: ['read'], or: ['approve'] }) && k.binding !== 'sibling' && k.scope !== 'own', call: async (t, fx) => ((await env.api('GET', `/v1/requests?status=pending_approval&pageSize=100`, t)).json.requests as { id: string }[]).some((r) => r.id === fx.requestId) },
  ];

  it.each(ROUTES.map((r) => [r.op, r] as const))('%s: its success status exactly where the decision allows it, 403 elsewhere (by permission, product binding, ownership, scope)', async (_op, route) => {
    const wrong: string[] = [];
    let runs = 0;
    for (const key of keys) {
      // Ownership means something only for certificates and requests; the permission keys act on another's.
      const owners: Owner[] = key.binding && (route.kind === 'certificate' || route.kind === 'request') ? ['own', 'other'] : ['other'];
      for (const owner of owners) {
        runs++;
        const fx = await prepare(route.uses ?? {}, owner === 'own' ? key : undefined);
        const res = await route.call(key.token, fx);
        const expected = allowed(key, route, owner === 'own') ? 'allowed' : 'forbidden';
        // A lookup among the CAs the key may act on finds nothing (404) when its permission is only elsewhere.
        const holdsElsewhere = key.grants.some((g) => (route.need as { actions?: PermissionAction[] }).actions?.includes(g.action)) && !covers(key, route.need);
        const denied = route.denied !== undefined && holdsElsewhere ? route.denied : 403;
        // Only the route's own success status is "allowed", and only the refusal status with a reason
        // "forbidden": another 2xx, a 404 or a 500 is reported as what it is.
        const explained = typeof res.json.error === 'string' && res.json.error !== '';
        const got = res.status === route.ok ? 'allowed' : res.status === denied && explained ? 'forbidden' : `status ${res.status}`;
        if (got !== expected) wrong.push(`${key.name} on ${owner === 'own' ? 'its own' : 'another\'s'} target: ${got} (${String(res.json.error ?? '')}), expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
    // The matrix is what it says: every key ran, and the binding keys twice where ownership applies.
    const bindingKeys = keys.filter((k) => k.binding).length;
    expect(runs).toBe(keys.length + (route.kind === 'certificate' || route.kind === 'request' ? bindingKeys : 0));
  }, 300_000);

  it('lists for every key only what it may read', async () => {
    const fx = await prepare({ certId: true, requestId: true, importedId: true });
    const wrong: string[] = [];
    for (const list of LISTS) {
      for (const key of keys) {
        const seen = await list.call(key.token, fx).catch((e: Error) => `failed: ${e.message}`);
        if (seen !== list.visible(key)) wrong.push(`${list.op} as ${key.name}: ${seen === true ? 'sees' : seen === false ? 'does not see' : seen} the own CA's item`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has every route of the OpenAPI document in the matrix', async () => {
    const doc = await env.api('GET', '/v1/openapi', null, undefined);
    expect(doc.status).toBe(200);
    const ops = Object.entries(doc.json.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m))
        .map((m) => `${m.toUpperCase()} ${path.replace(/^\/v1/, '')}`),
    );
    const inMatrix = new Set([...ROUTES.map((r) => r.op.replace(/ \(.*\)$/, '')), ...LISTS.map((l) => l.op.replace(/ \(.*\)$/, ''))]);
    // Open to anyone by design: the token exchange takes a secret; the document and the health probes are public;
    // /metrics takes its own token (CERTGATE_METRICS_TOKEN), not a credential's (metrics.test.ts).
    const open = new Set(['POST /auth/token', 'GET /openapi', 'GET /healthz', 'GET /readyz', 'GET /metrics']);
    expect(ops.filter((op) => !inMatrix.has(op) && !open.has(op))).toEqual([]);
  });
});
