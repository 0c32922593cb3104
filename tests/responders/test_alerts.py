"""Alert grouping (pure, fake clock) and the AlertSink with a fake notifier; no network."""

from __future__ import annotations

import apprise
import pytest

from responders.alerts import AlertGrouper, AppriseNotifier, defang, is_alert_worthy
from responders.sinks.alert import AlertSink
from socialear.errors import NotConfigured


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeNotifier:
    def __init__(self, ok: bool = True) -> None:
        self.sent: list[tuple[str, str]] = []
        self.ok = ok

    def __call__(self, title: str, body: str) -> bool:
        if self.ok:
            self.sent.append((title, body))
        return self.ok


def outage_payloads(make_payload, n: int = 200, negative: int = 142):
    return [
        make_payload(
            idempotency_key=f"esc-{i}",
            mention={"text": f"is Nimbus down? #{i}", "url": f"https://x.com/u{i}/status/{i}"},
            author={"handle": f"user{i}"},
            sentiment={"label": "negative" if i < negative else "neutral"},
        )
        for i in range(n)
    ]


def make_sink(send, clock, **options) -> AlertSink:
    return AlertSink("ops", AlertSink.Options(**options), send=send, clock=clock)


def test_200_alerts_become_one_message_with_counts(make_payload):
    clock, notifier = Clock(), FakeNotifier()
    sink = make_sink(notifier, clock)

    for payload in outage_payloads(make_payload):
        sink.deliver(payload)
        clock.now += 1  # 200 mentions over 200 s, inside one 5-minute window
    assert notifier.sent == []

    clock.now = 1000 + 300
    assert sink.flush() == 1

    [(title, body)] = notifier.sent
    assert title == "Nimbus Mobile · outage-urgent"
    assert body.startswith("Nimbus Mobile · outage-urgent: 200 mentions in 5 min (142 negative). Examples: ")
    assert body.count("is Nimbus down?") == 3
    assert "@user0: “is Nimbus down? #0” https://x.com/u0/status/0" in body
    assert sink.flush() == 0  # nothing left


def test_windows_are_per_route_and_brand(make_payload):
    clock = Clock()
    grouper = AlertGrouper(window_s=60, clock=clock)
    grouper.add(make_payload(idempotency_key="a"))
    grouper.add(make_payload(idempotency_key="b", brand="Nimbus Home"))
    grouper.add(make_payload(idempotency_key="c", route="security-breach"))
    grouper.add(make_payload(idempotency_key="a"))  # a retry of the same escalation: not counted
    clock.now += 60
    summaries = grouper.due()
    assert sorted((s.route, s.brand, s.count) for s in summaries) == [
        ("outage-urgent", "Nimbus Home", 1),
        ("outage-urgent", "Nimbus Mobile", 1),
        ("security-breach", "Nimbus Mobile", 1),
    ]
    assert summaries[0].body.endswith(
        "Examples: @jen_k: “@NimbusMobile no signal since 9am, third "
        "time this week. Switching carriers.” "
        "https://x.com/jen_k/status/1785000000000000001"
    )
    assert "1 mention in 1 min" in summaries[0].body


def test_a_window_that_is_not_due_stays_open_until_forced(make_payload):
    clock, notifier = Clock(), FakeNotifier()
    sink = make_sink(notifier, clock)
    sink.deliver(make_payload())
    clock.now += 299
    assert sink.flush() == 0
    assert sink.flush(force=True) == 1


def test_only_alert_worthy_payloads_count(make_payload):
    sink = make_sink(FakeNotifier(), Clock(), routes=["praise"])
    skipped = sink.deliver(make_payload(priority="high"))
    assert (skipped.external_ref, skipped.created) == (None, False)
    assert sink.deliver(make_payload(priority="low", route="praise")).created is True
    assert is_alert_worthy(make_payload(priority="high"), min_priority="high")


def test_failed_send_is_kept_for_the_next_flush(make_payload):
    clock, notifier = Clock(), FakeNotifier(ok=False)
    sink = make_sink(notifier, clock)
    sink.deliver(make_payload())
    clock.now += 300
    assert sink.flush() == 0
    notifier.ok = True
    assert sink.flush() == 1
    assert len(notifier.sent) == 1


def test_a_crashing_notifier_does_not_break_delivery(make_payload):
    def boom(title: str, body: str) -> bool:
        raise RuntimeError("smtp exploded")

    clock = Clock()
    sink = make_sink(boom, clock)
    sink.deliver(make_payload())
    clock.now += 300
    assert sink.deliver(make_payload(idempotency_key="x2")).created is True


def test_examples_are_defanged(hostile_text):
    safe = defang(hostile_text)
    assert len(safe) <= 140 and "\n" not in safe
    assert "<" not in safe and "\u202e" not in safe and "\u200b" not in safe and "\ud800" not in safe
    assert "@channel" not in defang("hey @channel look") and "channel" in defang("hey @channel")


def test_from_options_needs_urls():
    with pytest.raises(NotConfigured, match="alert sink 'ops': SOCIALEAR_ALERT_URLS is not set"):
        AlertSink.from_options("ops", {}, env={})


def test_from_options_refuses_an_unusable_url_without_echoing_it():
    with pytest.raises(NotConfigured) as info:
        AlertSink.from_options("ops", {}, env={"SOCIALEAR_ALERT_URLS": "json://localhost notaurl-secret"})
    assert "number 2" in str(info.value) and "secret" not in str(info.value)


def test_apprise_notifier_sends_through_apprise(monkeypatch, make_payload):
    calls: list[dict] = []

    def fake_notify(self, body, title="", **kwargs):
        calls.append({"body": body, "title": title, **kwargs})
        return True

    monkeypatch.setattr(apprise.Apprise, "notify", fake_notify)
    clock = Clock()
    sink = AlertSink.from_options(
        "ops",
        {"window_s": 60},
        env={"SOCIALEAR_ALERT_URLS": "slack://T1/B2/C3, mailto://u:p@example.com"},
    )
    assert len(sink._send) == 2
    sink.grouper._clock = clock
    sink.deliver(make_payload())
    clock.now += 60
    assert sink.flush() == 1
    assert calls[0]["title"] == "Nimbus Mobile · outage-urgent"
    assert calls[0]["body_format"] == apprise.NotifyFormat.TEXT


def test_apprise_notifier_reports_rejected_urls():
    notifier = AppriseNotifier(["json://localhost", "nope"])
    assert notifier.rejected == [2] and len(notifier) == 1
