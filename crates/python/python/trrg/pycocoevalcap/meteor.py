"""METEOR 1.5 as pycocoevalcap 1.2's ``Meteor`` (``-l en -norm``), ported to Rust: no Java.

With the jar's WordNet data and ``data/paraphrase-en.gz`` it uses all four modules (exact, stem,
synonym, paraphrase) and equals pycocoevalcap; without them it says so in a
:class:`trrg.MeteorDataWarning` and uses exact and stem only.
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple, Union

from .._meteor import PathLike, load_meteor


class Meteor:
    """Corpus METEOR (from pooled statistics, as pycocoevalcap's ``EVAL`` line) and per-example
    scores.

    ``jar``: ``meteor-1.5.jar``; by default ``$TRRG_METEOR_JAR``, else pycocoevalcap's own jar
    when that package is installed. ``cache``: keep the parsed tables in a one-time cache
    (``True``: ``$TRRG_CACHE_DIR``, ``$XDG_CACHE_HOME/trrg`` or ``~/.cache/trrg``; or a path;
    ``False``: none). The scorer is immutable and safe to share between threads.
    """

    def __init__(self, jar: Optional[PathLike] = None, *, cache: Union[bool, PathLike] = True) -> None:
        self._scorer = load_meteor(jar, cache)

    @property
    def modules(self) -> str:
        """The modules in use, e.g. ``"exact,stem,synonym,paraphrase"``."""
        return self._scorer.modules

    def compute_score(
        self, gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]]
    ) -> Tuple[float, List[float]]:
        """``(corpus score, per-example scores)``."""
        return self._scorer.compute(gts, res)

    def method(self) -> str:
        """``"METEOR"``."""
        return "METEOR"
