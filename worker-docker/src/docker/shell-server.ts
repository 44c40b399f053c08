/** Where the boot step puts its execute-only copy of /bin/sh (a tmpfs mounted with `exec`). */
export const SHELL_SERVER_COPY = "/tmp/.onlyboxes-shell";

/**
 * The first step of a terminal session container: `/bin/sh -c SHELL_BOOT onlyboxes-shell
 * SHELL_SERVER <first lease sec> <watchdog nap sec>`. It copies /bin/sh to a file nobody
 * may read (mode 0111) and executes that copy with the server: the kernel makes a process
 * that executes a file it cannot read non-dumpable, so PID 1's /proc entries (fd, mem,
 * environ) are root-owned and ptrace is refused. The commands (same uid, no
 * capabilities) can neither read the next request from PID 1's stdin nor its nonces from
 * its memory. This works with the POSIX tools of any image, where `prctl` would need a
 * program of our own.
 */
export const SHELL_BOOT = `cp /bin/sh ${SHELL_SERVER_COPY} && chmod 0111 ${SHELL_SERVER_COPY} || {
  echo "onlyboxes: cannot prepare the session's shell server in /tmp" >&2
  exit 125
}
exec ${SHELL_SERVER_COPY} -c "$1" onlyboxes-shell "$2" "$3"`;

/** Where the shell server keeps the session's deadline for its watchdog (see SHELL_SERVER). */
export const SHELL_DEADLINE_FILE = "/tmp/.onlyboxes-deadline";

/**
 * The watchdog's longest sleep, in seconds: at least as long as the limit of a command
 * with the default timeout (60 s), so such a command never has to wake it.
 */
export const SHELL_WATCHDOG_NAP_SEC = 60;

/**
 * The main process of a terminal session container, run by SHELL_BOOT.
 *
 * It serves commands one at a time from stdin, each sent as `<nonce> <line count> <limit
 * sec> <lease sec>\n` followed by the command's lines, and runs each with `sh -lc` (stdin at
 * /dev/null, so a command can never read the next request). When the command ends it
 * writes `<nonce>:<exit code>\n` on stdout and `<nonce>\n` on stderr: Docker keeps the two
 * streams apart, and the end of a command is the moment both markers arrived. The nonce
 * is 128 random bits chosen per command by the worker and never shown to the command, so
 * output cannot fake an end. Only POSIX sh and `sleep` are used, so any image can serve a
 * session; `sh -lc` costs a fork+exec (~1 ms) where `docker exec` costs 100–200 ms.
 *
 * The container must not outlive its lease: a watchdog ends it (USR1 to PID 1, which
 * exits, and every other process killed) when a command runs past its limit or an idle
 * session past its lease, whether or not a worker is attached (the container's stdin
 * stays open between a worker's stop and its next start, which adopts the session). The
 * deadline in force (whole seconds of /proc/uptime, rounded up) is kept in
 * SHELL_DEADLINE_FILE, written in place. The watchdog, one process for the container's
 * life, sleeps until the deadline it read but never longer than the nap (the server's
 * second argument), then reads the file again and either ends the session or sleeps on;
 * a HUP makes it read the file at once (it is born ignoring HUP, so one sent before its
 * handler is set is not fatal). So the server never forks or waits for the watchdog. A
 * deadline costs it one write when the watchdog is sure to wake by then anyway: the
 * deadline is no earlier than the one written before, or at least a nap away. Only an
 * earlier and nearer one (a command whose limit is shorter than the nap and ends before
 * the lease would) also costs a HUP, and the watchdog starts its new `sleep` beside the
 * command. A file that cannot be read as a number ends the session. If stdin closes, the
 * server exits once the running command ends. PID 1 ignores every other signal (PID 1
 * rule); a command can end its own session with USR1, kill its watchdog (the next
 * command starts another) or rewrite its deadline, and hurts nobody else by it.
 */
export const SHELL_SERVER = String.raw`if [ -O /proc/1/mem ] && ! [ -O / ]; then
  echo "onlyboxes: the shell server could not hide its memory; refusing to serve" >&2
  exit 125
fi
cd "$HOME" 2>/dev/null || cd /
trap 'exit 0' USR1
obx_file=${SHELL_DEADLINE_FILE}
obx_nap=$2
obx_now() {
  read -r obx_up _ </proc/uptime
  obx_up=${"$"}{obx_up%.*}
}
obx_read() {
  obx_a=; obx_b=x
  while [ "$obx_a" != "$obx_b" ]; do
    read -r obx_a <"$obx_file" || obx_a=
    read -r obx_b <"$obx_file" || obx_b=
  done
  case $obx_a in '' | *[!0-9]*) obx_at=0 ;; *) obx_at=$obx_a ;; esac
}
obx_watch() {
  trap '' HUP
  (
    trap 'obx_again=1; kill "$obx_s" 2>/dev/null' HUP
    obx_s=
    while :; do
      obx_again=0
      obx_now
      obx_read
      if [ "$obx_up" -ge "$obx_at" ]; then
        kill -USR1 1
        kill -KILL -1
        exit 0
      fi
      obx_t=$((obx_at - obx_up))
      [ "$obx_t" -le "$obx_nap" ] || obx_t=$obx_nap
      sleep "$obx_t" &
      obx_s=$!
      [ "$obx_again" = 1 ] || wait "$obx_s"
      kill "$obx_s" 2>/dev/null
      wait "$obx_s" 2>/dev/null
      obx_s=
    done
  ) </dev/null >/dev/null 2>&1 &
  obx_guard=$!
  trap - HUP
}
obx_deadline() {
  obx_now
  obx_next=$((obx_up + 1 + $1))
  printf '%12s\n' "$obx_next" 2>/dev/null 1<>"$obx_file"
  if [ "$obx_next" -lt "$obx_latest" ] && [ "$1" -lt "$obx_nap" ]; then
    kill -HUP "$obx_guard" 2>/dev/null || obx_watch
  else
    kill -0 "$obx_guard" 2>/dev/null || obx_watch
  fi
  obx_latest=$obx_next
}
obx_now
obx_latest=$((obx_up + 1 + $1))
printf '%12s\n' "$obx_latest" >"$obx_file" || exit 125
obx_watch
while IFS=' ' read -r obx_nonce obx_n obx_limit obx_lease; do
  obx_cmd=
  obx_i=0
  while [ "$obx_i" -lt "$obx_n" ]; do
    IFS= read -r obx_line || true
    if [ "$obx_i" -eq 0 ]; then obx_cmd=$obx_line; else obx_cmd="$obx_cmd
$obx_line"; fi
    obx_i=$((obx_i + 1))
  done
  obx_deadline "$obx_limit"
  sh -l -c -- "$obx_cmd" </dev/null
  obx_rc=$?
  printf '%s:%s\n' "$obx_nonce" "$obx_rc"
  printf '%s\n' "$obx_nonce" >&2
  obx_deadline "$obx_lease"
done
`;

/** Encodes one request for the shell server. The command must not contain NUL. */
export function encodeShellRequest(nonce: string, command: string, limitSec: number, leaseSec: number): string {
  const lines = command.split("\n");
  return `${nonce} ${lines.length} ${Math.ceil(limitSec)} ${Math.ceil(leaseSec)}\n${lines.join("\n")}\n`;
}

/** Longest text allowed between an end marker and its newline: `:` and an exit code (0–255). */
export const MAX_TRAILER = 4;

/**
 * Finds the end marker of the running command in one output stream, handing on the
 * command's bytes and holding back only a suffix that could be the start of the marker
 * (so streamed output is not delayed by more than that). Memory is bounded by the
 * marker's length plus MAX_TRAILER: text after a marker longer than that is a protocol
 * error (the server never writes it), as is a stdout trailer that is not `:<exit code>`.
 */
export class MarkerScanner {
  private held: Buffer = Buffer.alloc(0);
  private readonly trailer = Buffer.alloc(MAX_TRAILER);
  private trailerFill = 0;
  private state: "idle" | "output" | "trailer" = "idle";
  private marker = Buffer.alloc(0);

  constructor(
    private readonly onOutput: (data: Buffer) => void,
    private readonly onEnd: (trailer: string) => void,
    private readonly onProtocolError: (message: string) => void,
  ) {}

  /** Starts looking for `marker` (the nonce); earlier leftovers are dropped. */
  begin(marker: string): void {
    this.marker = Buffer.from(marker, "ascii");
    this.held = Buffer.alloc(0);
    this.trailerFill = 0;
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
    const part = nl < 0 ? data : data.subarray(0, nl);
    if (this.trailerFill + part.length > MAX_TRAILER) {
      this.state = "idle";
      this.onProtocolError(`more than ${MAX_TRAILER} bytes followed an end marker`);
      return;
    }
    part.copy(this.trailer, this.trailerFill);
    this.trailerFill += part.length;
    if (nl < 0) return;
    this.state = "idle";
    this.onEnd(this.trailer.subarray(0, this.trailerFill).toString("latin1"));
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
