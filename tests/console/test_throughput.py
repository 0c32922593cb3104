"""Bulk actions, "resolve and next" and the urgent pulse, through the ASGI app on SQLite
and PostgreSQL. Each bulk row goes through the single-row action (roles, collisions,
audit), so these tests check the wiring and the summary, not the actions again."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import session_scope
from storage.models import AuditEvent, Escalation
from tests.console.conftest import add_escalation


def _status(engine: Engine, *ids: int) -> list[tuple[str, str | None, str | None]]:
    with session_scope(engine) as s:
        out = []
        for i in ids:
            e = s.get(Escalation, i)
            assert e is not None
            out.append((str(e.status), e.assignee, str(e.label) if e.label else None))
        return out


def _done(response) -> str:
    assert response.status_code == 303
    return parse_qs(urlparse(response.headers["location"]).query)["done"][0]


def test_bulk_dismiss_with_a_reason_claim_and_resolve(client_for, db: Engine):
    ids = [add_escalation(db, f"post {i}") for i in range(4)]
    held = add_escalation(db, "bob has it", status="claimed", assignee="bob")
    c = client_for("alice")
    r = c.post("/queue/bulk", {"action": "dismiss", "reason": "not_a_complaint",
                               "ids": [str(ids[0]), str(ids[1]), str(held)], "next": "/queue?queue=care"})
    assert r.headers["location"].startswith("/queue?queue=care&done=")
    text = _done(r)
    assert text.startswith(f"Dismissed 2 items. Skipped 1: #{held}: cannot dismiss: bob is working")
    assert _status(db, ids[0], ids[1], held) == [
        ("dismissed", "alice", "not_a_complaint"), ("dismissed", "alice", "not_a_complaint"),
        ("claimed", "bob", None)]
    assert _done(c.post("/queue/bulk", {"action": "claim", "ids": [str(ids[2]), str(ids[3])]})) == "Claimed 2 items."
    assert _done(c.post("/queue/bulk", {"action": "resolve", "ids": [str(ids[2])]})) == "Resolved 1 item."
    assert _status(db, ids[2], ids[3]) == [("resolved", "alice", "correct"), ("claimed", "alice", None)]
    with session_scope(db) as s:
        actions = [e.action for e in s.execute(sa.select(AuditEvent).where(
            AuditEvent.subject_id.in_([str(i) for i in ids]))).scalars()]  # type: ignore[attr-defined]
    assert actions.count("escalation.dismissed") == 2 and actions.count("escalation.claimed") == 2
    # the summary is shown on the queue, escaped
    page = c.get("/queue?done=" + "<b>x</b>").text
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_bulk_refuses_what_it_cannot_do(client_for, db: Engine):
    a = add_escalation(db)
    c = client_for("alice")
    assert _done(c.post("/queue/bulk", {"action": "dismiss", "ids": [str(a)]})) == "Choose a reason to dismiss them."
    assert _done(c.post("/queue/bulk", {"action": "explode", "ids": [str(a)]})).startswith("Choose what")
    assert _done(c.post("/queue/bulk", {"action": "claim"})) == "Select some items first."
    assert c.post("/queue/bulk", {"action": "assign", "assignee": "bob", "ids": [str(a)]}).status_code == 403
    assert client_for("vic").post("/queue/bulk", {"action": "claim", "ids": [str(a)]}).headers["location"]
    assert _status(db, a) == [("open", None, None)]  # the viewer's claim was refused per row
    r = c.post("/queue/bulk", {"action": "claim", "ids": [str(a)], "next": "https://evil.example/"})
    assert urlparse(r.headers["location"]).path == "/queue"  # never off-site
    lead = client_for("lena")
    assert _done(lead.post("/queue/bulk", {"action": "assign", "assignee": "bob", "ids": [str(a)]})) == "Assigned 1 item."
    assert _status(db, a) == [("claimed", "bob", None)]
    assert c.post("/queue/bulk", {"action": "claim", "ids": [str(a)], "csrf": "forged"}).status_code == 403


def test_resolve_and_next_opens_the_next_item_in_the_agents_order(client_for, db: Engine):
    first = add_escalation(db, "first", priority="urgent", urgency=90)
    second = add_escalation(db, "second", priority="urgent", urgency=50)
    add_escalation(db, "taken", priority="urgent", urgency=95, status="claimed", assignee="bob")
    c = client_for("alice")
    c.post(f"/escalations/{first}/claim")
    page = c.get(f"/escalations/{first}").text
    assert 'id="resolve-next"' in page and 'value="/queue/next"' in page
    r = c.post(f"/escalations/{first}/resolve", {"next": "/queue/next"})
    assert r.headers["location"] == "/queue/next"
    nxt = c.get("/queue/next")
    assert nxt.status_code == 303 and nxt.headers["location"] == f"/escalations/{second}"  # not bob's
    c.post(f"/escalations/{second}/claim")
    c.post(f"/escalations/{second}/resolve")
    assert c.get("/queue/next").headers["location"].startswith("/queue?done=Nothing")


def test_pulse_counts_open_urgent_items_and_names_the_newest(client_for, db: Engine):
    c = client_for("vic")
    assert c.get("/queue/pulse").json() == {"urgent_open": 0, "newest_urgent_id": 0}
    add_escalation(db, priority="high")
    a = add_escalation(db, priority="urgent", sla_in=timedelta(minutes=20))
    b = add_escalation(db, priority="urgent")
    add_escalation(db, priority="urgent", status="claimed", assignee="bob")
    r = c.get("/queue/pulse")
    assert r.json() == {"urgent_open": 2, "newest_urgent_id": max(a, b)}
    assert r.headers["cache-control"] == "no-store"
    assert client_for().get("/queue/pulse").status_code == 303  # signed-in only


def test_saved_views_per_user_and_shared_with_the_team(client_for, db: Engine):
    billing = add_escalation(db, "bill", queue="billing", categories=["billing"])
    add_escalation(db, "care")
    alice, bob, lena = client_for("alice"), client_for("bob"), client_for("lena")
    r = alice.post("/queue/views", {"name": "  Billing   by SLA ", "query": "queue=billing&sort=sla&page=3&junk=1"})
    assert _done(r) == "Saved the view 'Billing   by SLA'."
    alice.post("/queue/views", {"name": "Team urgent", "query": "priority=urgent", "shared": "1"})
    page = alice.get("/queue").text
    assert 'href="/queue?queue=billing&amp;sort=sla">Billing by SLA</a>' in page
    assert ">Team urgent</a>" in page
    bob_page = bob.get("/queue").text
    assert "Billing by SLA" not in bob_page and ">Team urgent</a>" in bob_page and "(team)" in bob_page
    ids = [int(i) for i in __import__("re").findall(r'id="row-(\d+)"', alice.get("/queue?queue=billing&sort=sla").text)]
    assert ids == [billing]
    assert alice.post("/queue/views", {"name": "  ", "query": ""}).status_code == 422
    from storage.console_models import SavedView

    with session_scope(db) as s:
        team = s.execute(sa.select(SavedView).where(SavedView.name == "Team urgent")).scalar_one()
        own = s.execute(sa.select(SavedView).where(SavedView.name == "Billing by SLA")).scalar_one()
        team_id, own_id = team.id, own.id
    assert bob.post(f"/queue/views/{own_id}/delete").status_code == 403  # not his
    assert bob.post(f"/queue/views/{team_id}/delete").status_code == 403  # shared: owner or lead
    assert _done(lena.post(f"/queue/views/{team_id}/delete")) == "Deleted the view."
    assert ">Team urgent</a>" not in alice.get("/queue").text
    with session_scope(db) as s:
        acts = [e.action for e in s.execute(sa.select(AuditEvent).where(
            AuditEvent.subject_type == "view")).scalars()]  # type: ignore[arg-type]
    assert acts == ["view.saved", "view.saved", "view.deleted"]


def test_shared_views_are_shared_within_the_owner_s_team(client_for, db: Engine, tmp_path):
    """alice and lena work in billing, bob in network: alice's shared view is seen by lena
    (and deletable by her, a lead of that team), not by bob; people without a team share
    among themselves. Teams are set with `socialear users team`."""
    from typer.testing import CliRunner

    from console.users_cli import users_app
    from storage.console_models import SavedView

    url = db.url.render_as_string(hide_password=False)
    run = CliRunner().invoke
    for name, team in (("alice", "billing"), ("lena", "billing"), ("bob", "network")):
        r = run(users_app, ["team", name, team, "--database-url", url])
        assert r.exit_code == 0 and f"team {team}" in r.output, r.output
    assert "billing" in run(users_app, ["list", "--database-url", url]).output
    assert run(users_app, ["team", "nobody", "x", "--database-url", url]).exit_code != 0
    alice, bob, lena, vic = client_for("alice"), client_for("bob"), client_for("lena"), client_for("vic")
    alice.post("/queue/views", {"name": "Billing urgent", "query": "priority=urgent", "shared": "1"})
    bob.post("/queue/views", {"name": "Network outages", "query": "queue=urgent", "shared": "1"})
    assert ">Billing urgent</a>" in lena.get("/queue").text and "(billing)" in lena.get("/queue").text
    assert ">Billing urgent</a>" not in bob.get("/queue").text
    assert ">Network outages</a>" not in lena.get("/queue").text
    assert ">Billing urgent</a>" not in vic.get("/queue").text  # vic has no team
    with session_scope(db) as s:
        ids = {v.name: v.id for v in s.execute(sa.select(SavedView)).scalars()}
    assert lena.post(f"/queue/views/{ids['Network outages']}/delete").status_code == 403  # another team's
    assert _done(lena.post(f"/queue/views/{ids['Billing urgent']}/delete")) == "Deleted the view."
    # without a team, views are shared with the others who have none
    assert run(users_app, ["team", "bob", "", "--database-url", url]).exit_code == 0
    assert ">Network outages</a>" in vic.get("/queue").text
