#!/usr/bin/env bash
# Counts what one authenticated read costs the server, exactly: instructions,
# simulated cache misses and branch mispredictions per `GET /project/{id}` on
# the memory store, for Slipway's server and for baseline (a), under valgrind's
# callgrind. Throughput on a shared machine is noisy; these counts are not.
#
#   examples/bench/callgrind.sh [BENCH_BINARY] [READS]
#
# BENCH_BINARY defaults to target/release/slipway-bench (build it with
# `cargo build --release -p slipway-bench`), READS to 2000. Needs valgrind
# and python3. Each server is started with instrumentation off; a user signs
# up, creates a project and reads it 300 times (warm-up), then instrumentation
# is switched on for READS reads over one keep-alive connection. The profiles
# stay in the printed directory for `callgrind_annotate` (`--inclusive=yes`
# for costs with callees). valgrind's CPU has no SHA extensions: both
# servers' HMAC-SHA256 runs in software here (BENCHMARKS.md, sixteenth run).
set -euo pipefail

bin="${1:-target/release/slipway-bench}"
reads="${2:-2000}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p slipway-bench" >&2; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
out="$(mktemp -d)"
secret="slipway-callgrind-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    pkill -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# The HTTP client: `setup` signs up and creates a project (prints token and
# id), `read` sends N reads over one connection.
client() {
  python3 - "$@" <<'PY'
import http.client, json, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    return r.status, r.read()
if mode == "setup":
    status, b = call("POST", "/auth/signup", {"name": "Bench", "email": f"cg{time.time_ns()}@example.com",
                                              "password": "correct horse battery staple"})
    assert status == 201, (status, b)
    token = json.loads(b)["accessToken"]
    status, b = call("POST", "/project", {"name": "bench", "description": "callgrind",
                                          "sourceId": "src-cg", "vmId": "vm-cg"}, token)
    assert status == 201, (status, b)
    print(token, json.loads(b)["id"])
else:
    token, project, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
    for _ in range(n):
        status, b = call("GET", f"/project/{project}", token=token)
        assert status == 200, (status, b)
PY
}

# start NAME ARGS...: starts `slipway-bench ARGS` under callgrind with
# instrumentation off; sets `port` and `vg` (valgrind's pid).
start() {
  local name="$1"; shift
  (sleep infinity | valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes \
     --instr-atstart=no --callgrind-out-file="$out/$name.%p" "$bin" "$@" \
     >"$out/$name.out" 2>"$out/$name.err") >/dev/null 2>&1 &
  pids+=($!)
  port=""
  for _ in $(seq 300); do
    port="$(sed -n 's/^LISTENING .*:\([0-9]*\)$/\1/p' "$out/$name.out" 2>/dev/null || true)"
    [ -n "$port" ] && break
    sleep 0.5
  done
  [ -n "$port" ] || { echo "$name did not start: $(cat "$out/$name.err")" >&2; exit 1; }
  vg="$(pgrep -f "callgrind-out-file=$out/$name" | head -1)"
}

# measure NAME: warm-up reads, then `reads` reads counted; prints the counts
# per read and stops the server.
measure() {
  local name="$1" file
  client "$port" read "$token" "$project" 300
  callgrind_control -i on "$vg" >/dev/null 2>&1
  client "$port" read "$token" "$project" "$reads"
  callgrind_control -d "$vg" >/dev/null 2>&1
  sleep 1
  kill "$vg" 2>/dev/null || true
  file="$(ls "$out/$name".*.1)"
  callgrind_annotate "$file" 2>/dev/null | awk -v name="$name" -v n="$reads" -v f="$file" '
    /^Events recorded:/ { k = 0; for (i = 3; i <= NF; i++) ev[++k] = $i }
    /PROGRAM TOTALS/ && k {
      j = 0
      for (i = 1; i <= NF && j < k; i++) if ($i ~ /^[0-9][0-9,]*$/) { v = $i; gsub(",", "", v); tot[++j] = v }
      printf "%-13s", name
      for (i = 1; i <= k; i++) if (ev[i] ~ /^(Ir|I1mr|D1mr|D1mw|Bcm|Bim)$/) printf "  %s %.0f", ev[i], tot[i] / n
      printf "\n              (%s)\n", f
    }'
}

echo "per read (Ir instructions, I1mr/D1mr/D1mw L1 misses, Bcm/Bim mispredicts):"
start slipway serve --secret "$secret" --database-url memory:
read -r token project < <(client "$port" setup)
measure slipway
# Baseline (a) verifies the same token (same secret) and answers any path.
start baseline serve-baseline --secret "$secret"
measure baseline
