"""Report rollups (per-brand, per-platform, per-hour counts) and the indexes reports use.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Tables `rollup_hour` and `rollup_category` (see storage/rollups.py for what
they count and who keeps them exact), back-filled here from the stored mentions with the
same code the pipeline uses (`storage.rollups.rebuild`), so an existing database gets
reports at once. One streamed pass in Python (about 30 s per million mentions): the
same code as the recount the tests compare the rollups with, so the two cannot disagree.

Indexes: mention (brand, engagement, created_at) serves "top posts by engagement within
a period"; author (followers) serves "top posts/authors by reach"; escalation (brand,
created_at) serves the care-performance part of a report.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_hour",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("engagement", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "brand", "platform"),
    )
    op.create_index("ix_rollup_hour_brand_hour", "rollup_hour", ["brand", "hour"])
    op.create_table(
        "rollup_category",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "brand", "platform", "category"),
    )
    op.create_index("ix_rollup_category_brand_hour", "rollup_category", ["brand", "hour"])
    op.create_index("ix_mention_brand_engagement", "mention", ["brand", "engagement", "created_at"])
    op.create_index("ix_author_followers", "author", ["followers"])
    op.create_index("ix_escalation_brand_created_at", "escalation", ["brand", "created_at"])

    from storage.rollups import rebuild

    rebuild(op.get_bind(), only=("rollup_hour", "rollup_category"))  # 0011 fills its own


def downgrade() -> None:
    op.drop_index("ix_escalation_brand_created_at", "escalation")
    op.drop_index("ix_author_followers", "author")
    op.drop_index("ix_mention_brand_engagement", "mention")
    for name in ("rollup_category", "rollup_hour"):
        op.drop_table(name)
