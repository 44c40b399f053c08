# Runs at every interpreter start in the onlyboxes sandbox images (site imports it), so it
# must stay cheap and must never fail: two environment defaults and, when missing, one
# small file copy.
import os


def _onlyboxes_cpu_quota():
    # (quota, period) in microseconds; a quota of -1 means none. cgroup v2, then v1.
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        return (-1 if quota == "max" else int(quota)), int(period)
    except FileNotFoundError:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as q, open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as p:
            return int(q.read()), int(p.read())


def _onlyboxes_threads():
    # OpenBLAS and OpenMP start one thread per host core, not per CPU the container may
    # use: on a large host that exhausts the container's process limit and its memory.
    # The cgroup's CPU quota says how many cores the sandbox really has.
    cpus = os.cpu_count() or 1
    try:
        quota, period = _onlyboxes_cpu_quota()
        if quota > 0 and period > 0:
            cpus = min(cpus, max(1, -(-quota // period)))
    except (OSError, ValueError):
        cpus = min(cpus, 4)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, str(cpus))


def _onlyboxes_matplotlib_cache():
    # matplotlib keeps its font list in MPLCONFIGDIR, which must be writable (the image
    # points it into /tmp). Without the list, the first import of pyplot in every fresh
    # sandbox would scan all fonts; the image carries a prebuilt one to start from.
    target = os.environ.get("MPLCONFIGDIR")
    seed = "/usr/share/onlyboxes/matplotlib"
    if not target:
        return
    try:
        names = os.listdir(seed)
        os.makedirs(target, exist_ok=True)
        for name in names:
            dest = os.path.join(target, name)
            if not os.path.exists(dest):
                # Written aside and renamed: a second interpreter starting at the same
                # moment sees the whole file or none.
                part = "%s.%d" % (dest, os.getpid())
                with open(os.path.join(seed, name), "rb") as src, open(part, "wb") as out:
                    out.write(src.read())
                os.replace(part, dest)
    except OSError:
        pass


_onlyboxes_threads()
_onlyboxes_matplotlib_cache()
del _onlyboxes_cpu_quota, _onlyboxes_threads, _onlyboxes_matplotlib_cache
