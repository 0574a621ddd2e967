#!/usr/bin/env python3
"""Golden NLG scores for trrg-metrics from pycocoevalcap 1.2 (`pip install pycocoevalcap==1.2`,
Java 17 for METEOR), R2Gen convention: no PTB tokenizer (`--no-ptb` in ../../../shared/tools/coco_scores.py).

Sets:
  sample          the 3 pairs of shared/assets/metrics_sample.json (text committed)
  edge            hand-made edge cases: empty hypothesis, identical pair, several references,
                  one-word reports, a very long report (text committed)
  iu590_shifted   the 590 R2Gen IU-Xray test reports (R2Gen IU cleaner), hypothesis i = reference
                  (i + 1) mod 590 in split order (text NOT committed: rebuilt from the asset)
  iu590_template  the same references, every hypothesis the normal template below
The IU-Xray reports come from NLMCXR_reports.tgz in the torchxrayvision==1.5.7 wheel
(scripts/fetch-assets.sh). Usage (from the repository root):
  python crates/metrics/scripts/make_golden.py .assets/NLMCXR_reports.tgz > crates/metrics/tests/fixtures/golden_scores.json
"""
import json
import os
import sys
import tarfile
import xml.etree.ElementTree as ET

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "crates", "data", "scripts"))
from make_clean_golden import iu_xray  # noqa: E402  (the R2Gen IU cleaner, Python's re)

TEMPLATE = "the heart is normal in size . the mediastinum is unremarkable . the lungs are clear ."


def scores(refs, hyps, meteor=True):
    out = {}
    s, per = Bleu(4).compute_score(refs, hyps, verbose=0)
    for k in range(4):
        out[f"BLEU_{k + 1}"] = s[k]
        out[f"BLEU_{k + 1}_per"] = [float(x) for x in per[k]]
    if meteor:
        s, per = Meteor().compute_score(refs, hyps)
        out["METEOR"], out["METEOR_per"] = float(s), [float(x) for x in per]
    s, per = Rouge().compute_score(refs, hyps)
    out["ROUGE_L"], out["ROUGE_L_per"] = float(s), [float(x) for x in per]
    s, per = Cider().compute_score(refs, hyps)
    out["CIDEr"], out["CIDEr_per"] = float(s), [float(x) for x in per]
    return out


def iu_test_reports(tgz_path):
    split = json.load(open(os.path.join(ROOT, "crates", "data", "assets", "r2gen_iu_split_ids.json")))
    by_id = {}
    with tarfile.open(tgz_path) as tf:
        for m in tf.getmembers():
            if not m.name.endswith(".xml"):
                continue
            root = ET.fromstring(tf.extractfile(m).read())
            images = [p.get("id") for p in root.findall("parentImage")]
            sec = {a.get("Label").lower(): (a.text or "").strip() for a in root.iter("AbstractText")}
            if len(images) >= 2 and sec.get("findings"):
                by_id[images[0].rsplit("-", 1)[0]] = sec["findings"]
    return [iu_xray(by_id[i]) for i in split["test"]]


def main():
    sample = json.load(open(os.path.join(ROOT, "..", "shared", "assets", "metrics_sample.json")))
    edge = {
        "refs": {
            "empty_hyp": ["the lungs are clear ."],
            "identical": ["heart size is normal . no pleural effusion or pneumothorax ."],
            "several_refs": ["mild cardiomegaly .", "the heart is mildly enlarged . no effusion .", "cardiomegaly without edema ."],
            "one_word": ["normal"],
            "one_word_vs_sentence": ["no acute cardiopulmonary abnormality ."],
            "long": [" . ".join(["the heart is normal in size", "the mediastinum is unremarkable", "the lungs are clear",
                                 "no pleural effusion or pneumothorax", "no acute bony abnormality"] * 8) + " ."],
        },
        "hyps": {
            "empty_hyp": [""],
            "identical": ["heart size is normal . no pleural effusion or pneumothorax ."],
            "several_refs": ["the heart is enlarged . no effusion ."],
            "one_word": ["normal"],
            "one_word_vs_sentence": ["normal"],
            "long": [" . ".join(["the heart is normal in size", "the lungs are clear", "no pleural effusion",
                                 "no pneumothorax", "the mediastinum is unremarkable"] * 9) + " ."],
        },
    }
    out = {"generator": "crates/metrics/scripts/make_golden.py", "pycocoevalcap": "1.2", "convention": "no PTB tokenizer",
           "sets": {"sample": {"pairs": sample, "scores": scores(sample["refs"], sample["hyps"])},
                    "edge": {"pairs": edge, "scores": scores(edge["refs"], edge["hyps"], meteor=False)}}}
    if len(sys.argv) > 1:
        reports = iu_test_reports(sys.argv[1])
        assert len(reports) == 590
        refs = {str(i): [r] for i, r in enumerate(reports)}
        shifted = {str(i): [reports[(i + 1) % 590]] for i in range(590)}
        template = {str(i): [TEMPLATE] for i in range(590)}
        for name, hyps in [("iu590_shifted", shifted), ("iu590_template", template)]:
            s = scores(refs, hyps)
            out["sets"][name] = {"scores": {k: v for k, v in s.items() if not k.endswith("_per")}}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
