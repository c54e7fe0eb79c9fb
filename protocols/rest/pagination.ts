// Certman's paging: `page` from 1 and `pageSize` up to 100 in; total, page, pageSize, totalPages out.
import { z } from 'zod';

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(25),
});

export function pageOf(q: { page: number; pageSize: number }, total: number) {
  return { total, page: q.page, pageSize: q.pageSize, totalPages: Math.ceil(total / q.pageSize) };
}
