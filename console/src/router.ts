// Pages are addressed by the URL's fragment (#/certificates?status=active), so that the gateway
// serves one page for all of them and a link, a reload or the back button lands on the same view.
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const q = hash.indexOf('?');
  return { path: q < 0 ? hash : hash.slice(0, q), query: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)) };
}

/** The href of a page: `href('/certificates', { status: 'active' })`. Empty values are left out. */
export function href(path: string, query: Record<string, string | number | undefined | null> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const q = params.toString();
  return `#${path}${q ? `?${q}` : ''}`;
}

export function navigate(path: string, query: Record<string, string | number | undefined | null> = {}, replace = false): void {
  const target = href(path, query);
  if (replace) window.history.replaceState(null, '', target);
  else window.location.hash = target;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const changed = () => setLocation(current());
    window.addEventListener('hashchange', changed);
    // Effects run after the first paint: a change made before the listener was there is read now.
    changed();
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return location;
}

/** Matches `/certificates/:id` against a path; the parameters, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const have = path.split('/');
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const h = have[i] as string;
    if (w.startsWith(':')) {
      if (!h) return null;
      params[w.slice(1)] = decodeURIComponent(h);
    } else if (w !== h) return null;
  }
  return params;
}
