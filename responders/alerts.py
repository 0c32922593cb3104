"""Grouped alerts for urgent routes and crises (Slack, Microsoft Teams, email via apprise).

Why grouping: in an outage 200 people post "is Nimbus down?" within minutes; 200 pings
bury the one useful fact. `AlertGrouper` folds alert-worthy escalations into one summary
per (route, brand) window: "Nimbus Mobile · outage-urgent: 200 mentions in 5 min
(142 negative). Examples: …". The escalations themselves still go to the ticket queue one
by one; an alert only tells people to look.

Pure and testable: the clock and the send function are injected. `AppriseNotifier` is the
only network seam (tests pass a fake). Examples quote strangers, so they are flattened to
one line, stripped of bidi/zero-width controls and defanged (`<`/`>` → `‹`/`›`,
`@channel`-style words broken) so a mention cannot ping a whole Slack workspace.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from responders.types import EscalationPayload
from storage.models import PRIORITY_RANK

log = logging.getLogger(__name__)

Send = Callable[[str, str], bool]  # (title, body) -> delivered?

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_BROADCAST = re.compile(r"@(here|channel|everyone|all)\b", re.IGNORECASE)


def defang(text: str, limit: int = 140) -> str:
    """Untrusted text made safe to quote in a chat alert: one line, no controls, no pings."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    flat = flat.replace("<", "\u2039").replace(">", "\u203a")
    flat = _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), flat)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


def is_alert_worthy(payload: EscalationPayload, min_priority: str = "urgent", routes: Iterable[str] = ()) -> bool:
    """Priority at or above `min_priority`, or a route named as always alerting."""
    if payload.route in set(routes):
        return True
    return PRIORITY_RANK.get(payload.priority, 0) >= PRIORITY_RANK[min_priority]


def _is_negative(payload: EscalationPayload) -> bool:
    return str(payload.sentiment.get("label", "")).lower() == "negative"


def _example(payload: EscalationPayload) -> str:
    handle = str(payload.author.get("handle") or "someone").lstrip("@")
    text = defang(str(payload.mention.get("text") or ""))
    url = payload.mention.get("url") or ""
    return f"@{defang(handle, 40)}: \u201c{text}\u201d" + (f" {url}" if url else "")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


@dataclass(slots=True)
class AlertSummary:
    """One message: what happened on one (route, brand) during one window."""

    route: str
    brand: str | None
    window_start: float
    window_s: float
    count: int = 0
    negative: int = 0
    top_priority: str = "low"
    examples: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.brand or 'socialear'} \u00b7 {self.route}"

    @property
    def body(self) -> str:
        noun = "mention" if self.count == 1 else "mentions"
        span = _minutes(self.window_s)
        text = f"{self.title}: {self.count} {noun} in {span} ({self.negative} negative)."
        if self.examples:
            text += " Examples: " + " | ".join(self.examples)
        return text


class AlertGrouper:
    """Collects alert-worthy payloads; emits one summary per (route, brand) per window."""

    def __init__(
        self,
        window_s: float = 300,
        max_examples: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.window_s = window_s
        self.max_examples = max_examples
        self._clock = clock
        self._open: dict[tuple[str, str | None], AlertSummary] = {}
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()

    def add(self, payload: EscalationPayload) -> bool:
        """Count a payload in its window; False if this idempotency key was already counted."""
        key = payload.idempotency_key
        if key in self._seen:
            return False
        self._remember(key)
        group = (payload.route, payload.brand)
        summary = self._open.get(group)
        if summary is None:
            summary = self._open[group] = AlertSummary(payload.route, payload.brand, self._clock(), self.window_s)
        summary.count += 1
        summary.negative += _is_negative(payload)
        if PRIORITY_RANK.get(payload.priority, 0) > PRIORITY_RANK.get(summary.top_priority, 0):
            summary.top_priority = payload.priority
        if len(summary.examples) < self.max_examples:
            summary.examples.append(_example(payload))
        return True

    def due(self) -> list[AlertSummary]:
        """Close and return the windows whose time is up."""
        now = self._clock()
        ready = [g for g, s in self._open.items() if now - s.window_start >= self.window_s]
        return [self._open.pop(g) for g in ready]

    def drain(self) -> list[AlertSummary]:
        """Close every open window now (shutdown)."""
        summaries = list(self._open.values())
        self._open.clear()
        return summaries

    def pending(self) -> int:
        return sum(s.count for s in self._open.values())

    def _remember(self, key: str, limit: int = 50_000) -> None:
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > limit:
            self._seen.discard(self._seen_order.popleft())


class AppriseNotifier:
    """Sends through apprise to every configured URL (slack://, msteams://, mailto://, ...)."""

    def __init__(self, urls: Iterable[str]):
        import apprise  # imported here so the pure parts never need it

        self._apprise = apprise.Apprise()
        self._format = apprise.NotifyFormat.TEXT
        self.rejected: list[int] = []  # positions of URLs apprise could not use (never echoed)
        for position, url in enumerate(urls, start=1):
            if not self._apprise.add(url):
                self.rejected.append(position)

    def __len__(self) -> int:
        return len(self._apprise)

    def __call__(self, title: str, body: str) -> bool:
        return bool(self._apprise.notify(body=body, title=title, body_format=self._format))
