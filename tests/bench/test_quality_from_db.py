"""`bench/quality.py --from-db`: the precision of escalations as agents judged them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.collector import Collector
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from storage import models as t

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def load_quality():  # the bench script as a module
    spec = importlib.util.spec_from_file_location("quality", ROOT / "bench" / "quality.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_from_db_reports_agent_precision(engine: Engine, db_url: str, tmp_path: Path) -> None:
    text = (FIXTURES / "rules" / "pipeline.yaml").read_text()
    rules = parse_rules_text(
        text.replace("{feed}", str(FIXTURES / "pipeline" / "feed.jsonl")).replace("{sink}", str(tmp_path / "o"))
    )
    assert Collector(engine, lambda: rules, responders=PipelineResponders()).poll("feed").ok
    et = t.Escalation.__table__
    with engine.begin() as conn:
        ids = conn.execute(sa.select(et.c.id).order_by(et.c.id)).scalars().all()
        assert len(ids) >= 3
        conn.execute(et.update().where(et.c.id == ids[0]).values(label="correct", status="resolved"))
        conn.execute(et.update().where(et.c.id == ids[1]).values(label="correct", status="resolved"))
        conn.execute(et.update().where(et.c.id == ids[2]).values(label="not_a_complaint", status="dismissed"))
    report = load_quality().agent_judgement(db_url)
    assert report["escalations"] == len(ids) and report["judged"] == 3
    assert report["precision"] == round(2 / 3, 3)
    assert report["by_label"] == {"correct": 2, "not_a_complaint": 1}
    assert sum(r["judged"] for r in report["by_route"].values()) == 3


def test_confusion_matrix_in_report() -> None:
    q = load_quality()
    rep = q.classification_report(["negative", "negative", "positive"], ["negative", "neutral", "positive"])
    assert rep["confusion"]["negative"] == {"negative": 1, "neutral": 1, "positive": 0}
    assert rep["per_class"]["negative"]["recall"] == 0.5


def test_the_report_says_which_scorer_build_it_timed() -> None:
    from listener.scoring import compiled

    q = load_quality()
    texts = ["still no signal since Monday", "love the new app", "what time do you open?"]
    report = q.evaluate_records(texts, ["negative", "positive", "neutral"])
    assert report["speed"]["scorer_build"] == compiled.STATUS
    assert report["speed"]["clock"] == "process CPU time"  # not the wall clock: see `_best_time`
    assert report["speed"]["vader_texts_per_s"] > 0 and report["speed"]["socialear_texts_per_s"] > 0
    assert set(report["targets"]) == {
        "negative_recall>=0.80",
        "negative_precision>=0.85",
        "macro_f1>=vader+0.15",
        "speed_ratio>=0.5",
    }
    assert report["socialear"]["confusion"]["negative"]["negative"] == 1


def test_the_speed_clock_counts_cpu_time_not_waiting() -> None:
    """A round that sleeps (a process waiting for a core looks the same to the wall clock)
    costs next to nothing; one that computes costs its work."""
    import time

    q = load_quality()
    assert q._best_time(lambda: time.sleep(0.2)) < 0.05
    assert q._best_time(lambda: sum(i * i for i in range(300_000))) > 0.0
