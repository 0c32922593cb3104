"""Routing: which rule fires for a scored mention, and why.

Routes are evaluated in file order. A route matches when every condition in its `when`
holds. The first matching route decides and stops, unless it says `continue: true`, in
which case its tags/alert are collected and evaluation goes on; the first escalating
route among those matched sets the queue, priority and reply. `ignore: true` stops
everything and records that the mention was deliberately ignored.

The result carries a trace of every route evaluated up to the decision, with each
condition's expected and actual value, so the console can show an agent exactly why a
mention was (or was not) escalated (invariant 2). Pure function: replayable over history.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from socialear.config import Range, Route, RulesConfig


@dataclass(slots=True)
class RoutingFacts:
    """What routing conditions look at: plain values, from the mention, its match and its score."""

    brand: str | None
    competitor: bool
    source: str
    platform: str
    sentiment: str
    compound: float
    urgency: int
    categories: list[str]
    followers: int
    verified: bool
    language: str | None
    text: str
    question: bool


@dataclass(slots=True)
class Decision:
    """The outcome of routing. `route` names the rule that fired (None: no route matched)."""

    route: str | None = None
    matched: list[str] = field(default_factory=list)
    escalate: bool = False
    queue: str | None = None
    priority: str | None = None
    reply_template: str | None = None
    tags: list[str] = field(default_factory=list)
    alert: bool = False
    ignored: bool = False
    publish: bool = False
    sinks: list[str] | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _range_text(r: Range) -> str:
    if r.min is not None and r.max is not None:
        return f"{r.min:g}..{r.max:g}"
    return f">= {r.min:g}" if r.min is not None else f"<= {r.max:g}"


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _brand_ok(wanted: list[str], facts: RoutingFacts) -> bool:
    for w in wanted:
        if w == "any" and facts.brand is not None:
            return True
        if w == "own" and facts.brand is not None and not facts.competitor:
            return True
        if w == "competitor" and facts.competitor:
            return True
        if w == facts.brand:
            return True
    return False


def evaluate(route: Route, facts: RoutingFacts) -> tuple[bool, list[dict[str, Any]]]:
    """Check every condition of one route; return (matched, per-condition explanation)."""
    w = route.when
    checks: list[tuple[str, Any, Any, bool]] = []

    def check(name: str, expected: Any, actual: Any, ok: bool) -> None:
        checks.append((name, expected, actual, ok))

    if w.brand is not None:
        check("brand", w.brand, f"{facts.brand} ({'competitor' if facts.competitor else 'own'})", _brand_ok(w.brand, facts))
    if w.source is not None:
        check("source", w.source, facts.source, facts.source in w.source)
    if w.platform is not None:
        check("platform", w.platform, facts.platform, facts.platform in w.platform)
    if w.sentiment is not None:
        check("sentiment", w.sentiment, facts.sentiment, facts.sentiment in w.sentiment)
    if w.compound is not None:
        check("compound", _range_text(w.compound), round(facts.compound, 3), w.compound.contains(facts.compound))
    if w.urgency is not None:
        check("urgency", _range_text(w.urgency), facts.urgency, w.urgency.contains(facts.urgency))
    if w.categories is not None:
        check("categories", w.categories, facts.categories, bool(set(w.categories) & set(facts.categories)))
    if w.followers is not None:
        check("followers", _range_text(w.followers), facts.followers, w.followers.contains(facts.followers))
    if w.verified is not None:
        check("verified", w.verified, facts.verified, facts.verified == w.verified)
    if w.language is not None:
        check("language", w.language, facts.language, facts.language in w.language)
    if w.question is not None:
        check("question", w.question, facts.question, facts.question == w.question)
    if w.text is not None:
        hit = _compiled(w.text).search(facts.text)
        check("text", w.text, hit.group(0) if hit else None, hit is not None)

    explained = [{"condition": n, "expected": e, "actual": a, "ok": ok} for n, e, a, ok in checks]
    return all(ok for *_, ok in checks), explained


def route(facts: RoutingFacts, rules: RulesConfig) -> Decision:
    """Apply the ordered routes to one mention's facts."""
    decision = Decision()
    for r in rules.routes:
        matched, conditions = evaluate(r, facts)
        decision.trace.append({"route": r.name, "matched": matched, "conditions": conditions})
        if not matched:
            continue
        decision.matched.append(r.name)
        if r.ignore:
            decision.ignored = True
            decision.route = r.name
            decision.escalate = False
            break
        decision.tags.extend(t for t in r.tags if t not in decision.tags)
        decision.alert = decision.alert or r.alert
        if r.escalate and not decision.escalate:
            decision.escalate = True
            decision.route = r.name
            decision.queue = r.escalate.queue
            decision.priority = r.escalate.priority
            decision.reply_template = r.reply
            decision.publish = r.publish
            decision.sinks = r.sinks
        elif decision.route is None:
            decision.route = r.name
        if not r.continue_:
            break
    return decision
