"""Console fixtures: a migrated database with users and escalations, and an ASGI client.

The data is written straight into the storage tables (not through the pipeline), so the
console is tested on exactly the rows it will meet: a mention, its author, an escalation
with a routing decision.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web import auth, create_app
from console.web.auth import create_user
from socialear.config import Brand, Category, RulesConfig, SinkConfig, SourceConfig
from socialear.settings import Settings
from storage.engine import session_scope
from storage.models import PRIORITY_RANK, Author, Escalation, Mention
from storage.types import utcnow

PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)>"
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: the tests check the flow, not the cost."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))


def make_rules() -> RulesConfig:
    return RulesConfig(
        brands=[Brand(name="Nimbus", query="nimbus", handles={"x": "NimbusMobile"}),
                Brand(name="Stratus", query="stratus", competitor=True)],
        sources=[SourceConfig(name="x-main", type="x",
                              options={"bearer_token": "sekrit-token-value", "query": "nimbus"}),
                 SourceConfig(name="reddit", type="reddit", options={"subreddits": ["nimbus"]})],
        categories=[Category(name="outage", severity=5, phrases=["no signal"]),
                    Category(name="billing", severity=3, phrases=["charged twice"])],
        queues=["care", "billing"],
        sinks=[SinkConfig(name="hook", type="webhook",
                          options={"url": "http://127.0.0.1:9/hook", "secret": "hmac-secret-xyz"})],
    )


def add_escalation(engine: Engine, text: str = "No signal since this morning @NimbusMobile",
                   *, handle: str | None = None, priority: str = "normal", queue: str = "care",
                   status: str = "open", assignee: str | None = None, platform: str = "x",
                   source: str = "x-main", brand: str = "Nimbus",
                   categories: list[str] | None = None, sla_in: timedelta = timedelta(hours=2),
                   followers: int = 1200, url: str | None = "https://x.com/a/status/1",
                   suggested: str = "Sorry to hear that! Please DM us your account number.",
                   urgency: int = 71, age: timedelta = timedelta(minutes=10),
                   ) -> int:
    """Insert author + mention + escalation; returns the escalation id."""
    n = next(_seq)
    now = utcnow()
    with session_scope(engine) as s:
        author = Author(platform=platform, handle=handle or f"user{n}", name=f"User {n}",
                        followers=followers, verified=n % 2 == 0)
        s.add(author)
        s.flush()
        m = Mention(source=source, platform=platform, external_id=f"ext-{n}", text=text,
                    url=url, author_id=author.id, brand=brand, brands=[brand],
                    sentiment_label="negative", sentiment_compound=-0.62, urgency=urgency,
                    categories=categories if categories is not None else ["outage"],
                    scoring={"urgency_signals": {"negativity": 20, "severity": 20}},
                    created_at=now - timedelta(minutes=10))
        s.add(m)
        s.flush()
        esc = Escalation(
            mention_id=m.id or 0, idempotency_key=f"k-{n}", route="outage-complaints",
            queue=queue, priority=priority, priority_rank=PRIORITY_RANK[priority],
            status=status, assignee=assignee, claimed_at=now if assignee else None,
            sla_due=now + sla_in, created_at=now - age,
            suggested_reply=suggested,
            decision=_decision(),
        )
        s.add(esc)
        s.flush()
        return int(esc.id or 0)


def _decision() -> dict[str, Any]:
    return {
        "route": "outage-complaints", "matched": True, "escalate": True, "queue": "care",
        "priority": "normal", "reply_template": "outage", "tags": ["outage"], "alert": False,
        "trace": [{"route": "outage-complaints", "matched": True, "conditions": [
            {"condition": "sentiment", "expected": ["negative"], "actual": "negative",
             "ok": True},
            {"condition": "categories", "expected": ["outage"], "actual": ["outage"],
             "ok": True}]}],
        "score": {"sentiment": {"label": "negative", "compound": -0.62,
                                "reasons": ["no signal (-2.1)"]},
                  "categories": ["outage"], "urgency": 71,
                  "urgency_signals": {"negativity": 20, "severity": 20, "reach": 3},
                  "language": "en", "language_supported": True, "question": False},
        "repeat_contact": 0,
    }


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The migrated database with four users: two agents, a lead and a viewer."""
    with session_scope(engine) as s:
        for name, role in (("alice", "agent"), ("bob", "agent"), ("lena", "lead"),
                           ("vic", "viewer")):
            create_user(s, name, PASSWORD, role)
    return engine


class Client:
    """A signed-in (or not) browser-like client that knows its CSRF token."""

    def __init__(self, app: Any):
        self.http = TestClient(app, follow_redirects=False)
        self.csrf = ""

    def login(self, username: str, password: str = PASSWORD) -> Any:
        page = self.http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        response = self.http.post("/login", data={"username": username, "password": password,
                                                  "csrf": token.group(1), "next": "/queue"})
        if response.status_code == 303:
            queue = self.http.get("/queue")
            found = re.search(r'name="csrf" value="([^"]+)"', queue.text)
            self.csrf = found.group(1) if found else ""
        return response

    def post(self, url: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.http.post(url, data={"csrf": self.csrf, **(data or {})}, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)


@pytest.fixture
def rules() -> RulesConfig:
    return make_rules()


@pytest.fixture
def app(db: Engine, rules: RulesConfig) -> Any:
    return create_app(db, lambda: rules, settings=Settings())


@pytest.fixture
def client_for(app: Any) -> Iterator[Any]:
    clients: list[Client] = []

    def make(username: str | None = None) -> Client:
        c = Client(app)
        if username:
            assert c.login(username).status_code == 303
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.http.close()
