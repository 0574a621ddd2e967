"""Drop-in replacements for pycocoevalcap 1.2's scorers, equal in numbers and return types.

Change one import line per scorer::

    from pycocoevalcap.bleu.bleu import Bleu        ->  from trrg.pycocoevalcap.bleu import Bleu
    from pycocoevalcap.meteor.meteor import Meteor  ->  from trrg.pycocoevalcap.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge     ->  from trrg.pycocoevalcap.rouge import Rouge
    from pycocoevalcap.cider.cider import Cider     ->  from trrg.pycocoevalcap.cider import Cider

Each ``compute_score(gts, res)`` takes pycocoevalcap's dicts (``{id: [reference, ...]}`` and
``{id: [hypothesis]}``, the same ids) and scores the texts as given (no PTB tokenizer, the R2Gen
convention). Where pycocoevalcap would fail an ``assert``, these raise ``TypeError`` or
``ValueError`` naming the id. METEOR needs no Java.
"""

from .bleu import Bleu
from .cider import Cider
from .meteor import Meteor
from .rouge import Rouge

__all__ = ["Bleu", "Cider", "Meteor", "Rouge"]
