#!/usr/bin/env python3
"""Golden dequantization for trrg-llm's GGUF reader: deterministic pseudo-random blocks of each
supported ggml type, dequantized by the `gguf` package (llama.cpp's Python reference,
`pip install gguf numpy`). Scale fields are set to small finite f16 values.
Usage: python crates/io/scripts/make_dequant_golden.py > crates/io/tests/fixtures/dequant_golden.json"""
import importlib.metadata
import json
import sys

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

rng = np.random.default_rng(7)


def f16(x):
    return np.array([x], dtype=np.float16).tobytes()


def block(kind):
    if kind == T.F32:
        return rng.standard_normal(4).astype(np.float32).tobytes()
    if kind == T.F16:
        return rng.standard_normal(4).astype(np.float16).tobytes()
    if kind == T.BF16:
        return (rng.standard_normal(4).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    if kind == T.Q4_0:
        return f16(0.037) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    if kind == T.Q4_1:
        return f16(0.021) + f16(-0.15) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    if kind == T.Q8_0:
        return f16(0.0041) + rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    if kind == T.Q4_K:
        return f16(0.013) + f16(0.007) + rng.integers(0, 256, 12 + 128, dtype=np.uint8).tobytes()
    if kind == T.Q6_K:
        return rng.integers(0, 256, 128 + 64 + 16, dtype=np.uint8).tobytes() + f16(0.0023)
    if kind == T.Q5_0:
        return f16(0.029) + rng.integers(0, 256, 4 + 16, dtype=np.uint8).tobytes()
    if kind == T.Q5_1:
        return f16(0.017) + f16(-0.21) + rng.integers(0, 256, 4 + 16, dtype=np.uint8).tobytes()
    if kind == T.Q2_K:
        return rng.integers(0, 256, 16 + 64, dtype=np.uint8).tobytes() + f16(0.011) + f16(0.006)
    if kind == T.Q3_K:
        return rng.integers(0, 256, 32 + 64 + 12, dtype=np.uint8).tobytes() + f16(0.0031)
    if kind == T.Q5_K:
        return f16(0.009) + f16(0.005) + rng.integers(0, 256, 12 + 32 + 128, dtype=np.uint8).tobytes()
    raise ValueError(kind)


out = {"generator": "crates/io/scripts/make_dequant_golden.py", "gguf": importlib.metadata.version("gguf"), "types": {}}
for kind, n_blocks in [(T.F32, 1), (T.F16, 1), (T.BF16, 1), (T.Q4_0, 2), (T.Q4_1, 2), (T.Q8_0, 2), (T.Q4_K, 2), (T.Q6_K, 2),
                      (T.Q5_0, 2), (T.Q5_1, 2), (T.Q2_K, 2), (T.Q3_K, 2), (T.Q5_K, 2)]:
    raw = b"".join(block(kind) for _ in range(n_blocks))
    values = dequantize(np.frombuffer(raw, dtype=np.uint8), kind).reshape(-1)
    out["types"][str(int(kind))] = {"name": kind.name, "bytes": raw.hex(), "values": [float(v) for v in values]}
json.dump(out, sys.stdout)
sys.stdout.write("\n")
