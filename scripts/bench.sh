#!/usr/bin/env bash
# Runs tailcast's three standard load scenarios against a real redis-server
# and tailcast serve on loopback, and prints each report. Reports (JSON) and
# plots (SVG) go to bench-results/.
#
#   W1 latency:    1,000 clients, 500 lines/s of 100 bytes for 10 s
#   W2 throughput: 5,000 clients, 1,000 lines/s of 100 bytes, 3,000 lines
#   W3 memory:     15,000 idle clients
#
# SCENARIOS="W1 W3" runs a subset; WORKERS sets serve's --workers;
# SERVE_ARGS adds flags to tailcast serve.
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=${SCENARIOS:-W1 W2 W3}
workers=${WORKERS:-$(nproc)}
results=bench-results
mkdir -p "$results"

command -v redis-server >/dev/null || { echo "redis-server not found: run make deps (as root) first" >&2; exit 1; }
go build -o "$results/tailcast" .
bin=$results/tailcast

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$work/redis.sock" --save "" --appendonly no \
  --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $work/redis.sock ]] && break; sleep 0.1; done

# Runs one scenario on a fresh server, so one run's leftovers (memory,
# connections in TIME_WAIT) do not skew the next.
run() {
  local name=$1; shift
  local log=$work/$name.log
  : >"$log"
  "$bin" serve --listen 127.0.0.1:0 --workers "$workers" --redis "unix://$work/redis.sock" \
    --file "$name=$log" --admin 127.0.0.1:0 --log-format json ${SERVE_ARGS:-} >"$work/serve-$name.out" 2>&1 &
  local serve=$!
  pids+=($serve)
  local addr=""
  for _ in $(seq 200); do
    addr=$(sed -n 's/.*"msg":"ready".*"listen":"\([^"]*\)".*/\1/p' "$work/serve-$name.out" | head -1)
    [[ -n $addr ]] && break
    sleep 0.05
  done
  [[ -n $addr ]] || { echo "tailcast serve did not start:" >&2; cat "$work/serve-$name.out" >&2; exit 1; }

  echo "== $name: tailcast bench $*"
  "$bin" bench --url "ws://$addr/ws/$name" --server-pid "$serve" \
    --json "$results/$name.json" --plot "$results/$name.svg" "$@" || status=$?
  kill "$serve"; wait "$serve" 2>/dev/null || true
  echo
}

status=0
for scenario in $scenarios; do
  case $scenario in
    W1) run W1 --file "$work/W1.log" --conns 1000 --rate 500 --line-bytes 100 --duration 10s ;;
    W2) run W2 --file "$work/W2.log" --conns 5000 --rate 1000 --line-bytes 100 --lines 3000 ;;
    W3) run W3 --idle --conns 15000 --duration 10s ;;
    *) echo "unknown scenario $scenario: use W1, W2 or W3" >&2; exit 2 ;;
  esac
done
exit $status
