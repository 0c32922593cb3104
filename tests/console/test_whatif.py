"""The rules page's what-if (issue 6 §5), through the ASGI app."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy.engine import Engine

from console.web import whatif
from console.web.pages import rules_yaml
from socialear.config import RulesConfig
from tests.console.conftest import XSS, add_escalation

COMPLAINTS = """
routes:
  - name: complaints
    when: {brand: own, sentiment: negative}
    escalate: {queue: care, priority: high}
"""


def _proposed(rules: RulesConfig, extra: str = COMPLAINTS) -> str:
    data = rules.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for key in ("routes", "sources", "sinks"):  # the fixture's options are not file-valid
        data.pop(key, None)
    return rules_yaml(data) + extra


@pytest.fixture
def history(db: Engine) -> list[int]:
    texts = [f"nimbus no signal again, awful service {XSS}",
             "nimbus billing is terrible and I was charged twice, furious",
             "nimbus thanks, lovely support today"]
    return [add_escalation(db, t) for t in texts]


def test_only_leads_see_and_run_it(client_for, rules, history) -> None:
    agent = client_for("alice")
    page = agent.get("/rules")
    assert page.status_code == 200 and 'action="/rules/whatif"' not in page.text
    r = agent.post("/rules/whatif", {"proposed": _proposed(rules), "window": "7d"})
    assert r.status_code == 403
    assert client_for("vic").post("/rules/whatif", {"proposed": "x: 1"}).status_code == 403
    lead = client_for("lena")
    assert 'action="/rules/whatif"' in lead.get("/rules").text


def test_it_needs_the_csrf_token(client_for, rules) -> None:
    lead = client_for("lena")
    r = lead.http.post("/rules/whatif", data={"proposed": _proposed(rules), "window": "7d"})
    assert r.status_code == 403
    r = lead.http.post("/rules/whatif", data={"proposed": _proposed(rules), "csrf": "nope"})
    assert r.status_code == 403


def test_invalid_rules_are_listed_as_path_line_col(client_for, rules) -> None:
    lead = client_for("lena")
    bad = _proposed(rules, "routes:\n  - name: x\n    bogus: 1\n    escalate: {queue: 7}\n")
    r = lead.post("/rules/whatif", {"proposed": bad, "window": "1d"})
    assert r.status_code == 422
    errors = re.findall(r"proposed-rules\.yaml:\d+:\d+: [^\n<]+", html.unescape(r.text))
    assert any("bogus" in e for e in errors), errors
    assert "nothing was replayed" in r.text
    assert html.escape("bogus: 1") in r.text  # the pasted text comes back to fix
    r = lead.post("/rules/whatif", {"proposed": "routes: [oops", "window": "1d"})
    assert r.status_code == 422 and "YAML syntax error" in r.text
    r = lead.post("/rules/whatif", {"proposed": "   ", "window": "1d"})
    assert r.status_code == 422 and "paste the proposed rules" in r.text


def test_a_new_route_shows_escalations_added_with_escaped_examples(client_for, rules,
                                                                     history) -> None:
    lead = client_for("lena")
    r = lead.post("/rules/whatif", {"proposed": _proposed(rules), "window": "7d"})
    assert r.status_code == 200, r.text
    text = html.unescape(r.text)
    assert "Replayed 3 mentions from the last 7d" in text
    assert "current rules, replayed" in text
    row = re.search(r'<tr class="change-added"><td>added</td><td><code>complaints</code></td>'
                    r'<td class="num">(\d+)</td>', r.text)
    assert row and int(row.group(1)) >= 2
    assert "Examples: added" in r.text
    assert "<img src=x" not in r.text  # mention text is escaped...
    assert html.escape("<img src=x onerror=alert(1)>") in r.text  # ...but shown
    assert "charged twice" in r.text


def test_same_rules_change_nothing_and_the_window_is_kept(client_for, rules, history) -> None:
    lead = client_for("lena")
    same = _proposed(rules, "")
    r = lead.post("/rules/whatif", {"proposed": same, "window": "30d"})
    assert r.status_code == 200
    assert "No escalation would change." in r.text
    assert "<option selected>30d</option>" in r.text
    r = lead.post("/rules/whatif", {"proposed": same, "window": "forever"})
    assert "from the last 7d" in r.text  # an unknown window falls back to the default


def test_the_replay_is_capped_and_says_so(client_for, rules, history,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whatif, "MAX_MENTIONS", 2)
    lead = client_for("lena")
    r = lead.post("/rules/whatif", {"proposed": _proposed(rules), "window": "7d"})
    assert r.status_code == 200
    assert "More than 2 mentions in the last 7d: replayed the most recent 2" in r.text


def test_one_what_if_at_a_time(client_for, rules, history) -> None:
    lead = client_for("lena")
    assert whatif._running.acquire(blocking=False)
    try:
        r = lead.post("/rules/whatif", {"proposed": _proposed(rules), "window": "7d"})
    finally:
        whatif._running.release()
    assert r.status_code == 429 and "another what-if is running" in r.text
    assert "complaints" in r.text  # the pasted rules are kept


def test_oversized_rules_are_refused(client_for) -> None:
    lead = client_for("lena")
    r = lead.post("/rules/whatif", {"proposed": "#" * (whatif.MAX_TEXT + 1)})
    assert r.status_code == 422 and "longer than" in r.text


def test_a_segment_route_fires_for_the_directory_s_customers(client_for, rules, db: Engine) -> None:
    """The what-if re-routes history with the customer directory's segments, as the live
    pipeline routes: a `segment: platinum` route catches the platinum customer's post only."""
    from sqlmodel import Session

    from storage.customers import Identity, link

    add_escalation(db, "nimbus billing is terrible and I was charged twice, furious", handle="plat_pat")
    add_escalation(db, "nimbus billing is terrible and I was charged twice, furious", handle="std_sam")
    with Session(db) as s:
        link(s, "test", "C-1", segment="platinum", identities=[Identity("x", "plat_pat")])
        s.commit()
    platinum = """
routes:
  - name: platinum
    when: {brand: own, segment: platinum}
    escalate: {queue: care, priority: urgent}
"""
    r = client_for("lena").post("/rules/whatif", {"proposed": _proposed(rules, platinum), "window": "7d"})
    assert r.status_code == 200, r.text
    row = re.search(r'<tr class="change-added"><td>added</td><td><code>platinum</code></td>'
                    r'<td class="num">(\d+)</td>', r.text)
    assert row and int(row.group(1)) == 1, r.text
