"""The outbox worker's in-round view of each sink's health (the database keeps the
breaker between rounds and across replicas: storage.breakers).

Why in memory too: a round delivers up to dozens of rows in parallel. Once a sink has
refused three of them, or answered 429 with Retry-After, the other rows of that sink in
the same round must not be sent: that would burn their attempts and, after a 429, break
the vendor's "wait N seconds" (which gets clients banned). `RoundGate.allows` is checked
right before each delivery; rows it refuses are handed back unattempted.

Only retryable failures (network, timeout, 5xx, 429) say anything about the sink; a 422
or a payload that cannot be built is that row's problem and counts for nothing here.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping

from socialear.errors import RateLimited, RetryableError
from storage.breakers import RoundReport

PROBE_MIN_S = 1.0


def probe_delay(opens: int, retry_after: float | None, probe_max_s: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds until the next probe after the breaker opened `opens` times in a row: 1 s
    doubling up to `probe_max_s`, jittered by half so replicas do not probe in step, and
    never sooner than the sink's Retry-After."""
    ceiling = min(probe_max_s, PROBE_MIN_S * 2.0 ** min(max(opens, 1) - 1, 30))  # 2.0: int ** int is typed Any
    delay = ceiling * (0.5 + 0.5 * rng())
    return max(delay, float(retry_after or 0.0))


class RoundGate:
    """Per-sink consecutive failures within one round, seeded with the database's count."""

    def __init__(self, prior_failures: Mapping[str, int], open_after: Callable[[str], int], probes: Iterable[str] = ()):
        self._prior = dict(prior_failures)
        self._open_after = open_after
        self._probes = set(probes)
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._succeeded: set[str] = set()
        self._tripped: set[str] = set()
        self._error: dict[str, str] = {}
        self._retry_after: dict[str, float] = {}

    def allows(self, sink: str) -> bool:
        with self._lock:
            return sink not in self._tripped

    def report(self, sink: str, exc: BaseException | None) -> None:
        """One delivery's outcome (None = delivered)."""
        with self._lock:
            if exc is None:
                self._succeeded.add(sink)
                self._failures[sink] = 0
                return
            if not isinstance(exc, RetryableError):
                return
            n = self._failures.get(sink, 0) + 1
            self._failures[sink] = n
            self._error[sink] = str(exc)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                self._retry_after[sink] = max(self._retry_after.get(sink, 0.0), float(retry_after))
            so_far = n if sink in self._succeeded else n + self._prior.get(sink, 0)
            if isinstance(exc, RateLimited) or sink in self._probes or so_far >= self._open_after(sink):
                self._tripped.add(sink)

    def reports(self) -> dict[str, RoundReport]:
        with self._lock:
            sinks = set(self._failures) | self._succeeded
            return {
                sink: RoundReport(
                    succeeded=sink in self._succeeded,
                    failures=self._failures.get(sink, 0),
                    tripped=sink in self._tripped,
                    error=self._error.get(sink),
                    retry_after=self._retry_after.get(sink),
                )
                for sink in sinks
            }
