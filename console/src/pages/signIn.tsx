// Sign in with a REST credential's API key; the gateway answers with a session cookie the page never sees.
import { useState } from 'preact/hooks';
import { ApiError, session, type SignedIn } from '../api';
import { Field } from '../components/field';

export function SignIn({ onSignedIn, ended }: { onSignedIn(s: SignedIn): void; ended: boolean }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!key.trim()) {
      setError('Enter the API key of a REST credential (it starts with cg_).');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await session.signIn(key));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That key was not accepted. Check that it is a current REST API key (cg_…), not revoked or expired.' : err instanceof ApiError ? err.message : 'Signing in failed. Try again.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>Sign in to certgate</h1>
      {ended && (
        <p class="notice" role="status">
          Your session has ended. Sign in again to go on.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <Field id="key" label="API key" hint="The key of a REST credential (cg_…), as shown once when it was made. You see and may do what that credential may." error={error}>
          <input
            id="key"
            name="key"
            type="password"
            autoComplete="current-password"
            required
            value={key}
            onInput={(e) => setKey((e.target as HTMLInputElement).value)}
            aria-describedby={`key-hint${error ? ' key-error' : ''}`}
            aria-invalid={error ? true : undefined}
          />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
