import { Navigate, useNavigate, useSearchParams } from "@solidjs/router";
import { createSignal, type JSX, Show } from "solid-js";
import { ApiError, errorMessage } from "../api/client.ts";
import { Notice } from "../components/feedback.tsx";
import { SessionGate } from "../components/session-gate.tsx";
import { SubmitButton } from "../components/text-field.tsx";
import { createBusy } from "../lib/busy.ts";
import { useSession } from "../lib/session.tsx";
import { setPageTitle } from "../lib/title.ts";

/** Only same-origin paths, so a crafted `?next=` cannot send the user elsewhere. */
function safeNext(next: string | string[] | undefined): string {
  const value = Array.isArray(next) ? next[0] : next;
  if (!value?.startsWith("/") || value.startsWith("//") || value.startsWith("/login")) return "/";
  return value;
}

function signInMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return "Wrong username or password.";
    if (err.status === 429) return "Too many attempts. Wait a moment and try again.";
    return err.message;
  }
  return errorMessage(err);
}

/** The sign-in form; also where expired sessions land, with a notice. */
export function LoginPage(): JSX.Element {
  setPageTitle("Sign in");
  const session = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [username, setUsername] = createSignal("");
  const [password, setPassword] = createSignal("");
  const [error, setError] = createSignal<string>();
  const { busy, run } = createBusy();

  const submit = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    if (!username().trim() || !password()) {
      setError("Enter your username and password.");
      return;
    }
    setError(undefined);
    await run(
      async () => {
        await session.signIn(username().trim(), password());
        navigate(safeNext(params.next), { replace: true });
      },
      (err) => {
        setError(signInMessage(err));
        setPassword("");
      },
    );
  };

  return (
    <SessionGate
      signedIn={<Navigate href={safeNext(params.next)} />}
      signedOut={
        <main class="login" id="main">
          <div class="login-card">
            <div class="login-brand">
              <span class="brand-mark" aria-hidden="true" />
              <h1>Onlyboxes console</h1>
            </div>
            <Show when={session.notice()}>
              <Notice>{session.notice()}</Notice>
            </Show>
            <Show when={session.restoreError()}>
              <div class="banner error" role="alert">
                <span>{session.restoreError()}</span>
                <button type="button" class="button small" onClick={() => void session.restore()}>
                  Retry
                </button>
              </div>
            </Show>
            <form class="form" onSubmit={(e) => void submit(e)} noValidate aria-describedby={error() ? "login-error" : undefined}>
              <label class="field">
                <span>Username</span>
                <input
                  name="username"
                  autocomplete="username"
                  autocapitalize="none"
                  spellcheck={false}
                  value={username()}
                  onInput={(e) => setUsername(e.currentTarget.value)}
                  aria-invalid={error() ? "true" : undefined}
                  autofocus
                  required
                />
              </label>
              <label class="field">
                <span>Password</span>
                <input
                  name="password"
                  type="password"
                  autocomplete="current-password"
                  value={password()}
                  onInput={(e) => setPassword(e.currentTarget.value)}
                  aria-invalid={error() ? "true" : undefined}
                  required
                />
              </label>
              <Show when={error()}>
                <p class="field-error" id="login-error" role="alert">
                  {error()}
                </p>
              </Show>
              <SubmitButton label="Sign in" busyLabel="Signing in…" busy={busy()} wide />
            </form>
          </div>
        </main>
      }
    />
  );
}
