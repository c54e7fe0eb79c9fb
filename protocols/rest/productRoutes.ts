// Products: what each template allows.
import { z } from 'zod';
import { can } from '../../src/auth/permissions.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { credentialOf } from './auth.js';
import type { RestRoutes } from './route.js';
import { productJson } from './serialize.js';

export function mountProductRoutes(routes: RestRoutes, core: CoreServices): void {
  routes.add(
    {
      method: 'get',
      path: '/products',
      tag: 'Products',
      summary: 'The products of the CAs this credential may read',
      permission: 'read on the product\'s CA',
      responses: { 200: { description: 'Products', schema: z.object({ products: z.array(z.looseObject({ id: z.string(), name: z.string(), ca_id: z.string() })) }) } },
    },
    async ({ req, res }) => {
      const products = await core.queries.productList();
      res.json({ products: products.filter((p) => can(credentialOf(req), 'read', p.caId)).map(productJson) });
    },
  );
}
