"""Scrape-time source health for /metrics: healthy, silent, and time since last stored.

One query over `source_state` per scrape; silence is judged by listener.silence exactly as
`socialear sources` and the console's Sources page judge it, so an alert on
`socialear_source_silent == 1` fires for the same sources a person sees marked silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from listener.silence import quiet_for
from socialear.config import RulesConfig
from storage.engine import DatabaseError, Engine, session_scope
from storage.sources import all_states
from storage.types import utcnow


class SourceHealthCollector:
    """Gauges per configured source: socialear_source_healthy, socialear_source_silent,
    socialear_source_seconds_since_stored (from the last stored mention, else from the
    first successful poll; absent before either)."""

    def __init__(self, engine: Engine, rules: Callable[[], RulesConfig]):
        self.engine = engine
        self.rules = rules

    def collect(self) -> Iterator[Any]:
        labels = ["source", "type"]
        healthy = GaugeMetricFamily("socialear_source_healthy", "1 when the source's last poll succeeded", labels=labels)
        silent = GaugeMetricFamily(
            "socialear_source_silent",
            "1 when a healthy source has stored nothing for longer than its expected update period",
            labels=labels,
        )
        since = GaugeMetricFamily(
            "socialear_source_seconds_since_stored", "Seconds since the source last stored a mention", labels=labels
        )
        try:
            with session_scope(self.engine) as session:
                states = all_states(session)
        except DatabaseError:
            states = {}
        now = utcnow()
        for cfg in self.rules().sources:
            state = states.get(cfg.name)
            values = [cfg.name, cfg.type]
            if state is not None:
                healthy.add_metric(values, 1.0 if state.healthy else 0.0)
                start = state.last_stored_at or state.listening_since
                if start is not None:
                    since.add_metric(values, max((now - start).total_seconds(), 0.0))
            silent.add_metric(values, 1.0 if quiet_for(cfg, state, now) is not None else 0.0)
        yield healthy
        yield silent
        yield since
