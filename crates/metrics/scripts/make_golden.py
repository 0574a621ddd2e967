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
  meteor_text     raw, untokenized report text (capitals, punctuation, numbers, hyphens, quotes,
                  contractions) for METEOR's -norm tokenizer and its synonym/paraphrase modules
METEOR runs the jar with its paraphrase table (pycocoevalcap/meteor/data/paraphrase-en.gz, present
in the pycocoevalcap 1.2 wheel).
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


METEOR_TEXT = {
    "refs": {
        "caps_punct": ["The heart is normal in size. The mediastinum is unremarkable; lungs are clear!"],
        "numbers": ["There is a 2.5 cm nodule in the right upper lobe, measuring 1,500 mm3 (approx.)."],
        "hyphen_quotes": ["Post-operative changes of the \"left\" hemithorax -- stable since 2009-10-12."],
        "contractions": ["The patient's heart isn't enlarged; there's no effusion."],
        "synonyms": ["the heart is enlarged . there is a large opacity in the lung ."],
        "paraphrase": ["no acute cardiopulmonary abnormality . the lungs are clear of any focal consolidation ."],
        "dots": ["Dr. Smith reviewed the film... No change vs. prior, i.e. stable. U.S.-based read."],
        "several_refs": ["Mild cardiomegaly.", "The cardiac silhouette is mildly enlarged.", "Borderline heart size."],
    },
    "hyps": {
        "caps_punct": ["the heart size is normal . the mediastinum is unremarkable . the lungs are clear ."],
        "numbers": ["A 25 mm nodule is seen in the right upper lobe (1500 mm3)."],
        "hyphen_quotes": ["Postoperative change of the left hemithorax, unchanged since 2009."],
        "contractions": ["The patients heart is not enlarged. There is no effusion."],
        "synonyms": ["the cardiac silhouette is large . there is a big opacification in the lungs ."],
        "paraphrase": ["there is no acute cardiopulmonary disease . lungs are free of focal airspace disease ."],
        "dots": ["dr. smith read the films . no changes versus the prior study , stable ."],
        "several_refs": ["the heart is mildly enlarged ."],
    },
}


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


def iu_reports(tgz_path, splits=("test",)):
    """The R2Gen IU-Xray reports of `splits`, R2Gen-cleaned, in split order."""
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
    return [iu_xray(by_id[i]) for s in splits for i in split[s]]


def iu_test_reports(tgz_path):
    return iu_reports(tgz_path)


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
                    "edge": {"pairs": edge, "scores": scores(edge["refs"], edge["hyps"])},
                    "meteor_text": {"pairs": METEOR_TEXT, "scores": scores(METEOR_TEXT["refs"], METEOR_TEXT["hyps"])}}}
    if len(sys.argv) > 1:
        reports = iu_test_reports(sys.argv[1])
        assert len(reports) == 590
        refs = {str(i): [r] for i, r in enumerate(reports)}
        shifted = {str(i): [reports[(i + 1) % 590]] for i in range(590)}
        template = {str(i): [TEMPLATE] for i in range(590)}
        for name, hyps in [("iu590_shifted", shifted), ("iu590_template", template)]:
            s = scores(refs, hyps)
            keep = {k: v for k, v in s.items() if not k.endswith("_per") or k == "METEOR_per"}
            out["sets"][name] = {"scores": keep}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
