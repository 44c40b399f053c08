import { FileType } from "@onlyboxes/proto/exec";
import { createResource, createSignal, type JSX, onCleanup, Show } from "solid-js";
import { execClient, readSessionFile, runFailure, WRITE_FILE_MAX_BYTES } from "../api/exec.ts";
import { DataTable } from "../components/data-table.tsx";
import { EmptyState, ErrorBanner } from "../components/feedback.tsx";
import { createBusy } from "../lib/busy.ts";

const TYPE_LABEL: Record<FileType, string> = {
  [FileType.UNSPECIFIED]: "?",
  [FileType.FILE]: "file",
  [FileType.DIR]: "directory",
  [FileType.SYMLINK]: "link",
  [FileType.OTHER]: "other",
};

function formatSize(bytes: bigint): string {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Tries of a call that finds the session busy, the first delay, and its growth. */
const BUSY_RETRIES = { tries: 6, firstMs: 100, factor: 2 } as const;

/** Makes `call`, again a moment later while the session is busy with something else (a run just ending). */
async function whenFree<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= BUSY_RETRIES.tries || runFailure(err).code !== "session_busy") throw err;
    }
    const delay = BUSY_RETRIES.firstMs * BUSY_RETRIES.factor ** (attempt - 1);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/**
 * The panel's file calls, one at a time: the console lets one call at a time into a
 * session and answers others `session_busy`, so the panel never races itself (a listing
 * after a run and a click on Download).
 */
function createFileQueue(): <T>(call: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return function queued<T>(call: () => Promise<T>): Promise<T> {
    // The tail never rejects (see below), so each call starts once the one before it ended.
    const next = tail.then(() => whenFree(call));
    tail = next.catch(() => {});
    return next;
  };
}

/**
 * Hands the browser a blob as a download named `name`. The browser reads the blob after
 * the click returns, so its URL lives until the next download or until the page goes.
 */
function createSaver(): { save: (blob: Blob, name: string) => void; dispose: () => void } {
  let url: string | undefined;
  const dispose = () => {
    if (url !== undefined) URL.revokeObjectURL(url);
    url = undefined;
  };
  const save = (blob: Blob, name: string) => {
    dispose();
    url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  };
  return { save, dispose };
}

/**
 * The working directory (/workspace) of the chosen session, through ExecService's file
 * methods with the page's own sign-in: lists it, uploads a file into it, downloads a file.
 * `version` changes when a run ended, since the code may have written files.
 */
export function SessionFiles(props: { sessionId: string | undefined; version: number }): JSX.Element {
  const [error, setError] = createSignal<string | undefined>();
  const { busy, run } = createBusy();
  const saver = createSaver();
  const queued = createFileQueue();
  onCleanup(saver.dispose);
  // Failures come back as values: a resource that throws would take the page down with it.
  // The key is a string, so choosing the same session again does not list it twice at once.
  const [listing, { refetch }] = createResource(
    () => (props.sessionId ? `${props.version} ${props.sessionId}` : false),
    async (key) => {
      const sessionId = key.slice(key.indexOf(" ") + 1);
      try {
        const listing = await queued(() => execClient().listFiles({ sessionId }));
        return { entries: listing.entries, error: undefined };
      } catch (err) {
        return { entries: undefined, error: runFailure(err).message };
      }
    },
  );
  const act = (work: () => Promise<void>) => {
    setError(undefined);
    return run(work, (err) => setError(runFailure(err).message));
  };
  const upload = (sessionId: string, input: HTMLInputElement) =>
    act(async () => {
      const file = input.files?.[0];
      input.value = "";
      if (!file) return;
      if (file.size > WRITE_FILE_MAX_BYTES) {
        throw new Error(`${file.name} is larger than the upload limit of ${WRITE_FILE_MAX_BYTES / 1024 / 1024} MiB`);
      }
      const data = new Uint8Array(await file.arrayBuffer());
      await queued(() => execClient().writeFile({ sessionId, path: file.name, data }));
      await refetch();
    });
  const download = (sessionId: string, name: string) =>
    act(async () => saver.save(await queued(() => readSessionFile(sessionId, name)), name));

  return (
    <section class="block" aria-labelledby="files-title">
      <h2 id="files-title">Files</h2>
      <Show
        when={props.sessionId}
        fallback={<p class="toolbar-note">A session keeps files between runs: choose one, or run in a new session.</p>}
      >
        {(sessionId) => (
          <>
            <div class="toolbar">
              <label class="button">
                Upload a file
                <input
                  type="file"
                  class="sr-only"
                  disabled={busy()}
                  onChange={(e) => void upload(sessionId(), e.currentTarget)}
                />
              </label>
              <button type="button" class="button" disabled={busy() || listing.loading} onClick={() => void refetch()}>
                Refresh
              </button>
              <span class="toolbar-note">/workspace of session {sessionId()}</span>
            </div>
            <ErrorBanner message={error()} onDismiss={() => setError(undefined)} />
            <DataTable
              caption="Files in the session's working directory"
              columns={["Name", "Type", "Size", ""]}
              rows={listing()?.entries}
              poll={{
                loading: () => listing.loading && listing.latest === undefined,
                error: () => listing()?.error,
                refresh: async () => {
                  await refetch();
                },
              }}
              loadingLabel="Loading files…"
              empty={<EmptyState title="No files yet" />}
            >
              {(f) => (
                <tr>
                  <td>
                    <code>{f.name}</code>
                  </td>
                  <td>{TYPE_LABEL[f.type]}</td>
                  <td>{formatSize(f.size)}</td>
                  <td>
                    <Show when={f.type === FileType.FILE}>
                      <button
                        type="button"
                        class="button small"
                        aria-label={`Download ${f.name}`}
                        disabled={busy()}
                        onClick={() => void download(sessionId(), f.name)}
                      >
                        Download
                      </button>
                    </Show>
                  </td>
                </tr>
              )}
            </DataTable>
          </>
        )}
      </Show>
    </section>
  );
}
