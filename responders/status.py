"""Ticket status back from the contact centre: solved there → resolved here, reopened there
→ open again here. Two ways in, one way to apply:

    POST /hooks/zendesk, /hooks/freshdesk (console/web/webhooks.py) ─┐
    poll_ticket_status(engine, sink, since)   (no inbound webhooks) ──┴─► apply_status()

Which escalation: Zendesk tickets carry `external_id` = the escalation's idempotency key
(ZendeskSink sets it), the surest match. Otherwise the ticket id is looked up in the
outbox rows of that vendor's sinks (`outbox.external_ref`, one per sink, so an escalation
sent to two helpdesks is still found), then in `escalation.external_ref`.

What changes (one transaction, with an audit event; a repeated update changes nothing):

    solved / closed / resolved ─► open|claimed → resolved, resolved_at = now,
                                  resolution "Solved in Zendesk (ticket 123)"
    new / open / pending / hold
      (any non-final status) ───► resolved → claimed (assignee kept) or open; resolved_at cleared
    anything else, or no change ► external_status recorded only
    a dismissed escalation stays dismissed: an agent decided it needs no action.

Polling: Zendesk "show many" (`GET /api/v2/tickets/show_many.json?ids=...`, 100 ids per
call); Freshdesk has no show-many, so `GET /api/v2/tickets?updated_since=<since>` pages
(100 per page) through tickets changed since the window opened, keeping ours. Vendor
errors surface as socialear errors (429 → RateLimited) from the sink's client; what was
applied before the error stays applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from socialear.config import RulesConfig
from storage import models as t
from storage.dialect import table
from storage.types import as_utc, utcnow

log = logging.getLogger(__name__)

Change = Literal["resolved", "reopened", "unchanged", "unknown_ticket"]
VENDOR_NAMES = {"zendesk": "Zendesk", "freshdesk": "Freshdesk"}
FINAL = {"solved", "closed", "resolved"}
FRESHDESK_STATUS = {2: "open", 3: "pending", 4: "resolved", 5: "closed", 6: "waiting on customer", 7: "waiting on third party"}
SHOW_MANY = 100
FRESHDESK_PAGE = 100
FRESHDESK_MAX_PAGES = 300  # Freshdesk's own cap on list pagination
_ET, _OT, _AT = table(t.Escalation), table(t.OutboxItem), table(t.AuditEvent)


@dataclass(frozen=True, slots=True)
class TicketStatus:
    """One ticket's status as the contact centre reports it."""

    vendor: str  # zendesk | freshdesk
    ticket_id: str | None
    status: str
    external_id: str | None = None  # Zendesk external_id (our idempotency key)
    via: str = "webhook"  # webhook | poll


@dataclass(slots=True)
class StatusOutcome:
    escalation_id: int | None
    change: Change
    status: str | None = None  # the escalation's status afterwards


def normalise_status(vendor: str, status: Any) -> str:
    """'SOLVED', 'Solved', 4, '4' → 'solved' / 'resolved'; lower case, spaces not underscores."""
    if vendor == "freshdesk" and str(status).strip().isdigit():
        return FRESHDESK_STATUS.get(int(str(status).strip()), str(status).strip())
    return " ".join(str(status or "").replace("_", " ").split()).lower()


def sink_names(rules: RulesConfig, vendor: str) -> list[str]:
    """Names of the configured sinks of one vendor (`type`)."""
    return [s.name for s in rules.sinks if s.type == vendor]


def find_escalation(conn: sa.Connection, update: TicketStatus, sinks: Iterable[str]) -> int | None:
    """The escalation a ticket belongs to (see the module docstring for the order)."""
    if update.external_id:
        found = conn.execute(sa.select(_ET.c.id).where(_ET.c.idempotency_key == update.external_id)).scalar()
        if found is not None:
            return int(found)
    if not update.ticket_id:
        return None
    names = list(sinks)
    if names:
        found = conn.execute(
            sa.select(_OT.c.escalation_id)
            .where(_OT.c.sink.in_(names), _OT.c.kind == "escalation", _OT.c.external_ref == update.ticket_id)
            .order_by(_OT.c.id).limit(1)
        ).scalar()
        if found is not None:
            return int(found)
    found = conn.execute(
        sa.select(_ET.c.id).where(_ET.c.external_ref == update.ticket_id).order_by(_ET.c.id).limit(1)
    ).scalar()
    return int(found) if found is not None else None


def apply_status(
    engine: Engine, update: TicketStatus, sinks: Iterable[str], *, now: datetime | None = None
) -> StatusOutcome:
    """Mark the ticket's escalation resolved or reopened (module docstring); idempotent."""
    now = as_utc(now or utcnow())
    status = normalise_status(update.vendor, update.status)
    vendor = VENDOR_NAMES.get(update.vendor, update.vendor)
    actor = f"{update.vendor}:{update.via}"
    with engine.begin() as conn:
        esc_id = find_escalation(conn, update, sinks)
        if esc_id is None:
            log.info("%s ticket %s (%s): no matching escalation", vendor, update.ticket_id, status)
            return StatusOutcome(None, "unknown_ticket")
        select = sa.select(_ET.c.status, _ET.c.assignee, _ET.c.resolution, _ET.c.external_status).where(_ET.c.id == esc_id)
        if conn.dialect.name == "postgresql":
            select = select.with_for_update()
        row = conn.execute(select).one()
        current = str(getattr(row.status, "value", row.status))
        values: dict[str, Any] = {}
        change: Change = "unchanged"
        details: dict[str, Any] = {"ticket": update.ticket_id, "external_status": status, "via": update.via}
        if status in FINAL and current in ("open", "claimed"):
            change = "resolved"
            values.update(status="resolved", resolved_at=now,
                          resolution=row.resolution or f"{status.capitalize()} in {vendor} (ticket {update.ticket_id})")
        elif status and status not in FINAL and current == "resolved":
            change = "reopened"
            values.update(status="claimed" if row.assignee else "open", resolved_at=None)
        if change == "unchanged" and row.external_status == status:
            return StatusOutcome(esc_id, "unchanged", current)
        values.update(external_status=status[:64], updated_at=now)
        conn.execute(_ET.update().where(_ET.c.id == esc_id).values(**values))
        action = {"resolved": "escalation.resolved", "reopened": "escalation.reopened"}.get(change, "escalation.external_status")
        conn.execute(_AT.insert().values(at=now, actor=actor, action=action, subject_type="escalation",
                                         subject_id=str(esc_id), details={**details, "previous": current}))
    return StatusOutcome(esc_id, change, values.get("status", current))


# -- polling fallback ----------------------------------------------------------------------


@dataclass(slots=True)
class PollSummary:
    sink: str
    checked: int = 0
    resolved: int = 0
    reopened: int = 0
    unchanged: int = 0
    missing: int = 0  # tickets we created that the helpdesk no longer returns (deleted/merged)
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: StatusOutcome) -> None:
        self.checked += 1
        if outcome.change in ("resolved", "reopened", "unchanged"):
            setattr(self, outcome.change, getattr(self, outcome.change) + 1)


def tracked_tickets(engine: Engine, sink_name: str, since: datetime) -> dict[str, int]:
    """ticket id → escalation id, for tickets this sink created for escalations since `since`."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_OT.c.external_ref, _OT.c.escalation_id)
            .select_from(_OT.join(_ET, _ET.c.id == _OT.c.escalation_id))
            .where(_OT.c.sink == sink_name, _OT.c.kind == "escalation", _OT.c.state == "sent",
                   _OT.c.external_ref.is_not(None), _ET.c.created_at >= as_utc(since))
            .order_by(_OT.c.id)
        ).all()
    return {str(r.external_ref): int(r.escalation_id) for r in rows}


def poll_ticket_status(engine: Engine, sink: Any, since: datetime, *, now: datetime | None = None) -> PollSummary:
    """Fetch the status of the tickets `sink` (a ZendeskSink or FreshdeskSink) created for
    escalations since `since`, and apply each. Raises the sink's mapped errors (e.g.
    RateLimited); updates applied before an error are kept."""
    kind = getattr(sink, "type", "")
    summary = PollSummary(sink.name)
    tickets = tracked_tickets(engine, sink.name, since)
    if not tickets:
        return summary
    if kind == "zendesk":
        fetched = _zendesk_statuses(sink, list(tickets))
    elif kind == "freshdesk":
        fetched = _freshdesk_statuses(sink, set(tickets), since)
    else:
        raise ValueError(f"poll_ticket_status: sink {sink.name!r} is a {kind!r} sink, not zendesk/freshdesk")
    seen: set[str] = set()
    for ticket_id, status, external_id in fetched:
        if ticket_id not in tickets:
            continue
        seen.add(ticket_id)
        update = TicketStatus(kind, ticket_id, status, external_id, via="poll")
        summary.count(apply_status(engine, update, [sink.name], now=now))
    if kind == "zendesk":
        summary.missing = len(set(tickets) - seen)
    return summary


def _zendesk_statuses(sink: Any, ids: list[str]) -> Iterable[tuple[str, str, str | None]]:
    from responders.sinks import _http

    for start in range(0, len(ids), SHOW_MANY):
        chunk = ids[start:start + SHOW_MANY]
        # the sink's own client, auth, timeout and error mapping
        response = sink._send("GET", "/api/v2/tickets/show_many.json", params={"ids": ",".join(chunk)})
        for ticket in _http.response_json(response, label=sink.label).get("tickets") or []:
            if ticket.get("id") is not None:
                yield str(ticket["id"]), str(ticket.get("status") or ""), ticket.get("external_id") or None


def _freshdesk_statuses(sink: Any, ours: set[str], since: datetime) -> Iterable[tuple[str, str, str | None]]:
    from responders.sinks import _http

    stamp = as_utc(since).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = 0
    for page in range(1, FRESHDESK_MAX_PAGES + 1):
        response = sink._send("GET", "/api/v2/tickets", params={
            "updated_since": stamp, "per_page": FRESHDESK_PAGE, "page": page, "order_by": "updated_at", "order_type": "asc",
        })
        tickets = _http.response_json(response, label=sink.label)
        if not isinstance(tickets, list):
            break
        for ticket in tickets:
            if str(ticket.get("id")) in ours:
                found += 1
                yield str(ticket["id"]), str(ticket.get("status") or ""), None
        if len(tickets) < FRESHDESK_PAGE or found >= len(ours):
            break


def make_status_poller(
    engine: Engine,
    sinks: Any,
    window: timedelta = timedelta(days=14),
) -> Callable[[], list[PollSummary]]:
    """A job for the scheduler: poll every configured Zendesk/Freshdesk sink in `sinks`
    (a responders.outbox.SinkSet) for tickets of the last `window`. One sink's failure is
    logged and does not stop the others."""

    def job() -> list[PollSummary]:
        out: list[PollSummary] = []
        since = utcnow() - window
        for cfg in sinks.rules().sinks:
            if not cfg.enabled or cfg.type not in ("zendesk", "freshdesk"):
                continue
            try:
                summary = poll_ticket_status(engine, sinks.get(cfg.name), since)
            except Exception as exc:  # noqa: BLE001 - one helpdesk down must not stop the other
                log.warning("ticket status poll of %s failed: %s", cfg.name, exc)
                summary = PollSummary(cfg.name, errors=[str(exc)])
            out.append(summary)
        return out

    return job
