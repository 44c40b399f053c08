import { PYTHON_FRAMES, PYTHON_READ_EXACT } from "./python-bootstrap.ts";
import { PYTHON_FIGURES } from "./python-figures.ts";

/**
 * Run as root once per session container (`sh -c KERNEL_PREP`): puts an execute-only copy
 * of python3 in a fresh root-owned directory and prints its path. A process executing a
 * file it cannot read is non-dumpable from its first instruction (as SHELL_BOOT does for
 * the shell server), so no program of the session, even one watching /proc for new
 * processes, can open the kernel server's stdin/stdout or read its memory; and it cannot
 * replace the copy either, since root owns the directory and /tmp is sticky.
 */
export const KERNEL_PREP = `set -e
umask 022
dir=$(mktemp -d /tmp/.onlyboxes-kernel-XXXXXXXXXX)
chmod 0711 "$dir"
cp "$(command -v python3)" "$dir/python"
chmod 0111 "$dir/python"
printf '%s\\n' "$dir/python"`;

/** How long an interrupted cell may take to stop before its interpreter is killed and restarted. */
export const INTERRUPT_GRACE_MS = 2000;

/**
 * The session's kernel server (`<copy> -c KERNEL_SERVER KERNEL_RUNNER`, through `docker
 * exec` with stdin attached): the only writer of that exec's stdout, which it frames like
 * the bootstrap (python-bootstrap.ts: 1 stdout, 2 stderr, 4 figure bytes, 5 status `T`
 * timed out / `R` interpreter restarted, 3 the cell's exit code, last).
 *
 * It serves cells one at a time from stdin (`<code bytes> <files bytes> <budget ms> <reset
 * 0|1>\n<code><files JSON>`) to its child, the interpreter (KERNEL_RUNNER), which keeps the
 * session's variables. The interpreter is the user's own process: it may write anything to
 * its pipes, and all of it is only data here (an end marker carries a sequence number, so
 * a stale or early one ends nothing else). At the budget the server sends SIGINT
 * (KeyboardInterrupt, state kept); if the cell has not ended INTERRUPT_GRACE_MS later, it
 * kills the interpreter and the next cell starts a fresh one. Output between cells is
 * dropped. The end of stdin (the worker is gone) ends the server and the interpreter.
 */
export const KERNEL_SERVER = String.raw`import os, sys, select, signal, time, ctypes
def fail(message):
    os.write(2, ("onlyboxes kernel: " + message + "\n").encode())
    os._exit(125)
if ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) != 0:
    fail("the kernel server could not hide its memory; refusing to serve")
RUNNER = sys.argv[1]
GRACE = ${INTERRUPT_GRACE_MS / 1000}
${PYTHON_FRAMES}
${PYTHON_READ_EXACT}
def read_head():
    head = b""
    while not head.endswith(b"\n"):
        c = os.read(0, 1)
        if not c or len(head) > 64:
            os._exit(0)
        head += c
    return head
class Interp:
    def __init__(self):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        img_r, img_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        cmd_r, cmd_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                null = os.open(os.devnull, os.O_RDONLY)
                high = [os.dup(f) for f in (null, out_w, err_w, cmd_r, ctl_w, img_w)]
                high = [__import__("fcntl").fcntl(f, 1030, 64) for f in high]
                for i, f in enumerate(high):
                    os.dup2(f, i)
                os.closerange(6, 4096)
                os.execvp("python3", ["python3", "-c", RUNNER])
            finally:
                os._exit(127)
        for f in (out_w, err_w, img_w, ctl_w, cmd_r):
            os.close(f)
        self.pid = pid
        self.kinds = {out_r: 1, err_r: 2, img_r: 4}
        self.ctl = ctl_r
        self.cmd = cmd_w
        os.set_blocking(cmd_w, False)
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.status = None
    def reap(self, block):
        if self.status is None:
            reaped, st = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if reaped == self.pid:
                self.status = st
        return self.status
    def code(self):
        st = self.reap(True)
        return 128 + os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.reap(True)
        for f in list(self.kinds) + [self.ctl, self.cmd] + ([self.pidfd] if self.pidfd is not None else []):
            try:
                os.close(f)
            except OSError:
                pass
def serve():
    interp = None
    lost = False
    seq = 0
    while True:
        # Idle: wait for a cell; drop what the interpreter writes meanwhile, notice its death.
        while True:
            poller = select.poll()
            poller.register(0, select.POLLIN)
            if interp is not None:
                for f in list(interp.kinds) + [interp.ctl]:
                    poller.register(f, select.POLLIN)
                if interp.pidfd is not None:
                    poller.register(interp.pidfd, select.POLLIN)
            ready = [f for f, _ in poller.poll(None if interp is None or interp.pidfd is not None else 100)]
            if 0 in ready:
                break
            if interp is not None:
                gone = False
                for f in ready:
                    if f != interp.pidfd and not os.read(f, 65536):
                        gone = gone or f == interp.ctl
                        interp.kinds.pop(f, None)
                if gone or (interp.pidfd in ready) or (interp.pidfd is None and interp.reap(False) is not None) or not interp.kinds:
                    interp.close()
                    interp = None
                    lost = True
        size, files_size, budget_ms, reset = read_head().split()
        src = _obx_read(0, int(size))
        files = _obx_read(0, int(files_size))
        restarted = lost
        lost = False
        if reset == b"1" and interp is not None:
            interp.close()
            interp = None
        if interp is None:
            interp = Interp()
        seq += 1
        pending = memoryview(b"%d %d %d\n" % (seq, len(src), len(files)) + src + files)
        deadline = time.monotonic() + int(budget_ms) / 1000
        kill_at = None
        timed_out = False
        code = None
        ctl = b""
        while code is None:
            poller = select.poll()
            poller.register(0, select.POLLIN)
            for f in interp.kinds:
                poller.register(f, select.POLLIN)
            poller.register(interp.ctl, select.POLLIN)
            if interp.pidfd is not None:
                poller.register(interp.pidfd, select.POLLIN)
            if pending:
                poller.register(interp.cmd, select.POLLOUT)
            now = time.monotonic()
            if kill_at is None and now >= deadline:
                timed_out = True
                kill_at = now + GRACE
                try:
                    os.kill(interp.pid, signal.SIGINT)
                except OSError:
                    pass
            if kill_at is not None and now >= kill_at:
                interp.close()
                code = interp.code()
                interp = None
                restarted = True
                break
            wait = (kill_at if kill_at is not None else deadline) - now
            if interp.pidfd is None:
                wait = min(wait, 0.05)
            for f, ev in poller.poll(max(0, wait) * 1000):
                if f == 0:
                    if not os.read(0, 65536):
                        interp.close()
                        os._exit(0)
                elif f == interp.cmd:
                    try:
                        pending = pending[os.write(f, pending):]
                    except BlockingIOError:
                        pass
                elif f == interp.ctl:
                    data = os.read(f, 256)
                    if not data:
                        # The interpreter closed its end-marker pipe: it can never finish a cell.
                        os.kill(interp.pid, signal.SIGKILL)
                        code = -1
                        break
                    ctl = (ctl + data)[-256:]
                    while b"\n" in ctl:
                        line, ctl = ctl.split(b"\n", 1)
                        parts = line.split()
                        if len(parts) == 2 and parts[0] == b"D%d" % seq and parts[1].isdigit() and len(parts[1]) <= 3:
                            code = min(int(parts[1]), 255)
                elif f in interp.kinds:
                    data = os.read(f, 65536)
                    if data:
                        _obx_frame(interp.kinds[f], data)
                    else:
                        del interp.kinds[f]
            if code is None and ((interp.pidfd is None and interp.reap(False) is not None) or (interp.pidfd is not None and select.select([interp.pidfd], [], [], 0)[0])):
                code = -1
        if interp is not None:
            for f, kind in list(interp.kinds.items()):
                _obx_drain(f, kind, lambda: True)
            if code == -1:
                code = interp.code()
                interp.close()
                interp = None
                restarted = True
        flags = (b"T" if timed_out else b"") + (b"R" if restarted else b"")
        if flags:
            _obx_frame(5, flags)
        _obx_frame(3, str(code).encode())
serve()
`;

/**
 * The session's interpreter, run by the kernel server as `python3 -c KERNEL_RUNNER` with
 * fd 3 carrying cells (`<seq> <code bytes> <files bytes>\n<code><files>`), fd 4 its end
 * markers (`D<seq> <exit code>\n`) and fd 5 figures. Each cell runs in one persistent
 * `__main__` like a notebook cell: the value of a final expression is printed, an
 * exception prints its traceback (without our frames) and gives exit code 1, and
 * `sys.exit(n)` ends the cell, not the interpreter.
 */
export const KERNEL_RUNNER = String.raw`import os, sys, ast, builtins, linecache, traceback
${PYTHON_FIGURES}
sys.meta_path.insert(0, _ObxPyplotHook(5))
_obx_main = type(sys)("__main__")
_obx_main.__dict__["__builtins__"] = builtins
sys.modules["__main__"] = _obx_main
_obx_ours = globals()
${PYTHON_READ_EXACT}
def _obx_head():
    head = b""
    while not head.endswith(b"\n"):
        try:
            c = os.read(3, 1)
        except KeyboardInterrupt:
            # A late interrupt of the cell that just ended: nothing to interrupt now.
            continue
        if not c:
            os._exit(0)
        head += c
    return head
def _obx_report(kind, value, tb):
    while tb is not None and tb.tb_frame.f_globals is _obx_ours:
        tb = tb.tb_next
    traceback.print_exception(kind, value, tb)
def _obx_cell(seq, src):
    name = "<cell %d>" % seq
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    tree = ast.parse(src, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    ns = _obx_main.__dict__
    exec(compile(tree, name, "exec"), ns)
    if last is not None:
        value = eval(compile(last, name, "eval"), ns)
        if value is not None:
            builtins._ = value
            print(repr(value))
while True:
    seq, size, files_size = _obx_head().split()
    code = 1
    try:
        src = _obx_read(3, int(size)).decode("utf-8", "replace")
        files = _obx_read(3, int(files_size))
        problem = _obx_write_files(files) if files else None
        if problem is not None:
            sys.stderr.write(problem)
        else:
            try:
                _obx_cell(int(seq), src)
                code = 0
            except SystemExit as e:
                code = _obx_exit_code(e)
            except BaseException:
                _obx_report(*sys.exc_info())
        _obx_flush()
        _obx_end_figures(5)
    except KeyboardInterrupt:
        pass
    while True:
        try:
            os.write(4, b"D%s %d\n" % (seq, code))
            break
        except KeyboardInterrupt:
            pass
`;
