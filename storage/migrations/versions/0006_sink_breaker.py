"""Per-sink circuit breaker state (table `sink_breaker`), shared by every replica.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

One row per sink that has ever failed: closed / open / half_open, consecutive failures,
when the next probe may run and which replica is probing. See storage.breakers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sink_breaker",
        sa.Column("sink", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=True),
        sa.Column("next_probe_at", TIMESTAMP, nullable=True),
        sa.Column("probe_owner", sa.String(128), nullable=True),
        sa.Column("probe_until", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_sink_breaker")),
    )


def downgrade() -> None:
    op.drop_table("sink_breaker")
