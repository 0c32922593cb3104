"""Invariant 1, for real: a poller SIGKILLed between fetch and commit loses nothing and
stores nothing twice. The child process runs the production Collector; a patch makes it
stop *inside* the batch's transaction (after the mentions are inserted, before the cursor
moves and the commit) and tell us, and we kill it there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.collector import Collector
from responders.publish import PipelineResponders
from socialear.config import RulesConfig
from storage import models as t

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from listener.collector import Collector
    from listener.pipeline import Pipeline
    from responders.publish import PipelineResponders
    from socialear.config import parse_rules_text
    from storage.engine import make_engine

    db_url, rules_path, marker, kill_at = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    rules = parse_rules_text(Path(rules_path).read_text())
    calls = 0
    original = Pipeline._advance

    def advance(conn, source, cursor_before, batch, result, now, owner):
        global calls
        calls += 1
        if calls == kill_at:
            marker.write_text(str(calls))
            time.sleep(120)  # killed here: mentions inserted, cursor not moved, nothing committed
        return original(conn, source, cursor_before, batch, result, now, owner)

    Pipeline._advance = staticmethod(advance)
    Collector(make_engine(db_url), lambda: rules, instance_id="doomed", lease_ttl_s=1, responders=PipelineResponders()).poll("feed")
    """
)


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_sigkill_between_fetch_and_commit_loses_nothing(
    engine: Engine, db_url: str, tmp_path: Path, kill_at: int, rules: RulesConfig, rules_file: Path
) -> None:
    marker = tmp_path / "marker"
    url = db_url if "://" in db_url else str(engine.url)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(rules_file), str(marker), str(kill_at)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the child finished before reaching the kill point"
            assert time.monotonic() < deadline, "the child never reached the kill point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    time.sleep(1.2)  # the dead poller's lease (1 s) expires, as a dead replica's would
    outcome = Collector(engine, lambda: rules, instance_id="restarted", responders=PipelineResponders()).poll("feed")
    assert outcome.ok, outcome.error

    mt, qt, et = t.Mention.__table__, t.Quarantine.__table__, t.Escalation.__table__
    with engine.connect() as conn:
        ids = conn.execute(sa.select(mt.c.external_id)).scalars().all()
        quarantined = conn.execute(sa.select(qt.c.external_id)).scalars().all()
        escalated = conn.execute(sa.select(sa.func.count()).select_from(et)).scalar_one()
        outbox = conn.execute(sa.select(sa.func.count()).select_from(t.OutboxItem.__table__)).scalar_one()
    assert sorted(ids) == sorted({"p1", "p2", "p3", "p5", "p6", "p9", "p10", "p11"})  # none lost, none twice
    assert quarantined == ["p7"]
    assert escalated == outbox  # every escalation has exactly one outbox row (one sink)
