import type { ContainerClient } from "../docker/container-client.ts";
import { LABEL_CAPABILITY, LABEL_SESSION } from "../docker/container-client.ts";
import { ContainerTracker } from "../docker/container-tracker.ts";
import { DockerContainerClient, engineMessage } from "../docker/docker-container-client.ts";
import { nodeLabels } from "../docker/sandbox-spec.ts";
import { TerminalSessions } from "../docker/terminal-sessions.ts";
import type { DockerConfig } from "../docker-config.ts";
import type { Logger } from "../log.ts";
import { type DockerStats, workerMetrics } from "../metrics.ts";
import { PythonExec } from "./python-exec.ts";
import { SessionFiles } from "./session-files.ts";
import { TerminalExec } from "./terminal-exec.ts";
import { TerminalResource } from "./terminal-resource.ts";
import type { Capability } from "./types.ts";

export interface DockerBackend {
  /** The Docker capabilities currently servable: empty while the engine is unreachable. */
  capabilities(): Capability[];
  /** Called whenever the set changes (engine appeared/vanished). */
  onChange(listener: () => void): void;
  /**
   * Removes every container this worker created and stops the engine watcher; with
   * `keepSessions` idle terminal sessions stay for the next start of this node to adopt.
   */
  close(opts?: { keepSessions?: boolean }): Promise<void>;
}

const PING_TIMEOUT_MS = 3000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function describeEndpoint(config: DockerConfig): string {
  const e = config.endpoint;
  return "socketPath" in e ? e.socketPath : `${e.protocol}://${e.host}:${e.port}`;
}

/** What runs while the engine answers; rebuilt from scratch each time it comes back. */
interface Live {
  tracker: ContainerTracker;
  python: PythonExec | null;
  sessions: TerminalSessions | null;
  terminal: TerminalExec | null;
  resource: TerminalResource | null;
  files: SessionFiles | null;
}

/**
 * Watches the engine and serves pythonExec, terminalExec and terminalResource while it
 * answers. An unreachable engine or a missing image is one clear log line and an empty
 * (or smaller) capability set, never a crash; the set grows back when they appear.
 */
class DockerBackendImpl implements DockerBackend {
  private readonly listeners: Array<() => void> = [];
  private live: Live | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private downReported = false;
  private readonly missingImages = new Set<string>();
  private probing: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: ContainerClient,
    private readonly config: DockerConfig,
    private readonly log: Logger,
  ) {}

  capabilities(): Capability[] {
    const l = this.live;
    if (!l) return [];
    return [l.python, l.terminal, l.resource, l.files].filter((c): c is NonNullable<typeof c> => c !== null);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** First probe, then one every `enginePollMs`, never overlapping. */
  async start(): Promise<void> {
    await this.probe();
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.probing = this.probe().finally(() => this.schedule());
    }, this.config.enginePollMs);
    this.timer.unref();
  }

  private notify(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.log.error("capability listener failed", { error: String(err) });
      }
    }
  }

  private async probe(): Promise<void> {
    if (this.closed) return;
    try {
      await withTimeout(this.client.ping(), PING_TIMEOUT_MS, "the Docker Engine");
    } catch (err) {
      if (this.live) this.goDown(engineMessage(err));
      else if (!this.downReported) {
        this.downReported = true;
        this.log.warn(
          `Docker Engine unreachable at ${describeEndpoint(this.config)} (${engineMessage(err)}): pythonExec and terminalExec are off until it answers (start one with scripts/docker-engine.sh); retrying every ${this.config.enginePollMs / 1000} s`,
        );
      } else this.log.debug("Docker Engine still unreachable", { error: engineMessage(err) });
      return;
    }
    try {
      if (!this.live) await this.goUp();
      else if (this.missingImages.size > 0) await this.addMissing(this.live);
    } catch (err) {
      this.log.warn("Docker Engine answered but setting up failed; retrying", { error: engineMessage(err) });
    }
  }

  /** Whether the image is present; a missing one is reported once, with the fix. */
  private async imageReady(image: string, envName: string): Promise<boolean> {
    if (await this.client.hasImage(image)) {
      if (this.missingImages.delete(image)) this.log.info(`image ${image} is now present`);
      return true;
    }
    if (!this.missingImages.has(image)) {
      this.missingImages.add(image);
      this.log.error(
        `image ${image} not found locally (workers never pull): build the offline images with scripts/build-images.sh, docker pull it, or set ${envName}`,
      );
    }
    return false;
  }

  private async goUp(): Promise<void> {
    // Running session containers of an earlier run of this node are adopted; the rest goes.
    const found = await this.client.listDetailed(nodeLabels(this.config));
    const kept = found.filter((c) => c.running && c.labels[LABEL_CAPABILITY] === "terminalExec" && c.labels[LABEL_SESSION]);
    const leftovers = found.filter((c) => !kept.includes(c));
    await Promise.all(leftovers.map((c) => this.client.remove(c.id)));
    if (leftovers.length > 0) this.log.info("removed leftover containers of this node", { count: leftovers.length });
    const tracker = new ContainerTracker(this.client, this.log);
    const live: Live = { tracker, python: null, sessions: null, terminal: null, resource: null, files: null };
    await this.addMissing(live);
    const adoptable = kept.map((c) => ({ id: c.id, sessionId: c.labels[LABEL_SESSION] ?? "" }));
    if (live.sessions) await live.sessions.adopt(adoptable);
    else await Promise.all(adoptable.map((c) => this.client.remove(c.id)));
    if (this.closed) return;
    this.live = live;
    this.downReported = false;
    this.log.info("Docker Engine is up", {
      endpoint: describeEndpoint(this.config),
      capabilities: this.capabilities().map((c) => c.name),
    });
    this.notify();
  }

  /** Builds the capabilities whose image is (now) present. */
  private async addMissing(live: Live): Promise<void> {
    let changed = false;
    if (!live.python && (await this.imageReady(this.config.pythonImage, "WORKER_PYTHON_EXEC_DOCKER_IMAGE"))) {
      live.python = new PythonExec(this.client, live.tracker, this.config, this.log, () => live.sessions);
      changed = true;
    }
    if (!live.sessions && (await this.imageReady(this.config.terminalImage, "WORKER_TERMINAL_EXEC_DOCKER_IMAGE"))) {
      live.sessions = new TerminalSessions(this.client, live.tracker, this.config, this.log.child({ component: "terminal" }));
      const deps = { client: this.client, sessions: live.sessions, config: this.config };
      live.terminal = new TerminalExec(deps);
      live.resource = new TerminalResource(deps);
      live.files = new SessionFiles(deps);
      changed = true;
    }
    if (changed && this.live === live) this.notify();
  }

  private goDown(reason: string): void {
    const l = this.live;
    if (!l) return;
    this.live = null;
    this.downReported = true;
    this.log.warn(`Docker Engine went away (${reason}): Docker capabilities withdrawn until it answers again`);
    // The engine took its containers along; when it returns, leftovers are swept by label.
    l.python?.forget();
    l.sessions?.forgetAll();
    void l.sessions?.close();
    l.tracker.forgetAll();
    this.notify();
  }

  /** Containers held and warm pythonExec containers, for the worker's metrics. */
  stats(): DockerStats {
    return { containersRunning: this.live?.tracker.size ?? 0, poolReady: this.live?.python?.poolReady ?? 0 };
  }

  async close(opts: { keepSessions?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.probing;
    const l = this.live;
    this.live = null;
    const kept = new Set<string>();
    if (l) {
      await Promise.all([l.python?.close(), l.sessions?.close(opts.keepSessions === true)]);
      await l.tracker.removeAll();
    }
    // Anything created in the meantime (or by an earlier run of this node) goes too, but
    // for the running session containers when sessions are kept.
    try {
      const rest = await withTimeout(this.client.listDetailed(nodeLabels(this.config)), 10_000, "the Docker Engine");
      for (const c of rest) {
        if (opts.keepSessions && c.running && c.labels[LABEL_CAPABILITY] === "terminalExec") kept.add(c.id);
      }
      await Promise.all(rest.filter((c) => !kept.has(c.id)).map((c) => this.client.remove(c.id)));
      if (kept.size > 0) this.log.info("terminal sessions left running for the next start", { count: kept.size });
    } catch (err) {
      this.log.warn("could not sweep containers at shutdown", { error: engineMessage(err) });
    }
    this.log.info("docker backend closed");
  }
}

/**
 * Starts the Docker side of the worker. Never throws for an unreachable engine: it logs
 * one line, serves no Docker capability, and keeps probing (listeners hear the change).
 */
export async function createDockerBackend(config: DockerConfig, log: Logger): Promise<DockerBackend> {
  const client = workerMetrics.countErrors(new DockerContainerClient(config.endpoint, log.child({ component: "docker-client" })));
  const backend = new DockerBackendImpl(client, config, log);
  workerMetrics.watchDocker(() => backend.stats());
  await backend.start();
  return backend;
}
