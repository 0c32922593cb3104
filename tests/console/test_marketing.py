"""Marketing in the console: the analyst role, the Reports and Mentions pages, the
dashboard's time range. Real database (SQLite, and PostgreSQL with the env var)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console.web.auth import create_api_token, create_user
from storage import rollups
from storage.console_models import ConsoleUser
from storage.engine import session_scope
from storage.models import Escalation
from storage.types import utcnow
from tests.console.conftest import PASSWORD, XSS, add_escalation


@pytest.fixture
def analyst(db):
    with session_scope(db) as s:
        create_user(s, "mia", PASSWORD, "analyst")
    return "mia"


def _rollups(engine) -> None:
    with engine.begin() as conn:
        rollups.rebuild(conn)


def _competitor_mentions(db, n: int = 12, text: str = "Stratus charged twice, no refund",
                         **kw):
    for i in range(n):
        add_escalation(db, f"{text} #{i}", brand="Stratus", categories=["billing"], **kw)


def test_analyst_is_a_role_the_database_accepts(db, analyst):
    with session_scope(db) as s:
        user = s.execute(sa.select(ConsoleUser).filter_by(username="mia")).scalar_one()
        assert user.role.value == "analyst"


def test_analyst_sees_reports_mentions_and_dashboard_but_not_the_care_queue(
        client_for, db, analyst):
    esc = add_escalation(db, "No signal in Leeds @NimbusMobile")
    c = client_for()
    r = c.login("mia")
    assert r.status_code == 303 and r.headers["location"] == "/reports"
    for path in ("/reports", "/mentions", "/dashboard", "/sources"):
        assert c.get(path).status_code == 200, path
    nav = c.get("/mentions").text
    assert 'href="/reports"' in nav and 'href="/queue"' not in nav
    for path in ("/queue", "/queue/rows", "/queue/next", "/queue/pulse", "/team",
                 f"/escalations/{esc}", f"/escalations/{esc}/holder"):
        assert c.get(path).status_code == 403, path
    assert c.get("/").headers["location"] == "/reports"
    # the care queue's actions are refused server-side, whatever the form says
    page = c.get("/mentions").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    for action in ("claim", "reply", "resolve", "note"):
        r = c.http.post(f"/escalations/{esc}/{action}", data={"csrf": csrf, "text": "x"})
        assert r.status_code == 403, action
    # nor the queue's bulk actions and saved views (issue 16's throughput tools)
    r = c.http.post("/queue/bulk", data={"csrf": csrf, "ids": [str(esc)], "action": "claim"})
    assert r.status_code in (303, 403)
    with session_scope(db) as s:
        assert s.get(Escalation, esc).assignee is None  # nothing claimed either way
    assert c.http.post("/queue/views", data={"csrf": csrf, "name": "mine", "query": ""}).status_code == 403


def test_analyst_api_token_reads_reports_but_not_escalations(app, db, analyst):
    from fastapi.testclient import TestClient

    add_escalation(db, "Stratus down again")
    _rollups(db)
    with session_scope(db) as s:
        token = create_api_token(s, s.execute(sa.select(ConsoleUser).filter_by(username="mia")).scalar_one(), "t")
    with TestClient(app) as http:
        h = {"authorization": f"Bearer {token}"}
        assert http.get("/api/v1/escalations", headers=h).status_code == 403
        assert http.get("/api/v1/escalations/1", headers=h).status_code == 403
        assert http.post("/api/v1/escalations/1/claim", headers=h).status_code == 403
        assert http.get("/api/v1/me", headers=h).json()["role"] == "analyst"


def test_viewers_and_leads_keep_the_queue(client_for, db):
    for name in ("vic", "lena"):
        assert client_for(name).get("/queue").status_code == 200


def test_reports_page_renders_the_report_with_charts_and_escapes_mentions(client_for, db,
                                                                          analyst):
    add_escalation(db, "No signal in Leeds @NimbusMobile")
    _competitor_mentions(db, 6)
    add_escalation(db, f"Stratus {XSS} <script>alert(2)</script> charged twice",
                   brand="Stratus", categories=["billing"], followers=900_000)
    _rollups(db)
    c = client_for("mia")
    page = c.get("/reports?since=7d")
    assert page.status_code == 200
    html = page.text
    assert "Share of voice" in html and "<svg" in html and "Stratus" in html
    assert 'href="/reports/report.css"' in html
    assert XSS not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert ' style="' not in html.split("<main", 1)[1]  # the console's CSP allows no inline style
    # brand filter: only the ticked brands are in the report
    only = c.get("/reports?since=7d&brand=Stratus").text
    assert "share of voice" in only.lower() and "Nimbus</strong>" not in only
    # a bad date is one clear message, not a traceback
    bad = c.get("/reports?since=&from=2026-13-01")
    assert bad.status_code == 422 and "not a date" in bad.text
    css = c.get("/reports/report.css")
    assert css.status_code == 200 and "@media print" in css.text


def test_report_download_is_the_standalone_file_with_its_own_csp(client_for, db):
    _competitor_mentions(db, 3)
    _rollups(db)
    r = client_for("vic").get("/reports/competitors.html?since=7d")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    csp = r.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert r.text.startswith("<!doctype html>") and "<style>" in r.text


def test_empty_period_says_so(client_for, db):
    page = client_for("vic").get("/reports?since=7d")
    assert page.status_code == 200 and "no mentions" in page.text.lower()


def test_mentions_page_lists_competitors_filters_pages_and_escapes(client_for, db):
    add_escalation(db, "No signal in Leeds @NimbusMobile", brand="Nimbus")
    _competitor_mentions(db, 55)
    add_escalation(db, f"Stratus is great {XSS}", brand="Stratus", categories=[])
    c = client_for("vic")
    first = c.get("/mentions?brand=Stratus").text
    assert first.count("<tr>") == 51  # header + 50 rows
    assert "Older" in first and "Leeds" not in first
    second = c.get("/mentions?brand=Stratus&page=2").text
    assert second.count("<tr>") == 7 and "Newer" in second
    assert XSS not in c.get("/mentions").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in c.get("/mentions?q=great").text
    billing = c.get("/mentions?category=billing").text
    assert "Leeds" not in billing and "charged twice" in billing
    assert "Leeds" in c.get("/mentions?q=leeds&sentiment=negative").text
    assert "Leeds" not in c.get("/mentions?sentiment=positive").text
    today = utcnow().strftime("%Y-%m-%d")
    assert "Leeds" in c.get(f"/mentions?brand=Nimbus&from={today}&to={today}").text
    old = (utcnow() - timedelta(days=3)).strftime("%Y-%m-%d")
    assert "Leeds" not in c.get(f"/mentions?to={old}").text
    bad = c.get("/mentions?from=yesterday")
    assert bad.status_code == 422 and "not a date" in bad.text


def test_dashboard_has_a_time_range(client_for, db):
    from storage.models import Mention

    add_escalation(db, "No signal today @NimbusMobile")
    add_escalation(db, "No signal last week @NimbusMobile")
    with session_scope(db) as s:
        last = s.execute(sa.select(Mention).order_by(sa.desc(Mention.id)).limit(1)).scalar()
        last.created_at = utcnow() - timedelta(days=3)
    c = client_for("vic")
    today = c.get("/dashboard").text
    week = c.get("/dashboard?range=7d").text
    month = c.get("/dashboard?range=30d").text
    assert "mentions today" in today and "mentions last 7 days" in week
    num = re.compile(r'tile-num">(\d+)</span><span class="tile-label">mentions')
    counts = [int(num.search(p).group(1)) for p in (today, week, month)]
    if utcnow().hour == 0 and utcnow().minute < 10:
        pytest.skip("the 'today' mention was written yesterday (just after midnight)")
    assert counts == [1, 2, 2]
    assert 'aria-current="page">Last 7 days' in week
    assert c.get("/dashboard?range=bogus").status_code == 200
