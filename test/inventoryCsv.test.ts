// The inventory's CSV export without a gateway: it walks every page of the list (by position in
// creation order, by offset for a column sort), and refuses an export past its bound, with the count.
import { describe, expect, it } from 'vitest';
import type { Response } from 'express';
import type { CoreServices } from '../src/core/protocol.js';
import type { InventoryFilter, InventoryListing, InventoryPageRequest, InventoryRecord } from '../src/core/types.js';
import { EXPORT_LIMIT, sendInventoryCsv } from '../protocols/rest/inventoryCsv.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');

function record(i: number): InventoryRecord {
  return {
    id: `cert-${String(i).padStart(5, '0')}`,
    caId: 'ca-1',
    productId: 'p-1',
    requestId: null,
    serialNumber: i.toString(16),
    commonName: `host${i}.example.test`,
    sanDns: [`host${i}.example.test`],
    sanIp: [],
    sanEmail: [],
    sanUri: [],
    keyAlgorithm: 'ec-p256',
    validFrom: new Date(NOW - 86_400_000),
    validTo: new Date(NOW + 86_400_000),
    certificatePem: '',
    revokedAt: null,
    revocationReason: null,
    invalidityDate: null,
    createdAt: new Date(NOW - i),
    owner: i === 0 ? '@SUM(A1)' : null,
    notes: null,
    customFields: {},
    supersedes: null,
    renewedBy: null,
    source: 'issued',
    issuer: null,
  };
}

/** A store of `count` certificates answering the list as the real one pages it; records each page asked for. */
function fakeCore(count: number, totalSaid = count, totalExact = true) {
  const all = Array.from({ length: count }, (_, i) => record(i));
  const asked: InventoryPageRequest[] = [];
  const core = {
    now: () => NOW,
    queries: {
      caList: async () => [{ id: 'ca-1', name: 'Issuing CA' }],
      productList: async () => [{ id: 'p-1', name: 'Web servers' }],
      inventoryList: async (_f: InventoryFilter, page: InventoryPageRequest): Promise<InventoryListing> => {
        asked.push(page);
        const start = page.after ? all.findIndex((c) => c.id === page.after?.id) + 1 : (page.offset ?? 0);
        const certificates = all.slice(start, start + page.limit);
        const last = certificates[certificates.length - 1];
        const more = start + page.limit < all.length;
        return { certificates, total: totalSaid, totalExact, next: more && last && !page.sort ? { createdAt: last.createdAt.getTime(), id: last.id } : null };
      },
    },
  } as unknown as CoreServices;
  return { core, asked };
}

function fakeResponse() {
  const sent: { type?: string; headers: Record<string, string>; body?: string } = { headers: {} };
  const res = {
    type(t: string) {
      sent.type = t;
      return res;
    },
    set(k: string, v: string) {
      sent.headers[k] = v;
      return res;
    },
    send(body: string) {
      sent.body = body;
      return res;
    },
  } as unknown as Response;
  return { res, sent };
}

describe('inventory CSV export', () => {
  it('writes every page, walking by position in creation order', async () => {
    const { core, asked } = fakeCore(2_345);
    const { res, sent } = fakeResponse();
    await sendInventoryCsv(core, res, { includeImported: false }, { order: 'newest' });
    const lines = (sent.body as string).trimEnd().split('\r\n');
    expect(lines).toHaveLength(1 + 2_345);
    expect(new Set(lines.slice(1).map((l) => l.split(',')[0])).size).toBe(2_345);
    expect(asked.map((p) => p.after?.id ?? null)).toEqual([null, 'cert-00999', 'cert-01999']);
    expect(sent.type).toBe('text/csv');
    expect(sent.headers['Content-Disposition']).toBe('attachment; filename="certgate-certificates-2026-06-01.csv"');
    // Names beside ids, and a formula-looking owner defused.
    expect(lines[1]).toContain(',Issuing CA,p-1,Web servers,');
    expect(lines[1]).toContain(",'@SUM(A1),");
  });

  it('pages a column sort by offset', async () => {
    const { core, asked } = fakeCore(1_500);
    const { res, sent } = fakeResponse();
    await sendInventoryCsv(core, res, { includeImported: false }, { sort: { by: 'expires', descending: true } });
    expect((sent.body as string).trimEnd().split('\r\n')).toHaveLength(1 + 1_500);
    expect(asked.map((p) => [p.offset, p.sort?.by])).toEqual([
      [0, 'expires'],
      [1_000, 'expires'],
    ]);
  });

  it(`refuses an export of more than ${EXPORT_LIMIT} certificates, saying how many match`, async () => {
    const { core } = fakeCore(10, EXPORT_LIMIT + 1);
    const { res, sent } = fakeResponse();
    await expect(sendInventoryCsv(core, res, { includeImported: false }, { order: 'newest' })).rejects.toMatchObject({
      kind: 'unprocessable',
      message: expect.stringMatching(new RegExp(`at most ${EXPORT_LIMIT} .* match ${EXPORT_LIMIT + 1}: narrow them`)),
    });
    expect(sent.body).toBeUndefined();
  });

  it('reads what a search matches when its total is an estimate: refused past the bound, written below it', async () => {
    const under = fakeCore(EXPORT_LIMIT + 1, 10, false);
    await expect(sendInventoryCsv(under.core, fakeResponse().res, { includeImported: false }, { order: 'newest' })).rejects.toMatchObject({ kind: 'unprocessable', message: expect.stringMatching(/match more: narrow them/) });
    const over = fakeCore(1_200, EXPORT_LIMIT + 5_000, false);
    const { res, sent } = fakeResponse();
    await sendInventoryCsv(over.core, res, { includeImported: false }, { order: 'newest' });
    expect((sent.body as string).trimEnd().split('\r\n')).toHaveLength(1 + 1_200);
  });

  it('pins the moment: status as of the start, nothing made during the export', async () => {
    const seen: InventoryFilter[] = [];
    const { core } = fakeCore(5);
    const list = core.queries.inventoryList.bind(core.queries);
    (core.queries as { inventoryList: typeof list }).inventoryList = async (f, p) => (seen.push(f), list(f, p));
    await sendInventoryCsv(core, fakeResponse().res, { includeImported: false }, { sort: { by: 'commonName', descending: false } });
    expect(seen[0]).toMatchObject({ now: new Date(NOW), createdTo: new Date(NOW) });
  });
});
