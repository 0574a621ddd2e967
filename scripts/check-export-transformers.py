#!/usr/bin/env python3
"""Checks a `trrg export` directory with Hugging Face transformers (and PEFT for LoRA runs):
`LlamaForCausalLM.from_pretrained(EXPORT/llm)` must load without missing or unexpected weights,
and its logits on the probe ids of `llm/trrg_logits.json` must equal trrg's to 1e-4.

    python3 scripts/check-export-transformers.py EXPORT_DIR

Needs torch, transformers (and peft when the export has adapters) in the running Python: a
torch venv from PyPI is several GB, so this runs by hand, not in CI; CI checks the exported
names, shapes and dtypes against the HF Llama layout without torch (crates/cli/tests/cli.rs).
Prints one JSON line and exits 1 when the logits differ by more than 1e-4.
"""
import json
import pathlib
import sys

import torch
import transformers
from transformers import LlamaForCausalLM


def main():
    llm = pathlib.Path(sys.argv[1]) / "llm"
    model, info = LlamaForCausalLM.from_pretrained(
        llm, torch_dtype=torch.float32, output_loading_info=True
    )
    problems = {k: v for k, v in info.items() if v and k != "error_msgs" or (k == "error_msgs" and v)}
    adapters = (llm / "adapter_config.json").is_file()
    if adapters:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, llm)
    model.eval()
    ref = json.loads((llm / "trrg_logits.json").read_text())
    ids = torch.tensor(ref["input_ids"])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    want = torch.tensor(ref["logits"], dtype=torch.float32)
    diff = (logits - want).abs().max().item()
    out = {
        "export": str(llm.parent),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "peft_adapters": adapters,
        "loading_problems": problems,
        "logits_shape": list(logits.shape),
        "max_abs_diff": diff,
        "ok": diff <= 1e-4 and not problems,
    }
    print(json.dumps(out))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
