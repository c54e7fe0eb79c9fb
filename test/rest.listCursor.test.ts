// The inventory list paged by cursor over REST, on both deployments: each page's nextCursor,
// given as `after`, walks every certificate exactly once in either order while others are issued
// meanwhile; a cursor that is not one is a 400 in the REST error form; a cursor changes nothing
// of what a credential may read.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { Permission } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

interface Listed {
  id: string;
  product_id: string | null;
  created_at: string;
}

interface Page {
  certificates: Listed[];
  total: number;
  totalExact: boolean;
  page?: number;
  totalPages?: number;
  nextCursor: string | null;
}

describe.each(REST_DEPLOYMENTS.filter((d) => !d.skip))('the inventory list by cursor, $name', (d) => {
  let env: RestEnv;
  let productA: string;
  let productB: string;

  beforeAll(async () => {
    env = await startRestEnv(d, { rateLimitPerMinute: 0, issueRateLimitPerMinute: 0 });
    const make = async (name: string) => (await createProduct(env.server.rt.store, { name, caId: env.issuingId, template: parseProductTemplate({}) }, CLI_CONTEXT)).id;
    productA = await make('cursor-a');
    productB = await make('cursor-b');
  });

  afterAll(async () => {
    await env?.close();
  });

  const issue = async (productId: string, token = env.adminToken): Promise<string> => {
    const res = await env.api('POST', '/v1/certificates', token, { productId, commonName: `c-${randomBytes(4).toString('hex')}.cursor.test` });
    expect(res.status, res.text).toBe(201);
    return (res.json.certificate as { id: string }).id;
  };

  const list = async (query: string, token = env.adminToken): Promise<Page> => {
    const res = await env.api('GET', `/v1/certificates?${query}`, token);
    expect(res.status, res.text).toBe(200);
    return res.json as unknown as Page;
  };

  /** From the first page (by page number) to the last (nextCursor null), running `between` after each page. */
  const walk = async (query: string, token = env.adminToken, between?: () => Promise<unknown>): Promise<Listed[]> => {
    let page = await list(query, token);
    expect(page.page).toBe(1);
    const seen = [...page.certificates];
    while (page.nextCursor) {
      await between?.();
      page = await list(`${query.replace(/(^|&)page=\d+/, '')}&after=${page.nextCursor}`, token);
      expect(page.page).toBeUndefined();
      expect(page.totalPages).toBeUndefined();
      expect(page.totalExact).toBe(true);
      seen.push(...page.certificates);
    }
    return seen;
  };

  it.each(['newest', 'oldest'] as const)('walks every certificate once, %s first, while others are issued meanwhile', async (sort) => {
    const before = new Set<string>();
    for (let i = 0; i < 11; i++) before.add(await issue(productA));
    const issuedMeanwhile: Promise<string>[] = [];
    const seen = await walk(`productId=${productA}&pageSize=4&sort=${sort}`, env.adminToken, async () => {
      // Issued while the walk goes on, each request racing the next page's.
      issuedMeanwhile.push(issue(productA), issue(productA));
    });
    await Promise.all(issuedMeanwhile);
    const ids = seen.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => before.has(id)).length).toBe(before.size);
    const times = seen.map((c) => Date.parse(c.created_at));
    expect(times).toEqual([...times].sort((a, b) => (sort === 'newest' ? b - a : a - b)));
  });

  it('refuses what is not a cursor of this list with a 400 in the REST error form', async () => {
    const first = await list(`productId=${productA}&pageSize=2`);
    const cursor = first.nextCursor as string;
    expect(cursor).toEqual(expect.any(String));
    const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const refused: [string, RegExp][] = [
      ['after=not-a-cursor', /^invalid request: after: not a cursor of this list/],
      ['after=%2F%2F%2F', /^invalid request: after: not a cursor of this list/],
      [`after=${json({ id: 'x' })}`, /^invalid request: after: not a cursor of this list/],
      [`after=${json([1, 'sideways', 1, 'x'])}`, /^invalid request: after: not a cursor of this list/],
      [`after=${json([1, 'newest', -5, 'x'])}`, /^invalid request: after: not a cursor of this list/],
      [`after=${'A'.repeat(300)}`, /^invalid request: after: /],
      ['after=', /^invalid request: after: /],
      [`after=${cursor}&page=2`, /^invalid request: page: give page or after, not both/],
      [`after=${cursor}&sort=oldest`, /^invalid request: sort: after is a cursor of the list newest first/],
      ['sort=sideways', /^invalid request: sort: /],
    ];
    for (const [query, error] of refused) {
      const res = await env.api('GET', `/v1/certificates?${query}`, env.adminToken);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.json.error, query).toMatch(error);
    }
    // The same cursor, unchanged, with its own order named: the next page.
    expect((await list(`productId=${productA}&pageSize=2&sort=newest&after=${cursor}`)).certificates).toHaveLength(2);
  });

  it('keeps a credential to its products, whatever cursor it brings', async () => {
    const permissions: Permission[] = [{ ca: env.issuingId, actions: ['read', 'issue'] }];
    const a = await env.restKey(`cursor-a-${randomBytes(3).toString('hex')}`, permissions, [productA]);
    const mineA = new Set<string>();
    for (let i = 0; i < 3; i++) {
      mineA.add(await issue(productA, a.token));
      await issue(productB);
    }
    const walked = await walk('pageSize=2', a.token);
    expect(new Set(walked.map((c) => c.product_id))).toEqual(new Set([productA]));
    for (const id of mineA) expect(walked.map((c) => c.id)).toContain(id);
    // A cursor from an admin's walk, at a certificate of product B: still only product A's.
    const adminPage = await list(`productId=${productB}&pageSize=1`);
    const fromAdmin = await list(`pageSize=100&after=${adminPage.nextCursor as string}`, a.token);
    expect(fromAdmin.certificates.length).toBeGreaterThan(0);
    expect(new Set(fromAdmin.certificates.map((c) => c.product_id))).toEqual(new Set([productA]));
  });
});
