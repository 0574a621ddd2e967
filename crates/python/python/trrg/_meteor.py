"""Finding METEOR's language data and loading it once per process.

The jar is found the way ``trrg eval`` finds it: the ``jar`` argument, else ``$TRRG_METEOR_JAR``,
else the ``meteor-1.5.jar`` inside an installed ``pycocoevalcap`` package (located without
importing it). ``data/paraphrase-en.gz`` is read from beside the jar, as METEOR itself does.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import warnings
from pathlib import Path
from typing import Optional, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]

_LOCK = threading.Lock()
_LOADED: dict = {}


class MeteorDataWarning(UserWarning):
    """METEOR runs without part of its data, or its table cache could not be written."""


def find_meteor_jar() -> Optional[Path]:
    """``$TRRG_METEOR_JAR`` when set, else pycocoevalcap's ``meteor/meteor-1.5.jar`` when that
    package is installed, else ``None``."""
    env = os.environ.get("TRRG_METEOR_JAR")
    if env:
        return Path(env)
    try:
        spec = importlib.util.find_spec("pycocoevalcap")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        jar = Path(location) / "meteor" / "meteor-1.5.jar"
        if jar.is_file():
            return jar
    return None


def meteor_cache_dir() -> Optional[Path]:
    """Where the METEOR table cache lives, shared with ``trrg eval``: ``$TRRG_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/trrg``, else ``~/.cache/trrg`` (``None`` without ``$HOME``)."""
    found = _native.default_cache_dir()
    return Path(found) if found is not None else None


def load_meteor(
    jar: Optional[PathLike] = None, cache: Union[bool, PathLike] = True
) -> "_native.MeteorScorer":
    """The METEOR scorer for ``jar`` (found with :func:`find_meteor_jar` when ``None``).

    ``cache``: ``True`` keeps the parsed tables in :func:`meteor_cache_dir` (the first load takes
    about 4 s, later ones about 0.05 s), a path keeps them there, ``False`` parses the jar and the
    paraphrase table every time (about 3 s). A scorer is loaded once per process and shared.
    Warns with :class:`MeteorDataWarning` when modules are missing or the cache is not written.
    """
    found = Path(jar) if jar is not None else find_meteor_jar()
    if cache is True:
        cache_dir: Optional[Path] = meteor_cache_dir()
    elif cache is False or cache is None:
        cache_dir = None
    else:
        cache_dir = Path(cache)
    key = (str(found) if found else None, str(cache_dir) if cache_dir else None)
    with _LOCK:
        scorer = _LOADED.get(key)
        if scorer is None:
            scorer = _native.MeteorScorer(
                str(found) if found else None, str(cache_dir) if cache_dir else None
            )
            _LOADED[key] = scorer
            _warn_about(scorer, found)
    return scorer


def _warn_about(scorer: "_native.MeteorScorer", jar: Optional[Path]) -> None:
    if jar is None:
        warnings.warn(
            "trrg METEOR: no meteor-1.5.jar found (pass Meteor(jar=...), set TRRG_METEOR_JAR, "
            "or pip install pycocoevalcap==1.2 for its jar): METEOR uses the exact and stem "
            "modules only, and scores below pycocoevalcap wherever synonyms or paraphrases match",
            MeteorDataWarning,
            stacklevel=4,
        )
    elif "paraphrase" not in scorer.modules:
        warnings.warn(
            f"trrg METEOR: no data/paraphrase-en.gz beside {jar}: METEOR uses the modules "
            f"{scorer.modules} only, and scores below pycocoevalcap wherever paraphrases match",
            MeteorDataWarning,
            stacklevel=4,
        )
    status = scorer.cache
    if status is not None and status[0].startswith("not written"):
        warnings.warn(
            f"trrg METEOR: the table cache {status[1]} was {status[0]}; every load parses the "
            "data again (about 3 s). Set TRRG_CACHE_DIR to a writable directory.",
            MeteorDataWarning,
            stacklevel=4,
        )
