"""Queries the pipeline and the console share, on the caller's Session (never committed
here: the caller decides what belongs in one transaction).

This module holds authors, de-duplication, quarantine and purging, and re-exports
`storage.audit.audit` (the one audit writer), `storage.sources` (cursor, lease, health) and `storage.outbox` (delivery
queue), so `from storage import repo` is the one import callers need.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from storage import rollups
from storage.audit import audit
from storage.dialect import insert_for, table
from storage.models import Author, Escalation, Mention, OutboxItem, Quarantine
from storage.outbox import (
    claim_outbox,
    mark_dead,
    mark_retry,
    mark_sent,
    outbox_counts,
    requeue,
)
from storage.sources import (
    LeaseLost,
    acquire_lease,
    advance_cursor,
    append_error,
    bump_counters,
    ensure_source,
    get_cursor,
    get_state,
    record_health,
    release_lease,
)
from storage.types import as_utc, utcnow

PURGED = "[deleted]"
_AUTHOR_FIELDS = ("platform", "handle", "name", "external_id", "followers", "verified")
_IN_CHUNK = 500  # stay well under SQLite's bound-parameter limit
_mention = table(Mention).c


def upsert_author(
    session: Session,
    author: Any = None,
    /,
    *,
    seen_at: datetime | None = None,
    **fields: Any,
) -> int:
    """Insert or refresh an author by (platform, handle); return its id.

    `author` is anything with the `listener.types.Author` attributes (or a mapping);
    keyword fields override it. A None field keeps the stored value; first_seen/last_seen
    widen to include `seen_at`, so replaying old mentions does not move last_seen back.
    Race-safe: one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING id`.
    """
    values: dict[str, Any] = {}
    if isinstance(author, Mapping):
        values.update({k: author[k] for k in _AUTHOR_FIELDS if k in author})
    elif author is not None:
        values.update({k: getattr(author, k) for k in _AUTHOR_FIELDS if hasattr(author, k)})
    values.update(fields)
    unknown = set(values) - set(_AUTHOR_FIELDS)
    if unknown:
        raise TypeError(f"upsert_author(): unknown field(s) {sorted(unknown)}")
    if not values.get("platform") or not values.get("handle"):
        raise ValueError("upsert_author(): platform and handle are required")
    values = {k: v for k, v in values.items() if v is not None}
    seen = as_utc(seen_at or utcnow())
    stmt = insert_for(session, Author).values(**values, first_seen=seen, last_seen=seen)
    new, old = stmt.excluded, table(Author).c
    refresh: dict[str, Any] = {  # only what this call knows; None fields were dropped
        k: getattr(new, k) for k in ("name", "external_id", "followers", "verified")
        if k in values
    }
    refresh["first_seen"] = sa.case((new.first_seen < old.first_seen, new.first_seen),
                                    else_=old.first_seen)
    refresh["last_seen"] = sa.case((new.last_seen > old.last_seen, new.last_seen),
                                   else_=old.last_seen)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform", "handle"], set_=refresh
    ).returning(old.id)
    return int(session.execute(stmt).scalar_one())


def existing_external_ids(session: Session, source: str, ids: Iterable[str]) -> set[str]:
    """Which of `ids` are already stored for `source` (drop those before inserting)."""
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start:start + _IN_CHUNK]
        stmt = sa.select(_mention.external_id).where(
            _mention.source == source, _mention.external_id.in_(chunk)
        )
        found.update(session.execute(stmt).scalars())
    return found


def find_mention_id(session: Session, source: str, external_id: str) -> int | None:
    """The mention's id by its platform identity, or None."""
    stmt = sa.select(_mention.id).where(
        _mention.source == source, _mention.external_id == external_id
    )
    return session.execute(stmt).scalar_one_or_none()


def quarantine(
    session: Session,
    source: str,
    payload: Any,
    error: str | BaseException,
    external_id: str | None = None,
) -> int:
    """Keep an item that could not be processed, with its error; returns its id.

    Non-string payloads are stored as JSON. Also counts it in the source's
    `quarantined_total`, so health shows it.
    """
    if not isinstance(payload, str):
        payload = json.dumps(payload, default=str, ensure_ascii=False)
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    item = Quarantine(source=source, payload=payload, error=text, external_id=external_id)
    session.add(item)
    session.flush()
    bump_counters(session, source, quarantined=1)
    return int(item.id)  # type: ignore[arg-type]  # flushed: the database assigned the id


def _scrubber(contains: list[str], equals: list[str]) -> Any:
    """A function that replaces purged content in strings nested in lists/dicts."""

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            if value in equals:
                return PURGED
            for needle in contains:
                value = value.replace(needle, PURGED)
            return value
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        return value

    return scrub


def purge_mention_content(
    session: Session,
    mention_id: int,
    reason: str,
    *,
    actor: str = "system",
    now: datetime | None = None,
) -> bool:
    """Remove a mention's content everywhere we copied it (the platform deleted it).

    Blanks text/title/url and the author link, sets deleted_at, scrubs the text (and
    title, url, author handle/name) from the scoring breakdown, escalations (suggested
    and sent reply, decision trace), outbox payloads and quarantined raw items, then
    audits the purge without the content. Returns False if there is no such mention.
    The mention row stays, so (source, external_id) still de-duplicates a re-fetch.
    """
    mention = session.get(Mention, mention_id, with_for_update=True)
    if mention is None:
        return False
    author = session.get(Author, mention.author_id) if mention.author_id else None
    contains = sorted({s for s in (mention.text, mention.title, mention.url) if s},
                      key=len, reverse=True)
    equals = [s for s in (author.handle, author.name) if s] if author else []
    scrub = _scrubber(contains, equals)

    if mention.deleted_at is None:  # uncount it once, before its text (and terms) go
        rollups.remove_mention(session.connection(), rollups.RollupRow(
            mention.brand, mention.platform, mention.created_at, mention.engagement,
            mention.sentiment_label, list(mention.categories or []), mention.text or ""))
    mention_url = mention.url
    mention.text, mention.title, mention.url, mention.author_id = "", None, None, None
    mention.scoring = scrub(mention.scoring)
    mention.deleted_at = as_utc(now or utcnow())

    escalations = session.execute(
        sa.select(Escalation).where(col(Escalation.mention_id) == mention_id)
    ).scalars().all()
    for esc in escalations:
        esc.suggested_reply = scrub(esc.suggested_reply)
        esc.reply_text = scrub(esc.reply_text)
        esc.decision = scrub(esc.decision)
    esc_ids = [e.id for e in escalations]
    # Payloads frozen in outbox rows hold the mention itself (its own escalations) and, in
    # the author's other escalations, the author's history, which lists this mention's url.
    # The author link may already be gone (an earlier purge), so find those by the url.
    frozen = sa.select(OutboxItem).where(col(OutboxItem.escalation_id).in_(esc_ids))
    if mention_url:
        frozen = sa.select(OutboxItem).where(
            sa.or_(
                col(OutboxItem.escalation_id).in_(esc_ids),
                sa.cast(OutboxItem.payload, sa.Text).contains(mention_url, autoescape=True),
            )
        )
    for row in session.execute(frozen).scalars().all():
        if row.payload:
            row.payload = scrub(row.payload)
    session.execute(
        sa.update(Quarantine)
        .where(col(Quarantine.source) == mention.source,
               col(Quarantine.external_id) == mention.external_id)
        .values(payload=PURGED)
        .execution_options(synchronize_session="fetch")
    )
    audit(session, actor, "mention.purged", "mention", mention_id, reason=reason,
          source=mention.source, external_id=mention.external_id, escalations=esc_ids)
    session.flush()
    return True


def purge_by_external_id(
    session: Session, source: str, external_id: str, reason: str, *, actor: str = "system"
) -> bool:
    """`purge_mention_content` for a deletion notice naming the platform's id."""
    mention_id = find_mention_id(session, source, external_id)
    if mention_id is None:
        return False
    return purge_mention_content(session, mention_id, reason, actor=actor)


# The module's own queries and the re-exports above (which mypy --strict and ruff count
# as exported only when listed here).
__all__ = [
    "PURGED", "LeaseLost", "acquire_lease", "advance_cursor", "append_error", "audit", "bump_counters",
    "claim_outbox", "ensure_source", "existing_external_ids", "find_mention_id", "get_cursor", "get_state",
    "mark_dead", "mark_retry", "mark_sent", "outbox_counts", "purge_by_external_id", "purge_mention_content",
    "quarantine", "record_health", "release_lease", "requeue", "upsert_author",
]
