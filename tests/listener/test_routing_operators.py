"""Routing operators are declared once (socialear.config.When) and tested by one predicate
per kind (listener.routing._compile); the fast path (`matches`) and the explained path
(`evaluate`) must agree on any facts and any conditions, and the README's list of
conditions is the one derived from the declarations."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener.routing import OPERATORS, RoutingFacts, evaluate, matches
from socialear.config import Route, When, when_help, when_operators
from socialear.trace import compact, expand

ROOT = Path(__file__).resolve().parents[2]
BRANDS = ["Nimbus", "Arcwave"]
WORDS = ["x", "reddit", "appstore", "care", "billing", "outage", "en", "de", "platinum", "gold"]


def test_every_condition_declares_an_operator_over_a_routing_fact() -> None:
    assert list(OPERATORS) == list(When.model_fields) == list(when_operators())
    facts = {f.name for f in fields(RoutingFacts)}
    assert set(OPERATORS) <= facts, "a `when:` condition without a routing fact of its name"
    for name in When.model_fields:
        assert When.model_fields[name].description, f"when.{name} has no help text"


def test_the_readme_lists_the_declared_conditions() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- when-conditions:[^>]*-->\n(.*?)\n  <!-- /when-conditions -->", readme, re.DOTALL)
    assert block is not None, "README.md lost its generated `when` block"
    assert block.group(1) == when_help(), "README.md's `when` list is stale: paste socialear.config.when_help()"


def test_the_json_schema_carries_the_same_help() -> None:
    schema = When.model_json_schema()["properties"]
    assert {k: v["description"] for k, v in schema.items()} == {
        k: When.model_fields[k].description for k in When.model_fields}


def ranges(low: float, high: float) -> st.SearchStrategy[dict[str, float] | None]:
    bound = st.one_of(st.none(), st.floats(low, high, allow_nan=False))
    return st.one_of(st.none(), st.fixed_dictionaries({}, optional={"min": bound, "max": bound}).map(
        lambda d: {k: v for k, v in d.items() if v is not None}))


def lists(values: list[str]) -> st.SearchStrategy[list[str] | None]:
    return st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, max_size=3))


whens = st.fixed_dictionaries({}, optional={
    "brand": lists(["own", "competitor", "any", *BRANDS]),
    "source": lists(WORDS),
    "platform": lists(WORDS),
    "sentiment": lists(["negative", "neutral", "positive"]),
    "compound": ranges(-1, 1),
    "negative_probability": ranges(0, 1),
    "urgency": ranges(0, 100),
    "categories": lists(WORDS),
    "followers": ranges(0, 1e6),
    "verified": st.one_of(st.none(), st.booleans()),
    "language": lists(WORDS),
    "question": st.one_of(st.none(), st.booleans()),
    "segment": lists(WORDS),
    "text": st.one_of(st.none(), st.sampled_from(["refund", "no (signal|service)", r"\bdown\b", "^nimbus"])),
}).map(lambda d: {k: v for k, v in d.items() if v is not None})

facts_strategy = st.builds(
    RoutingFacts,
    brand=st.one_of(st.none(), st.sampled_from(BRANDS)),
    competitor=st.booleans(),
    source=st.sampled_from(WORDS),
    platform=st.sampled_from(WORDS),
    sentiment=st.sampled_from(["negative", "neutral", "positive"]),
    compound=st.floats(-1, 1, allow_nan=False),
    urgency=st.integers(0, 100),
    categories=st.lists(st.sampled_from(WORDS), max_size=3),
    followers=st.integers(0, 2_000_000),
    verified=st.booleans(),
    language=st.one_of(st.none(), st.sampled_from(WORDS)),
    text=st.sampled_from(["nimbus is down", "no signal since noon", "refund please", "all good", ""]),
    question=st.booleans(),
    segment=st.one_of(st.none(), st.sampled_from(WORDS)),
    negative_probability=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(when=whens, facts=facts_strategy)
def test_fast_and_explained_paths_agree(when: dict[str, object], facts: RoutingFacts) -> None:
    route = Route.model_validate({"name": "r", "when": when})
    matched, explained = evaluate(route, facts)
    assert matches(route, facts) == matched
    assert [c["condition"] for c in explained] == [n for n in When.model_fields if n in when]
    assert matched == all(c["ok"] for c in explained)


# Routes whose conditions repeat across routes (`trace_text` tests a repeated condition
# once per mention) and whose names and values need escaping in JSON.
routes_strategy = st.lists(
    st.fixed_dictionaries(
        {"when": st.one_of(whens, st.sampled_from([{"brand": ["own"]}, {"sentiment": ["negative"]},
                                                   {"brand": ["own"], "urgency": {"min": 40}}]))},
        optional={"ignore": st.booleans(), "continue": st.booleans(),
                  "escalate": st.sampled_from([{"queue": "care"}, {"queue": "billing", "priority": "high"}]),
                  "tags": st.lists(st.sampled_from(["vip", 'a "quoted" tag', "é"]), max_size=2),
                  "reply": st.just("general"), "reply_by_category": st.just({"billing": "billing"})}),
    min_size=1, max_size=7,
).map(lambda rs: [{**r, "name": f'r{i} "é"\\'} for i, r in enumerate(rs)])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routes=routes_strategy, facts=facts_strategy, cut=st.sampled_from([None, "urgency", "brand", "text"]))
def test_fast_route_and_trace_text_are_the_explained_route(
    routes: list[dict[str, object]], facts: RoutingFacts, cut: str | None
) -> None:
    """The fast path decides as the explained path, and `trace_text` is its trace's JSON
    as stored (socialear.trace), cut where the `cut` condition shows its value."""
    import json

    from listener.routing import route, trace_text
    from socialear.config import RulesConfig

    rules = RulesConfig.model_construct(routes=[Route.model_validate(r) for r in routes])
    explained = route(facts, rules, explain=True)
    fast = route(facts, rules, explain=False)
    assert fast.trace == [] and fast.to_dict() == {**explained.to_dict(), "trace": []}
    mark = "\x00cut\x00"
    marked = [{**step, "conditions": [{**c, "actual": mark} if c["condition"] == cut else c
                                      for c in step["conditions"]]} for step in explained.trace]
    assert trace_text(facts, rules, cut) == json.dumps(compact(marked)).split(json.dumps(mark))
    assert "".join(trace_text(facts, rules)) == json.dumps(compact(explained.trace))
    assert expand(json.loads("".join(trace_text(facts, rules)))) == explained.trace
