// Which certificates of the inventory a credential may read: the list and the report ask the one
// authorization decision (listScope) and narrow the store's filter the same way.
import type { Request } from 'express';
import { listScope } from '../../src/auth/authorize.js';
import type { InventoryFilter } from '../../src/core/types.js';
import { principalOfRequest } from './auth.js';

/** `caId`: the one CA asked for (the caller checks read on it first). */
export function readableInventory(req: Request, caId?: string): Pick<InventoryFilter, 'caIds' | 'includeImported' | 'productIds' | 'requester'> {
  const scope = listScope(principalOfRequest(req), 'read');
  const readable = scope.caIds;
  return {
    ...(caId ? { caIds: [caId] } : readable === '*' ? {} : { caIds: readable }),
    // Imported certificates have no requester: a credential scoped to its own never sees them.
    includeImported: !caId && readable === '*' && scope.requester === null,
    ...(scope.productIds === '*' ? {} : { productIds: scope.productIds }),
    ...(scope.requester !== null ? { requester: scope.requester } : {}),
  };
}
