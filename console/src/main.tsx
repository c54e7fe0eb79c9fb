// The console's root: the session (or the sign-in page), then the page the fragment names.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, session, useCsrfToken, whenSessionEnds, type SignedIn } from './api';
import { Layout } from './components/layout';
import { ErrorMessage, Loading } from './components/states';
import { SignIn } from './pages/signIn';
import { match, useLocation } from './router';
import { ROUTES } from './routes';
import { SessionContext, type SessionState, type Whoami } from './session';
import './styles.css';

type State = { kind: 'checking' } | { kind: 'signedOut'; ended: boolean } | { kind: 'signedIn'; signedIn: SignedIn; whoami: Whoami } | { kind: 'failed'; message: string };

function Page({ state }: { state: SessionState }) {
  const { path, query } = useLocation();
  for (const route of ROUTES) {
    const params = match(route.path, path);
    if (params) {
      const P = route.page;
      return (
        <SessionContext.Provider value={state}>
          <Layout title={route.title} path={path}>
            {route.adminOnly && !state.whoami.admin ? <p>This page is for admin credentials; yours is not one. <a href="#/">Go to the dashboard</a>.</p> : <P params={params} query={query} />}
          </Layout>
        </SessionContext.Provider>
      );
    }
  }
  return (
    <SessionContext.Provider value={state}>
      <Layout title="Page not found" path={path}>
        <p>
          There is no page at {path}. <a href="#/">Go to the dashboard</a>.
        </p>
      </Layout>
    </SessionContext.Provider>
  );
}

function App() {
  const [state, setState] = useState<State>({ kind: 'checking' });
  const enter = async (signedIn: SignedIn) => {
    useCsrfToken(signedIn.csrfToken);
    const whoami = await api.get<Whoami>('/whoami');
    setState({ kind: 'signedIn', signedIn, whoami });
  };
  useEffect(() => {
    whenSessionEnds(() => setState({ kind: 'signedOut', ended: true }));
    session.current().then(enter, (e: unknown) => {
      const status = (e as { status?: number }).status;
      if (status === 401) setState({ kind: 'signedOut', ended: false });
      else setState({ kind: 'failed', message: (e as Error).message });
    });
  }, []);
  switch (state.kind) {
    case 'checking':
      return <Loading what="Loading the console" />;
    case 'failed':
      return <ErrorMessage message={state.message} onRetry={() => window.location.reload()} />;
    case 'signedOut':
      return <SignIn ended={state.ended} onSignedIn={(s) => void enter(s).catch((e: Error) => setState({ kind: 'failed', message: e.message }))} />;
    case 'signedIn': {
      // Signed out only once the gateway says so: a page that claimed it while the session lived on
      // would leave the next person at this browser signed in.
      const signOut = async () => {
        try {
          await session.signOut();
        } catch (e) {
          setState({ kind: 'failed', message: `Signing out did not complete: ${(e as Error).message} Close the browser to end the session here, or try again.` });
          return;
        }
        useCsrfToken('');
        setState({ kind: 'signedOut', ended: false });
      };
      return <Page state={{ signedIn: state.signedIn, whoami: state.whoami, signOut }} />;
    }
  }
}

render(<App />, document.getElementById('app') as HTMLElement);
