#!/usr/bin/env python3
"""Side by side: the perception probes of several stage-1-only runs (`--set stage2.epochs=0`).

Usage: scripts/probe-table.py [--key val_clue_auc|val_zero_shot_auc|probe_pooled|probe_views|probe_patches] RUN_DIR...

Prints one Markdown table: a row per observation, a column per run (its directory name), the
validation AUC chosen by --key (default: the full clue AUC), then the means and the prompts'
conditioning. Reads only each run's metrics.json; the standard library only.
"""
import argparse
import json
import pathlib
import sys


def value(metrics, key, disease):
    if key.startswith("probe_"):
        return metrics["val_feature_probe"].get(disease, {}).get(key[len("probe_"):])
    return metrics[key].get(disease)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default="val_clue_auc",
                        choices=["val_clue_auc", "val_zero_shot_auc", "probe_pooled", "probe_views", "probe_patches"])
    parser.add_argument("runs", nargs="+", type=pathlib.Path)
    args = parser.parse_args()
    runs = []
    for run in args.runs:
        path = run / "metrics.json"
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"error: {path}: {e}")
        if not metrics.get("stage1_only"):
            sys.exit(f"error: {path} is not a stage-1-only run (train with --set stage2.epochs=0)")
        runs.append((run.name, metrics))
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    diseases = list(runs[0][1]["val_clue_auc"])
    synthetic = " (SYNTHETIC data)" if all(m.get("synthetic") for _, m in runs) else ""
    print(f"Validation AUC, {args.key}{synthetic}\n")
    print("| observation | " + " | ".join(name for name, _ in runs) + " |")
    print("|---" * (len(runs) + 1) + "|")
    for d in diseases:
        print(f"| {d} | " + " | ".join(fmt(value(m, args.key, d)) for _, m in runs) + " |")
    means = []
    for _, m in runs:
        known = [v for d in diseases if (v := value(m, args.key, d)) is not None]
        means.append(sum(known) / len(known) if known else None)
    print("| **mean** | " + " | ".join(fmt(v) for v in means) + " |")
    cond = lambda m, k: m["prompts"][k]
    print("| identity cosine / condition | " + " | ".join(
        f"{cond(m, 'identity')['mean_cosine']:.2f} / {fmt(cond(m, 'identity')['condition_number'])}"
        for _, m in runs) + " |")


if __name__ == "__main__":
    main()
