"""Report speed: day and brand-hour rollups, back-filled; indexes for the report's reads.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Why: a 90-day report at a million mentions read ~130k hourly category rows and grouped
~26k hourly rows in SQL (bench/report.py), several times the cost of one pass over the
mentions' text. The coarser twins of the 0004 rollups (storage/rollups.py says what
each counts) let it read whole days instead:

* `rollup_brand_hour` (brand, hour): the hourly series per brand, platforms summed;
* `rollup_day` (brand, day, platform) and `rollup_day_category` (brand, day, category);
* `rollup_care` (brand, day, queue, categories, status, first-response bucket): answered
  escalations and how many were within SLA, kept by triggers on `escalation` (every
  writer of escalations stays exact without code of its own), back-filled by a recount.
  The report's care part had grouped every escalation of the period (26k rows at 1M).

On SQLite they are WITHOUT ROWID (stored in key order). A later migration that
batch-alters `escalation` with a table rebuild on SQLite drops its triggers: it must
re-create them (`storage.rollups.care_triggers`) and run `rebuild_care` (since 0013, which
replaced `rollup_care` with `rollup_care_span`; this revision runs the frozen
`*_0011` versions of those functions). Back-filled here from the
existing hourly rollups' source, the stored mentions, with the recount the tests compare
against (`storage.rollups.rebuild`, these three tables only).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The care part of a report reads only these: a covering index, so it never visits the
# escalation rows (wide: decision trace, replies). It replaces 0004's (brand, created_at).
CARE_COLUMNS = ["brand", "created_at", "queue", "status", "sla_due", "replied_at", "resolved_at", "categories"]
# The distinctive-terms sample reads the brand's stored negative posts by time: a partial
# index of just those (about a third of the mentions) visits no other row.
NEGATIVE_STORED = "sentiment_label = 'negative' AND deleted_at IS NULL"
NEW_ROLLUPS = ("rollup_brand_hour", "rollup_day", "rollup_day_category")


def _counts() -> list[sa.Column[int]]:
    return [
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("engagement", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_brand_hour",
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("brand", "hour"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_day",
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("brand", "day", "platform"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_day_category",
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("brand", "day", "category"),
        sqlite_with_rowid=False,
    )

    op.drop_index("ix_escalation_brand_created_at", "escalation")
    op.create_index("ix_escalation_brand_created_at_care", "escalation", CARE_COLUMNS)
    op.create_index("ix_mention_negative_brand_created_at", "mention", ["brand", "created_at"],
                    sqlite_where=sa.text(NEGATIVE_STORED), postgresql_where=sa.text(NEGATIVE_STORED))

    op.create_table(
        "rollup_care",
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("met", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("brand", "day", "queue", "categories", "status", "bucket"),
        sqlite_with_rowid=False,
    )

    from storage.rollups import care_triggers_0011, rebuild, rebuild_care_0011

    bind = op.get_bind()
    for ddl in care_triggers_0011(bind.dialect.name):
        op.execute(ddl)
    rebuild(bind, only=NEW_ROLLUPS)
    rebuild_care_0011(bind)


def downgrade() -> None:
    from storage.rollups import drop_care_triggers_0011

    for ddl in drop_care_triggers_0011(op.get_bind().dialect.name):
        op.execute(ddl)
    op.drop_table("rollup_care")
    op.drop_index("ix_mention_negative_brand_created_at", "mention")
    op.drop_index("ix_escalation_brand_created_at_care", "escalation")
    op.create_index("ix_escalation_brand_created_at", "escalation", ["brand", "created_at"])
    for name in reversed(NEW_ROLLUPS):
        op.drop_table(name)
