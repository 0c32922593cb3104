"""Unknown queue filter values are refused the same way for every filter (finding 7 of
issue 14): a 400 naming the filter from the API, a shown message in the console.

Before, an unknown priority, status or category was silently dropped (the queue showed
everything) while an unknown brand or source matched nothing."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.console.conftest import add_escalation
from tests.console.test_api import _token

UNKNOWN = [
    ("priority", "hgh"), ("status", "opne"), ("category", "outages"), ("category", "Bad-Name"),
    ("brand", "Nimbuss"), ("source", "x-mian"), ("queue", "carre"),
]


@pytest.fixture
def api(app, db: Engine) -> TestClient:
    add_escalation(db, priority="high", categories=["outage"])
    add_escalation(db, "nimbus charged twice", queue="billing", categories=["billing"], source="old-source",
                   brand="Old brand")
    return TestClient(app, headers={"Authorization": f"Bearer {_token(db, 'alice')}"})


@pytest.mark.parametrize(("name", "value"), UNKNOWN)
def test_the_api_refuses_an_unknown_filter_value_with_400(api: TestClient, name: str, value: str) -> None:
    r = api.get("/api/v1/escalations", params={name: value})
    assert r.status_code == 400, r.text
    assert f"unknown {name} {value!r}" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "n"),
    [
        ({}, 2), ({"priority": "high"}, 1), ({"status": "all"}, 2), ({"category": "billing"}, 1),
        ({"brand": "Nimbus"}, 1), ({"source": "x-main"}, 1), ({"queue": "care"}, 1),
        # values the rules no longer name but stored escalations still carry
        ({"source": "old-source"}, 1), ({"brand": "Old brand"}, 1),
    ],
)
def test_known_values_still_filter(api: TestClient, params: dict[str, str], n: int) -> None:
    r = api.get("/api/v1/escalations", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == n


@pytest.mark.parametrize(("name", "value"), UNKNOWN)
def test_the_console_shows_why_the_filter_was_not_applied(client_for, db: Engine, name: str, value: str) -> None:
    add_escalation(db)
    agent = client_for("alice")
    for url in ("/queue", "/queue/rows"):
        r = agent.get(url, params={name: value})
        assert r.status_code == 400
        text = html.unescape(r.text)
        assert "Filter not applied" in text and f"unknown {name} {value!r}" in text
        assert "No signal since this morning" not in text  # no unfiltered rows behind the message
