"""The rules page's what-if: replay history under proposed rules, bounded.

A lead pastes a proposed rules.yaml; it is validated like the real file (errors as
PATH:LINE:COL) and `console.replay.replay_report` re-scores and re-routes the window's
mentions under the current and the proposed rules. Scoring costs ~1 ms per mention per
rule set, so the replay covers at most `MAX_MENTIONS` (the most recent in the window),
and one what-if runs at a time per process: the page answers in seconds and the queue
stays quick for everyone else while it runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from console.replay import replay_report
from socialear.config import RulesConfig, parse_rules_text
from socialear.errors import ConfigError
from storage.engine import Engine
from storage.mentions import window_start
from storage.types import utcnow

WINDOWS: dict[str, timedelta] = {
    "1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_WINDOW = "7d"
MAX_MENTIONS = 5_000  # ~10 s at worst (every mention matches a brand and is scored twice)
MAX_TEXT = 256 * 1024  # characters of proposed YAML
EXAMPLES = 5  # examples per kind of change (the report keeps up to 3x this)
PROPOSED_PATH = "proposed-rules.yaml"

_running = threading.Lock()


class WhatIfBusy(Exception):
    """Another what-if is running in this process."""


@dataclass
class WhatIf:
    """The outcome of one what-if request, for the template."""

    window: str
    errors: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None
    in_window: int = 0  # mentions in the window (not deleted)
    replayed_since: datetime | None = None
    capped: bool = False
    seconds: float = 0.0


def run(engine: Engine, current: RulesConfig, text: str, window: str,
        now: datetime | None = None) -> WhatIf:
    """Validate `text` and replay the window under it; raises WhatIfBusy."""
    window = window if window in WINDOWS else DEFAULT_WINDOW
    out = WhatIf(window=window)
    if len(text) > MAX_TEXT:
        out.errors = [(f"{PROPOSED_PATH}:1:1: the proposed rules are longer than "
                       f"{MAX_TEXT // 1024} KB")]
        return out
    if not text.strip():
        out.errors = [f"{PROPOSED_PATH}:1:1: paste the proposed rules.yaml first"]
        return out
    try:
        proposed = parse_rules_text(text, PROPOSED_PATH)
    except ConfigError as exc:
        out.errors = list(exc.errors)
        return out
    if not _running.acquire(blocking=False):
        raise WhatIfBusy("another what-if is running; try again in a few seconds")
    try:
        started = utcnow()
        since = (now or started) - WINDOWS[window]
        out.replayed_since, out.in_window, out.capped = window_start(engine, since, MAX_MENTIONS)
        out.report = replay_report(engine, current, proposed, out.replayed_since, EXAMPLES)
        out.seconds = round((utcnow() - started).total_seconds(), 1)
    finally:
        _running.release()
    return out
