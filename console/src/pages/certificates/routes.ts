// The inventory and a certificate's page.
import type { Route } from '../../routes';
import { CertificateDetail } from './certificate';
import { Inventory } from './inventory';

export const certificateRoutes: Route[] = [
  { path: '/certificates', title: 'Certificates', page: Inventory, nav: { label: 'Certificates', order: 20 } },
  { path: '/certificates/:id', title: 'Certificate', page: CertificateDetail },
];
