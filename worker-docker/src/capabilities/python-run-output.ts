import type { PythonExecResult } from "@onlyboxes/proto";
import type { StreamName } from "../docker/container-client.ts";
import { ImageCollector } from "../docker/image-collector.ts";
import { OutputCollector } from "../docker/output-collector.ts";
import type { BootstrapEvent } from "../docker/python-bootstrap.ts";

/**
 * What one Python run gives back, a fresh container's or a session cell's alike: its
 * stdout and stderr (capped, forwarded as they come when streaming) and its figures (capped).
 */
export class PythonRunOutput {
  private readonly out: OutputCollector;
  private readonly figures: ImageCollector;

  constructor(
    limits: { outputLimitBytes: number; imageLimitBytes: number },
    emit?: (stream: StreamName, data: Uint8Array) => void,
  ) {
    this.out = new OutputCollector(limits.outputLimitBytes, emit);
    this.figures = new ImageCollector(limits.imageLimitBytes);
  }

  /** Keeps a decoded event's output or figure bytes; other events are the caller's. */
  take(ev: BootstrapEvent): void {
    if (ev.kind === "output") this.out.push(ev.stream, ev.data);
    else if (ev.kind === "image") this.figures.push(ev.data);
  }

  /** Adds bytes to the run's stdout or stderr (e.g. the worker's own notice). */
  push(stream: StreamName, data: Buffer): void {
    this.out.push(stream, data);
  }

  /** The result: output, stderr, exit code and figures, with a flag for each that was cut. */
  result(exitCode: number): PythonExecResult {
    const stdout = this.out.stdout.collect();
    const stderr = this.out.stderr.collect();
    const images = this.figures.collect();
    const result: PythonExecResult = { output: stdout.text, stderr: stderr.text, exit_code: exitCode, images: images.images };
    if (stdout.truncated) result.output_truncated = true;
    if (stderr.truncated) result.stderr_truncated = true;
    if (images.truncated) result.images_truncated = true;
    return result;
  }
}
