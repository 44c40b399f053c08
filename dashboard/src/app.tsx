import { Navigate, Route, Router, useLocation } from "@solidjs/router";
import type { JSX } from "solid-js";
import { SessionGate } from "./components/session-gate.tsx";
import { Shell } from "./components/shell.tsx";
import { SessionProvider, SIGNED_OUT_NOTICE, useSession } from "./lib/session.tsx";
import { AccountsPage } from "./pages/accounts-page.tsx";
import { ActivityPage } from "./pages/activity-page.tsx";
import { LoginPage } from "./pages/login-page.tsx";
import { NotFoundPage } from "./pages/not-found-page.tsx";
import { RunPage } from "./pages/run-page.tsx";
import { TokensPage } from "./pages/tokens-page.tsx";
import { WorkersPage } from "./pages/workers-page.tsx";

/** Shows the signed-in frame, or sends the visitor to sign-in remembering where they were going. */
function RequireSession(props: { children?: JSX.Element }): JSX.Element {
  const session = useSession();
  const location = useLocation();
  // After an explicit sign-out there is nowhere to return to; after expiry, come back here.
  const loginHref = () =>
    session.notice() === SIGNED_OUT_NOTICE
      ? "/login"
      : `/login?next=${encodeURIComponent(`${location.pathname}${location.search}`)}`;
  return <SessionGate signedIn={<Shell>{props.children}</Shell>} signedOut={<Navigate href={loginHref()} />} />;
}

/** Admins land on Workers, everyone else on Tokens. */
function Home(): JSX.Element {
  const session = useSession();
  return <Navigate href={session.info()?.account.is_admin ? "/workers" : "/tokens"} />;
}

/** The whole dashboard: session restore, routes, pages. */
export function App(): JSX.Element {
  return (
    <SessionProvider>
      <Router>
        <Route path="/login" component={LoginPage} />
        <Route path="/" component={RequireSession}>
          <Route path="/" component={Home} />
          <Route path="/tokens" component={TokensPage} />
          <Route path="/activity" component={ActivityPage} />
          <Route path="/run" component={RunPage} />
          <Route path="/workers" component={WorkersPage} />
          <Route path="/accounts" component={AccountsPage} />
          <Route path="*" component={NotFoundPage} />
        </Route>
      </Router>
    </SessionProvider>
  );
}
