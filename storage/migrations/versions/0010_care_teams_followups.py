"""Care: teams for shared views, the remembered period, follow-ups marked as follow-ups.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

* `console_user.team`: the team a console user works in (NULL: no team). A shared saved
  view is shared with its owner's team only (console.web.views).
* `console_user.period`: the period the user chose last on the dashboard or the team
  view (one picker for both, console.web.periods).
* `escalation.follow_up_of`: for an escalation closed into a case's head (a follow-up
  post that joined an open case, or the head of a case merged into another), the head
  it was closed into. The console and the exports show such rows as follow-ups instead
  of as resolved items with no label. Back-filled from the resolution text the pipeline
  and the merge action wrote ("Follow-up in case N: handled with escalation #H",
  "Merged into case N: handled with escalation #H").

Plain ALTER TABLE (batch mode `recreate="never"`), as in 0008: a SQLite rebuild of
`escalation` would drop its triggers and the DESC of its indexes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOSED_IN = re.compile(r"^(?:Follow-up in|Merged into) case \d+: handled with escalation #(\d+)")


def upgrade() -> None:
    with op.batch_alter_table("console_user", recreate="never") as batch:
        batch.add_column(sa.Column("team", sa.String(64), nullable=True))
        batch.add_column(sa.Column("period", sa.String(16), nullable=True))
    with op.batch_alter_table("escalation", recreate="never") as batch:
        batch.add_column(sa.Column("follow_up_of", sa.Integer(), nullable=True))
    bind = op.get_bind()
    esc = sa.table("escalation", sa.column("id", sa.Integer), sa.column("resolution", sa.Text),
                   sa.column("label", sa.String), sa.column("case_id", sa.Integer),
                   sa.column("follow_up_of", sa.Integer))
    rows = bind.execute(sa.select(esc.c.id, esc.c.resolution).where(
        esc.c.case_id.is_not(None), esc.c.label.is_(None),
        sa.or_(esc.c.resolution.like("Follow-up in case %"), esc.c.resolution.like("Merged into case %")))).all()
    updates = [{"eid": r.id, "head": int(m.group(1))} for r in rows if (m := _CLOSED_IN.match(r.resolution or ""))]
    if updates:
        bind.execute(esc.update().where(esc.c.id == sa.bindparam("eid"))
                     .values(follow_up_of=sa.bindparam("head")), updates)


def downgrade() -> None:
    with op.batch_alter_table("escalation", recreate="never") as batch:
        batch.drop_column("follow_up_of")
    with op.batch_alter_table("console_user", recreate="never") as batch:
        batch.drop_column("period")
        batch.drop_column("team")
