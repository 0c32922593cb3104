"""A batch's analysed mentions as the rows storage writes: authors, mentions, quarantine.

Why its own module: this is the mapping from the listener's types (a `Scored` mention,
a `Quarantined` record) to table rows, plain dicts, one per row, that `storage.ingest`
writes with one `executemany` per table in the batch's transaction. It decides what is
stored (the scoring breakdown with the routes that matched, the language the scorer
found); storage decides how.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from listener.analysis import Scored
from listener.encoding import score_text, scoring_text
from listener.routing import Decision
from listener.types import Quarantined
from storage import ingest, rollups
from storage.engine import Connection
from storage.types import JsonText, as_utc


class Stored(NamedTuple):
    """What later steps of the batch need of the stored mentions."""

    author_ids: dict[tuple[str, str], int]  # (platform, handle) -> author id
    mention_ids: dict[str, int]  # external id -> mention id, of the escalated mentions
    counted: list[rollups.RollupRow]  # for the rollups, added last in the transaction


def store_mentions(conn: Connection, scored: Sequence[Scored], now: datetime) -> Stored:
    """Upsert the batch's authors (as last seen) and insert its mentions."""
    author_ids = ingest.upsert_authors(
        conn, {(s.mention.author.platform, s.mention.author.handle): s.mention.author for s in scored}, now)
    if not scored:
        return Stored(author_ids, {}, [])
    rows = [mention_row(s, author_ids, now) for s in scored]
    ingest.insert_mentions(conn, rows)
    escalated = [s.mention.external_id for s in scored if s.decision.escalate]
    # The rollups keep each negative post's terms under its id (storage.rollups
    # `mention_terms`): their ids come in the same statement as the escalated ones'.
    negative = [r["external_id"] for r in rows if r["sentiment_label"] == "negative" and r["brand"]]
    ids = ingest.mention_ids(conn, scored[0].mention.source, list(dict.fromkeys([*escalated, *negative])))
    counted = [rollups.as_rollup_row(r, s.encoded.terms if s.encoded else None, ids.get(r["external_id"]))
               for r, s in zip(rows, scored, strict=True)]
    return Stored(author_ids, {e: ids[e] for e in escalated if e in ids}, counted)


def mention_row(s: Scored, author_ids: dict[tuple[str, str], int], now: datetime) -> dict[str, Any]:
    m, sc = s.mention, s.score
    brands: Any
    scoring: Any
    if s.encoded is not None:  # the history-free JSON came encoded from the prescoring worker
        brands = JsonText(s.encoded.brands)
        scoring = scoring_text(score_text(s.encoded, sc.urgency, sc.urgency_signals), s.decision)
    else:
        brands, scoring = list(s.brands), scoring_json(sc, s.decision)
    return {
        "source": m.source,
        "platform": m.platform,
        "external_id": m.external_id,
        "url": m.url,
        "text": m.text,
        "title": m.title,
        "lang": sc.language or m.lang,
        "rating": m.rating,
        "created_at": as_utc(m.created_at),
        "fetched_at": now,
        "author_id": author_ids[(m.author.platform, m.author.handle)],
        "brand": s.brand,
        "brands": brands,
        "competitor": s.competitor,
        "in_reply_to": m.in_reply_to,
        "conversation_id": m.conversation_id,
        "engagement": m.engagement,
        "is_repost": m.is_repost,
        "sentiment_label": sc.sentiment.label,
        "sentiment_compound": sc.sentiment.compound,
        "urgency": sc.urgency,
        "categories": list(sc.categories),
        "scoring": scoring,
        "route": s.decision.route,
    }


def scoring_json(score: Any, decision: Decision) -> dict[str, Any]:
    """The stored score breakdown, with the routes that matched and those ignored."""
    data: dict[str, Any] = score.to_dict()
    data["matched_routes"] = decision.matched
    data["ignored"] = decision.ignored
    return data


def quarantine(conn: Connection, items: Sequence[Quarantined], now: datetime) -> None:
    """Keep the records that could not be normalised or analysed, with their error."""
    ingest.insert_quarantined(conn, [
        {"source": q.source, "external_id": q.external_id, "payload": q.payload, "error": q.error,
         "at": now, "resolved": False}
        for q in items
    ])
