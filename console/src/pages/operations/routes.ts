// The request queue, credentials, domains and the audit trail.
import type { Route } from '../../routes';

export const operationsRoutes: Route[] = [];
