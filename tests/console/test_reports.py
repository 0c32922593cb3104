"""The competitor report against hand-counted fixtures (tests/reports/report_data.py), the
log-odds method on a fixture, the CLI's errors, and the API. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web.auth import create_api_token
from reports import EmptyPeriod, ReportError, build_competitor_report, resolve_period
from reports.formats import to_csv
from reports.logodds import distinctive_terms, log_odds_z
from socialear.terms import mention_terms
from storage.console_models import ConsoleUser
from storage.engine import session_scope
from tests.console.conftest import make_rules
from tests.reports.report_data import DAY, WEEK_END, WEEK_START, add_escalation, store

ROOT = Path(__file__).resolve().parents[2]


def _brand(report: dict, name: str) -> dict:
    return next(b for b in report["brands"] if b["name"] == name)


def test_share_of_voice_net_sentiment_and_drivers_match_hand_counts(engine: Engine) -> None:
    ids = store(engine)
    add_escalation(engine, ids[4], created=DAY.replace(hour=10), sla_due=DAY.replace(hour=10, minute=30),
                   replied=DAY.replace(hour=10, minute=20), categories=["outage"], queue="urgent")
    add_escalation(engine, ids[5], created=DAY.replace(hour=11), sla_due=DAY.replace(hour=13),
                   resolved=DAY.replace(hour=14), categories=["outage", "billing"])
    report = build_competitor_report(engine, make_rules(), start=WEEK_START, end=WEEK_END,
                                     now=WEEK_END + timedelta(days=1))
    assert report["period"] == {"from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z", "interval": "day"}
    nimbus, stratus = _brand(report, "Nimbus"), _brand(report, "Stratus")
    # Hand counts: Nimbus 6 mentions (3 +, 1 =, 2 -), engagement 40; Stratus 4 (0 +, 1 =, 3 -), 35.
    assert (nimbus["mentions"], stratus["mentions"]) == (6, 4)
    assert (nimbus["share_of_voice"], stratus["share_of_voice"]) == (0.6, 0.4)
    assert (nimbus["engagement"], stratus["engagement"]) == (40, 35)
    assert nimbus["engagement_share"] == round(40 / 75, 4) and stratus["engagement_share"] == round(35 / 75, 4)
    assert nimbus["sentiment"] == {"positive": 3, "neutral": 1, "negative": 2}
    assert stratus["sentiment"] == {"positive": 0, "neutral": 1, "negative": 3}
    assert nimbus["net_sentiment"] == 0.2 and stratus["net_sentiment"] == -1.0
    assert nimbus["competitor"] is False and stratus["competitor"] is True
    # Per platform: x 4 vs 3, reddit 2 vs 1.
    x = next(p for p in nimbus["platforms"] if p["platform"] == "x")
    reddit = next(p for p in nimbus["platforms"] if p["platform"] == "reddit")
    assert (x["mentions"], x["share_of_voice"]) == (4, round(4 / 7, 4))
    assert (reddit["mentions"], reddit["share_of_voice"], reddit["net_sentiment"]) == (2, round(2 / 3, 4), -1.0)
    # Drivers: Nimbus' 2 complaints both outage (share 1.0, up from 0), one billing (0.5,
    # down from 1.0: the week before had one complaint, billing).
    drivers = {d["category"]: d for d in nimbus["drivers"]}
    assert (drivers["outage"]["count"], drivers["outage"]["share"], drivers["outage"]["previous"],
            drivers["outage"]["change"]) == (2, 1.0, 0, 1.0)
    assert (drivers["billing"]["count"], drivers["billing"]["share"], drivers["billing"]["previous"],
            drivers["billing"]["previous_share"], drivers["billing"]["change"]) == (1, 0.5, 1, 1.0, -0.5)
    assert nimbus["drivers"][0]["category"] == "outage"
    # Series: one row a day, all of it on 3 November.
    assert len(nimbus["series"]) == 7
    day = next(s for s in nimbus["series"] if s["start"] == "2026-11-03T00:00:00Z")
    assert (day["mentions"], day["negative"], day["net_sentiment"]) == (6, 2, 0.2)
    assert sum(s["mentions"] for s in stratus["series"]) == 4
    # Top posts by engagement and by reach; top authors by followers.
    assert [p["engagement"] for p in nimbus["top_posts"][:3]] == [20, 10, 5]
    assert nimbus["top_posts"][0]["text"] == "no signal in leeds again"
    assert nimbus["top_posts_by_reach"][0]["followers"] == 9000
    assert nimbus["top_authors"][0]["followers"] == 9000 and nimbus["top_authors"][0]["negative"] == 1
    assert all(p["engagement"] != 99 for p in nimbus["top_posts"])  # after the period
    # Care: one reply in 20 min within SLA, one resolution after 3 h, past its SLA.
    care = report["care"]
    assert care["brands"] == ["Nimbus"] and care["escalations"] == 2 and care["responded"] == 2
    assert care["within_sla"] == 1 and care["breached_sla"] == 1 and care["within_sla_share"] == 0.5
    # Medians come from a x1.1 histogram: of two, the median lies between them, p90 near the larger.
    assert 20 * 60 <= care["first_response_median_s"] <= 3 * 3600
    assert care["first_response_p90_s"] == pytest.approx(3 * 3600, rel=0.1)
    assert {q["queue"]: q["within_sla_share"] for q in care["by_queue"]} == {"care": 0.0, "urgent": 1.0}
    outage = next(c for c in care["by_category"] if c["category"] == "outage")
    assert outage["escalations"] == 2
    # CSV: one row per brand per day, with the counts.
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == 14 and {r["brand"] for r in rows} == {"Nimbus", "Stratus"}
    third = next(r for r in rows if r["brand"] == "Nimbus" and r["start"].startswith("2026-11-03"))
    assert (third["mentions"], third["positive"], third["negative"]) == ("6", "3", "2")


def test_brand_filter_hours_and_errors(engine: Engine) -> None:
    store(engine)
    rules = make_rules()
    only = build_competitor_report(engine, rules, start=DAY, end=DAY + timedelta(days=1), brands=["stratus"])
    assert [b["name"] for b in only["brands"]] == ["Stratus"]
    assert only["brands"][0]["share_of_voice"] == 1.0 and only["care"] is None
    assert only["period"]["interval"] == "hour" and len(only["brands"][0]["series"]) == 24
    with pytest.raises(ReportError, match="unknown brand 'Cirrus'"):
        build_competitor_report(engine, rules, start=WEEK_START, end=WEEK_END, brands=["Cirrus"])
    with pytest.raises(EmptyPeriod, match="nothing to report"):
        build_competitor_report(engine, rules, start=WEEK_END + timedelta(days=30),
                                end=WEEK_END + timedelta(days=31))
    with pytest.raises(ReportError, match="--interval"):
        build_competitor_report(engine, rules, start=WEEK_START, end=WEEK_END, interval="month")


def test_periods_are_whole_hours() -> None:
    now = DAY.replace(hour=10, minute=17)
    assert resolve_period("2d", now=now) == (DAY.replace(hour=10) - timedelta(days=2), DAY.replace(hour=11))
    assert resolve_period(None, "2026-11-02", "2026-11-08", now=now) == (WEEK_START, WEEK_END)
    for bad in (("x", None, None), (None, "2026-02-30", None), (None, "2026-11-08", "2026-11-01"),
                ("2d", "2026-11-01", None), (None, None, None)):
        with pytest.raises(ReportError):
            resolve_period(*bad, now=now)


def test_log_odds_with_an_informative_prior_on_a_fixture() -> None:
    """A: complaints about signal; B: about billing; both say "phone" and "today" alike."""
    a = {"signal": 30, "no signal": 20, "phone": 50, "today": 40, "leeds": 4, "rare": 1}
    b = {"refund": 25, "charged twice": 20, "phone": 52, "today": 38, "signal": 2}
    z = log_odds_z(a, b)
    # The formula by hand for "signal": prior a_w = a0 * (32 / 334) with a0 = 334 (all counts).
    n_a, n_b, a0 = sum(a.values()), sum(b.values()), sum(a.values()) + sum(b.values())
    a_w = a0 * 32 / a0
    delta = math.log((30 + a_w) / (n_a + a0 - 30 - a_w)) - math.log((2 + a_w) / (n_b + a0 - 2 - a_w))
    assert z["signal"][0] == pytest.approx(delta / math.sqrt(1 / (30 + a_w) + 1 / (2 + a_w)))
    top = distinctive_terms(a, b, top=3)
    assert {t["term"] for t in top[:2]} == {"no signal", "signal"}
    assert all(t["term"] not in ("phone", "today") for t in top)  # frequent, not distinctive
    assert top[0]["significant"] is True
    # A raw-count ranking would have put "phone" first; the rare word is never reported.
    assert max(a, key=a.get) == "phone" and "rare" not in {t["term"] for t in distinctive_terms(a, b)}
    # Excluding a word (a brand name) drops the phrases that contain it too.
    assert all("signal" not in t["term"].split() for t in distinctive_terms(a, b, exclude={"signal"}))


def _cli(db_url: str, rules: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOCIALEAR_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "console.cli", "report", "competitors", "--rules", str(rules),
                           *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_cli_report_and_its_errors(engine: Engine, db_url: str, tmp_path: Path) -> None:
    store(engine)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "brands:\n  - {name: Nimbus, query: nimbus}\n  - {name: Stratus, query: stratus, competitor: true}\n"
        "queues: [care]\n"
    )
    ok = _cli(db_url, rules, "--from", "2026-11-02", "--to", "2026-11-08", "--brands", "Nimbus,Stratus")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert [b["share_of_voice"] for b in report["brands"]] == [0.6, 0.4]
    out = tmp_path / "r.csv"
    ok = _cli(db_url, rules, "--from", "2026-11-03", "--to", "2026-11-03", "--format", "csv", "--out", str(out))
    assert ok.returncode == 0 and "wrote the csv report" in ok.stderr
    assert out.read_text().splitlines()[0].startswith("brand,competitor,interval,start,mentions")
    for args, message in (
        (("--from", "2026-11-31"), "is not a date"),
        (("--since", "30d", "--brands", "Cirrus"), "unknown brand 'Cirrus'"),
        (("--from", "2025-01-01", "--to", "2025-01-31"), "nothing to report"),
        (("--since", "soon"), "--since"),
        (("--since", "7d", "--format", "pdf"), "--format must be one of"),
    ):
        bad = _cli(db_url, rules, *args)
        assert bad.returncode == 1, (args, bad.stdout)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in bad.stderr, bad.stderr
        assert bad.stdout == ""


def test_api_returns_the_same_report(db: Engine) -> None:
    store(db)
    with session_scope(db) as s:
        viewer = s.execute(sa.select(ConsoleUser).where(ConsoleUser.username == "vic")).scalar_one()  # type: ignore[arg-type]
        token = create_api_token(s, viewer, "t")
    from console.web import create_app
    from socialear.settings import Settings

    rules = make_rules()
    app = create_app(db, lambda: rules, settings=Settings())
    c = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    r = c.get("/api/v1/reports/competitors", params={"from": "2026-11-02", "to": "2026-11-08"})
    assert r.status_code == 200, r.text
    body = r.json()
    direct = build_competitor_report(db, rules, start=WEEK_START, end=WEEK_END)
    body.pop("generated_at"), direct.pop("generated_at")
    assert body == json.loads(json.dumps(direct))
    assert c.get("/api/v1/reports/competitors", params={"since": "7d", "brands": "Cirrus"}).status_code == 422
    assert c.get("/api/v1/reports/competitors", params={"from": "nope"}).status_code == 422
    empty = c.get("/api/v1/reports/competitors", params={"from": "2024-01-01", "to": "2024-01-02"})
    assert empty.status_code == 404 and "nothing to report" in empty.json()["detail"]
    assert TestClient(app).get("/api/v1/reports/competitors").status_code == 401


def test_mention_terms_are_words_and_phrases_without_stop_words() -> None:
    terms = mention_terms("@NimbusMobile No signal in Leeds since Monday!! https://x.co/a #outage the the")
    assert {"no signal", "signal", "leeds", "monday"} <= terms
    assert "the" not in terms and "in" not in terms and "nimbusmobile" not in terms and "outage" not in terms
    assert not any("http" in term for term in terms)
    assert mention_terms("") == set()
