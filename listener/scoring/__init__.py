"""Scoring: sentiment (complaint-aware VADER), categories, urgency 0-100, language.

    from listener.scoring import Scorer, ScoringContext
    scorer = Scorer(rules)                      # once per rules version
    score = scorer.score(mention, ScoringContext(author_open_escalations=1))
    score.to_dict()                             # stored with the mention / escalation

Modules, each small: `types` (Score, Sentiment, ScoringContext), `lexicon` (built-in
complaint cues, data only), `matcher` (phrase index, O(tokens)), `valence` (VADER's
per-word rules on pre-lowered tokens), `sentiment` (VADER + cues + care logic),
`questions` (information request vs complaint), `foreign` (es/fr/de keyword lexicons),
`language` (platform tag, cheap English test, lingua), `categories`, `urgency`, `scorer`.
Quality and speed against plain VADER: `python bench/quality.py --split dev|test`.
`compiled` (imported first) decides whether the hot modules run as their mypyc build or
from source.
"""

from listener.scoring import compiled  # noqa: F401  (before any other submodule)
from listener.scoring.scorer import Scorer
from listener.scoring.types import PreScore, Score, ScoringContext, Sentiment

__all__ = ["PreScore", "Score", "Scorer", "ScoringContext", "Sentiment"]
