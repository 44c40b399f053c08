/**
 * The worker's view of a container engine. Capabilities depend on this interface only; the
 * dockerode implementation lives in `docker-container-client.ts`.
 */

/** Labels every container we create carries; leftovers are found and removed by them. */
export const LABEL_MANAGED = "dev.onlyboxes.managed";
export const LABEL_NODE = "dev.onlyboxes.node-id";
export const LABEL_CAPABILITY = "dev.onlyboxes.capability";
export const LABEL_SESSION = "dev.onlyboxes.session";

/** Everything needed to create one sandbox container. */
export interface ContainerSpec {
  image: string;
  /** Replaces the image's entrypoint; `cmd` is emptied so the image's CMD cannot sneak in. */
  entrypoint: string[];
  env: string[];
  user: string;
  workingDir: string;
  labels: Record<string, string>;
  /** Keep stdin open so the program can be fed after start (attach before start). */
  openStdin: boolean;
  /**
   * Keep stdin open after the attached client goes (a terminal session outlives its
   * worker's connection until its lease ends, and a restarted worker attaches again).
   */
  keepStdinOpen?: boolean;
  readonlyRootfs: boolean;
  /** Mount point → tmpfs options (e.g. `rw,nosuid,nodev,size=67108864`). */
  tmpfs: Record<string, string>;
  /** The memory cgroup limit: the program's memory plus its tmpfs mounts (their files live in RAM). */
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  /** `none` or `bridge`. */
  networkMode: string;
  /** Largest file a process may write (RLIMIT_FSIZE, bytes) and most open files (RLIMIT_NOFILE). */
  ulimits: { fsize: number; nofile: number };
}

export type StreamName = "stdout" | "stderr";

/** Receives demultiplexed output as it arrives. */
export type OutputSink = (stream: StreamName, data: Buffer) => void;

/** The stdin/stdout/stderr connection to a container's main process. */
export interface AttachedStreams {
  /** Writes to the program's stdin. */
  write(data: Buffer | string): void;
  /** Resolves when the engine closed the output (the program exited or the container went away). */
  readonly closed: Promise<void>;
  /** Drops the connection without waiting. */
  destroy(): void;
}

/** How a container's main process ended. */
export interface ExitState {
  exitCode: number;
}

export interface ExecOptions {
  cmd: string[];
  user: string;
  workingDir?: string;
  env?: string[];
}

/** A container found by its labels. */
export interface ListedContainer {
  id: string;
  labels: Record<string, string>;
  running: boolean;
}

/** A command running in a container with its stdin open and its output flow-controlled. */
export interface ExecStream {
  /** Writes to the command's stdin; resolves when the bytes have left (backpressure). */
  write(data: Uint8Array): Promise<void>;
  /** Closes stdin (the command sees end of file). */
  end(): void;
  /** Stops reading the output until `resume` (the sink gets nothing meanwhile). */
  pause(): void;
  resume(): void;
  /** The exit code once the command ended (-1 when the engine cannot say). */
  readonly exitCode: Promise<number>;
  /** Drops the connection at once. */
  destroy(): void;
}

/** Thin, logged access to the engine; every method names the container it touches. */
export interface ContainerClient {
  /** Resolves when the engine answers; rejects with the reason otherwise. */
  ping(): Promise<void>;
  /** Whether the image is present locally (we never pull: workers may have no registry). */
  hasImage(image: string): Promise<boolean>;
  create(spec: ContainerSpec): Promise<string>;
  /** Attaches to stdin/stdout/stderr; call before `start` so no early output is lost. */
  attach(id: string, sink: OutputSink): Promise<AttachedStreams>;
  start(id: string): Promise<void>;
  /**
   * How the container ends. Call it before `start`: containers are auto-removed when their
   * main process exits, and this resolves once the engine removed it (or it was removed).
   */
  wait(id: string): Promise<ExitState>;
  /** Force-removes the container and its anonymous volumes; a missing container is fine. */
  remove(id: string): Promise<void>;
  /** Runs a command in a running container; output goes to `sink`, answers the exit code. */
  exec(id: string, options: ExecOptions, sink: OutputSink): Promise<number>;
  /** Starts a command with stdin attached; output goes to `sink` as the caller lets it flow. */
  execStream(id: string, options: ExecOptions, sink: OutputSink): Promise<ExecStream>;
  /** Starts a command in a running container with stdin attached: a private channel to that process. */
  execAttached(id: string, options: ExecOptions, sink: OutputSink): Promise<AttachedStreams>;
  /** All containers carrying every given label, with their labels and whether they run. */
  listDetailed(labels: Record<string, string>): Promise<ListedContainer[]>;
}
