"""Scoring from 4 Python threads at once gives the numbers of one thread (the GIL is released
while Rust scores, and the METEOR scorer is immutable)."""

import threading

import numpy as np

import trrg
from trrg.pycocoevalcap.bleu import Bleu
from trrg.pycocoevalcap.cider import Cider
from trrg.pycocoevalcap.meteor import Meteor
from trrg.pycocoevalcap.rouge import Rouge


def corpus(n):
    words = "the heart is normal in size no pleural effusion lungs are clear mild cardiomegaly".split()
    rng = np.random.default_rng(7)
    make = lambda: " ".join(rng.choice(words, size=int(rng.integers(4, 20)))) + " ."
    return {i: [make()] for i in range(n)}, {i: [make()] for i in range(n)}


def everything(gts, res, meteor):
    return (
        Bleu(4).compute_score(gts, res, verbose=0),
        meteor.compute_score(gts, res),
        [x.tolist() if hasattr(x, "tolist") else x for x in Rouge().compute_score(gts, res)],
        [x.tolist() if hasattr(x, "tolist") else x for x in Cider().compute_score(gts, res)],
        trrg.score(gts, res, meteor=meteor),
    )


def test_four_threads_equal_one():
    gts, res = corpus(800)
    meteor = Meteor()
    alone = everything(gts, res, meteor)
    results, errors = [None] * 4, []

    def work(i):
        try:
            for _ in range(3):
                results[i] = everything(gts, res, meteor)
        except Exception as e:  # reported below, in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(r == alone for r in results)
