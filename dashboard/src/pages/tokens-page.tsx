import { createSignal, For, type JSX, Show } from "solid-js";
import { ApiError, api, errorMessage } from "../api/client.ts";
import type { CreatedToken, Token } from "../api/types.ts";
import { CopyButton } from "../components/copy-button.tsx";
import { DataTable } from "../components/data-table.tsx";
import { DeleteDialog, RowDeleteButton } from "../components/delete-dialog.tsx";
import { Dialog, DoneDialog } from "../components/dialog.tsx";
import { EmptyState } from "../components/feedback.tsx";
import { Page } from "../components/page.tsx";
import { type FormErrors, TextField } from "../components/text-field.tsx";
import { createBusy } from "../lib/busy.ts";
import { formatRelative, formatTimestamp } from "../lib/format.ts";
import { type McpSnippet, mcpSnippets } from "../lib/mcp-config.ts";
import { createNow } from "../lib/now.ts";
import { createPoll } from "../lib/poll.ts";
import { setPageTitle } from "../lib/title.ts";

export const TOKEN_NAME_MAX = 64;
export const TOKEN_VALUE_MAX = 256;
/** Shorter custom values are guessable; the console refuses them too. */
export const TOKEN_VALUE_MIN = 24;

type FieldErrors = FormErrors<"name" | "token">;

/** The same rules the console enforces, checked first so the user gets an answer at once. */
export function validateTokenInput(name: string, token: string): FieldErrors {
  const errors: FieldErrors = {};
  const trimmed = name.trim();
  if (!trimmed) errors.name = "Enter a name for the token.";
  else if (trimmed.length > TOKEN_NAME_MAX) errors.name = `The name can be at most ${TOKEN_NAME_MAX} characters.`;
  if (token) {
    if (/\s/.test(token)) errors.token = "The token value cannot contain spaces or other whitespace.";
    else if (token.length < TOKEN_VALUE_MIN) errors.token = `The token value must be at least ${TOKEN_VALUE_MIN} characters.`;
    else if (token.length > TOKEN_VALUE_MAX) errors.token = `The token value can be at most ${TOKEN_VALUE_MAX} characters.`;
  }
  return errors;
}

/** Puts a console rejection next to the field it is about. */
function serverFieldErrors(err: unknown): FieldErrors {
  if (!(err instanceof ApiError)) return { form: errorMessage(err) };
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
  const { busy, run } = createBusy();

  const submit = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    const local = validateTokenInput(name(), value());
    setErrors(local);
    if (local.name || local.token) return;
    await run(
      async () => props.onCreated(await api.createToken(name().trim(), value() || undefined)),
      (err) => setErrors(serverFieldErrors(err)),
    );
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
        <TextField
          id="token-name"
          name="name"
          label="Name"
          value={name()}
          onValue={setName}
          maxLength={TOKEN_NAME_MAX + 16}
          error={errors().name}
          hint="For example “ci-pipeline” or “claude-desktop”."
          data-autofocus
        />
        <TextField
          id="token-value"
          name="token"
          label={
            <>
              Value <span class="optional">(optional)</span>
            </>
          }
          value={value()}
          onValue={setValue}
          autocomplete="off"
          spellcheck={false}
          class="mono"
          error={errors().token}
          hint={`Leave empty to generate a random obx_… token, or give at least ${TOKEN_VALUE_MIN} characters.`}
        />
        <Show when={errors().form}>
          <p class="field-error" role="alert">
            {errors().form}
          </p>
        </Show>
      </form>
    </Dialog>
  );
}

/** Ready-to-paste MCP client configuration for a new token, with this console's address filled in. */
function McpSetup(props: { token: string }): JSX.Element {
  const snippets = () => mcpSnippets(window.location.origin, props.token);
  const [chosen, setChosen] = createSignal<McpSnippet["id"]>("claude-code");
  const current = () => snippets().find((s) => s.id === chosen());
  return (
    <section class="mcp-setup" aria-labelledby="mcp-setup-title">
      <h3 id="mcp-setup-title">Connect an MCP client</h3>
      <div class="tabs" role="tablist" aria-label="MCP client">
        <For each={snippets()}>
          {(s) => (
            <button
              type="button"
              role="tab"
              class="tab"
              id={`mcp-tab-${s.id}`}
              aria-selected={chosen() === s.id ? "true" : "false"}
              aria-controls="mcp-snippet"
              onClick={() => setChosen(s.id)}
            >
              {s.client}
            </button>
          )}
        </For>
      </div>
      <Show when={current()}>
        {(s) => (
          <div class="snippet" id="mcp-snippet" role="tabpanel" aria-labelledby={`mcp-tab-${s().id}`} data-snippet={s().id}>
            <p class="hint">{s().where}</p>
            <pre class="snippet-text">
              <code>{s().text}</code>
            </pre>
            <CopyButton text={s().text} label={`Copy ${s().client} configuration`} />
          </div>
        )}
      </Show>
    </section>
  );
}

/** Shows a new token's plain value once; the console cannot show it again. */
function TokenCreatedDialog(props: { token: CreatedToken; onClose: () => void }): JSX.Element {
  return (
    <DoneDialog title="Token created" onClose={props.onClose}>
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
      <McpSetup token={props.token.token} />
    </DoneDialog>
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
    <Page
      id="tokens"
      title="Access tokens"
      lede="Bearer tokens for the REST API and MCP. Tokens of one account share its tasks and sessions."
      actions={
        <button type="button" class="button primary" onClick={() => setCreating(true)}>
          Create token
        </button>
      }
    >
      <DataTable
        caption="Access tokens"
        columns={["Name", "Token", "Created", ""]}
        rows={list.data()?.items}
        poll={list}
        loadingLabel="Loading tokens…"
        empty={
          <EmptyState title="No tokens yet">
            <p>Create a token to call the API or connect an MCP client.</p>
          </EmptyState>
        }
      >
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
              <RowDeleteButton label={`Delete token ${token.name}`} onClick={() => setDeleting(token)} />
            </td>
          </tr>
        )}
      </DataTable>

      <Show when={creating()}>
        <CreateTokenDialog onClose={() => setCreating(false)} onCreated={onCreated} />
      </Show>
      <Show when={created()}>{(token) => <TokenCreatedDialog token={token()} onClose={() => setCreated(undefined)} />}</Show>
      <Show when={deleting()}>
        {(token) => (
          <DeleteDialog
            title="Delete token?"
            confirmLabel="Delete token"
            onClose={() => setDeleting(undefined)}
            remove={() => api.deleteToken(token().id)}
            refresh={() => list.refresh()}
          >
            <p>
              Clients using <strong>{token().name}</strong> (<code>{token().token_masked}</code>) will be refused at once. This
              cannot be undone.
            </p>
          </DeleteDialog>
        )}
      </Show>
    </Page>
  );
}
