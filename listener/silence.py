"""Silent sources: polling fine, storing nothing.

A source can fail quietly: a search whose syntax changed, a renamed subreddit, a channel
id that moved, a forum category deleted. Every poll succeeds, nothing arrives, and no
error ever says so. Like Huginn's `expected_update_period_in_days`, every source type
declares how long it may reasonably go without a new mention (`expected_update_period`,
seconds: a day for X, two for Reddit and Facebook, a week for YouTube, forums and feeds,
two for review sites; None for the replay of a file, which ends); rules.yaml may override
it per source (`expected_update_period: 3d`). A healthy source that has stored nothing
for longer than that, counted from its last stored mention or, if it never stored one,
from its first successful poll, is "silent": in `socialear sources`, on the console's
Sources page and as `socialear_source_silent` in /metrics.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from socialear.config import SourceConfig, parse_duration

DEFAULT_PERIOD = timedelta(days=7)  # a source class that declares nothing


def expected_period(cfg: SourceConfig) -> timedelta | None:
    """How long `cfg` may go without storing anything; None: never silent."""
    if cfg.expected_update_period:
        return parse_duration(cfg.expected_update_period)
    from listener.sources import SOURCES

    cls = SOURCES.get(cfg.type)
    if cls is None:
        return DEFAULT_PERIOD
    seconds = cls.expected_update_period
    return None if seconds is None else timedelta(seconds=float(seconds))


def quiet_for(cfg: SourceConfig, state: Any, now: datetime) -> timedelta | None:
    """How long a healthy, enabled source has stored nothing, when that is longer than
    its expected period; None when it is not silent (or failing: that shows already)."""
    period = expected_period(cfg)
    if period is None or not cfg.enabled or state is None or not state.healthy or state.last_success is None:
        return None
    since = state.last_stored_at or state.listening_since
    if since is None:
        return None
    quiet = now - since
    return quiet if quiet > period else None


def describe(quiet: timedelta, cfg: SourceConfig) -> str:
    period = expected_period(cfg)
    return f"silent: nothing stored for {_span(quiet)} (expected within {_span(period) if period else '-'})"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86_400 or (seconds and seconds % 86_400 == 0):
        return f"{seconds // 86_400}d"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600}h"
    return f"{max(seconds // 60, 1)}m"
