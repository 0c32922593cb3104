"""Row factories for the storage tests: the smallest valid mention/escalation/outbox."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from storage.models import PRIORITY_RANK, Escalation, Mention, OutboxItem

_seq = itertools.count(1)


def add_mention(session: Session, **kw: Any) -> Mention:
    n = next(_seq)
    values: dict[str, Any] = {
        "source": "sample", "platform": "x", "external_id": f"m{n}",
        "text": f"@AcmeAir lost my bag again, flight {n}", "brand": "Acme Air",
    }
    values.update(kw)
    mention = Mention(**values)
    session.add(mention)
    session.flush()
    return mention


def add_escalation(session: Session, mention: Mention | None = None, **kw: Any) -> Escalation:
    mention = mention or add_mention(session)
    priority = kw.pop("priority", "normal")
    values: dict[str, Any] = {
        "mention_id": mention.id, "idempotency_key": f"esc-{mention.source}-{mention.external_id}",
        "route": "complaints", "queue": "care", "priority": priority,
        "priority_rank": PRIORITY_RANK[priority],
    }
    values.update(kw)
    esc = Escalation(**values)
    session.add(esc)
    session.flush()
    return esc


def add_outbox(session: Session, escalation: Escalation | None = None, **kw: Any) -> OutboxItem:
    esc = escalation or add_escalation(session)
    values: dict[str, Any] = {
        "escalation_id": esc.id, "sink": "zendesk", "idempotency_key": esc.idempotency_key,
        "priority_rank": esc.priority_rank,
    }
    values.update(kw)
    row = OutboxItem(**values)
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def factory() -> Callable[..., Any]:
    """`factory.mention(session, ...)`, `.escalation(...)`, `.outbox(...)`."""

    class Factory:
        mention = staticmethod(add_mention)
        escalation = staticmethod(add_escalation)
        outbox = staticmethod(add_outbox)

    return Factory
