"""Report speed: each stored negative post's terms, computed once at ingest; care counted
by coarser blocks, with integer keys.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Why: the report's distinctive terms come from a bounded sample of each brand's negative
posts (12 x 50 a brand). Reading those posts' text and tokenising it at every report was
its largest cost after the rollups (about a fifth of a 90-day report at a million
mentions, bench/report.py). `mention_terms` (brand, created_at, mention_id: terms) holds
each stored negative post's terms (socialear/terms.py), keyed in the sample's order:
the sample becomes one contiguous read of narrow rows and nothing is tokenised. The
same posts are sampled and the same terms counted, so reports do not change.

Kept exact like the rollups (storage/rollups.py): written in the transaction that stores
the mentions, deleted when a mention is purged (platform deletion, retention, customer
erasure). It replaces 0011's partial index `ix_mention_negative_brand_created_at`, which
held one entry per stored negative post for the same sample and has no other reader, so
the pipeline writes one row per negative post here instead of one index entry there.
Back-filled from the stored mentions (`storage.rollups.rebuild`, this table only).

Care: 0011's `rollup_care` (brand, day, queue, categories, status, bucket) held ~0.85
rows per answered escalation (each row a day x queue x category set x status x
response-time bucket), and grouping a period's rows by three texts and the bucket was
the largest part of a report on SQLite (~22k rows sorted for 90 days). It is replaced by
`rollup_care_span` (brand, level, block, cell): the same counts by day, by 7-day and by
28-day block (a period reads its whole blocks plus the days at its ends, ~10k rows for
90 days), keyed by one integer `cell` = the (queue, categories, status) combination's
number in `care_group` x 256 + the bucket. Kept by new triggers on `escalation` (the old
ones are dropped), back-filled by a recount (`storage.rollups.rebuild_care`). The figures
are the same: the same buckets, summed over other groupings of the same days.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # the models' UTCDateTime
NEGATIVE_STORED = "sentiment_label = 'negative' AND deleted_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "mention_terms",
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("brand", "created_at", "mention_id"),
        sqlite_with_rowid=False,
    )
    op.drop_index("ix_mention_negative_brand_created_at", "mention")

    from storage.rollups import care_triggers, drop_care_triggers_0011, rebuild, rebuild_care

    bind = op.get_bind()
    for ddl in drop_care_triggers_0011(bind.dialect.name):
        op.execute(ddl)
    op.drop_table("rollup_care")
    op.create_table(
        "care_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue", "categories", "status"),
    )
    op.create_table(
        "rollup_care_span",
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("met", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("brand", "level", "block", "cell"),
        sqlite_with_rowid=False,
    )
    for ddl in care_triggers(bind.dialect.name, guarded=False):  # as 0013 made them (0014 guards them)
        op.execute(ddl)
    rebuild_care(bind)
    rebuild(bind, only=("mention_terms",))
    if bind.dialect.name == "postgresql":
        # Statistics for the planner now, not at autovacuum's next pass: without them it
        # reads a whole slice through a bitmap scan and sorts it, instead of walking the
        # key for the first 50 (0.1 ms vs 22 ms a slice at a million mentions).
        op.execute("ANALYZE mention_terms")
        op.execute("ANALYZE rollup_care_span")


def downgrade() -> None:
    from storage.rollups import care_triggers_0011, drop_care_triggers, rebuild_care_0011

    bind = op.get_bind()
    for ddl in drop_care_triggers(bind.dialect.name):
        op.execute(ddl)
    op.drop_table("rollup_care_span")
    op.drop_table("care_group")
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
    for ddl in care_triggers_0011(bind.dialect.name):
        op.execute(ddl)
    rebuild_care_0011(bind)
    op.create_index("ix_mention_negative_brand_created_at", "mention", ["brand", "created_at"],
                    sqlite_where=sa.text(NEGATIVE_STORED), postgresql_where=sa.text(NEGATIVE_STORED))
    op.drop_table("mention_terms")
