import { fireEvent, screen, waitFor } from "@solidjs/testing-library";
import { describe, expect, it } from "vitest";
import { fakeConsole, renderAt, sessionBody } from "../test-utils.tsx";

const notSignedIn = () => ({ status: 401, body: { error: "not signed in" } });
const noTokens = () => ({ status: 200, body: { items: [], total: 0 } });

function fillAndSubmit(username: string, password: string): void {
  fireEvent.input(screen.getByLabelText("Username"), { target: { value: username } });
  fireEvent.input(screen.getByLabelText("Password"), { target: { value: password } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

/** Opens `path` without a session and signs in as alice, against a console that accepts her. */
async function signInAt(path: string): Promise<void> {
  fakeConsole({
    "GET /api/v1/console/session": notSignedIn,
    "POST /api/v1/console/login": () => ({ status: 200, body: sessionBody() }),
    "GET /api/v1/console/tokens": noTokens,
  });
  renderAt(path);
  await screen.findByLabelText("Username");
  fillAndSubmit("alice", "secret");
}

describe("sign-in", () => {
  it("sends a visitor without a session to the sign-in page", async () => {
    fakeConsole({ "GET /api/v1/console/session": notSignedIn });
    renderAt("/tokens");
    expect(await screen.findByRole("heading", { name: "Onlyboxes console" })).toBeTruthy();
    expect(window.location.pathname).toBe("/login");
    expect(new URLSearchParams(window.location.search).get("next")).toBe("/tokens");
  });

  it("says the credentials are wrong on 401 and clears the password", async () => {
    const fake = fakeConsole({
      "GET /api/v1/console/session": notSignedIn,
      "POST /api/v1/console/login": () => ({ status: 401, body: { error: "invalid username or password" } }),
    });
    renderAt("/login");
    await screen.findByLabelText("Username");
    fillAndSubmit("alice", "nope");
    expect((await screen.findByRole("alert")).textContent).toBe("Wrong username or password.");
    expect((screen.getByLabelText("Password") as HTMLInputElement).value).toBe("");
    expect(fake.calls.find((c) => c.method === "POST")?.body).toEqual({ username: "alice", password: "nope" });
  });

  it("asks for both fields before calling the console", async () => {
    const fake = fakeConsole({ "GET /api/v1/console/session": notSignedIn });
    renderAt("/login");
    await screen.findByLabelText("Username");
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Enter your username and password.");
    expect(fake.calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("signs in, returns to the page asked for, and shows version and repo in the header", async () => {
    await signInAt("/login?next=%2Ftokens");
    expect(await screen.findByRole("heading", { name: "Access tokens" })).toBeTruthy();
    await waitFor(() => expect(window.location.pathname).toBe("/tokens"));
    const repo = screen.getByRole("link", { name: "console v0.1.0" });
    expect(repo.getAttribute("href")).toBe("https://github.com/onlyboxes/onlyboxes-workerd");
    expect(screen.getByText("alice")).toBeTruthy();
    // A non-admin sees no Workers entry.
    expect(screen.queryByRole("link", { name: "Workers" })).toBeNull();
  });

  it("ignores a next= that points off-site", async () => {
    await signInAt("/login?next=%2F%2Fevil.example");
    await screen.findByRole("heading", { name: "Access tokens" });
    await waitFor(() => expect(window.location.pathname).toBe("/tokens"));
  });

  it("restores the session on reload without asking again", async () => {
    fakeConsole({
      "GET /api/v1/console/session": () => ({
        status: 200,
        body: sessionBody({ is_admin: true, registration_enabled: true }),
      }),
      "GET /api/v1/console/tokens": noTokens,
    });
    renderAt("/tokens");
    expect(await screen.findByRole("heading", { name: "Access tokens" })).toBeTruthy();
    expect(screen.queryByLabelText("Password")).toBeNull();
    expect(document.title).toBe("Access tokens · Onlyboxes console");
    expect(screen.getByRole("link", { name: "Workers" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Accounts" })).toBeTruthy();
  });

  it("sends an expired session back to sign-in with a notice", async () => {
    fakeConsole({
      "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }),
      "GET /api/v1/console/tokens": () => ({ status: 401, body: { error: "not signed in" } }),
    });
    renderAt("/tokens");
    expect(await screen.findByText("Your session has expired. Please sign in again.")).toBeTruthy();
    await waitFor(() => expect(window.location.pathname).toBe("/login"));
    expect(new URLSearchParams(window.location.search).get("next")).toBe("/tokens");
    expect(screen.getByLabelText("Username")).toBeTruthy();
  });

  it("signs out and says so", async () => {
    const fake = fakeConsole({
      "GET /api/v1/console/session": () => ({ status: 200, body: sessionBody() }),
      "GET /api/v1/console/tokens": noTokens,
      "POST /api/v1/console/logout": () => ({ status: 204 }),
    });
    renderAt("/tokens");
    fireEvent.click(await screen.findByRole("button", { name: "Sign out" }));
    expect(await screen.findByText("You have signed out.")).toBeTruthy();
    await waitFor(() => expect(window.location.pathname).toBe("/login"));
    expect(window.location.search).toBe("");
    expect(fake.calls.some((c) => c.method === "POST" && c.path === "/api/v1/console/logout")).toBe(true);
  });

  it("offers a retry when the console cannot be reached", async () => {
    let reachable = false;
    fakeConsole({
      "GET /api/v1/console/session": () =>
        reachable ? { status: 200, body: sessionBody() } : { status: 502, body: { error: "bad gateway" } },
      "GET /api/v1/console/tokens": noTokens,
    });
    renderAt("/tokens");
    expect((await screen.findByRole("alert")).textContent).toContain("bad gateway");
    reachable = true;
    fireEvent.click(screen.getByRole("button", { name: "Retry" }));
    await waitFor(() => expect(window.location.pathname).toBe("/tokens"));
    expect(await screen.findByRole("heading", { name: "Access tokens" })).toBeTruthy();
  });
});
