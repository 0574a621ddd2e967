"""Writes crates/data/tests/fixtures/torch_{zip,legacy}.pt: small torch.save files in both
formats with a strided (transposed) tensor, a storage offset, f16/f64/i64 dtypes and a nested
dict, and torch_expected.json with each tensor's values as torch reads them.

    python crates/data/scripts/make_torch_fixtures.py   (a venv with torch)
"""
import collections
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests/fixtures"


def main():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7
    state = collections.OrderedDict(
        [
            ("linear.weight", base.t()),  # strides (1, 4): not contiguous
            ("linear.bias", torch.arange(10, dtype=torch.float32)[3:7]),  # storage offset 3
            ("half", torch.tensor([0.5, -1.25, 3.0], dtype=torch.float16)),
            ("double", torch.tensor([[1.0 / 3.0]], dtype=torch.float64)),
            ("bn.num_batches_tracked", torch.tensor(42)),
        ]
    )
    checkpoint = {"state_dict": state, "epoch": 3}
    torch.save(checkpoint, OUT / "torch_zip.pt")
    torch.save(checkpoint, OUT / "torch_legacy.pt", _use_new_zipfile_serialization=False)
    expected = {
        f"state_dict.{k}": {"shape": list(v.shape), "values": v.double().reshape(-1).tolist()}
        for k, v in state.items()
    }
    (OUT / "torch_expected.json").write_text(json.dumps(expected, indent=1))
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
