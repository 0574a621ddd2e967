"""Bad input is a TypeError or ValueError that names the id and what is wrong (where
pycocoevalcap would fail an assert, or score a non-text or an empty text silently)."""

import pytest

import trrg
from trrg.pycocoevalcap.bleu import Bleu
from trrg.pycocoevalcap.cider import Cider
from trrg.pycocoevalcap.meteor import Meteor
from trrg.pycocoevalcap.rouge import Rouge

GTS = {"a": ["the heart is normal ."], "b": ["no effusion ."]}
RES = {"a": ["heart is normal ."], "b": ["no effusion ."]}


def scorers():
    return [Bleu(4), Meteor(), Rouge(), Cider()]


def score(scorer, gts, res):
    return scorer.compute_score(gts, res, verbose=0) if isinstance(scorer, Bleu) else scorer.compute_score(gts, res)


@pytest.mark.parametrize("scorer", scorers(), ids=lambda s: s.method())
@pytest.mark.parametrize(
    "gts, res, error, message",
    [
        ([["x"]], RES, TypeError, "gts must be a dict {id: [reference, ...]}, not list"),
        (GTS, "heart is normal .", TypeError, "res must be a dict {id: [hypothesis]}, not str"),
        (GTS, {"a": ["heart is normal ."]}, ValueError, "same ids: 1 ('b') only in gts, 0 () only in res"),
        (GTS, {**RES, "c": ["x"]}, ValueError, "0 () only in gts, 1 ('c') only in res"),
        (GTS, {"a": ["one", "two"], "b": ["x"]}, ValueError, "res['a'] must hold exactly one hypothesis, not 2"),
        (GTS, {"a": [], "b": ["x"]}, ValueError, "res['a'] must hold exactly one hypothesis, not 0"),
        (GTS, {"a": "heart is normal .", "b": ["x"]}, TypeError, "res['a'] must be a list of str, not str"),
        (GTS, {"a": [3], "b": ["x"]}, TypeError, "res['a'][0] must be a str, not int"),
        ({"a": ["ok", None], "b": ["x"]}, RES, TypeError, "gts['a'][1] must be a str, not NoneType"),
        ({"a": [], "b": ["x"]}, RES, ValueError, "gts['a'] is an empty list"),
        ({"a": ["ok", "  "], "b": ["x"]}, RES, ValueError, "gts['a'][1] is an empty reference"),
        (GTS, {"a": [""], "b": ["x"]}, ValueError, "res['a'][0] is an empty hypothesis: trrg refuses empty texts"),
        (GTS, {"a": [" \n"], "b": ["x"]}, ValueError, "res['a'][0] is an empty hypothesis"),
        ({}, {}, ValueError, "gts and res are empty"),
    ],
)
def test_bad_pairs(scorer, gts, res, error, message):
    with pytest.raises(error) as e:
        score(scorer, gts, res)
    assert message in str(e.value)


def test_bad_settings_and_api_input(tmp_path):
    with pytest.raises(ValueError, match="n must be an int from 1 to 4, not 5"):
        Bleu(5)
    with pytest.raises(ValueError, match="n must be 4, not 2"):
        Cider(n=2)
    with pytest.raises(ValueError, match="sigma must be a positive number, not -1"):
        Cider(sigma=-1.0).compute_score(GTS, RES)
    with pytest.raises(ValueError, match='unknown CE convention "chexbert"'):
        trrg.score(["a ."], ["a ."], ce="chexbert")
    with pytest.raises(ValueError, match="refs and hyps must have the same length, not 2 and 1"):
        trrg.score(["a .", "b ."], ["a ."])
    with pytest.raises(TypeError, match="hyps must be a list of texts"):
        trrg.score(["a ."], "a .")
    with pytest.raises(TypeError, match=r"hyps\[0\] must be a str, not int"):
        trrg.score(["a ."], [1])
    with pytest.raises(TypeError, match="meteor must be a path to meteor-1.5.jar or a trrg.pycocoevalcap.Meteor, not bool"):
        trrg.score(["a ."], ["a ."], meteor=False)
    with pytest.raises(ValueError, match=r"gts\[0\]\[0\] is an empty reference"):
        trrg.score([""], ["a ."])
    with pytest.raises(ValueError, match=r"res\[1\]\[0\] is an empty hypothesis"):
        trrg.score(["a .", "b ."], ["a .", ""])
    with pytest.raises(ValueError, match='unknown cleaner "iu_xray": use "iu", "mimic" or "r2gengpt_mimic"'):
        trrg.clean("x", "iu_xray")
    with pytest.raises(TypeError, match="report must be a str, not bytes"):
        trrg.clean(b"x")
    with pytest.raises(ValueError, match="report 1 is empty"):
        trrg.label(["no effusion .", " "])
    with pytest.raises(TypeError, match="report 'x' must be a str, not int"):
        trrg.label({"x": 3})
    missing = tmp_path / "nowhere" / "meteor-1.5.jar"
    with pytest.raises(OSError, match=f"METEOR data {missing}"):
        Meteor(jar=missing, cache=False)
    not_a_jar = tmp_path / "meteor-1.5.jar"
    not_a_jar.write_text("not a zip")
    with pytest.raises(OSError, match="not a readable jar"):
        Meteor(jar=not_a_jar, cache=False)
