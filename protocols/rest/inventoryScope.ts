// Which certificates of the inventory a credential may read: the list and the report ask the one
// authorization decision (listScope) and narrow the store's filter the same way (src/core/access.ts,
// shared with MCP).
import type { Request } from 'express';
import { readableInventoryOf } from '../../src/core/access.js';
import type { InventoryFilter } from '../../src/core/types.js';
import { principalOfRequest } from './auth.js';

/** `caId`: the one CA asked for (the caller checks read on it first). */
export function readableInventory(req: Request, caId?: string): Pick<InventoryFilter, 'caIds' | 'includeImported' | 'productIds' | 'requester'> {
  return readableInventoryOf(principalOfRequest(req), caId);
}
