// The request queue, credentials, domains and the audit trail.
import type { Route } from '../../routes';
import { AuditPage } from './audit';
import { CredentialPage, CredentialsPage } from './credentials';
import { DomainsPage } from './domains';
import { RequestPage, RequestsPage } from './requests';

export const operationsRoutes: Route[] = [
  { path: '/requests', title: 'Requests', page: RequestsPage, nav: { label: 'Requests', order: 40 } },
  { path: '/requests/:id', title: 'Request', page: RequestPage },
  { path: '/credentials', title: 'Credentials', page: CredentialsPage, adminOnly: true, nav: { label: 'Credentials', order: 45 } },
  { path: '/credentials/:id', title: 'Credential', page: CredentialPage, adminOnly: true },
  { path: '/domains', title: 'Domains', page: DomainsPage, nav: { label: 'Domains', order: 50 } },
  { path: '/audit', title: 'Audit trail', page: AuditPage, adminOnly: true, nav: { label: 'Audit', order: 55 } },
];
