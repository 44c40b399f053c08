import type { DockerConfig } from "../docker-config.ts";
import { type ContainerSpec, LABEL_CAPABILITY, LABEL_MANAGED, LABEL_NODE, LABEL_SESSION } from "./container-client.ts";
import { PYTHON_BOOTSTRAP } from "./python-bootstrap.ts";
import { SHELL_SERVER } from "./shell-server.ts";

/** The labels that mark a container as ours and as this node's. */
export function nodeLabels(config: DockerConfig): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_NODE]: config.nodeId };
}

function hardened(config: DockerConfig): Pick<ContainerSpec, "user" | "memoryBytes" | "nanoCpus" | "pidsLimit" | "networkMode"> {
  const l = config.limits;
  return {
    user: l.user,
    memoryBytes: l.memoryBytes,
    nanoCpus: l.nanoCpus,
    pidsLimit: l.pidsLimit,
    networkMode: l.networkEgress ? "bridge" : "none",
  };
}

const PATH = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/** A one-shot pythonExec container: read-only root, fresh tmpfs /tmp, waiting for code on stdin. */
export function pythonSpec(config: DockerConfig): ContainerSpec {
  const ro = config.limits.readonlyRootfs;
  return {
    ...hardened(config),
    image: config.pythonImage,
    entrypoint: ["python3", "-c", PYTHON_BOOTSTRAP],
    // HOME and the working directory are the tmpfs: the only writable place when the root is read-only.
    env: [PATH, "HOME=/tmp", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"],
    workingDir: "/tmp",
    labels: { ...nodeLabels(config), [LABEL_CAPABILITY]: "pythonExec" },
    openStdin: true,
    readonlyRootfs: ro,
    tmpfs: { "/tmp": `rw,nosuid,nodev,size=${config.limits.tmpfsBytes}` },
  };
}

/** A terminal session container: writable root kept for the session, a shell server as PID 1. */
export function terminalSpec(config: DockerConfig, sessionId: string): ContainerSpec {
  return {
    ...hardened(config),
    image: config.terminalImage,
    entrypoint: ["/bin/sh", "-c", SHELL_SERVER],
    env: [PATH, "HOME=/workspace", "LANG=C.UTF-8"],
    workingDir: "/workspace",
    labels: { ...nodeLabels(config), [LABEL_CAPABILITY]: "terminalExec", [LABEL_SESSION]: sessionId },
    openStdin: true,
    readonlyRootfs: false,
    tmpfs: {},
  };
}
