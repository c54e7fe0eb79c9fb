// A consequential action's inline form: the button that opens it says whether it is open
// (aria-expanded), focus moves to the form's first control, and Cancel closes it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, apiUrl, sentenceOf } from '../../api';

export function usePanel() {
  const [open, setOpen] = useState(false);
  return { open, toggle: () => setOpen(!open), close: () => setOpen(false) };
}

export function ActionPanel({ id, title, open, children, onSubmit }: { id: string; title: string; open: boolean; children: ComponentChildren; onSubmit(): unknown }) {
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (open) form.current?.querySelector<HTMLElement>('input, select, textarea, button')?.focus();
  }, [open]);
  if (!open) return null;
  return (
    <form
      id={id}
      class="panel action-panel"
      ref={form}
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit();
      }}
      aria-label={title}
    >
      <h3>{title}</h3>
      {children}
    </form>
  );
}

/** The panel's confirm button, saying what it does, and Cancel. */
export function PanelButtons({ label, busy, danger, disabled, onCancel }: { label: string; busy: boolean; danger?: boolean; disabled?: boolean; onCancel(): void }) {
  return (
    <div class="actions">
      <button type="submit" class={danger ? 'danger' : undefined} disabled={busy || disabled}>
        {label}
      </button>
      <button type="button" class="secondary" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
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
