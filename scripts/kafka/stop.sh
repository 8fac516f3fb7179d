#!/usr/bin/env bash
# Stop the broker started by start.sh (by its recorded pid only), then delete its data
# (KAFKA_KEEP_DATA=1 keeps .state/data).
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${KAFKA_STATE_DIR:-$HERE/.state}"
PIDF="$STATE/kafka.pid"
if [[ -f "$PIDF" ]]; then
  pid="$(cat "$PIDF")"
  if kill -0 "$pid" 2>/dev/null && ps -p "$pid" -o args= | grep -q 'kafka\.Kafka'; then
    # Kafka's shutdown hook: controlled shutdown of the broker, then the controller
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kafka (pid $pid) did not stop within 30 s after SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    echo "kafka stopped (pid $pid)"
  fi
  rm -f "$PIDF" "$STATE/kafka.port"
fi
[[ "${KAFKA_KEEP_DATA:-0}" = 1 ]] || rm -rf "$STATE/data"
exit 0
