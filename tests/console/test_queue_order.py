"""The queue's orders (urgency within priority, SLA, age), remembered per agent, and
what each row shows (platform, case size), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.engine import Engine

from storage.engine import session_scope
from storage.models import CareCase, Escalation
from tests.console.conftest import add_escalation


def _order(c, url: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="row-(\d+)"', c.get(url).text)]


def test_urgency_orders_within_priority_then_sla_or_age_by_choice(client_for, db: Engine):
    # The case: an urgency-86 post sat below urgency 34-64 posts of its priority.
    low = add_escalation(db, "meh", priority="urgent", urgency=34, sla_in=timedelta(minutes=5),
                         age=timedelta(hours=1))
    mid = add_escalation(db, "bad", priority="urgent", urgency=64, sla_in=timedelta(minutes=20),
                         age=timedelta(hours=3))
    top = add_escalation(db, "cannot call emergency services", priority="urgent", urgency=86,
                         sla_in=timedelta(minutes=50), age=timedelta(minutes=2))
    normal = add_escalation(db, "slow", priority="normal", urgency=99,
                            sla_in=timedelta(minutes=1), age=timedelta(hours=5))
    c = client_for("alice")
    assert _order(c, "/queue") == [top, mid, low, normal]  # the default: urgency in priority
    assert _order(c, "/queue?sort=sla") == [normal, low, mid, top]
    # remembered: the next visit without ?sort keeps the agent's choice ...
    assert _order(c, "/queue") == [normal, low, mid, top]
    assert 'option value="sla" selected' in c.get("/queue").text
    assert _order(c, "/queue?sort=age") == [normal, mid, low, top]
    assert _order(c, "/queue/rows") == [normal, mid, low, top]  # the live refresh too
    # ... per agent: bob still gets the default
    assert _order(client_for("bob"), "/queue") == [top, mid, low, normal]
    # filters and pages keep the order (the per-status merge for status=active)
    c.post(f"/escalations/{mid}/claim")
    assert _order(c, "/queue?sort=urgency&priority=urgent") == [top, mid, low]
    assert _order(c, "/queue?sort=urgency&status=all") == [top, mid, low, normal]
    # a bad value falls back to the remembered order, not an error
    assert c.get("/queue?sort=';drop").status_code == 200
    assert _order(c, "/queue?sort=';drop") == [top, mid, low, normal]


def test_urgency_is_copied_from_the_mention(db: Engine):
    esc_id = add_escalation(db, urgency=57)
    with session_scope(db) as s:
        esc = s.get(Escalation, esc_id)
        assert esc is not None and esc.urgency == 57


def test_rows_show_the_platform_and_the_case_size(client_for, db: Engine):
    one = add_escalation(db, "from reddit", platform="reddit", source="reddit")
    two = add_escalation(db, "on x")
    with session_scope(db) as s:
        case = CareCase(head_escalation_id=two, size=3, urgency=71)
        s.add(case)
        s.flush()
        esc = s.get(Escalation, two)
        assert esc is not None
        esc.case_id = case.id
    html = client_for("alice").get("/queue").text
    row_one = html[html.index(f'id="row-{one}"'):]
    row_one = row_one[:row_one.index("</tr>")]
    assert 'aria-label="Reddit"' in row_one and "<svg" in row_one
    assert "posts</span>" not in row_one  # a single post shows no case badge
    row_two = html[html.index(f'id="row-{two}"'):]
    row_two = row_two[:row_two.index("</tr>")]
    assert 'aria-label="X"' in row_two and ">3 posts</span>" in row_two
