"""Routes, roles, CSRF, lock-out, collisions and escaping, through the ASGI app."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import session_scope
from storage.models import AuditEvent, Escalation
from storage.types import utcnow
from tests.console.conftest import XSS, add_escalation


def _esc(engine: Engine, esc_id: int) -> Escalation:
    with session_scope(engine) as s:
        esc = s.get(Escalation, esc_id)
        assert esc is not None
        return esc


def _actions(engine: Engine, esc_id: int | None = None) -> list[tuple[str, str]]:
    with session_scope(engine) as s:
        stmt = sa.select(AuditEvent).order_by(AuditEvent.id)  # type: ignore[arg-type]
        if esc_id is not None:
            stmt = stmt.where(AuditEvent.subject_id == str(esc_id))  # type: ignore[arg-type]
        return [(e.actor, e.action) for e in s.execute(stmt).scalars()]


# ------------------------------------------------------------------------------ access
def test_pages_need_a_session(client_for):
    c = client_for()
    for path in ("/queue", "/escalations/1", "/dashboard", "/sources", "/rules", "/audit",
                 "/docs", "/openapi.json"):
        r = c.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login")
    assert c.get("/api/v1/escalations").status_code == 401
    assert c.get("/api/v1/escalations").headers["www-authenticate"] == "Bearer"


def test_healthz_and_metrics_are_public(client_for):
    c = client_for()
    r = c.get("/healthz")
    assert r.status_code == 200 and r.json()["db"] == "ok"
    c.get("/queue")
    m = c.get("/metrics")
    assert m.status_code == 200
    assert "socialear_console_requests_total" in m.text
    assert "socialear_escalations_active" in m.text


def test_sign_in_and_out(client_for, db):
    c = client_for()
    r = c.login("alice")
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie
    assert c.get("/queue").status_code == 200
    assert c.post("/logout").status_code == 303
    assert c.get("/queue").status_code == 303
    assert ("alice", "console.signed_in") in _actions(db)
    assert ("alice", "console.signed_out") in _actions(db)


def test_secure_cookie_behind_https(db, rules):
    from console.web import create_app
    from socialear.settings import Settings
    from tests.console.conftest import Client

    c = Client(create_app(db, lambda: rules, settings=Settings(secure_cookies=True)))
    r = c.login("alice")
    assert "Secure" in r.headers["set-cookie"]


def test_wrong_password_is_refused(client_for):
    c = client_for()
    r = c.login("alice", "not the password")
    assert r.status_code == 401
    assert "wrong user name or password" in r.text
    assert c.get("/queue").status_code == 303


def test_login_form_needs_its_csrf_cookie(client_for):
    c = client_for()
    r = c.http.post("/login", data={"username": "alice", "password": "x", "csrf": "forged"})
    assert r.status_code == 403


def test_open_redirect_refused(client_for):
    c = client_for()
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.http.post("/login", data={"username": "alice", "password": "correct horse battery",
                                    "csrf": token, "next": "//evil.example/x"})
    assert r.headers["location"] == "/queue"


# ------------------------------------------------------------------------------ CSRF
def test_state_change_without_csrf_is_refused(client_for, db):
    esc = add_escalation(db)
    c = client_for("alice")
    r = c.http.post(f"/escalations/{esc}/claim", data={})
    assert r.status_code == 403
    r = c.http.post(f"/escalations/{esc}/claim", data={"csrf": "wrong"})
    assert r.status_code == 403
    assert _esc(db, esc).status == "open"
    r = c.http.post(f"/escalations/{esc}/claim", headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 303
    assert _esc(db, esc).assignee == "alice"


def test_api_with_session_cookie_needs_csrf_header(client_for, db):
    esc = add_escalation(db)
    c = client_for("alice")
    assert c.http.post(f"/api/v1/escalations/{esc}/claim").status_code == 403
    r = c.http.post(f"/api/v1/escalations/{esc}/claim", headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 200 and r.json()["assignee"] == "alice"


# ------------------------------------------------------------------------------ queue
def test_queue_sorted_by_priority_then_sla(client_for, db):
    low = add_escalation(db, "low one", priority="low", sla_in=timedelta(minutes=5))
    late = add_escalation(db, "urgent later", priority="urgent", sla_in=timedelta(hours=3))
    soon = add_escalation(db, "urgent soon", priority="urgent", sla_in=timedelta(minutes=20))
    normal = add_escalation(db, "normal one", priority="normal")
    c = client_for("vic")
    html = c.get("/queue").text
    order = [int(i) for i in re.findall(r'id="row-(\d+)"', html)]
    assert order == [soon, late, normal, low]


def test_queue_filters_and_counts(client_for, db):
    a = add_escalation(db, "billing mess, charged twice", queue="billing",
                       categories=["billing"], priority="high", source="reddit",
                       platform="reddit")
    b = add_escalation(db, "no signal in Leeds")
    add_escalation(db, "resolved already", status="resolved")
    c = client_for("alice")
    html = c.get("/queue").text
    assert re.search(r">billing <span class=\"count\">1</span>", html)
    assert re.search(r">care <span class=\"count\">1</span>", html)

    def ids(url: str) -> set[int]:
        return {int(i) for i in re.findall(r'id="row-(\d+)"', c.get(url).text)}

    assert ids("/queue?queue=billing") == {a}
    assert ids("/queue?priority=high") == {a}
    assert ids("/queue?source=reddit") == {a}
    assert ids("/queue?category=billing") == {a}
    assert ids("/queue?q=leeds") == {b}
    assert ids("/queue?brand=Nimbus") == {a, b}
    assert ids("/queue?status=resolved") and not ids("/queue?status=resolved") & {a, b}
    c.post(f"/escalations/{b}/claim")
    assert ids("/queue?assignee=me") == {b}
    assert ids("/queue?assignee=none") == {a}
    assert ids("/queue?assignee=alice") == {b}
    # the live-refresh body keeps the filters
    body = c.get("/queue/rows?queue=billing")
    assert body.text.lstrip().startswith("<tbody") and f"row-{a}" in body.text
    assert 'hx-get="/queue/rows?queue=billing&amp;sort=urgency"' in body.text  # + the order
    assert 'hx-trigger="every 15s, refresh"' in body.text


def test_queue_pages_of_fifty(client_for, db):
    for i in range(53):
        add_escalation(db, f"item {i}")
    c = client_for("vic")
    first = c.get("/queue").text
    assert len(re.findall(r'id="row-', first)) == 50
    assert "Page 1 of 2" in first
    assert len(re.findall(r'id="row-', c.get("/queue?page=2").text)) == 3


def test_sla_colours(client_for, db):
    add_escalation(db, "overdue", sla_in=timedelta(minutes=-5))
    add_escalation(db, "nearly", sla_in=timedelta(minutes=2))  # created 10 min ago
    add_escalation(db, "plenty", sla_in=timedelta(hours=5))
    html = client_for("vic").get("/queue").text
    assert "sla sla-red" in html and "sla sla-amber" in html and "sla sla-ok" in html
    assert "overdue" in html


def test_claim_in_place_returns_the_row(client_for, db):
    esc = add_escalation(db)
    c = client_for("alice")
    r = c.post(f"/escalations/{esc}/claim?fragment=row&here=/queue",
               headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="row-{esc}"') and "you" in r.text


# ------------------------------------------------------------------------------ roles
def test_viewer_cannot_claim(client_for, db):
    esc = add_escalation(db)
    c = client_for("vic")
    page = c.get(f"/escalations/{esc}").text
    assert f'action="/escalations/{esc}/claim"' not in page
    # a trace stored as objects (before socialear.trace's positional rows) still shows
    assert "<strong>outage-complaints</strong> matched" in page and "<td>categories</td>" in page
    r = c.post(f"/escalations/{esc}/claim")
    assert r.status_code == 403
    assert _esc(db, esc).status == "open"
    for action in ("reply", "resolve", "note"):
        assert c.post(f"/escalations/{esc}/{action}", {"text": "x"}).status_code == 403


def test_agent_cannot_assign_but_lead_can(client_for, db):
    esc = add_escalation(db)
    agent = client_for("alice")
    assert agent.post(f"/escalations/{esc}/assign", {"assignee": "bob"}).status_code == 403
    assert _esc(db, esc).assignee is None
    lead = client_for("lena")
    assert lead.post(f"/escalations/{esc}/assign", {"assignee": "bob"}).status_code == 303
    e = _esc(db, esc)
    assert e.assignee == "bob" and e.status == "claimed"
    assert lead.post(f"/escalations/{esc}/assign", {"assignee": "vic"}).status_code == 422
    assert ("lena", "escalation.assigned") in _actions(db, esc)


def test_audit_page_for_leads_only(client_for, db):
    esc = add_escalation(db)
    client_for("alice").post(f"/escalations/{esc}/claim")
    assert client_for("alice").get("/audit").status_code == 403
    lead = client_for("lena")
    page = lead.get("/audit?actor=alice&action=escalation")
    assert page.status_code == 200 and "escalation.claimed" in page.text
    assert "escalation.claimed" not in lead.get("/audit?actor=bob").text


# ------------------------------------------------------------------------------ collision
def test_collision_and_take_over(client_for, db):
    esc = add_escalation(db)
    alice, bob = client_for("alice"), client_for("bob")
    assert alice.post(f"/escalations/{esc}/claim").status_code == 303
    page = bob.get(f"/escalations/{esc}").text
    assert "<strong>alice</strong> is working on this" in page
    assert "Take over from alice" in page
    r = bob.post(f"/escalations/{esc}/claim")
    assert r.status_code == 409 and "alice is working on this" in r.text
    r = bob.post(f"/escalations/{esc}/reply", {"text": "Hi from bob"})
    assert r.status_code == 409
    assert bob.post(f"/escalations/{esc}/resolve").status_code == 409
    assert _esc(db, esc).assignee == "alice" and _esc(db, esc).reply_text is None
    r = bob.post(f"/escalations/{esc}/claim", {"take_over": "1"})
    assert r.status_code == 303
    assert _esc(db, esc).assignee == "bob"
    assert ("bob", "escalation.taken_over") in _actions(db, esc)
    with session_scope(db) as s:
        ev = s.execute(sa.select(AuditEvent).where(
            AuditEvent.action == "escalation.taken_over")).scalar_one()  # type: ignore[arg-type]
        assert ev.details["previous"] == "alice"
    # now alice is the one locked out of it
    assert alice.post(f"/escalations/{esc}/reply", {"text": "late"}).status_code == 409
    assert bob.post(f"/escalations/{esc}/reply", {"text": "Hi from bob"}).status_code == 303


# ------------------------------------------------------------------------------ workflow
def test_reply_resolve_dismiss_note(client_for, db):
    esc = add_escalation(db)
    c = client_for("alice")
    r = c.post(f"/escalations/{esc}/reply", {"text": "We're on it, sorry!"})
    assert r.status_code == 303 and r.headers["location"] == f"/escalations/{esc}"
    e = _esc(db, esc)
    assert e.reply_text == "We're on it, sorry!" and e.reply_by == "alice"
    assert e.replied_at is not None and e.status == "claimed" and e.assignee == "alice"
    page = c.get(f"/escalations/{esc}").text
    assert "copy it and send it" in page
    assert c.post(f"/escalations/{esc}/note", {"text": "called the customer"}
                  ).status_code == 303
    assert "called the customer" in c.get(f"/escalations/{esc}").text
    assert c.post(f"/escalations/{esc}/resolve", {"resolution": "fixed"}).status_code == 303
    e = _esc(db, esc)
    assert e.status == "resolved" and e.label == "correct" and e.resolved_at
    assert c.post(f"/escalations/{esc}/resolve").status_code == 409

    other = add_escalation(db, "buy followers cheap")
    assert c.post(f"/escalations/{other}/dismiss", {"reason": "bogus"}).status_code == 422
    assert c.post(f"/escalations/{other}/dismiss", {"reason": "spam"}).status_code == 303
    e = _esc(db, other)
    assert e.status == "dismissed" and e.label == "spam"
    assert c.post(f"/escalations/{other}/reopen").status_code == 303
    assert _esc(db, other).status == "open"
    acts = [a for _, a in _actions(db, esc)]
    assert acts == ["escalation.claimed", "escalation.replied", "escalation.noted",
                    "escalation.resolved"]


def test_reply_too_long_for_x_is_refused(client_for, db):
    esc = add_escalation(db)
    c = client_for("alice")
    r = c.post(f"/escalations/{esc}/reply", {"text": "x" * 281})
    assert r.status_code == 422 and "281" in r.text and "280" in r.text
    assert "x" * 281 in r.text  # the draft is kept in the editor
    assert _esc(db, esc).reply_text is None


def test_reply_goes_through_the_publisher(db, rules):
    """The publisher owns storing and queueing the reply (responders.publish); the console
    must not overwrite what it stored (the platform's id arrives later, from the worker)."""
    from console.web import create_app
    from tests.console.conftest import Client

    class Publisher:
        calls: list[tuple[int, str, str]] = []

        def publish(self, escalation_id: int, text: str, actor: str) -> str:
            self.calls.append((escalation_id, text, actor))
            with db.begin() as conn:  # what ReplyPublisher does, in short
                conn.execute(sa.update(Escalation).where(Escalation.id == escalation_id)
                             .values(reply_text=text, reply_by=actor, reply_external_id="tweet-123"))
            return "queued: reply will be posted on X"

    pub = Publisher()
    c = Client(create_app(db, lambda: rules, publisher=pub))
    c.login("alice")
    esc = add_escalation(db)
    assert c.post(f"/escalations/{esc}/reply", {"text": "Sorted!"}).status_code == 303
    assert pub.calls == [(esc, "Sorted!", "alice")]
    stored = _esc(db, esc)
    assert stored.reply_external_id == "tweet-123" and stored.reply_text == "Sorted!"


def test_reply_falls_back_to_copy_when_publishing_is_off(db, rules):
    from console.web import create_app
    from socialear.errors import NotConfigured
    from tests.console.conftest import Client

    class Off:
        def publish(self, escalation_id: int, text: str, actor: str) -> str:
            raise NotConfigured("publishing is off for source 'sample': set publish_replies: true")

    c = Client(create_app(db, lambda: rules, publisher=Off()))
    c.login("alice")
    esc = add_escalation(db)
    assert c.post(f"/escalations/{esc}/reply", {"text": "First answer"}).status_code == 303
    first = _esc(db, esc)
    assert first.reply_text == "First answer" and first.reply_external_id is None and first.replied_at
    assert "not published: copy it" in c.get(f"/escalations/{esc}").text
    assert c.post(f"/escalations/{esc}/reply", {"text": "Edited answer"}).status_code == 303
    second = _esc(db, esc)
    assert second.reply_text == "Edited answer"
    assert second.replied_at == first.replied_at  # the first-response time does not move


# ------------------------------------------------------------------------------ escaping
def test_mention_text_is_escaped(client_for, db):
    esc = add_escalation(db, XSS, handle="<script>alert(2)</script>",
                         url="javascript:alert(3)",
                         suggested="</textarea><script>alert(4)</script>")
    c = client_for("alice")
    for page in (c.get(f"/escalations/{esc}").text, c.get("/queue").text):
        assert XSS not in page
        assert "<script>alert" not in page
    page = c.get(f"/escalations/{esc}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "javascript:alert(3)" not in page  # non-http links are not rendered
    assert "&lt;/textarea&gt;&lt;script&gt;" in page


def test_security_headers(client_for):
    r = client_for("vic").get("/queue")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]
    assert "<script>" not in r.text.replace('<script src="', "")  # no inline scripts


# ------------------------------------------------------------------------------ other pages
def test_rules_page_masks_secrets(client_for, db):
    c = client_for("vic")
    page = c.get("/rules").text
    assert "sekrit-token-value" not in page and "hmac-secret-xyz" not in page
    assert "••••" in page
    assert "valid and in force" in page


def test_rules_page_shows_refused_reload(db, rules):
    from console.web import create_app
    from tests.console.conftest import Client

    c = Client(create_app(db, lambda: rules,
                          rules_status=lambda: "rules.yaml:3:5: unknown key 'escalte'"))
    c.login("vic")
    page = c.get("/rules").text
    assert "last good ones" in page and "unknown key" in page


def test_sources_dashboard_and_escalation_pages_render(client_for, db):
    from storage.models import SourceState

    with session_scope(db) as s:
        s.add(SourceState(source="x-main", healthy=False, last_error="429 Too Many Requests",
                          last_error_at=utcnow(), rate_limit_remaining=0,
                          error_log=[{"at": "2026-11-22T08:00:00Z", "error": "429"}]))
    esc = add_escalation(db, "no signal again", handle="repeat_customer")
    add_escalation(db, "still no signal", handle="repeat_customer_2")
    c = client_for("vic")
    src = c.get("/sources").text
    assert "x-main" in src and "429 Too Many Requests" in src and "failing" in src
    assert "reddit" in src and "not run yet" in src
    dash = c.get("/dashboard").text
    assert "mentions today" in dash and "care" in dash
    assert 'data-limit="280"' not in c.get(f"/escalations/{esc}").text  # viewers: no editor
    page = client_for("alice").get(f"/escalations/{esc}").text
    for text in ("outage-complaints", "negativity", "@repeat_customer", "Open original",
                 "Sorry to hear that!", 'data-limit="280"'):
        assert text in page, text


def test_unknown_escalation_is_404(client_for):
    c = client_for("vic")
    assert c.get("/escalations/999999").status_code == 404
    assert c.get("/api/v1/escalations/999999").status_code == 404


def test_open_and_claimed_interleave_in_priority_order(client_for, db):
    a = add_escalation(db, "a", priority="high", sla_in=timedelta(minutes=30))
    b = add_escalation(db, "b", priority="high", sla_in=timedelta(minutes=20), status="claimed",
                       assignee="bob")
    c_ = add_escalation(db, "c", priority="urgent", sla_in=timedelta(hours=2), status="claimed",
                        assignee="alice")
    d = add_escalation(db, "d", priority="low")
    html = client_for("vic").get("/queue").text
    assert [int(i) for i in re.findall(r'id="row-(\d+)"', html)] == [c_, b, a, d]


def test_users_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from console.users_cli import users_app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    r = run(users_app, ["add", "zoe", "--role", "lead", "--password-stdin", "--database-url",
                        url], input="long enough pw\n")
    assert r.exit_code == 0, r.output
    r = run(users_app, ["token", "zoe", "--name", "ci", "--database-url", url])
    assert r.exit_code == 0 and r.output.strip().startswith("se_")
    r = run(users_app, ["list", "--database-url", url])
    assert "zoe" in r.output and "lead" in r.output and "ci" in r.output
    r = run(users_app, ["add", "zoe", "--password-stdin", "--database-url", url],
            input="long enough pw\n")
    assert r.exit_code != 0
    assert run(users_app, ["remove", "zoe", "--database-url", url]).exit_code == 0
    assert "zoe" not in run(users_app, ["list", "--database-url", url]).output
