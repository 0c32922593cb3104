"""Mentions, authors, audit, quarantine and purging deleted posts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import ingest, repo
from storage.engine import session_scope
from storage.models import AuditEvent, Author, Escalation, Mention, OutboxItem, Quarantine
from storage.types import as_utc

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_source_and_external_id_are_unique(session: Session, factory) -> None:
    factory.mention(session, source="x-main", external_id="1")
    factory.mention(session, source="x-other", external_id="1")  # another source: fine
    session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        factory.mention(session, source="x-main", external_id="1")
    session.rollback()


def test_stored_external_ids_for_dedupe(engine: Engine, factory) -> None:
    """The pipeline's dedupe probe (storage.ingest), across more than one IN chunk."""
    with session_scope(engine) as session:
        for i in range(3):
            factory.mention(session, source="x-main", external_id=f"t{i}")
        factory.mention(session, source="reddit", external_id="t9")
    ids = [f"t{i}" for i in range(1200)]
    with engine.connect() as conn:
        assert ingest.stored_external_ids(conn, "x-main", ids) == {"t0", "t1", "t2"}
        assert ingest.stored_external_ids(conn, "x-main", []) == set()


@dataclass
class SeenAuthor:  # the shape of listener.types.Author
    name: str | None = None
    external_id: str | None = None
    followers: int = 0
    verified: bool = False


def test_upsert_authors_inserts_then_refreshes(engine: Engine) -> None:
    """The pipeline's author upsert (storage.ingest): new authors inserted, known ones
    refreshed as last seen (followers, verified, last_seen), the first sighting kept."""
    with engine.begin() as conn:
        first = ingest.upsert_authors(conn, {("x", "ann"): SeenAuthor(name="Ann", followers=10)}, T0)
    with engine.begin() as conn:
        again = ingest.upsert_authors(conn, {
            ("x", "ann"): SeenAuthor(followers=12, verified=True),
            ("reddit", "ann"): SeenAuthor(name="Ann R"),
        }, T0 + timedelta(days=1))
    assert first[("x", "ann")] == again[("x", "ann")] != again[("reddit", "ann")]
    with session_scope(engine) as session:
        row = session.get(Author, first[("x", "ann")])
        assert row is not None
        assert (row.name, row.followers, row.verified) == ("Ann", 12, True)
        assert as_utc(row.first_seen) == T0 and as_utc(row.last_seen) == T0 + timedelta(days=1)


def test_audit_and_quarantine(session: Session) -> None:
    """The one audit writer, and the pipeline's quarantine insert (the source's
    quarantined_total is counted by the cursor advance: tests/listener/test_pipeline.py)."""
    event_id = repo.audit(session, "ann", "escalation.claimed", "escalation", 7, queue="care")
    ingest.insert_quarantined(session.connection(), [{
        "source": "x-main", "external_id": "9", "payload": json.dumps({"id": "9", "txt": None}),
        "error": "KeyError: 'text'", "at": T0, "resolved": False}])
    session.commit()
    event = session.get(AuditEvent, event_id)
    assert event is not None
    assert (event.actor, event.subject_id, event.details) == ("ann", "7", {"queue": "care"})
    item = session.execute(sa.select(Quarantine).where(Quarantine.external_id == "9")).scalar_one()
    assert json.loads(item.payload) == {"id": "9", "txt": None}
    assert item.error == "KeyError: 'text'" and item.source == "x-main"


def test_purge_removes_content_everywhere(session: Session, factory) -> None:
    text = "@AcmeAir my card 4111 was charged twice, sort it out"
    author_id = ingest.upsert_authors(session.connection(), {("x", "carol_p"): SeenAuthor(name="Carol P")}, T0)[
        ("x", "carol_p")]
    mention = factory.mention(session, source="x-main", external_id="555", text=text,
                              title="Charged twice", url="https://x.com/carol_p/status/555",
                              author_id=author_id, scoring={"reasons": [f"quote: {text}"]})
    esc = factory.escalation(
        session, mention, suggested_reply=f'Hi, about "{text}": we are on it.',
        decision={"rule": "billing", "mention": {"text": text, "author": "carol_p"}},
    )
    row = factory.outbox(session, escalation=esc, payload={
        "mention": {"text": text, "url": "https://x.com/carol_p/status/555",
                    "author": {"handle": "carol_p", "name": "Carol P"}},
        "priority": "high",
    })
    ingest.insert_quarantined(session.connection(), [{
        "source": "x-main", "external_id": "555", "payload": f'{{"id": "555", "text": "{text}"}}', "error": "bad",
        "at": T0, "resolved": False}])
    session.commit()

    assert repo.purge_by_external_id(session, "x-main", "555", "deleted on platform")
    session.commit()
    session.expire_all()

    m = session.get(Mention, mention.id)
    assert m is not None
    assert (m.text, m.title, m.url, m.author_id) == ("", None, None, None)
    assert m.deleted_at is not None
    every_value = json.dumps([
        m.scoring,
        session.get(Escalation, esc.id).suggested_reply,  # type: ignore[union-attr]
        session.get(Escalation, esc.id).decision,  # type: ignore[union-attr]
        session.get(OutboxItem, row.id).payload,  # type: ignore[union-attr]
        session.execute(sa.select(Quarantine.payload)).scalars().all(),
        session.execute(sa.select(AuditEvent.details)).scalars().all(),
    ])
    for secret in ("4111", "charged twice", "Charged twice", "carol_p", "Carol P"):
        assert secret not in every_value
    assert '"priority": "high"' in every_value  # the rest of the payload survives
    event = session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "mention.purged")
    ).scalar_one()
    assert event.details["reason"] == "deleted on platform"
    assert event.details["external_id"] == "555"
    # The row stays so a re-fetch of the same post is still recognised as a duplicate.
    assert ingest.stored_external_ids(session.connection(), "x-main", ["555"]) == {"555"}


def test_purge_of_unknown_mention_is_false(session: Session) -> None:
    assert not repo.purge_mention_content(session, 12345, "deleted")
    assert not repo.purge_by_external_id(session, "x-main", "nope", "deleted")
