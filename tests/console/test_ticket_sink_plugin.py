"""A ticket sink from a plugin gets what Zendesk and Freshdesk get, with no line of
socialear naming it: its webhook route (`/hooks/<type>`, verified and parsed by the sink),
and status polling (`ticket_statuses`). This is
the proof that no code branches on a vendor's name (issue 15, "one home per vendor")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web.webhooks import make_router
from responders.outbox import SinkSet
from responders.sinks import build_sink
from responders.status import make_status_poller
from responders.types import is_ticket_sink
from socialear.config import parse_rules_text
from storage import models as t

HELPY = '''
"""Helpy, a made-up helpdesk."""
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from responders.types import DeliveryResult, TicketStatus

STATUSES = {"901": "Closed"}


class HelpySink:
    type: ClassVar[str] = "helpy"
    description: ClassVar[str] = "Helpy tickets (a plugin)."
    needs: ClassVar[tuple[str, ...]] = ()
    vendor_name: ClassVar[str] = "Helpy"
    webhook_secret_env: ClassVar[str] = "HELPY_TOKEN"
    polls_by_id: ClassVar[bool] = True

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, name):
        self.name = name

    @classmethod
    def from_options(cls, name, options, *, env=None, client=None):
        cls.Options.model_validate(dict(options))
        return cls(name)

    def deliver(self, payload, *, attempt=1):
        return DeliveryResult("901")

    def ticket_statuses(self, ids, since):
        for ticket in ids:
            if ticket in STATUSES:
                yield TicketStatus(self.type, ticket, STATUSES[ticket], via="poll", vendor_name=self.vendor_name)

    @classmethod
    def webhook_refusal(cls, secret, headers, query, body):
        return None if headers.get("X-Helpy") == secret else "bad helpy token"

    @classmethod
    def parse_webhook(cls, data):
        return TicketStatus(cls.type, str(data.get("ref") or ""), str(data.get("state") or ""),
                            vendor_name=cls.vendor_name)
'''
ENTRY = "[socialear.sinks]\nhelpy = helpy_socialear:HelpySink\n"
RULES = json.dumps({
    "brands": [{"name": "Nimbus", "query": "nimbus"}],
    "sinks": [{"name": "desk", "type": "helpy"}],
})


def seed(engine: Engine, n: int, ticket: str, status: str = "open") -> int:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        mention = conn.execute(t.Mention.__table__.insert().returning(t.Mention.__table__.c.id).values(
            source="x-main", platform="x", external_id=f"m{n}", text="no signal", created_at=now, fetched_at=now,
            brands=[], categories=[], scoring={})).scalar_one()
        esc = int(conn.execute(t.Escalation.__table__.insert().returning(t.Escalation.__table__.c.id).values(
            mention_id=mention, idempotency_key=f"helpy-{n}", route="complaint", queue="care", priority="normal",
            priority_rank=2, status=status, created_at=now, updated_at=now, tags=[], decision={})).scalar_one())
        conn.execute(t.OutboxItem.__table__.insert().values(
            escalation_id=esc, sink="desk", kind="escalation", state="sent", attempts=1, next_attempt_at=now,
            idempotency_key=f"helpy-{n}", priority_rank=2, payload={}, external_ref=ticket, created_at=now,
            updated_at=now))
        return esc


def status_of(engine: Engine, esc_id: int) -> tuple[str, str | None, str | None]:
    et = t.Escalation.__table__
    with engine.connect() as conn:
        row = conn.execute(sa.select(et.c.status, et.c.resolution, et.c.external_status).where(et.c.id == esc_id)).one()
    return str(getattr(row.status, "value", row.status)), row.resolution, row.external_status


def test_a_plugin_ticket_sink_has_its_webhook(engine: Engine, install_plugin) -> None:
    install_plugin("helpy_socialear", HELPY, ENTRY)
    rules = parse_rules_text(RULES)
    esc = seed(engine, 1, "77")
    app = FastAPI()
    app.include_router(make_router(engine, lambda: rules, {"HELPY_TOKEN": "s3cret"}))
    client = TestClient(app)
    body = {"ref": "77", "state": "Solved"}
    assert client.post("/hooks/helpy", json=body, headers={"X-Helpy": "wrong"}).json() == {"detail": "bad helpy token"}
    answer = client.post("/hooks/helpy", json=body, headers={"X-Helpy": "s3cret"})
    assert answer.status_code == 200 and answer.json()["change"] == "resolved"
    assert status_of(engine, esc) == ("resolved", "Solved in Helpy (ticket 77)", "solved")
    # without its secret the route says which variable turns it on
    off = TestClient(FastAPI())
    off.app.include_router(make_router(engine, lambda: rules, {}))
    assert off.post("/hooks/helpy", json=body).json() == {"detail": "Helpy webhooks are off: HELPY_TOKEN is not set"}


def test_a_plugin_ticket_sink_is_polled(engine: Engine, install_plugin) -> None:
    install_plugin("helpy_socialear", HELPY, ENTRY)
    rules = parse_rules_text(RULES)
    done, gone = seed(engine, 1, "901"), seed(engine, 2, "902")
    sinks = SinkSet(lambda: rules, env={})
    [summary] = make_status_poller(engine, sinks, window=timedelta(days=1))()
    assert (summary.sink, summary.resolved, summary.missing, summary.errors) == ("desk", 1, 1, [])
    assert status_of(engine, done)[0] == "resolved" and status_of(engine, gone)[0] == "open"
    assert is_ticket_sink(build_sink("desk", "helpy", {}))
