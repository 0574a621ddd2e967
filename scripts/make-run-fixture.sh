#!/usr/bin/env bash
# Writes crates/run/tests/fixtures/micro-run: a small trained run directory (micro preset, 40
# SYNTHETIC studies of 64 px) with the files inference reads, two test studies' views, and the
# reports and clue probabilities that this code writes for them (`trrg generate --json`). The
# unit test `fixture_run_generates_its_committed_reports` (crates/run/src/generator.rs) loads it
# and must write the same reports: a run directory of today stays readable after any change.
# Usage: scripts/make-run-fixture.sh [TRRG_BINARY]   (default: builds and uses target/release/trrg)
set -euo pipefail
cd "$(dirname "$0")/.."
trrg="${1:-}"
if [ -z "$trrg" ]; then
  cargo build --release -q -p trrg-cli
  trrg=target/release/trrg
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$trrg" synth --out "$work/data" --studies 40 --size 64 --seed 5 > /dev/null
"$trrg" train --preset micro --data-dir "$work/data" --out "$work/run" --quiet --set seed=42 \
  --set batch_size=8 --set image.resize=72 --set image.crop=64 --set stage1.epochs=2 \
  --set stage2.epochs=40 --set eval.every_epochs=10 --set eval.num_beams=2 \
  --set eval.max_new_tokens=40 > "$work/train.log"
out=crates/run/tests/fixtures/micro-run
rm -rf "$out"
mkdir -p "$out/checkpoints" "$out/views"
cp "$work/run/"{config.json,vocab.json,diseases.json,clue_thresholds.json} "$out/"
best="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["best"]["model_file"])' \
  "$work/run/checkpoints/state.json")"
cp "$work/run/checkpoints/$best" "$out/checkpoints/"
# The latest checkpoint and the optimizer state stay out: inference reads the best one only.
cp "$work/run/checkpoints/state.json" "$out/checkpoints/"
mapfile -t studies < <(python3 -c 'import json, sys
for entry in json.load(open(sys.argv[1]))["test"][:2]:
    print(entry["id"], *entry["image_path"])' "$work/data/annotation.json")
{
  echo "["
  sep=""
  for line in "${studies[@]}"; do
    read -r id views <<<"$line"
    args=()
    for v in $views; do
      name="${id}_$(basename "$v")"
      cp "$work/data/images/$v" "$out/views/$name"
      args+=("$out/views/$name")
    done
    printf '%s{"views": [%s], "generated": %s}\n' "$sep" \
      "$(printf '"%s",' "${args[@]##*/}" | sed 's/,$//')" \
      "$("$trrg" generate --checkpoint "$out" --json "${args[@]}")"
    sep=","
  done
  echo "]"
} > "$out/expected.json"
python3 -m json.tool "$out/expected.json" > /dev/null
du -sh "$out"
