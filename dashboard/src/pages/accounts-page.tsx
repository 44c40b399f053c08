import { createSignal, For, type JSX, Show } from "solid-js";
import { ApiError, api, errorMessage } from "../api/client.ts";
import type { RegisteredAccount } from "../api/types.ts";
import { AdminOnly } from "../components/admin-only.tsx";
import { EmptyState, Notice } from "../components/feedback.tsx";
import { Page } from "../components/page.tsx";
import { type FormErrors, SubmitButton, TextField } from "../components/text-field.tsx";
import { createBusy } from "../lib/busy.ts";
import { formatTimestamp } from "../lib/format.ts";
import { useSession } from "../lib/session.tsx";
import { setPageTitle } from "../lib/title.ts";

export const USERNAME_MAX = 64;
/** The console refuses shorter passwords too. */
export const PASSWORD_MIN = 12;

type AccountErrors = FormErrors<"username" | "password">;

function registerErrors(err: unknown): AccountErrors {
  if (!(err instanceof ApiError)) return { form: errorMessage(err) };
  if (err.status === 409) return { username: "This username is taken (usernames ignore case)." };
  if (err.status === 403) return { form: "Registration is disabled on this console, or your account is not an administrator." };
  if (err.status === 400) return /password/i.test(err.message) ? { password: err.message } : { username: err.message };
  return { form: err.message };
}

function AccountForm(): JSX.Element {
  const [username, setUsername] = createSignal("");
  const [password, setPassword] = createSignal("");
  const [errors, setErrors] = createSignal<AccountErrors>({});
  const { busy, run } = createBusy();
  const [created, setCreated] = createSignal<RegisteredAccount[]>([]);

  const submit = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    const local: AccountErrors = {};
    const name = username().trim();
    if (!name) local.username = "Enter a username.";
    else if (name.length > USERNAME_MAX) local.username = `The username can be at most ${USERNAME_MAX} characters.`;
    if (!password()) local.password = "Enter a password.";
    else if (password().length < PASSWORD_MIN) local.password = `The password must be at least ${PASSWORD_MIN} characters.`;
    setErrors(local);
    if (local.username || local.password) return;
    await run(
      async () => {
        const account = await api.register(name, password());
        setCreated((list) => [account, ...list]);
        setUsername("");
        setPassword("");
      },
      (err) => setErrors(registerErrors(err)),
    );
  };

  return (
    <Page
      id="accounts"
      title="Accounts"
      lede="Create accounts for the people of your team. New accounts are not administrators; each has its own tokens, tasks and sessions."
    >
      <div class="two-col">
        <form class="card form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="new-account-title">
          <h2 id="new-account-title">New account</h2>
          <TextField
            id="account-username"
            name="username"
            label="Username"
            autocomplete="off"
            autocapitalize="none"
            spellcheck={false}
            value={username()}
            onValue={setUsername}
            error={errors().username}
          />
          <TextField
            id="account-password"
            name="password"
            type="password"
            label="Password"
            autocomplete="new-password"
            value={password()}
            onValue={setPassword}
            error={errors().password}
            hint={`At least ${PASSWORD_MIN} characters.`}
          />
          <Show when={errors().form}>
            <p class="field-error" role="alert">
              {errors().form}
            </p>
          </Show>
          <SubmitButton label="Create account" busyLabel="Creating…" busy={busy()} />
        </form>
        <div class="card">
          <h2>Created in this visit</h2>
          <Show
            when={created().length > 0}
            fallback={
              <EmptyState title="No accounts created yet">
                <p>Share the username and password with its owner; they can then sign in and create tokens.</p>
              </EmptyState>
            }
          >
            <Notice tone="success">Account created. Share the credentials with its owner over a safe channel.</Notice>
            <ul class="plain-list">
              <For each={created()}>
                {(a) => (
                  <li>
                    <strong>{a.account.username}</strong> <code class="subtle">{a.account.account_id}</code>{" "}
                    <span class="subtle">{formatTimestamp(a.created_at)}</span>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        </div>
      </div>
    </Page>
  );
}

/** Admins create non-admin accounts here when the console allows registration. */
export function AccountsPage(): JSX.Element {
  setPageTitle("Accounts");
  const session = useSession();
  return (
    <AdminOnly>
      <Show
        when={session.info()?.registration_enabled}
        fallback={
          <section class="page">
            <EmptyState title="Registration is disabled">
              <p>
                Start the console with <code>CONSOLE_ENABLE_REGISTRATION=true</code> to create more accounts.
              </p>
            </EmptyState>
          </section>
        }
      >
        <AccountForm />
      </Show>
    </AdminOnly>
  );
}
