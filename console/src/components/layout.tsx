// The frame of every signed-in page: a skip link, the navigation (a menu button on narrow screens),
// who is signed in with a sign-out button, and the page under its heading.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ROUTES } from '../routes';
import { useSession } from '../session';

export function Layout({ title, path, children }: { title: string; path: string; children: ComponentChildren }) {
  const { signedIn, whoami, signOut } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · certgate`;
    setMenuOpen(false);
    // A new page: focus its heading, so keyboard and screen reader users start there.
    heading.current?.focus();
  }, [title, path]);
  const nav = ROUTES.filter((r) => r.nav && (!r.adminOnly || whoami.admin)).sort((a, b) => (a.nav?.order ?? 0) - (b.nav?.order ?? 0));
  const section = (p: string) => (p === '/' ? path === '/' : path === p || path.startsWith(`${p}/`));
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to the page
      </a>
      <header class="topbar">
        <button type="button" class="menu-button secondary" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <a class="brand" href="#/">
          certgate
        </a>
        <span class="who">
          Signed in as <strong>{signedIn.credential.name}</strong>
          {whoami.admin ? ' (admin)' : ''}
        </span>
        <button type="button" class="secondary" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav id="nav" class={`sidebar${menuOpen ? ' open' : ''}`} aria-label="Console">
        <ul>
          {nav.map((r) => (
            <li key={r.path}>
              <a href={`#${r.path}`} aria-current={section(r.path) ? 'page' : undefined}>
                {r.nav?.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <h1 tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {children}
      </main>
    </div>
  );
}
