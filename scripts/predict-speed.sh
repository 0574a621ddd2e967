#!/usr/bin/env bash
# Seconds per study of `trrg predict` (batched, one process) against `trrg generate` called once
# per study (a process each: start, model load, one report), on the same run and dataset.
#
#   scripts/predict-speed.sh [RUN] [DATA_DIR] [GENERATE_CALLS]
#
# RUN defaults to the main job's run (runs/iu_xray-synthetic-seed42), DATA_DIR to a fresh
# SYNTHETIC set of 300 studies drawn with seed 2026 (made here with `trrg synth` if missing), and
# GENERATE_CALLS (default 20) is how many studies `trrg generate` is timed on, the first of the
# test split. predict writes every split of DATA_DIR. Prints both times, the ratio, and the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/iu_xray-synthetic-seed42}
data=${2:-data/fresh-300-seed2026}
calls=${3:-20}
cargo build --release -p trrg-cli
trrg="${CARGO_TARGET_DIR:-target}/release/trrg"
[ -f "$data/annotation.json" ] || "$trrg" synth --out "$data" --studies 300 --seed 2026
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
mapfile -t studies < <(python3 - "$data" "$calls" <<'EOF'
import json, sys
data, calls = sys.argv[1], int(sys.argv[2])
for study in json.load(open(f"{data}/annotation.json"))["test"][:calls]:
    print(" ".join(f"{data}/images/{p}" for p in study["image_path"]))
EOF
)
start=$(now)
for views in "${studies[@]}"; do
  # shellcheck disable=SC2086 # the views are separate arguments
  "$trrg" generate --checkpoint "$run" $views > /dev/null
done
generate=$(python3 -c "print(($(now) - $start) / ${#studies[@]})")

start=$(now)
"$trrg" predict --checkpoint "$run" --data-dir "$data" --split all --out "$work/predict" --quiet
elapsed=$(python3 -c "print($(now) - $start)")
rows=$(wc -l < "$work/predict/predictions.jsonl")
predict=$(python3 -c "print($elapsed / $rows)")

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "CPU: $cpu, $(nproc) cores"
printf 'trrg generate, once per study (%d studies): %.4f s/study\n' "${#studies[@]}" "$generate"
printf 'trrg predict (%d studies in %.1f s):        %.4f s/study\n' "$rows" "$elapsed" "$predict"
python3 -c "print(f'predict is {$generate / $predict:.2f}x faster per study')"
