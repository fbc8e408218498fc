#!/usr/bin/env bash
# Load test: our layer, the bare app and x402-axum over HTTP/1.1 on loopback, with wrk.
#
#   benches/load/run.sh            # every path, ROUNDS rounds of DURATION each
#   DURATION=10s ROUNDS=7 benches/load/run.sh
#   LOAD_SERVER_SERVICE_TIMES=1 benches/load/run.sh   # servers also log their own service times
#   PAYMENTS_CACHE=/tmp/pools benches/load/run.sh      # keep the signed payments for the next run
#   ONLY='paid|bare/weather' benches/load/run.sh        # only the paths whose name matches (grep -E)
#   INCUMBENT=0 ONLY='bare/weather|paid/signature_off|ledger' benches/load/run.sh  # no x402-axum (no aws-lc build)
#
# What it does:
#   1. installs wrk (Debian package) if it is missing, builds `load-server` with `--features incumbent` (the bench profile: release with debug info, so it shares the
#      benchmarks' build);
#   2. signs PAYMENTS payments for our offer and for x402-axum's (`load-server sign`), and gives
#      each round its own slice of PAYMENTS / ROUNDS of them, so no payment is sent twice over
#      the run (default 300 000 per round: enough for 60 k paid requests/s over 5 s);
#   3. for each round and each path, starts a fresh `load-server serve` pinned to SERVER_CPU
#      (a fresh process = a fresh replay guard, since each payment is accepted once), runs
#      `wrk -t2 -c$CONNECTIONS -d$DURATION --latency` pinned to CLIENT_CPU, and stops it;
#   4. prints, per path, the median over the rounds of requests/s, its ratio to the bare
#      request the path replaces, and the p50/p90/p99 latencies of that median round; then the
#      p99 of every round of the paid paths against x402-axum's paid p99 in the same round.
#
# Paths: bare GET /health and /weather; our layer (Router::layer) on the free /health, the 402
# of /weather (and the same with v1 off: `{}` body, as the official v2 server), paid /weather
# with the local signature check on and off, and paid /weather with a SQLite payment ledger
# (signature check off; its ratio is to the paid path without a ledger; a fresh ledger file per
# server); x402-axum on /health
# (no layer on that route), its 402 and paid /weather. Paid runs send a distinct pre-signed
# payment per request (paid.lua); the server's facilitator is the benchmarks' in-process
# instant one (it accepts what passes our checks and settles nothing), so the paid figures are
# the server's own cost, not a facilitator's. A paid run that answers anything but 2xx (pool
# used up, so repeats hit the replay guard) is flagged in the table.
#
# Not run in CI. Needs 2 CPUs for the default pinning.
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PAYMENTS=${PAYMENTS:-$((ROUNDS * 300000))}
ONLY=${ONLY:-.}
SERVICE_LOG=${LOAD_SERVER_SERVICE_TIMES:+1}
INCUMBENT=${INCUMBENT:-1}

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/benches/load"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
  echo "installing wrk (apt-get)" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
fi

echo "building load-server (release)" >&2
if [[ $INCUMBENT == 1 ]]; then
  cargo build --profile bench --quiet -p benches --features incumbent --example load-server --manifest-path "$root/Cargo.toml"
  targets=(ours x402-axum)
  servers=5
else
  cargo build --profile bench --quiet -p benches --example load-server --manifest-path "$root/Cargo.toml"
  targets=(ours)
  servers=4
fi
server="$root/target/release/examples/load-server"

# PAYMENTS_CACHE=DIR keeps the signed pools there and reuses them while they are big enough.
pools=${PAYMENTS_CACHE:-$work}
mkdir -p "$pools"
for target in "${targets[@]}"; do
  if [[ -f $pools/$target.txt && $(wc -l <"$pools/$target.txt") -ge $PAYMENTS ]]; then
    echo "reusing $pools/$target.txt" >&2
  else
    echo "signing $PAYMENTS payments for $target" >&2
    "$server" sign "$target" "$PAYMENTS" >"$pools/$target.txt"
  fi
done

# start_server <local-checks on|off>: starts a pinned server, sets $server_pid and the ports.
start_server() {
  export LOAD_SERVER_LEDGER="$work/ledger.db"
  if [[ -n $SERVICE_LOG ]]; then
    taskset -c "$SERVER_CPU" "$server" serve --local-checks "$1" >"$work/ports" 2>>"$work/service.log" &
  else
    taskset -c "$SERVER_CPU" "$server" serve --local-checks "$1" >"$work/ports" &
  fi
  server_pid=$!
  for _ in $(seq 400); do
    [[ $(wc -l <"$work/ports") -ge $servers ]] && break
    sleep 0.05
  done
  port_bare=$(awk '$1 == "bare" { print $2 }' "$work/ports")
  port_x402=$(awk '$1 == "x402" { print $2 }' "$work/ports")
  port_x402_v2=$(awk '$1 == "x402-v2-only" { print $2 }' "$work/ports")
  port_x402_ledger=$(awk '$1 == "x402-ledger" { print $2 }' "$work/ports")
  port_x402_axum=$(awk '$1 == "x402-axum" { print $2 }' "$work/ports")
  [[ -n $port_bare && -n $port_x402 && -n $port_x402_v2 && -n $port_x402_ledger ]] || { echo "server did not start" >&2; exit 1; }
  [[ $INCUMBENT != 1 || -n $port_x402_axum ]] || { echo "server did not start" >&2; exit 1; }
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  rm -f "$work/ledger.db" "$work/ledger.db-wal" "$work/ledger.db-shm"
}

# The paths: name | server | local checks | path | payments file (or -) | baseline | status
paths=(
  "bare/health|bare|on|/health|-|bare/health|200"
  "bare/weather|bare|on|/weather|-|bare/weather|200"
  "x402/free_route|x402|on|/health|-|bare/health|200"
  "x402/402|x402|on|/weather|-|bare/weather|402"
  "x402/402/v2_only|x402-v2|on|/weather|-|bare/weather|402"
  "x402/paid/signature_off|x402|off|/weather|ours|bare/weather|200"
  "x402/paid/signature_on|x402|on|/weather|ours|bare/weather|200"
  "x402/paid/ledger_sqlite|x402-ledger|off|/weather|ours|x402/paid/signature_off|200"
  "x402-axum/unpriced|x402-axum|on|/health|-|bare/health|200"
  "x402-axum/402|x402-axum|on|/weather|-|bare/weather|402"
  "x402-axum/paid|x402-axum|on|/weather|x402-axum|bare/weather|200"
)

selected=()
for spec in "${paths[@]}"; do
  [[ $INCUMBENT == 1 || ${spec%%|*} != x402-axum/* ]] || continue
  if grep -qE "$ONLY" <<<"${spec%%|*}"; then selected+=("$spec"); fi
done
[[ ${#selected[@]} -gt 0 ]] || { echo "ONLY=$ONLY matches no path" >&2; exit 1; }
paths=("${selected[@]}")

# results: one line per run: name rps p50 p90 p99 non2xx
: >"$work/results"
for round in $(seq "$ROUNDS"); do
  for spec in "${paths[@]}"; do
    IFS='|' read -r name which checks path payments _ _ <<<"$spec"
    start_server "$checks"
    case $which in
      bare) port=$port_bare ;;
      x402) port=$port_x402 ;;
      x402-v2) port=$port_x402_v2 ;;
      x402-ledger) port=$port_x402_ledger ;;
      x402-axum) port=$port_x402_axum ;;
    esac
    url="http://127.0.0.1:$port$path"
    [[ -z $SERVICE_LOG ]] || echo "round $round: $name" >>"$work/service.log"
    if [[ $payments != - ]]; then
      # This round's own slice of the pool.
      per_round=$((PAYMENTS / ROUNDS))
      sed -n "$(((round - 1) * per_round + 1)),$((round * per_round))p" "$pools/$payments.txt" >"$work/slice.txt"
      out=$(taskset -c "$CLIENT_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s "$here/paid.lua" "$url" -- "$work/slice.txt" "$THREADS")
    else
      out=$(taskset -c "$CLIENT_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
    fi
    stop_server
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p90=$(awk '$1 == "90%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
    total=$(awk '/requests in/ { print $1 }' <<<"$out")
    echo "$name $rps $p50 $p90 $p99 ${non2xx:-0} $total $round" >>"$work/results"
    echo "round $round: $name $rps req/s (p50 $p50, p99 $p99; non-2xx ${non2xx:-0} of $total)" >&2
  done
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU, median of $ROUNDS round(s)"
printf '| %-24s | %9s | %13s | %9s | %9s | %9s | %s\n' path "req/s" "vs bare" p50 p90 p99 "answers"
printf '|%s|%s|%s|%s|%s|%s|%s\n' "--------------------------" "----------:" "---------------:" "----------:" "----------:" "----------:" "------"
for spec in "${paths[@]}"; do
  IFS='|' read -r name _ _ _ _ baseline status <<<"$spec"
  # The median round by req/s (for an even ROUNDS, the upper middle).
  line=$(awk -v n="$name" '$1 == n' "$work/results" | sort -k2,2 -g | awk -v r="$ROUNDS" 'NR == int(r / 2) + 1')
  base=$(awk -v n="$baseline" '$1 == n' "$work/results" | sort -k2,2 -g | awk -v r="$ROUNDS" 'NR == int(r / 2) + 1 { print $2 }')
  read -r _ rps p50 p90 p99 non2xx total _ <<<"$line"
  # (No ratio when ONLY left the baseline out.)
  ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')
  if [[ $status == 200 ]]; then
    answers="all 2xx"
    [[ $non2xx == 0 ]] || answers="WARNING: $non2xx of $total not 2xx"
  else
    answers="$status expected: $non2xx of $total non-2xx"
  fi
  printf '| %-24s | %9.0f | %6s× %-6s | %9s | %9s | %9s | %s\n' "$name" "$rps" "$ratio" "${baseline#bare/}" "$p50" "$p90" "$p99" "$answers"
done

# p99 in every round: ours paid against x402-axum's paid of the same round (wrk prints
# latencies with a unit: us, ms or s).
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'; }
echo
echo "p99 per round (ms), and its ratio to x402-axum/paid's p99 in the same round"
printf '| %-24s |' path
for round in $(seq "$ROUNDS"); do printf ' %13s |' "round $round"; done
printf ' %s\n' worst
for name in x402/paid/signature_off x402/paid/signature_on x402-axum/paid; do
  # Both this path and x402-axum's paid must have run (ONLY may leave either out).
  awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$work/results" || continue
  awk '$1 == "x402-axum/paid" { found = 1 } END { exit !found }' "$work/results" || continue
  printf '| %-24s |' "$name"
  worst=0
  for round in $(seq "$ROUNDS"); do
    p99=$(to_ms "$(awk -v n="$name" -v r="$round" '$1 == n && $8 == r { print $5 }' "$work/results")")
    ref=$(to_ms "$(awk -v r="$round" '$1 == "x402-axum/paid" && $8 == r { print $5 }' "$work/results")")
    ratio=$(awk -v a="$p99" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')
    worst=$(awk -v a="$ratio" -v w="$worst" 'BEGIN { print (a > w) ? a : w }')
    printf ' %6s %5s× |' "$p99" "$ratio"
  done
  printf ' %s×\n' "$worst"
done
if [[ -n $SERVICE_LOG ]]; then
  echo
  echo "the servers' own service times (LOAD_SERVER_SERVICE_TIMES):"
  cat "$work/service.log"
fi
