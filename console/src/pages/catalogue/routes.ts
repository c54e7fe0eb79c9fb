// The dashboard, products and CAs. The fixed paths (/products/new) come before the ones they
// would match as an id.
import type { Route } from '../../routes';
import { CaNew, CaPage, Cas } from './cas';
import { Dashboard } from './dashboard';
import { ProductPage } from './product';
import { ProductEdit, ProductNew } from './productForm';
import { Products } from './products';

export const catalogueRoutes: Route[] = [
  { path: '/', title: 'Dashboard', page: Dashboard, nav: { label: 'Dashboard', order: 0 } },
  { path: '/products', title: 'Products', page: Products, nav: { label: 'Products', order: 60 } },
  { path: '/products/new', title: 'New product', page: ProductNew },
  { path: '/products/:id', title: 'Product', page: ProductPage },
  { path: '/products/:id/edit', title: 'Edit product', page: ProductEdit },
  { path: '/cas', title: 'CAs', page: Cas, nav: { label: 'CAs', order: 65 } },
  { path: '/cas/new', title: 'New CA', page: CaNew },
  { path: '/cas/:id', title: 'CA', page: CaPage },
];
