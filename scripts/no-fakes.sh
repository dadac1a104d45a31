#!/usr/bin/env bash
# Proves that the cockpit ships no test double (issue 12):
#  1. the `canary-cockpit` package's normal and build dependencies, for every
#     target and with all features, do not include `canary-fakes` (it is a
#     dev-dependency only: no `cargo build --release` can link it);
#  2. the binary BINARY (default target/release/canary) carries symbol names
#     (the cockpit's own are found) and none of the fakes': the crate
#     `canary_fakes`, `FakeCloudRun`, the old `cloud_run::fake` module.
# Usage: scripts/no-fakes.sh [BINARY]. scripts/test.sh runs it on the binary
# the tests built, scripts/bench.sh on the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/canary}

deps=$(cargo tree --locked -q -p canary-cockpit -e normal,build --all-features --target all --prefix none)
if grep -q '^canary-fakes ' <<<"$deps"; then
  echo "no-fakes: canary-fakes is a normal or build dependency of canary-cockpit:" >&2
  cargo tree --locked -q -p canary-cockpit -e normal,build --all-features --target all -i canary-fakes >&2
  exit 1
fi

[ -f "$bin" ] || { echo "no-fakes: no binary at $bin (build it first)" >&2; exit 1; }
if ! grep -a -q -F 'canary::core::' "$bin"; then
  echo "no-fakes: $bin has no symbol names (stripped?): cannot tell" >&2
  exit 1
fi
found=$(grep -a -o -E 'canary_fakes|crates/fakes|FakeCloudRun|cloud_run::fake' "$bin" | sort | uniq -c || true)
if [ -n "$found" ]; then
  echo "no-fakes: $bin contains test doubles:" >&2
  echo "$found" >&2
  exit 1
fi
echo "no-fakes: $bin contains no fake; canary-fakes is a dev-dependency only"
