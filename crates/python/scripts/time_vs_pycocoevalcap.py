#!/usr/bin/env python3
"""Python with trrg against Python with pycocoevalcap 1.2, back to back, on the 3,858-pair corpus
of benches/metrics.rs (pair i = (report (7 i) mod 2955, report (13 i + 5) mod 2955) over the R2Gen
IU-Xray reports in train, val, test order, R2Gen IU cleaner).

Each run is a fresh `python` process that imports the scorers, reads the pairs and scores BLEU-1..4,
METEOR, ROUGE-L and CIDEr-D (R2Gen's compute_scores loop, plus CIDEr); the wall time is measured
from outside, so it includes interpreter start-up, imports and METEOR's start-up (pycocoevalcap:
the JVM and its data; trrg: the table cache, or parsing the jar and paraphrase table on the first,
uncached run). Both sides must give the same numbers.

Usage (a venv with pycocoevalcap==1.2 and trrg installed; Java for pycocoevalcap):
  python crates/python/scripts/time_vs_pycocoevalcap.py .assets/NLMCXR_reports.tgz
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "crates", "metrics", "scripts"))
sys.path.insert(0, os.path.join(ROOT, "crates", "data", "scripts"))

SCORE = """
import json, sys
{imports}
pairs = json.load(open(sys.argv[1]))
gts, res = pairs["refs"], pairs["hyps"]
out = {{}}
for scorer, names in [(Bleu(4), ["BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4"]), (Meteor(), ["METEOR"]),
                      (Rouge(), ["ROUGE_L"]), (Cider(), ["CIDEr"])]:
    try:
        score, _ = scorer.compute_score(gts, res, verbose=0)
    except TypeError:
        score, _ = scorer.compute_score(gts, res)
    for name, value in zip(names, score if isinstance(score, list) else [score]):
        out[name] = float(value)
print(json.dumps(out))
"""
IMPORTS = {
    "pycocoevalcap": "from pycocoevalcap.{m}.{m} import {c}",
    "trrg": "from trrg.pycocoevalcap.{m} import {c}",
}


def script(side):
    lines = [IMPORTS[side].format(m=m, c=c) for m, c in
             [("bleu", "Bleu"), ("meteor", "Meteor"), ("rouge", "Rouge"), ("cider", "Cider")]]
    return SCORE.format(imports="\n".join(lines))


def run(side, pairs_path, env):
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script(side), pairs_path], capture_output=True,
                         text=True, env=env, check=True)
    return time.perf_counter() - t, json.loads(out.stdout.strip().splitlines()[-1])


def main():
    from make_golden import iu_reports

    reports = iu_reports(sys.argv[1], ("train", "val", "test"))
    pairs = {"refs": {str(i): [reports[(7 * i) % len(reports)]] for i in range(3858)},
             "hyps": {str(i): [reports[(13 * i + 5) % len(reports)]] for i in range(3858)}}
    work = tempfile.mkdtemp(prefix="trrg-time-")
    pairs_path = os.path.join(work, "pairs.json")
    json.dump(pairs, open(pairs_path, "w"))
    env = dict(os.environ, TRRG_CACHE_DIR=os.path.join(work, "cache"))
    rows = []
    for label, side in [("pycocoevalcap 1.2 (run 1)", "pycocoevalcap"),
                        ("trrg, first run (builds the METEOR table cache)", "trrg"),
                        ("trrg, cached (run 1)", "trrg"),
                        ("pycocoevalcap 1.2 (run 2)", "pycocoevalcap"),
                        ("trrg, cached (run 2)", "trrg")]:
        seconds, scores = run(side, pairs_path, env)
        rows.append((label, side, seconds, scores))
        print(f"{label}: {seconds:.3f} s  {json.dumps(scores)}", flush=True)
    reference = rows[0][3]
    for label, _, _, scores in rows:
        for key, value in reference.items():
            tol = 1e-6 if key == "METEOR" else 1e-9
            assert abs(scores[key] - value) <= tol, (label, key, scores[key], value)
    coco = [s for _, side, s, _ in rows if side == "pycocoevalcap"]
    cached = [s for label, side, s, _ in rows if "cached" in label]
    first = rows[1][2]
    print(f"\npairs: 3858; all runs equal to pycocoevalcap (BLEU/ROUGE/CIDEr 1e-9, METEOR 1e-6)")
    print(f"speed-up, cached: {min(coco) / max(cached):.1f}x to {max(coco) / min(cached):.1f}x")
    print(f"speed-up, first (uncached) run: {min(coco) / first:.1f}x to {max(coco) / first:.1f}x")


if __name__ == "__main__":
    main()
