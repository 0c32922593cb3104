"""Routing: which rule fires for a scored mention, and why.

Routes are evaluated in file order. A route matches when every condition in its `when`
holds. The first matching route decides and stops, unless it says `continue: true`, in
which case its tags/alert are collected and evaluation goes on; the first escalating
route among those matched sets the queue, priority and reply. `ignore: true` stops
everything and records that the mention was deliberately ignored.

The result carries a trace of every route evaluated up to the decision, with each
condition's expected and actual value, so the console can show an agent exactly why a
mention was (or was not) escalated (invariant 4). Pure function: replayable over history.

Each condition's operator is declared once, on its `socialear.config.When` field; each
operator kind has one predicate here (`_compile`), which both paths use: `matches` (the
fast path, most mentions) and `evaluate` (the explained path, for escalations).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from operator import attrgetter
from typing import Any

from socialear.config import Operator, Range, Route, RulesConfig, when_operators
from socialear.jsontext import dumps, scalar
from socialear.patterns import compile_pattern, found_in
from socialear.pickling import by_position


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


@by_position
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
        return {name: getattr(self, name) for name in _DECISION_FIELDS}


_DECISION_FIELDS = tuple(f.name for f in fields(Decision))  # `fields()` per call was most of to_dict


def _range_text(r: Range) -> str:
    if r.min is None and r.max is None:
        return "any value"  # `{}`: valid, matches any value that is set (explaining it crashed)
    if r.min is not None and r.max is not None:
        return f"{r.min:g}..{r.max:g}"
    return f">= {r.min:g}" if r.min is not None else f"<= {r.max:g}"


# A predicate reads a RoutingFacts, or an `_Urgency` standing in for one (`with_urgency`):
# typed Any so that the mypyc build (setup.py) does not check the argument's class.
Predicate = Callable[[Any], bool]
Actual = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Condition:
    """One `when:` condition of a route, compiled once: its predicate (the only test of the
    condition, used by the fast and the explained path alike) and how to show it."""

    name: str
    expected: Any  # as the trace shows it
    test: Predicate
    actual: Actual  # the fact as the trace shows it (only computed when explaining)


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


def _fact(name: str, digits: int | None) -> Actual:
    get = attrgetter(name)
    if digits is None:
        return get
    return lambda f: None if (v := get(f)) is None else round(v, digits)


def _compile(name: str, operator: Operator, expected: Any) -> Condition:
    """The predicate of each operator kind (socialear.config.Operator), written once."""
    get = attrgetter(name)
    shown: Any = expected
    test: Predicate
    actual = _fact(name, operator.digits)
    if operator.kind == "brand":
        test = partial(_brand_ok, list(expected))
        actual = _brand_shown
    elif operator.kind == "member":
        allowed = frozenset(expected)
        test = lambda f: get(f) in allowed  # noqa: E731 - a closure per condition, compiled once
    elif operator.kind == "range":
        lo = float("-inf") if expected.min is None else expected.min
        hi = float("inf") if expected.max is None else expected.max
        test = lambda f: (v := get(f)) is not None and lo <= v <= hi  # noqa: E731
        shown = _range_text(expected)
    elif operator.kind == "flag":
        flag = bool(expected)
        test = lambda f: get(f) == flag  # noqa: E731
    elif operator.kind == "any_of":
        wanted = frozenset(expected)
        test = lambda f: not wanted.isdisjoint(get(f))  # noqa: E731
    elif operator.kind == "regex":
        compiled = compile_pattern(expected)  # RE2: a user's pattern runs in linear time
        search, found = compiled.search, found_in(compiled)
        test = lambda f: found(get(f))  # noqa: E731

        def actual(f: RoutingFacts) -> Any:
            hit = search(get(f))
            return hit.group(0) if hit else None
    else:  # a new kind in socialear.config without its predicate here
        raise TypeError(f"when.{name}: no predicate for operator kind {operator.kind!r}")
    return Condition(name, shown, test, actual)


def _brand_shown(facts: RoutingFacts) -> str:
    return f"{facts.brand} ({'competitor' if facts.competitor else 'own'})"


OPERATORS = when_operators()
# id(route) -> (route, its conditions, their predicates alone: the fast path's inner loop)
_COMPILED: dict[int, tuple[Route, list[Condition], tuple[Predicate, ...]]] = {}


def _compiled(route: Route) -> tuple[Route, list[Condition], tuple[Predicate, ...]]:
    entry = _COMPILED.get(id(route))
    if entry is None or entry[0] is not route:
        if len(_COMPILED) > 4096:  # rules reloaded many times: forget old routes
            _COMPILED.clear()
        when = route.when
        compiled = [
            _compile(name, operator, value)
            for name, operator in OPERATORS.items()
            if (value := getattr(when, name)) is not None
        ]
        entry = _COMPILED[id(route)] = (route, compiled, tuple(c.test for c in compiled))
    return entry


def conditions(route: Route) -> list[Condition]:
    """The route's set conditions, compiled once per route object (in `When` order)."""
    return _compiled(route)[1]


def matches(route: Route, facts: RoutingFacts) -> bool:
    """The fast path: stop at the first condition that fails, explain nothing. (The cache
    look-up is inlined: one call less per route and mention is a tenth of this path.)"""
    entry = _COMPILED.get(id(route))
    if entry is None or entry[0] is not route:
        entry = _compiled(route)
    for test in entry[2]:
        if not test(facts):
            return False
    return True


def evaluate(route: Route, facts: RoutingFacts) -> tuple[bool, list[dict[str, Any]]]:
    """The explained path: every condition of one route, with its expected and actual value."""
    explained = [
        {"condition": c.name, "expected": c.expected, "actual": c.actual(facts), "ok": c.test(facts)}
        for c in conditions(route)
    ]
    return all(c["ok"] for c in explained), explained


@dataclass(frozen=True, slots=True)
class _Step:
    """One route of a rules version, compiled for both paths."""

    route: Route
    tests: tuple[Predicate, ...]  # the fast path's inner loop
    conditions: tuple[Condition, ...]
    # for `trace_text`: each condition's index among the rules' distinct conditions (two
    # routes' `brand: own` are one: tested, shown and encoded once per mention)
    keys: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Router:
    rules: RulesConfig
    steps: tuple[_Step, ...]
    distinct: int  # how many distinct conditions
    # the constant JSON around each route's and condition's values (None: a value that
    # does not encode; `trace_text` raises then, as json.dumps of the trace would)
    heads: tuple[str, ...] | None  # per step: '[<name>, '
    prefixes: tuple[str, ...] | None  # per distinct condition: '[<condition>, <expected>, '
    names: tuple[str, ...]  # per distinct condition: its name


_ROUTERS: dict[int, _Router] = {}


def _router(rules: RulesConfig) -> _Router:
    """The rules' routes compiled once per rules object (as `_compiled` is per route)."""
    found = _ROUTERS.get(id(rules))
    if found is None or found.rules is not rules:
        if len(_ROUTERS) > 64:  # rules reloaded many times: forget old versions
            _ROUTERS.clear()
        index: dict[tuple[str, str], int] = {}
        distinct: list[Condition] = []
        steps = []
        for r in rules.routes:
            conds = _compiled(r)[1]
            keys = []
            for c in conds:
                # the same operator on the same value: the same test, shown alike
                key = (c.name, repr(getattr(r.when, c.name)))
                if key not in index:
                    index[key] = len(distinct)
                    distinct.append(c)
                keys.append(index[key])
            steps.append(_Step(r, tuple(c.test for c in conds), tuple(conds), tuple(keys)))
        heads: tuple[str, ...] | None
        prefixes: tuple[str, ...] | None
        try:
            heads = tuple(f"[{_dumps(s.route.name)}, " for s in steps)
            prefixes = tuple(f"[{_dumps(c.name)}, {_dumps(c.expected)}, " for c in distinct)
        except (TypeError, ValueError):
            heads = prefixes = None
        found = _ROUTERS[id(rules)] = _Router(rules, tuple(steps), len(distinct), heads, prefixes,
                                              tuple(c.name for c in distinct))
    return found


def route(facts: RoutingFacts, rules: RulesConfig, *, explain: bool = True) -> Decision:
    """Apply the ordered routes to one mention's facts.

    With `explain=False` no trace is built (most mentions are not escalated, and nobody
    reads their trace); call again with `explain=True` for the ones that are, or take
    the trace's JSON text from `trace_text`.
    """
    decision = Decision()
    if explain:
        for r in rules.routes:
            matched, conditions = evaluate(r, facts)
            decision.trace.append({"route": r.name, "matched": matched, "conditions": conditions})
            if matched and _apply(decision, r, facts):
                break
        return decision
    entry = _ROUTERS.get(id(rules))  # `_router`, inlined: this runs for every mention
    if entry is None or entry.rules is not rules:
        entry = _router(rules)
    for step in entry.steps:
        for test in step.tests:
            if not test(facts):
                break
        else:  # every condition holds
            if _apply(decision, step.route, facts):
                break
    return decision


def _apply(decision: Decision, r: Route, facts: RoutingFacts) -> bool:
    """A matched route's effect on the decision; True when evaluation stops there."""
    decision.matched.append(r.name)
    if r.ignore:
        decision.ignored = True
        decision.route = r.name
        decision.escalate = False
        return True
    if r.tags:
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
    return not r.continue_


_dumps = dumps  # json.dumps' text, without its per-call set-up
_encode = scalar  # json.dumps of a trace's actual value (socialear.jsontext)


def trace_text(facts: RoutingFacts, rules: RulesConfig, cut: str | None = None) -> list[str]:
    """`json.dumps(socialear.trace.compact(route(facts, rules).trace))`, the trace as an
    escalation stores it, without building the trace (the prescoring worker encodes an
    escalation's trace; the dicts were most of its cost), in pieces:
    the text is cut where each condition named `cut` shows its actual value, which is
    left out (so `len(pieces)` is one more than the number of such conditions shown).

    The same conditions in the same order as `route(explain=True)`: each route's
    conditions all evaluated (`evaluate`), until the route that stops evaluation."""
    router = _ROUTERS.get(id(rules))
    if router is None or router.rules is not rules:
        router = _router(rules)
    heads, prefixes = router.heads, router.prefixes
    if heads is None or prefixes is None:
        raise ValueError("a route's name or a condition's expected value does not encode as JSON")
    names = router.names
    # per distinct condition, once per mention: (ok, its text; or, where cut, the text
    # before the actual value and the text after it)
    done: list[tuple[Any, str, str | None] | None] = [None] * router.distinct
    pieces: list[str] = []
    out: list[str] = ["["]
    first = True
    for step, head in zip(router.steps, heads, strict=True):
        shown = []
        matched = True
        for key, c in zip(step.keys, step.conditions, strict=True):
            entry = done[key]
            if entry is None:
                ok = c.test(facts)
                tail = ", true]" if ok is True else ", false]" if ok is False else f", {_encode(ok)}]"
                if names[key] == cut:
                    entry = (ok, prefixes[key], tail)
                else:
                    entry = (ok, f"{prefixes[key]}{_encode(c.actual(facts))}{tail}", None)
                done[key] = entry
            shown.append(entry)
            if not entry[0]:
                matched = False
        out.append(head if first else f", {head}")
        first = False
        out.append("true, [" if matched else "false, [")
        for i, (_, text, after) in enumerate(shown):
            if i:
                out.append(", ")
            out.append(text)
            if after is not None:
                pieces.append("".join(out))
                out = [after]
        out.append("]]")
        r = step.route
        if matched and (r.ignore or not r.continue_):
            break
    out.append("]")
    pieces.append("".join(out))
    return pieces


@dataclass(frozen=True, slots=True)
class _Urgency:
    """Just the urgency fact: what an urgency condition's test and actual read."""

    urgency: int


_URGENCY_CONDITIONS: dict[int, tuple[RulesConfig, list[Condition], frozenset[str]]] = {}


def _urgency_index(rules: RulesConfig) -> tuple[RulesConfig, list[Condition], frozenset[str]]:
    """The rules' urgency conditions, and the names of the routes that have one."""
    found = _URGENCY_CONDITIONS.get(id(rules))
    if found is None or found[0] is not rules:
        if len(_URGENCY_CONDITIONS) > 64:
            _URGENCY_CONDITIONS.clear()
        checks = {r.name: [c for c in conditions(r) if c.name == "urgency"] for r in rules.routes}
        found = _URGENCY_CONDITIONS[id(rules)] = (
            rules, [c for cs in checks.values() for c in cs], frozenset(n for n, cs in checks.items() if cs))
    return found


def _urgency_conditions(rules: RulesConfig) -> list[Condition]:
    return _urgency_index(rules)[1]


def urgency_shown(rules: RulesConfig, urgency: int) -> Any:
    """What a trace shows as an urgency condition's actual value for `urgency`."""
    checks = _urgency_conditions(rules)
    return checks[0].actual(_Urgency(urgency)) if checks else urgency  # reads .urgency only


def with_urgency(decision: Decision, rules: RulesConfig, before: int, urgency: int) -> Decision | None:
    """`decision`, routed for facts that differ from the present ones in urgency alone
    (`before` then, `urgency` now), as `route` would make it now; None when it may differ.

    Routing reads the urgency only through the routes' urgency conditions: when each of
    them tests alike for both values, the same routes match in the same order, so the
    decision is the same and only its trace's urgency values change. (The prescoring
    worker routes without history; history moves the urgency of most mentions a little.)"""
    _, checks, routes = _urgency_index(rules)
    was, now = _Urgency(before), _Urgency(urgency)
    # an _Urgency stands in for RoutingFacts: urgency conditions read nothing but .urgency
    if any(c.test(was) != c.test(now) for c in checks):
        return None
    if not decision.trace or not checks:
        return decision
    actual = checks[0].actual(now)  # one field, one rounding
    if actual == checks[0].actual(was):
        return decision  # the trace shows the same value
    # only the steps of routes with an urgency condition show the urgency (the pipeline
    # calls this for every mention: copying every step was most of its cost)
    trace = [
        {**step, "conditions": [{**c, "actual": actual} if c["condition"] == "urgency" else c
                                for c in step["conditions"]]}
        if step["route"] in routes else step
        for step in decision.trace
    ]
    return dataclasses.replace(decision, trace=trace)
