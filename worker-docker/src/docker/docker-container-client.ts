import type { Duplex } from "node:stream";
import Docker from "dockerode";
import type { DockerEndpoint } from "../docker-config.ts";
import type { Logger } from "../log.ts";
import type {
  AttachedStreams,
  ContainerClient,
  ContainerSpec,
  ExecOptions,
  ExecStream,
  ExitState,
  ListedContainer,
  OutputSink,
} from "./container-client.ts";
import { StreamDemuxer } from "./stream-demux.ts";

/** The HTTP status dockerode attaches to an engine error, when there is one. */
function statusOf(err: unknown): number | undefined {
  if (err && typeof err === "object" && "statusCode" in err) {
    const s = (err as { statusCode: unknown }).statusCode;
    return typeof s === "number" ? s : undefined;
  }
  return undefined;
}

/** The engine's own message (e.g. "No such image") rather than dockerode's HTTP wrapper text. */
export function engineMessage(err: unknown): string {
  if (err && typeof err === "object" && "json" in err) {
    const json = (err as { json: unknown }).json;
    if (json && typeof json === "object" && "message" in json) return String((json as { message: unknown }).message);
  }
  return err instanceof Error ? err.message : String(err);
}

/** Pipes a hijacked socket into a demuxer; `closed` settles when the engine ends it. */
function wireStreams(socket: Duplex, sink: OutputSink, log: Logger): AttachedStreams {
  const demux = new StreamDemuxer(sink);
  const closed = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => demux.push(chunk));
    socket.on("end", () => resolve());
    socket.on("close", () => resolve());
    socket.on("error", (err: Error) => {
      // A reset at removal time is expected; anything else is worth a line.
      log.debug("attach stream error", { error: err.message });
      resolve();
    });
  });
  return {
    write: (data) => {
      if (!socket.destroyed && socket.writable) socket.write(data);
    },
    closed,
    destroy: () => socket.destroy(),
  };
}

/** ContainerClient on dockerode; every call is logged at debug level with the container id. */
export class DockerContainerClient implements ContainerClient {
  private readonly docker: Docker;

  constructor(
    endpoint: DockerEndpoint,
    private readonly log: Logger,
  ) {
    this.docker = new Docker(endpoint);
  }

  async ping(): Promise<void> {
    await this.docker.ping();
  }

  async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  async create(spec: ContainerSpec): Promise<string> {
    const c = await this.docker.createContainer({
      Image: spec.image,
      Entrypoint: spec.entrypoint,
      Cmd: [],
      Env: spec.env,
      User: spec.user,
      WorkingDir: spec.workingDir,
      Labels: spec.labels,
      Tty: false,
      OpenStdin: spec.openStdin,
      StdinOnce: spec.openStdin && spec.keepStdinOpen !== true,
      AttachStdin: spec.openStdin,
      AttachStdout: true,
      AttachStderr: true,
      NetworkDisabled: spec.networkMode === "none",
      HostConfig: {
        NetworkMode: spec.networkMode,
        Memory: spec.memoryBytes,
        // Equal to Memory: no swap on top, so the limit is the limit.
        MemorySwap: spec.memoryBytes,
        NanoCpus: spec.nanoCpus,
        PidsLimit: spec.pidsLimit,
        SecurityOpt: ["no-new-privileges"],
        CapDrop: ["ALL"],
        Privileged: false,
        ReadonlyRootfs: spec.readonlyRootfs,
        Tmpfs: spec.tmpfs,
        IpcMode: "private",
        // A container whose main process exits is gone, with or without a worker: the
        // sandbox's own PID 1 ends it at its deadline or when the worker's connection drops.
        AutoRemove: true,
        Ulimits: [
          { Name: "fsize", Soft: spec.ulimits.fsize, Hard: spec.ulimits.fsize },
          { Name: "nofile", Soft: spec.ulimits.nofile, Hard: spec.ulimits.nofile },
        ],
        LogConfig: { Type: "none", Config: {} },
      },
    });
    this.log.debug("docker create", { container_id: c.id, image: spec.image });
    return c.id;
  }

  async attach(id: string, sink: OutputSink): Promise<AttachedStreams> {
    const socket = (await this.docker.getContainer(id).attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as Duplex;
    this.log.debug("docker attach", { container_id: id });
    return wireStreams(socket, sink, this.log);
  }

  async start(id: string): Promise<void> {
    await this.docker.getContainer(id).start();
    this.log.debug("docker start", { container_id: id });
  }

  async wait(id: string): Promise<ExitState> {
    // "removed": the engine answers with the exit code once auto-remove is done, so the
    // answer cannot be lost between the exit and the removal. (OOMKilled cannot be asked
    // for any more at that point: a main process killed with 137 says enough.)
    const res = (await this.docker.getContainer(id).wait({ condition: "removed" })) as { StatusCode?: number };
    const exitCode = typeof res.StatusCode === "number" ? res.StatusCode : -1;
    this.log.debug("docker wait", { container_id: id, exit_code: exitCode });
    return { exitCode };
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
      this.log.debug("docker remove", { container_id: id });
    } catch (err) {
      const status = statusOf(err);
      // 404: already gone; 409: a removal is already in progress.
      if (status === 404 || status === 409) return;
      throw err;
    }
  }

  /** Creates and starts an exec of `options` in container `id`, its output (and stdin when asked) on the answered socket. */
  private async startExec(id: string, options: ExecOptions, stdin: boolean): Promise<{ exec: Docker.Exec; socket: Duplex }> {
    const exec = await this.docker.getContainer(id).exec({
      Cmd: options.cmd,
      User: options.user,
      WorkingDir: options.workingDir,
      Env: options.env,
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const socket = (await exec.start({ hijack: true, stdin })) as Duplex;
    return { exec, socket };
  }

  async exec(id: string, options: ExecOptions, sink: OutputSink): Promise<number> {
    const { exec, socket } = await this.startExec(id, options, false);
    await wireStreams(socket, sink, this.log).closed;
    return this.execExitCode(id, exec);
  }

  async execStream(id: string, options: ExecOptions, sink: OutputSink): Promise<ExecStream> {
    const { exec, socket } = await this.startExec(id, options, true);
    const streams = wireStreams(socket, sink, this.log);
    return {
      write: (data) =>
        new Promise<void>((resolve, reject) => {
          if (socket.destroyed || !socket.writable) {
            reject(new Error("the command's stdin is closed"));
            return;
          }
          socket.write(data, (err) => (err ? reject(err) : resolve()));
        }),
      // A half-close: the engine closes the command's stdin and keeps its output flowing.
      end: () => socket.end(),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      exitCode: streams.closed.then(() => this.execExitCode(id, exec)),
      destroy: () => socket.destroy(),
    };
  }

  /** The exit code of a finished exec; the stream can close a moment before the engine records it. */
  private async execExitCode(id: string, exec: Docker.Exec): Promise<number> {
    let info = await exec.inspect().catch(() => null);
    for (let i = 0; info?.Running && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 10));
      info = await exec.inspect().catch(() => null);
    }
    const code = typeof info?.ExitCode === "number" ? info.ExitCode : -1;
    this.log.debug("docker exec", { container_id: id, exec_id: exec.id, exit_code: code });
    return code;
  }

  async execAttached(id: string, options: ExecOptions, sink: OutputSink): Promise<AttachedStreams> {
    const { exec, socket } = await this.startExec(id, options, true);
    this.log.debug("docker exec attached", { container_id: id, exec_id: exec.id });
    return wireStreams(socket, sink, this.log);
  }

  async listDetailed(labels: Record<string, string>): Promise<ListedContainer[]> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) },
    });
    return list.map((c) => ({ id: c.Id, labels: c.Labels ?? {}, running: c.State === "running" }));
  }
}
