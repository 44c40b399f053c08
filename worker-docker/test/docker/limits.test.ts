import { describe, expect, it } from "vitest";
import { useBackend } from "./harness.ts";

const s = useBackend({
  WORKER_SANDBOX_MEMORY: "96m",
  WORKER_SANDBOX_CPUS: "0.5",
  WORKER_SANDBOX_PIDS_LIMIT: "40",
  WORKER_SANDBOX_USER: "1234:1234",
  WORKER_SANDBOX_NETWORK_EGRESS: "true",
  WORKER_SANDBOX_TMPFS_SIZE: "8m",
  WORKER_SANDBOX_DISK: "24m",
  WORKER_PYTHON_EXEC_POOL_SIZE: "0",
});

/** Reads the container's own cgroup (v1 or v2) and identity from inside. */
const PROBE = [
  "import os",
  "def read(*paths):",
  "    for p in paths:",
  "        try:",
  "            return open(p).read().strip()",
  "        except OSError:",
  "            pass",
  "print(read('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'))",
  "print(read('/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max'))",
  "print(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu.max'))",
  "print(os.getuid(), os.getgid())",
  "print(sorted(os.listdir('/sys/class/net')))",
  "st = os.statvfs('/tmp')",
  "print(st.f_blocks * st.f_frsize)",
].join("\n");

describe("configurable limits", () => {
  it("applies memory, cpus, pids, user, egress and tmpfs size to pythonExec containers", async () => {
    const r = await s.python(PROBE);
    const [memory, pids, cpu, ids, nets, tmp] = r.output.trim().split("\n");
    // The program's memory plus /tmp, whose files live in RAM.
    expect(Number(memory)).toBe((96 + 8) * 1024 * 1024);
    expect(pids).toBe("40");
    // 0.5 CPU: a 50 ms quota per 100 ms period (cgroup v1) or "50000 100000" (v2).
    expect(cpu).toMatch(/^50000( 100000)?$/);
    expect(ids).toBe("1234 1234");
    expect(nets).toContain("eth0");
    expect(Number(tmp)).toBe(8 * 1024 * 1024);
  });

  it("applies the same limits to terminal sessions", async () => {
    const r = await s.shell(
      [
        "id -u; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
        "df -k /workspace /tmp | tail -2 | awk '{print $2}'",
        "stat -c %u /workspace",
      ].join("\n"),
    );
    // Memory: the program's, plus /workspace and /tmp (tmpfs).
    expect(r.stdout).toBe(`1234\n40\n${(96 + 24 + 8) * 1024 * 1024}\n${24 * 1024}\n${8 * 1024}\n1234\n`);
  });
});
