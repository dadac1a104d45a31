#!/usr/bin/env bash
# A real local canary stack on loopback and free ports, then the cockpit on it.
#
#   scripts/stack.sh                 start the stack, run the cockpit on it, stop all on exit
#   scripts/stack.sh --no-cockpit    start the stack, print its URLs and config, run until
#                                    Ctrl-C / SIGTERM (for tests, or to run the cockpit yourself)
#   options:  --dir DIR     put everything in DIR (default: a new mktemp dir, removed on exit)
#             --keep        do not remove the directory on exit
#             --debug       use debug builds (faster to build, slower to run)
#   env:      CANARY_ERROR_RATE (canary's injected 5xx share, default 0.01),
#             CANARY_LATENCY_MS (canary's latency, default 30), LOAD_RATE (req/s, default 20),
#             CANARY_SAMPLE (a canary-sample binary to use instead of building one)
#
# What runs: canary-sample twice (emergence-app-v1 = stable v1, emergence-app-v2 = canary
# v2, JSON request logs in DIR/v1.log and DIR/v2.log), HAProxy (frontend -> backend `app`
# with both as servers, v1 weight 100 and v2 weight 0; stats socket DIR/haproxy.sock at
# level admin; its prometheus-exporter on a stats frontend), Prometheus scraping HAProxy
# and both apps every second (storage in DIR), and a load generator through HAProxy.
# The cockpit's config is written to DIR/canary.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

cockpit=1
keep=0
profile=release
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-cockpit) cockpit=0 ;;
    --keep) keep=1 ;;
    --debug) profile=debug ;;
    --dir) dir=${2:?--dir needs a directory}; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stack.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

for cmd in haproxy prometheus curl; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    echo "stack.sh: $cmd is not installed (apt-get install -y $cmd)" >&2
    exit 1
  fi
done
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
prometheus_bin=$(command -v prometheus || echo /usr/sbin/prometheus)

if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/canary-stack.XXXXXX")
else
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$keep" = 0 ]; then
    rm -rf "$dir"
  else
    echo "stack.sh: kept $dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sets REPLY to a TCP port on 127.0.0.1 that nothing listens on, below the kernel's
# ephemeral range (so no client connection or bind(0) takes it meanwhile),
# and not handed out before by this script.
given_ports=" "
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    case "$given_ports" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      given_ports="$given_ports$port "
      REPLY=$port
      return 0
    fi
  done
  echo "stack.sh: no free port found" >&2
  return 1
}

# Waits until FILE has a first line, and prints it.
first_line() {
  local file=$1 what=$2
  for _ in $(seq 1 100); do
    if [ -s "$file" ]; then
      head -n 1 "$file"
      return 0
    fi
    sleep 0.1
  done
  echo "stack.sh: $what did not start (see $file)" >&2
  return 1
}

# Waits until an HTTP URL answers 2xx.
wait_http() {
  local url=$1 what=$2
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "stack.sh: $what did not answer on $url" >&2
  for log in "$dir/haproxy.log" "$dir/prometheus.log" "$dir/v1.err" "$dir/v2.err"; do
    [ -s "$log" ] && { echo "--- $log (last lines):" >&2; tail -n 15 "$log" >&2; }
  done
  return 1
}

build_flags=()
[ "$profile" = release ] && build_flags=(--release)
sample=${CANARY_SAMPLE:-}
if [ "$cockpit" = 1 ]; then
  echo "==> building ($profile)"
  cargo build "${build_flags[@]}" --bins
elif [ -z "$sample" ]; then
  echo "==> building canary-sample ($profile)"
  cargo build "${build_flags[@]}" --bin canary-sample
fi
sample=${sample:-"$repo/target/$profile/canary-sample"}

echo "==> sample apps"
"$sample" --listen 127.0.0.1:0 --name emergence-app-v1 --version v1 \
  --latency-ms 20 --jitter-ms 10 --error-rate 0.002 --seed 1 \
  --log-file "$dir/v1.log" >"$dir/v1.out" 2>"$dir/v1.err" &
pids+=($!)
"$sample" --listen 127.0.0.1:0 --name emergence-app-v2 --version v2 \
  --latency-ms "${CANARY_LATENCY_MS:-30}" --jitter-ms 10 --error-rate "${CANARY_ERROR_RATE:-0.01}" \
  --seed 2 --log-file "$dir/v2.log" >"$dir/v2.out" 2>"$dir/v2.err" &
pids+=($!)
v1=$(first_line "$dir/v1.out" emergence-app-v1)
v2=$(first_line "$dir/v2.out" emergence-app-v2)

echo "==> haproxy"
free_port; fe_port=$REPLY
free_port; stats_port=$REPLY
cat >"$dir/haproxy.cfg" <<EOF
global
  stats socket $dir/haproxy.sock mode 600 level admin
  stats timeout 30s

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s

frontend emergence-app
  bind 127.0.0.1:$fe_port
  http-request set-header X-Forwarded-Proto http
  default_backend app

frontend stats
  bind 127.0.0.1:$stats_port
  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats

backend app
  balance roundrobin
  option httpchk GET /health/readiness
  server emergence-app-v1 $v1 weight 100 check inter 1s
  server emergence-app-v2 $v2 weight 0 check inter 1s
EOF
"$haproxy_bin" -c -q -f "$dir/haproxy.cfg"
"$haproxy_bin" -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$fe_port/api/health" "haproxy"

echo "==> prometheus"
free_port; prom_port=$REPLY
cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: haproxy
    static_configs:
      - targets: ["127.0.0.1:$stats_port"]
  - job_name: app
    metrics_path: /api/metrics
    static_configs:
      - targets: ["$v1"]
        labels:
          revision: emergence-app-v1
      - targets: ["$v2"]
        labels:
          revision: emergence-app-v2
EOF
"$prometheus_bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port" >"$dir/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prom_port/-/ready" "prometheus"

echo "==> load (${LOAD_RATE:-20} req/s)"
"$sample" --load "http://127.0.0.1:$fe_port/api/work" --rate "${LOAD_RATE:-20}" \
  >"$dir/load.out" 2>&1 &
pids+=($!)

cat >"$dir/canary.toml" <<EOF
# Written by scripts/stack.sh for the local stack in $dir.
[service]
name = "emergence-app"
platform = "haproxy"

[haproxy]
socket = "$dir/haproxy.sock"
backend = "app"
stable = "emergence-app-v1"
canary = "emergence-app-v2"

# The stack's own audit journal (kept with --keep).
[journal]
dir = "$dir/journal"

[refresh]
service = "1s"
metrics = "2s"

[prometheus]
url = "http://127.0.0.1:$prom_port"
rate_window = "15s"

[gates]
window = "30s"
sustain = "10s"
min_requests = 20

# The team's phases with 30 s windows, so a whole promotion takes two minutes.
[plan]
steps = [
  { percent = 10, observe = "30s" },
  { percent = 25, observe = "30s" },
  { percent = 50, observe = "30s" },
  { percent = 100, observe = "0s" },
]

[[checks]]
name = "ready"
kind = "ready"

[[checks]]
name = "health"
kind = "http"
url = "{tag_url}/api/health"
json = ["status == \"ok\""]
retries = 3
interval = "1s"

[[checks]]
name = "readiness"
kind = "http"
url = "{tag_url}/health/readiness"

[[checks]]
name = "memory-analysis"
kind = "metrics-endpoint"
url = "{tag_url}/api/metrics"
condition = "memory_analysis_failure_total <= 2"

[[checks]]
name = "cache-hit-rate"
kind = "metrics-endpoint"
url = "{tag_url}/api/metrics"
condition = "cache_hits_total / (cache_hits_total + cache_misses_total) > 0.8"
blocking = false

[[checks]]
name = "home-page"
kind = "http"
url = "{tag_url}/"

[[checks]]
name = "assets"
kind = "http"
url = "{tag_url}/assets/"

[[checks]]
name = "no-errors-in-logs"
kind = "logs"
severity = "ERROR"
window = "1m"
blocking = false

[[checks]]
name = "5xx-vs-stable"
kind = "query"
metric = "error_percent"
max = 1.0
compare_to_stable = true
margin = 0.5
window = "30s"
timeout = "40s"

[logs.files]
"emergence-app-v1" = "$dir/v1.log"
"emergence-app-v2" = "$dir/v2.log"
EOF

cat <<EOF
==> the stack is up
  service (through haproxy)  http://127.0.0.1:$fe_port/
  emergence-app-v1 (stable)  http://$v1/   log $dir/v1.log
  emergence-app-v2 (canary)  http://$v2/   log $dir/v2.log
  haproxy runtime api        $dir/haproxy.sock   (e.g. echo "show stat" | socat stdio $dir/haproxy.sock)
  haproxy stats / exporter   http://127.0.0.1:$stats_port/stats   http://127.0.0.1:$stats_port/metrics
  prometheus                 http://127.0.0.1:$prom_port/
  cockpit config             $dir/canary.toml
EOF

if [ "$cockpit" = 0 ]; then
  echo "READY $dir/canary.toml"
  echo "(Ctrl-C or SIGTERM stops everything)"
  # Sleep in the background so that signals are handled at once.
  while true; do
    sleep 3600 &
    pids+=($!)
    wait $! || true
  done
fi

cargo run "${build_flags[@]}" --bin canary -- --config "$dir/canary.toml"
