"""The lead's team view over a period, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.engine import Engine

from storage.engine import session_scope
from storage.models import Escalation
from storage.types import utcnow
from tests.console.conftest import add_escalation


def _set(engine: Engine, esc_id: int, **values) -> None:
    with session_scope(engine) as s:
        esc = s.get(Escalation, esc_id)
        assert esc is not None
        for k, v in values.items():
            setattr(esc, k, v(esc) if callable(v) else v)


def test_agent_statistics_and_sla_breaches(client_for, db: Engine):
    now = utcnow()
    a1 = add_escalation(db, "one", handle="p1")
    a2 = add_escalation(db, "two", handle="p2")
    a3 = add_escalation(db, "three", handle="p3")
    old = add_escalation(db, "old", handle="p4")
    late_open = add_escalation(db, "waiting", handle="late_lucy", sla_in=timedelta(minutes=-30))
    c = client_for("alice")
    for esc in (a1, a2, a3, old):
        c.post(f"/escalations/{esc}/claim")
    c.post(f"/escalations/{a1}/reply", {"text": "On it"})
    c.post(f"/escalations/{a1}/resolve")
    c.post(f"/escalations/{a2}/resolve")
    c.post(f"/escalations/{a3}/dismiss", {"reason": "not_a_complaint"})
    c.post(f"/escalations/{old}/resolve")
    _set(db, a1, replied_at=lambda e: e.created_at + timedelta(minutes=4, seconds=5))  # in SLA
    _set(db, a2, sla_due=lambda e: e.created_at + timedelta(minutes=1))  # closed after its SLA: late
    _set(db, old, resolved_at=now - timedelta(days=9))  # outside the 7-day period
    lead = client_for("lena")
    page = lead.get("/team").text
    row = page[page.index("<td>alice</td>"):]
    row = row[:row.index("</tr>")]
    cells = [c.split(">")[-1] for c in row.split("</td>")]
    assert cells[:4] == ["alice", "3", "2", "1"]  # handled, resolved, dismissed
    assert cells[4] == "4m" and cells[5] == "67%"  # median first response; 2 of 3 in SLA
    assert "Not a complaint 1" in row
    assert f'href="/escalations/{late_open}"' in page and "@late_lucy" in page  # open breach
    assert f'href="/escalations/{a2}"' in page  # handled late
    month = lead.get("/team?period=30d").text
    assert "<td>alice</td><td class=\"num\">4</td>" in month  # the old one counts in 30 days
    assert lead.get("/team?period=bogus").status_code == 200  # falls back to the remembered period
    assert client_for("alice").get("/team").status_code == 403
    assert 'href="/team"' in lead.get("/queue").text and 'href="/team"' not in c.get("/queue").text


def test_one_period_picker_shared_by_the_dashboard_and_the_team_view(client_for, db) -> None:
    """The same picker (?period=today|7d|30d) on both pages, remembered per user: a
    period chosen on /team is the dashboard's too, and the other way round; another user
    keeps their own; an unknown value keeps the remembered one; old ?range= links work."""
    lead, other = client_for("lena"), client_for("vic")
    active = re.compile(r'<a href="(/\w+)\?period=(\w+)" class="active" aria-current="page">')

    def picked(page: str) -> tuple[str, str]:
        m = active.search(page)
        assert m, page
        return m.group(1), m.group(2)

    assert picked(lead.get("/team").text) == ("/team", "today")  # nothing chosen yet
    assert picked(lead.get("/team?period=30d").text) == ("/team", "30d")
    dash = lead.get("/dashboard").text
    assert picked(dash) == ("/dashboard", "30d") and "mentions last 30 days" in dash
    assert picked(lead.get("/dashboard?period=7d").text) == ("/dashboard", "7d")
    assert picked(lead.get("/team").text) == ("/team", "7d")
    assert picked(lead.get("/team?period=bogus").text) == ("/team", "7d")
    assert picked(other.get("/dashboard").text) == ("/dashboard", "today")  # per user
    assert picked(other.get("/dashboard?range=30d").text) == ("/dashboard", "30d")
    assert picked(lead.get("/team?period=1d").text) == ("/team", "today")  # the old "24 hours" link
