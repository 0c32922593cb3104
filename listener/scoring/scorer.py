"""`Scorer`: the pure function (mention, rules, recent context) -> Score.

Everything expensive (VADER's lexicon merged with rules.yaml's, the phrase index, the
category regexes, the brand-handle regex, the shared lingua detector) is built once in
`__init__`; `score` does one tokenisation, one VADER pass, one phrase scan and cheap
arithmetic. Build a new Scorer when the rules change.
"""

from __future__ import annotations

from typing import Literal

from listener.scoring.categories import Categoriser
from listener.scoring.foreign import keyword_scorers
from listener.scoring.language import LanguageGate
from listener.scoring.model import LinearModel
from listener.scoring.sentiment import SentimentEngine, TextAnalysis, as_stars, stars_in_text
from listener.scoring.types import Score, ScoringContext, Sentiment
from listener.scoring.urgency import (
    VERIFIED_BONUS,
    combine,
    handle_pattern,
    log_strength,
    negativity_strength,
    pile_on_strength,
)
from listener.types import Mention
from socialear.config import RulesConfig

_NO_CONTEXT = ScoringContext()


class Scorer:
    """Scores mentions against one version of the rules."""

    def __init__(self, rules: RulesConfig, model: LinearModel | None | Literal["default"] = "default") -> None:
        """`model`: the sentiment decision layer (default: the trained `model_weights`;
        None: the label is the sign of the care-adjusted compound, as before the model)."""
        self.rules = rules
        if model == "default" and rules.scoring.sentiment == "rules":
            model = None
        self.engine = SentimentEngine(rules.lexicon, model=model)
        self.categoriser = Categoriser(rules.categories)
        self.language = LanguageGate()
        self.keywords = keyword_scorers()  # es/fr/de: small keyword lexicons
        own = [b for b in rules.brands if not b.competitor]
        handles = {h for b in own for h in b.handles.values()}
        self._handles = {h.lstrip("@").lower() for h in handles}
        self._handle_re = handle_pattern(handles)
        self._urgency = rules.urgency
        self._engagement_high = rules.urgency.engagement_high

    def sentiment(self, text: str, rating: float | None = None) -> Sentiment:
        """Sentiment alone (English rules; no language gate)."""
        return self.engine.sentiment(text, rating)

    def score(self, mention: Mention, context: ScoringContext | None = None) -> Score:
        ctx = context or _NO_CONTEXT
        text = f"{mention.title}. {mention.text}" if mention.title else mention.text
        analysis = self.engine.analyse(text, mention.rating)
        language = self.language.detect(text, analysis.tokens, mention.lang)
        sentiment = analysis.sentiment
        supported = self.language.supported(language)
        if not supported:
            keywords = self.keywords.get(language or "")
            stars = as_stars(mention.rating) if mention.rating is not None else stars_in_text(text)
            if keywords is not None:
                supported = True
                sentiment = keywords.sentiment(analysis.tokens, stars)
            else:
                sentiment = self._unsupported(language, stars)
        hits = self.categoriser.match(text, analysis.tokens)
        categories = list(hits)
        strengths = self._strengths(mention, ctx, analysis, sentiment, categories, supported)
        urgency, signals = combine(self._urgency, strengths)
        return Score(
            sentiment=sentiment,
            categories=categories,
            category_hits=hits,
            urgency=urgency,
            urgency_signals=signals,
            language=language,
            language_supported=supported,
            question=analysis.question if language in (None, "en") else "?" in text,
        )

    # -- helpers -----------------------------------------------------------------------
    def _unsupported(self, language: str | None, stars: int | None) -> Sentiment:
        """No lexicon for this language: say so, and use only the star rating if there is one."""
        reasons = [f"language not supported ({language})"]
        if stars is None:
            return Sentiment("neutral", 0.0, reasons)
        rated = self.engine.sentiment("", stars)
        return Sentiment(rated.label, rated.compound, reasons + rated.reasons)

    def _addressed(self, mention: Mention, text: str) -> bool:
        if self._handle_re is not None and self._handle_re.search(text):
            return True
        reply_to = (mention.in_reply_to_user or "").lstrip("@").lower()
        return bool(reply_to) and reply_to in self._handles

    def _strengths(
        self,
        mention: Mention,
        ctx: ScoringContext,
        analysis: TextAnalysis,
        sentiment: Sentiment,
        categories: list[str],
        supported: bool,
    ) -> dict[str, float]:
        urgency = self._urgency
        author = mention.author
        addressed = self._addressed(mention, mention.text)
        reach = log_strength(author.followers, urgency.reach_followers_high)
        if author.verified:
            reach = min(1.0, reach + VERIFIED_BONUS)
        asks = bool(analysis.help) or (addressed and "?" in mention.text)
        pile = 0
        if sentiment.label != "positive":
            pile = max(
                ctx.thread_negative_recent,
                max((ctx.category_negative_recent.get(c, 0) for c in categories), default=0),
            )
        return {
            "negativity": negativity_strength(
                sentiment.compound, analysis.complaint if supported else 0.0, sentiment.label
            ),
            "severity": self.categoriser.max_severity(categories) / 5.0,
            "reach": reach,
            "engagement": log_strength(mention.engagement, self._engagement_high),
            "addressed": 1.0 if addressed else 0.0,
            "help_request": 1.0 if asks else 0.0,
            "repeat_contact": 1.0 if ctx.author_open_escalations > 0 else 0.0,
            "pile_on": pile_on_strength(pile, urgency.pile_on_threshold),
            "urgent_words": 1.0 if analysis.urgent else 0.0,
        }
