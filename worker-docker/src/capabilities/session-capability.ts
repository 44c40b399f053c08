import type { ContainerClient } from "../docker/container-client.ts";
import type { TerminalSessions } from "../docker/terminal-sessions.ts";
import type { DockerConfig } from "../docker-config.ts";
import type { Capability, CommandContext } from "./types.ts";

/** What every capability working in terminal sessions is built from. */
export interface SessionCapabilityDeps {
  client: ContainerClient;
  sessions: TerminalSessions;
  config: DockerConfig;
}

/**
 * A capability that works in the worker's terminal sessions (terminalExec, terminalResource,
 * sessionFiles): they share the engine, the session table and the configuration, and each
 * runs at most the configured number of commands at once under its own name.
 */
export abstract class SessionCapability implements Capability {
  abstract readonly name: keyof DockerConfig["maxInflight"];
  protected readonly client: ContainerClient;
  protected readonly sessions: TerminalSessions;
  protected readonly config: DockerConfig;

  constructor(deps: SessionCapabilityDeps) {
    this.client = deps.client;
    this.sessions = deps.sessions;
    this.config = deps.config;
  }

  get maxInflight(): number {
    return this.config.maxInflight[this.name];
  }

  abstract run(payload: unknown, ctx: CommandContext): Promise<unknown>;
}
