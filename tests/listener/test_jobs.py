"""Background jobs run once per cluster (listener.jobs.ClusterJob): two replicas, each with
its own engine (its own connections), share one database and count the calls, on SQLite
and PostgreSQL. The deletion sweep and the ticket-status poller of `socialear run` are
wrapped this way."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.jobs import ClusterJob
from storage import models as t
from storage.engine import make_engine

START = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
EVERY = 300.0


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.calls += 1


class Clock:
    def __init__(self) -> None:
        self.t = START

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def replicas(engine: Engine, db_url: str):
    """Two replicas: the migrated engine and a second engine on the same database."""
    other = make_engine(db_url)
    yield engine, other
    other.dispose()


def test_two_replicas_run_the_job_once_per_period(replicas) -> None:
    first, second = replicas
    clock, work = Clock(), Counter()
    a = ClusterJob(first, "deletion-check", work, EVERY, "replica-a", clock=clock)
    b = ClusterJob(second, "deletion-check", work, EVERY, "replica-b", clock=clock)
    for period in range(12):
        clock.t = START + timedelta(seconds=period * EVERY)
        order = (a, b) if period % 2 else (b, a)  # who asks first changes
        for job in order:
            job()
        clock.t += timedelta(seconds=EVERY / 3)  # and again, later in the period
        b()
        a()
    assert work.calls == 12
    assert a.runs + b.runs == 12 and {a.runs, b.runs} == {0, 12}  # the holder keeps it


def test_another_replica_takes_over_when_the_holder_dies(replicas) -> None:
    first, second = replicas
    clock, work = Clock(), Counter()
    a = ClusterJob(first, "ticket-status", work, EVERY, "replica-a", clock=clock)
    b = ClusterJob(second, "ticket-status", work, EVERY, "replica-b", clock=clock)
    assert a() and not b()
    clock.t += timedelta(seconds=EVERY)  # a is gone (SIGKILL): it never runs again
    assert not b()  # a's lease (1.5 periods) still holds
    clock.t += timedelta(seconds=EVERY)
    assert b()  # expired: b takes the job over
    assert work.calls == 2


def test_a_clean_stop_hands_the_job_over_at_once(replicas) -> None:
    first, second = replicas
    clock, work = Clock(), Counter()
    a = ClusterJob(first, "digest", work, EVERY, "replica-a", clock=clock)
    b = ClusterJob(second, "digest", work, EVERY, "replica-b", clock=clock)
    assert a()
    a.release()
    assert b() and work.calls == 2


def test_racing_replicas_never_both_run(replicas) -> None:
    """Both replicas fire at the same instant from their own threads, 15 periods over."""
    first, second = replicas
    clock, work = Clock(), Counter()
    jobs = [
        ClusterJob(first, "spike", work, EVERY, "replica-a", clock=clock),
        ClusterJob(second, "spike", work, EVERY, "replica-b", clock=clock),
    ]
    for period in range(15):
        # each period is past the lease (1.5 periods): the job is up for grabs every time
        clock.t = START + timedelta(seconds=period * 2 * EVERY)
        barrier = threading.Barrier(2)
        ran: list[bool] = []

        def fire(job: ClusterJob, barrier: threading.Barrier = barrier, ran: list[bool] = ran) -> None:
            barrier.wait()
            ran.append(job())

        threads = [threading.Thread(target=fire, args=(job,)) for job in jobs]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(ran) == [False, True], period
    assert work.calls == 15


def test_a_failed_run_is_recorded_on_the_jobs_row(replicas) -> None:
    first, _ = replicas

    def broken() -> None:
        raise RuntimeError("X lookup refused")

    assert ClusterJob(first, "deletion-check", broken, EVERY, "replica-a")()
    st = t.SourceState.__table__
    with first.connect() as conn:
        row = conn.execute(sa.select(st).where(st.c.source == "job:deletion-check")).one()
    assert not row.healthy and "X lookup refused" in row.last_error


def test_socialear_run_wraps_the_deletion_sweep_and_ticket_poller(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `socialear run` services on one database: each housekeeping job runs once."""
    import console.service as service_module
    from console.service import Service

    sweeps, polls = Counter(), Counter()
    monkeypatch.setattr(Service, "check_deletions", lambda self: sweeps())
    monkeypatch.setattr(service_module, "make_status_poller", lambda engine, sinks: polls)
    rules = tmp_path / "rules.yaml"
    rules.write_text("brands:\n  - name: Nimbus\n    query: nimbus\n")
    services = [Service(rules, db_url, console=False) for _ in range(2)]
    try:
        for n, svc in enumerate(services):
            svc.instance_id = f"replica-{n}"
            svc.schedule_cluster_jobs()
            assert sorted(j.name for j in svc.cluster_jobs) == ["deletion-check", "report-digests", "retention", "ticket-status"]
        for _ in range(3):  # every replica's timer fires, three times
            for svc in services:
                for job in svc.cluster_jobs:
                    job()
        assert sweeps.calls == 1 and polls.calls == 1  # the lease holds for 1.5 periods
    finally:
        for svc in services:
            svc.engine.dispose()
