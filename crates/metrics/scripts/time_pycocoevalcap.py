#!/usr/bin/env python3
"""Times pycocoevalcap 1.2 (no PTB tokenizer) on the 3,858-pair corpus of benches/metrics.rs:
pair i = (report (7 i) mod 2955, report (13 i + 5) mod 2955) over the R2Gen IU-Xray reports in
train, val, test order, R2Gen IU cleaner.
Usage: python crates/metrics/scripts/time_pycocoevalcap.py .assets/NLMCXR_reports.tgz"""
import json
import os
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "crates", "data", "scripts"))
from make_clean_golden import iu_xray  # noqa: E402

split = json.load(open(os.path.join(ROOT, "crates", "data", "assets", "r2gen_iu_split_ids.json")))
by_id = {}
with tarfile.open(sys.argv[1]) as tf:
    for m in tf.getmembers():
        if m.name.endswith(".xml"):
            root = ET.fromstring(tf.extractfile(m).read())
            images = [p.get("id") for p in root.findall("parentImage")]
            sec = {a.get("Label").lower(): (a.text or "").strip() for a in root.iter("AbstractText")}
            if len(images) >= 2 and sec.get("findings"):
                by_id[images[0].rsplit("-", 1)[0]] = sec["findings"]
reports = [iu_xray(by_id[i]) for s in ("train", "val", "test") for i in split[s]]
refs = {str(i): [reports[(7 * i) % len(reports)]] for i in range(3858)}
hyps = {str(i): [reports[(13 * i + 5) % len(reports)]] for i in range(3858)}
t = time.perf_counter()
meteor = Meteor()
meteor._stat("warm up", ["warm up"])  # blocks until the JVM has started and loaded its data
print(f"METEOR startup (JVM, WordNet, paraphrase table): {time.perf_counter() - t:.3f} s")
total = 0.0
for name, scorer in [("BLEU", Bleu(4)), ("METEOR", meteor), ("ROUGE_L", Rouge()), ("CIDEr", Cider())]:
    t = time.perf_counter()
    score, _ = scorer.compute_score(refs, hyps, verbose=0) if name == "BLEU" else scorer.compute_score(refs, hyps)
    dt = time.perf_counter() - t
    total += dt
    print(f"{name}: {dt:.3f} s  score {score if name != 'BLEU' else score[3]:.9f}")
print(f"total (BLEU + METEOR + ROUGE_L + CIDEr, METEOR jar already started): {total:.3f} s")
