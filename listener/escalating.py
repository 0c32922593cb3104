"""A batch's escalations: their rows, their cases, their outbox rows, audit events and
auto-replies, in the batch's transaction.

    escalated mentions ──► escalation rows (queue, priority, SLA, suggested reply)
                       ──► placed in cases (listener.cases) before they are inserted
                       ──► one outbox row per (escalation, enabled sink it goes to)
                       ──► "escalation.created" audit events ──► auto-replies (publish: true)

Why in one transaction with the mentions: an escalation without its outbox row would
never reach the contact centre, an outbox row without its escalation would send nothing;
both commit with the cursor or neither does (invariant 1). Delivery is at-least-once
with the idempotency key derived here, so a sink creates one ticket per mention.

The outbox row carries ids, not the ticket body: the worker builds the payload when it
delivers (responders.payloads), with the author's history as of then. What responders
add here (the suggested reply's rendering, queuing auto-replies) comes through the
injected `listener.replies.Responders`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from listener import cases
from listener.analysis import Scored
from listener.encoding import decision_text
from listener.replies import Responders, suggested_reply
from socialear.config import RulesConfig
from socialear.trace import compact
from storage import ingest
from storage import models as t
from storage.audit import Event, audit_many
from storage.engine import Connection
from storage.types import JsonText


class OutboxHandoff(Protocol):
    """The in-process outbox worker, as the pipeline sees it (responders.outbox.OutboxWorker,
    or responders.outbox_process.OutboxProcess)."""

    @property
    def owner(self) -> str: ...

    @property
    def lease_s(self) -> float: ...

    def accept(self, ids: list[int]) -> None: ...


def idempotency_key(source: str, external_id: str) -> str:
    """Stable across retries and replicas: a sink creates one ticket per key."""
    digest = hashlib.sha256(f"{source}\x1f{external_id}".encode()).hexdigest()[:32]
    return f"sk-{digest}"


def escalate(
    conn: Connection,
    rules: RulesConfig,
    responders: Responders,
    scored: Sequence[Scored],
    mention_ids: dict[str, int],
    author_ids: dict[tuple[str, str], int],
    now: datetime,
    handoff: OutboxHandoff | None = None,
    handed: list[int] | None = None,
) -> int:
    """Store the escalations of `scored`, in bulk (one statement per table); returns how
    many. With a `handoff`, the outbox rows are written already claimed by that worker
    and their ids appended to `handed` (the pipeline hands them over after commit)."""
    todo = [s for s in scored if s.decision.escalate]
    if not todo:
        return 0
    rows = [escalation_row(rules, responders, s, mention_ids, now) for s in todo]
    # Placed in their cases before they are inserted (listener.cases.place_pending): each
    # row goes in final, follow-ups already closed into their case's head.
    esc_ids = ingest.allocate_escalation_ids(conn, len(rows))
    placing = cases.place_pending(conn, [
        cases.pending(esc_id, author_ids[(s.mention.author.platform, s.mention.author.handle)], s.mention.source,
                      s.mention.external_id, s.mention.in_reply_to, s.mention.conversation_id,
                      row["priority_rank"], row["urgency"], row["sla_due"], s.mention.created_at)
        for esc_id, row, s in zip(esc_ids, rows, todo, strict=True)
    ], now)
    for esc_id, row in zip(esc_ids, rows, strict=True):
        row.update(id=esc_id, case_id=None, follow_up_of=None, resolution=None, resolved_at=None)
        row.update(placing.get(esc_id, {}))
    ingest.insert_escalations(conn, rows)
    outbox = outbox_rows(rules, esc_ids, rows, todo, now)
    if outbox and handoff is not None and handed is not None:
        # claimed for the local worker in this same transaction: no claim round-trip,
        # and if this process dies the rows are its own to resume (or lapse in 30 s)
        claim = ingest.claimed(handoff.owner, handoff.lease_s, now)
        handed.extend(ingest.insert_outbox(conn, [{**row, **claim} for row in outbox], returning=True))
    else:
        ingest.insert_outbox(conn, outbox, returning=False)
    audit_many(conn, [
        Event("system", "escalation.created", "escalation", esc_id, now,
              {"route": row["route"], "queue": row["queue"], "priority": row["priority"]})
        for esc_id, row in zip(esc_ids, rows, strict=True)
    ])
    # Public replies only where a route explicitly says `publish: true` (never by default).
    publish = [esc_id for esc_id, s in zip(esc_ids, todo, strict=True) if s.decision.publish]
    if publish:
        responders.queue_auto_replies(conn, rules, publish)
    return len(esc_ids)


def escalation_row(rules: RulesConfig, responders: Responders, s: Scored, mention_ids: dict[str, int],
                   now: datetime) -> dict[str, Any]:
    """The escalation of one mention as first stored (open; its case fields added later)."""
    d = s.decision
    priority = d.priority or "normal"
    decision: Any = None
    if s.encoded is not None:  # encoded ahead (listener.encoding)
        decision = decision_text(s.encoded, s.shown, s.repeat_contact)
    if decision is None:  # the score is the mention's `scoring`; the trace as stored (socialear.trace)
        decision = {**d.to_dict(), "trace": compact(d.trace), "repeat_contact": s.repeat_contact}
    return {
        "mention_id": mention_ids[s.mention.external_id],
        "idempotency_key": idempotency_key(s.mention.source, s.mention.external_id),
        "route": d.route,
        "queue": d.queue,
        "priority": priority,
        "priority_rank": t.PRIORITY_RANK[priority],
        "status": "open",
        "sla_due": now + rules.sla.due_after(priority, (s.mention.extra or {}).get("customer_segment")),
        "created_at": now,
        "updated_at": now,
        # rendered ahead by the prescoring worker when it could be, else here
        "suggested_reply": s.reply if s.reply is not None else suggested_reply(responders.render_reply, rules, s),
        "tags": d.tags,
        "alert": d.alert,
        "decision": decision,
        "brand": s.brand,
        "source": s.mention.source,
        "platform": s.mention.platform,
        "categories": JsonText(s.encoded.categories) if s.encoded is not None else list(s.score.categories),
        "urgency": s.score.urgency,
    }


def outbox_rows(rules: RulesConfig, esc_ids: Sequence[int], rows: Sequence[dict[str, Any]],
                todo: Sequence[Scored], now: datetime) -> list[dict[str, Any]]:
    """One pending row per escalation and enabled sink its route sends to (alert sinks
    only for escalations that alert)."""
    sinks = [sink for sink in rules.sinks if sink.enabled]
    return [
        {
            "escalation_id": esc_id,
            "sink": sink.name,
            "kind": "alert" if sink.type == "alert" else "escalation",
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "idempotency_key": row["idempotency_key"],
            "priority_rank": row["priority_rank"],
            "payload": {},
            "created_at": now,
            "updated_at": now,
        }
        for esc_id, row, s in zip(esc_ids, rows, todo, strict=True)
        for sink in sinks
        if (s.decision.sinks is None or sink.name in s.decision.sinks)
        and (sink.type != "alert" or s.decision.alert)
    ]
