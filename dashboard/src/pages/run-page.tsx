import type { MessageInitShape } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { OutputStream, type RunRequestSchema, type RunResult } from "@onlyboxes/proto/exec";
import { createResource, createSignal, For, type JSX, onCleanup, Show } from "solid-js";
import { api } from "../api/client.ts";
import { execClient, runFailure } from "../api/exec.ts";
import { ErrorBanner } from "../components/feedback.tsx";
import { Page } from "../components/page.tsx";
import { setPageTitle } from "../lib/title.ts";
import { SessionFiles } from "./run-page-files.tsx";

type Language = "python" | "shell";
/** Where a run goes: a fresh sandbox (Python only), a new session, or an existing one. */
type Target = { kind: "fresh" } | { kind: "new" } | { kind: "session"; id: string };

interface OutputPiece {
  stream: "stdout" | "stderr";
  text: string;
}

interface ShownImage {
  url: string;
  name: string;
}

const LANGUAGES: ReadonlyArray<{ value: Language; label: string }> = [
  { value: "python", label: "Python" },
  { value: "shell", label: "Shell" },
];

const SAMPLES: Record<Language, string> = {
  python: 'import time\nfor i in range(5):\n    print("tick", i, flush=True)\n    time.sleep(0.5)\n',
  shell: "uname -a && ls -la",
};

/** A session id for a new Python session (the console creates it on first use). */
function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `run-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function targetValue(t: Target): string {
  return t.kind === "session" ? `session:${t.id}` : t.kind;
}

function parseTarget(value: string): Target {
  if (value.startsWith("session:")) return { kind: "session", id: value.slice("session:".length) };
  return value === "fresh" ? { kind: "fresh" } : { kind: "new" };
}

/** Builds the ExecService request for what the form holds. */
function buildRunRequest(language: Language, target: Target, code: string): MessageInitShape<typeof RunRequestSchema> {
  const sessionId = target.kind === "session" ? target.id : target.kind === "new" && language === "python" ? newSessionId() : "";
  const createIfMissing = target.kind === "new" && language === "python";
  if (language === "python") {
    return { program: { case: "python", value: { code, sessionId, createIfMissing } } };
  }
  return { program: { case: "shell", value: { command: code, sessionId } } };
}

/**
 * Runs Python or a shell command as the signed-in account through the console's Connect
 * ExecService, showing stdout and stderr as they arrive and images inline. Stop closes
 * the stream, which cancels the run in its sandbox.
 */
export function RunPage(): JSX.Element {
  setPageTitle("Run");
  const [language, setLanguage] = createSignal<Language>("python");
  const [target, setTarget] = createSignal<Target>({ kind: "fresh" });
  const [code, setCode] = createSignal(SAMPLES.python);
  const [running, setRunning] = createSignal(false);
  const [pieces, setPieces] = createSignal<OutputPiece[]>([]);
  const [images, setImages] = createSignal<ShownImage[]>([]);
  const [result, setResult] = createSignal<RunResult | null>(null);
  const [error, setError] = createSignal<string | undefined>();
  const [stopped, setStopped] = createSignal(false);
  // Counts finished runs, so the files list reloads after code that may have written files.
  const [runsDone, setRunsDone] = createSignal(0);
  const [sessions, { refetch }] = createResource(() => api.listSessions().then((r) => r.items));
  let controller: AbortController | null = null;

  onCleanup(() => controller?.abort());

  const chooseLanguage = (next: Language) => {
    if (next === language()) return;
    // Leave the user's own code alone; only swap the untouched sample.
    if (code() === SAMPLES[language()]) setCode(SAMPLES[next]);
    setLanguage(next);
    if (next === "shell" && target().kind === "fresh") setTarget({ kind: "new" });
  };

  const append = (stream: OutputPiece["stream"], text: string) => {
    setPieces((prev) => {
      const last = prev.at(-1);
      if (last && last.stream === stream) return [...prev.slice(0, -1), { stream, text: last.text + text }];
      return [...prev, { stream, text }];
    });
  };

  const run = async () => {
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    setPieces([]);
    setImages([]);
    setResult(null);
    setError(undefined);
    setStopped(false);
    setRunning(true);
    try {
      const request = buildRunRequest(language(), target(), code());
      for await (const msg of execClient().run(request, { signal: mine.signal })) {
        const event = msg.event;
        if (event.case === "output") append(event.value.stream === OutputStream.STDERR ? "stderr" : "stdout", event.value.data);
        else if (event.case === "image") {
          // A data: URL, which the console's Content-Security-Policy allows for images (blob: it does not).
          const url = `data:${event.value.mimeType};base64,${base64Encode(event.value.data)}`;
          setImages((prev) => [...prev, { url, name: event.value.name }]);
        } else if (event.case === "result") setResult(event.value);
      }
      const sessionId = result()?.sessionId;
      if (sessionId) {
        setTarget({ kind: "session", id: sessionId });
        void refetch();
      }
    } catch (err) {
      if (mine.signal.aborted || ConnectError.from(err).code === Code.Canceled) setStopped(true);
      else setError(runFailure(err).message);
    } finally {
      if (controller === mine) {
        controller = null;
        setRunning(false);
      }
      setRunsDone((n) => n + 1);
    }
  };

  const stop = () => controller?.abort();
  /** What the toolbar says about the last run: how it ended. */
  const runNote = () => {
    if (stopped()) return "Stopped";
    const r = result();
    if (!r) return undefined;
    return r.sessionId ? `Exit code ${r.exitCode} · session ${r.sessionId}` : `Exit code ${r.exitCode}`;
  };
  const chosenSession = () => {
    const t = target();
    return t.kind === "session" ? t.id : undefined;
  };
  /** The chosen session when the list does not show it (yet): a session this page just made. */
  const unlistedSession = () => {
    const t = target();
    if (t.kind !== "session") return undefined;
    return (sessions() ?? []).some((s) => s.session_id === t.id) ? undefined : t.id;
  };

  return (
    <Page id="run" title="Run" lede="Run Python or a shell command as your account and watch its output arrive live.">
      <form
        class="form block"
        onSubmit={(e) => {
          e.preventDefault();
          if (!running()) void run();
        }}
      >
        <div class="run-options">
          <fieldset class="inline-field run-language">
            <legend class="sr-only">Language</legend>
            <For each={LANGUAGES}>
              {(l) => (
                <label>
                  <input
                    type="radio"
                    name="language"
                    value={l.value}
                    checked={language() === l.value}
                    onChange={() => chooseLanguage(l.value)}
                  />{" "}
                  {l.label}
                </label>
              )}
            </For>
          </fieldset>
          <label class="inline-field">
            Where
            <select value={targetValue(target())} onChange={(e) => setTarget(parseTarget(e.currentTarget.value))}>
              <Show when={language() === "python"}>
                <option value="fresh">Fresh sandbox</option>
              </Show>
              <option value="new">New session</option>
              <For each={sessions() ?? []}>
                {(s) => <option value={`session:${s.session_id}`}>Session {s.session_id}</option>}
              </For>
              <Show when={unlistedSession()}>{(id) => <option value={`session:${id()}`}>Session {id()}</option>}</Show>
            </select>
          </label>
        </div>
        <label class="field">
          <span>{language() === "python" ? "Python code" : "Shell command"}</span>
          <textarea
            class="code-input"
            rows={10}
            spellcheck={false}
            value={code()}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </label>
        <div class="toolbar">
          <button type="submit" class="button primary" disabled={running() || code().trim() === ""}>
            {running() ? "Running…" : "Run"}
          </button>
          <button type="button" class="button" disabled={!running()} onClick={stop}>
            Stop
          </button>
          <Show when={runNote()}>
            {(note) => (
              <span class="toolbar-note" role="status">
                {note()}
              </span>
            )}
          </Show>
        </div>
      </form>

      <ErrorBanner message={error()} onDismiss={() => setError(undefined)} />

      <section class="block" aria-labelledby="output-title">
        <h2 id="output-title">Output</h2>
        <pre class="run-output" aria-live="polite" data-testid="run-output">
          <For each={pieces()}>{(p) => <span class={p.stream === "stderr" ? "stderr" : undefined}>{p.text}</span>}</For>
        </pre>
        <For each={images()}>{(img, i) => <img class="run-image" src={img.url} alt={img.name || `Figure ${i() + 1}`} />}</For>
      </section>

      <SessionFiles sessionId={chosenSession()} version={runsDone()} />
    </Page>
  );
}
