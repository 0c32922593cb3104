"""Analysis of one mention: match → score → route, split where history comes in.

    prepare(m)            brand match + `Scorer.prescore`      no history: any process, any order
    complete(m, p, ctx)   `Scorer.finish` (repeat contact,     needs the author's escalations and the
                          pile-on) + route                     pile-on window: the pipeline, in post order

Why split: the history-free half is most of the analysis' CPU, so the pipeline can run it
for the next batch in a worker process (`listener.prescoring`) while it stores the
current one; the half that reads history stays in the pipeline's process and order, so
both paths give the same result (`tests/listener/test_prescoring.py`).

`Analyzer` is shared by the pipeline, `socialear score` and `socialear rules replay`, so
all three judge a mention the same way.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from listener.encoding import Encoded, encode_ahead
from listener.matching import BrandMatch, BrandMatcher
from listener.routing import Decision, RoutingFacts, route, trace_text, urgency_shown, with_urgency
from listener.scoring import PreScore, Score, Scorer, ScoringContext
from listener.types import Mention
from socialear.config import RulesConfig
from socialear.pickling import by_position


@dataclass(slots=True)
class Scored:
    """A mention on its way through: match, score and decision, before storage."""

    mention: Mention
    brands: tuple[str, ...]
    brand: str | None
    competitor: bool
    score: Any
    decision: Decision
    repeat_contact: bool = False  # the author was escalated before (any outcome)
    reply: str | None = None  # the suggested reply, when the prescoring worker rendered it for this decision
    # the history-free JSON the prescoring worker encoded (listener.encoding): its decision
    # pieces only when `decision` is the worker's; `shown` is the urgency its trace shows
    encoded: Encoded | None = None
    shown: Any = None


@by_position
@dataclass(frozen=True, slots=True)
class Prepared:
    """The history-free analysis of one mention: its brands and its pre-score (None, with
    no primary brand, when the mention is about none of the brands).

    `decision`, when set, is the route as it would be with `routed_for` = (urgency,
    customer segment): routing is a pure function of facts that are all history-free but
    these two, so `complete` reuses it when the segment is the same and the finished
    urgency tests alike in every route (listener.routing.with_urgency)."""

    brands: tuple[str, ...]
    primary: str | None
    competitor: bool
    pre: PreScore | None
    decision: Decision | None = None
    routed_for: tuple[int, str | None] | None = None
    reply: str | None = None  # `decision`'s suggested reply (listener.prescoring renders it)
    encoded: Encoded | None = None  # the history-free JSON, encoded ahead (listener.encoding)


@by_position
@dataclass(frozen=True, slots=True)
class Failed:
    """The history-free analysis raised: `error` is what the quarantine row says."""

    error: str


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch's history-free analysis by external id, and the rules it was made with
    (the pipeline uses it only while those rules are current)."""

    rules: RulesConfig
    items: dict[str, Prepared | Failed]


def fresh_mentions(mentions: Sequence[Mention], stats: Counter[str] | None = None) -> list[Mention]:
    """The batch without in-batch duplicates (first occurrence wins) and reposts, which
    are counted in `stats`: what the pipeline analyses, and so what a worker prepares."""
    seen: set[str] = set()
    out = []
    for m in mentions:
        if m.external_id in seen:
            if stats is not None:
                stats["dropped/duplicate"] += 1
        elif m.is_repost:
            if stats is not None:
                stats["dropped/repost"] += 1
        else:
            seen.add(m.external_id)
            out.append(m)
    return out


def _segment(m: Mention) -> str | None:
    return (m.extra or {}).get("customer_segment")


def failure(exc: Exception) -> Failed:
    return Failed(f"analysis failed: {type(exc).__name__}: {exc}")


class Analyzer:
    """Match → score → route for one mention, with everything built once per rules version."""

    def __init__(self, rules: RulesConfig):
        self.rules = rules
        self.matcher = BrandMatcher(rules)
        self.scorer = Scorer(rules)

    def facts(self, m: Mention, brand: str | None, competitor: bool, score: Any) -> RoutingFacts:
        return RoutingFacts(
            brand=brand,
            competitor=competitor,
            source=m.source,
            platform=m.platform,
            sentiment=score.sentiment.label,
            compound=score.sentiment.compound,
            urgency=score.urgency,
            categories=list(score.categories),
            followers=m.author.followers,
            verified=m.author.verified,
            language=score.language,
            text=m.text,
            question=score.question,
            segment=_segment(m),
            negative_probability=(score.sentiment.probabilities or {}).get("negative"),
        )

    def route(self, m: Mention, brand: str | None, competitor: bool, score: Any, explain: bool = False) -> Decision:
        """Route fast; explain (build the trace) when asked, or when the mention is escalated or ignored."""
        facts = self.facts(m, brand, competitor, score)
        if explain:
            return route(facts, self.rules, explain=True)
        decision = route(facts, self.rules, explain=False)
        if decision.escalate or decision.ignored:
            decision = route(facts, self.rules, explain=True)
        return decision

    def prepare(self, m: Mention, only_brands: list[str] | None = None, *, speculate: bool = False,
                trace: bool = True) -> Prepared:
        """The history-free half: which brands, and the pre-score when there is one;
        `speculate` (a worker with time to spare): also the route as it is without history.

        `trace=False` (the prescoring worker): the speculated decision comes without its
        trace; an escalation's is encoded (`Prepared.encoded`), which is all the pipeline
        reads of it, unless it could not be, and then the decision carries it."""
        match = self._match(m, only_brands)
        if match.primary is None:
            return Prepared(match.brands, None, match.competitor, None)
        pre = self.scorer.prescore(m)
        if not speculate:
            return Prepared(match.brands, match.primary, match.competitor, pre)
        return self._encoded(m, match, pre, *self._routed(m, match, pre, trace), trace)

    def _match(self, m: Mention, only_brands: list[str] | None) -> BrandMatch:
        implied = m.extra.get("brand") if m.extra else None
        return self.matcher.match(m.text, m.title, only_brands, implied if isinstance(implied, str) else None)

    def _routed(self, m: Mention, match: BrandMatch, pre: PreScore, trace: bool) -> tuple[Score, RoutingFacts, Decision]:
        """The speculated route (`prepare`'s third step): the score without history, the
        facts, the decision (traced when the trace is wanted and it is explained)."""
        score = self.scorer.finish(pre)
        facts = self.facts(m, match.primary, match.competitor, score)
        if trace:
            decision = route(facts, self.rules, explain=False)
            if decision.escalate or decision.ignored:  # as `route` (the method) explains
                decision = route(facts, self.rules, explain=True)
            return score, facts, decision
        return score, facts, route(facts, self.rules, explain=False)

    def _encoded(self, m: Mention, match: BrandMatch, pre: PreScore, score: Score, facts: RoutingFacts,
                 decision: Decision, trace: bool) -> Prepared:
        """`prepare`'s last step: the history-free JSON encoded ahead (listener.encoding)."""
        try:
            encoded = encode_ahead(
                match.brands, pre, decision, m.text,
                trace_text(facts, self.rules, cut="urgency") if not trace and decision.escalate else None)
        except Exception:  # noqa: BLE001 - an optimisation only: the pipeline encodes it all (and fails as ever)
            encoded = None
        if not trace and decision.escalate and (encoded is None or encoded.decision_head is None):
            decision = route(facts, self.rules, explain=True)  # the pipeline encodes it, trace and all
        return Prepared(match.brands, match.primary, match.competitor, pre, decision,
                        (score.urgency, _segment(m)), encoded=encoded)

    def prepare_all(
        self, mentions: Sequence[Mention], only_brands: list[str] | None, *, speculate: bool = False,
        trace: bool = True,
    ) -> list[Prepared | Failed]:
        """`prepare` for each mention; one that raises becomes a `Failed` (it is quarantined,
        the others go on), so a worker process can hand the whole batch back.

        In stages over the whole batch (brands, pre-scores, routes, JSON) instead of
        mention by mention: each stage's code and tables then stay in the CPU's caches
        for the batch, which made the prescoring worker's batch ~20% faster (the scorer
        evicted what routing and encoding use, and the reverse). The same steps, so the
        same results and the same failures (`tests/listener/test_prescoring.py`)."""
        out: list[Prepared | Failed | None] = [None] * len(mentions)
        matched: list[tuple[int, Mention, BrandMatch]] = []
        for i, m in enumerate(mentions):
            try:
                match = self._match(m, only_brands)
            except Exception as exc:  # noqa: BLE001 - one poison mention must not fail its batch
                out[i] = failure(exc)
                continue
            if match.primary is None:
                out[i] = Prepared(match.brands, None, match.competitor, None)
            else:
                matched.append((i, m, match))
        scored: list[tuple[int, Mention, BrandMatch, PreScore]] = []
        for i, m, match in matched:
            try:
                pre = self.scorer.prescore(m)
            except Exception as exc:  # noqa: BLE001
                out[i] = failure(exc)
                continue
            if speculate:
                scored.append((i, m, match, pre))
            else:
                out[i] = Prepared(match.brands, match.primary, match.competitor, pre)
        routed: list[tuple[int, Mention, BrandMatch, PreScore, tuple[Score, RoutingFacts, Decision]]] = []
        for i, m, match, pre in scored:
            try:
                routed.append((i, m, match, pre, self._routed(m, match, pre, trace)))
            except Exception as exc:  # noqa: BLE001
                out[i] = failure(exc)
        for i, m, match, pre, (score, facts, decision) in routed:
            try:
                out[i] = self._encoded(m, match, pre, score, facts, decision, trace)
            except Exception as exc:  # noqa: BLE001
                out[i] = failure(exc)
        done = [p for p in out if p is not None]
        assert len(done) == len(mentions), "a mention left without its analysis"
        return done

    def complete(
        self, m: Mention, prepared: Prepared, context: Callable[[str], ScoringContext] | None = None
    ) -> Scored | None:
        """The history half: finish the score with `context(brand)`, then route."""
        if prepared.primary is None or prepared.pre is None:
            return None
        score = self.scorer.finish(prepared.pre, context(prepared.primary) if context else None)
        decision, reply, encoded, shown = None, None, prepared.encoded, None
        if prepared.decision is not None and prepared.routed_for is not None \
                and prepared.routed_for[1] == _segment(m):  # the same facts but maybe the urgency
            decision = with_urgency(prepared.decision, self.rules, prepared.routed_for[0], score.urgency)
            reply = prepared.reply  # the same routes matched: the same template and queue
            shown = urgency_shown(self.rules, score.urgency)
        if decision is None:
            decision, reply = self.route(m, prepared.primary, prepared.competitor, score), None
            if encoded is not None and encoded.decision_head is not None:  # routed anew: not the worker's decision
                encoded = dataclasses.replace(encoded, decision_head=None, trace=())
        return Scored(m, prepared.brands, prepared.primary, prepared.competitor, score, decision, reply=reply,
                      encoded=encoded, shown=shown)

    def analyse(
        self,
        m: Mention,
        only_brands: list[str] | None = None,
        context: Callable[[str], ScoringContext] | None = None,
    ) -> Scored | None:
        """None when the mention is about none of the brands (it is dropped, not stored).

        `context(brand)` supplies the recent-history part of the score once the brand is known.
        """
        return self.complete(m, self.prepare(m, only_brands), context)
