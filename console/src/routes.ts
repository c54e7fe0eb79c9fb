// Every page of the console: where it is, what the navigation calls it, and what draws it. Each
// group of pages keeps its own list (pages/<group>/routes.ts); this joins them in navigation order.
import type { ComponentType } from 'preact';
import { catalogueRoutes } from './pages/catalogue/routes';
import { certificateRoutes } from './pages/certificates/routes';
import { operationsRoutes } from './pages/operations/routes';

export interface PageProps {
  /** The path's parameters (`:id`). */
  params: Record<string, string>;
  /** The fragment's query: filters, sort and page live here, so a view can be linked and reloaded. */
  query: URLSearchParams;
}

export interface Route {
  /** `/certificates/:id`; `/` is the dashboard. */
  path: string;
  /** The page's heading and the window's title. */
  title: string;
  page: ComponentType<PageProps>;
  /** Only an admin credential may use what the page shows (the API refuses anyone else): others are told so instead. */
  adminOnly?: boolean;
  /** Shown in the navigation with this label, in ascending `order`. */
  nav?: { label: string; order: number };
}

export const ROUTES: Route[] = [...catalogueRoutes, ...certificateRoutes, ...operationsRoutes];
