"""Near-real-time spike alerts: after a poll stores mentions, tell people about new spikes.

When: the scheduler calls `SpikeAlerter.check()` after every poll that stored something,
so a spike is seen within one poll of its data arriving. Detection is the report
engine's (`reports.recent_spikes`: the seasonal baseline and count-aware test),
on the own brand and every competitor; a competitor's outage is a marketing opportunity,
the own brand's a crisis, and the message says which.

Once, across restarts and replicas: each new spike's key (brand | kind | start hour; the
engine keeps a growing spike's start fixed) is inserted into `spike_alert` with
INSERT ... ON CONFLICT DO NOTHING. Only the process whose insert took the row sends it;
everyone else's insert is a no-op. A row that overlaps an earlier alert of the same brand
and kind is the same event seen later and is skipped. A send that fails leaves `sent_at`
empty and is retried by the row's owner on the next check (or by anyone once the owner
has been silent for `TAKEOVER`), so a crash between insert and send delays an alert
instead of losing it.

Grouped: the spikes found by one check go out as one message per alert sink, each with
its explanation: size against baseline, the categories and words that drove it, and up
to three example posts (defanged: a stranger's post cannot ping a channel).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from reports import recent_spikes
from responders.alerts import Send, defang
from socialear.config import RulesConfig
from storage import spike_alerts as store
from storage.engine import Engine
from storage.types import utcnow

log = logging.getLogger(__name__)

LOOKBACK_HOURS = 3  # spikes touching the last 3 hours are "new enough" to alert
TAKEOVER = timedelta(minutes=10)  # an unsent alert whose owner went quiet is taken over
RETRY_WINDOW = timedelta(hours=24)  # older unsent alerts are stale news; give up
EXAMPLES = 3

Detect = Callable[..., list[dict[str, Any]]]


def spike_key(spike: Mapping[str, Any]) -> str:
    return f"{spike['brand']}|{spike['kind']}|{spike['start']}"


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def explain(spike: Mapping[str, Any]) -> str:
    """One spike as a few lines of plain text (the alert's body part for it)."""
    start, end = _when(spike["start"]), _when(spike["end"])
    who = ("competitor: an opening for marketing" if spike.get("competitor")
           else "own brand: a possible crisis")
    noun = "negative mentions" if spike.get("kind") == "negative" else "mentions"
    base = float(spike.get("baseline") or 0)
    size = f"{spike['mentions']} {noun} against {base:.1f} expected"
    if base >= 0.05:
        size += f" ({spike['mentions'] / base:.1f}x)"
    lines = [(f"{defang(str(spike['brand']), 60)} ({who}): {spike.get('kind', 'volume')} spike "
              f"{start:%d %b %H:%M}-{end:%H:%M} UTC, {size}.")]
    drivers = [f"{d['category']} ({d['count']})" for d in spike.get("drivers") or []
               if isinstance(d, Mapping) and d.get("category")][:3]
    if drivers:
        lines.append("Driven by: " + ", ".join(defang(x, 40) for x in drivers) + ".")
    terms = [str(t.get("term")) for t in spike.get("terms") or [] if isinstance(t, Mapping)][:5]
    if terms:
        lines.append("Words: " + ", ".join(defang(t, 40) for t in terms) + ".")
    for ex in (spike.get("examples") or [])[:EXAMPLES]:
        author = defang(str(ex.get("author") or "someone"), 40).lstrip("@")
        url = str(ex.get("url") or "")
        url = url if url.startswith(("https://", "http://")) else ""
        lines.append(f"  @{author}: \u201c{defang(str(ex.get('text') or ''))}\u201d {url}".rstrip())
    return "\n".join(lines)


def message(spikes: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(title, body) of one grouped alert."""
    brands = list(dict.fromkeys(str(s["brand"]) for s in spikes))
    noun = "spike" if len(spikes) == 1 else "spikes"
    title = f"socialear \u00b7 {len(spikes)} {noun}: {', '.join(brands)}"
    return title, "\n\n".join(explain(s) for s in spikes)


class SpikeAlerter:
    """Checks for new spikes and sends each once to the alert sinks (see module doc)."""

    def __init__(
        self,
        engine: Engine,
        rules: Callable[[], RulesConfig],
        senders: Sequence[Send],
        *,
        instance_id: str,
        detect: Detect | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.engine = engine
        self.rules = rules
        self.senders = list(senders)
        self.instance_id = instance_id
        self.detect = detect or recent_spikes
        self.clock = clock
        self._lock = threading.Lock()  # polls of several sources finish at once

    def check(self) -> list[str]:
        """Claim new spikes, send them (and earlier unsent ones) grouped; returns keys sent."""
        if not self.senders:
            return []
        with self._lock:
            now = self.clock()
            try:
                found = self.detect(self.engine, self.rules(), hours=LOOKBACK_HOURS, now=now)
            except Exception:  # a failing check must never fail the poll that triggered it
                log.exception("spike alerts: detection failed")
                return []
            for spike in found:
                self._claim(spike, now)
            return self._send_pending(now)

    # ---------------------------------------------------------------------- claiming
    def _claim(self, spike: Mapping[str, Any], now: datetime) -> bool:
        start, end = _when(spike["start"]), _when(spike["end"])
        won = store.claim(
            self.engine, key=spike_key(spike), brand=spike["brand"], kind=spike["kind"], start=start,
            end=end, mentions=int(spike.get("mentions") or 0), baseline=float(spike.get("baseline") or 0),
            owner=self.instance_id, now=now, details=_details(spike),
        )
        if won:
            log.info("spike alerts: new %s spike on %s from %s", spike["kind"], spike["brand"],
                     spike["start"])
        return won

    # ---------------------------------------------------------------------- sending
    def _send_pending(self, now: datetime) -> list[str]:
        mine = store.take_pending(self.engine, self.instance_id, now, retry_window=RETRY_WINDOW,
                                  takeover=TAKEOVER)
        if not mine:
            return []
        title, body = message([r.details for r in mine])
        delivered = False
        for send in self.senders:
            try:
                delivered = bool(send(title, body)) or delivered
            except Exception:  # one broken sink must not stop the others
                log.exception("spike alerts: a sink failed")
        if not delivered:
            log.warning("spike alerts: could not send %d alert(s); retrying on the next check",
                        len(mine))
            return []
        store.mark_sent(self.engine, [r.id for r in mine], now)
        return [r.key for r in mine]


def _details(spike: Mapping[str, Any]) -> dict[str, Any]:
    """What the message needs, kept with the row so a retry sends the same explanation."""
    keep = ("brand", "competitor", "kind", "start", "end", "mentions", "baseline", "drivers",
            "terms")
    out = {k: spike.get(k) for k in keep}
    out["examples"] = [{k: ex.get(k) for k in ("text", "url", "author")}
                       for ex in (spike.get("examples") or [])[:EXAMPLES]]
    return out


def alert_senders(rules: RulesConfig, env: Mapping[str, str] | None = None) -> list[Send]:
    """The enabled `type: alert` sinks of the rules, as send functions (apprise)."""
    from responders.sinks.alert import AlertSink
    from socialear.errors import NotConfigured

    senders: list[Send] = []
    for cfg in rules.sinks:
        if cfg.type != "alert" or not cfg.enabled:
            continue
        try:
            senders.append(AlertSink.from_options(cfg.name, cfg.options, env=env).send_now)
        except NotConfigured as exc:
            log.warning("spike alerts: sink %s is off: %s", cfg.name, exc)
    return senders
