// The inventory and a certificate's page.
import type { Route } from '../../routes';

export const certificateRoutes: Route[] = [];
