#!/usr/bin/env bash
# `docker compose config` on docker-compose.yml, with the example .env, for both profile settings:
#   1. no profile   (COMPOSE_PROFILES empty: real keys, no paper exchange)
#   2. --profile paper (the bundled paper exchange)
# checks that each resolves to the services of the production topology (src/operations/stack/
# topology.ts: postgres, temporal-schema, temporal, temporal-setup, temporal-ui, redis, worker,
# bridge, and paper-exchange with its profile), that STACK_WORKERS / STACK_BRIDGES set the worker
# and bridge counts (default 2 and 2), and that without POSTGRES_PASSWORD compose stops with the
# file's message.
# Exits non-zero, printing compose's own error, when compose refuses the file.
#
# Usage: scripts/compose-config-check.sh [--install] [--which] [--file PATH] [--env-file PATH]
#   --install   when no compose CLI is found, build Compose v2 from the Go module proxy into
#               ${XDG_CACHE_HOME:-~/.cache}/trade-exec/compose-<version>/docker-compose (needs Go
#               >= 1.24; about 3-5 minutes on 2 cores) and link it as the docker CLI plugin, so
#               `docker compose` works too.
#   --which     print the compose command found (one word per line) and exit: 0 found, 1 not.
#   --file      compose file to check (default: docker-compose.yml at the repo root).
#   --env-file  env file (default: .env.example at the repo root).
#
# The CLI is looked for as `docker compose`, then `docker-compose` (v2 or v1 >= 1.28), then the
# cached build. COMPOSE_VERSION picks the version --install builds (default below).
# `docker compose config` needs no Docker engine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/trade-exec/compose-${COMPOSE_VERSION}"
CACHED_BIN="$CACHE_DIR/docker-compose"
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

install=0 which=0
file="$ROOT/docker-compose.yml"
env_file="$ROOT/.env.example"
while [ $# -gt 0 ]; do
  case "$1" in
    --install) install=1 ;;
    --which) which=1 ;;
    --file|-f) file="$2"; shift ;;
    --env-file) env_file="$2"; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Sets COMPOSE (array) to the first compose CLI that answers `version`.
find_compose() {
  COMPOSE=()
  if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  elif [ -x "$CACHED_BIN" ] && "$CACHED_BIN" version >/dev/null 2>&1; then
    COMPOSE=("$CACHED_BIN")
  fi
  [ ${#COMPOSE[@]} -gt 0 ]
}

# Builds Compose $COMPOSE_VERSION into $CACHE_DIR. `go install .../cmd@version` refuses compose's
# module (its go.mod has `exclude` directives), so it is built from a throwaway main module that
# requires it and carries the same excludes; the dependency versions are compose's own.
build_compose() {
  command -v go >/dev/null 2>&1 || { echo "--install needs Go (>= 1.24)" >&2; return 1; }
  local work modfile start
  start=$(date +%s)
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  echo "building docker compose ${COMPOSE_VERSION} into $CACHE_DIR (takes a few minutes)..." >&2
  modfile="$(cd "$work" && go mod download -json "github.com/docker/compose/v2@${COMPOSE_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$modfile" ] || { echo "could not download github.com/docker/compose/v2@${COMPOSE_VERSION}" >&2; return 1; }
  {
    printf 'module trade-exec/compose-build\n\n'
    grep -E '^go [0-9.]+$' "$modfile"
    printf '\nrequire github.com/docker/compose/v2 %s\n\n' "$COMPOSE_VERSION"
    sed -n '/^exclude (/,/^)/p; /^exclude [^(]/p' "$modfile"
  } > "$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/docker/compose/v2/cmd"\n' > "$work/tools.go"
  mkdir -p "$CACHE_DIR"
  (
    cd "$work"
    go mod tidy
    GOBIN="$work/bin" go install -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=${COMPOSE_VERSION}" \
      github.com/docker/compose/v2/cmd
  ) >&2
  mv "$work/bin/cmd" "$CACHED_BIN"
  echo "built $("$CACHED_BIN" version) in $(( $(date +%s) - start ))s" >&2
  if [ ! -e "$PLUGIN_DIR/docker-compose" ]; then
    mkdir -p "$PLUGIN_DIR"
    ln -s "$CACHED_BIN" "$PLUGIN_DIR/docker-compose"
    echo "linked $PLUGIN_DIR/docker-compose -> $CACHED_BIN" >&2
  fi
}

if ! find_compose; then
  if [ "$install" = 1 ]; then
    build_compose
    find_compose || { echo "built compose does not run: $CACHED_BIN" >&2; exit 1; }
  else
    cat >&2 <<EOF
no compose CLI found (tried \`docker compose\`, \`docker-compose\`, $CACHED_BIN).
Install one: $0 --install   (builds Compose ${COMPOSE_VERSION} with Go into the cache above)
         or: apt-get install docker-compose   (Debian's v1.29.2)
EOF
    exit 1
  fi
fi

if [ "$which" = 1 ]; then
  printf '%s\n' "${COMPOSE[@]}"
  exit 0
fi

echo "compose: $("${COMPOSE[@]}" version 2>&1 | head -n1)"
[ -f "$file" ] || { echo "no such file: $file" >&2; exit 1; }
[ -f "$env_file" ] || { echo "no such env file: $env_file" >&2; exit 1; }

# A clean environment: variables in the caller's shell would override the env file's.
# POSTGRES_PASSWORD is empty in .env.example on purpose (compose must stop without it).
run() {
  env -i PATH="$PATH" HOME="$HOME" ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} "$@"
}
errf="$(mktemp)"
trap 'rm -f "$errf"' EXIT
fail=0
check() { # check LABEL EXPECT_PAPER ENV... -- COMPOSE ARGS...
  local label="$1" expect_paper="$2" out services
  shift 2
  if ! out="$(run "$@" 2>"$errf")"; then
    echo "FAIL ($label): compose refused $file:" >&2
    cat "$errf" >&2
    fail=1
    return
  fi
  services="$(printf '%s\n' "$out" | sort | tr '\n' ' ')"
  if [ "$expect_paper" = yes ] && ! grep -qw paper-exchange <<<"$services"; then
    echo "FAIL ($label): paper-exchange missing from the services: $services" >&2; fail=1; return
  fi
  if [ "$expect_paper" = no ] && grep -qw paper-exchange <<<"$services"; then
    echo "FAIL ($label): paper-exchange started without its profile: $services" >&2; fail=1; return
  fi
  local want="$TOPOLOGY_SERVICES"
  [ "$expect_paper" = yes ] && want="$(printf '%s\n' $TOPOLOGY_SERVICES paper-exchange | sort | tr '\n' ' ')"
  if [ "$services" != "$want" ]; then
    echo "FAIL ($label): the services are: $services; the topology's are: $want" >&2; fail=1; return
  fi
  echo "ok   ($label): $services"
}
# The production topology's services, sorted as `sort` sorts them, with a trailing space.
TOPOLOGY_SERVICES="$(printf '%s\n' bridge postgres redis temporal temporal-schema temporal-setup temporal-ui worker | sort | tr '\n' ' ')"
# "service=replicas " for each service with deploy.replicas in `compose config`'s YAML.
replicas_of() {
  awk '/^services:/ { s = 1; next } /^[^ ]/ { s = 0 }
       s && /^  [A-Za-z0-9_.-]+:$/ { svc = $1; sub(/:$/, "", svc) }
       s && /^      replicas: / { print svc "=" $2 }' | sort | tr '\n' ' '
}
check_replicas() { # check_replicas LABEL EXPECTED ENV...
  local label="$1" expected="$2" out got
  shift 2
  if ! out="$(run "$pw" "$rpw" COMPOSE_PROFILES= "$@" "${COMPOSE[@]}" -f "$file" --env-file "$env_file" config 2>"$errf")"; then
    echo "FAIL ($label): compose refused $file:" >&2; cat "$errf" >&2; fail=1; return
  fi
  got="$(printf '%s\n' "$out" | replicas_of)"
  if [ "$got" != "$expected" ]; then
    echo "FAIL ($label): replicas are \"$got\", want \"$expected\"" >&2; fail=1; return
  fi
  echo "ok   ($label): $got"
}
pw=POSTGRES_PASSWORD=compose-config-check
rpw=REDIS_PASSWORD=composeconfigcheck
check "no profile" no "$pw" "$rpw" COMPOSE_PROFILES= \
  "${COMPOSE[@]}" -f "$file" --env-file "$env_file" config --services
check "--profile paper" yes "$pw" "$rpw" COMPOSE_PROFILES= \
  "${COMPOSE[@]}" -f "$file" --env-file "$env_file" --profile paper config --services
# Worker and bridge counts: 2 and 2 with the example .env (topology.ts SERVICE_ROLES), or as set.
check_replicas "default counts" "bridge=2 worker=2 "
check_replicas "STACK_WORKERS=3 STACK_BRIDGES=1" "bridge=1 worker=3 " STACK_WORKERS=3 STACK_BRIDGES=1
# The full resolved model too (config --services skips part of the validation in some versions).
for args in "" "--profile paper"; do
  # shellcheck disable=SC2086
  if ! out="$(run "$pw" "$rpw" COMPOSE_PROFILES= "${COMPOSE[@]}" -f "$file" --env-file "$env_file" $args config --quiet 2>&1)"; then
    echo "FAIL (config --quiet ${args:-no profile}): compose refused $file:" >&2
    echo "$out" >&2
    fail=1
  fi
done

# Without POSTGRES_PASSWORD (as in .env.example) compose must stop with the file's message.
if out="$(run POSTGRES_PASSWORD= "$rpw" "${COMPOSE[@]}" -f "$file" --env-file "$env_file" config --quiet 2>&1)"; then
  echo "FAIL: compose accepted an empty POSTGRES_PASSWORD" >&2; fail=1
elif ! grep -q 'set POSTGRES_PASSWORD in .env' <<<"$out"; then
  echo "FAIL: compose stopped without POSTGRES_PASSWORD, but not with the file's message:" >&2
  echo "$out" >&2; fail=1
else
  echo "ok   (no POSTGRES_PASSWORD): refused with the file's message"
fi

exit "$fail"
