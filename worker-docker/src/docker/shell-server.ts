/**
 * The main process of a terminal session container: `/bin/sh -c SHELL_SERVER`.
 *
 * It serves commands one at a time from stdin, each sent as `<nonce> <line count>\n`
 * followed by the command's lines, and runs each with `sh -lc` (stdin at /dev/null, so a
 * command can never read the next request). When the command ends it writes
 * `<nonce>:<exit code>\n` on stdout and `<nonce>\n` on stderr: Docker keeps the two
 * streams apart, and the end of a command is the moment both markers arrived. The nonce
 * is 128 random bits chosen per command by the worker and never shown to the command, so
 * output cannot fake an end. Only POSIX sh builtins are used, so any image with /bin/sh
 * can serve a session; `sh -lc` costs a fork+exec (~2 ms) where `docker exec` costs
 * 100–200 ms. As PID 1 of its namespace the server cannot be killed from inside.
 */
export const SHELL_SERVER = String.raw`cd "$HOME" 2>/dev/null || cd /
while IFS=' ' read -r obx_nonce obx_n; do
  obx_cmd=
  obx_i=0
  while [ "$obx_i" -lt "$obx_n" ]; do
    IFS= read -r obx_line || true
    if [ "$obx_i" -eq 0 ]; then obx_cmd=$obx_line; else obx_cmd="$obx_cmd
$obx_line"; fi
    obx_i=$((obx_i + 1))
  done
  sh -l -c -- "$obx_cmd" </dev/null
  obx_rc=$?
  printf '%s:%s\n' "$obx_nonce" "$obx_rc"
  printf '%s\n' "$obx_nonce" >&2
done
`;

/** Encodes one request for the shell server. The command must not contain NUL. */
export function encodeShellRequest(nonce: string, command: string): string {
  const lines = command.split("\n");
  return `${nonce} ${lines.length}\n${lines.join("\n")}\n`;
}

/**
 * Finds the end marker of the running command in one output stream, handing on the
 * command's bytes and holding back only a suffix that could be the start of the marker
 * (so streamed output is not delayed by more than that).
 */
export class MarkerScanner {
  private held: Buffer = Buffer.alloc(0);
  private trailer: Buffer[] = [];
  private state: "idle" | "output" | "trailer" = "idle";

  constructor(
    private readonly onOutput: (data: Buffer) => void,
    private readonly onEnd: (trailer: string) => void,
  ) {}

  private marker = Buffer.alloc(0);

  /** Starts looking for `marker` (the nonce); earlier leftovers are dropped. */
  begin(marker: string): void {
    this.marker = Buffer.from(marker, "ascii");
    this.held = Buffer.alloc(0);
    this.trailer = [];
    this.state = "output";
  }

  push(data: Buffer): void {
    if (this.state === "idle") return; // e.g. a background job of an earlier command
    if (this.state === "trailer") {
      this.takeTrailer(data);
      return;
    }
    const buf = this.held.length > 0 ? Buffer.concat([this.held, data]) : data;
    const at = buf.indexOf(this.marker);
    if (at >= 0) {
      if (at > 0) this.onOutput(buf.subarray(0, at));
      this.held = Buffer.alloc(0);
      this.state = "trailer";
      this.takeTrailer(buf.subarray(at + this.marker.length));
      return;
    }
    const keep = this.partialMarkerSuffix(buf);
    if (buf.length - keep > 0) this.onOutput(buf.subarray(0, buf.length - keep));
    this.held = Buffer.from(buf.subarray(buf.length - keep));
  }

  private takeTrailer(data: Buffer): void {
    const nl = data.indexOf(0x0a);
    if (nl < 0) {
      this.trailer.push(Buffer.from(data));
      return;
    }
    this.trailer.push(data.subarray(0, nl));
    const text = Buffer.concat(this.trailer).toString("ascii");
    this.trailer = [];
    this.state = "idle";
    this.onEnd(text);
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of the marker. */
  private partialMarkerSuffix(buf: Buffer): number {
    const max = Math.min(this.marker.length - 1, buf.length);
    for (let k = max; k > 0; k--) {
      if (buf.compare(this.marker, 0, k, buf.length - k, buf.length) === 0) return k;
    }
    return 0;
  }
}
