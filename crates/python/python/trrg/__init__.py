"""trrg: radiology report generation metrics without Java.

* :mod:`trrg.pycocoevalcap`: ``Bleu``, ``Meteor``, ``Rouge``, ``Cider``, drop-in for
  pycocoevalcap 1.2 (same classes, ``compute_score`` signatures, return types and numbers).
* :func:`score`: every NLG metric and clinical efficacy (CE) in one call, in a named convention.
* :func:`label`: the CheXpert-style rule labeler (14 observations; "CheXpert-style rules (trrg)").
* :func:`clean`: R2Gen's and R2GenGPT's report cleaners, exactly.

The work runs in Rust (trrg-metrics, trrg-labeler, trrg-clean) with the GIL released.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native, pycocoevalcap
from ._meteor import MeteorDataWarning, PathLike, find_meteor_jar, load_meteor, meteor_cache_dir

__version__: str = _native.__version__
LABELER_NAME: str = _native.LABELER_NAME
"""The labeler's name, as it appears in CE results: ``"CheXpert-style rules (trrg)"``."""
OBSERVATIONS: List[str] = list(_native.observations())
"""The 14 CheXpert observations, in the labeler's order."""
CE_CONVENTIONS = ("r2gen", "promptmrg", "f1chexbert")
"""``r2gen``: positive = 1, micro over 14 (R2Gen and most papers). ``promptmrg``: positive = 1,
example-based. ``f1chexbert``: uncertain counts positive, micro/macro F1 over 14 and 5."""
CLEANERS = ("iu", "mimic", "r2gengpt_mimic")
"""R2Gen's IU-Xray and MIMIC-CXR cleaners, and R2GenGPT's MIMIC-CXR cleaner."""

__all__ = [
    "CE_CONVENTIONS",
    "CLEANERS",
    "LABELER_NAME",
    "MeteorDataWarning",
    "OBSERVATIONS",
    "clean",
    "find_meteor_jar",
    "label",
    "meteor_cache_dir",
    "pycocoevalcap",
    "score",
]


def _as_examples(refs: Any, hyps: Any) -> tuple:
    """pycocoevalcap's ``(gts, res)`` from parallel lists (or from those dicts, unchanged)."""
    if isinstance(refs, Mapping) and isinstance(hyps, Mapping):
        return refs, hyps
    for name, value in (("refs", refs), ("hyps", hyps)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(
                f"{name} must be a list of texts (or both refs and hyps pycocoevalcap dicts), "
                f"not {type(value).__name__}"
            )
    if len(refs) != len(hyps):
        raise ValueError(f"refs and hyps must have the same length, not {len(refs)} and {len(hyps)}")
    gts, res = {}, {}
    for i, (r, h) in enumerate(zip(refs, hyps)):
        if not isinstance(h, str):
            raise TypeError(f"hyps[{i}] must be a str, not {type(h).__name__}")
        if isinstance(r, str):
            r = [r]
        elif not isinstance(r, (list, tuple)):
            raise TypeError(f"refs[{i}] must be a str or a list of str, not {type(r).__name__}")
        gts[i], res[i] = list(r), [h]
    return gts, res


def score(
    refs: Union[Sequence[Union[str, Sequence[str]]], Mapping[Any, Sequence[str]]],
    hyps: Union[Sequence[str], Mapping[Any, Sequence[str]]],
    ce: str = "r2gen",
    *,
    meteor: Union[None, PathLike, "pycocoevalcap.Meteor"] = None,
    per_example: bool = False,
) -> Dict[str, Any]:
    """Every metric of a report-generation evaluation, as ``trrg eval`` prints it.

    ``refs[i]`` (a text, or a list of texts) are the references of ``hyps[i]``; pycocoevalcap's
    ``(gts, res)`` dicts work too. Returns ``BLEU_1`` .. ``BLEU_4``, ``METEOR``, ``ROUGE_L``,
    ``CIDEr`` (pycocoevalcap 1.2's numbers, R2Gen convention: no PTB tokenizer),
    ``METEOR_modules``, and ``CE``: precision, recall and F1 in convention ``ce`` (one of
    :data:`CE_CONVENTIONS`) with per-observation scores, both sides labeled by :func:`label`
    (references from each example's first one). ``per_example=True`` adds per-example scores.
    ``meteor``: a jar path or a :class:`trrg.pycocoevalcap.Meteor`; by default the jar is found
    as :class:`~trrg.pycocoevalcap.Meteor` finds it.

    >>> s = score(["the heart is normal . no effusion ."], ["the heart is normal . small effusion ."])
    >>> round(s["BLEU_1"], 3), s["CE"]["convention"]
    (0.875, 'r2gen')
    """
    gts, res = _as_examples(refs, hyps)
    if isinstance(meteor, pycocoevalcap.Meteor):
        scorer = meteor._scorer
    elif meteor is None or isinstance(meteor, (str, os.PathLike)):
        scorer = load_meteor(meteor)
    else:
        raise TypeError(
            f"meteor must be a path to meteor-1.5.jar or a trrg.pycocoevalcap.Meteor, not {type(meteor).__name__}"
        )
    return json.loads(_native.evaluate(gts, res, ce, scorer, per_example))


def label(
    reports: Union[str, Sequence[str], Mapping[Any, str]],
) -> Union[Dict[str, Optional[int]], List[Dict[str, Optional[int]]], Dict[Any, Dict[str, Optional[int]]]]:
    """Labels reports with the 14 CheXpert observations: ``{observation: 1 | 0 | -1 | None}``
    (positive, negative, uncertain, not mentioned), as ``trrg label`` does.

    A str gives one such dict, a list a list of them, a dict ``{id: report}`` a dict
    ``{id: labels}``.

    >>> label("mild cardiomegaly . no pleural effusion .")["Cardiomegaly"]
    1
    """
    if isinstance(reports, str):
        return label([reports])[0]
    if isinstance(reports, Mapping):
        ids = list(reports)
        return dict(zip(ids, label([_report(reports[i], repr(i)) for i in ids])))
    if isinstance(reports, bytes) or not isinstance(reports, Sequence):
        raise TypeError(f"reports must be a str, a list of str or a dict of str, not {type(reports).__name__}")
    texts = [_report(r, str(i)) for i, r in enumerate(reports)]
    rows = _native.label(texts)
    return [dict(zip(OBSERVATIONS, row)) for row in rows]


def _report(text: Any, where: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"report {where} must be a str, not {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"report {where} is empty")
    return text


def clean(report: str, cleaner: str = "iu") -> str:
    """``report`` cleaned exactly as R2Gen (``"iu"``, ``"mimic"``) or R2GenGPT
    (``"r2gengpt_mimic"``) cleans it, quirks included.

    >>> clean("1. Heart size normal. 2. No effusion.", "iu")
    'heart size normal . no effusion .'
    """
    if not isinstance(report, str):
        raise TypeError(f"report must be a str, not {type(report).__name__}")
    return _native.clean(report, cleaner)
