import { createSignal, type JSX, onCleanup } from "solid-js";

/** Copies through the Clipboard API, falling back to a hidden textarea where it is unavailable or denied. */
async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Denied (no user activation, insecure origin): try the legacy path below.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A button that copies `text` and says so for two seconds (announced to screen readers). */
export function CopyButton(props: { text: string; label?: string }): JSX.Element {
  const [state, setState] = createSignal<"idle" | "copied" | "failed">("idle");
  let timer: ReturnType<typeof setTimeout> | undefined;
  onCleanup(() => clearTimeout(timer));

  const copy = async (): Promise<void> => {
    const ok = await copyText(props.text);
    setState(ok ? "copied" : "failed");
    clearTimeout(timer);
    timer = setTimeout(() => setState("idle"), 2000);
  };

  return (
    <button type="button" class="button" onClick={() => void copy()}>
      <span aria-live="polite">
        {state() === "copied" ? "Copied" : state() === "failed" ? "Copy failed — select and copy" : (props.label ?? "Copy")}
      </span>
    </button>
  );
}
