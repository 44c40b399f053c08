/**
 * The dashboard's Run page in headless Chromium against the real self-hosted console, its
 * Docker worker and real Python sandboxes: output arrives while the program runs, a
 * matplotlib chart shows inline, a file goes into a session and comes back byte for byte,
 * and Stop ends a running loop in its sandbox. The page authenticates with the session
 * cookie only.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  hostProcessesWith,
  marker,
  REPO_ROOT,
  type StartedConsole,
  startConsole,
  stopAndListLeftovers,
} from "./harness.ts";

const SCREENSHOTS = join(REPO_ROOT, "test-output", "screenshots");

let c: StartedConsole;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page;

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Serve what the sources say now, not whatever an earlier build left in dashboard/dist.
  const build = spawnSync("npm", ["run", "build", "-w", "dashboard"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`dashboard build failed:\n${build.stdout}\n${build.stderr}`);
  c = await startConsole({ capabilities: ["pythonExec", "terminalExec"] });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(20_000);
  const [name = "", value = ""] = c.adminCookie.split("=");
  await context.addCookies([{ name, value, url: c.url }]);
  page = await context.newPage();
}, 240_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  expect(await stopAndListLeftovers(c)).toEqual([]);
}, 90_000);

async function write(code: string): Promise<void> {
  await page.getByLabel("Python code").fill(code);
}

const output = () => page.getByTestId("run-output");

async function runAndWaitForExit(code: string): Promise<void> {
  await write(code);
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await page.getByText(/^Exit code 0/).waitFor();
}

describe("the Run page", () => {
  it("shows a live counter line by line while the cell runs", async () => {
    await page.goto(`${c.url}/run`);
    await page.getByRole("heading", { name: "Run" }).waitFor();
    await write(["import time", "for i in range(12):", '    print("count", i, flush=True)', "    time.sleep(0.25)"].join("\n"));
    await page.getByRole("button", { name: "Run", exact: true }).click();
    // Early lines show while the run is still going (the Stop button is live until it ends).
    await output().getByText("count 2").waitFor();
    const early = await output().textContent();
    expect(await page.getByRole("button", { name: "Stop" }).isEnabled()).toBe(true);
    expect(early).not.toContain("count 11");
    await page.getByText("Exit code 0").waitFor();
    const all = Array.from({ length: 12 }, (_, i) => `count ${i}\n`).join("");
    expect(await output().textContent()).toBe(all);
    await page.screenshot({ path: join(SCREENSHOTS, "run-page.png"), fullPage: true });
  });

  it("shows a matplotlib chart inline", async () => {
    await runAndWaitForExit(
      ["import matplotlib.pyplot as plt", "plt.plot([1, 2, 3], [2, 4, 1])", "plt.title('run page')", "print('drawn')"].join("\n"),
    );
    expect(await output().textContent()).toBe("drawn\n");
    const chart = page.getByRole("img", { name: "figure-1.png" });
    await chart.waitFor();
    // Decoded by the browser as a real picture (matplotlib's default 640x480 at its dpi).
    const size = await chart.evaluate(async (el: HTMLImageElement) => {
      await el.decode();
      return { width: el.naturalWidth, height: el.naturalHeight };
    });
    expect(size.width).toBeGreaterThan(300);
    expect(size.height).toBeGreaterThan(200);
    await page.screenshot({ path: join(SCREENSHOTS, "run-page-chart.png"), fullPage: true });
  });

  it("Stop ends a running loop in its sandbox", async () => {
    const tag = marker("run-page-stop");
    // The loop re-executes itself with the tag in its argv, so the host's ps can find it.
    const loop = "import time\\nwhile True:\\n    print('tick', flush=True)\\n    time.sleep(0.2)";
    await write(["import os, sys", `os.execv(sys.executable, [sys.executable, "-c", "${loop}", "${tag}"])`].join("\n"));
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await output().getByText("tick").first().waitFor();
    expect(await hostProcessesWith(tag)).not.toEqual([]);
    await page.getByRole("button", { name: "Stop" }).click();
    await page.getByText("Stopped").waitFor();
    expect(await eventually(async () => (await hostProcessesWith(tag)).length === 0, 10_000)).toBe(true);
    expect(await page.getByRole("button", { name: "Run", exact: true }).isEnabled()).toBe(true);
  });

  it("uploads a file into a session and downloads the same bytes back", async () => {
    // A new session: the run makes it, and the page then shows its files.
    await page.getByLabel("Where").selectOption("new");
    await runAndWaitForExit("print('session ready')");
    await page.getByText("/workspace of session").waitFor();
    const bytes = randomBytes(200 * 1024);
    await page
      .getByLabel("Upload a file")
      .setInputFiles({ name: "upload.bin", mimeType: "application/octet-stream", buffer: bytes });
    await page.getByRole("button", { name: "Download upload.bin" }).waitFor();

    // The bytes are in the session's container, where the session's Python sees them.
    const sha = createHash("sha256").update(bytes).digest("hex");
    await runAndWaitForExit("import hashlib\nprint(hashlib.sha256(open('upload.bin', 'rb').read()).hexdigest())");
    expect(await output().textContent()).toBe(`${sha}\n`);

    const downloading = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download upload.bin" }).click();
    // A failed download shows an alert: fail with its message instead of waiting out the timeout.
    const failed = page
      .getByRole("alert")
      .waitFor()
      .then(async () => {
        throw new Error(`download failed: ${await page.getByRole("alert").textContent()}`);
      });
    failed.catch(() => {});
    const download = await Promise.race([downloading, failed]);
    expect(download.suggestedFilename()).toBe("upload.bin");
    const got = await readFile(await download.path());
    expect(got.length).toBe(bytes.length);
    expect(got.equals(bytes)).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, "run-page-files.png"), fullPage: true });
  });
});
