"""Ingest speed: an index no query reads is dropped, and the care rollup's SQLite
triggers skip unanswered escalations at once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Why: the pipeline's process is the ingest bound (bench/pipeline.py), and inserting a
batch's escalations and mentions are its largest statements: every secondary index and
every trigger on those tables is paid per row stored.

* `ix_escalation_status_priority_sla` (0001) is kept, although the audit found no SQLite
  plan through it: on PostgreSQL the queue's "SLA due soonest" page with a priority
  filter plans through it, and without it walks (status, sla_due) filtering the priority,
  reading far more rows when the chosen priority is rare (urgent items): a console cost
  that one index insert per escalation does not justify.
* `ix_mention_conversation_id` (0001) is dropped: no statement reads mentions by
  conversation (the same audit); since 0008 a thread's case is found through
  `care_case(conversation_id)` and the mention's (source, external_id) key. It was one
  more random insert per stored mention, in a B-tree that grows with history.
* SQLite: 0013's triggers on `escalation` count answered escalations only (each
  statement of their body is guarded by a WHERE on the first answer), but SQLite still
  ran the four-statement body for every inserted row, opening the rollup's tables each
  time to find nothing to do. The re-created triggers carry the same condition as their
  WHEN (`storage.rollups.care_triggers`, `guarded`), so an unanswered escalation skips the
  body. What is counted does not change. PostgreSQL's trigger function is left as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _care_triggers(guarded: bool) -> None:
    from storage.rollups import recreated_care_triggers

    if op.get_bind().dialect.name == "sqlite":
        for ddl in recreated_care_triggers("sqlite", guarded=guarded):
            op.execute(ddl)


def upgrade() -> None:
    op.drop_index("ix_mention_conversation_id", "mention")
    _care_triggers(guarded=True)


def downgrade() -> None:
    _care_triggers(guarded=False)
    op.create_index("ix_mention_conversation_id", "mention", ["conversation_id"])
