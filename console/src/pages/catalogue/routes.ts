// The dashboard, products and CAs.
import type { Route } from '../../routes';

export const catalogueRoutes: Route[] = [];
