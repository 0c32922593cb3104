"""Ticket status back from the contact centre: apply_status rules, and the polling fallback
against recorded Zendesk "show many" / Freshdesk "list tickets" answers (respx)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from responders.outbox import SinkSet
from responders.sinks import build_sink
from responders.status import TicketStatus, apply_status, make_status_poller, poll_ticket_status
from socialear.config import parse_rules_text
from socialear.errors import RateLimited
from storage import models as t

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ZD = "https://nimbus.zendesk.com"
FD = "https://nimbus.freshdesk.com"
ENV = {"ZENDESK_EMAIL": "bot@nimbus.example", "ZENDESK_API_TOKEN": "tok", "FRESHDESK_API_KEY": "key"}


def seed(engine: Engine, n: int, *, sink: str | None = None, ticket: str | None = None, status: str = "open",
         assignee: str | None = None, created: datetime | None = None) -> int:
    now = created or datetime.now(UTC)
    with engine.begin() as conn:
        mention = conn.execute(t.Mention.__table__.insert().returning(t.Mention.__table__.c.id).values(
            source="x-main", platform="x", external_id=f"m{n}", text="no signal", created_at=now, fetched_at=now,
            brands=[], categories=[], scoring={})).scalar_one()
        esc = int(conn.execute(t.Escalation.__table__.insert().returning(t.Escalation.__table__.c.id).values(
            mention_id=mention, idempotency_key=f"sk-key-{n}", route="complaint", queue="care", priority="normal",
            priority_rank=2, status=status, assignee=assignee, created_at=now, updated_at=now, tags=[], decision={},
            external_ref=ticket, resolved_at=now if status == "resolved" else None)).scalar_one())
        if sink:
            conn.execute(t.OutboxItem.__table__.insert().values(
                escalation_id=esc, sink=sink, kind="escalation", state="sent", attempts=1, next_attempt_at=now,
                idempotency_key=f"sk-key-{n}", priority_rank=2, payload={}, external_ref=ticket,
                created_at=now, updated_at=now))
        return esc


def esc_row(engine: Engine, esc_id: int) -> sa.Row:
    et = t.Escalation.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(et).where(et.c.id == esc_id)).one()


def audits(engine: Engine, esc_id: int) -> list[tuple[str, str]]:
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        return [(r.actor, r.action) for r in conn.execute(sa.select(at).where(at.c.subject_id == str(esc_id)).order_by(at.c.id))]


def test_solved_resolves_reopened_reopens_and_repeats_change_nothing(engine: Engine) -> None:
    esc = seed(engine, 1, sink="zd", ticket="35436", assignee="alice", status="claimed")
    solved = apply_status(engine, TicketStatus("zendesk", "35436", "Solved"), ["zd"])
    assert (solved.escalation_id, solved.change, solved.status) == (esc, "resolved", "resolved")
    row = esc_row(engine, esc)
    assert (row.status, row.external_status, row.resolution) == ("resolved", "solved", "Solved in Zendesk (ticket 35436)")
    assert row.resolved_at is not None
    assert apply_status(engine, TicketStatus("zendesk", "35436", "SOLVED"), ["zd"]).change == "unchanged"

    reopened = apply_status(engine, TicketStatus("zendesk", "35436", "open"), ["zd"])
    assert (reopened.change, reopened.status) == ("reopened", "claimed")  # the assignee keeps it
    row = esc_row(engine, esc)
    assert (row.status, row.resolved_at, row.external_status) == ("claimed", None, "open")
    assert audits(engine, esc) == [("zendesk:webhook", "escalation.resolved"), ("zendesk:webhook", "escalation.reopened")]


def test_matching_by_external_id_first_then_ticket_id(engine: Engine) -> None:
    by_key = seed(engine, 1)  # no ticket id stored at all (the create's answer was lost)
    out = apply_status(engine, TicketStatus("zendesk", "999", "closed", external_id="sk-key-1"), ["zd"])
    assert out.escalation_id == by_key and out.change == "resolved"
    second_sink = seed(engine, 2, sink="fd", ticket="4242")
    with engine.begin() as conn:  # escalation.external_ref holds another sink's ticket
        conn.execute(t.Escalation.__table__.update().where(t.Escalation.__table__.c.id == second_sink).values(external_ref="zd-1"))
    assert apply_status(engine, TicketStatus("freshdesk", "4242", "4"), ["fd"]).escalation_id == second_sink
    assert apply_status(engine, TicketStatus("zendesk", "424242", "solved"), ["zd"]).change == "unknown_ticket"


def test_a_dismissed_escalation_stays_dismissed_and_pending_is_not_final(engine: Engine) -> None:
    dismissed = seed(engine, 1, sink="zd", ticket="1", status="dismissed")
    assert apply_status(engine, TicketStatus("zendesk", "1", "open"), ["zd"]).change == "unchanged"
    assert esc_row(engine, dismissed).status == "dismissed" and esc_row(engine, dismissed).external_status == "open"
    pending = seed(engine, 2, sink="zd", ticket="2")
    assert apply_status(engine, TicketStatus("zendesk", "2", "pending"), ["zd"]).change == "unchanged"
    assert esc_row(engine, pending).status == "open"
    assert audits(engine, pending) == [("zendesk:webhook", "escalation.external_status")]


def zendesk_sink(client: httpx.Client):
    return build_sink("zd", "zendesk", {"subdomain": "nimbus"}, env=ENV, client=client)


def freshdesk_sink(client: httpx.Client):
    return build_sink("fd", "freshdesk", {"domain": "nimbus"}, env=ENV, client=client)


@respx.mock
def test_poll_zendesk_shows_many_tickets_by_id(engine: Engine) -> None:
    a = seed(engine, 1, sink="zd", ticket="35436")
    b = seed(engine, 2, sink="zd", ticket="35437", status="resolved")
    seed(engine, 3, sink="zd", ticket="35438")  # deleted in Zendesk since
    seed(engine, 4, sink="zd", ticket="1", created=datetime.now(UTC) - timedelta(days=60))  # outside the window
    body = (FIXTURES / "zendesk/webhooks/show_many.json").read_text()
    body = body.replace("{external_id_a}", "sk-key-1").replace("{external_id_b}", "sk-key-2")
    route = respx.get(f"{ZD}/api/v2/tickets/show_many.json").mock(return_value=httpx.Response(200, text=body))
    summary = poll_ticket_status(engine, zendesk_sink(httpx.Client()), datetime.now(UTC) - timedelta(days=14))
    assert route.calls.last.request.url.params["ids"] == "35436,35437,35438"
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")
    assert (summary.checked, summary.resolved, summary.reopened, summary.missing) == (2, 1, 1, 1)
    assert esc_row(engine, a).status == "resolved" and esc_row(engine, b).status == "open"
    assert audits(engine, a) == [("zendesk:poll", "escalation.resolved")]


@respx.mock
def test_poll_zendesk_in_batches_of_100(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("responders.sinks.zendesk.SHOW_MANY", 2)
    for n in range(5):
        seed(engine, n, sink="zd", ticket=str(100 + n))
    route = respx.get(f"{ZD}/api/v2/tickets/show_many.json").mock(
        side_effect=lambda request: httpx.Response(200, json={"tickets": [
            {"id": int(i), "status": "open", "external_id": None} for i in request.url.params["ids"].split(",")]}))
    summary = poll_ticket_status(engine, zendesk_sink(httpx.Client()), datetime.now(UTC) - timedelta(days=1))
    assert [c.request.url.params["ids"] for c in route.calls] == ["100,101", "102,103", "104"]
    assert summary.checked == 5 and summary.missing == 0


@respx.mock
def test_poll_freshdesk_lists_tickets_updated_since(engine: Engine) -> None:
    solved = seed(engine, 1, sink="fd", ticket="4242")
    reopened = seed(engine, 2, sink="fd", ticket="4243", status="resolved")
    route = respx.get(f"{FD}/api/v2/tickets").mock(
        return_value=httpx.Response(200, text=(FIXTURES / "freshdesk/webhooks/tickets_updated_since.json").read_text()))
    since = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:  # the escalations are from the window being polled
        conn.execute(t.Escalation.__table__.update().values(created_at=since + timedelta(hours=1)))
    summary = poll_ticket_status(engine, freshdesk_sink(httpx.Client()), since)
    params = route.calls.last.request.url.params
    assert (params["updated_since"], params["per_page"], params["page"]) == ("2024-11-13T12:00:00Z", "100", "1")
    assert (summary.checked, summary.resolved, summary.reopened) == (2, 1, 1)
    assert esc_row(engine, solved).external_status == "resolved" and esc_row(engine, solved).status == "resolved"
    assert esc_row(engine, reopened).status == "open"


@respx.mock
def test_poll_rate_limited_raises_and_the_scheduled_job_carries_on(engine: Engine) -> None:
    seed(engine, 1, sink="zd", ticket="35436")
    seed(engine, 2, sink="fd", ticket="4242")
    respx.get(f"{ZD}/api/v2/tickets/show_many.json").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "45"}, json={"error": "TooManyRequests"}))
    respx.get(f"{FD}/api/v2/tickets").mock(return_value=httpx.Response(200, json=[{"id": 4242, "status": 5}]))
    with pytest.raises(RateLimited) as info:
        poll_ticket_status(engine, zendesk_sink(httpx.Client()), datetime.now(UTC) - timedelta(days=1))
    assert info.value.retry_after == 45

    rules = parse_rules_text(json.dumps({
        "brands": [{"name": "Nimbus", "query": "nimbus"}],
        "sinks": [{"name": "zd", "type": "zendesk", "options": {"subdomain": "nimbus"}},
                  {"name": "fd", "type": "freshdesk", "options": {"domain": "nimbus"}}],
    }))
    sinks = SinkSet(lambda: rules, ENV, clients={"zd": httpx.Client(), "fd": httpx.Client()})
    zd, fd = make_status_poller(engine, sinks)()
    assert zd.sink == "zd" and "HTTP 429" in zd.errors[0]
    assert fd.sink == "fd" and fd.resolved == 1
