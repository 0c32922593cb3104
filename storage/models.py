"""The tables. Migrations (`storage/migrations/versions/`) create them; tests compare the
two, so a change here without a migration fails `tests/storage/test_migrations.py`.

Conventions, and why:
* Timestamps are aware UTC (`UTCDateTime`), so SQLite and PostgreSQL agree on ordering.
* States are `StrEnum`s stored as VARCHAR + CHECK: the database refuses a typo, and
  `row.state == "sent"` works as well as `row.state == OutboxState.sent`.
* JSON columns hold plain data only (lists/dicts of str/int/float/bool/None).
* Jobs and sinks pass ids, not ORM objects: a row is re-read in the session that uses it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.mutable import MutableList
from sqlmodel import Field, SQLModel

from storage.types import (
    enum_column,
    json_dict_column,
    json_list_column,
    json_type,
    utc_column,
    utcnow,
)


class Priority(StrEnum):
    """Escalation priority; `PRIORITY_RANK` gives the sortable number."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


PRIORITY_RANK: dict[str, int] = {"urgent": 4, "high": 3, "normal": 2, "low": 1}


class EscalationStatus(StrEnum):
    """Where an escalation is in the agent's workflow."""

    open = "open"  # waiting for an agent
    claimed = "claimed"  # an agent is working it (assignee, claimed_at set)
    resolved = "resolved"  # handled; resolved_at and usually resolution set
    dismissed = "dismissed"  # not actionable; resolution says why


class Label(StrEnum):
    """An agent's judgement of the machine's decision (feeds rule tuning)."""

    correct = "correct"
    not_a_complaint = "not_a_complaint"
    wrong_sentiment = "wrong_sentiment"
    spam = "spam"
    wrong_category = "wrong_category"


class OutboxKind(StrEnum):
    """What an outbox row delivers."""

    escalation = "escalation"  # create a ticket/message in a contact-centre queue
    reply = "reply"  # publish an approved reply on the platform
    alert = "alert"  # notify people (Slack, e-mail) about an urgent escalation


class OutboxState(StrEnum):
    """The delivery state machine: pending → sending → sent | retry → sending … | dead."""

    pending = "pending"  # waiting for its first attempt
    sending = "sending"  # claimed by a worker (locked_by); the claim lapses at locked_until
    sent = "sent"  # delivered; external_ref holds the sink's id for it
    retry = "retry"  # failed retryably; tried again at next_attempt_at
    dead = "dead"  # gave up (permanent error or out of attempts); last_error says why


class Author(SQLModel, table=True):
    """A person or account on a platform; one row per (platform, handle)."""

    __tablename__ = "author"
    __table_args__ = (
        sa.UniqueConstraint("platform", "handle"),
        # Reports' top posts/authors by reach walk authors by followers (migration 0004).
        sa.Index("ix_author_followers", "followers"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    handle: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=255)
    external_id: str | None = Field(default=None, max_length=255)
    followers: int = 0
    verified: bool = False
    first_seen: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    last_seen: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )


class Mention(SQLModel, table=True):
    """One post, comment or review, stored verbatim with how it was scored and routed."""

    __tablename__ = "mention"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.Index("ix_mention_created_at", "created_at"),
        sa.Index("ix_mention_brand_created_at", "brand", "created_at"),
        sa.Index("ix_mention_author_id", "author_id"),
        # (0001's ix_mention_conversation_id was dropped by 0014: no query reads mentions by
        # thread; cases find a thread through care_case(conversation_id) and the
        # (source, external_id) key.)
        # Reports' top posts by engagement within a period (migration 0004).
        sa.Index("ix_mention_brand_engagement", "brand", "engagement", "created_at"),
        # (The reports' sample of negative posts reads `mention_terms`, storage/rollups.py;
        # 0013 dropped 0011's partial index that served it.)
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    platform: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    url: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    text: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    title: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    lang: str | None = Field(default=None, max_length=16)
    rating: float | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    fetched_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    author_id: int | None = Field(default=None, foreign_key="author.id", ondelete="SET NULL")
    brand: str | None = Field(default=None, max_length=128)
    brands: list[str] = Field(default_factory=list, sa_column=json_list_column())
    competitor: bool = False
    in_reply_to: str | None = Field(default=None, max_length=255)
    conversation_id: str | None = Field(default=None, max_length=255)
    engagement: int = 0
    is_repost: bool = False
    sentiment_label: str | None = Field(default=None, max_length=16)
    sentiment_compound: float | None = None
    urgency: int = 0
    categories: list[str] = Field(default_factory=list, sa_column=json_list_column())
    # reasons, urgency_signals, language_supported, question: the full scoring breakdown.
    scoring: dict[str, Any] = Field(default_factory=dict, sa_column=json_dict_column())
    route: str | None = Field(default=None, max_length=128)
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class SourceState(SQLModel, table=True):
    """Per-source cursor, replica lease, health and counters."""

    __tablename__ = "source_state"

    source: str = Field(primary_key=True, max_length=64)
    cursor: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    # One poller per source across replicas: whoever holds an unexpired lease polls.
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_success: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    last_error_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    next_run: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    fetched_total: int = 0
    quarantined_total: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_reset: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    budget_used: int = 0
    budget_period: str | None = Field(default=None, max_length=16)  # e.g. "2026-11"
    healthy: bool = True
    status_message: str | None = Field(
        default=None, sa_column=sa.Column(sa.Text, nullable=True)
    )
    error_log: list[dict[str, Any]] = Field(default_factory=list, sa_column=json_list_column())
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=json_dict_column())
    # Silence (a source that succeeds but stores nothing): see listener.silence.
    last_stored_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    listening_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Escalation(SQLModel, table=True):
    """A mention that needs a person: queue, priority, SLA, suggested reply, and why."""

    __tablename__ = "escalation"
    __table_args__ = (
        # The console's queue filtered by priority, soonest SLA first: equality on
        # (status, priority_rank), rows already in SLA order (PostgreSQL plans the
        # "SLA due soonest" page with a priority filter through it; without it, it walks
        # (status, sla_due) and filters, which reads far more rows for a rare priority).
        sa.Index(
            "ix_escalation_status_priority_sla",
            "status",
            sa.text("priority_rank DESC"),
            "sla_due",
        ),
        sa.Index("ix_escalation_queue_status", "queue", "status"),
        sa.Index("ix_escalation_assignee", "assignee"),
        # Reports' care performance of a brand over a period: every column the report's
        # care histogram reads is in the index, so it never visits the (wide) rows
        # (migration 0011; it replaced 0004's (brand, created_at)).
        sa.Index("ix_escalation_brand_created_at_care", "brand", "created_at", "queue", "status", "sla_due",
                 "replied_at", "resolved_at", "categories"),
        # The same columns for the unanswered escalations only (the open backlog, whose
        # breach depends on when the report asks): a report reads the backlog of its whole
        # days here, visiting no answered escalation (migration 0012).
        sa.Index("ix_escalation_backlog_care", "brand", "created_at", "queue", "status", "sla_due",
                 "replied_at", "resolved_at", "categories",
                 sqlite_where=sa.text("replied_at IS NULL AND resolved_at IS NULL"),
                 postgresql_where=sa.text("replied_at IS NULL AND resolved_at IS NULL")),
        # The agent's queue orders (migration 0008): urgency within priority, SLA, age.
        sa.Index(
            "ix_escalation_status_priority_urgency_sla",
            "status",
            sa.text("priority_rank DESC"),
            sa.text("urgency DESC"),
            "sla_due",
        ),
        sa.Index("ix_escalation_status_sla_due", "status", "sla_due"),
        sa.Index("ix_escalation_status_created_at", "status", "created_at"),
        sa.Index("ix_escalation_case_id", "case_id"),
        # Queue filters on the denormalised mention fields, still in queue order.
        sa.Index(
            "ix_escalation_brand_status_priority_sla",
            "brand",
            "status",
            sa.text("priority_rank DESC"),
            "sla_due",
        ),
        sa.Index(
            "ix_escalation_source_status_priority_sla",
            "source",
            "status",
            sa.text("priority_rank DESC"),
            "sla_due",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", unique=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    route: str = Field(max_length=128)
    queue: str = Field(max_length=128)
    priority: Priority = Field(
        default=Priority.normal, sa_column=enum_column(Priority, "priority", default="normal")
    )
    priority_rank: int = 2  # PRIORITY_RANK[priority]; sortable (4 = urgent … 1 = low)
    status: EscalationStatus = Field(
        default=EscalationStatus.open,
        sa_column=enum_column(EscalationStatus, "status", default="open"),
    )
    assignee: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sla_due: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=utc_column(nullable=False, default=utcnow, onupdate=utcnow),
    )
    suggested_reply: str | None = Field(
        default=None, sa_column=sa.Column(sa.Text, nullable=True)
    )
    reply_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    replied_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reply_external_id: str | None = Field(default=None, max_length=255)
    reply_by: str | None = Field(default=None, max_length=128)
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolution: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    label: Label | None = Field(
        default=None, sa_column=enum_column(Label, "label", nullable=True)
    )
    tags: list[str] = Field(default_factory=list, sa_column=json_list_column())
    alert: bool = False
    # The routing trace: rule that fired, conditions evaluated, score breakdown.
    decision: dict[str, Any] = Field(default_factory=dict, sa_column=json_dict_column())
    external_ref: str | None = Field(default=None, max_length=255)  # e.g. Zendesk ticket id
    external_status: str | None = Field(default=None, max_length=64)
    # Copies of the mention's brand/source/platform/categories, so the queue filters on
    # them without a join per row. The pipeline sets them; an insert that leaves `source`
    # NULL gets all four from the mention (a trigger, migration 0003).
    brand: str | None = Field(default=None, max_length=128)
    source: str | None = Field(default=None, max_length=64)
    platform: str | None = Field(default=None, max_length=32)
    categories: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(
            MutableList.as_mutable(json_type()),
            nullable=False,
            default=list,
            server_default=sa.text("'[]'"),
        ),
    )
    # The mention's urgency, copied (migration 0008) so "urgency within priority" is an
    # index walk; the 0003 trigger fills it with the other copies.
    urgency: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0,
                                                        server_default=sa.text("0")))
    # The case this escalation belongs to (listener.cases); NULL for rows from before 0008.
    # No foreign key: SQLite can add one only by rebuilding `escalation` (see 0008), and
    # cases are never deleted (a merge moves escalations, then closes the emptied case).
    case_id: int | None = None
    # The head escalation this one was closed into (a follow-up that joined an open case,
    # or a merged case's head; migration 0010): shown as a follow-up, not as a resolved
    # item without a label. NULL for every item an agent works.
    follow_up_of: int | None = None


class CaseStatus(StrEnum):
    """A case is open while any of its escalations is being worked."""

    open = "open"
    resolved = "resolved"


class CareCase(SQLModel, table=True):
    """One customer's matter: every escalated mention about it, worked as one queue item
    and sent to the contact centre as one ticket (follow-ups become comments).

    `head_escalation_id` is the escalation the queue shows for the case; follow-ups that
    join an open case are closed into it at once (see `listener.cases`).
    """

    __tablename__ = "care_case"
    __table_args__ = (
        sa.Index("ix_care_case_author_id_status", "author_id", "status"),
        sa.Index("ix_care_case_conversation_id", "conversation_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: CaseStatus = Field(
        default=CaseStatus.open, sa_column=enum_column(CaseStatus, "status", default="open")
    )
    author_id: int | None = Field(default=None, foreign_key="author.id", ondelete="SET NULL")
    conversation_id: str | None = Field(default=None, max_length=255)
    head_escalation_id: int | None = None
    size: int = 1  # escalated mentions in the case
    urgency: int = 0  # the highest urgency among them
    opened_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Customer(SQLModel, table=True):
    """A customer of the contact centre, as its own records name them (#16: "platinum
    service across traditional and social"). Holds no content: a masked account number
    and a value band at most. `storage.customers` links social identities to it."""

    __tablename__ = "customer"

    id: str = Field(primary_key=True, max_length=128)  # the contact centre's customer id
    segment: str | None = Field(default=None, max_length=32)  # e.g. platinum | gold | standard
    account_masked: str | None = Field(default=None, max_length=32)  # "••••1234", never the number
    ltv_band: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )


class CustomerIdentity(SQLModel, table=True):
    """One social identity (platform + handle, lower-case, no "@") of one customer."""

    __tablename__ = "customer_identity"
    __table_args__ = (sa.UniqueConstraint("platform", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customer.id", ondelete="CASCADE", index=True,
                             max_length=128)
    platform: str = Field(max_length=32)
    handle: str = Field(max_length=255)
    linked_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )


class OutboxItem(SQLModel, table=True):
    """One delivery of an escalation to one sink; see `OutboxState` for the lifecycle."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("escalation_id", "sink", "kind"),
        sa.Index("ix_outbox_state_next_attempt_at_priority_rank",
                 "state", "next_attempt_at", "priority_rank"),
    )

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", ondelete="CASCADE")
    sink: str = Field(max_length=64)
    kind: OutboxKind = Field(
        default=OutboxKind.escalation,
        sa_column=enum_column(OutboxKind, "kind", default="escalation"),
    )
    state: OutboxState = Field(
        default=OutboxState.pending,
        sa_column=enum_column(OutboxState, "state", default="pending"),
    )
    attempts: int = 0  # claims so far; each claim is one delivery attempt
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    locked_by: str | None = Field(default=None, max_length=128)
    locked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    external_ref: str | None = Field(default=None, max_length=255)
    idempotency_key: str = Field(max_length=128)
    priority_rank: int = 2
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_dict_column())
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=utc_column(nullable=False, default=utcnow, onupdate=utcnow),
    )
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class SinkBreaker(SQLModel, table=True):
    """A sink's circuit breaker, shared by every replica (storage.breakers says how it moves).

    closed: deliver normally. open: the sink is down; nobody claims its rows until
    `next_probe_at`. half_open: one replica (`probe_owner`, until `probe_until`) is
    delivering one row to see whether the sink is back.
    """

    __tablename__ = "sink_breaker"

    sink: str = Field(primary_key=True, max_length=64)
    state: str = Field(default="closed", max_length=16)  # closed | open | half_open
    failures: int = 0  # consecutive retryable failures while closed
    opens: int = 0  # consecutive failed probes: the probe interval doubles with each
    opened_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    next_probe_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    probe_owner: str | None = Field(default=None, max_length=128)
    probe_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )


class AuditEvent(SQLModel, table=True):
    """Who did what to which thing, when. Never holds purged mention content."""

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_at", "at"),
        sa.Index("ix_audit_event_subject_type_subject_id", "subject_type", "subject_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    actor: str = Field(max_length=128)  # a user name, or "system"
    action: str = Field(max_length=64)  # dotted verb, e.g. "escalation.claimed"
    subject_type: str = Field(max_length=32)  # "mention", "escalation", "source", ...
    subject_id: str = Field(max_length=128)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_dict_column())


class Quarantine(SQLModel, table=True):
    """A raw item a source could not normalise, kept with its error (never dropped)."""

    __tablename__ = "quarantine"
    __table_args__ = (sa.Index("ix_quarantine_source_at", "source", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    external_id: str | None = Field(default=None, max_length=255)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    error: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    resolved: bool = False


__all__ = [
    "PRIORITY_RANK",
    "AuditEvent",
    "Author",
    "CareCase",
    "CaseStatus",
    "Customer",
    "CustomerIdentity",
    "Escalation",
    "EscalationStatus",
    "Label",
    "Mention",
    "OutboxItem",
    "OutboxKind",
    "OutboxState",
    "Priority",
    "Quarantine",
    "SinkBreaker",
    "SourceState",
]
