"""Mentions, authors, audit, quarantine and purging deleted posts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from storage import repo
from storage.models import AuditEvent, Author, Escalation, Mention, OutboxItem, Quarantine

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_source_and_external_id_are_unique(session: Session, factory) -> None:
    factory.mention(session, source="x-main", external_id="1")
    factory.mention(session, source="x-other", external_id="1")  # another source: fine
    session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        factory.mention(session, source="x-main", external_id="1")
    session.rollback()


def test_existing_external_ids_for_dedupe(session: Session, factory) -> None:
    for i in range(3):
        factory.mention(session, source="x-main", external_id=f"t{i}")
    factory.mention(session, source="reddit", external_id="t9")
    ids = [f"t{i}" for i in range(1200)]  # more than one IN chunk
    assert repo.existing_external_ids(session, "x-main", ids) == {"t0", "t1", "t2"}
    assert repo.existing_external_ids(session, "x-main", []) == set()


@dataclass
class SeenAuthor:  # the shape of listener.types.Author
    platform: str
    handle: str
    name: str | None = None
    external_id: str | None = None
    followers: int = 0
    verified: bool = False


def test_upsert_author_inserts_then_refreshes(session: Session) -> None:
    first = repo.upsert_author(
        session, SeenAuthor(platform="x", handle="ann", name="Ann", followers=10),
        seen_at=T0,
    )
    again = repo.upsert_author(
        session, {"platform": "x", "handle": "ann", "followers": 12, "verified": True},
        seen_at=T0 + timedelta(days=1),
    )
    older = repo.upsert_author(session, platform="x", handle="ann", seen_at=T0 - timedelta(days=1))
    other = repo.upsert_author(session, platform="reddit", handle="ann")
    assert first == again == older != other
    session.expire_all()
    row = session.get(Author, first)
    assert row is not None
    assert (row.name, row.followers, row.verified) == ("Ann", 12, True)  # None kept the name
    assert row.first_seen == T0 - timedelta(days=1)
    assert row.last_seen == T0 + timedelta(days=1)
    with pytest.raises(TypeError, match="hndle"):
        repo.upsert_author(session, platform="x", hndle="ann")
    with pytest.raises(ValueError, match="required"):
        repo.upsert_author(session, platform="x")


def test_audit_and_quarantine(session: Session) -> None:
    event_id = repo.audit(session, "ann", "escalation.claimed", "escalation", 7, queue="care")
    q_id = repo.quarantine(session, "x-main", {"id": "9", "txt": None}, KeyError("text"), "9")
    session.commit()
    event = session.get(AuditEvent, event_id)
    assert event is not None
    assert (event.actor, event.subject_id, event.details) == ("ann", "7", {"queue": "care"})
    item = session.get(Quarantine, q_id)
    assert item is not None
    assert json.loads(item.payload) == {"id": "9", "txt": None}
    assert item.error == "KeyError: 'text'"
    state = repo.get_state(session, "x-main")
    assert state is not None and state.quarantined_total == 1


def test_purge_removes_content_everywhere(session: Session, factory) -> None:
    text = "@AcmeAir my card 4111 was charged twice, sort it out"
    author_id = repo.upsert_author(session, platform="x", handle="carol_p", name="Carol P")
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
    repo.quarantine(session, "x-main", f'{{"id": "555", "text": "{text}"}}', "bad", "555")
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
    assert repo.existing_external_ids(session, "x-main", ["555"]) == {"555"}


def test_purge_of_unknown_mention_is_false(session: Session) -> None:
    assert not repo.purge_mention_content(session, 12345, "deleted")
    assert not repo.purge_by_external_id(session, "x-main", "nope", "deleted")
