"""Initial schema: authors, mentions, source state, escalations, outbox, audit, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (not `metadata.create_all`) so this revision keeps describing the
schema as it was, however the models change later. Types are plain SQLAlchemy ones:
the models' `UTCDateTime` and the enum columns have exactly this DDL, and freezing
them here keeps the migration independent of application code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # TIMESTAMP WITH TIME ZONE on PostgreSQL
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _one_of(column: str, table: str, values: Sequence[str]) -> sa.CheckConstraint:
    """CHECK (column IN (...)) named like the models' naming convention does."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "author",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("followers", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("first_seen", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author")),
        sa.UniqueConstraint("platform", "handle", name=op.f("uq_author_platform_handle")),
    )

    op.create_table(
        "mention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("lang", sa.String(16), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("fetched_at", TIMESTAMP, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("brand", sa.String(128), nullable=True),
        sa.Column("brands", JSON, nullable=False),
        sa.Column("competitor", sa.Boolean(), nullable=False),
        sa.Column("in_reply_to", sa.String(255), nullable=True),
        sa.Column("conversation_id", sa.String(255), nullable=True),
        sa.Column("engagement", sa.Integer(), nullable=False),
        sa.Column("is_repost", sa.Boolean(), nullable=False),
        sa.Column("sentiment_label", sa.String(16), nullable=True),
        sa.Column("sentiment_compound", sa.Float(), nullable=True),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("categories", JSON, nullable=False),
        sa.Column("scoring", JSON, nullable=False),
        sa.Column("route", sa.String(128), nullable=True),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["author.id"],
            name=op.f("fk_mention_author_id_author"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mention")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_mention_source_external_id")),
    )
    op.create_index("ix_mention_created_at", "mention", ["created_at"])
    op.create_index("ix_mention_brand_created_at", "mention", ["brand", "created_at"])
    op.create_index("ix_mention_author_id", "mention", ["author_id"])
    op.create_index("ix_mention_conversation_id", "mention", ["conversation_id"])

    op.create_table(
        "source_state",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("last_success", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TIMESTAMP, nullable=True),
        sa.Column("next_run", TIMESTAMP, nullable=True),
        sa.Column("fetched_total", sa.Integer(), nullable=False),
        sa.Column("quarantined_total", sa.Integer(), nullable=False),
        sa.Column("rate_limit_remaining", sa.Integer(), nullable=True),
        sa.Column("rate_limit_reset", TIMESTAMP, nullable=True),
        sa.Column("budget_used", sa.Integer(), nullable=False),
        sa.Column("budget_period", sa.String(16), nullable=True),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("error_log", JSON, nullable=False),
        sa.Column("stats", JSON, nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_state")),
    )

    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("claimed_at", TIMESTAMP, nullable=True),
        sa.Column("sla_due", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("suggested_reply", sa.Text(), nullable=True),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("replied_at", TIMESTAMP, nullable=True),
        sa.Column("reply_external_id", sa.String(255), nullable=True),
        sa.Column("reply_by", sa.String(128), nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("label", sa.String(16), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("decision", JSON, nullable=False),
        sa.Column("external_ref", sa.String(255), nullable=True),
        sa.Column("external_status", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["mention.id"], name=op.f("fk_escalation_mention_id_mention")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation")),
        sa.UniqueConstraint("mention_id", name=op.f("uq_escalation_mention_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_escalation_idempotency_key")),
        _one_of("priority", "escalation", ["low", "normal", "high", "urgent"]),
        _one_of("status", "escalation", ["open", "claimed", "resolved", "dismissed"]),
        _one_of(
            "label", "escalation",
            ["correct", "not_a_complaint", "wrong_sentiment", "spam", "wrong_category"],
        ),
    )
    # The console's queue: by status, most urgent first, then soonest SLA.
    op.create_index(
        "ix_escalation_status_priority_sla",
        "escalation",
        ["status", sa.text("priority_rank DESC"), "sla_due"],
    )
    op.create_index("ix_escalation_queue_status", "escalation", ["queue", "status"])
    op.create_index("ix_escalation_assignee", "escalation", ["assignee"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("sink", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("locked_by", sa.String(128), nullable=True),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_ref", sa.String(255), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"], ["escalation.id"],
            name=op.f("fk_outbox_escalation_id_escalation"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "escalation_id", "sink", "kind", name=op.f("uq_outbox_escalation_id_sink_kind")
        ),
        _one_of("kind", "outbox", ["escalation", "reply", "alert"]),
        _one_of("state", "outbox", ["pending", "sending", "sent", "retry", "dead"]),
    )
    op.create_index(
        "ix_outbox_state_next_attempt_at_priority_rank",
        "outbox",
        ["state", "next_attempt_at", "priority_rank"],
    )

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index(
        "ix_audit_event_subject_type_subject_id", "audit_event", ["subject_type", "subject_id"]
    )

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index("ix_quarantine_source_at", "quarantine", ["source", "at"])


def downgrade() -> None:
    # Indexes go with their tables; drop in reverse dependency order.
    for table in (
        "quarantine", "audit_event", "outbox", "escalation", "source_state", "mention", "author"
    ):
        op.drop_table(table)
