#!/usr/bin/env bash
# trrg against PyTorch on this machine, both sides back to back on the same cores.
#
#   scripts/bench-vs-pytorch.sh
#
# 1. Sets up its own Python environment (torch, transformers; about 5.6 GB with the CUDA wheels
#    PyPI's torch depends on, two minutes the first time) in $TRRG_BENCH_VENV
#    (default target/bench-venv), and builds trrg's benches before any timing starts.
# 2. The reference: benches/reference/trrg_tiny.py (the tiny preset's PyTorch mirror),
#    time_encoders.py, crates/llm/scripts/time_transformers.py (SmolLM2-135M with random weights
#    from its config.json, as benches/llm.rs is given) and time_matmul.py.
# 3. trrg: examples/matmul_speed.rs (clock, peak, the two products) and criterion's
#    `cargo bench --bench train|encoders|llm`.
# 4. Prints one table, the products' GFLOP/s next to the peak, and one JSON line of speed ratios
#    (trrg's speed over the reference's; keys stage1_step, stage2_step, vit_b16, swin_t,
#    bert_base, smollm2_batch1, smollm2_batch8).
#
# Everything else on the machine should be stopped: both sides use every core
# ($TRRG_BENCH_THREADS, default all; torch intra-op threads, rayon threads). The training
# steps use $TRRG_BENCH_BATCH studies (default 16, the main job's batch). Raw results go to
# $TRRG_BENCH_OUT (default target/bench-vs-pytorch). The whole run takes about 8 minutes on
# 2 cores once the environment and the build exist.
set -euo pipefail
case "${1:-}" in
    "") ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-vs-pytorch: no arguments are taken (got '$1'); the settings are environment variables, see --help" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${TRRG_BENCH_VENV:-$root/target/bench-venv}
out=${TRRG_BENCH_OUT:-$root/target/bench-vs-pytorch}
threads=${TRRG_BENCH_THREADS:-$(nproc)}
batch=${TRRG_BENCH_BATCH:-16}
target=${CARGO_TARGET_DIR:-$root/target}
py="$venv/bin/python"

if ! "$py" -c 'import torch, transformers' 2>/dev/null; then
    echo "bench-vs-pytorch: installing torch and transformers into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r benches/reference/requirements.txt
fi

echo "bench-vs-pytorch: building trrg's benches" >&2
cargo build --release --quiet --example matmul_speed
cargo bench --quiet --no-run --bench train --bench encoders --bench llm

mkdir -p "$out/smollm2"
# SmolLM2-135M's shape (HuggingFaceTB/SmolLM2-135M config.json); both sides take random weights.
# Both sides read this file; crates/llm/tests/llm.rs checks it reads as LlamaConfig::smollm2_135m().
cat >"$out/smollm2/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
 "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
 "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_act": "silu",
 "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 100000,
 "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
JSON

step() { echo "bench-vs-pytorch: $*" >&2; }
step "PyTorch: the tiny preset's steps (batch $batch)"
(cd benches/reference && "$py" trrg_tiny.py --threads "$threads" --batch "$batch" --no-generate) >"$out/torch_tiny.json"
step "PyTorch: encoders"
(cd benches/reference && "$py" time_encoders.py --threads "$threads" --json) >"$out/torch_encoders.json"
step "transformers: SmolLM2-135M generation"
"$py" crates/llm/scripts/time_transformers.py "$out/smollm2" --threads "$threads" --json >"$out/torch_llm.json"
step "PyTorch: products"
"$py" benches/reference/time_matmul.py --threads "$threads" >"$out/torch_matmul.json"

# Criterion's earlier results must not stand in for a benchmark that did not run.
rm -rf "$target/criterion/stage1_step" "$target/criterion/stage2_step" \
    "$target/criterion/encoder_forward_batch8" "$target/criterion/smollm2_greedy_prompt64_new128"
export RAYON_NUM_THREADS=$threads
step "trrg: clock, peak and products"
cargo run --release --quiet --example matmul_speed >"$out/trrg_matmul.json"
step "trrg: the tiny preset's steps (batch $batch)"
TRRG_BENCH_BATCH=$batch cargo bench --quiet --bench train -- --noplot '^stage[12]_step/' >"$out/trrg_train.log" 2>&1
step "trrg: encoders"
cargo bench --quiet --bench encoders -- --noplot >"$out/trrg_encoders.log" 2>&1
step "trrg: SmolLM2-135M generation"
TRRG_SMOLLM2_CONFIG="$out/smollm2" cargo bench --quiet --bench llm -- --noplot >"$out/trrg_llm.log" 2>&1

python3 benches/reference/side_by_side.py "$out" "$target/criterion" | tee "$out/side_by_side.md"
