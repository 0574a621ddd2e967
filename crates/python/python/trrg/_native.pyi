"""Type stubs of the native module (crates/python/src/lib.rs)."""

from typing import Any, List, Optional, Tuple

__version__: str
LABELER_NAME: str

def bleu(
    gts: Any, res: Any
) -> Tuple[List[float], List[List[float]], Tuple[int, int, List[int], List[int]]]:
    """``(corpus BLEU-1..4, per-example BLEU-1..4 as 4 lists, (testlen, reflen, guess, correct))``."""

def rouge_l(gts: Any, res: Any) -> List[float]:
    """Per-example ROUGE-L."""

def cider_d(gts: Any, res: Any, sigma: float = 6.0) -> List[float]:
    """Per-example CIDEr-D."""

class MeteorScorer:
    """METEOR 1.5 with its language data; immutable and thread-safe."""

    def __init__(self, jar: Optional[str] = None, cache_dir: Optional[str] = None) -> None: ...
    @property
    def modules(self) -> str: ...
    @property
    def cache(self) -> Optional[Tuple[str, str]]: ...
    def compute(self, gts: Any, res: Any) -> Tuple[float, List[float]]: ...

def evaluate(
    gts: Any, res: Any, convention: str, meteor: MeteorScorer, per_example: bool = False
) -> str:
    """The JSON text of every NLG metric and CE, as ``trrg eval`` prints it."""

def default_cache_dir() -> Optional[Any]:
    """``$TRRG_CACHE_DIR``, ``$XDG_CACHE_HOME/trrg`` or ``~/.cache/trrg``."""

def observations() -> List[str]:
    """The 14 CheXpert observations."""

def label(reports: List[str]) -> List[List[Optional[int]]]:
    """14 labels per report: 1, 0, -1 or None."""

def clean(report: str, cleaner: str) -> str:
    """One report cleaned by R2Gen's or R2GenGPT's cleaner."""
