import { fireEvent, screen, waitFor, within } from "@solidjs/testing-library";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Token } from "../api/types.ts";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";

const session = () => ({ status: 200, body: sessionBody() });

function tokenRow(id: string, name: string): Token {
  return {
    id,
    name,
    token_masked: "obx_1234…abcd",
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
}

/** A console holding a mutable token list, answering the token routes like the real one. */
function consoleWithTokens(initial: Token[]) {
  const tokens = [...initial];
  const fake = fakeConsole({
    "GET /api/v1/console/session": session,
    "GET /api/v1/console/tokens": () => ({ status: 200, body: { items: tokens, total: tokens.length } }),
    "POST /api/v1/console/tokens": (call) => {
      const body = call.body as { name: string; token?: string };
      if (tokens.some((t) => t.name.toLowerCase() === body.name.toLowerCase())) {
        return { status: 409, body: { error: "token name already exists" } };
      }
      const value = body.token ?? "obx_0123456789abcdef0123456789abcdef";
      const row = tokenRow(`tok_${tokens.length + 1}`, body.name);
      tokens.push(row);
      return { status: 201, body: { ...row, token: value, generated: body.token === undefined } };
    },
  });
  fake.set("DELETE /api/v1/console/tokens/tok_1", () => {
    tokens.splice(
      tokens.findIndex((t) => t.id === "tok_1"),
      1,
    );
    return { status: 204 };
  });
  return fake;
}

async function openCreateDialog(): Promise<HTMLElement> {
  fireEvent.click(await screen.findByRole("button", { name: "Create token" }));
  return screen.findByRole("dialog", { name: "Create access token" });
}

describe("tokens page", () => {
  beforeEach(() => {
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText: vi.fn(async () => undefined) } });
  });

  it("shows an empty state when the account has no tokens", async () => {
    consoleWithTokens([]);
    renderAt("/tokens");
    expect(await screen.findByText("No tokens yet")).toBeTruthy();
  });

  it("lists tokens masked", async () => {
    consoleWithTokens([tokenRow("tok_1", "ci")]);
    renderAt("/tokens");
    const row = (await screen.findByRole("rowheader", { name: "ci" })).closest("tr");
    expect(row?.textContent).toContain("obx_1234…abcd");
  });

  it("shows a generated token once with a copy button, then only the masked value", async () => {
    const fake = consoleWithTokens([]);
    renderAt("/tokens");
    const dialog = await openCreateDialog();
    expect(document.activeElement).toBe(within(dialog).getByLabelText("Name"));
    fireEvent.input(within(dialog).getByLabelText("Name"), { target: { value: "  laptop  " } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create token" }));

    const shown = await screen.findByRole("dialog", { name: "Token created" });
    expect(within(shown).getByTestId("token-plaintext").textContent).toBe("obx_0123456789abcdef0123456789abcdef");
    expect(fake.calls.find((c) => c.method === "POST")?.body).toEqual({ name: "laptop" });

    fireEvent.click(within(shown).getByRole("button", { name: "Copy" }));
    expect(await within(shown).findByText("Copied")).toBeTruthy();
    expect(navigator.clipboard.writeText).toHaveBeenCalledWith("obx_0123456789abcdef0123456789abcdef");

    fireEvent.click(within(shown).getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(await screen.findByRole("rowheader", { name: "laptop" })).toBeTruthy();
    expect(screen.queryByText("obx_0123456789abcdef0123456789abcdef")).toBeNull();
  });

  it("offers MCP client configuration for the new token, one client at a time", async () => {
    consoleWithTokens([]);
    renderAt("/tokens");
    const dialog = await openCreateDialog();
    fireEvent.input(within(dialog).getByLabelText("Name"), { target: { value: "agent" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create token" }));
    const shown = await screen.findByRole("dialog", { name: "Token created" });
    const panel = () => within(shown).getByRole("tabpanel");
    expect(panel().textContent).toContain(
      `claude mcp add --transport http onlyboxes ${window.location.origin}/mcp --header 'Authorization: Bearer obx_0123456789abcdef0123456789abcdef'`,
    );
    fireEvent.click(within(shown).getByRole("tab", { name: "VS Code" }));
    expect(within(shown).getByRole("tab", { name: "VS Code" }).getAttribute("aria-selected")).toBe("true");
    const pasted = JSON.parse(panel().querySelector("code")?.textContent ?? "") as {
      servers: { onlyboxes: { type: string; url: string; headers: Record<string, string> } };
    };
    expect(pasted.servers.onlyboxes).toEqual({
      type: "http",
      url: `${window.location.origin}/mcp`,
      headers: { Authorization: "Bearer obx_0123456789abcdef0123456789abcdef" },
    });
    fireEvent.click(within(shown).getByRole("button", { name: "Copy VS Code configuration" }));
    await waitFor(() => expect(navigator.clipboard.writeText).toHaveBeenCalledWith(panel().querySelector("code")?.textContent));
  });

  it.each([
    ["", "", "Enter a name for the token."],
    ["x".repeat(65), "", "The name can be at most 64 characters."],
    ["ok", "has space", "The token value cannot contain spaces or other whitespace."],
    ["ok", "short-value", "The token value must be at least 24 characters."],
    ["ok", "y".repeat(257), "The token value can be at most 256 characters."],
  ])("refuses name %j / value %j inline without calling the console", async (name, value, message) => {
    const fake = consoleWithTokens([]);
    renderAt("/tokens");
    const dialog = await openCreateDialog();
    fireEvent.input(within(dialog).getByLabelText("Name"), { target: { value: name } });
    fireEvent.input(within(dialog).getByLabelText(/Value/), { target: { value } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create token" }));
    expect((await within(dialog).findByRole("alert")).textContent).toBe(message);
    expect(fake.calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("shows the console's 409 for a duplicate name next to the name field", async () => {
    consoleWithTokens([tokenRow("tok_1", "ci")]);
    renderAt("/tokens");
    const dialog = await openCreateDialog();
    const name = within(dialog).getByLabelText("Name");
    fireEvent.input(name, { target: { value: "CI" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create token" }));
    expect((await within(dialog).findByRole("alert")).textContent).toBe("You already have a token with this name.");
    expect(name.getAttribute("aria-invalid")).toBe("true");
  });

  it("closes the create dialog on Escape", async () => {
    consoleWithTokens([]);
    renderAt("/tokens");
    // As a keyboard user would: focus the button, then press it.
    const opener = await screen.findByRole("button", { name: "Create token" });
    opener.focus();
    fireEvent.click(opener);
    await screen.findByRole("dialog", { name: "Create access token" });
    fireEvent.keyDown(document, { key: "Escape" });
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(document.activeElement).toBe(opener);
  });

  it("deletes a token only after confirmation", async () => {
    const fake = consoleWithTokens([tokenRow("tok_1", "ci")]);
    renderAt("/tokens");
    fireEvent.click(await screen.findByRole("button", { name: "Delete token ci" }));
    let confirm = await screen.findByRole("alertdialog", { name: "Delete token?" });
    // Cancel has the focus, so a stray Enter is never destructive.
    expect(document.activeElement).toBe(within(confirm).getByRole("button", { name: "Cancel" }));
    fireEvent.keyDown(document, { key: "Escape" });
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(fake.calls.filter((c) => c.method === "DELETE")).toHaveLength(0);

    fireEvent.click(screen.getByRole("button", { name: "Delete token ci" }));
    confirm = await screen.findByRole("alertdialog", { name: "Delete token?" });
    fireEvent.click(within(confirm).getByRole("button", { name: "Delete token" }));
    expect(await screen.findByText("No tokens yet")).toBeTruthy();
    expect(fake.calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/api/v1/console/tokens/tok_1"]);
  });
});
