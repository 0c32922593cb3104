"""Source state: cursors, leases between replicas, health and the capped error log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import repo
from storage.engine import session_scope

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_cursor_starts_empty_and_advances(session: Session) -> None:
    assert repo.get_cursor(session, "x-main") is None
    repo.advance_cursor(session, "x-main", "1001")
    repo.advance_cursor(session, "x-main", "1002")
    session.commit()
    assert repo.get_cursor(session, "x-main") == "1002"


def test_cursor_rolls_back_with_its_batch(engine: Engine, factory) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as s:  # noqa: PT012 - the rollback on the raise is the test
        factory.mention(s, source="x-main")
        repo.advance_cursor(s, "x-main", "2000")
        raise RuntimeError("crash before commit")
    with session_scope(engine) as s:
        assert repo.get_cursor(s, "x-main") is None
        assert repo.existing_external_ids(s, "x-main", ["m1", "m2"]) == set()


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


def test_cursor_is_fenced_by_the_lease(session: Session) -> None:
    assert repo.acquire_lease(session, "x-main", "a", 60, now=T0)
    repo.advance_cursor(session, "x-main", "10", owner="a")
    assert repo.acquire_lease(session, "x-main", "b", 60, now=T0 + timedelta(minutes=5))
    with pytest.raises(repo.LeaseLost):
        repo.advance_cursor(session, "x-main", "11", owner="a")
    assert repo.get_cursor(session, "x-main") == "10"


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
