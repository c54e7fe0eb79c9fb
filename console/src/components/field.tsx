// A labelled form control: the label is tied to the control, and a hint or an error is announced with it.
import type { ComponentChildren } from 'preact';

let next = 0;
/** A stable, unique id for a control when the caller names none. */
export const newId = (prefix: string): string => `${prefix}-${++next}`;

export function Field({ id, label, hint, error, children }: { id: string; label: string; hint?: string; error?: string | null; children: ComponentChildren }) {
  return (
    <div class={`field${error ? ' invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** The aria-describedby a control inside <Field> should carry. */
export const describedBy = (id: string, hint?: string, error?: string | null): string | undefined =>
  [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
