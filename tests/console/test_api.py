"""The JSON API with bearer tokens: the same actions and rules as the pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web.auth import create_api_token
from storage.console_models import ApiToken, ConsoleUser
from storage.engine import session_scope
from tests.console.conftest import XSS, add_escalation


def _token(engine: Engine, username: str) -> str:
    with session_scope(engine) as s:
        user = s.execute(sa.select(ConsoleUser).where(
            ConsoleUser.username == username)).scalar_one()  # type: ignore[arg-type]
        return create_api_token(s, user, "test")


@pytest.fixture
def api(app, db):
    def make(username: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {_token(db, username)}"})

    return make


def test_bad_token_is_401(app):
    c = TestClient(app, headers={"Authorization": "Bearer se_nope"})
    assert c.get("/api/v1/escalations").status_code == 401


def test_token_is_stored_hashed_and_touched(api, db):
    c = api("alice")
    assert c.get("/api/v1/me").json() == {"username": "alice", "role": "agent"}
    with session_scope(db) as s:
        tok = s.execute(sa.select(ApiToken)).scalars().first()
        assert tok is not None and len(tok.token_hash) == 64 and tok.last_used is not None


def test_list_and_get(api, db):
    a = add_escalation(db, XSS, priority="urgent")
    add_escalation(db, "second", queue="billing")
    c = api("vic")
    page = c.get("/api/v1/escalations").json()
    assert page["total"] == 2 and page["items"][0]["id"] == a
    assert page["items"][0]["text"] == XSS  # JSON carries the text verbatim
    assert c.get("/api/v1/escalations", params={"queue": "billing"}).json()["total"] == 1
    detail = c.get(f"/api/v1/escalations/{a}").json()
    assert detail["mention"]["text"] == XSS
    assert detail["decision"]["route"] == "outage-complaints"
    assert detail["author"]["followers"] == 1200


def test_actions_and_permissions(api, db):
    esc = add_escalation(db)
    alice, bob, lead, viewer = api("alice"), api("bob"), api("lena"), api("vic")
    assert viewer.post(f"/api/v1/escalations/{esc}/claim").status_code == 403
    assert alice.post(f"/api/v1/escalations/{esc}/assign",
                      json={"assignee": "bob"}).status_code == 403
    r = alice.post(f"/api/v1/escalations/{esc}/claim")
    assert r.status_code == 200 and r.json()["status"] == "claimed"
    r = bob.post(f"/api/v1/escalations/{esc}/claim")
    assert r.status_code == 409 and "alice" in r.json()["detail"]
    assert bob.post(f"/api/v1/escalations/{esc}/reply", json={"text": "hi"}).status_code == 409
    r = bob.post(f"/api/v1/escalations/{esc}/claim", json={"take_over": True})
    assert r.status_code == 200 and r.json()["assignee"] == "bob"
    r = bob.post(f"/api/v1/escalations/{esc}/reply", json={"text": "On it"})
    assert r.status_code == 200 and r.json()["reply_text"] == "On it"
    assert bob.post(f"/api/v1/escalations/{esc}/notes", json={"text": "n"}).status_code == 201
    r = lead.post(f"/api/v1/escalations/{esc}/assign", json={"assignee": "alice"})
    assert r.status_code == 200 and r.json()["assignee"] == "alice"
    assert alice.post(f"/api/v1/escalations/{esc}/dismiss",
                      json={"reason": "nonsense"}).status_code == 422
    r = alice.post(f"/api/v1/escalations/{esc}/dismiss", json={"reason": "wrong_sentiment"})
    assert r.status_code == 200 and r.json()["label"] == "wrong_sentiment"
    r = alice.post(f"/api/v1/escalations/{esc}/resolve", json={})
    assert r.status_code == 409


def test_openapi_lists_the_api(api):
    c = api("vic")
    spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/api/v1/escalations", "/api/v1/escalations/{escalation_id}/claim",
              "/api/v1/escalations/{escalation_id}/assign",
              "/api/v1/escalations/{escalation_id}/reply",
              "/api/v1/escalations/{escalation_id}/resolve",
              "/api/v1/escalations/{escalation_id}/dismiss",
              "/api/v1/escalations/{escalation_id}/notes"):
        assert p in paths, p
    assert not any(p.startswith("/escalations") for p in paths)  # HTML routes hidden
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


@pytest.mark.parametrize("body", ['{"text": "called them\\u0000"}', '{"text": "on it \\ud83d"}'])
def test_a_nul_or_half_an_emoji_is_a_clear_422(api, db, body):
    """PostgreSQL refuses NUL (a 500 on PostgreSQL), and a lone surrogate made FastAPI's
    own 422 fail to encode (a 500 everywhere): now both are a 422 that says what is wrong,
    and nothing is stored (on SQLite and PostgreSQL)."""
    esc = add_escalation(db)
    alice = api("alice")
    assert alice.post(f"/api/v1/escalations/{esc}/claim").status_code == 200
    headers = {"Content-Type": "application/json"}
    for path in ("notes", "reply"):
        r = alice.post(f"/api/v1/escalations/{esc}/{path}", content=body, headers=headers)
        assert r.status_code == 422, r.text
        if "u0000" in body:  # ours: the actions refuse a NUL
            assert "NUL or a broken character" in r.json()["detail"]
        else:  # pydantic's: the request body is not valid text
            assert r.json()["detail"][0]["type"] == "string_unicode"
    r = alice.post(f"/api/v1/escalations/{esc}/dismiss", headers=headers,
                   content=body.replace('"text"', '"reason": "spam", "note"'))
    assert r.status_code == 422
    detail = alice.get(f"/api/v1/escalations/{esc}").json()
    assert detail["status"] == "claimed" and not detail.get("reply_text")
