#!/usr/bin/env bash
# The README's CI example, tried against the Cloud Run fake on loopback: the
# team's CI job is one call, `canary release --image IMAGE --plan ci`: deploy
# the image (no traffic, tagged), check it on its tag URL, then `[plans.ci]`
# (canary 20 %, checks, auto promotion, automatic rollback, a Slack-compatible
# webhook), with its events, its progress and its exit code.
#
#   scripts/release-example.sh              # a healthy image: promoted, exit 0
#   BAD=1 scripts/release-example.sh        # 6 % 5xx under traffic: rolled back, exit 3
#   UNHEALTHY=1 scripts/release-example.sh  # /api/health degraded on its tag URL:
#                                           # rejected before any traffic, exit 3
#   IMAGE=r/app:bad-pull scripts/release-example.sh   # cannot be pulled: exit 1
#
# Nothing leaves the machine: the fake, the server behind the tag URLs, the
# webhook receiver and canary all listen on 127.0.0.1. Everything it writes
# is under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bin canary --example fake-cloud-run
BIN=target/debug/canary
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# What stands behind the tag URLs: the new revision's own endpoints.
python3 - "$WORK/tags.port" "$([ -n "${UNHEALTHY:-}" ] && echo degraded || echo ok)" <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": sys.argv[2]}).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
PIDS+=($!)
until [ -s "$WORK/tags.port" ]; do sleep 0.1; done

# The Cloud Run fake, seeded with the demo service; revisions it deploys
# answer 6 % 5xx in the metrics with BAD=1.
target/debug/examples/fake-cloud-run --deployed-errors "$([ -n "${BAD:-}" ] && echo 6 || echo 0)" \
    --tag-url-base "http://127.0.0.1:$(cat "$WORK/tags.port")" > "$WORK/fake.out" &
PIDS+=($!)
until grep -q '^url=' "$WORK/fake.out" 2>/dev/null; do sleep 0.1; done
FAKE=$(sed -n 's/^url=//p' "$WORK/fake.out")

# The team's chat: a Slack-compatible webhook receiver that keeps what it hears.
python3 - "$WORK/webhook.port" "$WORK/chat.log" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        open(sys.argv[2], "ab").write(body + b"\n")
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
PIDS+=($!)
until [ -s "$WORK/webhook.port" ]; do sleep 0.1; done
export CANARY_WEBHOOK_URL="http://127.0.0.1:$(cat "$WORK/webhook.port")/services/T0/B0/XXXX"

# The config a team would keep in its repository (the fake's endpoints and
# short windows instead of the real APIs and 10 minutes).
cat > "$WORK/canary.toml" <<TOML
[service]
platform = "cloud-run"
name = "emergence-app"
project = "emergence-469005"
region = "europe-west1"
stable_revision = "emergence-app-00042-xuv"

[refresh]
service = "1s"
metrics = "1s"

[gates]
error_percent = 1.0
p95_latency_ms = 500
window = "30s"
sustain = "2s"
min_requests = 20

[plans.ci]
mode = "auto"
on_failure = "rollback"
on_cancel = "rollback"
steps = [
  { percent = 20, observe = "10s" },
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

# Metrics have no data before any traffic (not a verdict then); with
# traffic, at each step, they count. A short timeout: "no data" is asked
# again until it.
[[checks]]
name = "5xx below 1 %"
kind = "query"
metric = "error_percent"
window = "1m"
max = 1.0
timeout = "12s"

[[checks]]
name = "p95 below 500 ms"
kind = "query"
metric = "p95_latency_ms"
window = "1m"
max = 500
timeout = "12s"

[cloud_run]
endpoint = "$FAKE"
monitoring_endpoint = "$FAKE/v1/projects/emergence-469005/location/global/prometheus"
auth = "none"

[journal]
dir = "$WORK/journal"

# The team's trail: every record also goes to Cloud Logging (the fake's).
[audit]
shared = "cloud-logging"
TOML

IMAGE=${IMAGE:-europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-$(date -u +%Y%m%d-%H%M%S)}
echo "== canary release --image $IMAGE --plan ci (events: $WORK/events.ndjson)" >&2
set +e
$BIN --config "$WORK/canary.toml" --timeout 5m release --image "$IMAGE" --plan ci \
    --reason "example pipeline" > "$WORK/events.ndjson"
code=$?
set -e
echo "== exit code: $code" >&2
echo "== the events, one JSON object per line:" >&2
cut -c1-160 "$WORK/events.ndjson" >&2
echo "== the team's chat heard:" >&2
cat "$WORK/chat.log" >&2
echo "== canary status:" >&2
$BIN --config "$WORK/canary.toml" status >&2
echo "== the team's shared trail (canary journal --shared), as another machine reads it:" >&2
$BIN --config "$WORK/canary.toml" journal --shared | tail -n 8 >&2
exit "$code"
