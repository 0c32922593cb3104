"""AlertSink: grouped chat/email alerts for urgent escalations, through apprise.

`deliver` counts an alert-worthy escalation (priority >= `min_priority`, or a route listed
in `routes`) into its (route, brand) window and sends whatever windows are due; anything
else is skipped (`external_ref=None, created=False`). The outbox worker (or scheduler) also
calls `flush()` every few seconds so a window closes even when no new escalation arrives,
and `flush(force=True)` at shutdown.

Alerts are a nudge, not the record: windows live in memory, so a crash loses at most one
window of alerts, never an escalation (that is in the ticket sink). A summary apprise fails
to send is kept and retried on the next flush (at most `max_unsent`, oldest dropped).

Apprise URLs hold secrets (Slack tokens, SMTP passwords): put them in the environment
(`urls_env`, default SOCIALEAR_ALERT_URLS, separated by spaces or commas), not rules.yaml.

Errors:

    no URLs / a URL apprise cannot parse ─► NotConfigured (says which entry, never echoes it)
    apprise send failure ─────────────────► kept for the next flush, logged (never raises)
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from responders.alerts import AlertGrouper, AlertSummary, AppriseNotifier, Send, is_alert_worthy
from responders.types import DeliveryResult, EscalationPayload
from socialear.errors import NotConfigured

log = logging.getLogger(__name__)


class AlertSink:
    """Folds urgent escalations into one Slack/Teams/email summary per route and brand window."""

    type: ClassVar[str] = "alert"
    description: ClassVar[str] = "Grouped alerts for urgent routes to Slack, Microsoft Teams or email (apprise URLs)."
    needs: ClassVar[tuple[str, ...]] = ("SOCIALEAR_ALERT_URLS",)

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        urls_env: str = "SOCIALEAR_ALERT_URLS"
        urls: list[str] = Field(default_factory=list, description="prefer urls_env: URLs hold secrets")
        min_priority: Literal["low", "normal", "high", "urgent"] = "urgent"
        routes: list[str] = Field(default_factory=list, description="routes that always alert")
        window_s: float = Field(default=300, gt=0, le=86_400)
        max_examples: int = Field(default=3, ge=0, le=20)
        max_unsent: int = Field(default=20, ge=1)

    def __init__(
        self,
        name: str,
        options: Options,
        send: Send,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.options = options
        self._send = send
        self.grouper = AlertGrouper(options.window_s, options.max_examples, clock)
        self._unsent: list[AlertSummary] = []

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> AlertSink:
        opts = cls.Options.model_validate(options)
        env = os.environ if env is None else env
        urls = [*opts.urls, *[u for u in re.split(r"[\s,]+", env.get(opts.urls_env, "")) if u]]
        if not urls:
            raise NotConfigured(f"alert sink {name!r}: {opts.urls_env} is not set")
        notifier = AppriseNotifier(urls)
        if notifier.rejected:
            where = ", ".join(map(str, notifier.rejected))
            raise NotConfigured(
                f"alert sink {name!r}: apprise cannot use URL number {where} (options.urls first, then {opts.urls_env})"
            )
        return cls(name, opts, notifier)

    def deliver(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """Count an urgent escalation into its window; skip the rest. Sends due windows."""
        if not is_alert_worthy(payload, self.options.min_priority, self.options.routes):
            return DeliveryResult(external_ref=None, created=False)
        counted = self.grouper.add(payload)
        self.flush()
        ref = f"alert:{payload.route}:{payload.brand or '-'}"
        return DeliveryResult(external_ref=ref, created=counted)

    def flush(self, force: bool = False) -> int:
        """Send due windows (every open one when `force`) and earlier failures; returns # sent."""
        summaries = [*self._unsent, *(self.grouper.drain() if force else self.grouper.due())]
        self._unsent = []
        sent = 0
        for summary in summaries:
            if self._try_send(summary):
                sent += 1
            else:
                self._unsent.append(summary)
        overflow = len(self._unsent) - self.options.max_unsent
        if overflow > 0:
            log.warning("alert sink %r: dropping %d unsent alert(s)", self.name, overflow)
            self._unsent = self._unsent[overflow:]
        return sent

    def send_now(self, title: str, body: str) -> bool:
        """Send one message outside the windows (spike alerts group their own); never raises."""
        return self._try_send(AlertSummary(title, None, 0.0, 0.0), text=(title, body))

    def _try_send(self, summary: AlertSummary, text: tuple[str, str] | None = None) -> bool:
        title, body = text or (summary.title, summary.body)
        try:
            ok = bool(self._send(title, body))
        except Exception:  # a notifier bug must not lose the escalation being delivered
            log.exception("alert sink %r: sending %r failed", self.name, title)
            return False
        if not ok:
            log.warning("alert sink %r: apprise could not send %r", self.name, title)
        return ok
