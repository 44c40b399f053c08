import { createSignal, For, type JSX, Show } from "solid-js";
import { ApiError, api } from "../api/client.ts";
import type { CreatedToken, Token } from "../api/types.ts";
import { ConfirmDialog } from "../components/confirm-dialog.tsx";
import { CopyButton } from "../components/copy-button.tsx";
import { Dialog } from "../components/dialog.tsx";
import { EmptyState, ErrorBanner, Loading } from "../components/feedback.tsx";
import { formatRelative, formatTimestamp } from "../lib/format.ts";
import { createNow } from "../lib/now.ts";
import { createPoll } from "../lib/poll.ts";
import { setPageTitle } from "../lib/title.ts";

export const TOKEN_NAME_MAX = 64;
export const TOKEN_VALUE_MAX = 256;

interface FieldErrors {
  name?: string;
  token?: string;
  form?: string;
}

/** The same rules the console enforces, checked first so the user gets an answer at once. */
export function validateTokenInput(name: string, token: string): FieldErrors {
  const errors: FieldErrors = {};
  const trimmed = name.trim();
  if (!trimmed) errors.name = "Enter a name for the token.";
  else if (trimmed.length > TOKEN_NAME_MAX) errors.name = `The name can be at most ${TOKEN_NAME_MAX} characters.`;
  if (token) {
    if (/\s/.test(token)) errors.token = "The token value cannot contain spaces or other whitespace.";
    else if (token.length > TOKEN_VALUE_MAX) errors.token = `The token value can be at most ${TOKEN_VALUE_MAX} characters.`;
  }
  return errors;
}

/** Puts a console rejection next to the field it is about. */
function serverFieldErrors(err: unknown): FieldErrors {
  if (!(err instanceof ApiError)) return { form: err instanceof Error ? err.message : String(err) };
  const msg = err.message;
  const aboutValue = /\b(value|token:)/i.test(msg) && !/\bname\b/i.test(msg);
  if (err.status === 409) {
    return aboutValue
      ? { token: "Another token already has this value. Choose a different one." }
      : { name: "You already have a token with this name." };
  }
  if (err.status === 400) return aboutValue || /^token\b/i.test(msg) ? { token: msg } : { name: msg };
  return { form: msg };
}

function CreateTokenDialog(props: { onClose: () => void; onCreated: (token: CreatedToken) => void }): JSX.Element {
  const [name, setName] = createSignal("");
  const [value, setValue] = createSignal("");
  const [errors, setErrors] = createSignal<FieldErrors>({});
  const [busy, setBusy] = createSignal(false);

  const submit = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    const local = validateTokenInput(name(), value());
    setErrors(local);
    if (local.name || local.token) return;
    setBusy(true);
    try {
      const created = await api.createToken(name().trim(), value() || undefined);
      props.onCreated(created);
    } catch (err) {
      setErrors(serverFieldErrors(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      title="Create access token"
      onClose={props.onClose}
      busy={busy()}
      actions={
        <>
          <button type="button" class="button" onClick={props.onClose} disabled={busy()}>
            Cancel
          </button>
          <button type="submit" form="create-token-form" class="button primary" disabled={busy()}>
            {busy() ? "Creating…" : "Create token"}
          </button>
        </>
      }
    >
      <form id="create-token-form" class="form" onSubmit={(e) => void submit(e)} noValidate>
        <div class="field">
          <label for="token-name">Name</label>
          <input
            id="token-name"
            name="name"
            value={name()}
            onInput={(e) => setName(e.currentTarget.value)}
            maxLength={TOKEN_NAME_MAX + 16}
            aria-invalid={errors().name ? "true" : undefined}
            aria-describedby={errors().name ? "token-name-error" : "token-name-hint"}
            data-autofocus
          />
          <Show
            when={errors().name}
            fallback={<small id="token-name-hint">For example “ci-pipeline” or “claude-desktop”.</small>}
          >
            <small class="field-error" id="token-name-error" role="alert">
              {errors().name}
            </small>
          </Show>
        </div>
        <div class="field">
          <label for="token-value">
            Value <span class="optional">(optional)</span>
          </label>
          <input
            id="token-value"
            name="token"
            value={value()}
            onInput={(e) => setValue(e.currentTarget.value)}
            autocomplete="off"
            spellcheck={false}
            class="mono"
            aria-invalid={errors().token ? "true" : undefined}
            aria-describedby={errors().token ? "token-value-error" : "token-value-hint"}
          />
          <Show
            when={errors().token}
            fallback={<small id="token-value-hint">Leave empty to generate a random obx_… token.</small>}
          >
            <small class="field-error" id="token-value-error" role="alert">
              {errors().token}
            </small>
          </Show>
        </div>
        <Show when={errors().form}>
          <p class="field-error" role="alert">
            {errors().form}
          </p>
        </Show>
      </form>
    </Dialog>
  );
}

/** Shows a new token's plain value once; the console cannot show it again. */
function TokenCreatedDialog(props: { token: CreatedToken; onClose: () => void }): JSX.Element {
  return (
    <Dialog
      title="Token created"
      onClose={props.onClose}
      actions={
        <button type="button" class="button primary" onClick={props.onClose} data-autofocus>
          Done
        </button>
      }
    >
      <p>
        Copy the value of <strong>{props.token.name}</strong> now. It is shown only this once; the console keeps only a hash of
        it.
      </p>
      <div class="secret">
        <code class="secret-value" data-testid="token-plaintext">
          {props.token.token}
        </code>
        <CopyButton text={props.token.token} />
      </div>
      <p class="hint">
        Use it as <code>Authorization: Bearer …</code> for the REST API and MCP.
      </p>
    </Dialog>
  );
}

/** The signed-in account's access tokens: list (masked), create, delete. */
export function TokensPage(): JSX.Element {
  setPageTitle("Access tokens");
  const list = createPoll(
    () => "tokens",
    () => api.listTokens(),
    0,
  );
  const now = createNow(15_000);
  const [creating, setCreating] = createSignal(false);
  const [created, setCreated] = createSignal<CreatedToken>();
  const [deleting, setDeleting] = createSignal<Token>();

  const onCreated = (token: CreatedToken): void => {
    setCreating(false);
    setCreated(token);
    void list.refresh();
  };

  return (
    <section class="page" aria-labelledby="tokens-title">
      <header class="page-header">
        <div>
          <h1 id="tokens-title">Access tokens</h1>
          <p class="page-lede">Bearer tokens for the REST API and MCP. Tokens of one account share its tasks and sessions.</p>
        </div>
        <button type="button" class="button primary" onClick={() => setCreating(true)}>
          Create token
        </button>
      </header>

      <ErrorBanner message={list.error()} onRetry={() => void list.refresh()} />

      <Show when={!list.loading()} fallback={<Loading label="Loading tokens…" />}>
        <Show
          when={(list.data()?.items.length ?? 0) > 0}
          fallback={
            <Show when={list.data()}>
              <EmptyState title="No tokens yet">
                <p>Create a token to call the API or connect an MCP client.</p>
              </EmptyState>
            </Show>
          }
        >
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">Access tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Token</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                <For each={list.data()?.items}>
                  {(token) => (
                    <tr>
                      <th scope="row" class="cell-strong">
                        {token.name}
                      </th>
                      <td>
                        <code>{token.token_masked}</code>
                      </td>
                      <td title={formatTimestamp(token.created_at)}>{formatRelative(token.created_at, now())}</td>
                      <td class="cell-actions">
                        <button
                          type="button"
                          class="button small danger-outline"
                          onClick={() => setDeleting(token)}
                          aria-label={`Delete token ${token.name}`}
                        >
                          Delete
                        </button>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </Show>

      <Show when={creating()}>
        <CreateTokenDialog onClose={() => setCreating(false)} onCreated={onCreated} />
      </Show>
      <Show when={created()}>{(token) => <TokenCreatedDialog token={token()} onClose={() => setCreated(undefined)} />}</Show>
      <Show when={deleting()}>
        {(token) => (
          <ConfirmDialog
            title="Delete token?"
            confirmLabel="Delete token"
            onClose={() => setDeleting(undefined)}
            onConfirm={async () => {
              try {
                await api.deleteToken(token().id);
              } catch (err) {
                // Already gone (deleted in another tab): the goal is reached, just refresh.
                if (!(err instanceof ApiError && err.status === 404)) throw err;
              }
              await list.refresh();
            }}
          >
            <p>
              Clients using <strong>{token().name}</strong> (<code>{token().token_masked}</code>) will be refused at once. This
              cannot be undone.
            </p>
          </ConfirmDialog>
        )}
      </Show>
    </section>
  );
}
