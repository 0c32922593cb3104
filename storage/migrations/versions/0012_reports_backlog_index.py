"""Report speed: a partial index of the unanswered escalations (the care backlog).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Why: the care part of a report reads answered escalations from `rollup_care`, but the
unanswered ones (whose breach depends on when the report asks) from the escalations
themselves. Through 0011's covering index that read walked every escalation of the
period to find the few unanswered ones: 26k index entries for a 90-day report at a
million mentions (bench/report.py), about 10 ms of the report on SQLite. This
index holds the same columns for unanswered escalations only, so the read visits just
the backlog. An escalation leaves it when it is first answered. Nothing to back-fill:
the database builds a new index from the existing rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARE_COLUMNS = ["brand", "created_at", "queue", "status", "sla_due", "replied_at", "resolved_at", "categories"]
UNANSWERED = "replied_at IS NULL AND resolved_at IS NULL"


def upgrade() -> None:
    op.create_index("ix_escalation_backlog_care", "escalation", CARE_COLUMNS,
                    sqlite_where=sa.text(UNANSWERED), postgresql_where=sa.text(UNANSWERED))


def downgrade() -> None:
    op.drop_index("ix_escalation_backlog_care", "escalation")
