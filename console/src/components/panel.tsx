// A consequential action's inline panel (revoke, decline, rotate…): opened by a button that carries
// aria-expanded, it takes focus to its first control; Escape or Cancel closes it, and focus goes
// back to the button that opened it, so a keyboard user keeps their place. With `onSubmit` the
// panel is the form itself; without, its children bring their own.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function ActionPanel(props: { id: string; title: string; onCancel(): void; onSubmit?(): unknown; level?: 2 | 3; children: ComponentChildren }) {
  const { id, title, onCancel, onSubmit, level = 2, children } = props;
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    ref.current?.querySelector<HTMLElement>('input, textarea, select, button[type="submit"]')?.focus();
    return () => {
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  const Heading = level === 2 ? 'h2' : 'h3';
  const common = { id, class: 'panel action-panel', 'aria-label': title, onKeyDown: (e: KeyboardEvent) => e.key === 'Escape' && onCancel() };
  const body = (
    <>
      <Heading>{title}</Heading>
      {children}
    </>
  );
  if (!onSubmit) {
    return (
      <section {...common} ref={ref}>
        {body}
      </section>
    );
  }
  return (
    <form
      {...common}
      ref={ref as unknown as preact.RefObject<HTMLFormElement>}
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit();
      }}
    >
      {body}
    </form>
  );
}

/** The confirm button, saying what it does (and what it is doing while busy), and Cancel: the end of every panel's form. */
export function PanelButtons({ label, busyLabel, busy, danger, disabled, onCancel }: { label: string; busyLabel?: string; busy: boolean; danger?: boolean; disabled?: boolean; onCancel(): void }) {
  return (
    <div class="actions">
      <button type="submit" class={danger ? 'danger' : undefined} disabled={busy || disabled}>
        {busy && busyLabel ? busyLabel : label}
      </button>
      <button type="button" class="secondary" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
