"""The table and the JSON line of `scripts/bench-vs-pytorch.sh`, from the files its runs wrote.

    python benches/reference/side_by_side.py OUT_DIR CRITERION_DIR

OUT_DIR holds the reference's JSON (torch_tiny.json, torch_encoders.json, torch_llm.json,
torch_matmul.json) and trrg_matmul.json; CRITERION_DIR is criterion's output
(`target/criterion`), read for the median of each trrg benchmark. A ratio is trrg's speed over
the reference's (the reference's time over trrg's): above 1, trrg is faster.
"""
import json
import pathlib
import sys

# key: (what, reference file, its key, criterion group, criterion id)
WORKLOADS = [
    ("stage1_step", "tiny preset, stage-1 step (InfoNCE, backward, AdamW)", "torch_tiny.json", "stage1_step_s",
     "stage1_step", "batch{batch}"),
    ("stage2_step", "tiny preset, stage-2 step (LM + consistency, backward, AdamW)", "torch_tiny.json",
     "stage2_step_s", "stage2_step", "batch{batch}"),
    ("vit_b16", "ViT-B/16 forward, 224 px, batch 8", "torch_encoders.json", "vit_b16_224_s",
     "encoder_forward_batch8", "vit_b16_224"),
    ("swin_t", "Swin-T forward, 224 px, batch 8", "torch_encoders.json", "swin_t_224_s",
     "encoder_forward_batch8", "swin_t_224"),
    ("bert_base", "BERT-base forward, 64 tokens, batch 8", "torch_encoders.json", "bert_base_64tok_s",
     "encoder_forward_batch8", "bert_base_64tok"),
    ("smollm2_batch1", "SmolLM2-135M greedy, 64-token prompt, 128 new, batch 1", "torch_llm.json", "batch1_s",
     "smollm2_greedy_prompt64_new128", "batch1"),
    ("smollm2_batch8", "the same, batch 8", "torch_llm.json", "batch8_s",
     "smollm2_greedy_prompt64_new128", "batch8"),
]


def criterion_median(root, group, bench):
    path = root / group / bench / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e9


def fmt(seconds):
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main():
    out, root = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    ref = {name: json.loads((out / name).read_text()) for name in
           ["torch_tiny.json", "torch_encoders.json", "torch_llm.json", "torch_matmul.json"]
           if (out / name).exists()}
    trrg = json.loads((out / "trrg_matmul.json").read_text())
    batch = ref.get("torch_tiny.json", {}).get("batch", 16)
    versions = ref.get("torch_encoders.json", ref.get("torch_tiny.json", {}))
    print(f"CPU: {trrg['cpu']} ({trrg['features']}), clock {trrg['clock_ghz']} GHz measured, "
          f"{trrg['threads']} threads")
    print(f"reference: torch {versions.get('torch')}, transformers {versions.get('transformers', '-')}, "
          f"{versions.get('threads')} intra-op threads; trrg: one process, burn flex with rayon on "
          f"{trrg['threads']} threads (no data-parallel workers in these steps)")
    print()
    print("| workload | PyTorch / transformers | trrg | trrg speed / reference |")
    print("|---|---|---|---|")
    ratios = {}
    for key, what, file, ref_key, group, bench in WORKLOADS:
        theirs = ref.get(file, {}).get(ref_key)
        ours = criterion_median(root, group, bench.format(batch=batch))
        ratio = theirs / ours if theirs and ours else None
        ratios[key] = round(ratio, 3) if ratio else None
        label = what.replace("step (", f"step, batch {batch} (") if key.endswith("_step") else what
        print(f"| {label} | {fmt(theirs)} | {fmt(ours)} | {f'{ratio:.2f}x' if ratio else '-'} |")
    print()
    peak = trrg.get("peak_gflops")
    print(f"peak: {peak} GFLOP/s = {trrg['clock_ghz']} GHz x {trrg['flops_per_cycle_per_core']} FLOP/cycle "
          f"x {trrg['threads']} cores")
    theirs = {p["shape"]: p for p in ref.get("torch_matmul.json", {}).get("products", [])}
    for p in trrg["products"]:
        share = f", {100 * p['gflops'] / peak:.0f} % of peak" if peak else ""
        torch_side = theirs.get(p["shape"])
        torch_text = f"; PyTorch {torch_side['gflops']:.1f} GFLOP/s" if torch_side else ""
        print(f"{p['shape']}: trrg {p['gflops']:.1f} GFLOP/s ({p['median_ms']:.3f} ms{share}){torch_text}")
    print()
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()
