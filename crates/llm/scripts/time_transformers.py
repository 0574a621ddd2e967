#!/usr/bin/env python3
"""Times transformers' greedy generation of SmolLM2-135M on the CPU, the setting of
benches/llm.rs: a 64-token prompt (ids 100 + (37 i mod 9000)), exactly 128 new tokens
(min_new_tokens = max_new_tokens = 128), batch 1 and 8, KV cache on, f32, torch threads = cores.

The weights are the Q4_1 GGUF dequantized to f32 by ../shared/tools/gguf_to_hf.py (run it first:
`python gguf_to_hf.py .assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2-hf f32`); a
directory with only SmolLM2's config.json gives random weights of the same shape, as
`TRRG_SMOLLM2_CONFIG` does for benches/llm.rs (speed does not depend on the weights).

Usage: python crates/llm/scripts/time_transformers.py DIR [--threads N] [--json]
Prints the best and the median of 3 runs per batch; with --json, one JSON object of seconds."""
import argparse
import json
import pathlib
import statistics
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("dir")
parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
parser.add_argument("--json", action="store_true", help="print one JSON object")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
weights = any(pathlib.Path(args.dir).glob("*.safetensors")) or any(pathlib.Path(args.dir).glob("*.bin"))
if weights:
    model = LlamaForCausalLM.from_pretrained(args.dir, torch_dtype=torch.float32)
else:
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig.from_pretrained(args.dir))
model = model.float().eval()
result = {"torch": torch.__version__, "transformers": transformers.__version__,
          "threads": torch.get_num_threads(), "weights": "checkpoint" if weights else "random"}
if not args.json:
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}")
for batch in (1, 8):
    ids = torch.tensor([[100 + (i * 37) % 9000 for i in range(b * 64, b * 64 + 64)] for b in range(batch)])
    kw = dict(attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=128, min_new_tokens=128,
              eos_token_id=2, pad_token_id=2)
    with torch.no_grad():
        model.generate(ids, **kw)  # warm-up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            out = model.generate(ids, **kw)
            times.append(time.perf_counter() - t)
    assert out.shape == (batch, 64 + 128)
    best, median = min(times), statistics.median(times)
    result[f"batch{batch}_s"] = median
    if not args.json:
        print(f"batch {batch}: {best:.3f} s best, {median:.3f} s median of 3 for 128 new tokens per row: "
              f"{batch * 128 / best:.1f} tokens/s at best")
if args.json:
    print(json.dumps(result))
