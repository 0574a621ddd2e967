#!/usr/bin/env python3
"""Clue AUC per observation of `trrg predict` output against a dataset's ground-truth labels.

Usage: scripts/clue-auc.py DATA_DIR PREDICTIONS_JSONL [PREDICTIONS_JSONL ...]

For each predictions file (the `predictions.jsonl` of `trrg predict --data-dir DATA_DIR`), the
AUC of each observation's clue probability, present (label 1) against the rest (0, -1 or
blank), as the main job's `test_per_observation` counts it, over the studies of the file that
DATA_DIR's `labels.json` labels. Prints one Markdown table: a row per observation, a column per
file, and the mean over files when there are several. A run's own `samples.jsonl` (the test
split, with its clue probabilities) works too and gives the run's `test_per_observation` clue
AUCs. Issue 40 asks for the test split's clue
AUCs to hold on a fresh synthetic set (`trrg synth --studies 300 --seed 3141`); this measures
that set. The standard library only.
"""
import json
import pathlib
import sys


def auc(scores, truth):
    """Mann-Whitney AUC (ties count one half); None with one class."""
    pos = [s for s, t in zip(scores, truth) if t]
    neg = [s for s, t in zip(scores, truth) if not t]
    if not pos or not neg:
        return None
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


def file_aucs(labels, path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    rows = [r for r in rows if r.get("id") in labels]
    if not rows:
        sys.exit(f"{path}: no study of the predictions has labels in the data directory")
    names = list(rows[0]["clues"])
    return {
        name: auc(
            [r["clues"][name] for r in rows],
            [labels[r["id"]].get(name) == 1 for r in rows],
        )
        for name in names
    }


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    labels_path = pathlib.Path(sys.argv[1]) / "labels.json"
    try:
        labels = json.loads(labels_path.read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"cannot read {labels_path}: {e}")
    columns = [file_aucs(labels, p) for p in sys.argv[2:]]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    # A column per file, named by its two enclosing directories (RUN/fresh, or x/RUN for a
    # run's own samples.jsonl).
    header = ["/".join(pathlib.Path(p).resolve().parts[-3:-1]) for p in sys.argv[2:]]
    several = len(columns) > 1
    print("| observation | " + " | ".join(header) + (" | mean |" if several else " |"))
    print("|---" * (len(header) + 1 + several) + "|")
    for name in columns[0]:
        values = [c.get(name) for c in columns]
        known = [v for v in values if v is not None]
        mean = fmt(sum(known) / len(known)) if known else "-"
        print(f"| {name} | " + " | ".join(fmt(v) for v in values) + (f" | {mean} |" if several else " |"))


if __name__ == "__main__":
    main()
