"""A sink outage waited out, against a real HTTP server on 127.0.0.1 (bench/receiver.py)
and the production OutboxWorker in real time, on SQLite and PostgreSQL:

connection refused, then 500s, then 429 with Retry-After, then back. Nothing goes dead,
every escalation arrives exactly once (Idempotency-Key), no request comes back before a
Retry-After ran out, the outage costs a handful of requests rather than one per row per
round, and the backlog drains most urgent first.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from responders.outbox import OutboxWorker, SinkSet
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from storage import breakers
from storage import models as t
from storage.engine import session_scope

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-outage"
ENV = {"SOCIALEAR_WEBHOOK_SECRET": SECRET}


def load_receiver():  # the bench helper as a module
    spec = importlib.util.spec_from_file_location("bench_receiver", ROOT / "bench" / "receiver.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed(engine: Engine, n: int, *, urgent_every: int = 4, age: timedelta = timedelta(0)) -> list[str]:
    """n escalations with an outbox row each for the sink `hook`, as the pipeline writes them."""
    now = datetime.now(UTC) - age
    keys = []
    with engine.begin() as conn:
        for i in range(n):
            author = conn.execute(t.Author.__table__.insert().returning(t.Author.__table__.c.id).values(
                platform="x", handle=f"user{i}", name=f"User {i}", followers=i, verified=False, first_seen=now, last_seen=now)).scalar_one()
            mention = conn.execute(t.Mention.__table__.insert().returning(t.Mention.__table__.c.id).values(
                source="x-main", platform="x", external_id=f"outage-{i:05d}", text=f"@NimbusMobile no signal #{i}", created_at=now,
                fetched_at=now, author_id=author, brand="Nimbus", brands=["Nimbus"], categories=["outage"], scoring={})).scalar_one()
            key = f"sk-outage-{i:04d}"
            priority = ("urgent", 4) if i % urgent_every == 0 else ("normal", 2)
            esc = conn.execute(t.Escalation.__table__.insert().returning(t.Escalation.__table__.c.id).values(
                mention_id=mention, idempotency_key=key, route="outage", queue="care", priority=priority[0],
                priority_rank=priority[1], status="open", created_at=now, updated_at=now, suggested_reply="Sorry!",
                tags=[], decision={"route": "outage"})).scalar_one()
            conn.execute(t.OutboxItem.__table__.insert().values(
                escalation_id=esc, sink="hook", kind="escalation", state="pending", attempts=0, next_attempt_at=now,
                idempotency_key=key, priority_rank=priority[1], payload={}, created_at=now, updated_at=now))
            keys.append(key)
    return keys


def rules_for(url: str, **retry: object):
    sink = {"name": "hook", "type": "webhook", "options": {"url": url, "timeout_s": 2}, "retry": {"probe_max": "1s", **retry}}
    return parse_rules_text(json.dumps({"brands": [{"name": "Nimbus", "query": "nimbus"}], "sinks": [sink]}))


def states(engine: Engine) -> dict[str, int]:
    ot = t.OutboxItem.__table__
    with engine.connect() as conn:
        return {getattr(s, "value", s): n for s, n in conn.execute(sa.select(ot.c.state, sa.func.count()).group_by(ot.c.state))}


def assert_urgent_first(order: list[str], urgent: set[str], parallel: int) -> None:
    """The backlog went out most urgent first, judged on arrival order. Arrival, not claim,
    order: `parallel` threads send at once, and a thread the OS parks for a moment lets the
    others' normal rows arrive before its urgent one (a few places under load, so a bound of
    `+ parallel` places failed now and then). What the agent sees: every urgent escalation
    is in within a small slack past the urgent ones (twice the senders, plus 5% of the
    backlog), and on average they are ahead of every normal one."""
    places = sorted(order.index(k) for k in urgent)
    slack = 2 * parallel + len(order) // 20
    assert places[-1] < len(urgent) + slack, places[-5:]
    assert sum(places) / len(places) < len(urgent) / 2 + parallel, sum(places) / len(places)


def test_refused_500_and_429_are_waited_out_then_the_backlog_drains_urgent_first(engine: Engine) -> None:
    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="outage-test", parallel=4)
    runner = threading.Thread(target=worker.run_forever, kwargs={"idle_s": 0.05}, daemon=True)
    try:
        receiver.phase("refuse")
        keys = seed(engine, 60)
        runner.start()
        time.sleep(2.5)
        with session_scope(engine) as session:
            [breaker] = breakers.breaker_rows(session)
        assert breaker["state"] in ("open", "half_open")  # visible while down
        receiver.phase("500")
        time.sleep(2.5)
        receiver.phase("429", retry_after=2)
        time.sleep(3.5)
        during_outage = receiver.requests
        assert states(engine).get("dead", 0) == 0
        receiver.phase("up")
        deadline = time.monotonic() + 60
        while len(receiver.arrived) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a late duplicate would show up now
    finally:
        worker.stop()
        receiver.close()

    assert set(receiver.arrived) == set(keys)
    assert receiver.duplicates == 0 and receiver.bad_signatures == 0
    assert receiver.retry_after_violations == 0
    assert states(engine) == {"sent": len(keys)}
    # ~8.5 s of outage with probes at most 1 s apart (>= 2 s under Retry-After): a few
    # dozen requests at most, where retrying every row would have sent hundreds
    assert receiver.rejected["500"] >= 1 and receiver.rejected["429"] >= 1
    assert during_outage <= 30, during_outage
    urgent = {k for k in keys if int(k.rsplit("-", 1)[1]) % 4 == 0}
    assert_urgent_first(receiver.order, urgent, worker.parallel)  # the backlog drained most urgent first
    with session_scope(engine) as session:
        [breaker] = breakers.breaker_rows(session)
    assert breaker["state"] == "closed" and breaker["failures"] == 0


def test_only_a_delivery_older_than_max_age_is_dead_lettered(engine: Engine) -> None:
    receiver = load_receiver().WebhookReceiver(SECRET)
    receiver.phase("500")
    rules = rules_for(receiver.url, max_age="1h", open_after=100)
    old = seed(engine, 2, age=timedelta(hours=2))
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="age-test")
    try:
        stats = worker.run_once()
    finally:
        worker.close()
        receiver.close()
    assert (stats.dead, stats.retried) == (2, 0)
    ot = t.OutboxItem.__table__
    with engine.connect() as conn:
        errors = conn.execute(sa.select(ot.c.last_error).where(ot.c.idempotency_key.in_(old))).scalars().all()
    assert all(e.startswith("gave up after 2.0 h of retrying") for e in errors)


def test_socialear_outbox_shows_a_down_sinks_breaker(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from storage.engine import make_engine
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(t.SinkBreaker.__table__.insert().values(
            sink="contact-centre", state="open", failures=3, opens=2, opened_at=now - timedelta(minutes=3),
            next_probe_at=now + timedelta(seconds=8), last_error="webhook sink 'contact-centre': HTTP 503", updated_at=now))
    engine.dispose()
    res = subprocess.run([sys.executable, "-m", "console.cli", "outbox"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "SOCIALEAR_DATABASE_URL": url, "COLUMNS": "200"}, timeout=120)
    assert res.returncode == 0, res.stderr
    line = next(line for line in res.stdout.splitlines() if "contact-centre" in line)
    assert "open" in line and "3m ago" in line and "HTTP 503" in line


def _claim(engine: Engine, ids: list[int], owner: str, until: datetime) -> None:
    ot = t.OutboxItem.__table__
    with engine.begin() as conn:
        conn.execute(ot.update().where(ot.c.id.in_(ids)).values(state="sending", locked_by=owner, locked_until=until, attempts=1))


def _ids(engine: Engine) -> list[int]:
    ot = t.OutboxItem.__table__
    with engine.connect() as conn:
        return list(conn.execute(sa.select(ot.c.id).order_by(ot.c.id)).scalars())


def test_a_restarted_instance_resumes_its_own_sending_rows_at_once(engine: Engine) -> None:
    """Killed mid-delivery with a fresh 30 s claim: the same instance id takes the rows
    back on start instead of waiting for its own lease to lapse."""
    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    seed(engine, 3)
    ids = _ids(engine)
    _claim(engine, ids, "replica-a", datetime.now(UTC) + timedelta(seconds=30))
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="replica-a")
    try:
        assert worker.run_once().sent == 0  # still claimed: a running worker never re-takes its own in-flight rows
        assert worker.resume() == 3  # what `run_forever` does first after a restart
        assert worker.run_once().sent == 3
    finally:
        worker.close()
        receiver.close()
    assert len(receiver.arrived) == 3 and receiver.duplicates == 0


def test_another_replicas_claim_expires_after_the_short_lease_unless_renewed(engine: Engine) -> None:
    from storage.outbox import DEFAULT_LEASE_S, claim_outbox, renew

    assert DEFAULT_LEASE_S <= 30
    seed(engine, 2)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        assert len(claim_outbox(session, "replica-a", 10, now)) == 2
    with session_scope(engine) as session:
        assert claim_outbox(session, "replica-b", 10, now + timedelta(seconds=20)) == []
        assert renew(session, "replica-a", now + timedelta(seconds=20)) == 2  # a heartbeat: alive, still working
    with session_scope(engine) as session:
        assert claim_outbox(session, "replica-b", 10, now + timedelta(seconds=45)) == []
    with session_scope(engine) as session:  # replica-a died after its last beat: gone within a minute
        assert len(claim_outbox(session, "replica-b", 10, now + timedelta(seconds=51))) == 2


def test_the_heartbeat_keeps_a_slow_delivery_claimed(engine: Engine) -> None:
    """A round slower than the lease (a sink taking its time) keeps its rows: another
    replica must not deliver them a second time meanwhile."""
    from storage.outbox import claim_outbox

    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    seed(engine, 1)
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="slow", lock_ttl=timedelta(seconds=1.5))
    sink = worker.sinks.get("hook")
    original = sink.deliver
    stolen: list[int] = []

    def slow_deliver(payload, attempt=1):
        time.sleep(2.0)  # longer than the lease; the heartbeat renews it every 0.5 s
        with session_scope(engine) as session:
            stolen.extend(claim_outbox(session, "other", 10))
        return original(payload, attempt=attempt)

    sink.deliver = slow_deliver  # type: ignore[method-assign]
    runner = threading.Thread(target=worker.run_forever, kwargs={"idle_s": 0.05}, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while not receiver.arrived and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        receiver.close()
    assert stolen == [] and len(receiver.arrived) == 1


def test_the_pipeline_hands_committed_rows_to_the_local_worker_already_claimed(engine: Engine, tmp_path: Path) -> None:
    """Latency: `socialear run`'s pipeline writes its outbox rows claimed by the local
    worker and hands their ids over right after the commit, so delivery starts without a
    claim transaction or a poll interval; a crash before delivery leaves them this
    instance's to resume."""
    from listener.collector import Collector

    fixtures = ROOT / "tests" / "fixtures"
    text = (fixtures / "rules" / "pipeline.yaml").read_text()
    rules = parse_rules_text(text.replace("{feed}", str(fixtures / "pipeline" / "feed.jsonl")).replace("{sink}", str(tmp_path / "out.jsonl")))
    collector = Collector(engine, lambda: rules, instance_id="replica-a", env={}, responders=PipelineResponders())
    worker = OutboxWorker(engine, SinkSet(lambda: rules, {}), worker_id="replica-a")
    handed: list[list[int]] = []
    original = worker.accept
    worker.accept = lambda ids: (handed.append(list(ids)), original(ids))  # type: ignore[method-assign]
    collector.pipeline.outbox_handoff = worker
    try:
        assert collector.poll("feed").ok
        ot = t.OutboxItem.__table__
        with engine.connect() as conn:
            rows = conn.execute(sa.select(ot.c.id, ot.c.state, ot.c.locked_by, ot.c.attempts)).all()
        assert rows and {r.id for r in rows} == {i for ids in handed for i in ids}
        assert {(getattr(r.state, "value", r.state), r.locked_by, r.attempts) for r in rows} == {("sending", "replica-a", 1)}
        stats = worker.run_once()  # the handed rows, without claiming anything
        assert stats.sent == len(rows)
    finally:
        worker.close()
    assert states(engine) == {"sent": len(rows)}
    delivered = [json.loads(line)["idempotency_key"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(delivered) == len(set(delivered)) == len({r.id for r in rows})


def test_the_outbox_process_delivers_handed_rows_and_stops_when_asked(tmp_path: Path) -> None:
    """`socialear run`'s default: the worker in a child process, fed ids through a pipe."""
    from listener.collector import Collector
    from responders.outbox_process import OutboxProcess
    from storage.engine import make_engine
    from storage.migrate import upgrade

    fixtures = ROOT / "tests" / "fixtures"
    text = (fixtures / "rules" / "pipeline.yaml").read_text()
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(text.replace("{feed}", str(fixtures / "pipeline" / "feed.jsonl")).replace("{sink}", str(tmp_path / "out.jsonl")))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    from socialear.config import load_rules

    rules = load_rules(rules_path)
    proc = OutboxProcess(url, rules_path, "replica-p", env=dict(__import__("os").environ), idle_s=0.1)
    proc.start()
    try:
        assert proc.wait_ready(120)
        collector = Collector(engine, lambda: rules, instance_id="replica-p", env={}, responders=PipelineResponders())
        collector.pipeline.outbox_handoff = proc
        assert collector.poll("feed").ok
        deadline = time.monotonic() + 60
        while states(engine).keys() != {"sent"} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert states(engine).keys() == {"sent"}
    finally:
        started = time.monotonic()
        proc.stop(timeout=30)
        assert time.monotonic() - started < 30 and not proc.alive()
        engine.dispose()
    delivered = [json.loads(line)["idempotency_key"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(delivered) == len(set(delivered)) > 0


def test_a_backlog_of_1000_drains_within_a_minute_most_urgent_first(engine: Engine) -> None:
    """The sink was down (breaker open, 1,000 escalations waiting); it is back: one probe,
    then the whole backlog, urgent ones first, well within the minute the issue allows."""
    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    keys = seed(engine, 1000, urgent_every=10)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(t.SinkBreaker.__table__.insert().values(
            sink="hook", state="open", failures=3, opens=4, opened_at=now - timedelta(minutes=5),
            next_probe_at=now, last_error="HTTP 503", updated_at=now))
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="drain-test", parallel=4)
    runner = threading.Thread(target=worker.run_forever, kwargs={"idle_s": 0.05}, daemon=True)
    started = time.monotonic()
    runner.start()
    try:
        while len(receiver.arrived) < len(keys) and time.monotonic() - started < 60:
            time.sleep(0.1)
        took = time.monotonic() - started
    finally:
        worker.stop()
        receiver.close()
    assert len(receiver.arrived) == len(keys) and receiver.duplicates == 0, took
    assert took < 60
    urgent = {k for k in keys if int(k.rsplit("-", 1)[1]) % 10 == 0}
    assert_urgent_first(receiver.order, urgent, worker.parallel)


def test_rows_another_process_committed_are_delivered_promptly_notify_wakes_postgresql_workers(engine: Engine) -> None:
    """Rows committed elsewhere (an import, another replica) wake the worker at once via
    LISTEN/NOTIFY on PostgreSQL, not at its next idle poll (30 s here). SQLite has no
    NOTIFY (a no-op there): its worker finds such rows at its idle poll (1 s)."""
    from storage.outbox import notify_new_rows

    idle = 30.0 if engine.dialect.name == "postgresql" else 1.0

    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="listener")
    runner = threading.Thread(target=worker.run_forever, kwargs={"idle_s": idle}, daemon=True)
    runner.start()
    try:
        time.sleep(2.0)  # the worker has gone idle (and is listening)
        keys = seed(engine, 3)
        with engine.begin() as conn:
            notify_new_rows(conn)
        committed = time.monotonic()
        while len(receiver.arrived) < 3 and time.monotonic() - committed < 10:
            time.sleep(0.05)
        took = time.monotonic() - committed
    finally:
        worker.stop()
        receiver.close()
    assert set(receiver.arrived) == set(keys) and took < 5, took


def _hold_sqlite_write_lock(engine: Engine):  # sqlite3.Connection
    """What the pipeline does for most of every batch: hold SQLite's one write lock."""
    import sqlite3

    raw = sqlite3.connect(engine.url.database or "", isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    return raw


def test_an_idle_round_does_not_queue_for_sqlite_s_write_lock(sqlite_engine: Engine) -> None:
    """Nothing due: the worker looks (a read) instead of claiming (a write), so it is not
    stuck behind the pipeline's batch transaction while handed rows wait. The old claim
    waited out the 5 s busy timeout, then failed with "database is locked"."""
    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    worker = OutboxWorker(sqlite_engine, SinkSet(lambda: rules, ENV), worker_id="idle")
    lock = _hold_sqlite_write_lock(sqlite_engine)
    try:
        started = time.monotonic()
        stats = worker.run_once()
        took = time.monotonic() - started
        lock.rollback()
        keys = seed(sqlite_engine, 2)
        assert worker.run_once().sent == 2  # due rows are still claimed and delivered
    finally:
        lock.close()
        worker.close()
        receiver.close()
    assert stats.sent + stats.retried + stats.dead == 0 and took < 1.0, took
    assert set(receiver.arrived) == set(keys)


def test_handed_rows_are_delivered_while_the_pipeline_holds_the_write_lock(sqlite_engine: Engine) -> None:
    """Round after round goes out while SQLite's write lock is taken: recording a round's
    outcomes (a write) happens off the delivery path, and catches up once the lock is
    free. The old worker recorded each round before starting the next, so a second batch
    waited behind the first one's record for as long as the pipeline held the lock."""
    from storage.outbox import claim_outbox

    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    worker = OutboxWorker(sqlite_engine, SinkSet(lambda: rules, ENV), worker_id="replica-a")
    runner = threading.Thread(target=worker.run_forever, kwargs={"idle_s": 0.05}, daemon=True)
    runner.start()
    time.sleep(0.5)  # resumed and idle
    keys = seed(sqlite_engine, 6, age=-timedelta(hours=1))  # not due: only the hand-over delivers them
    with session_scope(sqlite_engine) as session:  # as the pipeline writes them: claimed for this worker
        ids = claim_outbox(session, "replica-a", 10, datetime.now(UTC) + timedelta(hours=2))
    assert len(ids) == 6
    ot = t.OutboxItem.__table__
    with sqlite_engine.connect() as conn:
        key_of = dict(conn.execute(sa.select(ot.c.id, ot.c.idempotency_key)).all())
    lock = _hold_sqlite_write_lock(sqlite_engine)
    try:
        started = time.monotonic()
        for batch in (ids[:3], ids[3:]):  # two batches committed by the pipeline, handed over
            worker.accept(batch)
            want = {key_of[i] for i in batch}
            while not want <= set(receiver.arrived) and time.monotonic() - started < 4:
                time.sleep(0.02)
        took = time.monotonic() - started
        assert states(sqlite_engine) == {"sending": 6}  # delivered, not recorded yet: the lock is held
    finally:
        lock.rollback()
        lock.close()
        worker.stop()
        receiver.close()
    assert set(receiver.arrived) == set(keys) and took < 3.0, took
    assert receiver.duplicates == 0
    assert states(sqlite_engine) == {"sent": 6}  # recorded once the lock was free, before the stop returned


def test_warm_up_builds_the_sinks_before_the_first_escalation(engine: Engine, monkeypatch) -> None:
    """`warm_up` (the delivery process runs it before it reports ready) pays for building
    the sinks' HTTP clients up front, so the first round after a start does not."""
    import responders.outbox as outbox_module

    receiver = load_receiver().WebhookReceiver(SECRET)
    rules = rules_for(receiver.url)
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="warm")
    try:
        worker.warm_up()
        monkeypatch.setattr(outbox_module, "build_sink", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built in a round")))
        keys = seed(engine, 3)
        assert worker.run_once().sent == 3
    finally:
        worker.close()
        receiver.close()
    assert set(receiver.arrived) == set(keys)


def test_a_stop_does_not_wait_for_a_delivery_process_still_starting(tmp_path: Path) -> None:
    """On a busy host the child's imports take seconds; a service stopped meanwhile used to
    wait for the child to finish starting (and resuming) before it could exit, beyond the
    stop grace period. A child that has not reported ready has delivered nothing: it is
    terminated at once."""
    import os

    from responders.outbox_process import OutboxProcess

    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import sys, time\nif '--instance-id' in sys.argv:\n    time.sleep(20)\n")
    url, rules_path = _child_setup(tmp_path)
    proc = OutboxProcess(url, rules_path, "starting", env={**os.environ, "PYTHONPATH": str(slow)})
    proc.start()
    time.sleep(1.0)
    assert proc.alive() and not proc.wait_ready(0)
    started = time.monotonic()
    proc.stop(timeout=30)
    took = time.monotonic() - started
    assert not proc.alive() and took < 5, took


def test_sigterm_never_deadlocks_the_delivery_process(tmp_path: Path) -> None:
    """CI caught the child hung for good after SIGTERM: its handler called worker.stop()
    (Event.set) while the main thread held that Event's lock inside Event.wait. Here a
    shim makes every Condition hold its lock for 30 ms after waking, so a signal almost
    surely lands while a lock is held; ten SIGTERMs at random moments, and the child must
    exit within its grace every time (it now takes SIGTERM with sigtimedwait, not in a
    handler)."""
    import os
    import random
    import signal
    import subprocess
    import sys

    shim = tmp_path / "hold-locks"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys, threading, time\n"
        "if '--instance-id' in sys.argv:\n"
        "    _restore = threading.Condition._acquire_restore\n"
        "    def _held(self, state):\n"
        "        _restore(self, state)\n"
        "        time.sleep(0.03)  # the lock is held: a signal handler taking it now would deadlock\n"
        "    threading.Condition._acquire_restore = _held\n")
    url, rules_path = _child_setup(tmp_path)
    rng = random.Random(7)
    hung = []
    for i in range(10):
        child = subprocess.Popen(
            [sys.executable, "-m", "responders.outbox_process", "--database-url", url, "--rules", str(rules_path),
             "--instance-id", f"sig-{i}", "--idle", "0.05"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(shim)})
        assert child.stdout is not None and child.stdin is not None
        try:
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.0, 0.3))
            for _ in range(3):
                child.send_signal(signal.SIGTERM)
                time.sleep(rng.uniform(0.0, 0.05))
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                hung.append(i)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdin.close()
            child.stdout.close()
    assert hung == []


def _child_setup(tmp_path: Path) -> tuple[str, Path]:
    """A migrated SQLite database and a minimal rules file for a delivery child."""
    from storage.engine import make_engine
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text("brands: [{name: Nimbus, query: nimbus}]\n")
    return url, rules_path


def test_ticket_references_are_written_in_id_order_and_the_first_per_escalation_wins(engine: Engine) -> None:
    """The recorder writes escalations' ticket references in id order (the pipeline's lock
    order: in delivery order the two deadlocked on PostgreSQL); one escalation's references
    keep their delivery order, so its first sink's reference still wins."""
    from storage.tickets import record_refs

    seed(engine, 2)
    et = t.Escalation.__table__
    with engine.connect() as conn:
        first, second = sorted(conn.execute(sa.select(et.c.id)).scalars())
    sent: list[list[dict[str, object]]] = []

    class Capture:  # the statement's parameters, in the order the driver gets them
        def execute(self, statement: object, params: list[dict[str, object]]) -> None:
            sent.append(params)

    refs_in_delivery_order = [(second, "urgent-first"), (first, "a"), (second, "later-sink")]
    record_refs(Capture(), refs_in_delivery_order, datetime.now(UTC))  # type: ignore[arg-type]
    assert [(p["eid"], p["ref"]) for p in sent[0]] == [(first, "a"), (second, "urgent-first"), (second, "later-sink")]
    with engine.begin() as conn:
        record_refs(conn, refs_in_delivery_order, datetime.now(UTC))
    with engine.connect() as conn:
        refs = dict(conn.execute(sa.select(et.c.id, et.c.external_ref)).all())
    assert refs == {first: "a", second: "urgent-first"}


def test_raised_heads_are_one_statement_in_id_order_and_keep_what_they_did_not_raise(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline raises case heads in one statement in id order (the recorder's lock
    order); a column a head did not raise keeps its value."""
    from storage import cases as store
    from storage.cases import raise_heads

    statements: list[list[int]] = []
    real = store.execute_many
    monkeypatch.setattr(store, "execute_many", lambda conn, stmt, rows: (
        statements.append([r["hid"] for r in rows]), real(conn, stmt, rows))[1])

    seed(engine, 3, urgent_every=100)  # all normal
    et = t.Escalation.__table__
    cols = (et.c.id, et.c.priority, et.c.priority_rank, et.c.urgency, et.c.sla_due, et.c.updated_at)
    with engine.connect() as conn:
        before = {r.id: r for r in conn.execute(sa.select(*cols))}
    a, b, c = sorted(before)
    now = datetime.now(UTC) + timedelta(minutes=1)
    due = datetime.now(UTC) + timedelta(minutes=30)
    with engine.begin() as conn:
        raise_heads(conn, [{"hid": b, "urgency": 99, "sla_due": due},
                           {"hid": a, "priority": "urgent", "priority_rank": 4}], now)
    with engine.connect() as conn:
        after = {r.id: r for r in conn.execute(sa.select(*cols))}
    value = lambda v: getattr(v, "value", v)  # noqa: E731
    assert (value(after[a].priority), after[a].priority_rank, after[a].urgency, after[a].sla_due) == (
        "urgent", 4, before[a].urgency, before[a].sla_due)
    assert (value(after[b].priority), after[b].priority_rank, after[b].urgency) == (
        value(before[b].priority), before[b].priority_rank, 99)
    assert abs((after[b].sla_due.replace(tzinfo=UTC) - due).total_seconds()) < 1
    assert after[c] == before[c]
    assert statements == [[a, b]]  # one statement for both sets of raised columns, in id order
