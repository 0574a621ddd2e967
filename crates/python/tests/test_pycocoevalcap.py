"""trrg.pycocoevalcap against pycocoevalcap 1.2, run side by side: corpus and per-example scores,
return types, and R2Gen's ``compute_scores`` with only its import lines changed."""

import io
import contextlib

import numpy as np
import pytest

from conftest import BLEU_ROUGE_CIDER_TOL, METEOR_TOL

import trrg
from trrg.pycocoevalcap.bleu import Bleu
from trrg.pycocoevalcap.cider import Cider
from trrg.pycocoevalcap.meteor import Meteor
from trrg.pycocoevalcap.rouge import Rouge

# The compute_scores of R2Gen (cuhksz-nlp/R2Gen, modules/metrics.py), as R2Gen writes it; only
# the import lines are filled in.
R2GEN_METRICS = '''
{imports}


def compute_scores(gts, res):
    """
    Performs the MS COCO evaluation using the Python 3 implementation (https://github.com/salaniz/pycocoevalcap)

    :param gts: Dictionary with the image ids and their gold captions,
    :param res: Dictionary with the image ids ant their generated captions
    :print: Evaluation score (the mean of the scores of all the instances) for each measure
    """

    # Set up scorers
    scorers = [
        (Bleu(4), ["BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4"]),
        (Meteor(), "METEOR"),
        (Rouge(), "ROUGE_L")
    ]
    eval_res = {{}}
    # Compute score for each metric
    for scorer, method in scorers:
        try:
            score, scores = scorer.compute_score(gts, res, verbose=0)
        except TypeError:
            score, scores = scorer.compute_score(gts, res)
        if type(method) == list:
            for sc, m in zip(score, method):
                eval_res[m] = sc
        else:
            eval_res[method] = score
    return eval_res
'''

COCO_IMPORTS = """from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.cider.cider import Cider"""
TRRG_IMPORTS = """from trrg.pycocoevalcap.bleu import Bleu
from trrg.pycocoevalcap.meteor import Meteor
from trrg.pycocoevalcap.rouge import Rouge
from trrg.pycocoevalcap.cider import Cider"""


def compute_scores_with(imports):
    namespace = {}
    exec(R2GEN_METRICS.format(imports=imports), namespace)
    return namespace["compute_scores"]


def close(ours, theirs, tol, what):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape, what
    worst = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    assert worst <= tol, f"{what}: largest difference {worst} > {tol}"
    return worst


def side_by_side(coco, gts, res):
    """Every scorer on both sides; checks types, corpus and per-example numbers."""
    for name, tol in (("Bleu", BLEU_ROUGE_CIDER_TOL), ("Meteor", METEOR_TOL),
                      ("Rouge", BLEU_ROUGE_CIDER_TOL), ("Cider", BLEU_ROUGE_CIDER_TOL)):
        ours_cls = {"Bleu": Bleu, "Meteor": Meteor, "Rouge": Rouge, "Cider": Cider}[name]
        args = {"verbose": 0} if name == "Bleu" else {}
        score, scores = ours_cls().compute_score(gts, res, **args)
        ref_score, ref_scores = coco[name]().compute_score(gts, res, **args)
        assert type(score) is type(ref_score), name
        assert type(scores) is type(ref_scores), name
        if name == "Bleu":
            assert all(type(s) is list for s in scores) and len(scores) == 4
        close(score, ref_score, tol, f"{name} corpus")
        close(scores, ref_scores, tol, f"{name} per example")


def without_empty_hypotheses(pairs):
    """The edge set's `empty_hyp` example is refused by trrg (see test_errors.py)."""
    keep = [i for i, h in pairs["hyps"].items() if h[0].strip()]
    return {i: pairs["refs"][i] for i in keep}, {i: pairs["hyps"][i] for i in keep}


def test_committed_sets_equal_pycocoevalcap(coco, golden):
    for name in ("sample", "edge", "meteor_text"):
        gts, res = without_empty_hypotheses(golden["sets"][name]["pairs"])
        assert len(gts) >= 3
        side_by_side(coco, gts, res)


def test_committed_sets_equal_the_committed_numbers(golden):
    """The fixture's numbers (made by pycocoevalcap 1.2) without running the reference."""
    meteor = Meteor()
    assert meteor.modules == "exact,stem,synonym,paraphrase"
    for name in ("sample", "meteor_text"):
        pairs, want = golden["sets"][name]["pairs"], golden["sets"][name]["scores"]
        gts, res = pairs["refs"], pairs["hyps"]
        bleu, bleu_per = Bleu(4).compute_score(gts, res, verbose=0)
        for k in range(4):
            close(bleu[k], want[f"BLEU_{k + 1}"], BLEU_ROUGE_CIDER_TOL, f"{name} BLEU_{k + 1}")
            close(bleu_per[k], want[f"BLEU_{k + 1}_per"], BLEU_ROUGE_CIDER_TOL, f"{name} BLEU per")
        for scorer, key, tol in ((meteor, "METEOR", METEOR_TOL), (Rouge(), "ROUGE_L", BLEU_ROUGE_CIDER_TOL),
                                 (Cider(), "CIDEr", BLEU_ROUGE_CIDER_TOL)):
            s, per = scorer.compute_score(gts, res)
            close(s, want[key], tol, f"{name} {key}")
            close(per, want[f"{key}_per"], tol, f"{name} {key} per example")


def test_r2gen_compute_scores_with_one_import_changed(coco, golden):
    pairs = golden["sets"]["sample"]["pairs"]
    ours = compute_scores_with(TRRG_IMPORTS)(pairs["refs"], pairs["hyps"])
    theirs = compute_scores_with(COCO_IMPORTS)(pairs["refs"], pairs["hyps"])
    assert list(ours) == list(theirs) == ["BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L"]
    for key in theirs:
        assert type(ours[key]) is type(theirs[key]), key
        close(ours[key], theirs[key], METEOR_TOL if key == "METEOR" else BLEU_ROUGE_CIDER_TOL, key)


def test_real_iu_xray_test_reports(coco, iu_test_reports):
    """The 590 real IU-Xray test reports; hypothesis i is reference i + 1 (mod 590)."""
    reports = iu_test_reports
    assert len(reports) == 590
    gts = {str(i): [r] for i, r in enumerate(reports)}
    res = {str(i): [reports[(i + 1) % len(reports)]] for i in range(len(reports))}
    side_by_side(coco, gts, res)
    ours = compute_scores_with(TRRG_IMPORTS)(gts, res)
    theirs = compute_scores_with(COCO_IMPORTS)(gts, res)
    for key in theirs:
        close(ours[key], theirs[key], METEOR_TOL if key == "METEOR" else BLEU_ROUGE_CIDER_TOL, key)


def test_int_ids_and_several_references(coco):
    """pycocoevalcap accepts any hashable id; so does trrg."""
    gts = {3: ["the heart is normal .", "heart size normal ."], 1: ["no effusion ."], 2: ["clear lungs ."]}
    res = {1: ["small effusion ."], 2: ["the lungs are clear ."], 3: ["heart is normal ."]}
    side_by_side(coco, gts, res)


def test_bleu_n_cider_sigma_and_verbose_output(coco, golden):
    pairs = golden["sets"]["sample"]["pairs"]
    gts, res = pairs["refs"], pairs["hyps"]
    for n in (1, 2, 3):
        ours, theirs = Bleu(n).compute_score(gts, res, verbose=0), coco["Bleu"](n).compute_score(gts, res, verbose=0)
        assert len(ours[0]) == len(ours[1]) == n
        close(ours[0], theirs[0], BLEU_ROUGE_CIDER_TOL, f"Bleu({n})")
        close(ours[1], theirs[1], BLEU_ROUGE_CIDER_TOL, f"Bleu({n}) per example")
    for sigma in (3.0, 10.0):
        ours, theirs = Cider(sigma=sigma).compute_score(gts, res), coco["Cider"](sigma=sigma).compute_score(gts, res)
        close(ours[0], theirs[0], BLEU_ROUGE_CIDER_TOL, f"Cider(sigma={sigma})")
        close(ours[1], theirs[1], BLEU_ROUGE_CIDER_TOL, f"Cider(sigma={sigma}) per example")
    printed = []
    for scorer in (Bleu(4), coco["Bleu"](4)):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            scorer.compute_score(gts, res)
        printed.append(buf.getvalue())
    assert printed[0] == printed[1] and printed[0].startswith("{'testlen': ")


def test_method_names(coco):
    for name, cls in (("Bleu", Bleu), ("Meteor", Meteor), ("Rouge", Rouge), ("Cider", Cider)):
        assert cls().method() == coco[name]().method()
