#!/bin/sh
# `npm start`: the console on workerd with state on local disk, plus one local worker.
# A short-lived Node process (scripts/launcher/shell-steps.mjs) prepares and boots the
# console; this shell stays as the supervisor, so no Node process is resident for the
# console (a Node process costs ≈ 50 MiB; this shell ≈ 1). It restarts the local worker
# 2 s after it exits, stops everything when workerd exits, and on SIGINT/SIGTERM stops the
# worker first (it finishes or cancels its work within WORKER_SHUTDOWN_GRACE_SEC), then
# workerd. CONSOLE_RUNTIME=miniflare runs scripts/start.mjs instead (Miniflare lives in Node).
set -u
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd) || exit 2
cd "$root" || exit 2
# The Node that runs npm, else the first on PATH.
node=${npm_node_execpath:-$(command -v node)} || {
  echo "onlyboxes: node is not on PATH" >&2
  exit 2
}

say() { # level, message, optional extra JSON fields
  printf '{"time":"%s","level":"%s","component":"launcher","msg":"%s"%s}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "${3:+,$3}" >&2
}

# A private directory for the FIFOs and the steps' files; gone when this shell ends.
dir=$(mktemp -d "${TMPDIR:-/tmp}/onlyboxes-start.XXXXXX") || exit 2
steps_pid='' workerd_pid='' loop_pid='' runtime='' data_dir='' workerd_bin='' worker_env='' worker_cmd=''
stop_all() { # exit code, the signal that asked for it (if any)
  trap '' INT TERM
  # The worker loop hears first: a worker that Ctrl+C has already stopped is not started again.
  [ -z "$loop_pid" ] || kill -TERM "$loop_pid" 2>/dev/null
  [ -z "${2:-}" ] || say info stopping "\"signal\":\"$2\""
  for pid in "$loop_pid" "$steps_pid" "$workerd_pid"; do
    [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null
    [ -z "$pid" ] || wait "$pid"
  done
  rm -rf "$dir"
  [ -z "$data_dir" ] || rm -f "$data_dir/workerd.capnp"
  [ "$1" != 0 ] || say info stopped
  exit "$1"
}
trap 'stop_all 0 SIGINT' INT
trap 'stop_all 0 SIGTERM' TERM
# One line from the steps' FIFO; anything but `$1` (the process failed and said why) stops all.
expect() {
  line=''
  IFS= read -r line <&5
  [ "$line" = "$1" ] && return
  wait "$steps_pid"
  steps_pid=''
  stop_all 2
}

mkfifo -m 600 "$dir/steps" "$dir/control" "$dir/url" || stop_all 2
"$node" scripts/launcher/shell-steps.mjs "$dir" >"$dir/steps" &
steps_pid=$!
exec 5<"$dir/steps"
expect plan
. "$dir/plan.sh"
rm -f "$dir/plan.sh"
if [ "$runtime" != workerd ]; then
  exec 5<&-
  wait "$steps_pid"
  rm -rf "$dir"
  exec "$node" scripts/start.mjs
fi

# workerd reports its ports on fd 3, the `control` FIFO the steps' process reads.
(cd "$data_dir" && exec "$workerd_bin" "$@" 3>"$dir/control" 5<&-) &
workerd_pid=$!

if [ -n "$worker_cmd" ]; then
  # The local worker starts now and loads its code while the console starts; it reads the
  # console's URL from stdin, the `url` FIFO this shell holds open on fd 4 (read-write, so
  # opening it waits for no one). A worker started again later finds the URL in a file.
  exec 4<>"$dir/url"
  # Only the environment the plan chose (no CONSOLE_* setting reaches the worker).
  run_worker() { eval "exec env -i $worker_env ${1:+WORKER_CONSOLE_URL=\"\$1\"} $worker_cmd"; }
  (
    stopping=0 pid=''
    trap 'stopping=1; [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null' TERM
    # Ctrl+C reaches the worker itself; this loop stops when the supervisor says so.
    trap '' INT
    while :; do
      url=$(cat "$dir/console-url" 2>/dev/null)
      if [ -n "$url" ]; then run_worker "$url" </dev/null 4<&- 5<&- & else run_worker <&4 4<&- 5<&- & fi
      pid=$!
      wait "$pid"
      code=$?
      # A trapped signal ends `wait` early: wait again until the worker has really exited.
      while kill -0 "$pid" 2>/dev/null; do
        wait "$pid"
        code=$?
      done
      pid=''
      # The pause comes first, so a worker that Ctrl+C stopped is not reported as restarting.
      [ "$stopping" = 0 ] || exit 0
      sleep 2 &
      wait $!
      [ "$stopping" = 0 ] || exit 0
      say info "local worker exited; started it again after 2 s" "\"code\":$code"
    done
  ) 5<&- &
  loop_pid=$!
fi

expect booted
wait "$steps_pid"
steps_pid=''
exec 5<&-
console_url=''
. "$dir/booted.sh"
rm -f "$dir/booted.sh"
if [ -n "$worker_cmd" ]; then
  printf '%s\n' "$console_url" >"$dir/console-url"
  printf '%s\n' "$console_url" >&4
  exec 4>&-
fi

printf 'console listening on %s\n' "$console_url"
say info "console ready"
wait "$workerd_pid"
code=$?
# Reached only when workerd exits by itself (the traps above exit).
workerd_pid=''
say error "workerd exited unexpectedly; stopping" "\"code\":$code"
stop_all 1
