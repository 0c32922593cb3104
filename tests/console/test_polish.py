"""Error pages for people, JSON for programs; plain words instead of internal labels;
the phone-width rules ship in the stylesheet (the browser test measures the layout)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from storage.engine import session_scope
from storage.models import Escalation
from tests.console.conftest import add_escalation


def test_unknown_paths_get_an_html_page_and_api_paths_keep_json(client_for, db: Engine):
    c = client_for("alice")
    for path in ("/nope", "/escalations/abc", "/queue/x/y", "/static/missing.css"):
        r = c.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "Page not found" in r.text and "Back to the queue" in r.text
        assert '{"detail"' not in r.text
    assert 'href="/dashboard"' in c.get("/nope").text  # signed in: the navigation is there
    anon = client_for()
    r = anon.get("/nope")
    assert r.status_code == 404 and "Page not found" in r.text and 'href="/dashboard"' not in r.text
    assert "&lt;script&gt;" in anon.get("/<script>").text  # the path is escaped
    api = c.get("/api/v1/nope")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    assert c.get("/nope", headers={"accept": "application/json"}).json() == {"detail": "Not Found"}
    wrong = c.http.delete("/queue")
    assert wrong.status_code == 405 and "text/html" in wrong.headers["content-type"]


def test_labels_and_flags_are_shown_in_plain_words(client_for, db: Engine):
    first = add_escalation(db, handle="repeat_rita", categories=["wait_time"])
    c = client_for("alice")
    c.post(f"/escalations/{first}/claim")
    c.post(f"/escalations/{first}/dismiss", {"reason": "not_a_complaint"})
    page = c.get(f"/escalations/{first}").text
    assert "judged: Not a complaint" in page and "not_a_complaint</code>" not in page
    assert "(Not a complaint)" in page  # in the activity list too
    assert ">wait time</span>" in page
    second = add_escalation(db)
    with session_scope(db) as s:
        esc = s.get(Escalation, second)
        assert esc is not None
        esc.decision = {**esc.decision, "repeat_contact": True}
    page = c.get(f"/escalations/{second}").text
    assert "Contacted us before" in page and "Repeat contact" not in page and "True" not in page


def test_the_stylesheet_has_phone_rules(client_for):
    css = client_for().get("/static/console.css").text
    assert "@media (max-width: 640px)" in css and "flex-wrap: wrap" in css


def test_the_reply_button_says_what_will_happen(db: Engine, rules):
    """With the real publisher: a source that may post says "Publish on X"; one that may
    not says "Mark as replied" and offers "Copy", with the reason."""
    from console.web import create_app
    from responders.publish import ReplyPublisher
    from tests.console.conftest import Client

    rules.sources[0].publish_replies = True  # x-main may post (credentials below)
    from responders.publishers import PUBLISHERS

    pub = ReplyPublisher(db, lambda: rules, env=dict.fromkeys(PUBLISHERS["x"].needs, "set"))
    c = Client(create_app(db, lambda: rules, publisher=pub))
    assert c.login("alice").status_code == 303
    on_x = add_escalation(db, source="x-main", platform="x")
    page = c.get(f"/escalations/{on_x}").text
    assert ">Publish on X</button>" in page and "Mark as replied" not in page
    on_reddit = add_escalation(db, source="reddit", platform="reddit")
    page = c.get(f"/escalations/{on_reddit}").text
    assert ">Mark as replied</button>" in page and 'data-copy="#reply-text">Copy</button>' in page
    assert "Publish on" not in page and "publish_replies: true" in page
    without = Client(create_app(db, lambda: rules))
    assert without.login("alice").status_code == 303
    assert ">Mark as replied</button>" in without.get(f"/escalations/{on_x}").text
