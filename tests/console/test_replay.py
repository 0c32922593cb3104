"""`socialear rules replay`: a proposed rules change is checked on stored history."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from console.replay import replay_report
from listener.collector import Collector
from responders.publish import PipelineResponders
from socialear.config import RulesConfig, parse_rules_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def stored(engine: Engine, tmp_path: Path) -> RulesConfig:
    text = (FIXTURES / "rules" / "pipeline.yaml").read_text()
    rules = parse_rules_text(
        text.replace("{feed}", str(FIXTURES / "pipeline" / "feed.jsonl")).replace("{sink}", str(tmp_path / "o.jsonl"))
    )
    assert Collector(engine, lambda: rules, responders=PipelineResponders()).poll("feed").ok
    return rules


def test_replay_with_the_same_rules_changes_nothing(engine: Engine, stored: RulesConfig) -> None:
    report = replay_report(engine, stored, stored, None)
    assert report["mentions"] == 8
    assert report["baseline"] == "stored decisions"
    assert report["added"] == {} and report["removed"] == {} and report["rerouted"] == {}


def test_replay_reports_added_removed_and_rerouted(engine: Engine, stored: RulesConfig) -> None:
    routes = list(stored.routes)
    # drop the outage route: its escalations move to the general complaint route
    without_outage = stored.model_copy(update={"routes": [r for r in routes if r.name != "outage-urgent"]})
    report = replay_report(engine, stored, without_outage, None)
    assert report["baseline"] == "current rules, replayed"
    assert report["rerouted"].get("outage-urgent → complaint", 0) >= 2
    example = report["examples"]["rerouted"][0]
    assert example["route"] == "outage-urgent → complaint" and example["text"]

    # escalate praise too (a silly rule): escalations are added, by route, with examples
    praise = routes[2].model_copy(
        update={"name": "praise", "when": routes[2].when.model_copy(update={"sentiment": ["positive"]})}
    )
    with_praise = stored.model_copy(update={"routes": [*routes, praise]})
    report = replay_report(engine, stored, with_praise, None, examples=1)
    assert report["added"].get("praise", 0) >= 2
    assert all(e["route"] == "praise" for e in report["examples"]["added"])



def test_replay_reports_a_lexicon_change(engine: Engine, stored: RulesConfig) -> None:
    # a lexicon change flips a sentiment and removes an escalation
    lexicon = stored.model_copy(update={"lexicon": {"awful": 3.5, "no reply": 3.0, "charged twice": 3.0}})
    report = replay_report(engine, stored, lexicon, None)
    assert report["sentiment_changed"] >= 1
    assert sum(report["removed"].values()) >= 1


PLATINUM_FIRST = """
  - name: platinum
    when: {brand: own, segment: platinum}
    escalate: {queue: urgent, priority: urgent}
"""


def test_replay_applies_customer_segments_like_the_pipeline(engine: Engine, stored: RulesConfig,
                                                           tmp_path: Path) -> None:
    """A route on `segment` fires in replay for a customer the directory knows, as it would
    live (and not for anyone else): the replayed mentions carry the segment."""
    from sqlmodel import Session

    from storage.customers import Identity, link

    with Session(engine) as s:
        link(s, "test", "C-9", segment="platinum", identities=[Identity("x", "ben_t")])
        s.commit()
    text = (FIXTURES / "rules" / "pipeline.yaml").read_text().replace("routes:\n", "routes:" + PLATINUM_FIRST, 1)
    proposed = parse_rules_text(
        text.replace("{feed}", str(FIXTURES / "pipeline" / "feed.jsonl")).replace("{sink}", str(tmp_path / "o.jsonl")))
    report = replay_report(engine, stored, proposed, None, examples=3)
    # ben_t's complaint (p2) moves from `complaint` to `platinum`; nobody else's post does
    assert report["rerouted"] == {"complaint → platinum": 1}, report
    assert report["added"] == {} and report["removed"] == {}
    (example,) = report["examples"]["rerouted"]
    assert example["external_id"] == "p2"
