#!/usr/bin/env bash
# Runs the examples in examples/ the way a user would: from the packed packages, never from the
# workspace. Builds and packs the packages, then for each example: copies it to a fresh temporary
# directory, installs the tarballs and its own dependencies from the registry (no lockfile from
# the workspace), type-checks it with plain tsc (module nodenext, against the built .d.ts) when it
# is TypeScript, and runs it on every Node version in NODE_VERSIONS (default "24 22"), each taken
# from the registry's `node` package. One line per result; the logs of a failure are printed.
#
#   scripts/examples/run.sh                      every example
#   scripts/examples/run.sh plain-node testing   some of them
#
# TypeScript examples run as they are, with Node's type stripping: every Node the packages
# support (engines: >=22.19) strips types by default, which is how a user runs a .ts file today;
# compiling first would test a build step the examples do not need.
#
# Environment: DATABASE_URL (PostgreSQL admin URL) adds the PostgreSQL run of embedded-effect-app
# in a database of its own, created and dropped here; NODE_VERSIONS; EXAMPLES_PACKS=<dir> skips
# the build and takes the tarballs found there (e.g. .packs from the last `npm run pack`);
# EXAMPLES_KEEP=1 keeps the temporary directory (it is always kept after a failure).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

# `npm run` hands its configuration down: NODE_OPTIONS=--conditions=@eventline/source (the
# workspace's .npmrc) would resolve @eventline/* to the .ts sources, and npm_config_* would steer
# the examples' npm. An example must see what a user sees.
unset NODE_OPTIONS
while read -r variable; do unset "$variable"; done < <(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p')

# the PostgreSQL server is for the PostgreSQL run alone, in a database of its own: every other run
# must not see it (embedded-effect-app would take it and write into the admin database)
admin_url="${DATABASE_URL:-}"
unset DATABASE_URL

node_versions=(${NODE_VERSIONS:-24 22})
packs_dir="${EXAMPLES_PACKS:-$root/.packs}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/eventline-examples"
work="$(mktemp -d "${TMPDIR:-/tmp}/eventline-examples.XXXXXX")"
logs="$work/logs"
mkdir -p "$logs" "$work/packs" "$cache"
failures=0
started=$SECONDS

databases=()
cleanup() {
  for database in "${databases[@]}"; do drop_database "$database"; done
  if [[ -n "${EXAMPLES_KEEP:-}" || $failures -gt 0 ]]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# run LOG COMMAND...: the command's output goes to LOG (no input); its status is returned
run() {
  local log="$1"
  shift
  "$@" </dev/null >"$log" 2>&1
}

elapsed() {
  local tenths=$((($(date +%s%N) - $1) / 100000000))
  printf '%4d.%ds' $((tenths / 10)) $((tenths % 10))
}

report() { # STATUS WHAT DETAIL STARTED [LOG...]
  local status="$1" what="$2" detail="$3" since="$4"
  shift 4
  printf '%-4s  %-34s %-36s %s\n' "$status" "$what" "$detail" "$(elapsed "$since")"
  if [[ "$status" == "FAIL" ]]; then
    failures=$((failures + 1))
    for log in "$@"; do
      [[ -s "$log" ]] && sed 's/^/      | /' "$log" | tail -n 80
    done
  fi
  return 0
}

# --- the packages -------------------------------------------------------------------------------
since=$(date +%s%N)
if [[ -z "${EXAMPLES_PACKS:-}" ]]; then
  marker="$work/packing"
  touch "$marker"
  if ! run "$logs/build.log" npm run build || ! run "$logs/pack.log" npm run pack; then
    report FAIL "build and pack" "" "$since" "$logs/build.log" "$logs/pack.log"
    exit 1
  fi
  tarballs=$(find "$packs_dir" -maxdepth 1 -name 'eventline-*.tgz' -newer "$marker" | sort)
else
  tarballs=$(find "$packs_dir" -maxdepth 1 -name 'eventline-*.tgz' | sort)
fi
if [[ -z "$tarballs" ]]; then
  report FAIL "build and pack" "no tarballs in $packs_dir" "$since"
  exit 1
fi
# version-less names, which the examples' package.json files point at (file:../packs/...)
for tarball in $tarballs; do
  cp "$tarball" "$work/packs/$(basename "$tarball" | sed -E 's/-[0-9]+\.[0-9]+\.[0-9]+[^/]*\.tgz$/.tgz/')"
done
report ok "build and pack" "$(echo "$tarballs" | wc -l) packages${EXAMPLES_PACKS:+ from $EXAMPLES_PACKS}" "$since"

# --- Node versions from the registry ----------------------------------------------------------------
declare -A node_bin
for major in "${node_versions[@]}"; do
  since=$(date +%s%N)
  prefix="$cache/node-$major"
  origin="(cached)"
  if [[ ! -x "$prefix/node_modules/.bin/node" ]]; then
    origin="(installed)"
    rm -rf "$prefix"
    if ! run "$logs/node-$major.log" npm install --prefix "$prefix" --no-audit --no-fund "node@$major"; then
      report FAIL "node $major" "npm install node@$major" "$since" "$logs/node-$major.log"
      exit 1
    fi
  fi
  node_bin[$major]="$(dirname "$(readlink -f "$prefix/node_modules/.bin/node")")"
  report ok "node $major" "$("$prefix/node_modules/.bin/node" --version) $origin" "$since"
done
install_node="${node_bin[${node_versions[0]}]}"

# --- the code the READMEs show is the code that runs ----------------------------------------------
since=$(date +%s%N)
if run "$logs/excerpts.log" "$install_node/node" scripts/examples/checkExcerpts.ts README.md examples/README.md; then
  report ok "README excerpts" "$(tail -n 1 "$logs/excerpts.log")" "$since"
else
  report FAIL "README excerpts" "" "$since" "$logs/excerpts.log"
fi

# --- the examples --------------------------------------------------------------------------------------
if [[ $# -gt 0 ]]; then
  examples=("$@")
else
  examples=()
  for dir in examples/*/; do [[ -f "$dir/package.json" ]] && examples+=("$(basename "$dir")"); done
fi

# the runs of an example: "variant|environment" lines (the command is its npm test or start script)
variants() {
  case "$1" in
    embedded-effect-app)
      echo "pglite|"
      [[ -n "$admin_url" ]] && echo "postgres|DATABASE"
      ;;
    plain-node)
      echo "in-memory|"
      echo "pglite|EVENTLINE_STORE=pglite"
      ;;
    *) echo "|" ;;
  esac
  return 0
}

# a throwaway database on the DATABASE_URL server: prints its URL
create_database() {
  local name="$1"
  psql "$admin_url" -qc "CREATE DATABASE $name" </dev/null >/dev/null
  "$install_node/node" -e \
    'const url = new URL(process.argv[1]); url.pathname = `/${process.argv[2]}`; console.log(url.toString())' \
    "$admin_url" "$name"
}

drop_database() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" </dev/null >/dev/null 2>&1 || true
}

for example in "${examples[@]}"; do
  source="examples/$example"
  target="$work/$example"
  since=$(date +%s%N)
  if [[ ! -f "$source/package.json" ]]; then
    report FAIL "$example" "no such example" "$since"
    continue
  fi
  mkdir -p "$target"
  (cd "$source" && tar cf - --exclude=node_modules --exclude=package-lock.json .) | (cd "$target" && tar xf -)

  # install and type-check with the first Node version
  log="$logs/$example.install.log"
  if ! PATH="$install_node:$PATH" run "$log" bash -c "cd '$target' && npm install --no-audit --no-fund"; then
    report FAIL "$example" "npm install" "$since" "$log"
    continue
  fi
  if [[ -f "$target/tsconfig.json" ]]; then
    log="$logs/$example.tsc.log"
    if ! PATH="$install_node:$PATH" run "$log" bash -c "cd '$target' && node_modules/.bin/tsc --noEmit"; then
      report FAIL "$example" "tsc --noEmit" "$since" "$log"
      continue
    fi
    # the app's tsconfig skips library checks (effect's and PGlite's .d.ts need DOM types); the
    # packages' own declarations are checked in full once more
    log="$logs/$example.declarations.log"
    PATH="$install_node:$PATH" run "$log" bash -c \
      "cd '$target' && node_modules/.bin/tsc --noEmit --skipLibCheck false --lib ES2023,DOM" || true
    if grep -q '^node_modules/@eventline/' "$log"; then
      report FAIL "$example" "errors in @eventline/*.d.ts" "$since" "$log"
      continue
    fi
    report ok "$example" "installed, tsc $(PATH="$install_node:$PATH" "$target/node_modules/.bin/tsc" --version | cut -d' ' -f2)" "$since"
  else
    report ok "$example" "installed (JavaScript)" "$since"
  fi
  script=$(cd "$target" && "$install_node/node" -p 'require("./package.json").scripts.test ? "test" : "start"')

  while IFS='|' read -r variant environment; do
    for major in "${node_versions[@]}"; do
      since=$(date +%s%N)
      bin="${node_bin[$major]}"
      label="$example${variant:+ ($variant)}"
      log="$logs/$example.$variant.node$major.log"
      env=()
      database=""
      if [[ "$environment" == "DATABASE" ]]; then
        database="eventline_example_$$_${RANDOM}"
        if ! url=$(create_database "$database" 2>"$log"); then
          report FAIL "$label" "CREATE DATABASE $database" "$since" "$log"
          continue
        fi
        databases+=("$database")
        env=("DATABASE_URL=$url")
      elif [[ -n "$environment" ]]; then
        env=("$environment")
      fi
      status=ok
      # a run that does not end (a resource left open) fails by the timeout; the log's first line
      # is the version of the Node that ran it (found on PATH, as npm finds it)
      PATH="$bin:$PATH" run "$log" env "${env[@]}" timeout 300 \
        bash -c "cd '$target' && node --version && npm run --silent $script" || status=FAIL
      [[ -n "$database" ]] && drop_database "$database"
      report "$status" "$label" "node $(head -n 1 "$log")" "$since" "$log"
    done
  done < <(variants "$example")
done

echo "$((${#examples[@]})) examples, $failures failed, $((SECONDS - started))s"
[[ $failures -eq 0 ]]
