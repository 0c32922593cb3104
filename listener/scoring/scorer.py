"""`Scorer`: the pure function (mention, rules, recent context) -> Score.

Everything expensive (VADER's lexicon merged with rules.yaml's, the phrase index, the
category regexes, the brand-handle regex, the shared lingua detector) is built once in
`__init__`; `score` does one tokenisation, one VADER pass, one phrase scan and cheap
arithmetic. Build a new Scorer when the rules change.
"""

from __future__ import annotations

import math
from typing import Literal

from listener.scoring.categories import Categoriser
from listener.scoring.foreign import keyword_scorers
from listener.scoring.language import LanguageGate
from listener.scoring.model import LinearModel
from listener.scoring.sentiment import SentimentEngine, TextAnalysis, as_stars, stars_in_text
from listener.scoring.types import PreScore, Score, ScoringContext, Sentiment
from listener.scoring.urgency import (
    VERIFIED_BONUS,
    handle_pattern,
    pile_on_strength,
)
from listener.types import Mention
from socialear.config import RulesConfig

_NO_CONTEXT = ScoringContext()


def brand_words(rules: RulesConfig) -> list[str]:
    """Every word of every configured brand's and competitor's name and handles: entity
    masking gives them no valence (a brand called "Orange" or "Virgin" is not a feeling)."""
    words: list[str] = []
    for brand in rules.brands:
        words.extend(brand.name.split())
        for handle in brand.handles.values():
            words.append(handle.lstrip("@"))
    return words


class Scorer:
    """Scores mentions against one version of the rules."""

    def __init__(self, rules: RulesConfig, model: LinearModel | Literal["default"] | None = "default") -> None:
        """`model`: the sentiment decision layer (default: the trained `sentiment_model.json.gz`;
        None: the label is the sign of the care-adjusted compound, as before the model)."""
        self.rules = rules
        if model == "default" and rules.scoring.sentiment == "rules":
            model = None
        self.engine = SentimentEngine(rules.lexicon, model=model, entities=brand_words(rules))
        self.categoriser = Categoriser(rules.categories)
        self.language = LanguageGate()
        self.keywords = keyword_scorers()  # es/fr/de: small keyword lexicons
        own = [b for b in rules.brands if not b.competitor]
        handles = {h for b in own for h in b.handles.values()}
        self._handles = {h.lstrip("@").lower() for h in handles}
        self._handle_re = handle_pattern(handles)
        self._urgency = rules.urgency
        self._engagement_high = rules.urgency.engagement_high
        self._log_reach_high = math.log1p(rules.urgency.reach_followers_high)
        self._log_engagement_high = math.log1p(self._engagement_high)
        w = rules.urgency.weights  # in `_text_points` and `finish` order
        self._weights = (
            w.negativity,
            w.severity,
            w.reach,
            w.engagement,
            w.addressed,
            w.help_request,
            w.repeat_contact,
            w.pile_on,
            w.urgent_words,
        )

    def sentiment(self, text: str, rating: float | None = None) -> Sentiment:
        """Sentiment alone (English rules; no language gate)."""
        return self.engine.sentiment(text, rating)

    def score(self, mention: Mention, context: ScoringContext | None = None) -> Score:
        return self.finish(self.prescore(mention), context)

    def prescore(self, mention: Mention) -> PreScore:
        """Everything about the mention that needs no history: language, sentiment,
        categories and the urgency signals of the text and the author. The pipeline runs it
        for the next batch in a worker process while it stores the current one."""
        text = f"{mention.title}. {mention.text}" if mention.title else mention.text
        engine = self.engine
        tokenised = engine.tokenise(text)
        tokens = tokenised[3]
        # the language first: a text that is not English needs no English label
        language = self.language.detect(text, tokens, mention.lang)
        supported = self.language.supported(language)
        analysis = engine.analyse_tokens(tokenised, mention.rating, decide=supported)
        sentiment = analysis.sentiment
        if not supported:
            keywords = self.keywords.get(language or "")
            stars = as_stars(mention.rating) if mention.rating is not None else stars_in_text(text)
            if keywords is not None:
                supported = True
                sentiment = keywords.sentiment(tokens, stars)
            else:
                sentiment = self._unsupported(language, stars)
        hits = self.categoriser.match(text, tokens)
        categories = list(hits)
        points = self._text_points(mention, analysis, sentiment, categories, supported)
        urgent = round(self._weights[8] * 1.0, 2) if analysis.urgent else 0.0
        return PreScore(
            sentiment,
            categories,
            hits,  # category_hits
            points,
            urgent,
            language,
            supported,  # language_supported
            analysis.question if language is None or language == "en" else "?" in text,  # question
        )

    def finish(self, pre: PreScore, context: ScoringContext | None = None) -> Score:
        """`pre` completed with the recent history (repeat contact, pile-on): the urgency
        points in the order and with the arithmetic of `combine`."""
        ctx = context or _NO_CONTEXT
        points = dict(pre.points)
        w_repeat, w_pile_on = self._weights[6], self._weights[7]
        if ctx.author_open_escalations > 0:
            contribution = round(w_repeat * 1.0, 2)
            if contribution:
                points["repeat_contact"] = contribution
        categories = pre.categories
        if pre.sentiment.label != "positive" and (ctx.thread_negative_recent or ctx.category_negative_recent):
            pile = max(
                ctx.thread_negative_recent,
                max((ctx.category_negative_recent.get(c, 0) for c in categories), default=0),
            )
            strength = pile_on_strength(pile, self._urgency.pile_on_threshold)
            if strength > 0:
                contribution = round(w_pile_on * min(1.0, strength), 2)
                if contribution:
                    points["pile_on"] = contribution
        if pre.urgent:
            points["urgent_words"] = pre.urgent
        total = round(min(100.0, max(0.0, sum(points.values())))) if points else 0
        return Score(
            pre.sentiment,
            list(categories),
            pre.category_hits,
            total,
            points,
            pre.language,
            pre.language_supported,
            pre.question,
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

    def _text_points(
        self,
        mention: Mention,
        analysis: TextAnalysis,
        sentiment: Sentiment,
        categories: list[str],
        supported: bool,
    ) -> dict[str, float]:
        """The urgency signals of the text and the author (negativity .. help_request), as
        `combine(self._urgency, self._strengths(...))` computes them, fused: the same
        strengths and arithmetic in the same order, without building the strengths dict or
        reading the weights by name for every mention. `finish` adds the history's."""
        w_negativity, w_severity, w_reach, w_engagement, w_addressed, w_help = self._weights[:6]
        points: dict[str, float] = {}
        label = sentiment.label
        if label == "negative":
            # `negativity_strength`, inlined
            complaint = analysis.complaint if supported else 0.0
            stated = min(1.0, -complaint / 5.0) if complaint < 0 else 0.0
            strength = max(min(1.0, -sentiment.compound), stated)
            if strength > 0:
                contribution = round(w_negativity * min(1.0, strength), 2)
                if contribution:
                    points["negativity"] = contribution
        if categories:
            strength = self.categoriser.max_severity(categories) / 5.0
            if strength > 0:
                contribution = round(w_severity * min(1.0, strength), 2)
                if contribution:
                    points["severity"] = contribution
        author = mention.author
        followers = author.followers
        # `log_strength`, with its denominator computed once
        reach = 0.0 if followers <= 0 else min(1.0, math.log1p(followers) / self._log_reach_high)
        if author.verified:
            reach = min(1.0, reach + VERIFIED_BONUS)
        if reach > 0:
            contribution = round(w_reach * min(1.0, reach), 2)
            if contribution:
                points["reach"] = contribution
        engagement = mention.engagement
        if engagement > 0:
            strength = min(1.0, math.log1p(engagement) / self._log_engagement_high)
            if strength > 0:
                contribution = round(w_engagement * min(1.0, strength), 2)
                if contribution:
                    points["engagement"] = contribution
        addressed = self._addressed(mention, mention.text)
        if addressed:
            contribution = round(w_addressed * 1.0, 2)
            if contribution:
                points["addressed"] = contribution
        if analysis.help or (addressed and "?" in mention.text):
            contribution = round(w_help * 1.0, 2)
            if contribution:
                points["help_request"] = contribution
        return points
