/**
 * Python shared by the fresh-run bootstrap and the session kernel: writes a run's input
 * files, sends back its matplotlib figures, and ends a run alike (the exit code a
 * SystemExit means, flushing what the program left buffered).
 *
 * Figures travel on a pipe of their own (`fd`), as records `length:4 BE | PNG bytes`;
 * the worker checks each record (PNG signature, size budget) and never trusts it beyond
 * that, since the program can write to the same pipe. Nothing here imports matplotlib:
 * an import hook patches `pyplot.show` only if the program imports pyplot itself, and
 * the end of a run only looks at figures when `matplotlib.pyplot` is in `sys.modules`,
 * so a run without figures pays nothing.
 */
export const PYTHON_FIGURES = String.raw`
def _obx_write_files(blob):
    import json, base64
    for path, data in json.loads(blob):
        try:
            folder = os.path.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))
        except OSError as e:
            return "onlyboxes: cannot write input file %s: %s\n" % (path, e.strerror or e)
    return None
def _obx_send_figures(fd, plt):
    import io
    for num in list(plt.get_fignums()):
        fig = plt.figure(num)
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format="png")
        except Exception as e:
            sys.stderr.write("onlyboxes: figure %s could not be saved: %s\n" % (num, e))
            continue
        data = buf.getvalue()
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:
            view = view[os.write(fd, view):]
    plt.close("all")
def _obx_end_figures(fd):
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            _obx_send_figures(fd, plt)
        except BaseException as e:
            sys.stderr.write("onlyboxes: figures could not be sent: %r\n" % (e,))
def _obx_exit_code(e):
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1
def _obx_flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
class _ObxPyplotHook:
    def __init__(self, fd):
        self.fd = fd
    def find_spec(self, name, path=None, target=None):
        if name != "matplotlib.pyplot":
            return None
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, fd = spec.loader, self.fd
        run = loader.exec_module
        def exec_module(module):
            run(module)
            def show(*args, **kwargs):
                _obx_send_figures(fd, module)
            module.show = show
        loader.exec_module = exec_module
        return spec
`;
