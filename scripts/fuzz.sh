#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for $1 seconds each (default 10).
# The machine has one stable toolchain: cargo-fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 unlocks on stable for this build only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list --fuzz-dir fuzz)
if [ -z "$targets" ]; then
  echo "no fuzz targets"; exit 0
fi
for t in $targets; do
  echo "== fuzz $t for ${secs}s"
  mkdir -p "fuzz/corpus/$t"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
  cargo fuzz run --fuzz-dir fuzz --release "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 3
  test "${PIPESTATUS[0]}" -eq 0
done
