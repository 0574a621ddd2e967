#!/usr/bin/env bash
# Kill a training run with SIGKILL in the middle of stage 2, resume it with --resume, and check
# that its metrics.json equals an uninterrupted run with the same seed.
#
#   scripts/kill-resume.sh [CONFIG.json]
#
# CONFIG defaults to a short tiny-preset schedule (1 stage-1 epoch, 3 stage-2 epochs) on the
# default synthetic dataset. Needs a release build of the example (built here).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-}
work=$(mktemp -d)
if [ -z "$config" ]; then
  config=$work/config.json
  echo '{"stage1": {"epochs": 1}, "stage2": {"epochs": 3}, "eval": {"every_epochs": 1}}' > "$config"
fi
cargo build --release --example train_iu_xray
bin="${CARGO_TARGET_DIR:-target}/release/examples/train_iu_xray"

echo "== uninterrupted run"
"$bin" --config "$config" --out "$work/whole" --quiet > "$work/whole.log" 2>&1

echo "== run killed with SIGKILL during stage 2"
"$bin" --config "$config" --out "$work/killed" --quiet > "$work/killed.log" 2>&1 &
pid=$!
# Wait until the first stage-2 checkpoint exists, then a little longer, then kill.
until grep -q '"stage": 2' "$work/killed/checkpoints/state.json" 2>/dev/null; do sleep 1; done
sleep 20
kill -9 $pid
wait $pid 2>/dev/null || true
echo "killed at: $(grep -E '"(stage|epochs_done|step)"' "$work/killed/checkpoints/state.json" | tr -d ' \n')"
test ! -e "$work/killed/metrics.json"

echo "== resumed"
"$bin" --config "$config" --out "$work/killed" --resume --quiet > "$work/resumed.log" 2>&1
python3 - "$work/whole/metrics.json" "$work/killed/metrics.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("data_dir",):
    a.pop(k, None); b.pop(k, None)
same = a == b
print("metrics equal:", same)
print(json.dumps(a["test"], indent=1)[:600])
sys.exit(0 if same else 1)
PY
cmp "$work/whole/samples.jsonl" "$work/killed/samples.jsonl" && echo "samples.jsonl identical"
rm -rf "$work"
