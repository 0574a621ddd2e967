#!/usr/bin/env python3
"""Cross-validated micro-F1 of the hard clue decisions for each threshold shrinkage.

Usage: scripts/threshold-cv.py DATA_DIR VAL_PREDICTIONS_JSONL [VAL_PREDICTIONS_JSONL ...]

Each file is the `predictions.jsonl` of `trrg predict --checkpoint RUN --data-dir DATA_DIR
--split val`: a run's clue probabilities on the validation split. A run's own validation CE F1
cannot judge how its thresholds are fitted, because they are fitted on those same studies. So
this splits the validation studies into 5 folds (10 random splits, seeded by the file's position).
It fits the thresholds on four folds, as training does (`trrg_train::fit_thresholds`: grid 0.05
... 0.95, coordinate ascent from 0.5 on the micro-F1 of the decisions, r2gen convention). It
shrinks them by the pseudo-count k (`clue.threshold_shrinkage`: `(n t + k 0.5) / (n + k)`, n =
the disease's positives among the fitting studies). Then it scores the decisions on the fifth
fold. The micro counts add up over all folds and splits. Prints one Markdown table: a row per
k (0 = the fitted thresholds; "0.5" = every threshold at 0.5), a column per file, and the mean.
The standard library only.
"""
import json
import pathlib
import random
import sys

GRID = [i / 20 for i in range(1, 20)]
SHRINKAGE = [0, 2, 5, 10, 20, 40, 80, None]  # None: every threshold 0.5


def counts(probs, truth, thresholds, rows):
    tp = fp = fn = 0
    for i in rows:
        for p, y, t in zip(probs[i], truth[i], thresholds):
            on = p >= t
            tp += on and y
            fp += on and not y
            fn += y and not on
    return tp, fp, fn


def f1(tp, fp, fn):
    return 2 * tp / max(2 * tp + fp + fn, 1)


def fit(probs, truth, rows):
    """`fit_thresholds` without the gate: coordinate ascent from 0.5, ties keep."""
    n = len(probs[0])
    chosen = [0.5] * n
    for _ in range(100):
        changed = False
        for d in range(n):
            best = (f1(*counts(probs, truth, chosen, rows)), chosen[d])
            trial = list(chosen)
            for g in GRID:
                trial[d] = g
                s = f1(*counts(probs, truth, trial, rows))
                if s > best[0] + 1e-12:
                    best = (s, g)
            if best[1] != chosen[d]:
                chosen[d] = best[1]
                changed = True
        if not changed:
            break
    return chosen


def shrunk(fitted, positives, k):
    if k is None:
        return [0.5] * len(fitted)
    return [t if n + k == 0 else (n * t + k * 0.5) / (n + k) for t, n in zip(fitted, positives)]


def cross_validate(labels, path, seed, folds=5, repeats=10):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    rows = [r for r in rows if r.get("id") in labels]
    if not rows:
        sys.exit(f"{path}: no study of the predictions has labels in the data directory")
    names = list(rows[0]["clues"])
    probs = [[r["clues"][d] for d in names] for r in rows]
    truth = [[labels[r["id"]].get(d) == 1 for d in names] for r in rows]
    rng = random.Random(seed)
    totals = {k: [0, 0, 0] for k in SHRINKAGE}
    for _ in range(repeats):
        order = list(range(len(rows)))
        rng.shuffle(order)
        for f in range(folds):
            held = order[f::folds]
            held_set = set(held)
            fitting = [i for i in order if i not in held_set]
            fitted = fit(probs, truth, fitting)
            positives = [sum(truth[i][d] for i in fitting) for d in range(len(names))]
            for k in SHRINKAGE:
                c = counts(probs, truth, shrunk(fitted, positives, k), held)
                totals[k] = [a + b for a, b in zip(totals[k], c)]
    return {k: f1(*c) for k, c in totals.items()}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    labels_path = pathlib.Path(sys.argv[1]) / "labels.json"
    try:
        labels = json.loads(labels_path.read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"cannot read {labels_path}: {e}")
    files = sys.argv[2:]
    columns = [cross_validate(labels, p, seed) for seed, p in enumerate(files)]
    header = ["/".join(pathlib.Path(p).resolve().parts[-3:-1]) for p in files]
    print("| shrinkage k | " + " | ".join(header) + " | mean |")
    print("|---" * (len(header) + 2) + "|")
    for k in SHRINKAGE:
        values = [c[k] for c in columns]
        name = "0.5 everywhere" if k is None else str(k)
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {name} | {cells} | {sum(values) / len(values):.3f} |")


if __name__ == "__main__":
    main()
