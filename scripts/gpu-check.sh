#!/usr/bin/env bash
# The GPU check: the backend conformance test on tch (LibTorch, CUDA), cuda (CubeCL) and wgpu,
# the stage-2 step of the tiny and the base preset, and SmolLM2-135M generation, on each of them,
# printed as one table.
#
# A GPU machine may reach no package registry, so the work is split in two:
#
#   scripts/gpu-check.sh build [DIR]   # where cargo works: builds into DIR (default
#                                      # target/gpu-check), at most 64 MiB
#   scripts/gpu-check.sh run [DIR]     # on the GPU machine, from the root of a checkout of the
#                                      # same commit: runs what DIR holds, within 10 minutes
#                                      # (TRRG_GPU_SECONDS, default 570; a step out of time is
#                                      # skipped and shows as "-")
#
# `build` compiles, per backend (one per binary: trrg's features pick the first of cuda, tch,
# wgpu, ndarray, flex), the conformance test and the `train` and `llm` benches, strips them and
# packs them with xz; it also writes the configs of the base preset's parts (EfficientNet-Lite0,
# all-MiniLM-L6-v2, SmolLM2-135M): the benches run those shapes with random weights, because
# speed does not depend on the values and the checkpoints would not fit in 64 MiB.
# TRRG_GPU_BACKENDS="cuda wgpu tch" (the default) chooses the backends; each builds in its own
# target/gpu-<backend> (the first cuda or wgpu build recompiles burn: budget 15-30 min each), or
# in TRRG_GPU_TARGET. TRRG_GPU_BACKENDS=flex TRRG_GPU_TARGET=target tries the whole script on the
# CPU.
#
# tch links LibTorch 2.9 (burn-tch 0.21). `build` takes it from PyPI's torch==2.9.0 as
# scripts/test-tch.sh does and does not pack it (it is gigabytes); `run` uses the PyTorch of the
# GPU machine (LIBTORCH or `python3 -c 'import torch'`). Another LibTorch version usually fails
# at load time with undefined symbols: the table then says "tch: cannot load LibTorch" with the
# loader's message, and the other backends still run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-}"
dir="${2:-$root/target/gpu-check}"
backends="${TRRG_GPU_BACKENDS:-cuda wgpu tch}"
limit_mib=64

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "${1:-0}"
}

# The executable of the test or bench `name` that `cargo ... --no-run --message-format=json`
# reports on standard input.
executable_of() {
    python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == name:
        print(m["executable"])
' "$1" | tail -n1
}

# Writes the configs of the base preset's parts under $1 (vision/, text/, llm/).
write_base_configs() {
    local out="$1" assets="${TRRG_ASSETS_DIR:-$root/.assets}"
    mkdir -p "$out/vision" "$out/text" "$out/llm"
    echo '{"model_type": "efficientnet_lite0"}' >"$out/vision/config.json"
    if [ ! -s "$assets/minilm/config.json" ] || [ ! -s "$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
        "$root/scripts/fetch-assets.sh" "$assets" >/dev/null
    fi
    cp "$assets/minilm/config.json" "$out/text/config.json"
    # SmolLM2-135M's HF config, from the GGUF's metadata (scripts/gguf-to-hf.py writes the same,
    # but needs the gguf, numpy and safetensors packages and converts every weight; this reads
    # the header alone, with the standard library, before any trrg binary exists here).
    python3 - "$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$out/llm/config.json" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "rb")
assert f.read(4) == b"GGUF"
version, n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
def string():
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode()
sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
def value(kind):
    if kind == 8:
        return string()
    if kind == 9:
        (item,) = struct.unpack("<I", f.read(4))
        (n,) = struct.unpack("<Q", f.read(8))
        return [value(item) for _ in range(n)]
    fmt = "<" + sizes[kind]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
meta = {}
for _ in range(n_kv):
    key = string()
    (kind,) = struct.unpack("<I", f.read(4))
    meta[key] = value(kind)
config = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "hidden_size": meta["llama.embedding_length"],
    "intermediate_size": meta["llama.feed_forward_length"],
    "num_hidden_layers": meta["llama.block_count"],
    "num_attention_heads": meta["llama.attention.head_count"],
    "num_key_value_heads": meta["llama.attention.head_count_kv"],
    "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"],
    "rope_theta": meta["llama.rope.freq_base"],
    "max_position_embeddings": meta["llama.context_length"],
    "vocab_size": len(meta["tokenizer.ggml.tokens"]), "tie_word_embeddings": True,
}
json.dump(config, open(sys.argv[2], "w"), indent=1)
PY
}

build() {
    command -v xz >/dev/null || { echo "gpu-check: xz is needed to pack the binaries" >&2; exit 1; }
    rm -rf "$dir"
    mkdir -p "$dir"
    write_base_configs "$dir/parts"
    for backend in $backends; do
        echo "gpu-check: building for $backend" >&2
        local target="${TRRG_GPU_TARGET:-$root/target/gpu-$backend}"
        local env=(CARGO_TARGET_DIR="$target")
        if [ "$backend" = tch ]; then
            # LibTorch 2.9.0 from PyPI, as scripts/test-tch.sh sets it up (only to link).
            local venv="${TRRG_TCH_VENV:-$root/target/tch-venv}"
            [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
            "$venv/bin/python" -c 'import torch' 2>/dev/null || "$venv/bin/pip" install --quiet torch==2.9.0
            env+=(LIBTORCH_USE_PYTORCH=1 VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH")
        fi
        mkdir -p "$dir/$backend"
        local test bench_train bench_llm
        test=$(cd "$root" && env "${env[@]}" cargo test --release --features "$backend" --test conformance \
            --no-run --message-format=json | executable_of conformance)
        bench_train=$(cd "$root" && env "${env[@]}" cargo bench --features "$backend" --bench train \
            --no-run --message-format=json | executable_of train)
        bench_llm=$(cd "$root" && env "${env[@]}" cargo bench --features "$backend" --bench llm \
            --no-run --message-format=json | executable_of llm)
        for pair in "conformance:$test" "train:$bench_train" "llm:$bench_llm"; do
            local name="${pair%%:*}" path="${pair#*:}"
            [ -x "$path" ] || { echo "gpu-check: no $name binary for $backend" >&2; exit 1; }
            strip -o "$dir/$backend/$name" "$path"
            xz -9 -T0 -f "$dir/$backend/$name"
        done
    done
    git -C "$root" rev-parse HEAD >"$dir/commit" 2>/dev/null || echo unknown >"$dir/commit"
    local mib
    mib=$(( $(du -sb "$dir" | cut -f1) / 1048576 ))
    du -ah "$dir" | sort -k2 >&2
    if [ "$mib" -gt "$limit_mib" ]; then
        echo "gpu-check: $dir holds $mib MiB, more than $limit_mib MiB; build fewer backends (TRRG_GPU_BACKENDS)" >&2
        exit 1
    fi
    echo "gpu-check: $dir ready ($mib MiB, commit $(cat "$dir/commit")); on the GPU machine: scripts/gpu-check.sh run $dir" >&2
}

# The median time criterion printed for benchmark id $1 in log $2 ("-" when it did not run).
median() {
    local line
    line=$(grep -A2 -F "$1" "$2" | grep -m1 'time:' || true)
    [ -n "$line" ] || { echo "-"; return; }
    echo "$line" | sed -E 's/.*\[[^ ]+ [^ ]+ ([^ ]+ [^ ]+) .*/\1/'
}

run() {
    [ -d "$dir" ] || { echo "gpu-check: $dir not found; run \`scripts/gpu-check.sh build\` first" >&2; exit 1; }
    cd "$root"
    if [ "$(git rev-parse HEAD 2>/dev/null || echo unknown)" != "$(cat "$dir/commit")" ]; then
        echo "gpu-check: warning: the binaries were built from $(cat "$dir/commit"), this checkout is another commit" >&2
    fi
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2
    local work rows=() deadline=$(( $(date +%s) + ${TRRG_GPU_SECONDS:-570} ))
    work=$(mktemp -d)
    # At most $1 seconds, and never past the deadline of the whole run (10 minutes by default).
    within() {
        local left=$(( deadline - $(date +%s) ))
        [ "$left" -gt "$1" ] && left=$1
        [ "$left" -gt 5 ] || { echo "gpu-check: out of time, skipped: ${*:2}" >&2; return 124; }
        timeout "$left" "${@:2}"
    }
    local criterion=(--bench --sample-size 10 --warm-up-time 1 --measurement-time 4 --noplot)
    for backend in $backends; do
        [ -d "$dir/$backend" ] || continue
        mkdir -p "$work/$backend"
        for name in conformance train llm; do
            xz -dc "$dir/$backend/$name.xz" >"$work/$backend/$name"
            chmod +x "$work/$backend/$name"
        done
        local spec
        case "$backend" in
            cuda | tch) spec=cuda:0 ;;
            wgpu) spec=gpu:0 ;;
            *) spec=cpu ;; # a CPU backend, to try the script without a GPU
        esac
        # Batch 8: the stage-2 step of earlier GPU checks, within this run's 10 minutes.
        local env=(TRRG_DEVICE="$spec" TRRG_BENCH_BATCH=8)
        if [ "$backend" = tch ]; then
            local lib="${LIBTORCH:+$LIBTORCH/lib}"
            [ -n "$lib" ] || lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)
            env+=(LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}")
        fi
        local log="$work/$backend.log" status code=0
        echo "gpu-check: $backend" >&2
        within 200 env "${env[@]}" "$work/$backend/conformance" --nocapture >"$log" 2>&1 || code=$?
        if [ "$code" = 0 ]; then
            status=pass
        elif grep -qiE 'error while loading shared libraries|undefined symbol' "$log"; then
            status="cannot load LibTorch: $(grep -m1 -oiE '(error while loading shared libraries|undefined symbol)[^)]*' "$log")"
        else
            status="FAIL (exit $code; $(grep -m1 -E 'panicked|error' "$log" | cut -c1-120))"
        fi
        if [[ "$status" != "cannot load"* ]]; then
            within 150 env "${env[@]}" TRRG_BASE_PARTS="$dir/parts" "$work/$backend/train" "${criterion[@]}" stage2_step >>"$log" 2>&1 || true
            within 100 env "${env[@]}" TRRG_SMOLLM2_CONFIG="$dir/parts/llm" "$work/$backend/llm" "${criterion[@]}" >>"$log" 2>&1 || true
        fi
        rows+=("| $backend | $status | $(median stage2_step/batch8 "$log") | $(median stage2_step_base/batch4 "$log") | $(median smollm2_greedy_prompt64_new128/batch1 "$log") | $(median smollm2_greedy_prompt64_new128/batch8 "$log") |")
        cp "$log" "$dir/$backend.log"
    done
    echo
    echo "| backend | conformance | tiny stage-2 step, batch 8 | base stage-2 step (LoRA), batch 4, 224 px | SmolLM2-135M greedy, 64 + 128 tokens, batch 1 | the same, batch 8 |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "(logs: $dir/<backend>.log)"
    rm -rf "$work"
}

case "$mode" in
    build) build ;;
    run) run ;;
    -h | --help | help) usage 0 ;;
    *) usage 1 >&2 ;;
esac
