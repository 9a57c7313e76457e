#!/usr/bin/env bash
# Runs slipway-bench with throwaway PostgreSQL and Redis servers (temp dirs,
# free ports on 127.0.0.1, stopped on exit), so every store is measured:
#
#   examples/bench/with-backends.sh [slipway-bench flags...]
#
# A backend that cannot be started is skipped with a notice. PG_EXTRA_OPTS
# adds PostgreSQL server settings, e.g. PG_EXTRA_OPTS="-c synchronous_commit=off"
# for an experiment.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp="$(mktemp -d -t slipway-bench.XXXXXX)"
chmod 755 "$tmp"
pg_data=""
redis_pid=""
export PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

as_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  set +e
  if [ -n "$pg_data" ]; then as_pg "$PG_BIN/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1; fi
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [ -x "$PG_BIN/initdb" ]; then
  pg_data="$tmp/pg"; mkdir -p "$pg_data"
  if [ "$(id -u)" = "0" ]; then chown postgres "$pg_data"; fi
  port="$(free_port)"
  if as_pg "$PG_BIN/initdb" -D "$pg_data" -A trust -U postgres >"$tmp/initdb.log" 2>&1 &&
     as_pg "$PG_BIN/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 30 \
       -o "-p $port -k $pg_data -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_EXTRA_OPTS:-}" start >/dev/null; then
    export SLIPWAY_BENCH_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  else
    echo "notice: PostgreSQL could not be started; its scenarios are skipped" >&2; pg_data=""
  fi
else
  echo "notice: no $PG_BIN/initdb; PostgreSQL scenarios are skipped" >&2
fi

if command -v redis-server >/dev/null 2>&1; then
  port="$(free_port)"; mkdir -p "$tmp/redis"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/redis" --save "" --appendonly no \
    --daemonize no >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 50); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
      export SLIPWAY_BENCH_REDIS_URL="redis://127.0.0.1:$port"; break
    fi
    sleep 0.1
  done
  [ -n "${SLIPWAY_BENCH_REDIS_URL:-}" ] || echo "notice: redis-server did not answer; Redis scenarios are skipped" >&2
else
  echo "notice: redis-server is not installed; Redis scenarios are skipped" >&2
fi

# The 10,000-socket scenarios need a descriptor per socket in the bench and
# in the server child (the bench also raises its soft limit to the hard one).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo run --release -p slipway-bench -- "$@"
