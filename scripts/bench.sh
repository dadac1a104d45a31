#!/usr/bin/env bash
# End-to-end and micro benchmarks of the cockpit, checked against the budgets
# of issue 6. Exits non-zero when a budget is broken (the test suite never runs
# this). Results go to target/bench/results.txt (name=value) and a table on
# standard output. See BENCHMARKS.md for the numbers and what they mean.
#
#   scripts/bench.sh            full run (about 15 minutes)
#   scripts/bench.sh --quick    shorter windows (about 5 minutes): idle 20 s,
#                               memory after 2 minutes of logs, 20 tries
#   --no-micro                  skip `cargo bench` (reuse target/criterion)
#
# What it does:
#  - first, scripts/no-fakes.sh: the release binary carries no test double;
#  - micro: `cargo bench --bench micro` (criterion), read from
#    target/criterion/*/new/estimates.json: render time per frame, ingestion
#    lines/s, update actions/s, exposition MB/s;
#  - idle: `canary --demo` in tmux (a private server, window 120x40), the
#    pane's output piped to a file (`pipe-pane`): CPU from /proc/PID/stat
#    (utime+stime) over the window, bytes written to the terminal per second,
#    then one `+` and the bytes of the 2 s that follow (less the idle rate);
#  - memory: the simulator with benches/e2e/firehose.toml (~1 000 log
#    lines/s) and [logs] buffer_lines = 100000, in tmux: VmRSS at the end;
#  - first frame and latencies: benches/e2e/helper.rs (example bench-e2e),
#    which runs the binary in its own pty and the Cloud Run fake on loopback
#    (see its header);
#  - the judge: benches/judge/replay.rs (example judge-bench), seeded, replays
#    healthy and bad canaries through the simulator's traffic model and
#    prints fixed thresholds vs the statistical judge (target/bench/judge.md).
set -euo pipefail

QUICK=0
MICRO=1
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        --no-micro) MICRO=0 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    IDLE_SECS=20; MEM_SECS=120; TRIES=20; FRAMES=5
else
    IDLE_SECS=60; MEM_SECS=600; TRIES=100; FRAMES=10
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: > "$RESULTS"
WORK=$(mktemp -d /tmp/canary-bench.XXXXXX)
SOCK="canary-bench-$$"
started=$(date +%s)

cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

put() { echo "$1=$2" >> "$RESULTS"; }
get() { grep -m1 "^$1=" "$RESULTS" | cut -d= -f2-; }
log() { echo "bench: $*" >&2; }

log "building the release binary and the helper"
cargo build --release --quiet --bin canary --example bench-e2e
BIN="$ROOT/target/release/canary"
HELPER="$ROOT/target/release/examples/bench-e2e"
scripts/no-fakes.sh "$BIN" >&2

# --- micro-benchmarks ---------------------------------------------------------
if [ "$MICRO" = 1 ]; then
    log "cargo bench --bench micro"
    cargo bench --quiet --bench micro >"$OUT/micro.txt" 2>&1 || { cat "$OUT/micro.txt"; exit 1; }
fi
est() { # group function -> mean ns
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' \
        "$ROOT/target/criterion/$1/$2/new/estimates.json"
}
if [ -d "$ROOT/target/criterion/render" ]; then
    put render_120x40_ms "$(awk -v n="$(est render 120x40)" 'BEGIN{printf "%.3f", n/1e6}')"
    put render_200x60_ms "$(awk -v n="$(est render 200x60)" 'BEGIN{printf "%.3f", n/1e6}')"
    put render_120x40_rare_filter_ms "$(awk -v n="$(est render 120x40_rare_filter)" 'BEGIN{printf "%.3f", n/1e6}')"
    for f in cloud_logging file_json file_plain; do
        put "ingest_${f}_lines_per_s" "$(awk -v n="$(est ingest $f)" 'BEGIN{printf "%.0f", 1000/(n/1e9)}')"
    done
    # The mix is counted per pass by the bench: read criterion's throughput.
    per=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["throughput"]["Elements"])' \
        "$ROOT/target/criterion/update/mix/new/benchmark.json")
    put update_actions_per_s "$(awk -v n="$(est update mix)" -v e="$per" 'BEGIN{printf "%.0f", e/(n/1e9)}')"
    bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["throughput"]["Bytes"])' \
        "$ROOT/target/criterion/exposition/parse/new/benchmark.json")
    put exposition_mb_per_s "$(awk -v n="$(est exposition parse)" -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6/(n/1e9)}')"
fi

# --- the binary in tmux -------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
size_of() { stat -c %s "$1"; }

# start NAME HOME ARGS...: a tmux session 120x40 running the binary; sets PID.
start() {
    local name=$1 home=$2; shift 2
    mkdir -p "$home"
    tmux -L "$SOCK" -f /dev/null new-session -d -s "$name" -x 120 -y 40 \
        "cd '$home' && exec env -i HOME='$home' XDG_STATE_HOME='$home/state' XDG_CONFIG_HOME='$home/config' TERM=xterm-256color USER=bench PATH='$PATH' '$BIN' $*"
    tmux -L "$SOCK" set-option -t "$name" window-size manual >/dev/null
    tmux -L "$SOCK" resize-window -t "$name" -x 120 -y 40 >/dev/null
    tmux -L "$SOCK" pipe-pane -t "$name" -o "cat >> '$OUT/$name.raw'"
    PID=$(tmux -L "$SOCK" display-message -p -t "$name" '#{pane_pid}')
}

# idle: the demo, live.
rm -f "$OUT/idle.raw"
log "idle: canary --demo for ${IDLE_SECS}s (after 10 s to settle)"
start idle "$WORK/idle" --demo
sleep 10
c0=$(cpu_ticks "$PID"); b0=$(size_of "$OUT/idle.raw"); t0=$(date +%s.%N)
sleep "$IDLE_SECS"
c1=$(cpu_ticks "$PID"); b1=$(size_of "$OUT/idle.raw"); t1=$(date +%s.%N)
idle_rate=$(awk -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.0f", (b1-b0)/(t1-t0)}')
put idle_cpu_percent "$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", 100*(c1-c0)/hz/(t1-t0)}')"
put steady_bytes_per_s "$idle_rate"
# One traffic change: `+`, then the 2 s that follow, less the idle rate.
b0=$(size_of "$OUT/idle.raw"); t0=$(date +%s.%N)
tmux -L "$SOCK" send-keys -t idle '+'
sleep 2
b1=$(size_of "$OUT/idle.raw"); t1=$(date +%s.%N)
put traffic_change_bytes "$(awk -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v r="$idle_rate" 'BEGIN{x=(b1-b0)-r*(t1-t0); printf "%.0f", (x<0?0:x)}')"
put traffic_change_window_bytes "$((b1 - b0))"
tmux -L "$SOCK" capture-pane -p -t idle > "$OUT/idle.screen"
tmux -L "$SOCK" send-keys -t idle 'q'
sleep 1

# memory: ~1 000 log lines/s into a 100 000-line ring.
rm -f "$OUT/memory.raw"
mkdir -p "$WORK/memory"
cat > "$WORK/memory/canary.toml" <<EOF
[service]
platform = "simulator"
name = "emergence-app"

[logs]
buffer_lines = 100000

[demo]
scenario = "$ROOT/benches/e2e/firehose.toml"

[journal]
dir = "$WORK/memory/journal"

[diagnostics]
log_dir = "$WORK/memory/log"
EOF
log "memory: firehose scenario for ${MEM_SECS}s"
start memory "$WORK/memory" --config "$WORK/memory/canary.toml"
sleep 5
c0=$(cpu_ticks "$PID"); m0=$(awk '/VmRSS/{print $2}' "/proc/$PID/status"); t0=$(date +%s.%N)
sleep "$MEM_SECS"
c1=$(cpu_ticks "$PID"); t1=$(date +%s.%N)
put memory_rss_mib "$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$PID/status")"
put memory_hwm_mib "$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$PID/status")"
put memory_rss_at_5s_mib "$(awk -v m="$m0" 'BEGIN{printf "%.1f", m/1024}')"
put firehose_cpu_percent "$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", 100*(c1-c0)/hz/(t1-t0)}')"
tmux -L "$SOCK" capture-pane -p -t memory > "$OUT/memory.screen"
# The log panel's title tells how many lines the ring holds.
put memory_log_title "$(grep -m1 -o 'Logs [^─]*' "$OUT/memory.screen" | tr -s ' ' | head -c 80 || true)"
tmux -L "$SOCK" send-keys -t memory 'q'
sleep 1

# --- the helper: first frame, latencies ----------------------------------------
log "first frame: $FRAMES starts"
"$HELPER" first-frame "$BIN" "$FRAMES" >> "$RESULTS"
log "latency: $TRIES tries against the Cloud Run fake"
"$HELPER" latency "$BIN" "$TRIES" >> "$RESULTS"

# --- the judge: thresholds vs the statistical judge on replayed canaries --------
log "judge: healthy and bad canaries through the simulator's traffic model"
cargo run --release --quiet --example judge-bench > "$OUT/judge.md"
put judge_table "$OUT/judge.md"

# --- budgets -----------------------------------------------------------------
fail=0
check() { # label value op limit unit
    local label=$1 value=$2 op=$3 limit=$4 unit=$5 ok
    if [ -z "$value" ]; then
        printf '%-42s %12s   %s %s %s   %s\n' "$label" "-" "$op" "$limit" "$unit" "NOT MEASURED"
        return
    fi
    ok=$(awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN{print (op=="<" ? v<l : v>l) ? "ok" : "BROKEN"}')
    [ "$ok" = ok ] || fail=1
    printf '%-42s %12s   %s %s %s   %s\n' "$label" "$value" "$op" "$limit" "$unit" "$ok"
}
echo
printf '%-42s %12s   %s\n' "measure" "value" "budget"
check "idle CPU (% of a core)" "$(get idle_cpu_percent)" "<" 1 "%"
check "RSS, 100 000 log lines (MiB)" "$(get memory_rss_mib)" "<" 60 "MiB"
check "steady state to the terminal (B/s)" "$(get steady_bytes_per_s)" "<" 2000 "B/s"
check "key press -> request, p99 (ms)" "$(get key_to_request_p99_ms)" "<" 5 "ms"
check "rollback -> acknowledged, p99 (ms)" "$(get rollback_to_ack_p99_ms)" "<" 100 "ms"
check "first frame, slowest of $FRAMES (ms)" "$(get first_frame_max_ms)" "<" 150 "ms"
check "render 120x40 (ms/frame)" "$(get render_120x40_ms)" "<" 2 "ms"
for f in cloud_logging file_json file_plain; do
    check "ingestion, $f (lines/s)" "$(get "ingest_${f}_lines_per_s")" ">" 200000 "lines/s"
done
echo
echo "other measures:"
grep -v -E '^(idle_cpu_percent|memory_rss_mib|steady_bytes_per_s)=' "$RESULTS" | sed 's/^/  /'
put bench_seconds "$(( $(date +%s) - started ))"
echo "  bench_seconds=$(get bench_seconds)"
echo "results: $RESULTS"
exit "$fail"
