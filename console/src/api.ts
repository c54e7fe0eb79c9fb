// Every call the console makes: the REST API under /v1 and the session under /console/session,
// with the session's cookie, and its CSRF token on every change. Errors come back as sentences a
// person can act on.

/** Where the REST API is, from the console's page (…/console/ → …/v1). */
export const API_BASE = new URL('../v1', document.baseURI).pathname;
const SESSION_URL = new URL('session', document.baseURI).pathname;

let csrfToken = '';
let onSessionEnded: () => void = () => {};

export function useCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when the API says the session is over (expired, signed out elsewhere, credential revoked). */
export function whenSessionEnds(callback: () => void): void {
  onSessionEnded = callback;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What went wrong, in words: the API's own sentence, with what it means for the person. */
function sentenceOf(status: number, error: string | undefined): string {
  const said = error ? error.replace(/\.$/, '') : '';
  switch (status) {
    case 401:
      return 'Your session has ended. Sign in again to go on.';
    case 403:
      return `Your credential is not allowed to do this${said ? `: ${said}` : ''}.`;
    case 404:
      return `Not found${said ? `: ${said}` : ''}.`;
    case 429:
      return 'Too many requests for now. Wait a moment and try again.';
    default:
      if (status >= 500) return 'The gateway could not do this just now. Try again in a moment; if it keeps happening, tell an operator.';
      return said ? `${said.charAt(0).toUpperCase()}${said.slice(1)}.` : `The request was refused (HTTP ${status}).`;
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

/** A path under /v1 with its query (empty values left out): also the href of a download link. */
export function apiUrl(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const q = params.toString();
  return `${API_BASE}${path}${q ? `?${q}` : ''}`;
}

/** One request, with the session's CSRF token on a change: the answer when it is a success, else an ApiError in words. */
async function send(method: string, url: string, body: unknown, accept: string): Promise<Response> {
  const headers: Record<string, string> = { accept };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiError(0, 'The gateway cannot be reached. Check your connection and try again.');
  }
  if (!res.ok) {
    // Not JSON: the status says enough.
    const json: unknown = await res.json().catch(() => undefined);
    const error = json && typeof json === 'object' && 'error' in json && typeof json.error === 'string' ? json.error : undefined;
    throw new ApiError(res.status, sentenceOf(res.status, error));
  }
  return res;
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await send(method, url, body, 'application/json');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && url !== SESSION_URL) onSessionEnded();
    throw e;
  }
  const text = await res.text();
  try {
    return (text ? JSON.parse(text) : undefined) as T;
  } catch {
    return undefined as T;
  }
}

export const api = {
  get: <T>(path: string, query?: Query): Promise<T> => call<T>('GET', apiUrl(path, query)),
  post: <T>(path: string, body?: unknown): Promise<T> => call<T>('POST', apiUrl(path), body ?? {}),
  put: <T>(path: string, body?: unknown): Promise<T> => call<T>('PUT', apiUrl(path), body ?? {}),
  del: <T>(path: string): Promise<T> => call<T>('DELETE', apiUrl(path)),
  /** A GET the API answers with text (a PEM chain). */
  text: async (path: string, query?: Query): Promise<string> => (await send('GET', apiUrl(path, query), undefined, '*/*')).text(),
  /** A file the API answers to a POST (PKCS#12), with the name it gives it. */
  file: async (path: string, body: unknown, accept: string, fallbackName: string): Promise<{ blob: Blob; name: string }> => {
    const res = await send('POST', apiUrl(path), body, `${accept}, application/json`);
    return { blob: await res.blob(), name: /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName };
  },
};

export interface SignedIn {
  credential: { id: string; name: string; type: string; admin?: boolean; products?: string[] | '*'; [k: string]: unknown };
  csrfToken: string;
  expiresAt: string;
}

export const session = {
  current: (): Promise<SignedIn> => call<SignedIn>('GET', SESSION_URL),
  signIn: (key: string): Promise<SignedIn> => call<SignedIn>('POST', SESSION_URL, { key }),
  signOut: (): Promise<void> => call<void>('DELETE', SESSION_URL),
};
