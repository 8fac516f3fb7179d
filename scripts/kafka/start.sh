#!/usr/bin/env bash
# Start a throwaway single-node KRaft Kafka (broker+controller) on 127.0.0.1 from Maven Central jars.
# Idempotent: when our broker is already running (recorded pid, same port) it only says so.
#
#   bash scripts/kafka/start.sh        # first run downloads ~46 MB of jars into scripts/kafka/libs-<version>/
#   bash scripts/kafka/stop.sh
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_VERSION (3.9.2),
# KAFKA_STATE_DIR (scripts/kafka/.state), KAFKA_CLUSTER_ID, KAFKA_HEAP_OPTS, KAFKA_JVM_OPTS,
# KAFKA_WAIT_MS (readiness timeout, 60000), JAVA (java), MVN (mvn).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
LIBS="$HERE/libs-$KAFKA_VERSION"
STATE="${KAFKA_STATE_DIR:-$HERE/.state}"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
CLUSTER_ID="${KAFKA_CLUSTER_ID:-MkU3OEVBNTcwNTJENDM2Qk}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
LOG_OPTS="-Dlog4j.configuration=file:$HERE/log4j.properties -Dkafka.logs.dir=$STATE"
# the project's Node (package.json devDependency "node") when installed, else the one on PATH
if [[ -x "$ROOT/node_modules/.bin/node" ]]; then NODE="$ROOT/node_modules/.bin/node"; else NODE="node"; fi

fail() { echo "kafka start.sh: $*" >&2; exit 1; }

command -v "$JAVA" >/dev/null 2>&1 || fail "'$JAVA' not found (Java 17+ is needed)"
[[ "$PORT" =~ ^[0-9]+$ && "$CPORT" =~ ^[0-9]+$ && "$PORT" != "$CPORT" ]] ||
  fail "bad ports KAFKA_PORT=$PORT KAFKA_CONTROLLER_PORT=$CPORT"

mkdir -p "$STATE"
# one start at a time (two test runs starting together must not both launch a broker)
exec 9>"$STATE/start.lock"
flock -w 300 9 || fail "could not take $STATE/start.lock"

is_our_broker() { kill -0 "$1" 2>/dev/null && ps -p "$1" -o args= | grep -q 'kafka\.Kafka'; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# already running? (the recorded pid must really be our broker)
if [[ -f "$STATE/kafka.pid" ]]; then
  pid="$(cat "$STATE/kafka.pid")"
  if is_our_broker "$pid"; then
    running_port="$(cat "$STATE/kafka.port" 2>/dev/null || echo '?')"
    [[ "$running_port" == "$PORT" ]] ||
      fail "a broker from $STATE is already running (pid $pid) on port $running_port, not $PORT; run stop.sh first"
    echo "kafka already running (pid $pid) on 127.0.0.1:$PORT"
    exit 0
  fi
  rm -f "$STATE/kafka.pid" "$STATE/kafka.port"
fi

for p in "$PORT" "$CPORT"; do
  port_in_use "$p" && fail "port 127.0.0.1:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
done

# 1) jars: downloaded once per version into libs-<version>/ (Maven also keeps them in ~/.m2)
if [[ ! -f "$LIBS/.complete" ]]; then
  command -v "$MVN" >/dev/null 2>&1 || fail "'$MVN' not found (Maven is needed once to fetch the Kafka jars)"
  echo "kafka: fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS ..."
  rm -rf "$LIBS"
  # not -q: Maven 3.8.7 then still prints bare ANSI resets; keep the whole output in a log instead
  "$MVN" -B -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VERSION" -Dkafka.libs.dir="$LIBS" \
    dependency:copy-dependencies > "$STATE/mvn.log" 2>&1 ||
    { tail -n 40 "$STATE/mvn.log" >&2; fail "Maven could not fetch the jars (full log: $STATE/mvn.log)"; }
  [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || fail "kafka_2.13-$KAFKA_VERSION.jar missing from $LIBS"
  touch "$LIBS/.complete"
fi
CP="$LIBS/*"

# 2) effective config = static file + machine-specific overrides (java.util.Properties: last key wins)
CONF="$STATE/server.properties"
{
  cat "$HERE/server.properties"
  echo
  echo "# ---- appended by start.sh ----"
  echo "log.dirs=$STATE/data"
  echo "listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT"
  echo "advertised.listeners=PLAINTEXT://127.0.0.1:$PORT"
  echo "controller.quorum.voters=1@127.0.0.1:$CPORT"
} > "$CONF"

# 3) fresh storage every start (KRaft refuses unformatted dirs); KAFKA_KEEP_DATA=1 keeps what a
#    previous run left (stop.sh with KAFKA_KEEP_DATA=1), for restart tests
if [[ "${KAFKA_KEEP_DATA:-0}" = 1 && -f "$STATE/data/meta.properties" ]]; then
  echo "kafka: keeping the data in $STATE/data"
else
  rm -rf "$STATE/data"
  # shellcheck disable=SC2086
  "$JAVA" -Xmx256m $LOG_OPTS -cp "$CP" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$CONF" \
    > "$STATE/format.log" 2>&1 || { tail -n 40 "$STATE/format.log" >&2; fail "kafka storage format failed"; }
fi

# 4) broker in the background; nohup execs java, so $! is the JVM's pid.
#    9>&- : the JVM must not inherit the lock's fd, or it would hold the lock for its whole life
# shellcheck disable=SC2086
nohup "$JAVA" $HEAP_OPTS $JVM_OPTS $LOG_OPTS -cp "$CP" kafka.Kafka "$CONF" \
  > "$STATE/kafka.log" 2>&1 < /dev/null 9>&- &
pid=$!
echo "$pid" > "$STATE/kafka.pid"
echo "$PORT" > "$STATE/kafka.port"

# 5) wait until it really serves Kafka requests (gives up early if the JVM exits)
if ! "$NODE" "$HERE/wait.cjs" "127.0.0.1:$PORT" "$pid"; then
  {
    echo "---- kafka did not become ready; last lines of $STATE/kafka.log ----"
    tail -n 60 "$STATE/kafka.log" || true
    echo "---- end of $STATE/kafka.log ----"
  } >&2
  KAFKA_KEEP_DATA=1 bash "$HERE/stop.sh" || true
  fail "kafka broker failed to start on 127.0.0.1:$PORT"
fi
