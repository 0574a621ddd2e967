"""CIDEr-D as pycocoevalcap 1.2's ``Cider``: document frequencies from the evaluated set's
references, so a score depends on the whole set (compute it once, never per batch)."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import _native


class Cider:
    """Mean and per-example CIDEr-D (x10, n-grams up to 4, length penalty width ``sigma``).
    ``test`` and ``refs`` are accepted and ignored, as in pycocoevalcap. ``n`` must be 4:
    pycocoevalcap 1.2 always counts 4-grams, and any other ``n`` makes it fail with an
    ``IndexError``."""

    def __init__(
        self, test: Optional[object] = None, refs: Optional[object] = None, n: int = 4, sigma: float = 6.0
    ) -> None:
        if n != 4 or isinstance(n, bool):
            raise ValueError(
                f"Cider(n=...): n must be 4, not {n!r} (pycocoevalcap 1.2 counts 4-grams whatever n is, "
                "and fails with an IndexError for any other n)"
            )
        self._n = n
        self._sigma = float(sigma)

    def compute_score(
        self, gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]]
    ) -> Tuple["np.float64", "np.ndarray"]:
        """``(mean, per-example array)``, numpy types as pycocoevalcap returns them."""
        score = np.array(_native.cider_d(gts, res, self._sigma))
        return np.mean(score), score

    def method(self) -> str:
        """``"CIDEr"``."""
        return "CIDEr"
