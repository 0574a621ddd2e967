"""PyTorch reference for `cargo bench --bench encoders`: forward throughput of ViT-B/16 and
Swin-T (224 px, batch 8) and BERT-base (64 tokens, batch 8), random weights, inference mode.

    python benches/reference/time_encoders.py [--threads 2] [--json]

With --json, one JSON object of median seconds per batch instead of the text lines.
"""
import argparse
import json
import statistics
import time

import torch
import transformers
from transformers import BertConfig, BertModel, SwinConfig, SwinModel, ViTConfig, ViTModel

BATCH = 8


def timeit(fn, runs=10):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {"torch": torch.__version__, "transformers": transformers.__version__,
              "threads": torch.get_num_threads()}
    if not args.json:
        print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads")
    images = torch.rand(BATCH, 3, 224, 224)
    ids = torch.randint(1, 30000, (BATCH, 64))
    cases = [
        ("vit_b16_224", ViTModel(ViTConfig(), add_pooling_layer=False), {"pixel_values": images}),
        ("swin_t_224", SwinModel(SwinConfig()), {"pixel_values": images}),
        ("bert_base_64tok", BertModel(BertConfig(), add_pooling_layer=False), {"input_ids": ids, "attention_mask": torch.ones_like(ids)}),
    ]
    for name, model, inputs in cases:
        model.eval()
        with torch.inference_mode():
            seconds = timeit(lambda: model(**inputs))
        result[f"{name}_s"] = seconds
        if not args.json:
            print(f"{name}: {seconds * 1000:.1f} ms per batch of {BATCH}, {BATCH / seconds:.2f} items/s")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
