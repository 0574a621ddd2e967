"""BLEU-1..n as pycocoevalcap 1.2's ``Bleu`` (``option='closest'``, 1e-15 / 1e-9 smoothing)."""

from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple

from .. import _native


class Bleu:
    """Corpus and per-example BLEU-1..n, n at most 4.

    >>> Bleu(4).compute_score({1: ["no effusion ."]}, {1: ["no effusion ."]}, verbose=0)[0][0]
    0.9999999993333338
    """

    def __init__(self, n: int = 4) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4:
            raise ValueError(f"Bleu(n): n must be an int from 1 to 4, not {n!r}")
        self._n = n

    def compute_score(
        self,
        gts: Mapping[object, Sequence[str]],
        res: Mapping[object, Sequence[str]],
        verbose: int = 1,
    ) -> Tuple[List[float], List[List[float]]]:
        """``(corpus BLEU-1..n, per-example BLEU-1..n as n lists)``. With ``verbose`` (the default,
        as pycocoevalcap) prints the pooled counts and the length ratio as pycocoevalcap does."""
        corpus, per_example, (testlen, reflen, guess, correct) = _native.bleu(gts, res)
        n = self._n
        if verbose > 0:
            print({"testlen": testlen, "reflen": reflen, "guess": guess[:n], "correct": correct[:n]})
            print("ratio:", (testlen + 1e-15) / (reflen + 1e-9))
        return list(corpus[:n]), [list(p) for p in per_example[:n]]

    def method(self) -> str:
        """``"Bleu"``."""
        return "Bleu"
