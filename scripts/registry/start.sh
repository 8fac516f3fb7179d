#!/usr/bin/env bash
# Start a throwaway Confluent-compatible schema registry (Apicurio Registry 2.4.2.Final, in-memory
# storage) on 127.0.0.1, assembled from Maven Central. Its Confluent API is under /apis/ccompat/v7:
#   SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7
# Idempotent: when our registry is already running (recorded pid, same port) it only says so.
#
#   bash scripts/registry/start.sh     # first run builds the app with Maven (~1 min, ~150 MB of jars)
#   bash scripts/registry/stop.sh
#
# Environment: REGISTRY_PORT (8081), REGISTRY_STATE_DIR (scripts/registry/.state),
# REGISTRY_HEAP_OPTS (-Xms64m -Xmx384m), REGISTRY_WAIT_MS (readiness timeout, 120000), JAVA, MVN.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${REGISTRY_STATE_DIR:-$HERE/.state}"
BUILD="$HERE/.state/build"
JAR="$BUILD/eventline-test-registry-1.0.0-runner.jar"
PORT="${REGISTRY_PORT:-8081}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
HEAP_OPTS="${REGISTRY_HEAP_OPTS:--Xms64m -Xmx384m}"
WAIT_MS="${REGISTRY_WAIT_MS:-120000}"
API="http://127.0.0.1:$PORT/apis/ccompat/v7"

fail() { echo "registry start.sh: $*" >&2; exit 1; }

command -v "$JAVA" >/dev/null 2>&1 || fail "'$JAVA' not found (Java 17+ is needed)"
command -v curl >/dev/null 2>&1 || fail "curl not found (the readiness check uses it)"
[[ "$PORT" =~ ^[0-9]+$ ]] || fail "bad port REGISTRY_PORT=$PORT"

mkdir -p "$STATE" "$HERE/.state"
# one start at a time (two test runs starting together must not both launch a registry)
exec 9>"$STATE/start.lock"
flock -w 600 9 || fail "could not take $STATE/start.lock"

is_our_registry() { kill -0 "$1" 2>/dev/null && ps -p "$1" -o args= | grep -q 'eventline-test-registry'; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -f "$STATE/registry.pid" ]]; then
  pid="$(cat "$STATE/registry.pid")"
  if is_our_registry "$pid"; then
    running_port="$(cat "$STATE/registry.port" 2>/dev/null || echo '?')"
    [[ "$running_port" == "$PORT" ]] ||
      fail "a registry from $STATE is already running (pid $pid) on port $running_port, not $PORT; run stop.sh first"
    echo "registry already running (pid $pid) at $API"
    exit 0
  fi
  rm -f "$STATE/registry.pid" "$STATE/registry.port"
fi

port_in_use "$PORT" && fail "port 127.0.0.1:$PORT is already in use by another process (set REGISTRY_PORT)"

# 1) build once, and again when pom.xml or the sources change (the stamp is their checksum)
stamp="$(cat "$HERE/pom.xml" "$HERE"/src/main/java/dev/eventline/registry/*.java "$HERE/src/main/resources/application.properties" | sha256sum | cut -c1-16)"
if [[ ! -f "$JAR" || "$(cat "$BUILD/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  command -v "$MVN" >/dev/null 2>&1 || fail "'$MVN' not found (Maven is needed once to build the registry)"
  echo "registry: building Apicurio Registry from Maven Central into $BUILD ..."
  "$MVN" -B -f "$HERE/pom.xml" -DskipTests package > "$HERE/.state/mvn.log" 2>&1 ||
    { tail -n 40 "$HERE/.state/mvn.log" >&2; fail "Maven could not build the registry (full log: $HERE/.state/mvn.log)"; }
  [[ -f "$JAR" ]] || fail "$JAR missing after the build"
  echo "$stamp" > "$BUILD/.stamp"
fi

# 2) the registry in the background; nohup execs java, so $! is the JVM's pid.
#    9>&- : the JVM must not inherit the lock's fd. Storage is in memory: every start is empty.
# shellcheck disable=SC2086
nohup "$JAVA" $HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" -Dquarkus.log.level=WARN \
  -jar "$JAR" > "$STATE/registry.log" 2>&1 < /dev/null 9>&- &
pid=$!
echo "$pid" > "$STATE/registry.pid"
echo "$PORT" > "$STATE/registry.port"

# 3) ready when the Confluent API answers (gives up early if the JVM exits)
deadline=$(( $(date +%s%3N) + WAIT_MS ))
until curl -sf -m 2 -o /dev/null "$API/subjects"; do
  if ! kill -0 "$pid" 2>/dev/null || (( $(date +%s%3N) > deadline )); then
    {
      echo "---- registry did not become ready; last lines of $STATE/registry.log ----"
      tail -n 60 "$STATE/registry.log" || true
      echo "---- end of $STATE/registry.log ----"
    } >&2
    bash "$HERE/stop.sh" || true
    fail "registry failed to start on 127.0.0.1:$PORT"
  fi
  sleep 0.5
done
echo "registry started (pid $pid) at $API"
