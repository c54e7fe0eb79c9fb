// GET /v1/whoami, /v1/cas, /v1/cas/:id, /v1/cas/:id/chain: Certman's shapes.
import { X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { z } from 'zod';
import { can } from '../../src/auth/permissions.js';
import { capabilitiesView } from '../../src/core/caCapabilities.js';
import { keyEnvelopeKind } from '../../src/core/sealing.js';
import { notFound } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { PERMISSION_ACTIONS, type CaRecord, type PermissionAction } from '../../src/core/types.js';
import { OID } from '../../src/pki/oids.js';
import { fromPem } from '../../src/pki/pem.js';
import { auditContextOf, credentialOf, requireAdmin, requirePermission } from './auth.js';
import { restConfig } from './config.js';
import { certmanKeyAlgorithm, keyAlgorithmInput } from './keyAlgorithm.js';
import type { RestRoutes } from './route.js';
import { caDetailSchema, caSchema, idParams } from './schemas.js';

/** What the CA's certificate says, read once per CA (certificates never change). */
interface CaFacts {
  attributes: Map<string, string>;
  /** As the certificate says (whole seconds), not as stored. */
  validFrom: string;
  validTo: string;
  serialHex: string;
  pathLength: number | null;
}
// By CA id, with the PEM the facts were read from: the store hands out new records on every read.
const factsCache = new Map<string, { pem: string; facts: CaFacts }>();

function factsOf(ca: CaRecord): CaFacts {
  const cached = factsCache.get(ca.id);
  if (cached?.pem === ca.certificatePem) return cached.facts;
  const x509 = new X509Certificate(ca.certificatePem);
  const attributes = new Map<string, string>();
  for (const line of x509.subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !attributes.has(line.slice(0, eq))) attributes.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const parsed = pkijs.Certificate.fromBER(fromPem(ca.certificatePem, ['CERTIFICATE']));
  const bc = parsed.extensions?.find((e) => e.extnID === OID.basicConstraints)?.parsedValue as pkijs.BasicConstraints | undefined;
  const pathLength = typeof bc?.pathLenConstraint === 'number' ? bc.pathLenConstraint : null;
  const facts = { attributes, validFrom: new Date(x509.validFrom).toISOString(), validTo: new Date(x509.validTo).toISOString(), serialHex: x509.serialNumber.toLowerCase(), pathLength };
  factsCache.set(ca.id, { pem: ca.certificatePem, facts });
  return facts;
}

function depthOf(ca: CaRecord, byId: ReadonlyMap<string, CaRecord>): number {
  let depth = 0;
  for (let p = ca.parentId; p !== null && depth < 16; p = byId.get(p)?.parentId ?? null) depth++;
  return depth;
}

export function caJson(ca: CaRecord, byId: ReadonlyMap<string, CaRecord>): z.output<typeof caSchema> {
  const facts = factsOf(ca);
  return {
    id: ca.id,
    name: ca.name,
    common_name: facts.attributes.get('CN') ?? null,
    organization: facts.attributes.get('O') ?? null,
    key_algorithm: certmanKeyAlgorithm(ca.keyAlgorithm),
    valid_from: facts.validFrom,
    valid_to: facts.validTo,
    created_at: ca.createdAt.toISOString(),
    parent_ca_id: ca.parentId,
    depth: depthOf(ca, byId),
    path_length: facts.pathLength,
    type: ca.parentId === null ? 'root' : 'intermediate',
    subject: ca.subject,
    backend: ca.backend,
    capabilities: capabilitiesView(ca),
  };
}

function caDetailJson(ca: CaRecord, byId: ReadonlyMap<string, CaRecord>): z.output<typeof caDetailSchema> {
  const facts = factsOf(ca);
  return {
    ...caJson(ca, byId),
    country: facts.attributes.get('C') ?? null,
    state: facts.attributes.get('ST') ?? null,
    locality: facts.attributes.get('L') ?? null,
    certificate_pem: ca.certificatePem,
    serial_number: facts.serialHex,
    has_passphrase: keyEnvelopeKind(ca.encryptedKey) === 'passphrase',
    // certgate does not revoke its own CAs (yet): every CA it lists is unrevoked.
    revoked_at: null,
    revocation_reason: null,
  };
}

export function mountCaRoutes(routes: RestRoutes, core: CoreServices): void {
  const { queries, cas } = core;
  const allCas = async () => {
    const list = await queries.caList();
    return { list, byId: new Map(list.map((ca) => [ca.id, ca])) };
  };

  routes.add(
    {
      method: 'get',
      path: '/whoami',
      tag: 'Account',
      summary: 'The calling credential, its owner and what it may do on each CA',
      permission: 'any credential',
      responses: {
        200: {
          description: 'Who is calling',
          schema: z.object({
            user: z.object({ id: z.string(), email: z.string().nullable() }),
            workspace: z.object({ id: z.string(), name: z.string(), slug: z.string() }),
            apiKey: z.object({ id: z.string(), name: z.string(), prefix: z.string() }),
            permissions: z.record(z.string(), z.object({ canRead: z.boolean(), canIssue: z.boolean(), canRevoke: z.boolean(), canApprove: z.boolean() })),
            actions: z.record(z.string(), z.array(z.enum(PERMISSION_ACTIONS))).describe('by CA id: every action the credential may take on what that CA issued (what the console offers); under "*", the actions granted on every CA, which imported certificates need'),
            admin: z.boolean(),
            products: z.union([z.literal('*'), z.array(z.string())]),
          }),
        },
      },
    },
    async ({ req, res }) => {
      const c = credentialOf(req);
      const { list } = await allCas();
      const permissions: Record<string, { canRead: boolean; canIssue: boolean; canRevoke: boolean; canApprove: boolean }> = {};
      const actions: Record<string, PermissionAction[]> = {};
      for (const ca of list) {
        const allowed = PERMISSION_ACTIONS.filter((a) => can(c, a, ca.id));
        if (allowed.length) actions[ca.id] = allowed;
        const [canRead, canIssue, canRevoke, canApprove] = (['read', 'issue', 'revoke', 'approve'] as const).map((a) => can(c, a, ca.id)) as [boolean, boolean, boolean, boolean];
        if (canRead || canIssue || canRevoke || canApprove) permissions[ca.id] = { canRead, canIssue, canRevoke, canApprove };
      }
      const everywhere = PERMISSION_ACTIONS.filter((a) => can(c, a, '*'));
      if (everywhere.length) actions['*'] = everywhere;
      const owner = c.ownerUser;
      const { workspaceName } = restConfig.of(core.config);
      const slug = workspaceName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'certgate';
      res.json({
        // certgate has no users: the credential's owner label stands in, or the credential itself.
        user: { id: owner ?? c.id, email: owner && /^[^@\s]+@[^@\s]+$/.test(owner) ? owner : null },
        workspace: { id: slug, name: workspaceName, slug },
        apiKey: { id: c.id, name: c.name, prefix: `cg_${c.id}` },
        permissions,
        actions,
        admin: c.admin,
        products: c.products,
      });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/cas',
      tag: 'CAs',
      summary: 'The CAs this credential may read',
      permission: 'read (each CA listed is one the credential may read)',
      query: z.object({ parentCaId: z.string().min(1).max(200).optional(), type: z.enum(['root', 'intermediate', 'all']).default('all') }),
      responses: { 200: { description: 'CAs', schema: z.object({ cas: z.array(caSchema) }) } },
    },
    async ({ req, res, query }) => {
      const { list, byId } = await allCas();
      const cred = credentialOf(req);
      const shown = list
        .filter((ca) => can(cred, 'read', ca.id))
        .filter((ca) => query.parentCaId === undefined || ca.parentId === query.parentCaId)
        .filter((ca) => query.type === 'all' || (query.type === 'root') === (ca.parentId === null));
      res.json({ cas: shown.map((ca) => caJson(ca, byId)) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/cas',
      tag: 'CAs',
      summary: 'Create a local CA: a root, or an issuing CA under a parent',
      description:
        'What `certgate ca create` does for a CA whose key certgate makes and seals under the master key. An issuing CA\'s validity ends no later than its parent\'s. CAs with a key in a PKCS#11 token, a passphrase-protected key or an upstream ACME CA are made with `certgate ca create`. Audited as ca.create.',
      permission: 'admin',
      body: z
        .object({
          name: z.string().trim().min(1).max(200).describe('unique; how CLI commands, EST/CMP labels and passphrase settings may name the CA'),
          subject: z.string().trim().min(1).max(1000).optional().describe('e.g. "CN=Example Issuing CA, O=Example"; default CN=<name>'),
          key_algorithm: keyAlgorithmInput.default('ec-p256'),
          validity_days: z.number().int().min(1).max(36_500).default(3650),
          parent_ca_id: z.string().min(1).max(200).optional().describe('makes an issuing CA under this one; absent: a root'),
        })
        .strict(),
      responses: { 201: { description: 'The CA', schema: z.object({ ca: caDetailSchema }) } },
    },
    async ({ req, res, body }) => {
      await requireAdmin(core, req, 'ca.create');
      const ca = await core.catalogueAdmin.createLocalCa(
        { name: body.name, keyAlgorithm: body.key_algorithm, validityDays: body.validity_days, ...(body.subject ? { subject: body.subject } : {}), ...(body.parent_ca_id ? { parentId: body.parent_ca_id } : {}) },
        auditContextOf(req),
      );
      const { byId } = await allCas();
      byId.set(ca.id, ca);
      res.status(201).json({ ca: caDetailJson(ca, byId) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/cas/:id',
      tag: 'CAs',
      summary: 'One CA, with its certificate',
      permission: 'read on the CA',
      params: idParams,
      responses: { 200: { description: 'The CA', schema: z.object({ ca: caDetailSchema }) } },
    },
    async ({ req, res, params }) => {
      const { byId } = await allCas();
      const ca = byId.get(params.id);
      if (!ca) throw notFound(`CA ${params.id} not found`);
      await requirePermission(core, req, 'read', ca.id);
      res.json({ ca: caDetailJson(ca, byId) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/cas/:id/chain',
      tag: 'CAs',
      summary: 'The CA certificate and its parents up to the root',
      description: 'JSON by default; `Accept: application/pem-certificate-chain` gives a PEM bundle for curl | openssl.',
      permission: 'read on the CA',
      params: idParams,
      responses: {
        200: {
          description: 'The chain, from the CA up to the root',
          schema: z.object({ caId: z.string(), chainLength: z.number().int(), chain: z.array(z.string()) }),
          alternatives: { 'application/pem-certificate-chain': 'the same chain as one PEM bundle' },
        },
      },
    },
    async ({ req, res, params }) => {
      const ca = await queries.caById(params.id);
      if (!ca) throw notFound(`CA ${params.id} not found`);
      await requirePermission(core, req, 'read', ca.id);
      const chain = await cas.chainOf(ca.id);
      if (req.accepts(['application/json', 'application/pem-certificate-chain']) === 'application/pem-certificate-chain') {
        res.type('application/pem-certificate-chain').send(chain.join(''));
        return;
      }
      res.json({ caId: ca.id, chainLength: chain.length, chain });
    },
  );
}
