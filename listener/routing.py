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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from socialear.config import Range, Route, RulesConfig, When
from socialear.patterns import compile_pattern


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
    segment: str | None = None  # the author's customer segment (storage.customers)
    negative_probability: float | None = None  # calibrated; None when no model decided


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
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _range_text(r: Range) -> str:
    if r.min is not None and r.max is not None:
        return f"{r.min:g}..{r.max:g}"
    return f">= {r.min:g}" if r.min is not None else f"<= {r.max:g}"


def _compiled(pattern: str) -> Any:
    return compile_pattern(pattern)  # RE2: a user's pattern runs in linear time


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


def _conditions(w: When, facts: RoutingFacts) -> Iterator[tuple[str, Any, Callable[[], Any], bool]]:
    """(name, expected, actual, ok) for each condition a route sets, lazily and in order."""
    if w.brand is not None:
        yield (
            "brand",
            w.brand,
            lambda: f"{facts.brand} ({'competitor' if facts.competitor else 'own'})",
            _brand_ok(w.brand, facts),
        )
    if w.source is not None:
        yield "source", w.source, lambda: facts.source, facts.source in w.source
    if w.platform is not None:
        yield "platform", w.platform, lambda: facts.platform, facts.platform in w.platform
    if w.sentiment is not None:
        yield "sentiment", w.sentiment, lambda: facts.sentiment, facts.sentiment in w.sentiment
    if w.compound is not None:
        yield "compound", w.compound, lambda: round(facts.compound, 3), w.compound.contains(facts.compound)
    if w.negative_probability is not None:
        p = facts.negative_probability
        yield "negative_probability", w.negative_probability, lambda: p, w.negative_probability.contains(p)
    if w.urgency is not None:
        yield "urgency", w.urgency, lambda: facts.urgency, w.urgency.contains(facts.urgency)
    if w.categories is not None:
        yield "categories", w.categories, lambda: facts.categories, not set(w.categories).isdisjoint(facts.categories)
    if w.followers is not None:
        yield "followers", w.followers, lambda: facts.followers, w.followers.contains(facts.followers)
    if w.verified is not None:
        yield "verified", w.verified, lambda: facts.verified, facts.verified == w.verified
    if w.language is not None:
        yield "language", w.language, lambda: facts.language, facts.language in w.language
    if w.question is not None:
        yield "question", w.question, lambda: facts.question, facts.question == w.question
    if w.segment is not None:
        yield "segment", w.segment, lambda: facts.segment, facts.segment in w.segment
    if w.text is not None:
        hit = _compiled(w.text).search(facts.text)
        yield "text", w.text, lambda: hit.group(0) if hit else None, hit is not None


Predicate = Callable[[RoutingFacts], bool]


def _in(values: list[str], attr: str) -> Predicate:
    allowed = frozenset(values)
    return lambda f: getattr(f, attr) in allowed


def _within(r: Range, attr: str) -> Predicate:
    lo = float("-inf") if r.min is None else r.min
    hi = float("inf") if r.max is None else r.max
    return lambda f: (v := getattr(f, attr)) is not None and lo <= v <= hi


def _predicates(w: When) -> list[Predicate]:
    """The same conditions as `_conditions`, compiled once into closures for the fast path."""
    preds: list[Predicate] = []
    if w.brand is not None:
        brands = w.brand
        preds.append(lambda f: _brand_ok(brands, f))
    for attr in ("source", "platform", "sentiment", "language", "segment"):
        if (values := getattr(w, attr)) is not None:
            preds.append(_in(values, attr))
    for attr in ("compound", "negative_probability", "urgency", "followers"):
        if (rng := getattr(w, attr)) is not None:
            preds.append(_within(rng, attr))
    if w.categories is not None:
        cats = frozenset(w.categories)
        preds.append(lambda f: not cats.isdisjoint(f.categories))
    if w.verified is not None:
        verified = w.verified
        preds.append(lambda f: f.verified == verified)
    if w.question is not None:
        question = w.question
        preds.append(lambda f: f.question == question)
    if w.text is not None:
        search = _compiled(w.text).search
        preds.append(lambda f: search(f.text) is not None)
    return preds


_COMPILED: dict[int, tuple[Route, list[Predicate]]] = {}


def matches(route: Route, facts: RoutingFacts) -> bool:
    """The fast path: stop at the first condition that fails, explain nothing."""
    entry = _COMPILED.get(id(route))
    if entry is None or entry[0] is not route:
        if len(_COMPILED) > 4096:  # rules reloaded many times: forget old routes
            _COMPILED.clear()
        entry = _COMPILED[id(route)] = (route, _predicates(route.when))
    return all(p(facts) for p in entry[1])


def evaluate(route: Route, facts: RoutingFacts) -> tuple[bool, list[dict[str, Any]]]:
    """Check every condition of one route; return (matched, per-condition explanation)."""
    explained = [
        {
            "condition": name,
            "expected": _range_text(exp) if isinstance(exp, Range) else exp,
            "actual": actual(),
            "ok": ok,
        }
        for name, exp, actual, ok in _conditions(route.when, facts)
    ]
    return all(c["ok"] for c in explained), explained


def route(facts: RoutingFacts, rules: RulesConfig, *, explain: bool = True) -> Decision:
    """Apply the ordered routes to one mention's facts.

    With `explain=False` no trace is built (most mentions are not escalated, and nobody
    reads their trace); call again with `explain=True` for the ones that are.
    """
    decision = Decision()
    for r in rules.routes:
        if explain:
            matched, conditions = evaluate(r, facts)
            decision.trace.append({"route": r.name, "matched": matched, "conditions": conditions})
        else:
            matched = matches(r, facts)
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
            decision.reply_template = next(
                (r.reply_by_category[c] for c in facts.categories if c in r.reply_by_category),
                r.reply)
            decision.publish = r.publish
            decision.sinks = r.sinks
        elif decision.route is None:
            decision.route = r.name
        if not r.continue_:
            break
    return decision
