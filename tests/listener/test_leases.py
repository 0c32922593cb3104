"""Stable instance id and short, heartbeat-renewed source leases (finding 6 of issue 14).

The instance id was `host:pid`, so a replica restarted after a crash did not own its own
lease and waited out the 300 s TTL before polling again.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from listener.collector import LEASE_TTL_S, Collector, default_instance_id
from listener.sources.replay import ReplaySource
from responders.publish import PipelineResponders
from socialear.config import RulesConfig
from storage import sources as state
from storage.engine import session_scope
from storage.types import utcnow

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_instance_id_survives_a_restart() -> None:
    code = "from listener.collector import default_instance_id as d; print(d())"
    ids = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
        for _ in range(2)
    }
    assert len(ids) == 1 and ids.pop().strip() == default_instance_id()


def test_the_service_takes_its_id_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from socialear.settings import get_settings

    monkeypatch.setenv("SOCIALEAR_INSTANCE_ID", "replica-7")
    assert get_settings().instance_id == "replica-7"


def test_a_restarted_replica_resumes_its_own_lease_at_once(engine: Engine, rules: RulesConfig) -> None:
    with session_scope(engine) as session:  # replica-1 crashed mid-poll: its lease is left behind
        assert state.acquire_lease(session, "feed", "replica-1", LEASE_TTL_S)
    other = Collector(engine, lambda: rules, instance_id="replica-2", responders=PipelineResponders()).poll("feed")
    assert other.skipped and "lease" in other.skipped
    restarted = Collector(engine, lambda: rules, instance_id="replica-1", responders=PipelineResponders()).poll("feed")
    assert restarted.ok and restarted.skipped is None and restarted.result.stored > 0


def test_a_dead_replicas_lease_lapses_within_a_minute(engine: Engine) -> None:
    assert LEASE_TTL_S <= 30
    now = utcnow()
    with session_scope(engine) as session:
        assert state.acquire_lease(session, "feed", "dead", LEASE_TTL_S, now=now)
    with session_scope(engine) as session:
        assert not state.acquire_lease(session, "feed", "alive", LEASE_TTL_S, now=now + timedelta(seconds=5))
    with session_scope(engine) as session:
        later = now + timedelta(seconds=LEASE_TTL_S + 1)
        assert state.acquire_lease(session, "feed", "alive", LEASE_TTL_S, now=later)


def test_a_long_poll_keeps_its_lease_by_heartbeat(
    engine: Engine, rules: RulesConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ReplaySource.fetch

    def slow(self: ReplaySource, cursor: str | None) -> Any:
        time.sleep(0.5)
        return real(self, cursor)

    monkeypatch.setattr(ReplaySource, "fetch", slow)
    ttl = 0.6
    polling = Collector(engine, lambda: rules, instance_id="busy", lease_ttl_s=ttl, responders=PipelineResponders())
    releasing = threading.Event()  # set as the poll lets its lease go: a take after that is fair
    release = polling._release_lease

    def flagged_release(name: str) -> None:
        releasing.set()
        release(name)

    monkeypatch.setattr(polling, "_release_lease", flagged_release)
    done: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: done.setdefault("outcome", polling.poll("feed")))
    thread.start()
    try:
        taken = []
        for _ in range(4):  # 0.4 .. 1.6 s into a ~1.5 s poll, well past one TTL
            time.sleep(0.4)
            if releasing.is_set():
                break
            with session_scope(engine) as session:
                got = state.acquire_lease(session, "feed", "thief", ttl)
            if releasing.is_set():  # the poll ended while we asked: not a lapse of the heartbeat
                if got:
                    with session_scope(engine) as session:
                        state.release_lease(session, "feed", "thief")
                break
            taken.append(got)
    finally:
        thread.join(timeout=30)
    assert len(taken) >= 2 and not any(taken)
    outcome = done["outcome"]
    assert outcome.ok and outcome.batches >= 3 and outcome.result.stored > 0
    with session_scope(engine) as session:  # released at the end: the next poller need not wait
        assert state.acquire_lease(session, "feed", "next", ttl)
