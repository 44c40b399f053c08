import { A } from "@solidjs/router";
import { createSignal, type JSX, Show } from "solid-js";
import { useSession } from "../lib/session.tsx";

/** The signed-in frame: header with navigation, console version, account and sign-out. */
export function Shell(props: { children?: JSX.Element }): JSX.Element {
  const session = useSession();
  const [signingOut, setSigningOut] = createSignal(false);
  const info = () => session.info();
  const isAdmin = () => info()?.account.is_admin === true;

  const signOut = async (): Promise<void> => {
    setSigningOut(true);
    try {
      await session.signOut();
    } catch {
      // signOut already cleared local state; the cookie expires on its own.
    } finally {
      // The session state is now signed-out: RequireSession takes the user to /login.
      setSigningOut(false);
    }
  };

  return (
    <div class="app">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <A href="/" class="brand" end>
            <span class="brand-mark" aria-hidden="true" />
            Onlyboxes
          </A>
          <nav aria-label="Main" class="nav">
            <A href="/tokens" activeClass="active">
              Tokens
            </A>
            <A href="/activity" activeClass="active">
              Tasks &amp; sessions
            </A>
            <A href="/run" activeClass="active">
              Run
            </A>
            <Show when={isAdmin()}>
              <A href="/workers" activeClass="active">
                Workers
              </A>
            </Show>
            <Show when={isAdmin() && info()?.registration_enabled}>
              <A href="/accounts" activeClass="active">
                Accounts
              </A>
            </Show>
          </nav>
          <div class="topbar-meta">
            <Show when={info()?.console_repo_url} fallback={<span class="version">{versionLabel(info()?.console_version)}</span>}>
              {(url) => (
                <a class="version" href={url()} target="_blank" rel="noreferrer noopener" title="Source code">
                  {versionLabel(info()?.console_version)}
                </a>
              )}
            </Show>
            <span class="user" title={info()?.account.account_id}>
              {info()?.account.username}
              <Show when={isAdmin()}>
                <span class="badge neutral">admin</span>
              </Show>
            </span>
            <button type="button" class="button small" onClick={() => void signOut()} disabled={signingOut()}>
              {signingOut() ? "Signing out…" : "Sign out"}
            </button>
          </div>
        </div>
      </header>
      <main id="main" class="content" tabIndex={-1}>
        {props.children}
      </main>
    </div>
  );
}

function versionLabel(version: string | undefined): string {
  if (!version) return "console";
  return version.startsWith("v") ? `console ${version}` : `console v${version}`;
}
