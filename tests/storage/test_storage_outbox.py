"""The outbox: claims are exclusive, ordered and expire; failures retry or die; requeue."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import repo
from storage.engine import session_scope
from storage.models import OutboxItem, OutboxState

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _state(session: Session, outbox_id: int) -> OutboxItem:
    session.expire_all()
    row = session.get(OutboxItem, outbox_id)
    assert row is not None
    return row


def test_claims_due_rows_most_urgent_first(session: Session, factory) -> None:
    low = factory.outbox(session, escalation=factory.escalation(session, priority="low"),
                         next_attempt_at=T0)
    urgent = factory.outbox(session, escalation=factory.escalation(session, priority="urgent"),
                            next_attempt_at=T0)
    later = factory.outbox(session, next_attempt_at=T0 + timedelta(hours=1))
    session.commit()
    assert repo.claim_outbox(session, "w1", 10, T0, lease_s=7200) == [urgent.id, low.id]
    row = _state(session, urgent.id)
    assert (row.state, row.locked_by, row.attempts) == (OutboxState.sending, "w1", 1)
    assert row.locked_until == T0 + timedelta(hours=2)
    assert repo.claim_outbox(session, "w2", 10, T0) == []
    assert repo.claim_outbox(session, "w2", 10, T0 + timedelta(hours=1)) == [later.id]


def test_abandoned_claim_is_taken_over_after_its_lease(session: Session, factory) -> None:
    row = factory.outbox(session, next_attempt_at=T0)
    assert repo.claim_outbox(session, "dead-worker", 1, T0, lease_s=60) == [row.id]
    assert repo.claim_outbox(session, "w2", 1, T0 + timedelta(seconds=59)) == []
    assert repo.claim_outbox(session, "w2", 1, T0 + timedelta(seconds=61)) == [row.id]
    assert _state(session, row.id).attempts == 2


def test_sent_retry_dead_and_requeue(session: Session, factory) -> None:
    a = factory.outbox(session, next_attempt_at=T0)
    b = factory.outbox(session, next_attempt_at=T0)
    repo.claim_outbox(session, "w1", 10, T0)
    assert repo.mark_sent(session, {a.id: "ZD-1"}, now=T0) == 1
    assert repo.mark_sent(session, {a.id: "ZD-2"}) == 0  # sent is final; first ref kept
    row = _state(session, a.id)
    assert (row.state, row.external_ref, row.sent_at, row.locked_by) == ("sent", "ZD-1", T0, None)

    assert not repo.mark_retry(session, b.id, "503", T0, worker_id="someone-else")
    assert repo.mark_retry(session, b.id, "HTTP 503", T0 + timedelta(minutes=2), worker_id="w1")
    assert _state(session, b.id).state == "retry"
    assert repo.claim_outbox(session, "w1", 10, T0 + timedelta(minutes=1)) == []
    assert repo.claim_outbox(session, "w1", 10, T0 + timedelta(minutes=2)) == [b.id]
    assert repo.mark_dead(session, b.id, "HTTP 422: invalid requester")
    assert not repo.mark_dead(session, a.id, "too late")
    row = _state(session, b.id)
    assert (row.state, row.last_error, row.attempts) == ("dead", "HTTP 422: invalid requester", 2)
    assert repo.outbox_counts(session) == {
        "pending": 0, "sending": 0, "sent": 1, "retry": 0, "dead": 1,
    }

    assert repo.requeue(session, [a.id, b.id], now=T0) == 1  # sent rows are not requeued
    row = _state(session, b.id)
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 0, T0)
    assert row.last_error == "HTTP 422: invalid requester"  # kept for the console


def test_requeue_all_dead(session: Session, factory) -> None:
    rows = [factory.outbox(session, state="dead", last_error="x") for _ in range(3)]
    factory.outbox(session, state="retry")
    assert repo.requeue(session, all_dead=True) == 3
    assert {_state(session, r.id).state for r in rows} == {"pending"}


def test_concurrent_workers_never_share_a_row(engine: Engine, factory) -> None:
    with session_scope(engine) as s:
        esc = [factory.escalation(s) for _ in range(60)]
        for e in esc:
            for sink in ("zendesk", "slack"):
                factory.outbox(s, escalation=e, sink=sink, next_attempt_at=T0)
    claimed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            barrier.wait()
            while True:
                with session_scope(engine) as s:
                    ids = repo.claim_outbox(s, worker, 7, T0 + timedelta(seconds=1))
                if not ids:
                    return
                with lock:
                    claimed.extend(ids)
        except BaseException as exc:  # noqa: BLE001 - surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(claimed) == 120
    assert not [i for i, n in Counter(claimed).items() if n > 1]
    with session_scope(engine) as s:
        assert repo.outbox_counts(s)["sending"] == 120


def test_any_due_and_probes_due_say_what_a_claim_would_find_without_writing(session: Session, factory) -> None:
    """The worker's look before it claims (a claim is a write, and on SQLite waits for the
    pipeline's write lock): true exactly when `claim_outbox` / `take_probes` would take
    something, for every reason a row can be due."""
    from storage import breakers
    from storage.models import SinkBreaker
    from storage.outbox import any_due

    assert not any_due(session, T0) and not breakers.probes_due(session, T0)
    later = factory.outbox(session, next_attempt_at=T0 + timedelta(minutes=5))
    session.commit()
    assert not any_due(session, T0)  # waiting out its backoff
    assert any_due(session, T0 + timedelta(minutes=5))
    assert not any_due(session, T0 + timedelta(minutes=5), exclude_sinks={"zendesk"})  # its breaker is open
    assert repo.claim_outbox(session, "w1", 10, T0 + timedelta(minutes=5), lease_s=30) == [later.id]
    assert not any_due(session, T0 + timedelta(minutes=5, seconds=29))  # claimed, lease running
    assert any_due(session, T0 + timedelta(minutes=5, seconds=31))  # the claimer died: the lease lapsed
    assert repo.claim_outbox(session, "w2", 10, T0 + timedelta(minutes=5, seconds=31)) == [later.id]
    assert repo.mark_sent(session, {later.id: "ZD-1"}, now=T0) == 1
    assert not any_due(session, T0 + timedelta(days=1))  # sent is final

    session.add(SinkBreaker(sink="zendesk", state="open", failures=3, opens=1, opened_at=T0,
                            next_probe_at=T0 + timedelta(seconds=10), updated_at=T0))
    session.commit()
    assert not breakers.probes_due(session, T0 + timedelta(seconds=9))
    assert breakers.probes_due(session, T0 + timedelta(seconds=10))
    assert breakers.take_probes(session, "w1", T0 + timedelta(seconds=10), ttl_s=30) == ["zendesk"]
    assert not breakers.probes_due(session, T0 + timedelta(seconds=20))  # half-open, its prober alive
    assert breakers.probes_due(session, T0 + timedelta(seconds=41))  # the prober died
