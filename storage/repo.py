"""Queries the pipeline and the console share, on the caller's Session (never committed
here: the caller decides what belongs in one transaction).

This module holds purging (a platform deletion, a customer's erasure), and re-exports
`storage.audit.audit` (the one audit writer), `storage.sources` (cursor, lease, health) and `storage.outbox` (delivery
queue), so `from storage import repo` is the one import callers need.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from storage import rollups
from storage.audit import audit
from storage.dialect import table
from storage.ingest import mention_ids
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
    acquire_lease,
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
_mention = table(Mention).c


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
            mention.sentiment_label, list(mention.categories or []), mention.text or "", mention.id))
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
    mention_id = mention_ids(session.connection(), source, [external_id]).get(external_id)
    if mention_id is None:
        return False
    return purge_mention_content(session, mention_id, reason, actor=actor)


# The module's own queries and the re-exports above (which mypy --strict and ruff count
# as exported only when listed here).
__all__ = [
    "PURGED", "acquire_lease", "append_error", "audit", "bump_counters", "claim_outbox", "ensure_source",
    "get_cursor", "get_state", "mark_dead", "mark_retry", "mark_sent", "outbox_counts", "purge_by_external_id",
    "purge_mention_content", "record_health", "release_lease", "requeue",
]
