import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABEL_MANAGED, LABEL_NODE } from "../../src/docker/container-client.ts";
import { containersWith, ctx, failureOf, type PythonResult, type Started, startBackend } from "./harness.ts";

let s: Started;
const py = (code: string, extra: Record<string, unknown> = {}, timeoutMs = 60_000) =>
  s.cap("pythonExec").run({ code, ...extra }, ctx({ timeoutMs })) as Promise<PythonResult>;

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Width and height from a PNG's IHDR chunk. */
const pngSize = (png: Buffer) => [png.readUInt32BE(16), png.readUInt32BE(20)];

beforeAll(async () => {
  s = await startBackend({ WORKER_PYTHON_IMAGE_LIMIT_BYTES: "300k" });
});

afterAll(async () => {
  await s?.backend.close();
  expect(await containersWith({ [LABEL_MANAGED]: "true", [LABEL_NODE]: s.config.nodeId })).toEqual([]);
});

describe("pythonExec files and figures", () => {
  it("writes text and binary files before the code runs", async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10]);
    const r = await py(
      "import os\nprint(open('data/in.csv').read(), end='')\nprint(list(open('blob.bin','rb').read()))\nprint(os.path.getsize('empty'))",
      {
        files: [
          { path: "data/in.csv", content: "a,b\n1,2\n" },
          { path: "blob.bin", content_base64: bytes.toString("base64") },
          { path: "empty", content: "" },
        ],
      },
    );
    expect(r).toEqual({ output: "a,b\n1,2\n[0, 1, 2, 255, 254, 10]\n0\n", stderr: "", exit_code: 0, images: [] });
  });

  it("refuses paths outside the working directory with invalid_argument", async () => {
    for (const path of ["/etc/passwd", "../x", "a/../../x", "a//b", "./a"]) {
      const failure = await failureOf(py("print(1)", { files: [{ path, content: "x" }] }));
      expect(failure?.code).toBe("invalid_argument");
      expect(failure?.message).toContain("files.0.path");
    }
  });

  it("returns every open figure as a PNG, and each one passed to plt.show()", async () => {
    const r = await py(
      [
        "import matplotlib.pyplot as plt",
        "plt.plot([1, 2, 3], [1, 4, 9])",
        "plt.show()",
        "fig = plt.figure(figsize=(2, 1))",
        "plt.bar(['a', 'b'], [3, 5])",
        "print('drawn')",
      ].join("\n"),
    );
    expect(r.exit_code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.output).toBe("drawn\n");
    expect(r.images).toHaveLength(2);
    const [first, second] = r.images.map((i) => Buffer.from(i.data_base64, "base64"));
    for (const png of [first, second]) {
      expect(png?.subarray(0, 8).equals(PNG)).toBe(true);
      expect(png?.length).toBeGreaterThan(500);
    }
    expect(r.images.map((i) => i.mime_type)).toEqual(["image/png", "image/png"]);
    // Matplotlib's default figure is 6.4 x 4.8 inches at 100 dpi; the second asked for 2 x 1.
    expect(pngSize(first ?? Buffer.alloc(24))).toEqual([640, 480]);
    expect(pngSize(second ?? Buffer.alloc(24))).toEqual([200, 100]);
  });

  it("never imports matplotlib for a program that did not", async () => {
    const r = await py("import sys\nprint('matplotlib' in sys.modules)");
    expect(r).toEqual({ output: "False\n", stderr: "", exit_code: 0, images: [] });
  });

  it("leaves out figures beyond the image limit and says so", async () => {
    const r = await py(`import matplotlib.pyplot as plt, numpy as np
for i in range(4):
    plt.figure(figsize=(6, 6))
    plt.imshow(np.random.default_rng(i).random((300, 300)))`);
    expect(r.exit_code).toBe(0);
    expect(r.images_truncated).toBe(true);
    const total = r.images.reduce((n, i) => n + Buffer.from(i.data_base64, "base64").length, 0);
    expect(total).toBeLessThanOrEqual(300 * 1024);
    expect(r.images.length).toBeLessThan(4);
  });

  it("treats forged records on the figure pipe as data, never as a protocol break", async () => {
    // The program finds the pipe and writes a record that is not a PNG, then one that claims 4 GiB.
    const code = [
      "import os, stat, matplotlib.pyplot as plt",
      "def pipes():",
      "    for f in range(3, 64):",
      "        try:",
      "            if stat.S_ISFIFO(os.fstat(f).st_mode): yield f",
      "        except OSError: pass",
      "fd = next(pipes())",
      "os.write(fd, (5).to_bytes(4, 'big') + b'hello')",
      "plt.plot([1, 2])",
      "print('ok')",
    ].join("\n");
    const r = await py(code);
    expect(r.stderr).toBe("");
    expect(r.output).toBe("ok\n");
    expect(r.images_truncated).toBe(true);
    expect(r.images).toHaveLength(1);
  });
});
