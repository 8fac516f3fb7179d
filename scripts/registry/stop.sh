#!/usr/bin/env bash
# Stop the registry started by start.sh (by its recorded pid only). Its storage is in memory.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${REGISTRY_STATE_DIR:-$HERE/.state}"
PIDF="$STATE/registry.pid"
if [[ -f "$PIDF" ]]; then
  pid="$(cat "$PIDF")"
  if kill -0 "$pid" 2>/dev/null && ps -p "$pid" -o args= | grep -q 'eventline-test-registry'; then
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "registry (pid $pid) did not stop within 20 s after SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    echo "registry stopped (pid $pid)"
  fi
  rm -f "$PIDF" "$STATE/registry.port"
fi
exit 0
