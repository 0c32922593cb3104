"""A hand-counted week of mentions for the report tests (the counts are in the test).

Mentions are stored as the pipeline stores them: the row and its rollup increments in
one transaction (`storage.rollups.add_mentions`), so the report reads real rollups.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from storage import models as t
from storage import rollups
from storage.dialect import table

WEEK_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
WEEK_END = WEEK_START + timedelta(days=7)
DAY = datetime(2026, 11, 3, tzinfo=UTC)

# (brand, platform, sentiment, engagement, categories, text, created_at, followers)
POSTS: list[tuple[str, str, str, int, list[str], str, datetime, int]] = [
    ("Nimbus", "x", "positive", 10, [], "love the new plan", DAY.replace(hour=9), 500),
    ("Nimbus", "x", "positive", 0, [], "great coverage in york", DAY.replace(hour=9), 20),
    ("Nimbus", "x", "positive", 5, [], "fast upgrade thanks", DAY.replace(hour=10), 30),
    ("Nimbus", "x", "neutral", 1, [], "anyone tried the esim", DAY.replace(hour=10), 40),
    ("Nimbus", "reddit", "negative", 20, ["outage"], "no signal in leeds again", DAY.replace(hour=10), 9000),
    ("Nimbus", "reddit", "negative", 4, ["outage", "billing"], "no signal and charged twice",
     DAY.replace(hour=11), 60),
    ("Stratus", "x", "neutral", 2, [], "switching to stratus maybe", DAY.replace(hour=9), 70),
    ("Stratus", "x", "negative", 30, ["billing"], "charged twice by stratus refund please",
     DAY.replace(hour=12), 80),
    ("Stratus", "x", "negative", 0, ["billing"], "charged twice again refund", DAY.replace(hour=13), 90),
    ("Stratus", "reddit", "negative", 3, [], "app crashes again", DAY.replace(hour=14), 100),
    # the week before: drivers compare with it
    ("Nimbus", "x", "negative", 7, ["billing"], "charged twice", WEEK_START - timedelta(days=3), 110),
    ("Stratus", "x", "positive", 1, [], "nice shop staff", WEEK_START - timedelta(days=3), 120),
    # after the week: never counted
    ("Nimbus", "x", "positive", 99, [], "outside the period", WEEK_END + timedelta(hours=1), 130),
]


def store(engine: Engine, posts: list[tuple[Any, ...]] = POSTS, source: str = "fixture") -> list[int]:
    """Author + mention rows and their rollups, in one transaction; returns mention ids."""
    at, mt = table(t.Author), table(t.Mention)
    ids = []
    with engine.begin() as conn:
        rows = []
        for i, (brand, platform, sentiment, engagement, cats, text, created, followers) in enumerate(posts):
            author_id = conn.execute(at.insert().returning(at.c.id), {
                "platform": platform, "handle": f"{source}-author{i}", "name": f"Author {i}",
                "followers": followers, "verified": False, "first_seen": created, "last_seen": created,
            }).scalar_one()
            row = {
                "source": source, "platform": platform, "external_id": f"{source}-{i}", "text": text,
                "url": f"https://example.test/{source}/{i}", "created_at": created, "fetched_at": created,
                "author_id": author_id, "brand": brand, "brands": [brand], "competitor": brand != "Nimbus",
                "engagement": engagement, "is_repost": False, "sentiment_label": sentiment, "urgency": 0,
                "categories": cats, "scoring": {},
            }
            ids.append(conn.execute(mt.insert().returning(mt.c.id), row).scalar_one())
            rows.append(row)
        rollups.add_mentions(conn, (rollups.as_rollup_row(r) for r in rows))
    return ids


def add_escalation(engine: Engine, mention_id: int, *, created: datetime, sla_due: datetime,
                   queue: str = "care", categories: list[str] | None = None,
                   replied: datetime | None = None, resolved: datetime | None = None,
                   brand: str = "Nimbus") -> None:
    et = table(t.Escalation)
    with engine.begin() as conn:
        conn.execute(et.insert(), {
            "mention_id": mention_id, "idempotency_key": f"k-{mention_id}", "route": "r", "queue": queue,
            "priority": "normal", "priority_rank": 2, "status": "resolved" if resolved else "open",
            "sla_due": sla_due, "created_at": created, "updated_at": created, "replied_at": replied,
            "resolved_at": resolved, "tags": [], "alert": False, "decision": {}, "brand": brand,
            "source": "fixture", "platform": "reddit", "categories": categories or [],
        })
