"""Build the plain-data escalation a sink delivers, from what storage holds.

Built at delivery time rather than frozen into the outbox row: the row stays small (the
pipeline writes one per escalation per sink), and the ticket shows the customer's story
as of delivery, including what happened since the mention (invariant: one view of the
customer). What was *decided* (route, trace, score) is frozen in escalation.decision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from responders.types import EscalationPayload
from socialear.trace import expand
from storage import customers
from storage.engine import Connection
from storage.history import HISTORY_LIMIT, author_histories, escalation_rows


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def build_payload(conn: Connection, escalation_id: int, console_url: str | None = None) -> EscalationPayload:
    """One escalation's payload (see `build_payloads`)."""
    payload = build_payloads(conn, [escalation_id], console_url).get(escalation_id)
    if payload is None:
        raise LookupError(f"escalation {escalation_id} does not exist")
    return payload


def build_payloads(
    conn: Connection, escalation_ids: list[int], console_url: str | None = None
) -> dict[int, EscalationPayload]:
    """Payloads for many escalations with two queries in all (rows, then every author's
    history at once): the outbox worker builds a whole claimed round this way."""
    if not escalation_ids:
        return {}
    rows = escalation_rows(conn, escalation_ids)
    histories = author_histories(conn, {r.author_id for r in rows if r.author_id is not None}, limit=HISTORY_LIMIT + 1)
    known = customers.lookup(conn, {(r.platform, r.handle) for r in rows if r.handle})
    out = {}
    for row in rows:
        payload = _payload(row, histories.get(row.author_id, []), console_url)
        payload.customer_id = (known.get((row.platform, row.handle)) or (None, None))[0]
        out[row.id] = payload
    return out


def _payload(row: Any, author_history: list[dict[str, Any]], console_url: str | None) -> EscalationPayload:
    decision = dict(row.decision or {})
    # the mention's score (an escalation stored before socialear.trace kept its own copy)
    score = decision.get("score") or dict(row.scoring or {})
    mine = _iso(row.m_created) or ""
    history = [
        {**h, "relative": "before" if (h["created_at"] or "") < mine else "after"}
        for h in author_history
        if h["mention_id"] != row.mention_id
    ]
    return EscalationPayload(
        escalation_id=row.id,
        idempotency_key=row.idempotency_key,
        brand=row.m_brand,
        competitor=bool(row.competitor),
        route=row.route,
        queue=row.queue,
        priority=_plain(row.priority),
        mention={
            "source": row.source,
            "platform": row.platform,
            "external_id": row.external_id,
            "url": row.url,
            "text": row.text,
            "title": row.title,
            "created_at": _iso(row.m_created),
            "lang": row.lang,
            "rating": row.rating,
            "in_reply_to": row.in_reply_to,
            "conversation_id": row.conversation_id,
        },
        author={
            "platform": row.platform,
            "handle": row.handle,
            "name": row.author_name,
            "followers": row.followers or 0,
            "verified": bool(row.verified),
        },
        sentiment=score.get("sentiment", {}),
        urgency=int(score.get("urgency", 0)),
        urgency_signals=score.get("urgency_signals", {}),
        categories=score.get("categories", []),
        tags=list(row.tags or []),
        suggested_reply=row.suggested_reply or "",
        decision={
            "route": decision.get("route"),
            "matched": decision.get("matched", []),
            "trace": expand(decision.get("trace")),
        },
        history=history[:HISTORY_LIMIT],
        repeat_contact=bool(decision.get("repeat_contact")),
        console_url=f"{console_url.rstrip('/')}/escalations/{row.id}" if console_url else None,
        case_id=row.case_id,
    )
