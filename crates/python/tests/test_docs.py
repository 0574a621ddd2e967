"""The examples in the package's docstrings run and give what they show."""

import doctest

import trrg
import trrg.pycocoevalcap.bleu


def test_docstring_examples():
    for module in (trrg, trrg.pycocoevalcap.bleu):
        failed, attempted = doctest.testmod(module)
        assert attempted > 0 and failed == 0, module.__name__
