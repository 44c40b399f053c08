#!/usr/bin/env bash
# Makes sure a Docker Engine answers on the local socket, starting one if needed.
#
# Idempotent: when /_ping already answers it does nothing. Otherwise it installs Debian's
# docker.io (only when dockerd is missing), starts dockerd in the background with its log
# in a file, and waits for /_ping. runc is the runtime on purpose: crun fails on this kind
# of host.
#
# Environment:
#   DOCKER_SOCKET        socket path (default /var/run/docker.sock)
#   DOCKER_ENGINE_LOG    dockerd log file (default /var/log/onlyboxes-dockerd.log)
#   DOCKER_ENGINE_WAIT   seconds to wait for /_ping (default 30)
set -euo pipefail

SOCKET="${DOCKER_SOCKET:-/var/run/docker.sock}"
LOG_FILE="${DOCKER_ENGINE_LOG:-/var/log/onlyboxes-dockerd.log}"
WAIT_SEC="${DOCKER_ENGINE_WAIT:-30}"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Answers 0 when the engine behind the socket replies OK to /_ping.
ping_engine() {
  [ -S "$SOCKET" ] || return 1
  local reply
  reply="$(curl --silent --max-time 2 --unix-socket "$SOCKET" http://localhost/_ping 2>/dev/null || true)"
  [ "$reply" = "OK" ]
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

command -v curl >/dev/null 2>&1 || {
  say "installing curl (needed to ping the engine)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl >/dev/null
}

if ping_engine; then
  say "engine already answering on $SOCKET"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "dockerd not found: installing Debian's docker.io"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker.io >/dev/null || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still missing"
fi

# A dockerd that is already starting (e.g. a concurrent run of this script) gets its chance
# before we start a second one, which would fight over the pid file.
if pgrep -x dockerd >/dev/null 2>&1; then
  say "dockerd is running but not answering yet; waiting"
else
  # A stale socket or pid file from a killed daemon makes the new one refuse to start.
  if [ -S "$SOCKET" ]; then as_root rm -f "$SOCKET"; fi
  as_root rm -f /var/run/docker.pid
  as_root mkdir -p "$(dirname "$LOG_FILE")"
  say "starting dockerd (log: $LOG_FILE)"
  # setsid detaches it from this shell's process group so it outlives the caller.
  as_root setsid dockerd --host "unix://$SOCKET" >>"$LOG_FILE" 2>&1 </dev/null &
fi

deadline=$(( $(date +%s) + WAIT_SEC ))
until ping_engine; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "engine did not answer on $SOCKET within ${WAIT_SEC}s"
  fi
  sleep 0.2
done
say "engine up on $SOCKET ($(curl --silent --unix-socket "$SOCKET" http://localhost/version | sed -n 's/.*"Version":"\([^"]*\)".*/\1/p' | head -n1))"
