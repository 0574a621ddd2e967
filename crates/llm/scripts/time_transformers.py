#!/usr/bin/env python3
"""Times transformers' greedy generation of SmolLM2-135M on the CPU, the setting of
benches/llm.rs: a 64-token prompt (ids 100 + (37 i mod 9000)), exactly 128 new tokens
(min_new_tokens = max_new_tokens = 128), batch 1 and 8, KV cache on, f32, torch threads = cores.
The weights are the Q4_1 GGUF dequantized to f32 by ../shared/tools/gguf_to_hf.py (run it first:
`python gguf_to_hf.py .assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2-hf f32`).
Usage: python crates/llm/scripts/time_transformers.py /tmp/smollm2-hf"""
import sys
import time

import torch
import transformers
from transformers import LlamaForCausalLM

model = LlamaForCausalLM.from_pretrained(sys.argv[1], torch_dtype=torch.float32).eval()
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
    best = min(times)
    print(f"batch {batch}: {best:.3f} s for 128 new tokens per row (best of 3): {batch * 128 / best:.1f} tokens/s")
