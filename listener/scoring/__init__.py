"""Scoring: sentiment (complaint-aware VADER), categories, urgency 0-100, language.

    from listener.scoring import Scorer, ScoringContext
    scorer = Scorer(rules)                      # once per rules version
    score = scorer.score(mention, ScoringContext(author_open_escalations=1))
    score.to_dict()                             # stored with the mention / escalation

Modules: `types` (Score, Sentiment, ScoringContext), `lexicon` (built-in complaint
cues), `matcher` (phrase index), `sentiment` (VADER + cues), `categories`, `urgency`,
`language`, `scorer`.
"""

from listener.scoring.scorer import Scorer
from listener.scoring.types import Score, ScoringContext, Sentiment

__all__ = ["Score", "Scorer", "ScoringContext", "Sentiment"]
