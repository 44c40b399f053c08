import type { StreamName } from "./container-client.ts";

/**
 * The program a warm pythonExec container starts with: `python3 -c PYTHON_BOOTSTRAP`.
 *
 * It waits for one program on stdin (`<byte length>\n<source>`), so the interpreter is
 * already up when the run arrives. It then forks: the child runs the source like
 * `python3 -c` (fresh `__main__`, stdin at /dev/null, tracebacks without our frames),
 * while the parent relays the child's stdout/stderr in frames of its own
 * (`kind:1 | length:4 BE | data`, kind 1 stdout, 2 stderr, 3 exit code as ASCII) and
 * sends the exit frame the moment the child is reaped. The child ends like the
 * interpreter would (threads joined, atexit run, streams flushed) but skips its 30-40 ms
 * teardown. The worker answers then, instead
 * of waiting 150–350 ms for the engine to notice the container stopped. The parent is the
 * only writer of the container's stdout, so nothing the program prints can forge a frame;
 * background processes left behind die with the container, which the worker removes.
 */
export const PYTHON_BOOTSTRAP = `import os, sys, select
def _obx_frame(kind, data):
    view = memoryview(bytes([kind]) + len(data).to_bytes(4, "big") + data)
    while view:
        view = view[os.write(1, view):]
def _obx_run():
    head = sys.stdin.buffer.readline()
    if not head:
        os._exit(0)
    src = sys.stdin.buffer.read(int(head))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        return src
    os.close(out_w)
    os.close(err_w)
    poller = select.poll()
    kinds = {out_r: 1, err_r: 2}
    for fd in kinds:
        poller.register(fd, select.POLLIN)
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = None
    exited = False
    status = None
    while kinds and not exited:
        for fd, _ in poller.poll(None if pidfd is not None else 50):
            if fd == pidfd:
                exited = True
                continue
            data = os.read(fd, 65536)
            if data:
                _obx_frame(kinds[fd], data)
            else:
                poller.unregister(fd)
                del kinds[fd]
        if pidfd is None:
            reaped, st = os.waitpid(pid, os.WNOHANG)
            if reaped == pid:
                status = st
                exited = True
    # The child is done: drain what it wrote, but never wait on pipes a leftover
    # background process may hold open.
    for fd, kind in kinds.items():
        os.set_blocking(fd, False)
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            _obx_frame(kind, data)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        code = 128 + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    _obx_frame(3, str(code).encode())
    os._exit(0)
def _obx_main(src):
    main = type(sys)("__main__")
    sys.modules["__main__"] = main
    hook = sys.excepthook
    ours = globals()
    def trimmed(kind, value, tb):
        while tb is not None and tb.tb_frame.f_globals is ours:
            tb = tb.tb_next
        # The default hook prints value.__traceback__, not its tb argument.
        if value is not None:
            value.__traceback__ = tb
        hook(kind, value, tb)
    sys.excepthook = trimmed
    try:
        exec(compile(src, "<string>", "exec"), main.__dict__)
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code & 0xFF
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    # What the interpreter does at exit (threads, atexit, flushing, closing what the
    # program left open), without tearing itself down: that costs 30-40 ms per run.
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
        main.__dict__.clear()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)
_obx_main(_obx_run())
`;

/** What the worker reads back from the bootstrap: output frames, then the exit code. */
export type BootstrapEvent = { kind: "output"; stream: StreamName; data: Buffer } | { kind: "exit"; code: number };

const HEADER = 5;

/**
 * Decodes the bootstrap's frames incrementally. Output payloads are passed on as they
 * arrive (even mid-frame), so memory stays flat whatever the program prints.
 */
export class BootstrapDecoder {
  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  private remaining = 0;
  private kind = 0;
  private exitDigits: Buffer[] = [];

  constructor(private readonly onEvent: (event: BootstrapEvent) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(HEADER - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < HEADER) return;
        this.headerFill = 0;
        this.kind = this.header[0] ?? 0;
        this.remaining = this.header.readUInt32BE(1);
        if (this.remaining === 0 && this.kind === 3) this.finishExit();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      const part = chunk.subarray(offset, offset + take);
      this.remaining -= take;
      offset += take;
      if (this.kind === 1 || this.kind === 2) {
        this.onEvent({ kind: "output", stream: this.kind === 1 ? "stdout" : "stderr", data: part });
      } else if (this.kind === 3) {
        this.exitDigits.push(Buffer.from(part));
        if (this.remaining === 0) this.finishExit();
      }
    }
  }

  private finishExit(): void {
    const code = Number.parseInt(Buffer.concat(this.exitDigits).toString("ascii"), 10);
    this.exitDigits = [];
    this.onEvent({ kind: "exit", code: Number.isFinite(code) ? code : -1 });
  }
}
