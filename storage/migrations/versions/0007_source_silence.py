"""Silent sources: when each source last stored a mention, and since when it listens.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

A source that polls without errors but stores nothing for longer than its expected
update period is "silent" (a changed search syntax, a renamed subreddit, an app id that
moved: nothing fails, nothing arrives). `source_state.last_stored_at` is set by the
pipeline whenever a batch stores a mention; `listening_since` on a source's first
successful poll, so a source that never stored anything is measured from then. Existing
rows are back-filled: `last_stored_at` from their newest stored mention, `listening_since`
from their first success we still know of (last_success), else now.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # TIMESTAMP WITH TIME ZONE on PostgreSQL


def upgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.add_column(sa.Column("last_stored_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("listening_since", TIMESTAMP, nullable=True))
    op.execute(
        "UPDATE source_state SET last_stored_at = "
        "(SELECT max(mention.fetched_at) FROM mention WHERE mention.source = source_state.source)"
    )
    op.execute("UPDATE source_state SET listening_since = last_success WHERE last_success IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.drop_column("listening_since")
        batch.drop_column("last_stored_at")
