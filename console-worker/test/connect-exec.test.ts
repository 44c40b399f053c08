import { SELF } from "cloudflare:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createFetchClient } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";
import { ErrorDetailSchema, ExecService, OutputStream, type RunResponse } from "@onlyboxes/proto/exec";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccount, createToken, newAccountWithToken, ORIGIN, signInAdmin, sleep } from "./helpers.ts";
import { connectTestWorker, type TestReply, type TestWorker, workersClosedAfterEach } from "./worker-harness.ts";

let token = "";
let cookie = "";
beforeAll(async () => {
  token = (await newAccountWithToken()).token;
  const user = await createAccount(await signInAdmin());
  cookie = user.cookie;
  await createToken(cookie);
});

const workers = workersClosedAfterEach();

function withHeaders(headers: Record<string, string>): Interceptor {
  return (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
}

/** A Connect client of the console under test (SELF), speaking JSON or binary. */
function client(headers: Record<string, string>, binary = false) {
  const transport = createTransport({
    httpClient: createFetchClient((req) => SELF.fetch(req)),
    baseUrl: `${ORIGIN}/api/connect`,
    useBinaryFormat: binary,
    interceptors: [withHeaders(headers)],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: 0,
    readMaxBytes: 16 * 1024 * 1024,
    writeMaxBytes: 16 * 1024 * 1024,
  });
  return createClient(ExecService, transport);
}

const LINES = 6;
const LINE_MS = 60;

/** A worker whose pythonExec prints LINES lines LINE_MS apart, then answers; `hold` keeps it running. */
async function printingWorker(opts: { hold?: boolean; result?: Record<string, unknown> } = {}): Promise<TestWorker> {
  const w = await connectTestWorker({
    capabilities: [{ name: "pythonExec", maxInflight: 4 }],
    handler: async (d, _payload, self): Promise<TestReply> => {
      let out = "";
      for (let i = 0; i < LINES; i++) {
        self.output(d.commandId, "stdout", `line ${i}\n`);
        out += `line ${i}\n`;
        await sleep(LINE_MS);
      }
      self.output(d.commandId, "stderr", "oops\n");
      if (opts.hold) return "no-reply";
      return { payload: { output: out, stderr: "oops\n", exit_code: 3, ...opts.result } };
    },
  });
  workers.push(w);
  await w.acked;
  return w;
}

async function collect(stream: AsyncIterable<RunResponse>): Promise<Array<RunResponse & { at: number }>> {
  const got: Array<RunResponse & { at: number }> = [];
  for await (const msg of stream) got.push(Object.assign(msg, { at: Date.now() }));
  return got;
}

async function failureOf(work: Promise<unknown>): Promise<ConnectError> {
  try {
    await work;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

const EXPECTED = Array.from({ length: LINES }, (_, i) => `line ${i}\n`).join("");

describe("ExecService.Run", () => {
  it.each([
    ["JSON", false],
    ["binary", true],
  ])("streams output live and then the result (%s)", async (_label, binary) => {
    await printingWorker();
    const got = await collect(
      client({ authorization: `Bearer ${token}` }, binary).run({ program: { case: "python", value: { code: "print(1)" } } }),
    );
    const outputs = got.flatMap((m) => (m.event.case === "output" ? [m.event.value] : []));
    expect(
      outputs
        .filter((o) => o.stream === OutputStream.STDOUT)
        .map((o) => o.data)
        .join(""),
    ).toBe(EXPECTED);
    expect(outputs.filter((o) => o.stream === OutputStream.STDERR).map((o) => o.data)).toEqual(["oops\n"]);
    const last = got.at(-1);
    expect(last?.event.case).toBe("result");
    if (last?.event.case !== "result") return;
    expect(last.event.value).toMatchObject({ exitCode: 3, stdout: EXPECTED, stderr: "oops\n", stdoutTruncated: false });
    expect(JSON.parse(last.event.value.resultJson)).toEqual({ output: EXPECTED, stderr: "oops\n", exit_code: 3 });
    // Live: the first line came well before the result.
    expect(last.at - (got[0]?.at ?? 0)).toBeGreaterThan((LINES - 2) * LINE_MS);
  });

  it("sends images as their own messages, before the result", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    await printingWorker({ result: { images: [{ mime_type: "image/png", data_base64: btoa(String.fromCharCode(...png)) }] } });
    const got = await collect(
      client({ authorization: `Bearer ${token}` }).run({ program: { case: "python", value: { code: "x" } } }),
    );
    const kinds = got.map((m) => m.event.case);
    expect(kinds.slice(-2)).toEqual(["image", "result"]);
    const image = got.at(-2)?.event;
    expect(image?.case === "image" && image.value.mimeType).toBe("image/png");
    expect(image?.case === "image" && [...image.value.data]).toEqual([...png]);
    const result = got.at(-1)?.event;
    expect(result?.case === "result" && JSON.parse(result.value.resultJson)).not.toHaveProperty("images");
  });

  it("refuses a bad program with invalid_argument naming the field, before any worker sees it", async () => {
    const w = await printingWorker();
    const c = client({ authorization: `Bearer ${token}` });
    const empty = await failureOf(collect(c.run({ program: { case: "python", value: { code: "" } } })));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(empty.rawMessage).toMatch(/^python\.code: /);
    expect(empty.findDetails(ErrorDetailSchema)[0]?.code).toBe("invalid_argument");
    const none = await failureOf(collect(c.run({})));
    expect(none.code).toBe(Code.InvalidArgument);
    expect(none.rawMessage).toBe("program: set python or shell");
    const timeout = await failureOf(collect(c.run({ program: { case: "python", value: { code: "x" } }, timeoutMs: 10_000_000 })));
    expect(timeout.rawMessage).toMatch(/^timeout_ms: must be an integer between/);
    expect(w.dispatches).toHaveLength(0);
  });

  it("refuses a wrong token or a missing sign-in with a Connect error that says why", async () => {
    const program = { program: { case: "python" as const, value: { code: "x" } } };
    const wrong = await failureOf(collect(client({ authorization: "Bearer obx_wrong" }).run(program)));
    expect(wrong.code).toBe(Code.Unauthenticated);
    expect(wrong.rawMessage).toBe("invalid token");
    expect(wrong.findDetails(ErrorDetailSchema)[0]?.code).toBe("unauthenticated");
    const none = await failureOf(collect(client({}).run(program)));
    expect(none.code).toBe(Code.Unauthenticated);
    expect(none.rawMessage).toBe("not signed in");
  });

  it("accepts the dashboard session cookie from the same origin only", async () => {
    await printingWorker();
    const program = { program: { case: "python" as const, value: { code: "x" } } };
    const got = await collect(client({ cookie, origin: ORIGIN, "sec-fetch-site": "same-origin" }).run(program));
    expect(got.at(-1)?.event.case).toBe("result");
    const crossSite = await failureOf(
      collect(client({ cookie, origin: "https://evil.test", "sec-fetch-site": "cross-site" }).run(program)),
    );
    expect(crossSite.code).toBe(Code.PermissionDenied);
    const signedOut = await failureOf(collect(client({ origin: ORIGIN }).run(program)));
    expect(signedOut.code).toBe(Code.Unauthenticated);
  });
  // Stop (closing the stream cancels the run on the worker) needs a real client disconnect,
  // which SELF does not deliver: e2e/live-output.test.ts drives it over HTTP.
});
