"""Ingest speed on PostgreSQL: the care rollup's trigger skips unanswered escalations.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Why: 0014 guarded the SQLite triggers that keep `rollup_care_span` exact with a WHEN, so
an unanswered escalation (what the pipeline inserts) skips their body. PostgreSQL kept
0013's one trigger for INSERT, DELETE and UPDATE, which cannot carry a WHEN (NEW does not
exist for a DELETE, OLD not for an INSERT), so its PL/pgSQL function ran for every
escalation inserted only to find nothing to count: bench/pipeline.py on PostgreSQL
measured the escalation insert at 1.77 s per 10,000 mentions with it and 1.08 s with it
disabled. Now the same function is called by one trigger per event, each with the WHEN
of the rows its body counts (`storage.rollups.care_triggers`, `guarded`). What is counted
does not change. SQLite: nothing to do (0014).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _care_triggers(guarded: bool) -> None:
    from storage.rollups import recreated_care_triggers

    if op.get_bind().dialect.name == "postgresql":
        for ddl in recreated_care_triggers("postgresql", guarded=guarded):
            op.execute(ddl)


def upgrade() -> None:
    _care_triggers(guarded=True)


def downgrade() -> None:
    _care_triggers(guarded=False)
