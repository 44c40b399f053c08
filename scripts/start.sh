#!/bin/sh
# `npm start`: the console on workerd with state on local disk, plus one local worker.
# Node prepares and boots the console (scripts/launcher/shell-steps.mjs) and exits; this
# shell stays as the supervisor, so no Node process is resident for the console (a Node
# process costs ≈ 50 MiB; this shell ≈ 1). It restarts the local worker 2 s after it
# exits, stops everything when workerd exits, and on SIGINT/SIGTERM stops the worker first
# (it finishes or cancels its work within WORKER_SHUTDOWN_GRACE_SEC), then workerd.
# CONSOLE_RUNTIME=miniflare runs scripts/start.mjs instead (Miniflare lives in Node).
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

plan=$("$node" scripts/launcher/shell-steps.mjs plan) || exit 2
runtime='' data_dir='' workerd_bin='' control_fifo=''
eval "$plan"
[ "$runtime" = workerd ] || exec "$node" scripts/start.mjs

workerd_pid='' loop_pid=''
stop_all() { # exit code
  trap '' INT TERM
  if [ -n "$loop_pid" ]; then
    kill -TERM "$loop_pid" 2>/dev/null
    wait "$loop_pid"
  fi
  if [ -n "$workerd_pid" ]; then
    kill -TERM "$workerd_pid" 2>/dev/null
    wait "$workerd_pid"
  fi
  rm -f "$control_fifo" "$data_dir/workerd.capnp"
  [ "$1" != 0 ] || say info stopped
  exit "$1"
}
trap 'say info stopping "\"signal\":\"SIGINT\""; stop_all 0' INT
trap 'say info stopping "\"signal\":\"SIGTERM\""; stop_all 0' TERM

# workerd reports its ports on fd 3, a FIFO the boot step reads.
rm -f "$control_fifo"
mkfifo -m 600 "$control_fifo" || stop_all 2
(cd "$data_dir" && exec "$workerd_bin" "$@" 3>"$control_fifo") &
workerd_pid=$!
booted=$("$node" scripts/launcher/shell-steps.mjs boot) || stop_all 2
rm -f "$control_fifo"
console_url='' worker_env='' worker_cmd=''
eval "$booted"

if [ -n "$worker_cmd" ]; then
  # The worker gets only the environment the boot step chose (no CONSOLE_* settings).
  run_worker() { eval "exec env -i $worker_env $worker_cmd"; }
  (
    stopping=0 pid=''
    trap 'stopping=1; [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null' TERM
    # Ctrl+C reaches the worker itself; this loop stops when the supervisor says so.
    trap '' INT
    while :; do
      run_worker &
      pid=$!
      wait "$pid"
      code=$?
      # A trapped signal ends `wait` early: wait again until the worker has really exited.
      while kill -0 "$pid" 2>/dev/null; do
        wait "$pid"
        code=$?
      done
      pid=''
      [ "$stopping" = 0 ] || exit 0
      say info "local worker exited; restarting in 2 s" "\"code\":$code"
      sleep 2 &
      wait $!
      [ "$stopping" = 0 ] || exit 0
    done
  ) &
  loop_pid=$!
fi

printf 'console listening on %s\n' "$console_url"
say info "console ready"
wait "$workerd_pid"
code=$?
# Reached only when workerd exits by itself (the traps above exit).
workerd_pid=''
say error "workerd exited unexpectedly; stopping" "\"code\":$code"
stop_all 1
