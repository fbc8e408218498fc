#!/usr/bin/env bash
# The gateway against nginx as a reverse proxy (issue 25): both in front of the same upstream
# (nginx serving a small and a 1 MB response), on a free route, over HTTP/1.1 on loopback.
#
#   benches/load/proxy.sh                 # ROUNDS rounds of DURATION per path
#   ROUNDS=6 DURATION=5s benches/load/proxy.sh
#
# What it does:
#   1. installs nginx and wrk (Debian packages) if missing, builds the gateway (--release);
#   2. starts the upstream: nginx, one worker, pinned to UPSTREAM_CPU (default 1), answering
#      /small (2 bytes) and /big (1 MiB, a file);
#   3. starts the two proxies, each pinned to PROXY_CPU (default 0): nginx (one worker,
#      `proxy_pass` to an `upstream` block with `keepalive 32`, HTTP/1.1, access log off) and
#      the gateway (`/small` and `/big` free routes, `accessLog: false`, RUST_LOG=warn);
#   4. for each round and each path, runs `wrk -t1 -c$CONNECTIONS -d$DURATION --latency`
#      pinned to CLIENT_CPU (default 1) against nginx then the gateway, and reads each proxy's
#      CPU time (utime + stime of its processes, /proc) before and after;
#   5. prints, per path and proxy, the median over the rounds of requests/s, its p99 and CPU
#      microseconds per request, and the gateway's ratios to nginx: req/s (target >= 0.8),
#      p99 (target <= 1.5), CPU per request.
#
# Not run in CI. Needs 2 CPUs for the default pinning.
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-6}
CONNECTIONS=${CONNECTIONS:-32}
PROXY_CPU=${PROXY_CPU:-0}
UPSTREAM_CPU=${UPSTREAM_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-1}

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export PATH="$PATH:/usr/sbin"
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} (apt-get)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
(cd "$root" && cargo build --release --locked -q -p x402-gateway)
gateway="$root/target/release/x402-gateway"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

upstream_port=$(free_port)
nginx_port=$(free_port)
gateway_port=$(free_port)
mkdir -p "$work/www" "$work/up" "$work/front"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$work/www/big"
chmod -R a+rX "$work" # nginx's workers run as an unprivileged user

nginx_conf() { # dir, server block
  cat >"$1/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1;
  uwsgi_temp_path $1; scgi_temp_path $1;
  $2
}
EOF
}
nginx_conf "$work/up" "
  server {
    listen 127.0.0.1:$upstream_port;
    keepalive_requests 1000000;
    location = /small { return 200 'ok'; }
    location = /big { root $work/www; }
  }"
nginx_conf "$work/front" "
  upstream app { server 127.0.0.1:$upstream_port; keepalive 32; }
  server {
    listen 127.0.0.1:$nginx_port;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
cat >"$work/gateway.yaml" <<EOF
listen: 127.0.0.1:$gateway_port
mode: proxy
upstream: http://127.0.0.1:$upstream_port
accessLog: false
facilitator: dev
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes:
  - { path: /small, free: true }
  - { path: /big, free: true }
EOF

taskset -c "$UPSTREAM_CPU" nginx -c "$work/up/nginx.conf" -p "$work/up" 2>"$work/up/stderr" &
pids+=($!)
taskset -c "$PROXY_CPU" nginx -c "$work/front/nginx.conf" -p "$work/front" 2>"$work/front/stderr" &
nginx_pid=$!
pids+=($nginx_pid)
RUST_LOG=warn taskset -c "$PROXY_CPU" "$gateway" --config "$work/gateway.yaml" 2>"$work/gateway.log" &
gateway_pid=$!
pids+=($gateway_pid)
wait_port "$upstream_port"; wait_port "$nginx_port"; wait_port "$gateway_port"

# CPU ticks (utime + stime) of a process and its children processes (nginx's worker).
ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    read -r -a stat <"/proc/$pid/stat"
    total=$((total + stat[13] + stat[14]))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

results="$work/results"
for round in $(seq "$ROUNDS"); do
  for path in small big; do
    for proxy in nginx gateway; do
      if [[ $proxy == nginx ]]; then port=$nginx_port pid=$nginx_pid; else port=$gateway_port pid=$gateway_pid; fi
      before=$(ticks "$pid")
      out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/$path")
      after=$(ticks "$pid")
      requests=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
      errors=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')
      cpu_us=$(python3 -c "print(round(($after - $before) / $hz * 1e6 / max($requests, 1), 2))")
      echo "$path $proxy $round $rps $p99 $cpu_us $errors" | tee -a "$results" >&2
    done
  done
done

python3 - "$results" <<'EOF'
import statistics, sys

def ms(text):
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)

rows = {}
for line in open(sys.argv[1]):
    path, proxy, _round, rps, p99, cpu, *errors = line.split()
    if errors:
        print(f"WARNING {path} {proxy}: {' '.join(errors)}")
    rows.setdefault((path, proxy), []).append((float(rps), ms(p99), float(cpu)))

def median(values):
    return statistics.median(values)

print(f"{'path':6} {'proxy':8} {'req/s':>10} {'p99 ms':>8} {'CPU us/req':>11}")
for path in ("small", "big"):
    medians = {}
    for proxy in ("nginx", "gateway"):
        runs = rows[(path, proxy)]
        medians[proxy] = tuple(median([r[i] for r in runs]) for i in range(3))
        rps, p99, cpu = medians[proxy]
        print(f"{path:6} {proxy:8} {rps:10.0f} {p99:8.2f} {cpu:11.2f}")
    (n_rps, n_p99, n_cpu), (g_rps, g_p99, g_cpu) = medians["nginx"], medians["gateway"]
    print(f"{path:6} {'ratio':8} {g_rps / n_rps:10.2f}x {g_p99 / n_p99:7.2f}x {g_cpu / n_cpu:10.2f}x"
          "   (gateway / nginx; targets: req/s >= 0.8x, p99 <= 1.5x)")
EOF
