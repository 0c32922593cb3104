"""A walk through the console in a real headless chromium (Debian's /usr/bin/chromium).

Sign in, filter the queue, claim in place, edit the reply (live count), save it, resolve;
a second browser context sees the collision; a mention carrying an <img onerror> payload
renders as text and no dialog ever opens. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from console.web import create_app
from responders.publish import PipelineResponders
from tests.console.conftest import PASSWORD, XSS, add_escalation

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db, rules) -> Iterator[str]:
    with serve(create_app(db, lambda: rules)) as url:
        yield url


@contextlib.contextmanager
def serve(app: object) -> Iterator[str]:
    """The console app on a free loopback port in a uvicorn thread, for the real browser."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )
        yield b
        b.close()


def _watch(page, dialogs: list[str], problems: list[str]) -> None:
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue")


def test_walkthrough(server, browser, db):
    base = server
    xss = add_escalation(db, XSS, priority="urgent", handle="mallory",
                         sla_in=timedelta(minutes=3))
    target = add_escalation(db, "No signal in Leeds since 9am, I work from home!! @NimbusMobile",
                            priority="high", handle="dana_leeds", followers=48_200)
    add_escalation(db, "Charged twice for October, second time this year", queue="billing",
                   categories=["billing"], handle="sam_k", sla_in=timedelta(minutes=-4))
    for i in range(6):
        add_escalation(db, f"Mast down near the station again? day {i}", handle=f"commuter{i}",
                       priority=["normal", "low"][i % 2], sla_in=timedelta(hours=1 + i))
    dialogs: list[str] = []
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    alice_ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    alice = alice_ctx.new_page()
    _watch(alice, dialogs, problems)
    _sign_in(alice, base, "alice")

    # the XSS mention is in the queue as text
    row = alice.locator(f"#row-{xss} .snippet")
    assert row.inner_text() == XSS
    assert alice.locator(f"#row-{xss} img").count() == 0
    alice.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

    # filter: the filters end up in the URL, so a reload (or the 15 s refresh) keeps them
    alice.fill("input[name=q]", "leeds")
    alice.click(".filters button[type=submit]")
    alice.wait_for_url("**/queue?q=leeds*")
    assert alice.locator("#queue-rows tr[id^=row-]").count() == 1

    # claim in place (htmx swaps only the row)
    alice.locator(f"#row-{target} button", has_text="Claim").click()
    alice.wait_for_selector(f"#row-{target} .status-claimed")
    assert "q=leeds" in alice.url

    # open it, edit the reply, watch the count, save
    alice.click(f"#row-{target} a.row-link")
    alice.wait_for_url(f"**/escalations/{target}")
    editor = alice.locator("#reply-text")
    editor.fill("Hi Dana, sorry about the outage in Leeds. Engineers are on site; "
                "we'll DM you an update within the hour.")
    count = alice.locator("#reply-count").inner_text()
    assert count.endswith("/ 280") and not count.startswith("–")
    alice.click(".reply-form button[type=submit]")
    alice.wait_for_selector("#sent-reply-text")
    assert "Engineers are on site" in alice.locator("#sent-reply-text").inner_text()
    alice.screenshot(path=str(ARTIFACTS / "escalation.png"), full_page=True)

    # a second agent sees who holds it, and cannot claim without taking over
    bob_ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    bob = bob_ctx.new_page()
    _watch(bob, dialogs, problems)
    _sign_in(bob, base, "bob")
    bob.goto(f"{base}/escalations/{target}")
    holder = bob.locator("#holder .holder-who.other")
    assert "alice is working on this" in holder.inner_text()
    assert bob.locator("#holder button", has_text="Take over from alice").is_visible()
    assert bob.locator(".reply-form button[type=submit]").is_disabled()
    bob.screenshot(path=str(ARTIFACTS / "collision.png"), full_page=True)

    # alice resolves it
    alice.fill("input[name=resolution]", "Outage fixed, customer informed")
    alice.click("form[action$='/resolve'] button:not(#resolve-next)")
    alice.wait_for_selector("h1 .status-resolved")

    # the XSS escalation page: text, not markup, and no dialog
    alice.goto(f"{base}/escalations/{xss}")
    assert alice.locator("#mention-text").inner_text() == XSS
    assert alice.locator("#mention-text img").count() == 0
    alice.wait_for_timeout(300)

    for path in ("/dashboard", "/sources", "/rules"):
        alice.goto(base + path)
        assert alice.locator("h1").count() == 1
    # the API docs come from the bundled Swagger UI (no CDN) and run under the CSP
    alice.goto(f"{base}/docs")
    alice.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    alice_ctx.close()
    bob_ctx.close()

    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], \
        problems
    assert (ARTIFACTS / "queue.png").exists() and (ARTIFACTS / "escalation.png").exists()


def _ingest(engine, *posts) -> None:
    """Posts through the real pipeline (scoring, routing, cases), as a poll would; the
    rules are the pipeline tests' plus a route for platinum customers (test_customers)."""
    from datetime import UTC, datetime

    from listener.pipeline import Pipeline
    from listener.types import Author, Batch, Mention
    from tests.console.test_customers import _rules

    rules = _rules()
    mentions = [Mention(source="feed", platform="x", external_id=ext, text=text,
                        created_at=datetime.now(UTC), author=Author(platform="x", handle=handle),
                        **extra) for ext, handle, text, extra in posts]
    Pipeline(engine, lambda: rules, responders=PipelineResponders()).process("feed", Batch(mentions, next_cursor=None), None)


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    box = page.locator("button", has_text="Sign out").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_care_at_speed(server, browser, db):
    """Bulk dismiss, keyboard triage of five items, a case growing from a follow-up, the
    new-urgent notice and the phone-width layout."""
    import sqlalchemy as sa

    from storage.models import Escalation

    base = server
    noise = [add_escalation(db, f"spam spam {i} nimbus", handle=f"bot{i}", priority="low",
                            sla_in=timedelta(hours=9)) for i in range(2)]
    triage = [add_escalation(db, f"Item {i}: still no signal @NimbusMobile", handle=f"t{i}",
                             priority="high", urgency=90 - i) for i in range(6)]
    dialogs: list[str] = []
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    page = ctx.new_page()
    _watch(page, dialogs, problems)
    _sign_in(page, base, "alice")

    # bulk dismiss with a reason
    for esc_id in noise:
        page.check(f"#row-{esc_id} input[type=checkbox]")
    page.select_option("#bulk-form select[name=action]", "dismiss")
    page.select_option("#bulk-form select[name=reason]", "spam")
    page.click("#bulk-form button[type=submit]")
    page.wait_for_selector(".flash.notice >> text=Dismissed 2 items.")
    assert page.locator(f"#row-{noise[0]}").count() == 0
    page.screenshot(path=str(ARTIFACTS / "bulk-dismiss.png"), full_page=True)

    # keyboard: the help overlay, then triage five items without the mouse
    page.keyboard.press("?")
    assert page.locator("#kbd-help").is_visible()
    page.screenshot(path=str(ARTIFACTS / "keyboard-help.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#kbd-help").is_visible()
    first = page.locator("#queue-rows tr.kbd-focus").get_attribute("data-id")
    assert first == str(triage[0])  # urgency 90 is first among the high ones
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("c")  # claim in place
    page.wait_for_selector(f"#row-{triage[0]} .status-claimed")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/escalations/{triage[0]}")
    for expected in triage[1:5]:  # e: resolve and next, five times in all
        page.keyboard.press("e")
        page.wait_for_url(f"**/escalations/{expected}")
    page.keyboard.press("e")
    page.wait_for_url(f"**/escalations/{triage[5]}")
    with db.connect() as conn:
        et = Escalation.__table__
        done = conn.execute(sa.select(et.c.id).where(et.c.status == "resolved")).scalars().all()
    assert sorted(done) == sorted(triage[:5])

    # a case grows from a follow-up post: one queue item, the follow-up on its page
    _ingest(db, ("b1", "ben_t", "Nimbus charged twice this month, awful.", {}))
    with db.connect() as conn:
        head = conn.execute(sa.select(et.c.id).order_by(et.c.id.desc()).limit(1)).scalar_one()
    page.goto(f"{base}/escalations/{head}")
    assert "1 post" in page.locator("#case h2").inner_text()
    _ingest(db, ("b2", "ben_t", "@NimbusMobile still charged twice and now no signal at all, awful",
                 {"in_reply_to": "b1"}))
    page.reload()
    assert "2 posts" in page.locator("#case h2").inner_text()
    assert "now no signal at all" in page.locator("#case").inner_text()
    page.screenshot(path=str(ARTIFACTS / "case.png"), full_page=True)
    assert page.locator("#case .pill.follow-up").count() == 1
    with db.connect() as conn:
        follow = conn.execute(sa.select(et.c.id).order_by(et.c.id.desc()).limit(1)).scalar_one()
    page.goto(f"{base}/escalations/{follow}")  # the follow-up says so, and where it is worked
    assert page.locator("h1 .status-follow-up").inner_text() == "follow-up"
    assert page.locator(f"a[href='/escalations/{head}']").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "follow-up.png"), full_page=True)
    page.goto(f"{base}/queue")
    assert "2 posts" in page.locator(f"#row-{head}").inner_text().lower()

    # a new urgent item is announced without a reload, and the tab title counts them
    page.goto(f"{base}/queue")
    page.wait_for_load_state("networkidle")  # the first pulse: what "new" is measured from
    late = add_escalation(db, "URGENT: cannot call emergency services @NimbusMobile",
                          handle="erin", priority="urgent", urgency=86)
    page.wait_for_selector("#urgent-notice:not([hidden])", timeout=20_000)
    page.wait_for_selector(f"#row-{late}", timeout=20_000)
    assert page.title().startswith("(")
    page.screenshot(path=str(ARTIFACTS / "urgent-notice.png"), full_page=True)

    # a platinum customer's post jumps the queue (customer directory + a segment route)
    from console.customers_io import import_csv

    directory = ARTIFACTS / "customers.csv"
    directory.write_text("customer_id,platform,handle,segment\nC-1,x,plat_pam,platinum\n")
    import_csv(db, directory)
    page = ctx.new_page()
    _watch(page, dialogs, problems)
    _ingest(db, ("pp1", "plat_pam", "Nimbus charged twice this month, awful.", {}),
            ("pp2", "plain_paul", "Nimbus charged twice this month, awful.", {}))
    page.goto(f"{base}/queue?sort=urgency")
    order = page.eval_on_selector_all(
        "#queue-rows tr[data-id]", "rows => rows.map(r => [r.querySelector('.handle').textContent, r.className])")
    handles = [h for h, _ in order]
    pam, paul = handles.index("@plat_pam"), handles.index("@plain_paul")
    first_high = next(i for i, (_, cls) in enumerate(order) if "prio-urgent" not in cls)
    assert pam < first_high < paul, order  # the same words: platinum is urgent, others wait
    top = page.locator("#queue-rows tr[data-id]").nth(pam)
    page.screenshot(path=str(ARTIFACTS / "platinum-first.png"), full_page=True)
    top.locator("a.row-link").click()
    page.wait_for_selector("#customer")
    assert "Customer C-1" in page.locator("#customer").inner_text()
    ctx.close()

    # phone width: nothing wider than the screen, Sign out reachable
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    p = phone.new_page()
    _watch(p, dialogs, problems)
    _sign_in(p, base, "alice")
    _fits(p, 390)
    p.screenshot(path=str(ARTIFACTS / "phone-queue.png"), full_page=True)
    p.goto(f"{base}/escalations/{head}")
    _fits(p, 390)
    p.screenshot(path=str(ARTIFACTS / "phone-escalation.png"), full_page=True)
    for path in ("/dashboard", "/sources", "/rules", "/nope"):
        p.goto(base + path)
        _fits(p, 390)
    phone.close()

    # a lead picks a period on the team view; the dashboard shows the same period
    lead = browser.new_context(viewport={"width": 1360, "height": 900})
    q = lead.new_page()
    _watch(q, dialogs, problems)
    _sign_in(q, base, "lena")
    q.goto(f"{base}/team")
    q.click("nav[aria-label=Period] >> text=Last 30 days")
    q.wait_for_url("**/team?period=30d")
    q.screenshot(path=str(ARTIFACTS / "team-period.png"), full_page=True)
    q.goto(f"{base}/dashboard")
    assert q.locator("nav[aria-label=Period] a.active").inner_text() == "Last 30 days"
    lead.close()
    assert dialogs == [] and not [x for x in problems if "Refused" in x], problems
