"""Full-text search over mentions; brand/source/platform/categories copied onto escalations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Search (the console's free-text queue filter):
* SQLite: `mention_fts`, an FTS5 external-content table over mention(text, title)
  (rowid = mention.id), kept in sync by three triggers on `mention` (insert, delete,
  update of text/title). Purging a mention blanks text/title with an UPDATE, so the
  trigger drops its words from the index in the same transaction.
  Caution: Alembic's batch mode rebuilds a SQLite table by copying it and dropping the
  old one, which drops its triggers too. A later migration that batch-alters `mention`
  must re-create `_SQLITE_FTS_TRIGGERS` (and run the 'rebuild' below).
* PostgreSQL: a GIN expression index on
  to_tsvector('simple', coalesce(title, '') || ' ' || text); the console's query uses
  exactly this expression, so the planner can use the index. 'simple' = no stemming
  and no stop words, the same word-and-prefix matching as SQLite's unicode61 tokenizer.

Neither is in the models (SQLAlchemy cannot describe them); `storage.migrate` leaves
them out of the schema comparison by name (`DATABASE_ONLY`).

Escalation: brand, source, platform and categories (JSON) are copied from the mention,
so the queue filters on them without a join per row. Existing rows are back-filled here;
the pipeline sets them on insert, and a trigger fills all four from the mention when an
insert leaves `source` NULL (any other writer: imports, fixtures, hand-made rows).
Indexes (brand|source, status, priority_rank DESC, sla_due) serve those filters in
queue order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Kept in step with storage.migrate.DATABASE_ONLY (the schema comparison skips them).
FTS_TABLE = "mention_fts"
PG_SEARCH_INDEX = "ix_mention_search"
PG_SEARCH_EXPR = "to_tsvector('simple', coalesce(title, '') || ' ' || text)"

_SQLITE_FTS_TRIGGERS = {
    "mention_fts_ai": """
        CREATE TRIGGER mention_fts_ai AFTER INSERT ON mention BEGIN
            INSERT INTO mention_fts (rowid, text, title) VALUES (new.id, new.text, new.title);
        END""",
    "mention_fts_ad": """
        CREATE TRIGGER mention_fts_ad AFTER DELETE ON mention BEGIN
            INSERT INTO mention_fts (mention_fts, rowid, text, title)
            VALUES ('delete', old.id, old.text, old.title);
        END""",
    "mention_fts_au": """
        CREATE TRIGGER mention_fts_au AFTER UPDATE OF text, title ON mention BEGIN
            INSERT INTO mention_fts (mention_fts, rowid, text, title)
            VALUES ('delete', old.id, old.text, old.title);
            INSERT INTO mention_fts (rowid, text, title) VALUES (new.id, new.text, new.title);
        END""",
}

# An escalation inserted without the copies gets them from its mention.
_SQLITE_DENORMALISE = """
    CREATE TRIGGER escalation_denormalise AFTER INSERT ON escalation
    WHEN new.source IS NULL BEGIN
        UPDATE escalation SET
            brand = (SELECT brand FROM mention WHERE id = new.mention_id),
            source = (SELECT source FROM mention WHERE id = new.mention_id),
            platform = (SELECT platform FROM mention WHERE id = new.mention_id),
            categories = coalesce((SELECT categories FROM mention WHERE id = new.mention_id),
                                  '[]')
        WHERE id = new.id;
    END"""
_PG_DENORMALISE = [
    """
    CREATE FUNCTION escalation_denormalise() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT m.brand, m.source, m.platform, m.categories
          INTO NEW.brand, NEW.source, NEW.platform, NEW.categories
          FROM mention m WHERE m.id = NEW.mention_id;
        NEW.categories := coalesce(NEW.categories, '[]'::jsonb);
        RETURN NEW;
    END $$""",
    """
    CREATE TRIGGER escalation_denormalise BEFORE INSERT ON escalation
    FOR EACH ROW WHEN (NEW.source IS NULL) EXECUTE FUNCTION escalation_denormalise()""",
]

_BACKFILL = """
    UPDATE escalation SET
        brand = (SELECT m.brand FROM mention m WHERE m.id = escalation.mention_id),
        source = (SELECT m.source FROM mention m WHERE m.id = escalation.mention_id),
        platform = (SELECT m.platform FROM mention m WHERE m.id = escalation.mention_id),
        categories = (SELECT m.categories FROM mention m WHERE m.id = escalation.mention_id)
    WHERE source IS NULL"""
_PG_BACKFILL = """
    UPDATE escalation e SET brand = m.brand, source = m.source, platform = m.platform,
           categories = m.categories
    FROM mention m WHERE m.id = e.mention_id AND e.source IS NULL"""


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"

    # -- escalation: the denormalised mention fields, back-filled, and their indexes
    with op.batch_alter_table("escalation", recreate="never") as batch:
        batch.add_column(sa.Column("brand", sa.String(128), nullable=True))
        batch.add_column(sa.Column("source", sa.String(64), nullable=True))
        batch.add_column(sa.Column("platform", sa.String(32), nullable=True))
        batch.add_column(sa.Column("categories", JSON, nullable=False,
                                   server_default=sa.text("'[]'")))
    op.execute(_BACKFILL if sqlite else _PG_BACKFILL)
    op.create_index("ix_escalation_brand_status_priority_sla", "escalation",
                    ["brand", "status", sa.text("priority_rank DESC"), "sla_due"])
    op.create_index("ix_escalation_source_status_priority_sla", "escalation",
                    ["source", "status", sa.text("priority_rank DESC"), "sla_due"])

    # -- search
    if sqlite:
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, title, content='mention', "
            "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        for ddl in _SQLITE_FTS_TRIGGERS.values():
            op.execute(ddl)
        op.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")
        op.execute(_SQLITE_DENORMALISE)
    else:
        op.execute(f"CREATE INDEX {PG_SEARCH_INDEX} ON mention USING gin ({PG_SEARCH_EXPR})")
        for ddl in _PG_DENORMALISE:
            op.execute(ddl)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS escalation_denormalise")
        for name in _SQLITE_FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    else:
        op.execute("DROP TRIGGER IF EXISTS escalation_denormalise ON escalation")
        op.execute("DROP FUNCTION IF EXISTS escalation_denormalise()")
        op.execute(f"DROP INDEX IF EXISTS {PG_SEARCH_INDEX}")
    op.drop_index("ix_escalation_source_status_priority_sla", "escalation")
    op.drop_index("ix_escalation_brand_status_priority_sla", "escalation")
    for column in ("categories", "platform", "source", "brand"):
        # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild would
        # reflect ix_escalation_status_priority_sla without its DESC.
        op.execute(f"ALTER TABLE escalation DROP COLUMN {column}")
