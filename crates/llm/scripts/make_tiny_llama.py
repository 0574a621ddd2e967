#!/usr/bin/env python3
"""Tiny random LlamaForCausalLM checkpoints and transformers' outputs on them, for trrg-llm's
golden tests. Needs a torch venv (`pip install torch transformers safetensors`); run once by hand.
GQA 4 heads / 2 KV heads, 2 layers, width 32, vocabulary 64; tied and untied variants.
Inputs: a batch of two prompts, the second left-padded (pad 0), with HF generate's position ids
(count of real tokens before each position).
Usage: python crates/llm/scripts/make_tiny_llama.py crates/llm/tests/fixtures"""
import json
import os
import sys

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

out_dir = sys.argv[1]
EOS_FREQUENT = {"tiny_llama_tied": 10, "tiny_llama_untied": 10}
prompts = [[5, 17, 33, 8, 41, 12, 9], [0, 0, 0, 21, 7, 50, 3]]
mask = [[1] * 7, [0, 0, 0, 1, 1, 1, 1]]
golden = {"generator": "crates/llm/scripts/make_tiny_llama.py", "torch": torch.__version__,
          "transformers": transformers.__version__, "input_ids": prompts, "attention_mask": mask, "models": {}}
for tied in (True, False):
    name = "tiny_llama_tied" if tied else "tiny_llama_untied"
    torch.manual_seed(11 if tied else 12)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=tied,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger weights than the 0.02 init, so logits are well separated
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    model.save_pretrained(os.path.join(out_dir, name), safe_serialization=True)
    ids = torch.tensor(prompts)
    att = torch.tensor(mask)
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=att, position_ids=pos).logits
        common = dict(attention_mask=att, max_new_tokens=10, pad_token_id=0, eos_token_id=2)
        greedy = model.generate(ids, do_sample=False, **common)[:, 7:]
        beam = model.generate(ids, do_sample=False, num_beams=3, length_penalty=2.0,
                              repetition_penalty=2.0, early_stopping=False, **common)[:, 7:]
        # A frequent token as EOS, so that finished hypotheses compete (length normalization).
        beam_eos = model.generate(ids, do_sample=False, num_beams=3, length_penalty=1.0,
                                  early_stopping=False, attention_mask=att, max_new_tokens=10,
                                  pad_token_id=0, eos_token_id=EOS_FREQUENT[name])[:, 7:]
    golden["models"][name] = {
        "beam3_lp1_frequent_eos": EOS_FREQUENT[name],
        "beam3_lp1_frequent_eos_new_ids": beam_eos.tolist(),
        "logits": [[logits[b, t].tolist() if mask[b][t] else None for t in range(7)] for b in range(2)],
        "greedy_new_ids": greedy.tolist(),
        "beam3_lp2_rp2_new_ids": beam.tolist(),
    }
json.dump(golden, open(os.path.join(out_dir, "tiny_llama_golden.json"), "w"))
print("wrote", out_dir)
