"""Marketing's pages in a real headless chromium: an analyst opens the Reports page on the
bundled sample feed (time-shifted to now), downloads the HTML report and opens the file
on its own; a hostile mention is text everywhere and no dialog ever opens. Screenshots
(and the report printed to PDF) land in tests/artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from console.backfill import backfill
from console.web import create_app
from console.web.auth import create_user
from socialear.config import load_rules
from storage.engine import session_scope
from tests.console.conftest import PASSWORD
from tests.console.test_browser import ARTIFACTS, _watch, browser, serve  # noqa: F401

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = 'Arcwave <img src=x onerror=alert(1)><script>alert("x")</script> outage again'


@pytest.fixture
def demo(engine, tmp_path) -> Iterator[str]:
    """The sample feed through the real pipeline, then a hostile, much-liked post."""
    rules = load_rules(ROOT / "rules.yaml")
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text(json.dumps({"id": "x-evil", "platform": "x", "text": HOSTILE,
                                   "author": {"handle": "mallory", "followers": 250_000},
                                   "engagement": 9000, "url": "javascript:alert(1)"}) + "\n")
    with open(tmp_path / "progress.txt", "w") as progress:
        quiet = Console(file=progress)
        backfill(engine, rules, ROOT / "samples" / "mentions.jsonl", "sample", 500, quiet,
                 shift_to_now=True)
        backfill(engine, rules, hostile, "hostile", 10, quiet)
    with session_scope(engine) as s:
        create_user(s, "mia", PASSWORD, "analyst")
    with serve(create_app(engine, lambda: rules)) as url:
        yield url


def test_reports_page_and_the_html_report_file(demo, browser, tmp_path):  # noqa: F811
    base = demo
    dialogs: list[str] = []
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    _watch(page, dialogs, problems)

    page.goto(f"{base}/login")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/reports")  # an analyst lands on reports, not the queue
    assert page.locator("nav a", has_text="Queue").count() == 0

    # the report: charts, a spike card for Arcwave's outage, the hostile post as text
    assert page.locator(".rpt svg.chart").count() >= 4
    arcwave = page.locator(".rpt-spike", has_text="Arcwave")
    assert arcwave.count() >= 1 and "outage" in arcwave.first.inner_text()
    quote = page.locator(".rpt blockquote", has_text="onerror")
    assert quote.count() >= 1 and quote.first.inner_text() == HOSTILE
    assert page.locator(".rpt img, .rpt script").count() == 0
    assert page.locator('.rpt a[href^="javascript"]').count() == 0
    page.screenshot(path=str(ARTIFACTS / "reports_page.png"), full_page=True)

    # brand filter: only Arcwave and Telvio
    page.uncheck("input[name=brand][value='Nimbus Mobile']")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/reports?*brand=Arcwave*")
    assert page.locator(".rpt-summary tbody tr").count() == 2

    # mentions: competitors' included, searchable, the hostile one as text
    page.goto(f"{base}/mentions?brand=Arcwave&q=onerror")
    cell = page.locator("td.mention-text").first
    assert HOSTILE in cell.inner_text() and cell.locator("img").count() == 0
    page.goto(f"{base}/mentions?brand=Arcwave")
    page.screenshot(path=str(ARTIFACTS / "mentions_page.png"), full_page=False)
    page.goto(f"{base}/dashboard?range=7d")
    assert int(page.locator(".tile-num").first.inner_text()) > 100

    # the downloaded file, opened on its own: nothing fetched, hostile text still text
    page.goto(f"{base}/reports?since=30d")
    href = page.locator("a", has_text="Download HTML").get_attribute("href")
    response = ctx.request.get(base + href)
    assert response.ok and "attachment" in response.headers["content-disposition"]
    report_file = tmp_path / "competitor-report.html"
    report_file.write_bytes(response.body())
    offline = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)
    doc = offline.new_page()
    _watch(doc, dialogs, problems)
    requests: list[str] = []
    doc.on("request", lambda r: requests.append(r.url))
    doc.goto(report_file.as_uri())
    assert [u for u in requests if not u.startswith("file:")] == []
    assert doc.locator("svg.chart").count() >= 4
    assert doc.locator("blockquote", has_text="onerror").first.inner_text() == HOSTILE
    assert doc.locator("img, script").count() == 0
    doc.screenshot(path=str(ARTIFACTS / "report_html.png"), full_page=True)
    doc.emulate_media(media="print")
    doc.pdf(path=str(ARTIFACTS / "report.pdf"), format="A4", print_background=True)
    assert (ARTIFACTS / "report.pdf").stat().st_size > 20_000
    offline.close()
    ctx.close()

    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
