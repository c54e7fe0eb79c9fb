// Certman's paging: `page` from 1 and `pageSize` up to 100 in; total, page, pageSize, totalPages out.
// The inventory list also pages by cursor: `after` the previous page's `nextCursor`.
import { z } from 'zod';
import { EXACT_SEARCH_COUNT, type InventoryOrder, type InventoryPosition } from '../../src/core/types.js';

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(25),
});

export function pageOf(q: { page: number; pageSize: number }, total: number) {
  return { total, page: q.page, pageSize: q.pageSize, totalPages: Math.ceil(total / q.pageSize) };
}

export const listOrder = z.enum(['newest', 'oldest']);

/** Where a page ends, and in which order: all a cursor holds. */
export interface ListCursor {
  order: InventoryOrder;
  position: InventoryPosition;
}

// Opaque to clients (base64url of JSON), and not a secret: a cursor only says where a walk is, and
// every page is filtered and scoped as the first was. The version lets its form change later.
const CURSOR_VERSION = 1;
const cursorJson = z.tuple([z.literal(CURSOR_VERSION), listOrder, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(64)]);

export function cursorOf(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, cursor.order, cursor.position.createdAt, cursor.position.id])).toString('base64url');
}

export const afterCursor = z
  .string()
  .min(1)
  .max(200)
  .transform((text, ctx): ListCursor => {
    let fields: z.infer<typeof cursorJson> | undefined;
    if (/^[A-Za-z0-9_-]+$/.test(text)) {
      try {
        fields = cursorJson.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
      } catch {
        fields = undefined;
      }
    }
    if (!fields) {
      ctx.addIssue({ code: 'custom', message: 'not a cursor of this list: give the nextCursor of a page, unchanged' });
      return z.NEVER;
    }
    const [, order, createdAt, id] = fields;
    return { order, position: { createdAt, id } };
  });

/** The list's paging fields, for page paging and cursor paging alike. */
export const listPageFields = {
  total: z.number().int().describe('every match, not just this page; an estimate when totalExact is false'),
  totalExact: z
    .boolean()
    .describe(`false when total is estimated: a search the store expects to match more than ${EXACT_SEARCH_COUNT} certificates is not counted one by one`),
  page: z.number().int().optional().describe('page paging only'),
  pageSize: z.number().int(),
  totalPages: z.number().int().optional().describe('page paging only; from total, so an estimate too when totalExact is false'),
  nextCursor: z.string().nullable().describe('give it as `after` for the next page (in the same order); null: this is the last page'),
};

/** The paging fields of one page of the list; `page` absent when it was asked for by cursor. */
export function listPageOf(
  q: { page?: number; pageSize: number },
  listing: { total: number; totalExact: boolean; next: InventoryPosition | null },
  order: InventoryOrder,
) {
  return {
    total: listing.total,
    totalExact: listing.totalExact,
    ...(q.page !== undefined ? { page: q.page } : {}),
    pageSize: q.pageSize,
    ...(q.page !== undefined ? { totalPages: Math.ceil(listing.total / q.pageSize) } : {}),
    nextCursor: listing.next ? cursorOf({ order, position: listing.next }) : null,
  };
}
