"""Scoring on the second core (listener.prescoring): the worker path stores exactly what
the serial path stores, survives its worker's death, and leaves no process behind."""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from console.backfill import backfill
from listener.analysis import Analyzer
from listener.prescoring import Prescorer
from listener.routing import with_urgency
from listener.scoring import ScoringContext
from listener.types import Author, Batch, Mention
from responders.publish import PipelineResponders
from socialear.config import RulesConfig, load_rules
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.types import utcnow
from tests.conftest import pg_schema

ROOT = Path(__file__).resolve().parents[2]
QUIET = Console(file=io.StringIO())
TEXTS = [
    "@NimbusMobile no signal in {p} since Monday, third time this month",
    "Nimbus Mobile charged me twice for the same bill, still waiting on a refund urgent",
    "been on hold with Nimbus Mobile for 45 minutes now",
    "#NimbusDown network down again in {p}, can't call anyone",
    "really impressed with @NimbusMobile support today, sorted in 5 minutes",
    "does Nimbus Mobile roaming work in Spain? planning a trip",
    "lovely clouds over {p} this evening",
    "great, another Nimbus Mobile outage, just what I needed :(",
]
# every table the pipeline writes, compared row for row (ids included)
TABLES = ["author", "mention", "escalation", "care_case", "outbox", "audit_event", "quarantine",
          "source_state", "rollup_hour", "rollup_brand_hour", "rollup_day", "rollup_day_category",
          "rollup_category", "mention_terms", "rollup_care_span", "care_group"]


def write_feed(path: Path, n: int, seed: int = 5) -> Path:
    """Repeat authors, threads, replies and a poison record: every history-dependent step runs."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        record: dict[str, Any] = {
            "id": f"p{i}", "platform": "x",
            "text": rng.choice(TEXTS).format(p=rng.choice(["Leeds", "York", "Hull"])),
            "created_at": f"2026-11-20T08:{i // 60:02d}:{i % 60:02d}Z",
            "author": {"handle": f"user{rng.randrange(n // 4 + 1)}", "followers": rng.randrange(5000)},
            "conversation_id": f"c{i // 5}", "engagement": rng.randrange(50),
        }
        if i % 7 == 3:
            record["in_reply_to"] = f"p{i - 1}"
        lines.append(json.dumps(record))
        if i == n // 2:
            lines.append('{"id": "bad", "text": ' + "[" * 5000)  # quarantined, not fatal
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            order = list(table.primary_key.columns) or list(table.columns)
            out[name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*order))]
    return out


@pytest.fixture
def twin(engine: Engine, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A second empty database of the same kind as `engine`."""
    if engine.dialect.name == "sqlite":
        path = tmp_path / "twin.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
        return
    with pg_schema() as url:
        eng = make_engine(url)
        try:
            upgrade(eng)
            yield eng
        finally:
            eng.dispose()


def test_worker_and_serial_paths_store_identical_rows(
    engine: Engine, twin: Engine, rules: RulesConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()
    monkeypatch.setattr("listener.pipeline.utcnow", lambda: now)  # the only clock the rows read
    feed = write_feed(tmp_path / "feed.jsonl", 400)
    serial = backfill(engine, rules, feed, "import", 37, QUIET, lookahead=False)
    parallel = backfill(twin, rules, feed, "import", 37, QUIET, lookahead=True)
    assert serial.totals.escalated > 50 and serial.totals.quarantined == 1
    assert parallel.totals == serial.totals
    expected, got = rows(engine), rows(twin)
    assert sum(map(len, expected.values())) > 1000
    for name in TABLES:
        for a, b in zip(got[name], expected[name], strict=True):
            assert a == b, (name, [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y])
    if engine.dialect.name == "sqlite":  # the JSON text itself (the worker encodes part of it ahead)
        for sql in ("SELECT id, brands, categories, scoring FROM mention ORDER BY id",
                    "SELECT id, categories, tags, decision FROM escalation ORDER BY id"):
            with engine.connect() as a, twin.connect() as b:
                assert a.exec_driver_sql(sql).all() == b.exec_driver_sql(sql).all()


def mention(i: int, text: str) -> Mention:
    return Mention(source="feed", platform="x", external_id=f"m{i}", text=text, created_at=utcnow(),
                   author=Author(platform="x", handle=f"a{i}", followers=10 * i), engagement=i)


def test_prescore_then_finish_is_score(rules: RulesConfig) -> None:
    """The split scorer, with the pre-score pickled as the worker hands it back."""
    analyzer = Analyzer(rules)
    contexts = [ScoringContext(), ScoringContext(2, 9, {"outage": 20}), ScoringContext(0, 0, {"billing": 4})]
    for i, text in enumerate(TEXTS * 3):
        m = mention(i, text.format(p="Leeds"))
        ctx = contexts[i % 3]
        pre = pickle.loads(pickle.dumps(analyzer.scorer.prescore(m)))
        assert analyzer.scorer.finish(pre, ctx) == analyzer.scorer.score(m, ctx)


def test_a_dead_worker_falls_back_to_scoring_in_process(
    rules: RulesConfig, caplog: pytest.LogCaptureFixture
) -> None:
    batches = [Batch([mention(10 * b + i, TEXTS[i]) for i in range(6)], next_cursor=str(b)) for b in range(4)]
    with Prescorer(rules, PipelineResponders.render_reply) as prescorer:
        prescorer.warm()
        assert prescorer.pid is not None
        got = []
        for k, (batch, prepared) in enumerate(prescorer.ahead("feed", batches)):
            got.append((batch, prepared))
            if k == 0:
                os.kill(prescorer.pid, signal.SIGKILL)  # batches 1 and 2 are with the worker now
    prepared = [p for _, p in got]
    assert prepared[0] is not None and len(prepared[0].items) == 6
    # batches 1 and 2 may have been finished before the kill; batch 3 went to a dead worker
    first_none = prepared.index(None)
    assert first_none in (1, 2, 3) and prepared[first_none:] == [None] * (4 - first_none)  # in process from then on
    assert [b for b, _ in got] == batches  # no batch lost or repeated
    assert caplog.text.count("prescoring worker failed") == 1
    assert not _alive(prescorer.pid)


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.update(int(c) for c in text)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_import_leaves_no_child(sig: int, rules_file: Path, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "big.jsonl", 6000)
    db = tmp_path / "kill.db"
    env = {**os.environ, "SOCIALEAR_DATABASE_URL": f"sqlite:///{db}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "import", str(feed), "--rules", str(rules_file),
         "--batch-size", "100"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            # the spawned worker is a child running multiprocessing's spawn_main
            workers = {c for c in _children(proc.pid)
                       if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()}
            if workers:
                break
            time.sleep(0.05)
        assert workers, "the import started no prescoring worker"
        time.sleep(0.5)  # mid-import
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(_alive, workers)):
            time.sleep(0.05)
        assert not any(map(_alive, workers)), "the prescoring worker outlived its import"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_decision_moved_to_another_urgency_is_the_route_at_that_urgency() -> None:
    """listener.routing.with_urgency, against routing afresh: the repository's rules route
    on urgency thresholds, so some moves cross one (None: route again) and most do not."""
    rules = load_rules(ROOT / "rules.yaml")
    analyzer = Analyzer(rules)
    moved = refused = 0
    for i, text in enumerate(TEXTS * 2):
        m = mention(i, text.format(p="Leeds"))
        if i >= len(TEXTS):  # loud authors: urgencies near the rules' thresholds
            m.author.followers, m.engagement = 200_000, 5_000
        p = analyzer.prepare(m, speculate=True)
        if p.pre is None or p.decision is None or p.routed_for is None:
            continue
        for ctx in [ScoringContext(1, 0, {}), ScoringContext(0, 12, {}), ScoringContext(3, 30, {"outage": 40})]:
            score = analyzer.scorer.finish(p.pre, ctx)
            fresh = analyzer.route(m, p.primary, p.competitor, score)
            got = with_urgency(p.decision, rules, p.routed_for[0], score.urgency)
            if got is None:
                refused += 1
            else:
                moved += 1
                assert got == fresh
    assert moved > 10 and refused > 0


class _Failing:
    """The scorer, raising for one text at `prescore` and for another at `finish`."""

    def __init__(self, scorer: Any) -> None:
        self._scorer = scorer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scorer, name)

    def prescore(self, m: Mention) -> Any:
        if "POISON-PRE" in m.text:
            raise ValueError("bad pre-score")
        return self._scorer.prescore(m)

    def finish(self, pre: Any, context: Any = None) -> Any:
        if pre.points.get("engagement") == 7.7:
            raise ValueError("never")
        return self._scorer.finish(pre, context)


@pytest.mark.parametrize(("speculate", "trace"), [(True, False), (True, True), (False, True)])
def test_the_staged_batch_is_each_mention_prepared(speculate: bool, trace: bool) -> None:
    """Analyzer.prepare_all runs the batch in stages; each result is what `prepare` gives
    for that mention alone (or its Failed), in order, with failures at any stage."""
    from listener.analysis import failure

    analyzer = Analyzer(load_rules(ROOT / "rules.yaml"))
    analyzer.scorer = _Failing(analyzer.scorer)  # type: ignore[assignment]
    texts = [t.format(p="Leeds") for t in TEXTS] + [
        "Nimbus Mobile POISON-PRE outage", "nothing to see here", "@NimbusMobile crypto giveaway click here",
        "Nimbus Mobile refund please, charged twice, cancelling my contract", "Arcwave is down again :("]
    batch = [mention(i, text) for i, text in enumerate(texts * 3)]
    for i, m in enumerate(batch):
        m.author.followers = [5, 20_000, 300][i % 3]
        if i % 5 == 0:
            m.extra = {"customer_segment": "gold"}
    batch[4].text = None  # type: ignore[assignment]  # the brand matcher raises
    expected: list[Any] = []
    for m in batch:
        try:
            expected.append(analyzer.prepare(m, None, speculate=speculate, trace=trace))
        except Exception as exc:  # noqa: BLE001
            expected.append(failure(exc))
    got = analyzer.prepare_all(batch, None, speculate=speculate, trace=trace)
    assert got == expected
    from listener.analysis import Failed, Prepared

    failed = [p.error for p in got if isinstance(p, Failed)]
    assert any("bad pre-score" in e for e in failed) and any("bad pre-score" not in e for e in failed)
    assert any(isinstance(p, Prepared) and p.primary is None for p in got)  # about no brand
    escalated = [p for p in got if isinstance(p, Prepared) and p.decision is not None and p.decision.escalate]
    assert len(escalated) >= (3 if speculate else 0)
