// Who is signed in and what the credential may do, for every page: the session (credential, CSRF
// token) and /v1/whoami's actions per CA. The console offers only what these allow; the API decides
// anyway, and a refusal is shown in words.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { SignedIn } from './api';

export type Action = 'read' | 'issue' | 'revoke' | 'approve' | 'exportKeys' | 'exportAnyKeys';

export interface Whoami {
  apiKey: { id: string; name: string };
  admin: boolean;
  products: string[] | '*';
  actions: Record<string, Action[]>;
}

export interface SessionState {
  signedIn: SignedIn;
  whoami: Whoami;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

/**
 * Whether the credential may take `action` on what this CA issued; `null` is an imported
 * certificate (no CA of certgate's: the action must be granted on every CA), `undefined` any CA.
 */
export function can(whoami: Whoami, action: Action, caId?: string | null): boolean {
  if (whoami.admin) return true;
  if (caId === null) return whoami.actions['*']?.includes(action) ?? false;
  if (caId) return whoami.actions[caId]?.includes(action) ?? false;
  return Object.values(whoami.actions).some((actions) => actions.includes(action));
}

/** The hook form: `const may = useCan(); may('revoke', cert.ca_id)`. */
export function useCan(): (action: Action, caId?: string | null) => boolean {
  const { whoami } = useSession();
  return (action, caId) => can(whoami, action, caId);
}
