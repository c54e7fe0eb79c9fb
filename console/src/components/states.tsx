// What a page shows while it loads, when there is nothing, when something failed, and after a change.
import type { ComponentChildren } from 'preact';

export const Loading = ({ what = 'Loading' }: { what?: string }) => (
  <p class="state loading" role="status" aria-live="polite">
    <span class="spinner" aria-hidden="true" />
    {what}…
  </p>
);

export const Empty = ({ children }: { children: ComponentChildren }) => <div class="state empty">{children}</div>;

export const ErrorMessage = ({ message, onRetry }: { message: string | null; onRetry?: () => void }) =>
  message ? (
    <div class="state error" role="alert">
      <p>{message}</p>
      {onRetry && (
        <button type="button" class="secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  ) : null;

/** A change that worked, announced to screen readers. */
export const Notice = ({ message }: { message: string | null }) =>
  message ? (
    <p class="notice" role="status">
      {message}
    </p>
  ) : null;
