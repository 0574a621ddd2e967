"""trrg.score, trrg.label and trrg.clean: equal to the CLI (`trrg eval`, `trrg label`) and to the
cleaners' committed golden cases (made with Python's re from R2Gen's and R2GenGPT's code)."""

import json
from pathlib import Path

import pytest

from conftest import REPO

import trrg
from trrg.pycocoevalcap.meteor import Meteor

CLEAN_GOLDEN = REPO / "crates" / "data" / "tests" / "fixtures" / "clean_golden.json"
HAND_LABELED = REPO / "crates" / "labeler" / "tests" / "fixtures" / "hand_labeled.txt"


def hand_labeled_reports():
    """The texts of the labeler's hand-labeled fixture (one `LABELS | TEXT` per line)."""
    lines = HAND_LABELED.read_text().splitlines()
    return [l.split("|", 1)[1].strip() for l in lines if "|" in l and not l.startswith("#")]


@pytest.mark.parametrize("ce", trrg.CE_CONVENTIONS)
def test_score_equals_trrg_eval(trrg_cli, golden, tmp_path, ce):
    pairs = golden["sets"]["meteor_text"]["pairs"]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs))
    jar = trrg.find_meteor_jar()
    assert jar is not None
    cli = trrg_cli("eval", "--pairs", str(path), "--ce", ce, "--per-example", "--meteor-jar", str(jar))
    ours = trrg.score(pairs["refs"], pairs["hyps"], ce=ce, per_example=True)
    # Ids are positions inside trrg.score; everything else is the CLI's object.
    for row, cli_row in zip(ours.pop("per_example"), cli.pop("per_example")):
        assert {k: v for k, v in row.items() if k != "id"} == {k: v for k, v in cli_row.items() if k != "id"}
    assert ours == cli
    assert ours["METEOR_modules"] == "exact,stem,synonym,paraphrase"


def test_score_takes_lists_and_dicts_alike(golden):
    pairs = golden["sets"]["sample"]["pairs"]
    ids = list(pairs["refs"])
    from_lists = trrg.score([pairs["refs"][i] for i in ids], [pairs["hyps"][i][0] for i in ids])
    from_dicts = trrg.score(pairs["refs"], pairs["hyps"])
    assert from_lists == from_dicts
    want = golden["sets"]["sample"]["scores"]
    for key in ("BLEU_1", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr"):
        assert abs(from_lists[key] - want[key]) < 1e-9, key
    assert from_lists["CE"]["labeler"] == trrg.LABELER_NAME == "CheXpert-style rules (trrg)"
    assert len(from_lists["CE"]["per_observation"]) == 14
    single = trrg.score(["mild cardiomegaly ."], ["mild cardiomegaly ."], meteor=Meteor())
    assert single["CE"]["f1"] == 1.0


def test_label_equals_trrg_label(trrg_cli, tmp_path):
    reports = hand_labeled_reports()
    assert len(reports) >= 20
    path = tmp_path / "reports.json"
    by_id = {f"r{i:03}": r for i, r in enumerate(reports)}
    path.write_text(json.dumps(by_id))
    cli = trrg_cli("label", "--reports", str(path))
    assert trrg.label(by_id) == cli
    assert trrg.label(reports) == [cli[i] for i in by_id]
    assert trrg.label(reports[0]) == cli["r000"]
    assert list(trrg.label(reports[0])) == trrg.OBSERVATIONS


def test_label_values():
    labels = trrg.label("mild cardiomegaly . no pleural effusion . possible pneumonia .")
    assert labels["Cardiomegaly"] == 1
    assert labels["Pleural Effusion"] == 0
    assert labels["Pneumonia"] == -1
    assert labels["Fracture"] is None


def test_clean_equals_the_golden_cases():
    cases = json.loads(CLEAN_GOLDEN.read_text())["cases"]
    assert len(cases) >= 10
    keys = {"iu": "iu_xray", "mimic": "mimic_cxr", "r2gengpt_mimic": "r2gengpt_mimic"}
    checked = 0
    for case in cases:
        for cleaner, key in keys.items():
            if key in case:
                assert trrg.clean(case["input"], cleaner) == case[key], (cleaner, case["input"])
                checked += 1
    assert checked >= 3 * 10
