// The MCP endpoint driven by the SDK's own client, as an agent's host would: tools listed with
// their schemas and annotations, a certificate issued from an openssl CSR and revoked, managed
// mode without a key in sight, four eyes on approval, refusals that leave the certificate as it
// was and are audited as refused, every call in the audit trail with the credential as actor; and
// what a broken or hostile client sends answered with a 4xx or a JSON-RPC error, never a 5xx.
import { X509Certificate } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../src/audit/actions.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { createProduct } from '../src/core/products.js';
import { makeCsr, opensslVerify, tempDir, x509Text } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

const TOOLS = [
  'approve_request',
  'audit_trail',
  'decline_request',
  'expiring_certificates',
  'get_certificate',
  'get_request',
  'issue_certificate',
  'renew_certificate',
  'revoke_certificate',
  'search_certificates',
  'search_requests',
  'whoami',
];

/** What a JSON-RPC POST to /mcp needs besides its body (the transport refuses others with 406/415). */
const RPC_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const jsonOf = (r: CallToolResult): Record<string, unknown> => JSON.parse(textOf(r)) as Record<string, unknown>;

describe.each(REST_DEPLOYMENTS)('MCP endpoint: $name', (d) => {
  let env: RestEnv;
  const dir = tempDir('certgate-mcp-');
  const clients: Client[] = [];

  const connect = async (token: string): Promise<Client> => {
    const client = new Client({ name: 'certgate-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${env.base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    clients.push(client);
    return client;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> => (await client.callTool({ name, arguments: args })) as CallToolResult;
  const post = (body: string, headers: Record<string, string> = {}) => fetch(`${env.base}/mcp`, { method: 'POST', headers: { ...RPC_HEADERS, ...headers }, body });
  const trail = async (filter: Record<string, string>) => {
    const res = await env.api('GET', `/v1/audit?${new URLSearchParams({ ...filter, pageSize: '100' })}`, env.adminToken);
    expect(res.status, res.text).toBe(200);
    return res.json.entries as { actor: string; protocol: string; action: string; target: string; outcome: string; detail: Record<string, unknown> }[];
  };
  const product = async (name: string, template: Record<string, unknown>) =>
    (await createProduct(env.server.rt.store, { name: `${name}-${Math.random().toString(36).slice(2)}`, caId: env.issuingId, template: parseProductTemplate(template) }, CLI_CONTEXT)).id;

  beforeAll(async () => {
    env = await startRestEnv(d);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close();
    await env?.close();
  });

  it.skipIf(d.skip)('lists every tool with an input schema, reads marked read-only, revoke and decline marked destructive', async () => {
    const { token } = await env.restKey('lister', [{ ca: env.issuingId, actions: ['read'] }]);
    const { tools } = await (await connect(token)).listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const t of tools) {
      expect(t.description?.length, t.name).toBeGreaterThan(80);
      expect(t.inputSchema.type).toBe('object');
    }
    for (const name of ['revoke_certificate', 'decline_request']) expect(byName.get(name)?.annotations).toMatchObject({ destructiveHint: true, readOnlyHint: false });
    for (const name of ['search_certificates', 'get_certificate', 'search_requests', 'get_request', 'expiring_certificates', 'audit_trail', 'whoami']) {
      expect(byName.get(name)?.annotations).toMatchObject({ readOnlyHint: true });
    }
    expect(byName.get('issue_certificate')?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: false });
    expect(Object.keys(byName.get('issue_certificate')?.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(['mode', 'productId', 'csrPem', 'commonName']));
    expect(byName.get('revoke_certificate')?.inputSchema.required).toEqual(expect.arrayContaining(['id', 'reason']));
    expect(byName.get('decline_request')?.inputSchema.required).toEqual(expect.arrayContaining(['id', 'comment']));
  });

  it.skipIf(d.skip)('issues from an openssl CSR, refuses revocation without `revoke`, revokes with it; all in the audit trail as the credential', async () => {
    const issuer = await env.restKey('mcp-issuer', [{ ca: env.issuingId, actions: ['read', 'issue', 'revoke'] }]);
    const reader = await env.restKey('mcp-reader', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
    const agent = await connect(issuer.token);
    const { csrPem } = makeCsr(dir, { subject: '/CN=mcp1.host1.test', san: ['DNS:mcp1.host1.test', 'DNS:mcp2.host1.test'] });

    const issued = await call(agent, 'issue_certificate', { mode: 'csr', productId: env.productId, csrPem });
    expect(issued.isError, textOf(issued)).toBeFalsy();
    const answer = jsonOf(issued);
    expect(answer.state).toBe('issued');
    const cert = answer.certificate as { id: string; certificatePem: string; chainPem: string; sanDns: string[]; status: string };
    expect(opensslVerify(dir, env.rootPem, env.issuingPem, cert.certificatePem)).toMatch(/OK/);
    expect(x509Text(cert.certificatePem)).toMatch(/DNS:mcp1\.host1\.test, DNS:mcp2\.host1\.test/);
    expect(new X509Certificate(cert.chainPem).subject).toBe(new X509Certificate(env.issuingPem).subject);
    expect(cert.status).toBe('active');

    // Found again through the read tools.
    const found = jsonOf(await call(agent, 'search_certificates', { search: 'mcp1.host1.test' }));
    expect((found.certificates as { id: string }[]).map((c) => c.id)).toContain(cert.id);
    expect(jsonOf(await call(agent, 'get_certificate', { id: cert.id }))).toMatchObject({ id: cert.id, certificatePem: cert.certificatePem });

    const expiring = jsonOf(await call(agent, 'expiring_certificates', { withinDays: 3650, pageSize: 100 }));
    expect((expiring.certificates as { id: string }[]).map((c) => c.id)).toContain(cert.id);
    expect(expiring.report).toMatchObject({ total: expect.any(Number), by_expiry: expect.any(Object) });

    // A renewal from a new CSR for the same names: a successor that says what it supersedes.
    const renewed = await call(agent, 'renew_certificate', { id: cert.id, csrPem: makeCsr(dir, { subject: '/CN=mcp1.host1.test', san: ['DNS:mcp1.host1.test', 'DNS:mcp2.host1.test'] }).csrPem });
    expect(renewed.isError, textOf(renewed)).toBeFalsy();
    const successor = (jsonOf(renewed).certificate as { id: string; supersedes: string; certificatePem: string });
    expect(successor.supersedes).toBe(cert.id);
    expect(opensslVerify(dir, env.rootPem, env.issuingPem, successor.certificatePem)).toMatch(/OK/);

    // A credential of other products sees none of it, as on REST.
    const elsewhere = await connect((await env.restKey('mcp-elsewhere', [{ ca: env.issuingId, actions: ['read'] }], [await product('mcp-other', {})])).token);
    expect(jsonOf(await call(elsewhere, 'search_certificates', { search: 'mcp1.host1.test' })).certificates).toEqual([]);
    const hidden = await call(elsewhere, 'get_certificate', { id: cert.id });
    expect(hidden.isError).toBe(true);
    expect(textOf(hidden)).toMatch(/not one of its products/);

    // Without `revoke`: a tool result with isError that names what is missing, the certificate as it was.
    const refused = await call(await connect(reader.token), 'revoke_certificate', { id: cert.id, reason: 'keyCompromise' });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/may not revoke/);
    expect((await env.api('GET', `/v1/certificates/${cert.id}`, env.adminToken)).json.status).toBe('active');

    const revoked = await call(agent, 'revoke_certificate', { id: cert.id, reason: 'keyCompromise' });
    expect(revoked.isError, textOf(revoked)).toBeFalsy();
    const detail = await env.api('GET', `/v1/certificates/${cert.id}`, env.adminToken);
    expect(detail.json).toMatchObject({ status: 'revoked', revocation_reason: 'keyCompromise' });

    const byIssuer = await trail({ actor: issuer.credential.id });
    expect(byIssuer).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: AUDIT.requestSubmit, protocol: 'mcp' }),
        expect.objectContaining({ action: AUDIT.certificateRevoke, protocol: 'mcp', target: cert.id }),
        expect.objectContaining({ action: AUDIT.mcpToolCall, protocol: 'mcp', target: cert.id, outcome: 'success', detail: { tool: 'issue_certificate' } }),
        expect.objectContaining({ action: AUDIT.mcpToolCall, protocol: 'mcp', target: cert.id, outcome: 'success', detail: { tool: 'revoke_certificate' } }),
      ]),
    );
    const byReader = await trail({ actor: reader.credential.id });
    expect(byReader).toEqual(
      expect.arrayContaining([
        // The decision audits a refusal under the action tried (auth.refused is a login refused).
        expect.objectContaining({ action: AUDIT.certificateRevoke, outcome: 'refused', protocol: 'mcp', target: cert.id, detail: expect.objectContaining({ authz: 'revoke' }) }),
        expect.objectContaining({ action: AUDIT.mcpToolCall, outcome: 'refused', target: cert.id, detail: expect.objectContaining({ tool: 'revoke_certificate' }) }),
      ]),
    );

    // The trail through MCP: an admin's, and refused to anyone else.
    const admin = await connect(env.adminToken);
    const seen = jsonOf(await call(admin, 'audit_trail', { actor: issuer.credential.id, action: AUDIT.mcpToolCall }));
    expect((seen.entries as { detail: { tool: string } }[]).map((e) => e.detail.tool)).toEqual(expect.arrayContaining(['issue_certificate', 'revoke_certificate']));
    const notAdmin = await call(agent, 'audit_trail', {});
    expect(notAdmin.isError).toBe(true);
    expect(textOf(notAdmin)).toMatch(/admin/);
  });

  it.skipIf(d.skip)('managed mode: issued under an escrowing product with no private key anywhere in the answer; refused where keys are not escrowed', async () => {
    const escrowing = await product('mcp-escrow', { escrowKeys: true });
    const { token } = await env.restKey('mcp-managed', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
    const agent = await connect(token);
    const issued = await call(agent, 'issue_certificate', { mode: 'managed', productId: escrowing, commonName: 'managed.host1.test' });
    expect(issued.isError, textOf(issued)).toBeFalsy();
    expect(JSON.stringify(issued)).not.toMatch(/PRIVATE KEY/);
    const answer = jsonOf(issued);
    expect(answer).toMatchObject({ state: 'issued', certificate: { commonName: 'managed.host1.test' } });
    expect(answer.privateKey).toMatch(/PKCS#12/);

    const lost = await call(agent, 'issue_certificate', { mode: 'managed', productId: env.productId, commonName: 'lost.host1.test' });
    expect(lost.isError).toBe(true);
    expect(textOf(lost)).toMatch(/does not escrow keys/);
    expect(JSON.stringify(lost)).not.toMatch(/PRIVATE KEY/);
    const listed = await env.api('GET', '/v1/certificates?search=lost.host1.test', env.adminToken);
    expect(listed.json.certificates).toEqual([]);
  });

  it.skipIf(d.skip)('four eyes: the requester may not approve its own request, a second credential may; decline needs a comment', async () => {
    const held = await product('mcp-held', { requiresApproval: true });
    const requester = await env.restKey('mcp-requester', [{ ca: env.issuingId, actions: ['read', 'issue', 'approve'] }]);
    const approver = await env.restKey('mcp-approver', [{ ca: env.issuingId, actions: ['read', 'approve'] }]);
    const asks = await connect(requester.token);
    const decides = await connect(approver.token);
    const pendingRequest = async (name: string): Promise<string> => {
      const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
      const answer = jsonOf(await call(asks, 'issue_certificate', { productId: held, csrPem }));
      expect(answer).toMatchObject({ state: 'pending', request: { status: 'pending_approval' } });
      return (answer.request as { id: string }).id;
    };

    const first = await pendingRequest('held1.host1.test');
    const own = await call(asks, 'approve_request', { id: first });
    expect(own.isError).toBe(true);
    expect(textOf(own)).toMatch(/four eyes/);
    const queue = jsonOf(await call(decides, 'search_requests', { status: 'pending_approval' }));
    expect((queue.requests as { id: string }[]).map((r) => r.id)).toContain(first);
    const approved = await call(decides, 'approve_request', { id: first });
    expect(approved.isError, textOf(approved)).toBeFalsy();
    await until(async () => jsonOf(await call(asks, 'get_request', { id: first })).status === 'issued', 20_000, 'the approved request was issued');
    const decisions = await trail({ target: first });
    expect(decisions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: AUDIT.requestApprove, outcome: 'refused', actor: requester.credential.id, protocol: 'mcp', detail: expect.objectContaining({ reason: expect.stringMatching(/four eyes/) }) }),
        expect.objectContaining({ action: AUDIT.requestApprove, outcome: 'success', actor: approver.credential.id, protocol: 'mcp' }),
      ]),
    );

    const second = await pendingRequest('held2.host1.test');
    for (const args of [{ id: second }, { id: second, comment: '   ' }]) {
      const bare = await call(decides, 'decline_request', args);
      expect(bare.isError).toBe(true);
      expect(textOf(bare)).toMatch(/comment/);
    }
    expect(jsonOf(await call(asks, 'get_request', { id: second })).status).toBe('pending_approval');
    // Refused by the tool's schema before its handler ran: audited all the same, once the answer has gone.
    const refusedCalls = async () =>
      (await trail({ actor: approver.credential.id, action: AUDIT.mcpToolCall, target: second })).filter((e) => e.outcome === 'refused' && e.detail.tool === 'decline_request');
    await until(async () => (await refusedCalls()).length === 2, 10_000, 'both declines without a comment were audited');
    const declined = await call(decides, 'decline_request', { id: second, comment: 'not for this network' });
    expect(declined.isError, textOf(declined)).toBeFalsy();
    expect(jsonOf(await call(asks, 'get_request', { id: second }))).toMatchObject({ status: 'rejected', statusReason: 'not for this network' });
  });

  it.skipIf(d.skip)('no bearer or a wrong one: 401 with a Bearer challenge; broken JSON-RPC: a JSON-RPC error; GET, DELETE: 405; a foreign Origin: 403', async () => {
    const hello = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const none = await post(hello);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="certgate"$/);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/missing credential/);
    const wrong = await post(hello, { authorization: 'Bearer cg_not-a-key' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    const { token } = await env.restKey('mcp-raw', [{ ca: env.issuingId, actions: ['read'] }]);
    const auth = { authorization: `Bearer ${token}` };
    const broken = await post('{"jsonrpc": "2.0", "id": 1, "method": ', auth);
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } });
    const notRpc = await post(JSON.stringify({ hello: 'world' }), auth);
    expect(notRpc.status).toBeGreaterThanOrEqual(400);
    expect(notRpc.status).toBeLessThan(500);
    expect(await notRpc.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
    const tooBig = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(300_000) } }), auth);
    expect(tooBig.status).toBe(413);
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${env.base}/mcp`, { method, headers: { ...auth, accept: 'text/event-stream' } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
    const foreign = await post(hello, { ...auth, origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    // Without initialize first: stateless, each POST stands alone.
    const listed = await post(hello, auth);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { result: { tools: unknown[] } }).result.tools).toHaveLength(TOOLS.length);
  });

  it.skipIf(d.skip)('fuzzed tool arguments and JSON-RPC bodies: tool errors or JSON-RPC errors, never a 5xx or a dropped connection', async () => {
    const { token } = await env.restKey('mcp-fuzz', [{ ca: env.issuingId, actions: ['read', 'issue', 'revoke', 'approve'] }]);
    const agent = await connect(token);
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }));
    const keys = fc.constantFrom('id', 'mode', 'productId', 'caId', 'csrPem', 'commonName', 'sanDns', 'reason', 'comment', 'status', 'page', 'pageSize', 'withinDays', 'customFields', 'search', 'keyAlgorithm', 'x');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TOOLS, 'no_such_tool'), fc.dictionary(keys, value, { maxKeys: 4 }), async (name, args) => {
        const result = await call(agent, name, args);
        expect(result.content.length).toBeGreaterThan(0);
        if (result.isError) expect(textOf(result)).not.toMatch(/internal error/);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc.record({ jsonrpc: fc.constantFrom('2.0', '1.0', 2), id: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)), method: fc.constantFrom('tools/call', 'tools/list', 'initialize', 'x'), params: fc.jsonValue({ maxDepth: 2 }) }).map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 60 }),
        ),
        async (body) => {
          const res = await post(body, { authorization: `Bearer ${token}` });
          expect(res.status, body).toBeLessThan(500);
          await res.arrayBuffer();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('MCP endpoint: the credential\'s REST limits', () => {
  let env: RestEnv;
  beforeAll(async () => {
    env = await startRestEnv(REST_DEPLOYMENTS[0] as (typeof REST_DEPLOYMENTS)[number], { issueRateLimitPerMinute: 2 });
  }, 60_000);
  afterAll(async () => {
    await env?.close();
  });

  it('counts an issuance through MCP together with the credential\'s REST issuances: past the limit, 429 with Retry-After', async () => {
    const { token } = await env.restKey('mcp-limited', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
    const dir = tempDir('certgate-mcp-limit-');
    const issue = (name: string) =>
      fetch(`${env.base}/mcp`, {
        method: 'POST',
        headers: { ...RPC_HEADERS, authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'issue_certificate', arguments: { productId: env.productId, csrPem: makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] }).csrPem } } }),
      });
    const rest = await env.api('POST', '/v1/certificates', token, { productId: env.productId, csrPem: makeCsr(dir, { subject: '/CN=rest.limit.host1.test', san: ['DNS:rest.limit.host1.test'] }).csrPem });
    expect(rest.status, rest.text).toBe(201);
    const first = await issue('mcp.limit.host1.test');
    expect(first.status).toBe(200);
    const answer = (await first.json()) as { result: CallToolResult };
    expect(jsonOf(answer.result)).toMatchObject({ state: 'issued' });
    const second = await issue('mcp2.limit.host1.test');
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await second.json()).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringMatching(/rate limit exceeded/) } });
    // Reading is not issuing: the credential's request limit is far from reached.
    const read = await fetch(`${env.base}/mcp`, { method: 'POST', headers: { ...RPC_HEADERS, authorization: `Bearer ${token}` }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }) });
    expect(read.status).toBe(200);
  });
});
