"""Ticket status back from the contact centre: solved there → resolved here, reopened there
→ open again here. Two ways in, one way to apply:

    POST /hooks/<sink type> (console/web/webhooks.py) ──────────────┐
    poll_ticket_status(engine, sink, since)   (no inbound webhooks) ─┴─► apply_status()

Everything vendor specific (how to poll, how to verify and read a webhook, the vendor's
status words) belongs to the ticket sink (`responders.types.TicketSink`: ZendeskSink,
FreshdeskSink, or a plugin's); nothing here branches on a vendor's name.

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

Polling: `sink.ticket_statuses(ids, since)` (Zendesk "show many"; Freshdesk pages through
tickets updated since the window opened). Vendor errors surface as socialear errors (429 →
RateLimited) from the sink's client; what was applied before the error stays applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from responders.sinks import SINKS
from responders.types import Sink, TicketStatus, is_ticket_sink, is_ticket_sink_class
from socialear.config import RulesConfig
from storage import tickets
from storage.audit import audit
from storage.engine import Engine
from storage.types import as_utc, utcnow

log = logging.getLogger(__name__)

Change = Literal["resolved", "reopened", "unchanged", "unknown_ticket"]
FINAL = {"solved", "closed", "resolved"}


@dataclass(slots=True)
class StatusOutcome:
    escalation_id: int | None
    change: Change
    status: str | None = None  # the escalation's status afterwards


def normalise_status(status: Any) -> str:
    """'SOLVED', 'Solved', 'on_hold' → 'solved', 'on hold': lower case, spaces not
    underscores (a sink has already turned a vendor's codes into words)."""
    return " ".join(str(status or "").replace("_", " ").split()).lower()


def sink_names(rules: RulesConfig, sink_type: str) -> list[str]:
    """Names of the configured sinks of one type."""
    return [s.name for s in rules.sinks if s.type == sink_type]


def apply_status(
    engine: Engine, update: TicketStatus, sinks: Iterable[str], *, now: datetime | None = None
) -> StatusOutcome:
    """Mark the ticket's escalation resolved or reopened (module docstring); idempotent."""
    now = as_utc(now or utcnow())
    status = normalise_status(update.status)
    vendor = update.label
    actor = f"{update.vendor}:{update.via}"
    with engine.begin() as conn:
        esc_id = tickets.find_escalation(conn, update.external_id, update.ticket_id, sinks)
        if esc_id is None:
            log.info("%s ticket %s (%s): no matching escalation", vendor, update.ticket_id, status)
            return StatusOutcome(None, "unknown_ticket")
        row = tickets.lock_state(conn, esc_id)
        current = row.status
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
        tickets.update_escalation(conn, esc_id, values)
        action = {"resolved": "escalation.resolved", "reopened": "escalation.reopened"}.get(change, "escalation.external_status")
        audit(conn, actor, action, "escalation", esc_id, at=now, **details, previous=current)
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


def poll_ticket_status(engine: Engine, sink: Sink, since: datetime, *, now: datetime | None = None) -> PollSummary:
    """Fetch the status of the tickets `sink` created for escalations since `since`, and
    apply each. Raises the sink's mapped errors (e.g. RateLimited); updates applied before
    an error are kept."""
    if not is_ticket_sink(sink):
        raise ValueError(f"poll_ticket_status: sink {sink.name!r} is a {sink.type!r} sink, which makes no tickets")
    summary = PollSummary(sink.name)
    tracked = tickets.tracked_tickets(engine, sink.name, since)
    if not tracked:
        return summary
    seen: set[str] = set()
    for update in sink.ticket_statuses(list(tracked), since):
        if update.ticket_id not in tracked:
            continue
        seen.add(update.ticket_id)
        summary.count(apply_status(engine, update, [sink.name], now=now))
    if sink.polls_by_id:
        summary.missing = len(set(tracked) - seen)
    return summary


def make_status_poller(
    engine: Engine,
    sinks: Any,
    window: timedelta = timedelta(days=14),
) -> Callable[[], list[PollSummary]]:
    """A job for the scheduler: poll every configured ticket sink in `sinks`
    (a responders.outbox.SinkSet) for tickets of the last `window`. One sink's failure is
    logged and does not stop the others."""

    def job() -> list[PollSummary]:
        out: list[PollSummary] = []
        since = utcnow() - window
        for cfg in sinks.rules().sinks:
            if not cfg.enabled or not is_ticket_sink_class(SINKS.get(cfg.type)):
                continue
            try:
                summary = poll_ticket_status(engine, sinks.get(cfg.name), since)
            except Exception as exc:  # noqa: BLE001 - one helpdesk down must not stop the other
                log.warning("ticket status poll of %s failed: %s", cfg.name, exc)
                summary = PollSummary(cfg.name, errors=[str(exc)])
            out.append(summary)
        return out

    return job
