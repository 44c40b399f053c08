import type { StreamName } from "./container-client.ts";
import { FrameSplitter } from "./frame-splitter.ts";
import { PYTHON_FIGURES } from "./python-figures.ts";

/**
 * Python for every reader of a program's way in (the bootstrap and its child, the session's
 * kernel server and interpreter): `_obx_read(fd, n)` answers exactly `n` bytes of `fd`; the end of
 * the pipe (its writer is gone) ends the process.
 */
export const PYTHON_READ_EXACT = `def _obx_read(fd, n):
    parts = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            os._exit(0)
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)`;

/**
 * Python of the frame writers (the bootstrap, the session's kernel server), the only
 * writers of their container's or exec's stdout: `_obx_frame` writes one `kind:1 |
 * length:4 BE | payload` frame; `_obx_drain` frames what is left in a finished program's
 * pipe while `more()` says so, never waiting on a pipe a leftover background process
 * may hold open.
 */
export const PYTHON_FRAMES = `def _obx_frame(kind, data):
    view = memoryview(bytes([kind]) + len(data).to_bytes(4, "big") + data)
    while view:
        view = view[os.write(1, view):]
def _obx_drain(fd, kind, more):
    os.set_blocking(fd, False)
    while more():
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        _obx_frame(kind, data)`;

/**
 * The program a warm pythonExec container starts with: `python3 -c PYTHON_BOOTSTRAP`.
 *
 * It waits for one program on stdin (`<byte length> <budget ms> <files length>\n<source>
 * <files JSON>`), so the interpreter is already up when the run arrives. It has forked
 * before that (so the run waits for no fork): PID 1 hands the program to the child on a
 * pipe of their own; the child writes the input files, runs the source like `python3 -c` (fresh `__main__`,
 * stdin at /dev/null, tracebacks without our frames) and sends its open figures (see
 * python-figures.ts), while the parent relays the child's stdout, stderr and figure pipe
 * in frames of its own (`kind:1 | length:4 BE | data`, kind 1 stdout, 2 stderr, 4 figure
 * bytes, 3 exit code as ASCII) and sends the exit frame the moment the child is reaped. The child ends like the
 * interpreter would (threads joined, atexit run, streams flushed) but skips its 30-40 ms
 * teardown. The worker answers then, instead of waiting 150–350 ms for the engine to
 * notice the container stopped.
 *
 * Containment, all enforced by the parent (PID 1) itself:
 * - It makes itself non-dumpable before reading anything: its /proc entries (fd, mem,
 *   environ) become root-owned and ptrace is refused, so the program, which runs with the
 *   same uid and no capabilities, cannot reach the frame channel or PID 1's memory. The
 *   parent is then the only writer of the container's stdout, and nothing the program
 *   does can forge a frame. Right after the fork, before the child has a program, its
 *   SIGINT goes back to the default, which makes it immune to signals from inside the
 *   container (PID 1 rule).
 * - The budget is the time left until the run's deadline plus a grace: when it runs out,
 *   PID 1 exits, and with it every process in the container. So does the end of stdin
 *   (the worker's attach connection closed: the worker is gone). The container is created
 *   with auto-remove, so it disappears without any worker.
 */
export const PYTHON_BOOTSTRAP = `import os, sys, select, signal, time
${PYTHON_FIGURES}
def _obx_fail(message):
    os.write(2, ("onlyboxes bootstrap: " + message + "\\n").encode())
    os._exit(125)
def _obx_dumpable(flag):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    # PR_SET_DUMPABLE = 4, PR_GET_DUMPABLE = 3.
    if libc.prctl(4, flag, 0, 0, 0) != 0 or libc.prctl(3, 0, 0, 0, 0) != flag:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
${PYTHON_FRAMES}
${PYTHON_READ_EXACT}
def _obx_readline(fd):
    line = b""
    while not line.endswith(b"\\n"):
        data = os.read(fd, 1)
        if not data:
            os._exit(0)
        line += data
    return line
def _obx_run():
    try:
        _obx_dumpable(0)
    except Exception as e:
        _obx_fail("cannot make PID 1 non-dumpable: %s" % e)
    # The compiler's first use costs ~3 ms: spend it now, while no run waits.
    compile("pass", "<warm>", "exec")
    link = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    img_r, img_w = os.pipe()
    code_r, code_w = os.pipe()
    # The child is forked before the run arrives (a fork and the child's first moments cost
    # milliseconds); it waits for the program on a pipe only PID 1 writes to.
    pid = os.fork()
    if pid == 0:
        os.close(link)
        os.close(out_r)
        os.close(err_r)
        os.close(img_r)
        os.close(code_w)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        try:
            _obx_dumpable(1)
        except Exception:
            pass
        size, files_size = _obx_readline(code_r).split()
        src = _obx_read(code_r, int(size))
        files = _obx_read(code_r, int(files_size)) if int(files_size) else None
        os.close(code_r)
        return src, files, img_w
    # Immune before the program can exist: set only after the hand-over, a program's first
    # os.kill(1, SIGINT) could land in Python's KeyboardInterrupt handler here.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.close(code_r)
    head = _obx_readline(link)
    size, budget_ms, files_size = head.split()
    deadline = time.monotonic() + int(budget_ms) / 1000
    body = _obx_read(link, int(size) + int(files_size))
    view = memoryview(size + b" " + files_size + b"\\n" + body)
    try:
        while view:
            view = view[os.write(code_w, view):]
    except BrokenPipeError:
        pass  # the child is gone already: its status says how
    os.close(code_w)
    os.close(out_w)
    os.close(err_w)
    os.close(img_w)
    poller = select.poll()
    kinds = {out_r: 1, err_r: 2, img_r: 4}
    for fd in kinds:
        poller.register(fd, select.POLLIN)
    poller.register(link, select.POLLIN)
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = None
    def left_ms():
        left = deadline - time.monotonic()
        if left <= 0:
            os._exit(124)
        return left * 1000
    exited = False
    status = None
    while kinds and not exited:
        wait = left_ms() if pidfd is not None else min(50, left_ms())
        for fd, _ in poller.poll(wait):
            if fd == pidfd:
                exited = True
                continue
            if fd == link:
                if not os.read(link, 4096):
                    os._exit(0)
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
    # The child is done: drain what it wrote (not past the deadline).
    for fd, kind in kinds.items():
        _obx_drain(fd, kind, left_ms)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        code = 128 + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    _obx_frame(3, str(code).encode())
    os._exit(0)
def _obx_main(src, files, img):
    if files is not None:
        problem = _obx_write_files(files)
        if problem is not None:
            os.write(2, problem.encode())
            os._exit(1)
    sys.meta_path.insert(0, _ObxPyplotHook(img))
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
        code = _obx_exit_code(e)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _obx_end_figures(img)
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
    _obx_flush()
    os._exit(code)
_obx_main(*_obx_run())
`;

/** What the worker reads back from the bootstrap (or the session kernel): output, figure bytes, status, then the exit code, or a broken frame. */
export type BootstrapEvent =
  | { kind: "output"; stream: StreamName; data: Buffer }
  | { kind: "image"; data: Buffer }
  | { kind: "status"; timedOut: boolean; restarted: boolean }
  | { kind: "exit"; code: number }
  | { kind: "protocol_error"; message: string };

/** Frame kinds: program stdout, stderr, exit code, figure-pipe bytes, cell status (session kernel only). */
const FRAME = { stdout: 1, stderr: 2, exit: 3, image: 4, status: 5 } as const;

const HEADER = 5;
/** The bootstrap reads at most 64 KiB per `os.read`, so no genuine output or figure frame is larger. */
export const MAX_OUTPUT_FRAME = 65_536;
/** An exit code is 0–255 in ASCII. */
const MAX_EXIT_FRAME = 3;
/** A status is at most the two letters `T` (timed out) and `R` (interpreter restarted). */
const MAX_STATUS_FRAME = 2;

/**
 * Decodes the bootstrap's frames incrementally. Output and figure payloads are passed on
 * as they arrive (even mid-frame), so memory stays flat whatever the program prints; the
 * only state kept is a 5-byte header and at most 3 bytes of an exit or status frame. A
 * frame the bootstrap never writes (unknown kind, an output frame above 64 KiB, an exit
 * frame that is not 1-3 digits, a status other than T/R letters) ends decoding with one
 * `protocol_error` event; after it, or after the exit frame, every further byte is ignored.
 */
export class BootstrapDecoder {
  private readonly frames = new FrameSplitter(HEADER, {
    header: (header) => this.startFrame(header[0] ?? 0, header.readUInt32BE(1)),
    payload: (part, left) => this.payload(part, left),
  });
  private kind = 0;
  private readonly small = Buffer.alloc(MAX_EXIT_FRAME);
  private smallFill = 0;

  constructor(private readonly onEvent: (event: BootstrapEvent) => void) {}

  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }

  private payload(part: Buffer, left: number): void {
    if (this.kind === FRAME.exit || this.kind === FRAME.status) {
      part.copy(this.small, this.smallFill);
      this.smallFill += part.length;
      if (left === 0) this.finishSmall();
    } else if (this.kind === FRAME.image) {
      this.onEvent({ kind: "image", data: part });
    } else {
      this.onEvent({ kind: "output", stream: this.kind === FRAME.stdout ? "stdout" : "stderr", data: part });
    }
  }

  /** Checks a frame's header and answers its payload length. */
  private startFrame(kind: number, length: number): number {
    this.kind = kind;
    this.smallFill = 0;
    if (kind === FRAME.stdout || kind === FRAME.stderr || kind === FRAME.image) {
      if (length > MAX_OUTPUT_FRAME) {
        this.fail(`${kind === FRAME.image ? "a figure" : "an output"} frame of ${length} bytes (at most ${MAX_OUTPUT_FRAME})`);
      }
    } else if (kind === FRAME.exit) {
      if (length < 1 || length > MAX_EXIT_FRAME) this.fail(`an exit frame of ${length} bytes (1 to ${MAX_EXIT_FRAME})`);
    } else if (kind === FRAME.status) {
      if (length < 1 || length > MAX_STATUS_FRAME) this.fail(`a status frame of ${length} bytes (1 to ${MAX_STATUS_FRAME})`);
    } else {
      this.fail(`a frame of unknown kind ${kind}`);
    }
    return length;
  }

  private finishSmall(): void {
    const text = this.small.subarray(0, this.smallFill).toString("latin1");
    if (this.kind === FRAME.status) {
      if (!/^(T|R|TR)$/.test(text)) {
        this.fail("a status frame that is not T, R or TR");
        return;
      }
      this.onEvent({ kind: "status", timedOut: text.includes("T"), restarted: text.includes("R") });
      return;
    }
    if (!/^\d{1,3}$/.test(text) || Number(text) > 255) {
      this.fail("an exit frame that is not an exit code");
      return;
    }
    this.frames.stop();
    this.onEvent({ kind: "exit", code: Number(text) });
  }

  private fail(what: string): void {
    this.frames.stop();
    this.onEvent({ kind: "protocol_error", message: `the sandbox sent ${what}` });
  }
}
