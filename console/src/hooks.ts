// Loading data for a page: the value, whether it is loading, and the error in words.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Loaded<T> {
  data: T | undefined;
  loading: boolean;
  error: string | null;
  /** Loads again (after a change). */
  reload(): void;
}

const messageOf = (e: unknown): string => (e instanceof ApiError ? e.message : 'Something went wrong in the console. Reload the page and try again.');

/** Runs `load` now and whenever `deps` change; a stale answer never overwrites a newer one. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; loading: boolean; error: string | null }>({ data: undefined, loading: true, error: null });
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => mine === latest.current && setState({ data, loading: false, error: null }),
      (e: unknown) => mine === latest.current && setState({ data: undefined, loading: false, error: messageOf(e) }),
    );
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}

/** A change the person asked for (revoke, approve…): whether it runs, its error in words, and its outcome. */
export function useAction<A extends unknown[], T>(act: (...args: A) => Promise<T>): { run(...args: A): Promise<T | undefined>; busy: boolean; error: string | null; clearError(): void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (...args: A): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await act(...args);
    } catch (e) {
      setError(messageOf(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clearError: () => setError(null) };
}
