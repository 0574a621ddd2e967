"""ROUGE-L as pycocoevalcap 1.2's ``Rouge`` (beta 1.2, tokens split on single spaces)."""

from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np

from .. import _native


class Rouge:
    """Mean and per-example ROUGE-L F-scores."""

    def __init__(self) -> None:
        self.beta = 1.2

    def compute_score(
        self, gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]]
    ) -> Tuple["np.float64", "np.ndarray"]:
        """``(mean, per-example array)``, numpy types as pycocoevalcap returns them."""
        score = np.array(_native.rouge_l(gts, res))
        return np.mean(score), score

    def method(self) -> str:
        """``"Rouge"``."""
        return "Rouge"
