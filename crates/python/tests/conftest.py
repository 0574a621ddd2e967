"""Shared fixtures of the Python package's tests.

The reference is pycocoevalcap 1.2 itself (``pip install pycocoevalcap==1.2``; Java runs its
METEOR), imported only here and in the tests. What a test needs and does not find (pycocoevalcap,
Java, the IU-Xray asset of ``scripts/fetch-assets.sh``, the ``trrg`` CLI) is a skip that says how
to get it, and under ``CI=true`` a failure: never a silent skip.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "crates" / "metrics" / "tests" / "fixtures" / "golden_scores.json"
BLEU_ROUGE_CIDER_TOL = 1e-9
METEOR_TOL = 1e-6


def need(ok, why):
    """Skips with ``why`` (fails under CI=true) unless ``ok``."""
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def coco():
    """The reference scorers of pycocoevalcap 1.2 (Java for METEOR)."""
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError:
        need(False, "pycocoevalcap is not installed (pip install pycocoevalcap==1.2)")
    need(shutil.which("java") is not None, "java is not on PATH (pycocoevalcap's METEOR needs it)")
    shared = Meteor()  # one JVM for the whole session

    return {"Bleu": Bleu, "Meteor": lambda: shared, "Rouge": Rouge, "Cider": Cider}


@pytest.fixture(scope="session")
def golden():
    """trrg-metrics' committed pycocoevalcap fixtures (crates/metrics/scripts/make_golden.py)."""
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="session")
def iu_test_reports():
    """The 590 R2Gen IU-Xray test reports, R2Gen-cleaned (Python's re), in split order."""
    assets = Path(os.environ.get("TRRG_ASSETS_DIR", REPO / ".assets"))
    tgz = assets / "NLMCXR_reports.tgz"
    need(tgz.is_file(), f"{tgz} is missing (run scripts/fetch-assets.sh)")
    sys.path.insert(0, str(REPO / "crates" / "metrics" / "scripts"))
    sys.path.insert(0, str(REPO / "crates" / "data" / "scripts"))
    from make_golden import iu_test_reports as read

    return read(str(tgz))


@pytest.fixture(scope="session")
def trrg_cli():
    """Runs the ``trrg`` binary (``$TRRG_BIN``, else target/debug or target/release)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    candidates = [os.environ.get("TRRG_BIN"), target / "debug" / "trrg", target / "release" / "trrg"]
    found = next((Path(c) for c in candidates if c and Path(c).is_file()), None)
    need(found is not None, "no trrg binary (cargo build -p trrg-cli, or set TRRG_BIN)")

    def run(*args):
        out = subprocess.run([str(found), *args], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    return run
