// Whether an action panel (components/panel.tsx) is open, and the files a certificate's page
// fetches itself: a PKCS#12 (a POST), a chain as text, and saving a Blob as a download.
import { useState } from 'preact/hooks';
import { ApiError, apiUrl, sentenceOf } from '../../api';

export function usePanel() {
  const [open, setOpen] = useState(false);
  return { open, toggle: () => setOpen(!open), close: () => setOpen(false) };
}

/** A file the API answers to a POST (PKCS#12): fetched, then saved from a Blob (a download link cannot POST). */
export async function postForFile(path: string, body: unknown, csrfToken: string): Promise<{ blob: Blob; name: string }> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken, accept: 'application/x-pkcs12, application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The gateway cannot be reached. Check your connection and try again.');
  }
  if (!res.ok) {
    const error = await res.json().then((j: { error?: unknown }) => (typeof j.error === 'string' ? j.error : undefined), () => undefined);
    throw new ApiError(res.status, sentenceOf(res.status, error));
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'certificate.p12';
  return { blob: await res.blob(), name };
}

/** A GET the API answers with text (a PEM chain). */
export async function getText(path: string, query: Record<string, string>): Promise<string> {
  const res = await fetch(apiUrl(path, query), { credentials: 'same-origin' }).catch(() => {
    throw new ApiError(0, 'The gateway cannot be reached. Check your connection and try again.');
  });
  if (!res.ok) {
    const error = await res.json().then((j: { error?: unknown }) => (typeof j.error === 'string' ? j.error : undefined), () => undefined);
    throw new ApiError(res.status, sentenceOf(res.status, error));
  }
  return res.text();
}

/** Saves a Blob as a file, as a download link would. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
