import { describe, expect, it } from "vitest";
import {
  DEFAULT_PYTHON_IMAGE,
  DEFAULT_TERMINAL_IMAGE,
  MAX_OUTPUT_LIMIT_BYTES,
  MAX_WS_MESSAGE_BYTES,
  maxImageLimitBytes,
  parseDockerConfig,
} from "../../src/docker-config.ts";

describe("parseDockerConfig", () => {
  it("has safe defaults", () => {
    const c = parseDockerConfig({ WORKER_ID: "node-1" });
    expect(c).toMatchObject({
      endpoint: { socketPath: "/var/run/docker.sock" },
      nodeId: "node-1",
      pythonImage: DEFAULT_PYTHON_IMAGE,
      terminalImage: DEFAULT_TERMINAL_IMAGE,
      outputLimitBytes: 1024 * 1024,
      limits: {
        memoryBytes: 256 * 1024 * 1024,
        nanoCpus: 1e9,
        pidsLimit: 128,
        user: "1000:1000",
        networkEgress: false,
        readonlyRootfs: true,
        tmpfsBytes: 64 * 1024 * 1024,
        diskBytes: 1024 ** 3,
        nofile: 4096,
      },
      pythonPoolSize: 2,
      pythonPoolStarts: 2,
      leaseMinSec: 60,
      leaseDefaultSec: 60,
      leaseMaxSec: 1800,
      maxInflight: { pythonExec: 4, terminalExec: 4, terminalResource: 4 },
    });
  });

  it("reads every setting", () => {
    const c = parseDockerConfig({
      DOCKER_HOST: "tcp://10.0.0.2:2375",
      WORKER_PYTHON_EXEC_DOCKER_IMAGE: "python:3.12-slim",
      WORKER_TERMINAL_OUTPUT_LIMIT_BYTES: "2m",
      WORKER_SANDBOX_MEMORY: "1g",
      WORKER_SANDBOX_CPUS: "0.5",
      WORKER_SANDBOX_PIDS_LIMIT: "64",
      WORKER_SANDBOX_NETWORK_EGRESS: "true",
      WORKER_SANDBOX_USER: "2000:2000",
      WORKER_SANDBOX_DISK: "5g",
      WORKER_SANDBOX_NOFILE: "256",
      WORKER_PYTHON_EXEC_POOL_SIZE: "0",
      WORKER_PYTHON_EXEC_POOL_STARTS: "3",
      WORKER_MAX_INFLIGHT: "8",
      WORKER_TERMINAL_EXEC_MAX_INFLIGHT: "2",
    });
    expect(c).toMatchObject({
      endpoint: { host: "10.0.0.2", port: 2375, protocol: "http" },
      pythonImage: "python:3.12-slim",
      outputLimitBytes: 2 * 1024 * 1024,
      limits: {
        memoryBytes: 1024 ** 3,
        nanoCpus: 5e8,
        pidsLimit: 64,
        networkEgress: true,
        user: "2000:2000",
        diskBytes: 5 * 1024 ** 3,
        nofile: 256,
      },
      pythonPoolSize: 0,
      pythonPoolStarts: 3,
      maxInflight: { pythonExec: 8, terminalExec: 2, terminalResource: 8 },
    });
    expect(parseDockerConfig({ DOCKER_HOST: "unix:///run/docker.sock" }).endpoint).toEqual({ socketPath: "/run/docker.sock" });
  });

  it.each([
    ["WORKER_SANDBOX_MEMORY", "lots", /WORKER_SANDBOX_MEMORY must be a size/],
    ["WORKER_SANDBOX_MEMORY", "1k", /WORKER_SANDBOX_MEMORY must be between/],
    ["WORKER_SANDBOX_CPUS", "0", /WORKER_SANDBOX_CPUS must be a number/],
    ["WORKER_SANDBOX_PIDS_LIMIT", "-1", /WORKER_SANDBOX_PIDS_LIMIT must be an integer/],
    ["WORKER_SANDBOX_NETWORK_EGRESS", "maybe", /WORKER_SANDBOX_NETWORK_EGRESS must be true or false/],
    ["WORKER_SANDBOX_USER", "root", /WORKER_SANDBOX_USER must be a numeric uid/],
    ["WORKER_TERMINAL_OUTPUT_LIMIT_BYTES", "1.5", /WORKER_TERMINAL_OUTPUT_LIMIT_BYTES must be a size/],
    ["WORKER_PYTHON_EXEC_DOCKER_IMAGE", "not an image", /WORKER_PYTHON_EXEC_DOCKER_IMAGE must be an image reference/],
    ["DOCKER_HOST", "ssh://box", /DOCKER_HOST must be unix/],
    ["WORKER_TERMINAL_LEASE_MAX_SEC", "30", /must not be below WORKER_TERMINAL_LEASE_MIN_SEC/],
    ["WORKER_TERMINAL_OUTPUT_LIMIT_BYTES", "3m", /at most 2621440 \(2\.5 MiB\).*32 MiB/],
    ["WORKER_SANDBOX_DISK", "512k", /WORKER_SANDBOX_DISK must be between/],
    ["WORKER_SANDBOX_NOFILE", "10", /WORKER_SANDBOX_NOFILE must be an integer/],
  ])("refuses %s=%s with a clear message", (name, value, message) => {
    expect(() => parseDockerConfig({ [name]: value })).toThrow(message);
  });

  it("bounds the figures of a pythonExec result so the worst case still fits one WebSocket message", () => {
    expect(parseDockerConfig({}).imageLimitBytes).toBe(8 * 1024 * 1024);
    const output = 2 * 1024 * 1024;
    const max = maxImageLimitBytes(output);
    const c = parseDockerConfig({ WORKER_TERMINAL_OUTPUT_LIMIT_BYTES: "2m", WORKER_PYTHON_IMAGE_LIMIT_BYTES: String(max) });
    expect(c.imageLimitBytes).toBe(max);
    const stream = "\u0000".repeat(output);
    const json = JSON.stringify({
      output: stream,
      stderr: stream,
      exit_code: 255,
      images: [{ mime_type: "image/png", data_base64: Buffer.alloc(max).toString("base64") }],
      output_truncated: true,
      stderr_truncated: true,
      images_truncated: true,
    });
    expect(Buffer.byteLength(json)).toBeLessThan(MAX_WS_MESSAGE_BYTES - 1024 * 1024);
    expect(() =>
      parseDockerConfig({ WORKER_TERMINAL_OUTPUT_LIMIT_BYTES: "2m", WORKER_PYTHON_IMAGE_LIMIT_BYTES: String(max + 1) }),
    ).toThrow(/WORKER_PYTHON_IMAGE_LIMIT_BYTES must be at most/);
  });

  it("accepts the largest output limit, whose worst-case result still fits one WebSocket message", () => {
    expect(parseDockerConfig({ WORKER_TERMINAL_OUTPUT_LIMIT_BYTES: "2560k" }).outputLimitBytes).toBe(MAX_OUTPUT_LIMIT_BYTES);
    // Control bytes in both streams: the most a terminalExec result can cost in JSON.
    const stream = "\u0000".repeat(MAX_OUTPUT_LIMIT_BYTES);
    const json = JSON.stringify({
      session_id: "s".repeat(256),
      created: true,
      stdout: stream,
      stderr: stream,
      exit_code: 255,
      stdout_truncated: true,
      stderr_truncated: true,
      lease_expires_unix_ms: Date.now(),
    });
    expect(Buffer.byteLength(json)).toBeGreaterThan(12 * MAX_OUTPUT_LIMIT_BYTES);
    expect(Buffer.byteLength(json)).toBeLessThan(MAX_WS_MESSAGE_BYTES - 1024 * 1024);
  });
});
