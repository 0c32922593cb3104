"""The history-free JSON the prescoring worker encodes ahead (listener.encoding), put
together in the pipeline, is byte for byte what json.dumps makes of the stored dicts,
whatever history does to the urgency; storage binds it as it is."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from listener.analysis import Analyzer, Prepared
from listener.encoding import _MARK, decision_text, score_text, scoring_text
from listener.scoring import ScoringContext
from listener.storing import scoring_json
from listener.types import Author, Mention
from socialear.config import RulesConfig, load_rules
from socialear.trace import compact
from storage.types import utcnow

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "@NimbusMobile no signal in Leeds since Monday, third time this month",
    "Nimbus Mobile charged me twice for the same bill, still waiting on a refund urgent",
    "#NimbusDown network down again in York, can't call anyone 😡",
    "does Nimbus Mobile roaming work in Spain? planning a trip",
    "really impressed with @NimbusMobile support today",
    'Nimbus Mobile "quoted" \\ back\\slash \u00e9\u00e8 outage down again',
    f"Nimbus Mobile outage {_MARK} the mark itself, urgent",  # the text may hold the mark
    "great, another Nimbus Mobile outage, just what I needed :(",
]
CONTEXTS = [ScoringContext(), ScoringContext(2, 9, {"outage": 20}), ScoringContext(0, 3, {"billing": 4}),
            ScoringContext(5, 40, {"outage": 60, "billing": 60})]


def _mention(i: int, text: str) -> Mention:
    return Mention(source="feed", platform="x", external_id=f"m{i}", text=text, created_at=utcnow(),
                   author=Author(platform="x", handle=f"a{i}", followers=[10, 20_000, 900][i % 3]),
                   engagement=i, conversation_id="c1")


@pytest.fixture(params=["fixture", "repo"])
def any_rules(request: pytest.FixtureRequest, rules: RulesConfig) -> RulesConfig:
    """The tests' pipeline rules, and the shipped rules.yaml (routes with urgency conditions)."""
    return rules if request.param == "fixture" else load_rules(ROOT / "rules.yaml")


def test_pieces_put_together_are_what_json_dumps_gives(any_rules: RulesConfig) -> None:
    analyzer = Analyzer(any_rules)
    checked = {"scoring": 0, "decision": 0, "moved": 0}
    for i, text in enumerate(TEXTS * 4):
        m = _mention(i, text)
        # as the worker hands it back
        prepared: Prepared = pickle.loads(pickle.dumps(analyzer.prepare(m, speculate=True)))
        if prepared.primary is None:
            continue  # about none of the brands: not stored
        assert prepared.encoded is not None
        s = analyzer.complete(m, prepared, lambda _b, c=CONTEXTS[i % 4]: c)
        assert s is not None and s.encoded is not None
        s.repeat_contact = bool(i % 2)
        text_score = score_text(s.encoded, s.score.urgency, s.score.urgency_signals)
        assert text_score == json.dumps(s.score.to_dict())
        assert scoring_text(text_score, s.decision) == json.dumps(scoring_json(s.score, s.decision))
        assert s.decision.matched == analyzer.complete(m, analyzer.prepare(m), lambda _b, c=CONTEXTS[i % 4]: c).decision.matched  # type: ignore[union-attr]
        assert json.loads(s.encoded.brands) == list(s.brands)
        assert json.loads(s.encoded.categories) == list(s.score.categories)
        checked["scoring"] += 1
        if s.decision.escalate:
            # what the serial path (no worker, nothing encoded ahead) stores
            serial = analyzer.complete(m, analyzer.prepare(m), lambda _b, c=CONTEXTS[i % 4]: c)
            assert serial is not None and serial.decision.escalate and serial.decision.trace
            # the trace in its stored form (socialear.trace); the score is the mention's
            expected: dict[str, Any] = {**serial.decision.to_dict(), "trace": compact(serial.decision.trace),
                                        "repeat_contact": s.repeat_contact}
            got = decision_text(s.encoded, s.shown, s.repeat_contact)
            if got is None:  # routed anew in the pipeline: encoded there, whole
                assert s.encoded.decision_head is None
                continue
            assert got == json.dumps(expected)
            checked["decision"] += 1
            checked["moved"] += prepared.routed_for is not None and prepared.routed_for[0] != s.score.urgency
    assert checked["scoring"] >= 28 and checked["decision"] >= 8
    assert checked["moved"] >= 4  # history moved the urgency the trace shows


def test_the_mark_in_a_trace_value_falls_back_to_encoding_it_whole() -> None:
    """A route's condition that shows the mention's text (a regex) may show the mark:
    the pieces are not split then, and the pipeline encodes the decision itself."""
    rules = load_rules(ROOT / "rules.yaml")
    analyzer = Analyzer(rules)
    p = analyzer.prepare(_mention(1, f"Nimbus Mobile outage down {_MARK} urgent"), speculate=True)
    assert p.encoded is not None
    if p.decision is not None and p.decision.escalate and p.encoded.decision_head is not None:
        # the mark did not reach the trace: the pieces are whole and correct (checked above)
        assert _MARK not in json.dumps(p.decision.trace)


@pytest.mark.parametrize("value", [0, 7, -3, 10**20, True, False, None, 2.5, 25.0, "25", "é\"x"])
def test_scalars_are_what_json_dumps_gives(value: Any) -> None:
    from listener.encoding import _scalar

    assert _scalar(value) == json.dumps(value)
