"""PyTorch's side of `examples/matmul_speed.rs`: the median time and GFLOP/s of
`[1576,768] x [768,3072]` and `[1040,128] x [128,128]` (f32), one JSON object.

    python benches/reference/time_matmul.py [--threads 2] [--seconds 2]
"""
import argparse
import json
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per product")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    products = []
    for m, k, n in [(1576, 768, 3072), (1040, 128, 128)]:
        a, b = torch.rand(m, k), torch.rand(k, n)
        torch.mm(a, b)  # warm-up
        times, start = [], time.perf_counter()
        while len(times) < 5 or (time.perf_counter() - start < args.seconds and len(times) < 1000):
            t = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t)
        median = statistics.median(times)
        products.append({"shape": f"[{m},{k}] x [{k},{n}]", "median_ms": median * 1e3,
                         "gflops": 2 * m * k * n / median / 1e9})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "products": products}))


if __name__ == "__main__":
    main()
