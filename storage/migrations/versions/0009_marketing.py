"""Marketing: the `analyst` console role, spike alerts sent, scheduled digests' state.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

* `console_user.role` may be `analyst` (reads reports and mentions, not the care queue):
  the role is a VARCHAR with a CHECK constraint, so this swaps the constraint (batch mode
  rebuilds the table on SQLite).
* `spike_alert`: one row per alerted spike; its unique `key` is what lets replicas
  insert-or-ignore so a spike is alerted once.
* `digest_state`: per `reports:` digest, the slot sent last and a failing send's retries.

(Assigned id 0009 with down_revision 0003; it follows the report rollups, 0004, here
because the spike alerts read them. The lead re-chains at merge.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _role_check(values: str) -> None:
    with op.batch_alter_table("console_user") as batch:
        batch.drop_constraint(op.f("ck_console_user_role"), type_="check")
        batch.create_check_constraint(op.f("ck_console_user_role"), f"role IN ({values})")


def upgrade() -> None:
    _role_check("'viewer', 'agent', 'lead', 'analyst'")
    op.create_table(
        "spike_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start", TIMESTAMP, nullable=False),
        sa.Column("end", TIMESTAMP, nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spike_alert")),
        sa.UniqueConstraint("key", name=op.f("uq_spike_alert_key")),
    )
    op.create_table(
        "digest_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_slot", TIMESTAMP, nullable=True),
        sa.Column("last_sent_at", TIMESTAMP, nullable=True),
        sa.Column("pending_slot", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TIMESTAMP, nullable=True),
        sa.Column("sent_total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_digest_state")),
    )


def downgrade() -> None:
    op.drop_table("digest_state")
    op.drop_table("spike_alert")
    op.execute("DELETE FROM console_user WHERE role = 'analyst'")
    _role_check("'viewer', 'agent', 'lead'")
