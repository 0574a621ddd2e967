#!/usr/bin/env python3
"""Linear probe on raw pixels: how separable each CheXpert observation of a SYNTHETIC trrg-synth
dataset is from its downsampled images alone, as a yardstick for the model's clue AUCs.

For every study, each view is resized (bilinear) to SIZE x SIZE gray pixels and the views are
concatenated; features are standardized on the training split, and one L2-regularized logistic
regression per observation (C = 0.01) is fit on train and scored by ROC AUC on test. A label
counts as positive only where it is 1 (r2gen convention).

    python3 -m venv /tmp/probe && /tmp/probe/bin/pip install numpy pillow scikit-learn
    /tmp/probe/bin/python scripts/pixel-probe.py data/synth-iu-256px-1200-seed7 16 32

Prints one line per size: observation, test AUC and the number of training positives.
"""
import json
import sys

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

OBSERVATIONS = [
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices", "No Finding",
]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
    with open(f"{data}/annotation.json") as f:
        annotation = json.load(f)
    with open(f"{data}/labels.json") as f:
        labels = json.load(f)
    for size in sizes:
        def features(study):
            views = [
                np.asarray(
                    Image.open(f"{data}/images/{p}").convert("L").resize((size, size), Image.BILINEAR),
                    dtype=np.float32,
                ).ravel() / 255.0
                for p in study["image_path"]
            ]
            return np.concatenate(views)

        x = {k: np.stack([features(s) for s in annotation[k]]) for k in ("train", "test")}
        mean, std = x["train"].mean(0), x["train"].std(0) + 1e-3
        x = {k: (v - mean) / std for k, v in x.items()}
        cells = []
        for o in OBSERVATIONS:
            y = {k: np.array([labels[s["id"]].get(o) == 1 for s in annotation[k]]) for k in x}
            if y["train"].all() or not y["train"].any() or y["test"].all() or not y["test"].any():
                cells.append(f"{o}: - ({int(y['train'].sum())})")
                continue
            model = LogisticRegression(C=0.01, max_iter=2000).fit(x["train"], y["train"])
            auc = roc_auc_score(y["test"], model.decision_function(x["test"]))
            cells.append(f"{o}: {auc:.3f} ({int(y['train'].sum())})")
        print(f"{size}x{size} px: " + "; ".join(cells))


if __name__ == "__main__":
    main()
