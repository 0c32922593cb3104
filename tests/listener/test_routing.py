"""Routing semantics: order, first match wins, `continue`, `ignore`, and the trace."""

from __future__ import annotations

import textwrap

from listener.routing import RoutingFacts, route
from socialear.config import RulesConfig, parse_rules_text

RULES = textwrap.dedent(
    """\
    brands:
      - {name: Nimbus, query: nimbus}
      - {name: Arcwave, query: arcwave, competitor: true}
    categories:
      - {name: outage, severity: 5, phrases: [no signal]}
      - {name: billing, severity: 3, phrases: [bill]}
    queues: [urgent, care, billing]
    routes:
      - name: spam
        when: {text: 'free followers|giveaway'}
        ignore: true
      - name: vip-tag
        when: {brand: own, followers: {min: 10000}}
        tags: [vip]
        alert: true
        continue: true
      - name: outage
        when: {brand: own, sentiment: negative, categories: [outage], urgency: {min: 40}}
        escalate: {queue: urgent, priority: urgent}
        reply: r
      - name: billing
        when: {brand: [Nimbus], compound: {max: -0.3}, categories: billing, language: [en]}
        escalate: {queue: billing, priority: high}
      - name: question
        when: {brand: own, question: true, platform: [x, reddit], verified: false}
        escalate: {queue: care, priority: low}
      - name: competitor
        when: {brand: competitor}
        tags: [competitor]
    replies:
      r: {en: "Hi {{ author }}"}
    """
)


def rules() -> RulesConfig:
    return parse_rules_text(RULES)


def facts(**kw: object) -> RoutingFacts:
    base = {
        "brand": "Nimbus",
        "competitor": False,
        "source": "s",
        "platform": "x",
        "sentiment": "neutral",
        "compound": 0.0,
        "urgency": 10,
        "categories": [],
        "followers": 10,
        "verified": False,
        "language": "en",
        "text": "hello",
        "question": False,
    }
    base.update(kw)
    return RoutingFacts(**base)  # type: ignore[arg-type]


def test_first_matching_route_decides_and_is_explained() -> None:
    d = route(facts(sentiment="negative", compound=-0.6, categories=["outage"], urgency=70), rules())
    assert d.escalate and d.route == "outage" and d.queue == "urgent" and d.priority == "urgent"
    assert d.reply_template == "r"
    assert [step["route"] for step in d.trace] == ["spam", "vip-tag", "outage"]
    failed = {c["condition"]: c for c in d.trace[1]["conditions"] if not c["ok"]}
    assert failed["followers"]["actual"] == 10 and failed["followers"]["expected"] == ">= 10000"


def test_urgency_range_blocks_a_route() -> None:
    d = route(facts(sentiment="negative", compound=-0.6, categories=["outage"], urgency=20), rules())
    assert d.route is None and not d.escalate
    outage = next(s for s in d.trace if s["route"] == "outage")
    assert [c["condition"] for c in outage["conditions"] if not c["ok"]] == ["urgency"]


def test_continue_collects_tags_then_next_route_escalates() -> None:
    d = route(facts(followers=50000, sentiment="negative", compound=-0.7, categories=["billing"]), rules())
    assert d.matched == ["vip-tag", "billing"]
    assert d.tags == ["vip"] and d.alert
    assert d.route == "billing" and d.queue == "billing" and d.priority == "high"


def test_ignore_stops_everything() -> None:
    d = route(facts(text="Win a GIVEAWAY now nimbus", followers=50000), rules())
    assert d.ignored and not d.escalate and d.route == "spam" and len(d.trace) == 1


def test_competitor_is_tagged_not_escalated() -> None:
    d = route(facts(brand="Arcwave", competitor=True, sentiment="negative"), rules())
    assert d.route == "competitor" and d.tags == ["competitor"] and not d.escalate


def test_question_with_platform_and_verified_conditions() -> None:
    assert route(facts(question=True), rules()).route == "question"
    assert route(facts(question=True, platform="appstore"), rules()).route is None
    assert route(facts(question=True, verified=True), rules()).route is None


def test_no_brand_never_matches_brand_conditions() -> None:
    d = route(facts(brand=None, sentiment="negative", categories=["outage"], urgency=90), rules())
    assert d.route is None


def test_a_review_of_the_brands_own_app_needs_not_name_the_brand() -> None:
    from listener.matching import BrandMatcher

    matcher = BrandMatcher(rules())
    assert matcher.match("Great app, paying my bill takes 10 seconds").primary is None
    implied = matcher.match("Great app, paying my bill takes 10 seconds", implied="Nimbus")
    assert implied.primary == "Nimbus" and implied.competitor is False
    # a text that names a brand wins over the implied one; an unknown implied brand is ignored
    assert matcher.match("switching to arcwave", implied="Nimbus").primary == "Arcwave"
    assert matcher.match("hello", implied="Nobody").primary is None
    assert matcher.match("hello", implied="Nimbus", only=["Arcwave"]).primary is None


CONFIDENT = textwrap.dedent(
    """\
    brands:
      - {name: Nimbus, query: nimbus}
    queues: [care]
    routes:
      - name: sure-negative
        when: {sentiment: negative, negative_probability: {min: 0.7}}
        escalate: {queue: care, priority: high}
    """
)


def test_negative_probability_routes_only_confident_negatives() -> None:
    rules = parse_rules_text(CONFIDENT)
    sure = route(facts(sentiment="negative", negative_probability=0.82), rules, explain=True)
    assert sure.route == "sure-negative" and sure.escalate
    step = sure.trace[0]["conditions"]
    assert {k: step[1][k] for k in ("condition", "ok")} == {"condition": "negative_probability", "ok": True}
    unsure = route(facts(sentiment="negative", negative_probability=0.55), rules, explain=True)
    assert unsure.route is None
    # no probabilities (rules-only scoring, an unscored language): the condition never matches
    assert route(facts(sentiment="negative"), rules).route is None


def test_negative_probability_must_be_a_probability() -> None:
    import pytest

    from socialear.errors import ConfigError

    bad = CONFIDENT.replace("{min: 0.7}", "{min: 70}")
    with pytest.raises(ConfigError, match="negative_probability"):
        parse_rules_text(bad)


def test_scored_mentions_carry_calibrated_probabilities_into_routing() -> None:
    from datetime import UTC, datetime

    from listener.analysis import Analyzer
    from listener.types import Author, Mention

    analyzer = Analyzer(parse_rules_text(CONFIDENT))
    mention = Mention(
        source="s",
        platform="x",
        external_id="1",
        text="nimbus charged me twice and nobody answers, worst service ever",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        author=Author(platform="x", handle="u"),
    )
    score = analyzer.scorer.score(mention)
    facts_ = analyzer.facts(mention, "Nimbus", False, score)
    assert facts_.negative_probability == score.sentiment.probabilities["negative"] > 0.7
    assert analyzer.route(mention, "Nimbus", False, score).route == "sure-negative"
