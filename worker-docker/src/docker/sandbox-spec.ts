import type { DockerConfig } from "../docker-config.ts";
import { type ContainerSpec, LABEL_CAPABILITY, LABEL_MANAGED, LABEL_NODE, LABEL_SESSION } from "./container-client.ts";
import { PYTHON_BOOTSTRAP } from "./python-bootstrap.ts";
import { SHELL_BOOT, SHELL_SERVER, SHELL_WATCHDOG_NAP_SEC } from "./shell-server.ts";

/** The labels that mark a container as ours and as this node's. */
export function nodeLabels(config: DockerConfig): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_NODE]: config.nodeId };
}

/**
 * How long a sandbox's own PID 1 lets a run (or an idle session) go on past the worker's
 * deadline (or lease) before it ends the container by itself: the worker normally acts
 * first and answers; this only matters when the worker is gone.
 */
export const SANDBOX_GRACE_MS = 2000;

/**
 * The limits every sandbox gets. Its writable places are tmpfs mounts, whose files are
 * charged to the container's memory cgroup: the cgroup gets the program's memory plus
 * the mounts' sizes, so a full disk answers ENOSPC instead of an OOM kill (there is no
 * swap: nothing in RAM can go elsewhere). No file may be larger than all of that space
 * together (fsize): a full mount answers ENOSPC first, and a writable root (when an
 * operator allows one) still cannot take one huge file.
 */
function hardened(
  config: DockerConfig,
  tmpfsTotal: number,
): Pick<ContainerSpec, "user" | "memoryBytes" | "nanoCpus" | "pidsLimit" | "networkMode" | "ulimits"> {
  const l = config.limits;
  return {
    user: l.user,
    memoryBytes: l.memoryBytes + tmpfsTotal,
    nanoCpus: l.nanoCpus,
    pidsLimit: l.pidsLimit,
    networkMode: l.networkEgress ? "bridge" : "none",
    ulimits: { fsize: l.diskBytes + l.tmpfsBytes, nofile: l.nofile },
  };
}

/** tmpfs options making the mount the sandbox user's own (uid, and gid when given). */
function ownedBy(user: string): string {
  const [uid, gid] = user.split(":");
  return gid === undefined ? `uid=${uid}` : `uid=${uid},gid=${gid}`;
}

const PATH = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/** A one-shot pythonExec container: read-only root, fresh tmpfs /tmp, waiting for code on stdin. */
export function pythonSpec(config: DockerConfig): ContainerSpec {
  const l = config.limits;
  return {
    ...hardened(config, l.tmpfsBytes),
    image: config.pythonImage,
    entrypoint: ["python3", "-c", PYTHON_BOOTSTRAP],
    // HOME and the working directory are the tmpfs: the only writable place when the root is read-only.
    // Unbuffered, so a plain print reaches the client as it happens, not at 8 KiB or exit.
    env: [PATH, "HOME=/tmp", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"],
    workingDir: "/tmp",
    labels: { ...nodeLabels(config), [LABEL_CAPABILITY]: "pythonExec" },
    openStdin: true,
    readonlyRootfs: l.readonlyRootfs,
    tmpfs: { "/tmp": `rw,nosuid,nodev,size=${l.tmpfsBytes}` },
  };
}

/**
 * A terminal session container: read-only root, /workspace (the home, WORKER_SANDBOX_DISK)
 * and /tmp as tmpfs mounts that live as long as the session, the shell server as PID 1.
 * `watchdogNapSec` is the server's longest watchdog sleep (tests shorten it).
 */
export function terminalSpec(
  config: DockerConfig,
  sessionId: string,
  watchdogNapSec: number = SHELL_WATCHDOG_NAP_SEC,
): ContainerSpec {
  const l = config.limits;
  // The server ends an idle container by itself after this long, until its first command.
  const firstLeaseSec = Math.ceil((config.leaseMaxSec * 1000 + SANDBOX_GRACE_MS) / 1000);
  return {
    ...hardened(config, l.diskBytes + l.tmpfsBytes),
    image: config.terminalImage,
    entrypoint: ["/bin/sh", "-c", SHELL_BOOT, "onlyboxes-boot", SHELL_SERVER, String(firstLeaseSec), String(watchdogNapSec)],
    env: [PATH, "HOME=/workspace", "LANG=C.UTF-8"],
    workingDir: "/workspace",
    labels: { ...nodeLabels(config), [LABEL_CAPABILITY]: "terminalExec", [LABEL_SESSION]: sessionId },
    openStdin: true,
    // The session lives on between a worker's clean stop and its next start (its lease ends it).
    keepStdinOpen: true,
    readonlyRootfs: l.readonlyRootfs,
    tmpfs: {
      // exec: sessions build and run programs here, as on any machine.
      "/workspace": `rw,nosuid,nodev,exec,size=${l.diskBytes},${ownedBy(l.user)},mode=0755`,
      "/tmp": `rw,nosuid,nodev,exec,size=${l.tmpfsBytes},mode=1777`,
    },
  };
}
