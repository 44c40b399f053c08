import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAndCheckClean, marker, type Started, startBackend } from "./harness.ts";

// The images scripts/build-images.sh builds, checked through the worker's own capabilities,
// so every run has the worker's hardening: read-only root, tmpfs /tmp, uid 1000, no network.

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

let s: Started;
let slim: Started;

// Images named in the environment are the ones checked (e.g. a trial build under another
// ONLYBOXES_IMAGE_NAMESPACE); by default the worker's defaults.
const imageEnv: Record<string, string> = {};
for (const name of ["WORKER_PYTHON_EXEC_DOCKER_IMAGE", "WORKER_TERMINAL_EXEC_DOCKER_IMAGE"]) {
  const v = process.env[name];
  if (v) imageEnv[name] = v;
}

const py = (on: Started, code: string) => on.python(code, { timeoutMs: 90_000 });

beforeAll(async () => {
  s = await startBackend({ ...imageEnv, WORKER_PYTHON_EXEC_POOL_SIZE: "1" });
  // The slim tag sits beside the default Python image (same repository, `-slim` suffix).
  slim = await startBackend({
    ...imageEnv,
    WORKER_PYTHON_EXEC_DOCKER_IMAGE: `${s.config.pythonImage}-slim`,
    WORKER_PYTHON_EXEC_POOL_SIZE: "1",
  });
});

afterAll(async () => {
  for (const started of [s, slim]) if (started) await closeAndCheckClean(started);
});

describe("default Python image", () => {
  it("draws a matplotlib chart of a pandas frame to a PNG under the sandbox's hardening", async () => {
    const code = `
import io, os
import numpy as np, pandas as pd, matplotlib
import matplotlib.pyplot as plt
from PIL import Image
df = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})
fig, ax = plt.subplots()
ax.plot(df["x"], df["y"], label="squares")
ax.set_title("Squares")
ax.legend()
fig.savefig("chart.png")
with open("chart.png", "rb") as f:
    png = f.read()
img = Image.open(io.BytesIO(png))
print("backend", matplotlib.get_backend())
print("png", png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", img.format, img.size, len(png))
print("sum", int(df["y"].sum()))
print("uid", os.getuid(), "cwd", os.getcwd())
try:
    open("/usr/lib/probe", "w")
except OSError as e:
    print("root", e.strerror)
`;
    const r = await py(s, code);
    // Nothing on stderr: no missing font, no unwritable config dir, no Tk backend warning.
    expect(r.stderr).toBe("");
    expect(r.exit_code).toBe(0);
    const lines = r.output.trim().split("\n");
    expect(lines[0]).toBe("backend agg");
    const m = /^png True PNG \(640, 480\) (\d+)$/.exec(lines[1] ?? "");
    expect(m, lines[1]).not.toBeNull();
    // A chart with axes, a line, a title and a legend: tens of KB, not an empty canvas.
    expect(Number(m?.[1])).toBeGreaterThan(10_000);
    expect(lines.slice(2)).toEqual(["sum 285", "uid 1000 cwd /tmp", "root Read-only file system"]);
  });

  it("renders text with a real font (DejaVu), so chart labels are visible", async () => {
    const code = `
import numpy as np, matplotlib.pyplot as plt
from matplotlib import font_manager
print(font_manager.findfont(font_manager.FontProperties(family=["sans-serif"])).rsplit("/", 1)[-1])
def ink(text):
    fig = plt.figure(figsize=(2, 1))
    fig.text(0.1, 0.4, text, fontsize=20)
    fig.canvas.draw()
    return int((np.asarray(fig.canvas.buffer_rgba())[:, :, :3] < 128).any(axis=2).sum())
print(ink("") == 0, ink("Hello") > 100)
`;
    const r = await py(s, code);
    // Its figures come back in `images` too (still open at the end); the text is what this checks.
    expect(r).toMatchObject({ output: "DejaVuSans.ttf\nTrue True\n", stderr: "", exit_code: 0 });
  });

  it("has the rest of the data stack: scipy, scikit-learn, sympy, requests, bs4, lxml, openpyxl", async () => {
    const code = `
import io
import scipy.optimize, scipy.stats, sklearn.linear_model, sympy, requests, bs4, lxml.etree, openpyxl
import numpy as np
print(round(scipy.optimize.minimize_scalar(lambda x: (x - 3) ** 2).x, 3))
m = sklearn.linear_model.LinearRegression().fit(np.arange(5).reshape(-1, 1), 2 * np.arange(5) + 1)
print(round(float(m.coef_[0]), 3), round(float(m.intercept_), 3))
x = sympy.symbols("x")
print(sympy.integrate(2 * x, x))
print(bs4.BeautifulSoup("<p>hi <b>there</b></p>", "lxml").b.text)
wb = openpyxl.Workbook(); wb.active["A1"] = 42; buf = io.BytesIO(); wb.save(buf)
print(openpyxl.load_workbook(io.BytesIO(buf.getvalue())).active["A1"].value)
print(requests.Request("GET", "https://example.com", params={"q": "a b"}).prepare().url)
`;
    const r = await py(s, code);
    expect(r).toEqual({
      output: "3.0\n2.0 1.0\nx**2\nthere\n42\nhttps://example.com/?q=a+b\n",
      stderr: "",
      exit_code: 0,
      images: [],
    });
  });
});

describe("slim Python image", () => {
  it("has python3 with the standard library and nothing else", async () => {
    const code = `
import json, sqlite3, ssl, zoneinfo, ctypes, decimal
print(json.dumps({"ok": sqlite3.connect(":memory:").execute("select 1").fetchone()[0]}))
try:
    import numpy
except ModuleNotFoundError as e:
    print(e)
`;
    const r = await py(slim, code);
    expect(r).toEqual({ output: `{"ok": 1}\nNo module named 'numpy'\n`, stderr: "", exit_code: 0, images: [] });
  });
});

describe("default terminal image", () => {
  it("has git, curl, jq, sqlite3, node, unzip, pip and the Python stack, usable as the sandbox user", async () => {
    const session = marker("sess");
    const run = (command: string) => s.shell(command, session, { timeoutMs: 90_000 });
    const versions = await run(
      "git --version; curl --version | head -n1; jq --version; sqlite3 --version; node --version; unzip -v | head -n1; pip --version",
    );
    expect(versions.stderr).toBe("");
    expect(versions.exit_code).toBe(0);
    const v = versions.stdout.trim().split("\n");
    expect(v[0]).toMatch(/^git version 2\.\d+/);
    expect(v[1]).toMatch(/^curl \d+\.\d+/);
    expect(v[2]).toMatch(/^jq-1\.\d+/);
    expect(v[3]).toMatch(/^3\.\d+\.\d+ /);
    expect(v[4]).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(v[5]).toMatch(/^UnZip \d+\.\d+/);
    expect(v[6]).toMatch(/^pip \d+\.\d+.* \(python 3\.11\)$/);

    const work = await run(
      [
        "set -e",
        "git init -q repo && cd repo && echo hi > a.txt && git add a.txt",
        "git -c user.name=t -c user.email=t@example.com commit -qm first && git log --format=%s",
        `echo '{"a":[1,2,3]}' | jq -c '.a | map(. * 2)'`,
        `sqlite3 :memory: 'create table t(x); insert into t values (20), (22); select sum(x) from t;'`,
        `node -e 'console.log([1, 2, 3].map((x) => x * x).join(","))'`,
        "curl -s file://$PWD/a.txt",
        "cd .. && zip -q -r repo.zip repo/a.txt && unzip -p repo.zip repo/a.txt",
        `python3 -c 'import pandas, matplotlib.pyplot as plt; plt.plot([1, 2]); plt.savefig("c.png"); print(pandas.Series([1, 2]).sum())'`,
        "id -u",
      ].join("\n"),
    );
    expect(work).toMatchObject({ stderr: "", exit_code: 0 });
    expect(work.stdout).toBe("first\n[2,4,6]\n42\n1,4,9\nhi\nhi\n3\n1000\n");
  });
});

describe("build-images.sh", () => {
  it("leaves images built by the current definition alone", async () => {
    const ns = /^(.+)\/python:3\.11$/.exec(s.config.pythonImage)?.[1];
    // A custom WORKER_PYTHON_EXEC_DOCKER_IMAGE is not ours to check.
    if (ns === undefined) return;
    const { stderr } = await execFileAsync("bash", ["scripts/build-images.sh"], {
      cwd: repoRoot,
      env: { ...process.env, ONLYBOXES_IMAGE_NAMESPACE: ns },
    });
    expect(stderr.trim().split("\n")).toEqual(
      [`${ns}/python:3.11-slim`, `${ns}/python:3.11`, `${ns}/terminal:bookworm`].map((image) =>
        expect.stringMatching(new RegExp(`\\] ${image.replace(/[.]/g, "\\.")} is up to date`)),
      ),
    );
  });
});
