"""Scheduled competitor reports (`reports:` in rules.yaml), sent through apprise.

What goes out: to an email recipient (mailto://, mailtos://, sendgrid://, ...) the whole
HTML report, as the message and as an attached file that opens offline; to a chat
recipient (slack://, msteams://, ...) a few lines (share of voice, net sentiment, spikes)
and a link to the console's Reports page with the same period and brands. `format: html`
or `summary` overrides the choice for every recipient of a digest.

When: `DigestRunner.tick()` runs every minute in the service. A digest is due when its
cron schedule (UTC) has fired since the slot it last sent. Replicas share the state row
(`digest_state`): a conditional UPDATE claims the slot, so one replica sends it. A send
that fails (any recipient refused) is retried with capped, jittered exponential backoff
(`responders.backoff.next_delay`) until it goes through or the next slot supersedes it;
the error, attempts and next retry are what `socialear sources` and the Sources page show.
A retry goes to every recipient again: apprise cannot say which of several got it.

`socialear report send NAME` sends one now, outside the schedule, and records the outcome
the same way (without moving the schedule).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from reports import ReportError, build_competitor_report
from reports.html import render_html
from reports.period import ceil_hour, floor_hour
from responders.alerts import defang
from responders.backoff import next_delay
from socialear.config import ReportDigest, RulesConfig, parse_duration
from socialear.errors import UserError
from storage import digests as store
from storage.engine import Engine
from storage.types import utcnow

log = logging.getLogger(__name__)

EMAIL_SCHEMES = {"mailto", "mailtos", "email", "sendgrid", "ses", "mailgun", "sparkpost",
                 "smtp2go", "resend", "brevo", "o365", "azure"}
SEND_LEASE = timedelta(minutes=10)  # a claimed send not finished by then is retried
GRACE = timedelta(hours=6)  # on first sight, a slot this recent is still sent
BACKOFF_BASE_S, BACKOFF_CAP_S = 60.0, 3600.0

# (url, title, body, body_format "html"|"text", attachment path or None) -> delivered?
Notify = Callable[[str, str, str, str, Path | None], bool]


class DigestError(UserError):
    """A digest that could not be built or sent; the message says why, in one line."""


def apprise_notify(url: str, title: str, body: str, body_format: str,
                   attachment: Path | None) -> bool:
    """Send one message to one apprise URL (the only network seam)."""
    import apprise

    ap = apprise.Apprise()
    if not ap.add(url):
        return False
    fmt = apprise.NotifyFormat.HTML if body_format == "html" else apprise.NotifyFormat.TEXT
    attach = apprise.AppriseAttachment(str(attachment)) if attachment else None
    return bool(ap.notify(title=title, body=body, body_format=fmt, attach=attach))


def recipients(digest: ReportDigest, env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    extra = env.get(digest.recipients_env, "") if digest.recipients_env else ""
    return [*digest.recipients, *[u for u in re.split(r"[\s,]+", extra) if u]]


def wants_html(url: str, digest: ReportDigest) -> bool:
    if digest.format != "auto":
        return digest.format == "html"
    return url.split(":", 1)[0].lower() in EMAIL_SCHEMES


def report_link(rules: RulesConfig, digest: ReportDigest) -> str | None:
    if not rules.console_url:
        return None
    params: list[tuple[str, str]] = []
    span = parse_duration(digest.period)
    preset = {7: "7d", 14: "14d", 30: "30d", 90: "90d"}.get(span.days) if not span.seconds else None
    if preset:
        params.append(("since", preset))
    params += [("brand", b) for b in digest.brands or []]
    if digest.interval:
        params.append(("interval", digest.interval))
    return rules.console_url.rstrip("/") + "/reports" + (f"?{urlencode(params)}" if params else "")


def summary(report: Mapping[str, Any], link: str | None) -> str:
    """The chat version: one line per brand, the spikes, and where to read the rest."""
    period = report["period"]
    lines = [f"Competitor report {period['from'][:10]} to {period['to'][:10]} (UTC)"]
    for b in report.get("brands") or []:
        net = b.get("net_sentiment")
        lines.append(
            f"- {defang(str(b['name']), 60)}{' (competitor)' if b.get('competitor') else ''}: "
            f"{b['mentions']} mentions, {b['share_of_voice'] * 100:.0f}% share of voice, "
            f"net sentiment {'n/a' if net is None else f'{net:+.2f}'}")
    spikes = report.get("spikes") or []
    if spikes:
        lines.append(f"Spikes ({len(spikes)}):")
        for s in spikes[:6]:
            drivers = ", ".join(str(d.get("category")) for d in (s.get("drivers") or [])[:2])
            lines.append(f"- {defang(str(s['brand']), 60)}: {s['kind']} spike from {s['start'][:16]}Z, "
                         f"{s['mentions']} mentions vs {float(s.get('baseline') or 0):.1f} expected"
                         + (f" ({drivers})" if drivers else ""))
    else:
        lines.append("No spikes.")
    if link:
        lines.append(f"Full report: {link}")
    return "\n".join(lines)


def build(engine: Engine, rules: RulesConfig, digest: ReportDigest,
          now: datetime) -> dict[str, Any]:
    end = ceil_hour(now)
    start = floor_hour(now - parse_duration(digest.period))
    try:
        return build_competitor_report(engine, rules, start=start, end=end,
                                       brands=digest.brands or None, interval=digest.interval)
    except ReportError as exc:
        raise DigestError(f"report {digest.name!r}: {exc}") from None


def deliver(engine: Engine, rules: RulesConfig, digest: ReportDigest, *, now: datetime,
            notify: Notify = apprise_notify, env: Mapping[str, str] | None = None) -> int:
    """Build and send one digest to all its recipients; returns how many; DigestError if
    any recipient could not be reached (or there is nothing to report)."""
    urls = recipients(digest, env)
    if not urls:
        raise DigestError(f"report {digest.name!r}: no recipients "
                          f"({digest.recipients_env or 'recipients'} is empty)")
    report = build(engine, rules, digest, now)
    title = (f"Competitor report: {digest.name} ({report['period']['from'][:10]} to "
             f"{report['period']['to'][:10]})")
    failed: list[int] = []
    with tempfile.TemporaryDirectory(prefix="socialear-digest-") as tmp:
        html_path = Path(tmp) / f"competitor-report-{now:%Y%m%d}.html"
        html = render_html(report)
        html_path.write_text(html, encoding="utf-8")
        text = summary(report, report_link(rules, digest))
        for position, url in enumerate(urls, start=1):
            try:
                if wants_html(url, digest):
                    ok = notify(url, title, html, "html", html_path)
                else:
                    ok = notify(url, title, text, "text", None)
            except Exception:  # one recipient's failure is recorded, not raised
                log.exception("report %s: recipient %d failed", digest.name, position)
                ok = False
            if not ok:
                failed.append(position)
    if failed:  # never echo the URL: it holds credentials
        raise DigestError(f"report {digest.name!r}: recipient(s) {', '.join(map(str, failed))} "
                          f"of {len(urls)} could not be reached")
    return len(urls)


# --------------------------------------------------------------------------- schedule
def current_slot(cron: str, now: datetime, since: datetime) -> datetime | None:
    """The latest time `cron` fired in (since, now], or None."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    slot, t = None, trigger.get_next_fire_time(None, since + timedelta(seconds=1))
    while t is not None and t <= now:
        slot = t
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return slot


def next_slot(cron: str, now: datetime) -> datetime | None:
    from apscheduler.triggers.cron import CronTrigger

    fire: datetime | None = CronTrigger.from_crontab(cron, timezone="UTC").get_next_fire_time(None, now)
    return fire  # APScheduler 3 is untyped


@dataclass
class DigestRunner:
    """Sends due digests; one `tick()` a minute from the service's scheduler."""

    engine: Engine
    rules: Callable[[], RulesConfig]
    instance_id: str
    notify: Notify = apprise_notify
    clock: Callable[[], datetime] = utcnow
    env: Mapping[str, str] | None = None

    def tick(self) -> list[str]:
        """Send every digest that is due (or due for a retry); returns the names sent."""
        sent = []
        for digest in self.rules().reports:
            if digest.enabled and self._run(digest):
                sent.append(digest.name)
        return sent

    def send_now(self, name: str) -> int:
        """`socialear report send NAME`: send outside the schedule; DigestError on failure."""
        rules = self.rules()
        digest = next((d for d in rules.reports if d.name == name), None)
        if digest is None:
            have = ", ".join(d.name for d in rules.reports) or "none"
            raise DigestError(f"no report named {name!r} in rules.yaml (reports: {have})")
        now = self.clock()
        self._ensure(digest.name)
        try:
            n = deliver(self.engine, rules, digest, now=now, notify=self.notify, env=self.env)
        except DigestError as exc:
            self._record_failure(digest.name, str(exc), now, retry=False)
            raise
        store.record_sent(self.engine, digest.name, now)
        return n

    def _ensure(self, name: str) -> None:
        store.ensure(self.engine, name)

    def _run(self, digest: ReportDigest) -> bool:
        now = self.clock()
        self._ensure(digest.name)
        state = store.get(self.engine, digest.name)
        slot = current_slot(digest.schedule, now, state.last_slot or now - GRACE)
        if slot is None:
            return False
        if state.next_attempt_at is not None and state.next_attempt_at > now:
            return False  # backing off, or another replica is sending it
        if not store.claim_slot(self.engine, digest.name, slot, now, SEND_LEASE):
            return False  # only one replica sends a slot
        try:
            deliver(self.engine, self.rules(), digest, now=now, notify=self.notify, env=self.env)
        except DigestError as exc:
            log.warning("%s", exc)
            self._record_failure(digest.name, str(exc), now, retry=True)
            return False
        store.record_sent(self.engine, digest.name, now, slot=slot)
        log.info("report %s: sent for %s", digest.name, slot.isoformat())
        return True

    def _record_failure(self, name: str, error: str, now: datetime, *, retry: bool) -> None:
        def retry_at(attempts: int) -> datetime:
            delay = next_delay(max(1, attempts), base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S)
            return now + timedelta(seconds=max(BACKOFF_BASE_S / 2, delay))

        store.record_failure(self.engine, name, error, now, retry_at if retry else None)


def digest_health(engine: Engine, rules: RulesConfig) -> list[dict[str, Any]]:
    """One row per configured digest: status, last sent, last error, next retry."""
    states = store.all_states(engine)
    rows = []
    for d in rules.reports:
        s = states.get(d.name)
        if not d.enabled:
            status = "disabled"
        elif s is None or (s.last_sent_at is None and s.last_error is None):
            status = "not sent yet"
        elif s.last_error and (s.last_sent_at is None or (s.last_error_at or s.last_sent_at) >= s.last_sent_at):
            status = "failing"
        else:
            status = "ok"
        rows.append({"name": d.name, "schedule": d.schedule, "status": status,
                     "last_sent_at": s.last_sent_at if s else None,
                     "last_error": s.last_error if s and status == "failing" else None,
                     "attempts": s.attempts if s else 0,
                     "next_attempt_at": s.next_attempt_at if s and status == "failing" else None,
                     "sent_total": s.sent_total if s else 0})
    return rows
