"""METEOR's data: found as the CLI finds it, cached once, warned about when incomplete."""

import importlib.util
import shutil
import warnings

import pytest

import trrg
from trrg import _meteor, _native
from trrg.pycocoevalcap.meteor import Meteor


@pytest.fixture(scope="module")
def jar():
    found = trrg.find_meteor_jar()
    from conftest import need

    need(found is not None, "no meteor-1.5.jar (pip install pycocoevalcap==1.2 or set TRRG_METEOR_JAR)")
    return found


def test_cache_is_written_then_loaded_then_rebuilt_when_damaged(jar, golden, tmp_path):
    pairs = golden["sets"]["meteor_text"]["pairs"]
    want = _native.MeteorScorer(str(jar)).compute(pairs["refs"], pairs["hyps"])
    first = _native.MeteorScorer(str(jar), str(tmp_path))
    status, path = first.cache
    assert status == "written" and path.startswith(str(tmp_path))
    second = _native.MeteorScorer(str(jar), str(tmp_path))
    assert second.cache == ("loaded", path)
    assert first.compute(pairs["refs"], pairs["hyps"]) == want
    assert second.compute(pairs["refs"], pairs["hyps"]) == want
    with open(path, "r+b") as f:
        f.truncate(1000)
    third = _native.MeteorScorer(str(jar), str(tmp_path))
    assert third.cache[0].startswith("rewritten (cut short in"), third.cache
    assert third.compute(pairs["refs"], pairs["hyps"]) == want
    assert _native.MeteorScorer(str(jar), str(tmp_path)).cache == ("loaded", path)


def test_unwritable_cache_warns_and_still_scores(jar, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.warns(trrg.MeteorDataWarning, match="table cache .* was not written"):
        meteor = Meteor(jar=jar, cache=blocker / "cache")
    assert meteor.modules == "exact,stem,synonym,paraphrase"


def test_missing_paraphrase_file_and_missing_jar_warn(jar, tmp_path, monkeypatch):
    lone = tmp_path / "meteor-1.5.jar"
    shutil.copy(jar, lone)
    with pytest.warns(trrg.MeteorDataWarning, match="no data/paraphrase-en.gz beside"):
        assert Meteor(jar=lone, cache=False).modules == "exact,stem,synonym"
    monkeypatch.setattr(_meteor, "find_meteor_jar", lambda: None)
    with pytest.warns(trrg.MeteorDataWarning, match="no meteor-1.5.jar found"):
        assert Meteor(cache=False).modules == "exact,stem"


def test_jar_is_found_like_the_cli(jar, monkeypatch, tmp_path):
    monkeypatch.setenv("TRRG_METEOR_JAR", str(tmp_path / "elsewhere.jar"))
    assert trrg.find_meteor_jar() == tmp_path / "elsewhere.jar"
    monkeypatch.delenv("TRRG_METEOR_JAR")
    found = trrg.find_meteor_jar()  # pycocoevalcap's own jar, located without importing it
    if importlib.util.find_spec("pycocoevalcap") is None:
        assert found is None
    else:
        assert found.name == "meteor-1.5.jar" and found.parent.name == "meteor"
    monkeypatch.setenv("TRRG_CACHE_DIR", str(tmp_path / "c"))
    assert trrg.meteor_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TRRG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert trrg.meteor_cache_dir() == tmp_path / "x" / "trrg"


def test_full_meteor_loads_without_warning(jar):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Meteor(jar=jar).modules == "exact,stem,synonym,paraphrase"
