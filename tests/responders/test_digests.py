"""Scheduled reports (`reports:`): validation with PATH:LINE:COL, sending through real
apprise to a loopback HTTP server (its json:// notifier), the schedule, retries with
backoff visible in source health, replicas, and `socialear report send`."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from console.health import source_rows
from responders.digests import DigestError, DigestRunner, current_slot, digest_health
from socialear.config import Brand, ReportDigest, RulesConfig, parse_rules_text
from socialear.errors import ConfigError
from storage import rollups
from storage.engine import make_engine, session_scope
from storage.models import Mention

MONDAY_8 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
XSS = "<img src=x onerror=alert(1)>"


class Inbox:
    """A loopback HTTP endpoint for apprise's json:// notifier; `status` decides success."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status = 200
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if inbox.status == 200:
                    inbox.messages.append(json.loads(body))
                self.send_response(inbox.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides the package's guard: loopback only (the Inbox), anything else fails."""
    import socket

    real = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        if not (isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1")):
            raise RuntimeError(f"network access in a test: {address!r}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)


@pytest.fixture
def inbox():
    box = Inbox()
    yield box
    box.close()


def make_rules(url: str, fmt: str = "auto", period: str = "7d", **kw: Any) -> RulesConfig:
    return RulesConfig(
        brands=[Brand(name="Nimbus", query="nimbus"),
                Brand(name="Stratus", query="stratus", competitor=True)],
        console_url="http://127.0.0.1:8000",
        reports=[ReportDigest(name="weekly", schedule="0 8 * * MON", period=period,
                              recipients=[url], format=fmt, **kw)],
    )


def seed(engine) -> None:
    rows = []
    for i in range(30):
        brand = "Nimbus" if i % 3 else "Stratus"
        rows.append(Mention(source="t", platform="x", external_id=f"m{i}",
                            text=f"{brand} no signal {i} {XSS if i == 3 else ''}",
                            created_at=MONDAY_8 - timedelta(hours=2 + i * 3), brand=brand,
                            brands=[brand], competitor=brand == "Stratus",
                            sentiment_label="negative" if i % 2 else "positive",
                            engagement=1000 if i == 3 else i, url=f"https://x.com/u/status/{i}"))
    with session_scope(engine) as s:
        s.add_all(rows)
    with engine.begin() as conn:
        rollups.rebuild(conn)


def runner(engine, rules: RulesConfig, at: list[datetime], name: str = "r1") -> DigestRunner:
    return DigestRunner(engine, lambda: rules, name, clock=lambda: at[0], env={})


# ------------------------------------------------------------------ validation
def test_reports_section_is_validated_with_positions() -> None:
    text = """\
brands:
  - {name: Nimbus, query: nimbus}
reports:
  - name: weekly
    schedule: "0 8 * * MONDAYS"
    brands: [Nimbus, Nope]
    recipients: ["not a url at all"]
  - name: daily
    schedule: "0 7 * * *"
    period: 1d
  - name: extra
    schedule: "0 7 * * *"
    recipients_env: X
    colour: blue
"""
    with pytest.raises(ConfigError) as exc:
        parse_rules_text(text, "r.yaml")
    lines = exc.value.errors if hasattr(exc.value, "errors") else str(exc.value).splitlines()
    joined = "\n".join(lines)
    assert "r.yaml:5:15: " in joined and "invalid cron expression" in joined
    assert "r.yaml:14:5" in joined and "colour" in joined


def test_cross_checks_name_unknown_brands_missing_and_unusable_recipients() -> None:
    text = """\
brands:
  - {name: Nimbus, query: nimbus}
reports:
  - name: weekly
    schedule: "0 8 * * MON"
    brands: [Nimbus, Nope]
    recipients: ["slack://T000/B000/XXXX", "not a url at all"]
  - name: daily
    schedule: "0 7 * * *"
"""
    with pytest.raises(ConfigError) as exc:
        parse_rules_text(text, "r.yaml")
    joined = str(exc.value)
    assert "r.yaml:6:13: reports[0].brands: unknown brand 'Nope'" in joined
    assert "reports[0].recipients[1]: apprise cannot use this URL" in joined
    assert "not a url at all" not in joined  # a URL may hold a secret: never echoed
    assert "reports[1]: needs `recipients`" in joined


def test_shipped_rules_have_a_valid_reports_section() -> None:
    from pathlib import Path

    cfg = parse_rules_text(Path("rules.yaml").read_text(encoding="utf-8"))
    assert cfg.reports and cfg.reports[0].schedule


# ------------------------------------------------------------------ sending
def test_chat_gets_a_summary_with_a_link(engine, inbox) -> None:
    seed(engine)
    at = [MONDAY_8 + timedelta(seconds=30)]
    assert runner(engine, make_rules(inbox.url), at).tick() == ["weekly"]
    (msg,) = inbox.messages
    assert "Competitor report" in msg["title"]
    body = msg["message"]
    assert "Nimbus:" in body and "Stratus (competitor)" in body and "share of voice" in body
    assert "http://127.0.0.1:8000/reports?since=7d" in body
    assert not msg.get("attachments")


def test_email_gets_the_html_report_inline_and_attached(engine, inbox) -> None:
    seed(engine)
    at = [MONDAY_8 + timedelta(seconds=30)]
    runner(engine, make_rules(inbox.url, fmt="html"), at).tick()
    (msg,) = inbox.messages
    assert msg["message"].startswith("<!doctype html>") and "<svg" in msg["message"]
    (att,) = msg["attachments"]
    html = base64.b64decode(att["base64"]).decode()
    assert att["filename"].endswith(".html") and "<svg" in html and "<script" not in html
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_email_urls_get_html_and_chat_urls_a_summary() -> None:
    from responders.digests import wants_html

    d = ReportDigest(name="w", schedule="0 8 * * MON", recipients=["mailto://a:b@example.invalid"])
    assert wants_html("mailtos://u:p@example.invalid", d) and not wants_html("slack://a/b/c", d)


def test_schedule_sends_each_slot_once(engine, inbox) -> None:
    seed(engine)
    at = [MONDAY_8 - timedelta(minutes=1)]
    r = runner(engine, make_rules(inbox.url, period="14d"), at)
    assert r.tick() == []  # not yet; the previous slot is a week ago, past the grace
    at[0] = MONDAY_8 + timedelta(seconds=20)
    assert r.tick() == ["weekly"]
    at[0] = MONDAY_8 + timedelta(minutes=1)
    assert r.tick() == [] and len(inbox.messages) == 1
    at[0] = MONDAY_8 + timedelta(days=7, seconds=5)
    assert r.tick() == ["weekly"] and len(inbox.messages) == 2


def test_a_failed_send_is_retried_with_backoff_and_shows_in_source_health(engine, inbox) -> None:
    seed(engine)
    rules = make_rules(inbox.url)
    at = [MONDAY_8 + timedelta(seconds=30)]
    r = runner(engine, rules, at)
    inbox.status = 500
    assert r.tick() == []
    (health,) = digest_health(engine, rules)
    assert health["status"] == "failing" and health["attempts"] == 1
    assert "recipient(s) 1 of 1 could not be reached" in health["last_error"]
    retry_at = health["next_attempt_at"]
    assert retry_at > at[0]
    row = next(x for x in source_rows(engine, rules) if x["name"] == "report:weekly")
    assert row["status"].startswith("failing (attempt 1") and "could not be reached" in row["last_error"]
    inbox.status = 200
    at[0] = retry_at - timedelta(seconds=1)
    assert r.tick() == [] and inbox.messages == []  # still backing off
    at[0] = retry_at + timedelta(seconds=1)
    assert r.tick() == ["weekly"] and len(inbox.messages) == 1
    (health,) = digest_health(engine, rules)
    assert health["status"] == "ok" and health["sent_total"] == 1


def test_two_replicas_send_a_slot_once(engine, db_url, inbox) -> None:
    seed(engine)
    rules = make_rules(inbox.url)
    at = [MONDAY_8 + timedelta(seconds=30)]
    engines = [make_engine(db_url), make_engine(db_url)]
    runners = [runner(e, rules, at, f"replica-{i}") for i, e in enumerate(engines)]
    barrier = threading.Barrier(2)
    sent: list[list[str]] = [[], []]

    def go(i: int) -> None:
        barrier.wait()
        for _ in range(3):
            sent[i] += runners[i].tick()

    threads = [threading.Thread(target=go, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for e in engines:
        e.dispose()
    assert sent[0] + sent[1] == ["weekly"] and len(inbox.messages) == 1


def test_empty_period_is_a_clear_failure(engine, inbox) -> None:
    rules = make_rules(inbox.url)
    with pytest.raises(DigestError, match=r"nothing to report|no mentions"):
        runner(engine, rules, [MONDAY_8]).send_now("weekly")
    assert digest_health(engine, rules)[0]["status"] == "failing"


def test_current_slot() -> None:
    assert current_slot("0 8 * * MON", MONDAY_8 + timedelta(hours=1), MONDAY_8 - timedelta(days=8)) == MONDAY_8
    assert current_slot("0 8 * * MON", MONDAY_8 - timedelta(hours=1), MONDAY_8 - timedelta(days=2)) is None


# ------------------------------------------------------------------ CLI
def test_report_send_cli(engine, db_url, inbox, tmp_path) -> None:

    seed(engine)
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""\
brands:
  - {{name: Nimbus, query: nimbus}}
  - {{name: Stratus, query: stratus, competitor: true}}
reports:
  - name: weekly
    schedule: "0 8 * * MON"
    period: 3650d
    recipients: ["{inbox.url}"]
""", encoding="utf-8")
    import os
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALEAR_")}
        return subprocess.run([sys.executable, "-m", "console.cli", "report", "send", *args,
                               "--rules", str(rules), "--database-url", db_url],
                              capture_output=True, text=True, env=env, timeout=180)

    ok = cli("weekly")
    assert ok.returncode == 0, ok.stderr
    assert "sent report 'weekly' to 1 recipient(s)" in ok.stdout and len(inbox.messages) == 1
    bad = cli("monthly")
    assert bad.returncode != 0 and "no report named 'monthly'" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
