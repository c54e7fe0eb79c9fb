// Whether an action panel (components/panel.tsx) is open, and saving a file the page fetched
// (api.file: a PKCS#12 is a POST, which a download link cannot make) as a download.
import { useState } from 'preact/hooks';

export function usePanel() {
  const [open, setOpen] = useState(false);
  return { open, toggle: () => setOpen(!open), close: () => setOpen(false) };
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
