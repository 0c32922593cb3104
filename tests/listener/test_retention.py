"""`retention:` in rules.yaml: mention text older than N days per platform is purged,
daily, audited; audit rows stay (issue 14, deliverable 10)."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.retention import apply_retention
from socialear.config import parse_rules_text
from socialear.errors import ConfigError
from storage import models as t
from storage.dialect import table
from storage.engine import session_scope
from storage.types import utcnow

RULES = textwrap.dedent(
    """\
    brands:
      - name: Nimbus
        query: nimbus
    retention:
      x: 30
      default: 365
    """
)


def add(engine: Engine, platform: str, days_old: int, n: int) -> int:
    now = utcnow()
    with session_scope(engine) as s:
        author = t.Author(platform=platform, handle=f"{platform}-{days_old}-{n}")
        s.add(author)
        s.flush()
        m = t.Mention(source=f"{platform}-src", platform=platform, external_id=f"{platform}-{days_old}-{n}",
                      text=f"nimbus secret text {n}", url=f"https://example.test/{platform}/{days_old}/{n}",
                      author_id=author.id, brand="Nimbus", created_at=now - timedelta(days=days_old),
                      scoring={"reasons": [f"nimbus secret text {n}"]})
        s.add(m)
        s.flush()
        return int(m.id or 0)


def texts(engine: Engine) -> dict[int, str]:
    mt = table(t.Mention)
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(mt.c.id, mt.c.text)).all())


def test_old_text_is_purged_per_platform_and_audited(engine: Engine) -> None:
    rules = parse_rules_text(RULES)
    old_x = [add(engine, "x", 40, i) for i in range(3)]
    new_x = add(engine, "x", 10, 0)
    old_reddit = add(engine, "reddit", 40, 0)  # under `default: 365`
    ancient_reddit = add(engine, "reddit", 400, 0)
    purged = apply_retention(engine, rules, batch=2)
    assert purged == {"x": 3, "default": 1}
    now = texts(engine)
    assert all(now[i] == "" for i in old_x) and now[ancient_reddit] == ""
    assert now[new_x].startswith("nimbus secret") and now[old_reddit].startswith("nimbus secret")
    mt, at = table(t.Mention), table(t.AuditEvent)
    with engine.connect() as conn:
        scoring = conn.execute(sa.select(mt.c.scoring).where(mt.c.id == old_x[0])).scalar_one()
        audits = conn.execute(sa.select(at.c.action, at.c.subject_id, at.c.details)
                              .where(at.c.action == "retention.applied")).all()
        n_mentions = conn.execute(sa.select(sa.func.count()).select_from(mt)).scalar_one()
    assert "secret" not in str(scoring)  # copies of the text go too
    assert n_mentions == 6  # rows stay: dedupe, counts and reports keep working
    assert {(a.subject_id, a.details["purged"]) for a in audits} == {("x", 3), ("default", 1)}
    # idempotent: the next day's run finds nothing new, and the audit trail grows
    assert apply_retention(engine, rules) == {"x": 0, "default": 0}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(at)
                            .where(at.c.action == "retention.applied")).scalar_one() == 4


def test_no_retention_keeps_everything(engine: Engine) -> None:
    mid = add(engine, "x", 4000, 0)
    assert apply_retention(engine, parse_rules_text("brands: [{name: N, query: n}]\n")) == {}
    assert texts(engine)[mid].startswith("nimbus secret")


def test_retention_days_must_be_positive() -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules_text(RULES.replace("x: 30", "x: 0"), "r.yaml")
    assert any(e.startswith("r.yaml:5:") and "retention" in e for e in info.value.errors), info.value.errors
