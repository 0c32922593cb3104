"""The what-if page runs a lead's patterns under RE2 too (finding 3 of issue 14)."""

from __future__ import annotations

import html
import time

import pytest
from sqlalchemy.engine import Engine

from tests.console.conftest import add_escalation
from tests.console.test_whatif import _proposed

EVIL_ROUTE = """
routes:
  - name: words
    when: {text: '^(\\w+\\s?)+$'}
    escalate: {queue: care, priority: high}
"""


@pytest.mark.timeout(120, method="thread")  # Python's re would never return: fail, do not hang
def test_a_redos_pattern_in_a_what_if_answers_at_once(client_for, rules, db: Engine) -> None:
    add_escalation(db, "nimbus " + "a" * 30 + "!")
    add_escalation(db, "nimbus down")
    lead = client_for("lena")
    started = time.monotonic()
    r = lead.post("/rules/whatif", {"proposed": _proposed(rules, EVIL_ROUTE), "window": "7d"})
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 20
    assert "Replayed 2 mentions" in html.unescape(r.text)


def test_a_what_if_pattern_re2_cannot_run_is_an_error_at_its_line(client_for, rules) -> None:
    lead = client_for("lena")
    proposed = _proposed(rules, EVIL_ROUTE.replace("'^(\\w+\\s?)+$'", "'(a)\\1'"))
    assert "(a)\\1" in proposed
    r = lead.post("/rules/whatif", {"proposed": proposed, "window": "7d"})
    assert r.status_code == 422
    text = html.unescape(r.text)
    assert "proposed-rules.yaml:" in text and "backreferences are not supported" in text
