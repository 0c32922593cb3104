"""Source state: cursors, leases between replicas, health and the capped error log."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from storage import ingest, repo
from storage.engine import session_scope

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _advance(conn: Connection, before: str | None, after: str | None, owner: str | None = None) -> None:
    ingest.advance(conn, "x-main", before, after, counts=dict.fromkeys(("fetched", "stored", "escalated", "quarantined"), 0),
                   stats=Counter(), now=T0, owner=owner)


def test_cursor_starts_empty_and_advances_by_compare_and_set(engine: Engine) -> None:
    with session_scope(engine) as s:
        assert repo.get_cursor(s, "x-main") is None
    with engine.begin() as conn:
        _advance(conn, None, "1001")
        _advance(conn, "1001", "1002")
        _advance(conn, "1002", None)  # an empty page keeps the cursor
    with engine.begin() as conn, pytest.raises(ingest.CursorConflict, match="moved"):
        _advance(conn, "1001", "1003")  # fetched from a cursor another poller has moved on
    with session_scope(engine) as s:
        assert repo.get_cursor(s, "x-main") == "1002"


def test_cursor_rolls_back_with_its_batch(engine: Engine, factory) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as s:  # noqa: PT012 - the rollback on the raise is the test
        factory.mention(s, source="x-main")
        _advance(s.connection(), None, "2000")
        raise RuntimeError("crash before commit")
    with session_scope(engine) as s:
        assert repo.get_cursor(s, "x-main") is None
        assert ingest.stored_external_ids(s.connection(), "x-main", ["m1", "m2"]) == set()


def test_lease_one_owner_at_a_time_until_it_expires(session: Session) -> None:
    def lease(owner: str, at_s: int) -> bool:
        return repo.acquire_lease(session, "x-main", owner, 60, now=T0 + timedelta(seconds=at_s))

    assert lease("replica-a", 0)
    assert not lease("replica-b", 30)
    assert lease("replica-a", 30)  # renewal: a now holds it until T0+90s
    assert not lease("replica-b", 89)
    assert lease("replica-b", 91)
    state = repo.get_state(session, "x-main")
    assert state is not None and state.lease_owner == "replica-b"
    assert state.lease_until == T0 + timedelta(seconds=151)


def test_release_lets_another_owner_in(session: Session) -> None:
    assert repo.acquire_lease(session, "reddit", "a", 300, now=T0)
    assert not repo.release_lease(session, "reddit", "b")
    assert repo.release_lease(session, "reddit", "a")
    assert repo.acquire_lease(session, "reddit", "b", 300, now=T0)


def test_cursor_is_fenced_by_the_lease(engine: Engine) -> None:
    """A poller whose lease lapsed and was taken over cannot move the cursor, even from
    the right cursor value: its batch rolls back and the new holder fetches the page."""
    with session_scope(engine) as s:
        assert repo.acquire_lease(s, "x-main", "a", 60, now=T0)
    with engine.begin() as conn:
        _advance(conn, None, "10", owner="a")
    with session_scope(engine) as s:
        assert repo.acquire_lease(s, "x-main", "b", 60, now=T0 + timedelta(minutes=5))
    with engine.begin() as conn, pytest.raises(ingest.CursorConflict, match="lease is held by 'b'"):
        _advance(conn, "10", "11", owner="a")
    with engine.begin() as conn:
        _advance(conn, "10", "11", owner="b")
    with session_scope(engine) as s:
        assert repo.get_cursor(s, "x-main") == "11"


def test_racing_replicas_get_one_lease(engine: Engine) -> None:
    with session_scope(engine) as s:
        repo.ensure_source(s, "x-main")
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(owner: str) -> None:
        barrier.wait()
        with session_scope(engine) as s:
            if repo.acquire_lease(s, "x-main", owner, 60):
                winners.append(owner)

    threads = [threading.Thread(target=race, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_record_health_sets_fields_and_refuses_typos(session: Session) -> None:
    repo.record_health(session, "x-main", last_success=T0, healthy=True, rate_limit_remaining=42,
                       next_run=T0 + timedelta(minutes=1), status_message="ok")
    state = repo.get_state(session, "x-main")
    assert state is not None
    assert (state.last_success, state.rate_limit_remaining, state.healthy) == (T0, 42, True)
    with pytest.raises(TypeError, match="last_sucess"):
        repo.record_health(session, "x-main", last_sucess=T0)


def test_error_log_keeps_the_last_twenty(session: Session) -> None:
    for i in range(25):
        repo.append_error(session, "x-main", f"HTTP 503 #{i}", at=T0 + timedelta(seconds=i))
    repo.append_error(session, "x-main", ValueError("bad payload"))
    session.commit()
    state = repo.get_state(session, "x-main")
    assert state is not None
    assert len(state.error_log) == 20
    assert state.error_log[0]["error"] == "HTTP 503 #6"
    assert state.error_log[-1]["error"] == "ValueError: bad payload"
    assert state.last_error == "ValueError: bad payload"
    assert state.last_error_at is not None


def test_counters_add_up(session: Session) -> None:
    repo.bump_counters(session, "x-main", fetched=40, stats={"fetched": 40, "dropped/retweet": 3})
    repo.bump_counters(session, "x-main", fetched=2, budget_used=5, stats={"dropped/retweet": 1})
    session.commit()
    state = repo.get_state(session, "x-main")
    assert state is not None
    assert (state.fetched_total, state.budget_used) == (42, 5)
    assert state.stats == {"fetched": 40, "dropped/retweet": 4}
