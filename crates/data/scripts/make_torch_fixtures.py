"""Writes crates/data/tests/fixtures/torch_{zip,legacy}.pt: small torch.save files in both
formats with a strided (transposed) tensor, a storage offset, f16/f64/i64 dtypes and a nested
dict, and torch_expected.json with each tensor's values as torch reads them. Also hf_bin_sharded/:
a HF directory with only PyTorch weights, split over two shards by pytorch_model.bin.index.json
as transformers writes them.

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

    sharded = OUT / "hf_bin_sharded"
    sharded.mkdir(exist_ok=True)
    shards = {
        "pytorch_model-00001-of-00002.bin": {"linear.weight": base.t().contiguous()},
        "pytorch_model-00002-of-00002.bin": {
            "linear.bias": torch.arange(10, dtype=torch.float32)[3:7].clone(),
            "half": state["half"],
        },
    }
    weight_map = {}
    for file, tensors in shards.items():
        torch.save(tensors, sharded / file)
        weight_map.update({name: file for name in tensors})
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (sharded / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=1))
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
