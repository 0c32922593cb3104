"""Care at speed: cases, the urgency-first queue order, the agent's remembered order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

* `care_case`: one customer's matter (listener.cases groups escalated mentions into it);
  `escalation.case_id` points at it. Existing escalations stay without a case (NULL):
  the console shows them as single items, the sinks deliver them as before.
* `escalation.urgency`: the mention's urgency, copied like brand/source/platform in 0003
  (back-filled here; the 0003 trigger is re-created to copy it too), so the queue's
  default order, urgency within priority, walks
  ix_escalation_status_priority_urgency_sla instead of sorting every active row. The
  other two orders (SLA, age) have their own (status, ...) indexes.
* `customer`, `customer_identity`: the customer directory (storage.customers): social
  identities (platform + handle) of a contact-centre customer id, with its segment.
* `console_user.queue_sort`: the order the agent chose last; `saved_view`: named queue
  views, the user's own or shared with the team.

Columns are added with plain ALTER TABLE (batch mode `recreate="never"`): a SQLite batch
rebuild of `escalation` would drop its triggers and the DESC of its indexes (see 0003).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)

_SQLITE_DENORMALISE = """
    CREATE TRIGGER escalation_denormalise AFTER INSERT ON escalation
    WHEN new.source IS NULL BEGIN
        UPDATE escalation SET
            brand = (SELECT brand FROM mention WHERE id = new.mention_id),
            source = (SELECT source FROM mention WHERE id = new.mention_id),
            platform = (SELECT platform FROM mention WHERE id = new.mention_id),
            categories = coalesce((SELECT categories FROM mention WHERE id = new.mention_id),
                                  '[]'),
            urgency = coalesce((SELECT urgency FROM mention WHERE id = new.mention_id), 0)
        WHERE id = new.id;
    END"""
_PG_DENORMALISE = """
    CREATE OR REPLACE FUNCTION escalation_denormalise() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT m.brand, m.source, m.platform, m.categories, m.urgency
          INTO NEW.brand, NEW.source, NEW.platform, NEW.categories, NEW.urgency
          FROM mention m WHERE m.id = NEW.mention_id;
        NEW.categories := coalesce(NEW.categories, '[]'::jsonb);
        NEW.urgency := coalesce(NEW.urgency, 0);
        RETURN NEW;
    END $$"""
_PG_DENORMALISE_0003 = """
    CREATE OR REPLACE FUNCTION escalation_denormalise() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT m.brand, m.source, m.platform, m.categories
          INTO NEW.brand, NEW.source, NEW.platform, NEW.categories
          FROM mention m WHERE m.id = NEW.mention_id;
        NEW.categories := coalesce(NEW.categories, '[]'::jsonb);
        RETURN NEW;
    END $$"""
_SQLITE_DENORMALISE_0003 = """
    CREATE TRIGGER escalation_denormalise AFTER INSERT ON escalation
    WHEN new.source IS NULL BEGIN
        UPDATE escalation SET
            brand = (SELECT brand FROM mention WHERE id = new.mention_id),
            source = (SELECT source FROM mention WHERE id = new.mention_id),
            platform = (SELECT platform FROM mention WHERE id = new.mention_id),
            categories = coalesce((SELECT categories FROM mention WHERE id = new.mention_id),
                                  '[]')
        WHERE id = new.id;
    END"""

def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "care_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.String(255), nullable=True),
        sa.Column("head_escalation_id", sa.Integer(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["author.id"],
                                name=op.f("fk_care_case_author_id_author"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_case")),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_care_case_status")),
    )
    op.create_index("ix_care_case_author_id_status", "care_case", ["author_id", "status"])
    op.create_index("ix_care_case_conversation_id", "care_case", ["conversation_id"])

    with op.batch_alter_table("escalation", recreate="never") as batch:
        batch.add_column(sa.Column("urgency", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))
    with op.batch_alter_table("escalation", recreate="never") as batch:
        # No foreign key (see storage.models.Escalation.case_id): SQLite would need a rebuild.
        batch.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
    if sqlite:
        op.execute("UPDATE escalation SET urgency = coalesce("
                   "(SELECT m.urgency FROM mention m WHERE m.id = escalation.mention_id), 0)")
        op.execute("DROP TRIGGER IF EXISTS escalation_denormalise")
        op.execute(_SQLITE_DENORMALISE)
    else:
        op.execute("UPDATE escalation e SET urgency = m.urgency FROM mention m "
                   "WHERE m.id = e.mention_id AND m.urgency <> 0")
        op.execute(_PG_DENORMALISE)
    op.create_index("ix_escalation_status_priority_urgency_sla", "escalation",
                    ["status", sa.text("priority_rank DESC"), sa.text("urgency DESC"),
                     "sla_due"])
    op.create_index("ix_escalation_status_sla_due", "escalation", ["status", "sla_due"])
    op.create_index("ix_escalation_status_created_at", "escalation", ["status", "created_at"])
    op.create_index("ix_escalation_case_id", "escalation", ["case_id"])

    with op.batch_alter_table("console_user", recreate="never") as batch:
        batch.add_column(sa.Column("queue_sort", sa.String(16), nullable=True))
    op.create_table(
        "saved_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("params", sa.String(1000), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_user.id"],
                                name=op.f("fk_saved_view_user_id_console_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_view")),
    )
    op.create_index("ix_saved_view_user_id", "saved_view", ["user_id"])

    op.create_table(
        "customer",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("segment", sa.String(32), nullable=True),
        sa.Column("account_masked", sa.String(32), nullable=True),
        sa.Column("ltv_band", sa.String(32), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
    )
    op.create_table(
        "customer_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("linked_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_customer_identity_customer_id_customer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_identity")),
        sa.UniqueConstraint("platform", "handle",
                            name=op.f("uq_customer_identity_platform_handle")),
    )
    op.create_index("ix_customer_identity_customer_id", "customer_identity", ["customer_id"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_customer_identity_customer_id", "customer_identity")
    op.drop_table("customer_identity")
    op.drop_table("customer")
    op.drop_index("ix_saved_view_user_id", "saved_view")
    op.drop_table("saved_view")
    op.execute("ALTER TABLE console_user DROP COLUMN queue_sort")
    for name in ("ix_escalation_case_id", "ix_escalation_status_created_at",
                 "ix_escalation_status_sla_due", "ix_escalation_status_priority_urgency_sla"):
        op.drop_index(name, "escalation")
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS escalation_denormalise")
        op.execute(_SQLITE_DENORMALISE_0003)
    else:
        op.execute(_PG_DENORMALISE_0003)
    # Plain DROP COLUMN (SQLite >= 3.35), as in 0003: a batch rebuild would lose the DESC.
    op.execute("ALTER TABLE escalation DROP COLUMN urgency")
    op.execute("ALTER TABLE escalation DROP COLUMN case_id")
    op.drop_index("ix_care_case_conversation_id", "care_case")
    op.drop_index("ix_care_case_author_id_status", "care_case")
    op.drop_table("care_case")
