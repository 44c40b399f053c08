import { fireEvent, screen, within } from "@solidjs/testing-library";
import { describe, expect, it } from "vitest";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";

describe("accounts page", () => {
  it("creates a non-admin account", async () => {
    const fake = fakeConsole({
      "GET /api/v1/console/session": () => ({
        status: 200,
        body: sessionBody({ is_admin: true, registration_enabled: true }),
      }),
      "POST /api/v1/console/register": (call) => ({
        status: 201,
        body: {
          account: { account_id: "acc_2", username: (call.body as { username: string }).username, is_admin: false },
          created_at: new Date().toISOString(),
          updated_at: new Date().toISOString(),
        },
      }),
    });
    renderAt("/accounts");
    fireEvent.input(await screen.findByLabelText("Username"), { target: { value: "bob" } });
    fireEvent.input(screen.getByLabelText("Password"), { target: { value: "correct-horse-battery" } });
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("bob")).toBeTruthy();
    expect(screen.getByText("acc_2")).toBeTruthy();
    expect(fake.calls.find((c) => c.method === "POST")?.body).toEqual({ username: "bob", password: "correct-horse-battery" });
    expect((screen.getByLabelText("Username") as HTMLInputElement).value).toBe("");
  });

  it("refuses a short password before asking the console", async () => {
    const fake = fakeConsole({
      "GET /api/v1/console/session": () => ({
        status: 200,
        body: sessionBody({ is_admin: true, registration_enabled: true }),
      }),
    });
    renderAt("/accounts");
    fireEvent.input(await screen.findByLabelText("Username"), { target: { value: "bob" } });
    fireEvent.input(screen.getByLabelText("Password"), { target: { value: "short" } });
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect((await screen.findByRole("alert")).textContent).toBe("The password must be at least 12 characters.");
    expect(fake.calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("says a taken username next to the field", async () => {
    fakeConsole({
      "GET /api/v1/console/session": () => ({
        status: 200,
        body: sessionBody({ is_admin: true, registration_enabled: true }),
      }),
      "POST /api/v1/console/register": () => ({ status: 409, body: { error: "username already exists" } }),
    });
    renderAt("/accounts");
    fireEvent.input(await screen.findByLabelText("Username"), { target: { value: "Admin" } });
    fireEvent.input(screen.getByLabelText("Password"), { target: { value: "correct-horse-battery" } });
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    const form = screen.getByRole("form", { name: "New account" });
    expect((await within(form).findByRole("alert")).textContent).toBe("This username is taken (usernames ignore case).");
  });

  it("explains when registration is disabled", async () => {
    fakeConsole({
      "GET /api/v1/console/session": () => ({
        status: 200,
        body: sessionBody({ is_admin: true, registration_enabled: false }),
      }),
    });
    renderAt("/accounts");
    expect(await screen.findByText("Registration is disabled")).toBeTruthy();
    expect(screen.queryByRole("link", { name: "Accounts" })).toBeNull();
  });
});
