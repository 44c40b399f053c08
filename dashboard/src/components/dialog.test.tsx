import { fireEvent, render, screen } from "@solidjs/testing-library";
import { createSignal, Show } from "solid-js";
import { describe, expect, it } from "vitest";
import { Dialog } from "./dialog.tsx";

function Harness() {
  const [open, setOpen] = createSignal(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Open
      </button>
      <Show when={open()}>
        <Dialog title="Example" onClose={() => setOpen(false)} actions={<button type="button">Last</button>}>
          <input aria-label="First field" />
        </Dialog>
      </Show>
    </>
  );
}

describe("Dialog", () => {
  it("moves focus in, keeps Tab inside, closes on Escape and gives focus back", async () => {
    render(() => <Harness />);
    const opener = screen.getByRole("button", { name: "Open" });
    opener.focus();
    fireEvent.click(opener);
    const dialog = await screen.findByRole("dialog", { name: "Example" });
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    // The close button comes first in the tab order.
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Close dialog" }));

    screen.getByRole("button", { name: "Last" }).focus();
    fireEvent.keyDown(document, { key: "Tab" });
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Close dialog" }));
    fireEvent.keyDown(document, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Last" }));

    fireEvent.keyDown(document, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
  });
});
